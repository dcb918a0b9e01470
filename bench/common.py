"""What every benchmark script shares: the cohort of complete patients, timing, the machine."""

from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED_FILE = ROOT / "protocols" / "NCT01844063.rules"
SEED_NAME = "protocols/NCT01844063.rules"  # as written in the docs: never a machine path
PATIENTS = 10_000
REPEATS = 7
COHORT_SEED = 20261126

BOOLEANS = [
    "liver_failure", "childbearing_potential", "consent", "dialysis", "hcc", "other_malignancy",
    "severe_organ_disease", "severe_bacterial_infection", "pregnant", "lactating",
    "followup_difficulty", "other_cause", "investigator_excludes",
]


def patients(count: int = PATIENTS, seed: int = COHORT_SEED) -> list[dict]:
    """Complete, valid patients of the seed protocol, with a fixed seed, near its thresholds."""
    rng = random.Random(seed)
    result = []
    for _ in range(count):
        patient = {name: rng.random() < (0.9 if name in ("liver_failure", "consent") else 0.1) for name in BOOLEANS}
        patient.update(
            age=rng.randint(14, 75),
            sex=rng.choice(["female", "male"]),
            pregnancy_test=rng.choice(["negative", "negative", "positive"]),
            HBsAg=rng.choice(["positive", "positive", "negative"]),
            TB=round(rng.uniform(50, 600), 1),
            TB_rise=round(rng.uniform(0, 30), 1),
            INR=round(rng.uniform(0.9, 4.0), 2),
            PTA=rng.randint(10, 90),
            creatinine=rng.randint(40, 500),
        )
        result.append(patient)
    return result


# ---------------------------------------------------------------- timing
class Timing:
    """Microseconds per patient over several runs of the whole cohort."""

    def __init__(self, runs: list[float]):
        self.runs = runs
        self.median = statistics.median(runs)
        self.low, self.high = min(runs), max(runs)

    @property
    def spread(self) -> str:
        return f"{self.low:.2f}–{self.high:.2f}"


def time_per_item(functions: dict[str, Callable], items_by_name: dict[str, list], repeats: int = REPEATS) -> dict[str, Timing]:
    """Median µs per item for each function, run round-robin so drift hits every one alike.

    `items_by_name[name]` is the list each function is called on (an engine may take its
    own form of the same patients). The garbage collector stays on, as in real use.
    """
    runs: dict[str, list[float]] = {name: [] for name in functions}
    for name, fn in functions.items():  # one warm-up pass each
        for item in items_by_name[name][:200]:
            fn(item)
    for _ in range(repeats):
        for name, fn in functions.items():
            items = items_by_name[name]
            gc.collect()
            start = time.perf_counter()
            for item in items:
                fn(item)
            runs[name].append((time.perf_counter() - start) / len(items) * 1e6)
    return {name: Timing(values) for name, values in runs.items()}


def median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(median, min, max) milliseconds of `fn()` over `repeats` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1e3)
    return statistics.median(runs), min(runs), max(runs)


# ---------------------------------------------------------------- where it ran
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB memory"
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}"


def versions(names: Iterable[str]) -> str:
    parts = [f"Python {platform.python_version()} ({platform.python_implementation()})"]
    for name in names:
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)
