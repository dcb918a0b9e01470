"""Run every benchmark and write docs/performance.md from the figures: `make bench`.

    python bench/run.py            # everything (about 5 minutes on 2 cores)
    python bench/run.py --no-bulk  # the per-patient and start-up parts only (does not write the page)
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import textwrap

import bounds
import bulk
import deep
import peers
import single_patient
import startup
from common import PATIENTS, ROOT, SEED_NAME, machine, versions

PACKAGES = ["protocol-dsl", "lark", "pint", "attrs", "simpleeval", "rule-engine", "common-expression-language",
            "panzi-json-logic", "duckdb", "sqlglot", "pyarrow", "numpy", "pyspark"]

GOAL_STATUS = 3.0  # status only, × the hand-written lambda
GOAL_REASONS = 20.0  # every criterion with its reason, × the hand-written lambda
GOAL_COMPILE_MS = 20.0
GOAL_IMPORT_MS = 60.0
GOAL_CHECK_MS = 300.0
GOAL_BULK = 2.0  # × the hand-written DuckDB query


def java_version() -> str:
    try:
        completed = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "no Java"
    lines = (completed.stderr or completed.stdout).strip().splitlines()
    return lines[0].replace('"', "") if lines else "Java (version unknown)"


def load_average() -> str:
    """The 1-minute load average: other work on the machine shows in every figure."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def seconds_row(label: str, median: float, spread: tuple[float, float], floor: float) -> str:
    return f"| {label} | {median:.2f} | {spread[0]:.2f}–{spread[1]:.2f} | {median / floor:.1f} |"


def page(five: dict, seed: dict, start: dict, mass: dict, load_before: str, sizes: list,
         deep_sizes: list | None = None) -> str:
    t = five["timings"]
    lam = t["lambda"].median
    status_rows = [("`evaluate(p).status` (5-criterion protocol)", t["dsl status"].median),
                   ("`compile_expression(...).evaluate(p)`", t["dsl expression"].median),
                   ("`Protocol._criteria_fast(values)`", t["dsl fast"].median)]
    reasons = t["dsl reasons"].median
    warm_ms = start["warm_load_ms"][0]
    import_ms = statistics.median(start["import_ms"])
    check_ms = statistics.median(start["check_ms"])
    check_plain_ms = statistics.median(start["check_without_numpy_ms"])
    python_ms = statistics.median(start["python_ms"])
    s = mass["seconds"]
    hand = s["hand"]
    lines = [
        "# Performance",
        "",
        f"Figures from a real run of `make bench` (`bench/run.py`) on {datetime.date.today().isoformat()}; rerun it",
        "to refresh this page. What each script measures is in `bench/README.md`.",
        "",
    ]
    lines += wrapped(f"Machine: {machine()}; load average {load_before} just before the run (other work on the "
                     "machine shows in every figure).")
    lines += wrapped(f"Software: {versions(PACKAGES)}; Spark on {java_version()}.")
    lines += [
        "",
        "## Goals",
        "",
        "| goal | measured | |",
        "|---|---|---|",
    ]
    for label, value in status_rows:
        lines.append(f"| status only ≤ {GOAL_STATUS:g}× the hand-written lambda | {label}: {value / lam:.1f}× "
                     f"({value:.2f} µs vs {lam:.2f} µs) | {met(value / lam <= GOAL_STATUS)} |")
    lines += [
        f"| every criterion with its reason ≤ {GOAL_REASONS:g}× the hand-written lambda | {reasons / lam:.0f}× "
        f"({reasons:.1f} µs); {reasons / t['hand reasons'].median:.0f}× a hand-written function with reasons | "
        f"{met(reasons / lam <= GOAL_REASONS)} |",
        f"| compile of the seed file (parse, check, compile) ≤ {GOAL_COMPILE_MS:g} ms warm | {warm_ms:.1f} ms "
        f"(median of {startup.COMPILE_RUNS}) | {met(warm_ms <= GOAL_COMPILE_MS)} |",
        f"| `import protocol_dsl` ≤ {GOAL_IMPORT_MS:g} ms | {import_ms:.1f} ms (median of {startup.IMPORT_RUNS} "
        f"fresh interpreters, {min(start['import_ms']):.1f}–{max(start['import_ms']):.1f}) | {met(import_ms <= GOAL_IMPORT_MS)} |",
        f"| cold `{start['check_command']}` ≤ {GOAL_CHECK_MS:g} ms wall | {check_ms:.0f} ms (median of "
        f"{startup.CHECK_RUNS} new processes, {min(start['check_ms']):.0f}–{max(start['check_ms']):.0f}) with numpy "
        f"installed; {check_plain_ms:.0f} ms where numpy cannot be imported | "
        f"{met(check_ms <= GOAL_CHECK_MS)}{'' if check_ms <= GOAL_CHECK_MS else ' with numpy; ' + met(check_plain_ms <= GOAL_CHECK_MS) + ' without'} |",
        f"| bulk screening within {GOAL_BULK:g}× the hand-written DuckDB query | `protocol-dsl screen -o`: "
        f"{s['cli'] / hand:.1f}×; `Protocol.screen(path)`: {s['library'] / hand:.1f}×; criteria SQL alone "
        f"(`to_sql`): {s['to_sql'] / hand:.1f}× | screen {met(s['cli'] / hand <= GOAL_BULK)}, "
        f"`to_sql` {met(s['to_sql'] / hand <= GOAL_BULK)} |",
        "",
    ]
    lines += causes(five, seed, start, mass)
    lines += [
        "## One patient at a time: five criteria in every engine",
        "",
        "The seed's five computable criteria as one expression, MELD computed inline:",
        "",
        "```",
        "18 <= age <= 65 and HBsAg = \"positive\" and (TB >= 171 or TB_rise >= 17.1)",
        "and (INR >= 1.5 or 20 < PTA <= 40) and 17 <= MELD <= 30",
        "MELD = min(round(10 * (0.957 ln Cr + 0.378 ln bili + 1.120 ln INR + 0.643)), 40)",
        "  bili = max(TB × 584.66/10000, 1) mg/dL; Cr = 4 if dialysis else clamp(creatinine × 113.12/10000, 1, 4) mg/dL;",
        "  INR floored at 1",
        "```",
        "",
    ]
    lines += wrapped(
        f"{five['patients']:,} generated patients with complete data (fixed seed, values near the thresholds): "
        f"{five['eligible']:,} meet all five, {five['reach_meld']:,} pass the first four (where a short-circuiting "
        "expression reaches MELD). Before timing, every engine's answer was checked equal to the lambda's on every "
        "patient (the protocol's five criterion values and status too, and five non-empty reasons per patient). "
        f"Each engine then ran over the whole cohort {five['repeats']} times, round-robin; median and range of "
        "those runs.", bullet=False)
    lines.append("")
    lines += peers.table(five)
    lines += [
        "",
    ]
    lines += wrapped("The reasons of the first patient, for example: "
                     + "; ".join(f"`{r}`" for r in five["example_reasons"]) + ".", bullet=False)
    lines += [
        "",
        "How each engine got the expression (in its own syntax, compiled or parsed once, outside the timing):",
        "",
        "- lambda, `eval`: Python, `math.log`, `min`, `max`, and `floor(x + 0.5)` for the rounding (the score",
        "  is positive, so this is round-half-up); `eval` gets the patient dict as its locals.",
        "- simpleeval: the same Python text, parsed once (`previously_parsed`); `log`, `floor`, `min`, `max`",
        "  registered as its functions; `names` set to the patient.",
        "- rule-engine: `and`/`or`, `?:`, `$min([...])`/`$max([...])` and `.floor` are its own; it has no",
        "  logarithm, so a builtin `$ln` (`Decimal.ln`) is registered. It has no chained comparison and no way",
        "  to name a sub-expression, so `17 <= MELD <= 30` is written `$abs(MELD - 23.5) <= 6.5` (the same",
        "  numbers, MELD computed once). Its numbers are Decimals.",
        "- CEL (Rust): `&&`, `||`, `?:` and `int()` are native; it has no min/max/round/ln of its own.",
        "  min/max/clamp are conditionals, the rounding is `int(x + 0.5)`, values used twice are named once",
        "  with the `[x].all(name, ...)` macro, and `ln` is `math.log` registered as a context function",
        "  (called back into Python). Variables are updated into one reused `Context` per patient.",
        "- json-logic: JSON; `min`, `max`, `if`, arithmetic and the three-operand `<=` are native; `ln` and",
        "  `floor` are registered as operations.",
        "- protocol-dsl `compile_expression`: the expression in the language (`ln`, `round`, `min`, `max`,",
        "  `clamp`, chained comparisons). It cannot compare a free name with a text (`HBsAg = \"positive\"`",
        "  is error E201: free names are numbers or booleans), so it reads a boolean `HBsAg_positive`.",
        "- protocol-dsl 5-criterion protocol: the criteria I1, I5–I8 with the seed's input declarations",
        "  (units, ranges, molar masses) and MELD as definitions; `evaluate(p)` checks each value's type",
        "  and range first. `_criteria_fast` is given values already checked.",
        "- The two hand-written functions are not engines but floors for the protocol's work: every",
        "  criterion's own value (a protocol reports each one, so it cannot stop at the first false), and",
        "  a one-line reason per criterion.",
        "",
        "Where protocol-dsl's time goes:",
        "",
    ]
    lines += peers.table(five, peers.DIAGNOSTIC_ROWS)
    st = seed["timings"]
    lines += [
        "",
        "## One patient at a time: the whole seed protocol",
        "",
    ]
    lines += wrapped(
        f"`{SEED_NAME}` (15 criteria, MELD from three laboratory values), the same {seed['patients']:,} patients "
        f"({seed['eligible']:,} eligible), against the same logic written by hand (`bench/single_patient.py`); the "
        "15 criterion values and the status were checked equal on every patient first.", bullet=False)
    lines.append("")
    lines += single_patient.table(seed)
    lines += [
        "",
    ]
    lines += wrapped(
        f"protocol-dsl's status costs {st['dsl status'].median / st['hand status'].median:.1f}× a hand-written "
        "function that computes every criterion, and includes checking the data (types, ranges, units), which the "
        "hand-written function does not do.", bullet=False)
    lines += [
        "",
        "## Start-up",
        "",
        "| what | ms |",
        "|---|---:|",
        f"| `import protocol_dsl` (fresh interpreter, median of {startup.IMPORT_RUNS}) | {import_ms:.1f} |",
        f"| first `load` of the seed file in a fresh interpreter (imports pint, builds the grammar and the unit "
        f"registry; median of 5) | {start['first_load_ms']:.0f} |",
        f"| warm `load` of the seed file (median of {startup.COMPILE_RUNS}) | {warm_ms:.1f} |",
        f"| … of which parse | {start['phases_ms']['parse']:.1f} |",
        f"| … of which check | {start['phases_ms']['check']:.1f} |",
        f"| … of which compile (code generation) | {start['phases_ms']['compile']:.1f} |",
        f"| cold `{start['check_command']}`, wall (new process, median of {startup.CHECK_RUNS}) | {check_ms:.0f} |",
        f"| the same where numpy cannot be imported | {check_plain_ms:.0f} |",
        f"| `import pint` in a fresh interpreter, with numpy installed / without | "
        f"{start['pint_import_ms']['with numpy']:.0f} / {start['pint_import_ms']['without numpy']:.0f} |",
        f"| for scale: `python -c pass`, wall | {python_ms:.0f} |",
        "",
    ]
    lines += wrapped(
        "Slowest modules of `import protocol_dsl` (own import time, `-X importtime`, which adds overhead): "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in start["slowest_imports"]) + ".", bullet=False)
    lines.append("")
    lines += bulk_section(mass)
    lines += ["", "## Cost against the size of the rules file", ""]
    lines += wrapped(
        "Generated files that once grew exponentially or quadratically (bench/bounds.py). The last column "
        "is the cost per unit of size at the largest size over that at the smallest: about 1 is linear; "
        "fixed start-up costs make it fall below 1.", bullet=False)
    lines += [""] + bounds.table(sizes)
    if deep_sizes:
        lines += ["", "### Deep checks and examples against the number of criteria", ""]
        lines += wrapped(
            "`check` with its deep checks, `example` and `example --near-miss` (bench/deep.py), on a "
            "realistic 45-criterion protocol and on generated files.", bullet=False)
        lines += [""] + bounds.table(deep_sizes)
    return "\n".join(lines) + "\n"


def wrapped(text: str, bullet: bool = True) -> list[str]:
    """One Markdown bullet (or paragraph) wrapped at 100 columns."""
    if bullet:
        return textwrap.wrap(text, 100, initial_indent="- ", subsequent_indent="  ")
    return textwrap.wrap(text, 100)


def causes(five: dict, seed: dict, start: dict, mass: dict) -> list[str]:
    """Why a goal is missed, from the figures of this run."""
    t = five["timings"]
    lam = t["lambda"].median
    lines = []
    if max(t[k].median for k in ("dsl status", "dsl expression", "dsl fast")) / lam > GOAL_STATUS:
        st = seed["timings"]
        lines += ["Why status only is over the goal:", ""]
        lines += wrapped(
            "The lambda is one short-circuiting `and`: it stops at the first false criterion, and only "
            f"{five['reach_meld'] / five['patients']:.0%} of the patients reach MELD. A protocol reports every "
            "criterion's value, so it computes all five, MELD included, for everyone: a hand-written function doing "
            f"that costs {t['hand every'].median:.2f} µs ({t['hand every'].median / lam:.1f}× the lambda); the "
            f"generated `_criteria_fast` costs {t['dsl fast'].median:.2f} µs "
            f"({t['dsl fast'].median / t['hand every'].median:.1f}× that function). On the whole seed protocol, "
            f"against a hand-written function that computes every criterion, `evaluate(p).status` is "
            f"{st['dsl status'].median / st['hand status'].median:.1f}×.")
        lines += wrapped(
            "Checking the data: the generated `prepare_fast` (type and range of each input, into a new dict) costs "
            f"{t['dsl prepare'].median:.2f} µs per patient, {t['dsl prepare'].median / lam:.1f}× the whole lambda; "
            "`evaluate(p).status` adds building the `Result`.")
        lines += wrapped(
            "`compile_expression` stops early like the lambda, but checks the data "
            f"({t['dsl expression prepare'].median:.2f} µs), and its value costs "
            f"{t['dsl expression value'].median:.2f} µs: its free names have no declared range, so every "
            "arithmetic step is wrapped in an overflow check (`_fin`, a function call).")
        lines.append("")
    if t["dsl reasons"].median / lam > GOAL_REASONS:
        lines += ["Why reasons are over the goal:", ""]
        lines += wrapped(
            "A reason is built from a full trace: the criterion is evaluated again by closures that record every "
            "node (the MELD definitions alone are dozens of nodes), even where the reason shows only the top "
            f"comparison. `evaluate(p)` with every trace and no text costs {t['dsl traces'].median:.0f} µs of the "
            f"{t['dsl reasons'].median:.0f} µs; writing the text is the rest.")
        lines.append("")
    if statistics.median(start["check_ms"]) > GOAL_CHECK_MS:
        pint = start["pint_import_ms"]
        lines += ["Why the cold check is over the goal:", ""]
        lines += wrapped(
            f"`check` converts units (`TB as mg/dL`), which imports pint: {pint['without numpy']:.0f} ms in a fresh "
            f"interpreter, and {pint['with numpy']:.0f} ms when numpy is installed, because pint then imports numpy "
            "too (the bench installs numpy for its reference figure). Where numpy cannot be imported the same "
            f"check takes {statistics.median(start['check_without_numpy_ms']):.0f} ms.")
        lines.append("")
    s = mass["seconds"]
    if max(s["cli"], s["library"]) / s["hand"] > GOAL_BULK:
        b = mass["breakdown"]
        lines += wrapped(
            f"Why bulk screening is over the goal (the criteria SQL alone, `to_sql`, is "
            f"{s['to_sql'] / s['hand']:.1f}× the hand-written query): `screen` also validates every value, "
            f"writes the rejects and computes the summary. On the {mass['rows']:,} rows "
            f"(median of {mass['repeats']}):", bullet=False)
        lines.append("")
        lines += [f"- {label}: {seconds:.2f} s" for label, seconds in b.items()]
        lines.append("")
    return lines


def bulk_section(mass: dict) -> list[str]:
    s, spread = mass["seconds"], mass["spread"]
    hand = s["hand"]
    summary = mass["summary"]
    n = mass["numpy"]
    lines = [f"## Bulk: {mass['rows']:,} patients in Parquet", ""]
    lines += wrapped(
        f"A cohort of {mass['rows']:,} patients ({mass['cohort_mib']:.0f} MiB of Parquet, generated by DuckDB SQL in "
        f"{mass['generate_seconds']:.1f} s with a fixed seed, distributions like `examples/make_cohort.py`, each "
        f"value missing with probability 0.05): {summary['eligible']:,} eligible, {summary['ineligible']:,} "
        f"ineligible, {summary['undetermined']:,} undetermined, {summary['rejected']} rejected. Every path writes "
        "the same columns (`_row`, status, the 15 criteria, missing) to Parquet, sorted by `_row`, and the three "
        "files were checked identical row for row before the figures were kept. Median of "
        f"{mass['repeats']} runs, round-robin.", bullet=False)
    lines += [
        "",
        "| path | seconds | min–max | × hand-written |",
        "|---|---:|---:|---:|",
        seconds_row("hand-written DuckDB query (`bench/bulk.py`), typed Parquet → Parquet", hand, spread["hand"], hand),
        seconds_row("protocol-dsl criteria SQL alone: `Protocol.to_sql()` over the typed Parquet → Parquet",
                    s["to_sql"], spread["to_sql"], hand),
        seconds_row("`Protocol.screen(path)` in-process (validation, criteria, rejects, attrition; results as Arrow)",
                    s["library"], spread["library"], hand),
        seconds_row(f"`protocol-dsl screen {SEED_NAME} cohort.parquet -o results.parquet` (new process)",
                    s["cli"], spread["cli"], hand),
        "",
    ]
    lines += wrapped(
        "The hand-written query and `to_sql` read the typed Parquet with the reader's row numbers; `screen` takes "
        "any CSV, JSON Lines or Parquet, so it validates every value and numbers the rows itself.", bullet=False)
    lines += ["", "| peak resident memory of `protocol-dsl screen -o` | MiB |", "|---|---:|"]
    for rows, peak in mass["peak_mib"].items():
        lines.append(f"| {int(rows):,} rows | {peak:.0f} |")
    lines.append("")
    lines += wrapped(
        f"The {mass['big_rows']:,}-row cohort ({mass['big_mib']:.0f} MiB, generated in "
        f"{mass['big_generate_seconds']:.0f} s) was screened in {mass['big_seconds']:.0f} s. The big files were "
        "deleted afterwards.", bullet=False)
    lines += ["", "### numpy, for reference", ""]
    lines += wrapped(
        f"The five-criteria expression of the per-patient table, vectorised with numpy over the {n['rows']:,} "
        "rows with Kleene logic on missing values (a pair of masks per truth value): "
        f"{n['compute_seconds'] * 1e3:.0f} ms ({n['compute_seconds'] / n['rows'] * 1e9:.0f} ns per patient) once "
        f"the eight columns are in memory; reading them from Parquet into numpy took {n['load_seconds'] * 1e3:.0f} "
        f"ms (the first read in the process). Its answers were checked equal to `compile_expression`'s on the "
        f"first {bulk.NUMPY_CHECK_ROWS:,} rows, missing values included.", bullet=False)
    lines += ["", "### Spark, for reference", ""]
    spark = mass["spark"]
    if "skipped" in spark:
        lines.append(f"Not run: {spark['skipped']}.")
    else:
        lines += wrapped(
            f"`Protocol.screen(path, engine=\"spark\")` on {mass['spark_rows']:,} rows, `local[2]`: "
            f"{spark['cold']:.1f} s the first time in a process (starting the JVM and the session), "
            f"{spark['warm']:.1f} s the second time; {spark['wall']:.0f} s for the whole process. Its results and "
            "attrition were " + ("identical" if spark["same"] else "**not identical**")
            + " to DuckDB's on the same file.", bullet=False)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-bulk", action="store_true", help="skip the bulk part and do not write the page")
    args = parser.parse_args()
    load_before = load_average()
    print("start-up (first, while this process is small)...", file=sys.stderr)
    start = startup.run()
    print(startup.summary(start))
    print(f"per patient: five criteria in every engine ({PATIENTS:,} patients)...", file=sys.stderr)
    five = peers.run()
    print("\n".join(peers.table(five)))
    print("per patient: the whole seed protocol...", file=sys.stderr)
    seed = single_patient.run()
    print("\n".join(single_patient.table(seed)))
    if args.no_bulk:
        return
    print("bulk (a few minutes)...", file=sys.stderr)
    mass = bulk.run()
    print("cost against the size of the file...", file=sys.stderr)
    sizes = bounds.run()
    print("\n".join(bounds.table(sizes)))
    print("deep checks and examples against the number of criteria...", file=sys.stderr)
    deep_sizes = deep.run()
    print("\n".join(bounds.table(deep_sizes)))
    text = page(five, seed, start, mass, load_before, sizes, deep_sizes)
    out = ROOT / "docs" / "performance.md"
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
