"""Deep checks, `example` and `example --near-miss` against the size of the protocol.

    python bench/deep.py             # prints the growth table; run.py puts it in the page

Two kinds of file: a generated one (`many_criteria` in bounds.py: each criterion reads
one number and one boolean, five criteria share them), and a realistic oncology-like
protocol of about 45 criteria over about 60 inputs, with definitions shared between
criteria, ratios to an upper limit of normal and a score, built from a seed.
"""

from __future__ import annotations

import random
import sys
import time

from bounds import many_criteria
from common import ROOT  # noqa: F401 - puts the source tree on sys.path

import protocol_dsl
from protocol_dsl.analysis import eligible_patient, near_misses
from protocol_dsl.report import diagnose


def realistic(criteria: int = 45, seed: int = 189) -> str:
    """A first-line oncology-like protocol: labs against ULN, history flags, scores."""
    rng = random.Random(seed)
    lines = ['protocol BENCH "A realistic first-line oncology protocol"',
             "input age: number years range 0..130", 'input sex: one of "female", "male"',
             "input ecog: integer range 0..5", "input weight: number kg range 20..300",
             "input height: number cm range 100..250"]
    labs = ["AST", "ALT", "bilirubin", "creatinine", "ALP", "LDH", "GGT", "amylase", "lipase", "TSH",
            "glucose", "urea", "potassium", "sodium", "calcium"]
    for lab in labs:
        lines.append(f"input {lab}: number U/L range 0..5000")
        lines.append(f"input {lab}_ULN: number U/L range 1..500")
    lines += ["input ANC: number 10^9/L range 0..100", "input platelets: number 10^9/L range 0..2000",
              "input hemoglobin: number g/dL range 0..25", "input INR: number range 0.5..20"]
    flags = [f"history{k}" for k in range(24)]
    lines += [f"input {f}: boolean" for f in flags]
    lines.append('input stage: one of "I", "II", "III", "IV"')
    lines.append("define bmi = (weight as kg) / ((height as cm) / 100 * (height as cm) / 100)")
    lines.append("define liver_ok = AST <= 2.5 * AST_ULN and ALT <= 2.5 * ALT_ULN")
    out = ['inclusion I1 "Age >= 18": age >= 18 years', 'inclusion I2 "ECOG 0-1": ecog <= 1',
           'inclusion I3 "Stage IV": stage = "IV"', 'inclusion I4 "Liver function": liver_ok',
           'inclusion I5 "ANC": ANC >= 1.5 10^9/L', 'inclusion I6 "Platelets": platelets >= 100 10^9/L',
           'inclusion I7 "Hemoglobin": hemoglobin >= 9 g/dL', 'inclusion I8 "INR": INR <= 1.5',
           'inclusion I9 "BMI": 15 <= bmi <= 45']
    k = 10
    for lab in labs[2:]:
        factor = rng.choice(["1.5", "2", "3"])
        out.append(f'inclusion I{k} "{lab}": {lab} <= {factor} * {lab}_ULN')
        k += 1
    e = 1
    while len(out) < criteria:
        a, b = rng.sample(flags, 2)
        form = rng.choice([f"{a}", f"{a} and {b}", f"{a} or {b}", f"{a} and not liver_ok",
                           f"{a} and age > {rng.randint(60, 80)} years"])
        out.append(f'exclusion E{e} "exclusion {e}": {form}')
        e += 1
    return "\n".join(lines + out) + "\n"


def seconds(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def check(text: str) -> float:
    return seconds(lambda: diagnose(text, "bench.rules"))


def example(text: str) -> float:
    checked = protocol_dsl.loads(text).checked
    return seconds(lambda: eligible_patient(checked))


def near_miss(text: str) -> float:
    checked = protocol_dsl.loads(text).checked
    return seconds(lambda: near_misses(checked))


SIZES = (10, 100, 300, 1000, 3000)
ROWS = [
    ("check with deep checks: realistic protocol (45 criteria)", lambda n: realistic(), (45,), check),
    ("example: realistic protocol (45 criteria)", lambda n: realistic(), (45,), example),
    ("example --near-miss: realistic protocol (45 criteria)", lambda n: realistic(), (45,), near_miss),
    ("check with deep checks: generated criteria", many_criteria, SIZES, check),
    ("example: generated criteria", many_criteria, SIZES, example),
    ("example --near-miss: generated criteria", many_criteria, SIZES, near_miss),
]


def run(sizes_cap: int | None = None) -> list[dict]:
    figures = []
    for what, maker, sizes, measure in ROWS:
        values = []
        sizes = tuple(s for s in sizes if sizes_cap is None or s <= sizes_cap)
        for size in sizes:
            print(f"{what} at {size:,}...", file=sys.stderr, flush=True)
            values.append(measure(maker(size)))
        figures.append({"what": what, "sizes": sizes, "values": values, "unit": "s"})
    return figures


if __name__ == "__main__":
    from bounds import table

    cap = int(sys.argv[1]) if len(sys.argv) > 1 else None
    print("\n".join(table(run(cap))))
