"""Cost against the size of a rules file: every stage must grow linearly, or close to it.

    python bench/bounds.py           # prints the table (about a minute); run.py puts it in the page

Files that once grew exponentially or quadratically: definitions that double each
other, `if` and `ln(` nested deep, many criteria (reasons, SQL, the summary SQL, the
deep checks), and a syntax error at the end of a long text.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

from common import ROOT  # noqa: F401 - puts the source tree on sys.path

import protocol_dsl
from protocol_dsl.errors import RulesError


def doubling(count: int) -> str:
    lines = ["input d0: number range 0..10"]
    lines += [f"define d{k} = d{k - 1} + d{k - 1}" for k in range(1, count + 1)]
    lines.append(f"inclusion I1: d{count} > 1")
    return "\n".join(lines) + "\n"


def nested_if(depth: int) -> str:
    expr = "x"
    for k in range(depth):
        expr = f"(if x > {k} then {expr} + 1 else {k})"
    return f"input x: number range 0..100\ninclusion I1: {expr} > 3\n"


def nested_ln(depth: int) -> str:
    expr = "x"
    for _ in range(depth):
        expr = f"ln({expr} + 3)"
    return f"input x: number range 0..100\ninclusion I1: {expr} > 0.5\n"


def many_criteria(count: int) -> str:
    inputs = max(count // 5, 1)
    lines = [f"input x{k}: number mg/dL range 0..100" for k in range(inputs)]
    lines += [f"input b{k}: boolean" for k in range(inputs)]
    for k in range(count):
        kind = "inclusion" if k % 3 else "exclusion"
        lines.append(f'{kind} C{k} "criterion {k}": x{k % inputs} >= {k % 90 + 1} mg/dL or b{k % inputs}')
    return "\n".join(lines) + "\n"


def long_error(characters: int) -> str:
    line = "input x{k}: number range 0..10  # a comment to make the line longer\n"
    text, k = [], 0
    while sum(map(len, text)) < characters:
        text.append(line.format(k=k))
        k += 1
    return "".join(text) + "inclusion I1: x0 >= \n"


def seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def load(text: str):
    return protocol_dsl.loads(text)


def sql_size(text: str) -> int:
    return len(protocol_dsl.loads(text).to_sql())


def reasons(text: str) -> float:
    protocol = protocol_dsl.loads(text)
    patient = {name: (5 if info.type.__class__.__name__ == "Num" else False) for name, info in protocol.inputs.items()}
    return seconds(lambda: [c.reason for c in protocol.evaluate(patient).criteria.values()])


def deep_check(text: str) -> float:
    from protocol_dsl.report import diagnose

    return seconds(lambda: diagnose(text, "bench.rules"))


def syntax_error(text: str) -> float:
    def attempt():
        try:
            protocol_dsl.loads(text)
        except RulesError as problem:
            return str(problem)

    return seconds(attempt)


def summary_sql_size(text: str) -> int:
    import sqlglot

    from protocol_dsl.backends import sql

    program = protocol_dsl.loads(text).program
    flags = {name: f"$m{k}" for k, name in enumerate(sorted(program.inputs))}
    return len(sql.summary_query(program, flags, sqlglot.exp.to_table("results")).sql(dialect="duckdb"))


ROWS = [
    # (what, file maker, sizes, measure, unit)
    ("load: definitions doubling each other", doubling, (10, 20, 40), lambda t: seconds(lambda: load(t)), "s"),
    ("load: `if` nested", nested_if, (10, 30, 60), lambda t: seconds(lambda: load(t)), "s"),
    ("SQL text: `if` nested (characters)", nested_if, (10, 30, 60), sql_size, "chars"),
    ("SQL text: `ln(` nested (characters)", nested_ln, (10, 30, 60), sql_size, "chars"),
    ("SQL text: definitions doubling (characters)", doubling, (10, 20, 40), sql_size, "chars"),
    ("load: criteria", many_criteria, (100, 300, 1000), lambda t: seconds(lambda: load(t)), "s"),
    ("SQL text: criteria (characters)", many_criteria, (100, 300, 1000), sql_size, "chars"),
    ("summary SQL: criteria (characters)", many_criteria, (100, 300, 1000), summary_sql_size, "chars"),
    ("every reason of one patient: criteria", many_criteria, (100, 300, 1000), reasons, "s"),
    ("check with deep checks: criteria", many_criteria, (10, 30, 100), deep_check, "s"),
    ("syntax error at the end: characters of text", long_error, (10_000, 100_000, 200_000), syntax_error, "s"),
]


def run() -> list[dict]:
    figures = []
    for what, maker, sizes, measure, unit in ROWS:
        values = []
        for size in sizes:
            print(f"{what} at {size:,}...", file=sys.stderr, flush=True)
            try:
                values.append(measure(maker(size)))
            except Exception as problem:  # a stage that fails is a figure too
                values.append(f"fails: {type(problem).__name__}")
        figures.append({"what": what, "sizes": sizes, "values": values, "unit": unit})
    return figures


def _shown(value, unit: str) -> str:
    if isinstance(value, str):
        return value
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:,}"


def _growth(sizes, values) -> str:
    """Cost per unit of size at the largest size over that at the smallest: about 1 when linear."""
    if any(isinstance(v, str) for v in values) or not values[0]:
        return "–"
    return f"{(values[-1] / sizes[-1]) / (values[0] / sizes[0]):.1f}"


def table(figures: list[dict]) -> list[str]:
    lines = [
        "| stage: what grows | sizes | figures | per-unit cost, largest / smallest |",
        "|---|---|---|---:|",
    ]
    for f in figures:
        sizes = " / ".join(f"{s:,}" for s in f["sizes"])
        values = " / ".join(_shown(v, f["unit"]) for v in f["values"])
        lines.append(f"| {f['what']} | {sizes} | {values} | {_growth(f['sizes'], f['values'])} |")
    return lines


if __name__ == "__main__":
    print("\n".join(table(run())))
