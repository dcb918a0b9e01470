"""Write a synthetic cohort for the seed protocol: `python examples/make_cohort.py N OUT`.

OUT ends in .parquet, .csv or .jsonl. Patients are drawn with a fixed seed around the
protocol's thresholds, with about one value in twenty missing. With --bad K, K rows get
an invalid value (text in a number column, a value out of range, an unknown category),
to show that screening reports every bad row and loses none.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

BOOLEANS = [
    "liver_failure", "childbearing_potential", "consent", "dialysis", "hcc", "other_malignancy",
    "severe_organ_disease", "severe_bacterial_infection", "pregnant", "lactating",
    "followup_difficulty", "other_cause", "investigator_excludes",
]


def patient(rng: random.Random) -> dict:
    row = {name: rng.random() < (0.9 if name in ("liver_failure", "consent") else 0.05) for name in BOOLEANS}
    row.update(
        age=rng.randint(14, 80),
        sex=rng.choice(["female", "male"]),
        pregnancy_test=rng.choice(["negative", "negative", "positive"]),
        HBsAg=rng.choice(["positive", "positive", "negative"]),
        TB=round(rng.uniform(20, 700), 1),
        TB_rise=round(rng.uniform(0, 40), 1),
        INR=round(rng.uniform(0.8, 4.5), 2),
        PTA=rng.randint(5, 100),
        creatinine=rng.randint(40, 600),
    )
    for name in list(row):
        if rng.random() < 0.05:
            row[name] = None
    return row


def cohort(count: int, seed: int = 20261126, bad: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = [patient(rng) for _ in range(count)]
    for index in rng.sample(range(count), bad):
        kind = index % 3
        if kind == 0:
            rows[index]["age"] = "forty"
        elif kind == 1:
            rows[index]["INR"] = 99.0
        else:
            rows[index]["sex"] = "unknown"
    return rows


def write(rows: list[dict], path: Path) -> None:
    import pyarrow as pa

    names = list(rows[0])
    if path.suffix == ".jsonl":
        import json

        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return
    mixed = {n for n in names if len({type(r[n]) for r in rows if r[n] is not None}) > 1}
    columns = {n: [str(r[n]) if n in mixed and r[n] is not None else r[n] for r in rows] for n in names}
    table = pa.table(columns)
    if path.suffix == ".csv":
        import pyarrow.csv as pc

        pc.write_csv(table, path)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("output", type=Path)
    parser.add_argument("--bad", type=int, default=0, help="rows given an invalid value")
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    write(cohort(args.count, args.seed, args.bad), args.output)
    print(f"wrote {args.count} patients to {args.output}")


if __name__ == "__main__":
    main()
