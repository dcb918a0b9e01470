"""The screening report of a 100,000-patient cohort: what `--report` adds to `screen`.

The cohort is examples/make_cohort.py's (100,000 patients, about one value in twenty
missing, 100 invalid rows) in Parquet. Timed in this process, median of 5 runs each:
`Protocol.screen(path)` with the report's sample kept (the default) and without
(`sample=0`), and `Screening.report()` (the HTML page: the funnel, the criteria, the
rejects and the sample's patients evaluated one by one by the library). The page's
size is printed too. The figures are printed, not written into docs/performance.md.

Run alone: `python bench/report.py`.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SEED_FILE

import protocol_dsl

ROWS = 100_000
REPEATS = 5


def seconds(run) -> tuple[float, float, float]:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def main() -> dict:
    sys.path.insert(0, str(ROOT / "examples"))
    from make_cohort import cohort, write
    from protocol_dsl.screen import screen

    protocol = protocol_dsl.load(SEED_FILE)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cohort.parquet"
        write(cohort(ROWS, bad=100), path)
        screening = screen(protocol, path)
        figures = {
            "screen": seconds(lambda: screen(protocol, path)),
            "screen_no_sample": seconds(lambda: screen(protocol, path, sample=0)),
            "report": seconds(screening.report),
        }
        size = len(screening.report().encode("utf-8"))
    for name, (median, low, high) in figures.items():
        print(f"{name:<18} {median:7.3f} s  ({low:.3f}-{high:.3f})")
    print(f"report page        {size / 1024:7.1f} KiB for {ROWS:,} patients")
    return {"figures": figures, "bytes": size}


if __name__ == "__main__":
    main()
