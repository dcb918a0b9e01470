"""The `protocol-dsl` command: `main(argv) -> exit code`; never a traceback for bad input."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Optional, Sequence

from .errors import DataError, RulesError
from .report import diagnose, github, sarif, version

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class _Usage(Exception):
    """A usage problem: printed with the command's usage line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit; the caller decides instead
        raise _Usage(f"{self.format_usage().rstrip()}\n{self.prog}: error: {message}")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="protocol-dsl",
        description="Check clinical-trial eligibility rule files and evaluate patients against them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    check = commands.add_parser(
        "check",
        help="parse and check rules files",
        description="Parse and check rules files; directories are searched for *.rules files. "
        "Exit 0 when there are no errors (warnings allowed unless --strict), 1 on problems, "
        "2 on usage errors or unreadable paths.",
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="a .rules file or a directory")
    check.add_argument(
        "--format", choices=("text", "json", "github", "sarif"), default="text", help="output format"
    )
    check.add_argument("--strict", action="store_true", help="treat warnings as problems (exit 1)")
    check.add_argument(
        "--deep-budget", type=_seconds, metavar="SECONDS",
        help="stop the deep checks of each file after SECONDS and say on standard error what was not "
        "proven (a note, never a problem: it does not change the exit code)",
    )

    fmt = commands.add_parser(
        "fmt",
        help="rewrite rules files in canonical form",
        description="Rewrite rules files in canonical form (directories: every *.rules below). "
        "Exit 0, 1 when --check finds a file to reformat, 2 on usage errors, unreadable paths "
        "or files that do not parse (left untouched).",
    )
    fmt.add_argument("paths", nargs="+", metavar="PATH", help="a .rules file or a directory")
    fmt.add_argument("--check", action="store_true", help="change nothing; list the files that would change")
    fmt.add_argument("--diff", action="store_true", help="print a unified diff of the changes instead of writing")

    commands.add_parser(
        "lsp",
        help="run the language server over standard input and output",
        description="Run the language server (diagnostics, hover, completion, navigation, rename, "
        "formatting, coverage) over standard input and output; needs the extra protocol-dsl[lsp].",
    )

    test = commands.add_parser(
        "test",
        help="run the example patients kept beside each rules file",
        description="Run the example patients of each rules file (X.rules -> X.cases.yaml beside it; "
        "directories: every *.rules below). Exit 0 when all pass, 1 on a failure, an invalid case file "
        "or a rules file with errors (or incomplete coverage with --require-coverage), 2 on usage errors.",
    )
    test.add_argument("paths", nargs="+", metavar="PATH", help="a .rules file, a case file or a directory")
    test.add_argument("--coverage", action="store_true", help="report criterion, comparison and boundary coverage")
    test.add_argument(
        "--coverage-format", choices=("text", "json", "lcov"), default="text", help="coverage report format"
    )
    test.add_argument("--coverage-output", metavar="FILE", help="write the coverage report to FILE")
    test.add_argument(
        "--require-coverage", action="store_true", help="fail (exit 1) unless coverage is complete"
    )

    example = commands.add_parser(
        "example",
        help="print a synthetic eligible patient, or explain why there is none",
        description="Print a synthetic patient (JSON, values in the inputs' units) who is eligible, or "
        "explain why no patient can be. With --near-miss, one patient per criterion who fails that "
        "criterion only. Exit 0 when found, 1 when no patient can be eligible or none was found, "
        "2 on usage errors or a rules file with errors.",
    )
    example.add_argument("rules", metavar="RULES", help="the .rules file")
    example.add_argument("--near-miss", action="store_true", help="patients failing exactly one criterion each")
    example.add_argument(
        "--deep-budget", type=_seconds, metavar="SECONDS",
        help="stop searching after SECONDS and say on standard error what was not found or proven",
    )

    screen = commands.add_parser(
        "screen",
        help="screen a whole cohort (CSV, JSON Lines or Parquet) in bulk",
        description="Screen every patient of a cohort: one row per patient, a column per input "
        "(a header 'TB [mg/dL]' gives the input TB in mg/dL). Prints the attrition table; with -o writes "
        "one row per patient (status, each criterion, missing inputs) as Parquet or CSV. Rows with invalid "
        "values are reported with their row number, counted and written to the rejects file, never dropped. "
        "With --report writes a self-contained HTML page: the funnel, every criterion in full, the rejects and "
        "the reasons of a few patients of each status. "
        "Exit 0 when screened, 1 with --fail-on-rejects and rejected rows, 2 on usage errors, an unreadable "
        "cohort or a rules file with errors.",
    )
    screen.add_argument("rules", metavar="RULES", help="the .rules file")
    screen.add_argument("cohort", metavar="COHORT", help="the cohort: .csv, .jsonl or .parquet")
    screen.add_argument("-o", "--output", metavar="OUT", help="per-patient results (.parquet or .csv)")
    screen.add_argument("--rejects", metavar="FILE", help="rejected rows (CSV; default: OUT with .rejects.csv)")
    screen.add_argument("--summary", metavar="FILE", help="the attrition summary as JSON (default: OUT with .summary.json)")
    screen.add_argument("--report", metavar="FILE", help="write a self-contained HTML report of the screening to FILE")
    screen.add_argument("--unit", action="append", default=[], metavar="INPUT=UNIT", help="the unit of an input's column")
    screen.add_argument("--id", metavar="COLUMN", help="a patient id column copied to the results, the rejects and the report")
    screen.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="SQL engine (default duckdb)")
    screen.add_argument("--fail-on-rejects", action="store_true", help="exit 1 when any row was rejected")

    evaluate = commands.add_parser(
        "eval",
        help="evaluate one patient against a rules file",
        description="Evaluate one patient (a JSON object, or a FHIR R4 Bundle; '-' reads standard input). "
        "Exit 0 when evaluated, 1 for invalid patient data, 2 for usage errors or a rules file with errors.",
    )
    evaluate.add_argument("rules", metavar="RULES", help="the .rules file")
    evaluate.add_argument("patient", metavar="PATIENT", help="patient JSON file or FHIR Bundle, or - for standard input")
    evaluate.add_argument("--as-of", metavar="DATE", help="the index date, YYYY-MM-DD (for dated data)")
    evaluate.add_argument("--patient", dest="patient_id", metavar="ID", help="the patient to read in a FHIR Bundle of several")
    evaluate.add_argument("--format", choices=("text", "json", "html"), default="text",
                          help="output format (html: a self-contained page)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code."""
    _safe_streams()
    try:
        args = _build_parser().parse_args(argv)
    except _Usage as problem:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "fmt":
            return _fmt(args)
        if args.command == "test":
            return _test(args)
        if args.command == "example":
            return _example(args)
        if args.command == "screen":
            return _screen(args)
        if args.command == "lsp":
            from .lsp import serve

            return serve()
        return _eval(args)
    except _Usage as problem:
        print(f"protocol-dsl: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `protocol-dsl ... | head`
        return EXIT_OK


def _safe_streams() -> None:
    # Marks such as ✓ must never crash a terminal that cannot show them.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


# ------------------------------------------------------------------------ files
def _read_text(path: Path, what: str = "a rules file") -> str:
    from .source import UnreadableFile, read_text

    try:
        return read_text(path, what)
    except UnreadableFile as problem:
        raise _Usage(str(problem)) from None


class _Files:
    """The files named on a command line: one that cannot be used is reported and skipped,
    the others are still processed, and the command exits 2 at the end."""

    def __init__(self) -> None:
        self.failed = False

    def problem(self, message: str) -> None:
        print(f"protocol-dsl: error: {message}", file=sys.stderr)
        self.failed = True

    def rules(self, names: Sequence[str]) -> list[Path]:
        """The .rules files of these paths (directories searched)."""
        files: list[Path] = []
        for name in names:
            path = Path(name)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*.rules") if p.is_file())
                if not found:
                    self.problem(f"{name}: no *.rules files in this directory")
                files.extend(found)
            elif path.exists():
                files.append(path)
            else:
                self.problem(f"{name}: no such file or directory")
        return files

    def read(self, path: Path, what: str = "a rules file") -> Optional[str]:
        try:
            return _read_text(path, what)
        except _Usage as problem:
            self.problem(str(problem))
            return None


# ------------------------------------------------------------------------ check
def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}")
    return value


def _check(args) -> int:
    diagnostics = []
    named = _Files()
    files = named.rules(args.paths)
    for path in files:
        text = named.read(path)
        if text is not None:
            unproven: list[str] = []
            diagnostics.extend(diagnose(text, str(path), args.strict, args.deep_budget, unproven))
            if unproven:
                from .analysis import not_proven

                print(f"{path}: note: {not_proven(args.deep_budget, unproven)}", file=sys.stderr)
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    if args.format == "json":
        print(json.dumps([d.to_dict() for d in diagnostics], indent=2, ensure_ascii=False))
    elif args.format == "github":
        for d in diagnostics:
            print(github(d))
    elif args.format == "sarif":
        print(json.dumps(sarif(diagnostics), indent=2, ensure_ascii=False))
    else:
        for d in diagnostics:
            print(d.format())
        summary = f"{len(files)} file{'s' if len(files) != 1 else ''} checked: "
        summary += f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
        print(summary, file=sys.stderr)
    if named.failed:
        return EXIT_USAGE
    if errors or (args.strict and warnings):
        return EXIT_PROBLEMS
    return EXIT_OK


# ------------------------------------------------------------------------ fmt
def _fmt(args) -> int:
    import difflib

    from .formatter import format_text

    status = EXIT_OK
    named = _Files()
    for path in named.rules(args.paths):
        text = named.read(path)
        if text is None:
            continue
        try:
            formatted = format_text(text, str(path))
        except RulesError as problem:
            for d in problem.diagnostics:
                print(d.format(), file=sys.stderr)
            print(f"{path}: not formatted: it does not parse", file=sys.stderr)
            status = EXIT_USAGE
            continue
        if formatted == text:
            continue
        if args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    formatted.splitlines(keepends=True),
                    fromfile=f"{path} (as written)",
                    tofile=f"{path} (formatted)",
                )
            )
        if args.check or args.diff:
            if args.check:
                print(f"would reformat {path}", file=sys.stderr)
                status = max(status, EXIT_PROBLEMS)
            continue
        try:
            path.write_text(formatted, encoding="utf-8")
        except OSError as problem:
            raise _Usage(f"{path}: cannot be written ({problem.strerror or problem})") from None
        print(f"reformatted {path}", file=sys.stderr)
    return EXIT_USAGE if named.failed else status


# ------------------------------------------------------------------------ test
def _test(args) -> int:
    from . import loads
    from .cases import CASE_SUFFIXES, CaseFileError, case_file_for, load_cases, run_case

    # Asking for a coverage format, file or requirement is asking for coverage.
    args.coverage = args.coverage or args.require_coverage or args.coverage_output is not None
    args.coverage = args.coverage or args.coverage_format != "text"
    # A machine-readable report on stdout keeps stdout clean: results go to stderr.
    report = sys.stderr if args.coverage and args.coverage_format != "text" and not args.coverage_output else sys.stdout
    pairs: list[tuple[Path, Optional[Path]]] = []
    named = _Files()
    for name in args.paths:
        path = Path(name)
        if path.is_file() and path.name.endswith(CASE_SUFFIXES):
            stem = path.name
            for suffix in CASE_SUFFIXES:
                stem = stem.removesuffix(suffix)
            rules = path.with_name(stem + ".rules")
            if not rules.is_file():
                named.problem(f"{path}: there is no {rules.name} beside this case file")
                continue
            pairs.append((rules, path))
        else:
            pairs.extend((rules, case_file_for(rules)) for rules in named.rules([name]))
    if not any(cases for _, cases in pairs):
        if not named.failed:
            named.problem("no case files found: put the example patients of X.rules in X.cases.yaml beside it")
        return EXIT_USAGE

    failed = passed = 0
    problems = 0
    reports = []
    for rules, case_path in pairs:
        if case_path is None:
            print(f"{rules}: no case file ({rules.with_suffix('').name}.cases.yaml); not tested", file=sys.stderr)
            continue
        text = named.read(rules)
        if text is None:
            continue
        try:
            protocol = loads(text, str(rules))
        except RulesError as problem:
            for d in problem.diagnostics:
                print(d.format(), file=sys.stderr)
            problems += 1
            continue
        try:
            cases = load_cases(case_path, protocol)
        except CaseFileError as problem:
            print(f"{problem}", file=sys.stderr)
            problems += 1
            continue
        outcomes = [run_case(protocol, case) for case in cases]
        for outcome in outcomes:
            if outcome.passed:
                passed += 1
                continue
            failed += 1
            print(f"FAIL {case_path}:{outcome.case.line}: {outcome.case.name}", file=report)
            for failure in outcome.failures:
                print(f"    {failure}", file=report)
            if outcome.result is not None:
                for line in outcome.result.explain().splitlines():
                    print(f"    | {line}", file=report)
        if args.coverage:
            from .coverage import measure

            evaluated = [(o.case.name, o.result) for o in outcomes if o.result is not None]
            reports.append(measure(protocol, evaluated))
    not_run = f", {problems} {'file' if problems == 1 else 'files'} not run (see above)" if problems else ""
    print(f"{passed} passed, {failed} failed{not_run}", file=report)
    if reports:
        _coverage_report(args, reports)
    incomplete = args.require_coverage and any(not r.complete for r in reports)
    if named.failed:
        return EXIT_USAGE
    return EXIT_PROBLEMS if failed or problems or incomplete else EXIT_OK


def _coverage_report(args, reports) -> None:
    if args.coverage_format == "json":
        text = json.dumps([r.to_dict() for r in reports], indent=2, ensure_ascii=False) + "\n"
    elif args.coverage_format == "lcov":
        text = "".join(r.lcov() for r in reports)
    else:
        text = "\n".join(r.text() for r in reports) + "\n"
    if args.coverage_output:
        try:
            Path(args.coverage_output).write_text(text, encoding="utf-8")
        except OSError as problem:
            raise _Usage(f"{args.coverage_output}: cannot be written ({problem.strerror or problem})") from None
    else:
        sys.stdout.write(text)


# ------------------------------------------------------------------------ example
def _example(args) -> int:
    from .analysis import Analyzer, eligible_patient, near_misses, not_proven

    protocol = _load_rules(args.rules)
    if protocol is None:
        return EXIT_USAGE
    analyzer = Analyzer(protocol.program, seconds=args.deep_budget)
    if args.near_miss:
        misses = near_misses(protocol.checked, analyzer)
        print(json.dumps([{"fails": cid, "patient": patient} for cid, patient in misses.items()], indent=2,
                         ensure_ascii=False))
        missing = [f"a near miss for {cid}" for cid, patient in misses.items() if patient is None]
        if analyzer.out_of_time and missing:
            print(f"{args.rules}: note: {not_proven(args.deep_budget, missing)}", file=sys.stderr)
        return EXIT_OK if all(p is not None for p in misses.values()) else EXIT_PROBLEMS
    patient, core = eligible_patient(protocol.checked, analyzer)
    if patient is not None:
        print(json.dumps(patient, indent=2, ensure_ascii=False))
        return EXIT_OK
    if core:
        names = ", ".join(f"{c.kind} {c.id}" for c in core)
        print(f"{args.rules}: no patient can be eligible: these criteria cannot all pass together: {names}",
              file=sys.stderr)
        for criterion in core:
            print(f"  {criterion.id}: {' '.join(protocol.source.slice(criterion.expr.span).split())}", file=sys.stderr)
    else:
        from .records import dated_construct

        dated = dated_construct(protocol.program)
        why = (f": examples are single values, and {dated} may need dated values to pass" if dated else "")
        print(f"{args.rules}: no eligible patient was found within the search budget "
              f"(nothing is proven either way){why}", file=sys.stderr)
    return EXIT_PROBLEMS


# ------------------------------------------------------------------------ screen
def _screen(args) -> int:
    from .backends import Unsupported
    from .screen import ScreenError, screen

    protocol = _load_rules(args.rules)
    if protocol is None:
        return EXIT_USAGE
    units_by_input = {}
    for item in args.unit:
        name, sep, unit = item.partition("=")
        if not sep or not name or not unit:
            raise _Usage(f"--unit {item}: write INPUT=UNIT, for example TB=mg/dL")
        units_by_input[name.strip()] = unit.strip()
    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise _Usage(f"-o {args.output}: the results are written as .parquet or .csv")
    try:
        result = screen(protocol, args.cohort, engine=args.engine, units_by_input=units_by_input,
                        id_column=args.id, output=output, progress=sys.stderr.isatty())
    except ScreenError as problem:
        raise _Usage(str(problem)) from None
    except Unsupported as problem:  # a construct SQL does not compute (events, dated values): said in words
        raise _Usage(f"{args.rules}: {problem}") from None
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    rejects = result.rejects.to_pylist()
    for row in rejects[:20]:
        who = f" ({args.id} {row[args.id] if row[args.id] is not None else 'missing'})" if args.id else ""
        print(f"{args.cohort}: row {row['_row']}{who}: {row['problem']}", file=sys.stderr)
    if len(rejects) > 20:
        print(f"{args.cohort}: ... and {len(rejects) - 20} more rejected rows", file=sys.stderr)
    print(result.attrition_text())
    report_path = Path(args.report) if args.report else None
    rejects_path = Path(args.rejects) if args.rejects else (output.with_suffix(".rejects.csv") if output else None)
    summary_path = Path(args.summary) if args.summary else (output.with_suffix(".summary.json") if output else None)
    try:
        if rejects_path is not None:
            import pyarrow.csv as pc

            pc.write_csv(result.rejects, rejects_path)
        if summary_path is not None:
            summary_path.write_text(json.dumps(result.summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as problem:
        raise _Usage(f"cannot write the results ({problem.strerror or problem})") from None
    if report_path is not None:
        try:
            result.report(report_path)
        except OSError as problem:
            raise _Usage(f"{report_path}: cannot be written ({problem.strerror or problem})") from None
    written = [str(p) for p in (output, rejects_path, summary_path, report_path) if p is not None]
    if written:
        print(f"wrote {', '.join(written)}", file=sys.stderr)
    return EXIT_PROBLEMS if args.fail_on_rejects and rejects else EXIT_OK


# ------------------------------------------------------------------------ eval
def _load_rules(name: str):
    """The compiled protocol, or None after printing its errors."""
    from . import loads

    rules_path = Path(name)
    if rules_path.is_dir():
        raise _Usage(f"{name} is a directory: give one .rules file")
    text = _read_text(rules_path)
    try:
        return loads(text, name)
    except RulesError as problem:
        for d in problem.diagnostics:
            print(d.format(), file=sys.stderr)
        print(f"{name}: the rules file has errors", file=sys.stderr)
        return None


def _eval(args) -> int:
    protocol = _load_rules(args.rules)
    if protocol is None:
        return EXIT_USAGE
    patient_name = "<stdin>" if args.patient == "-" else args.patient
    if args.patient == "-":
        raw = sys.stdin.read()
    else:
        raw = _read_text(Path(args.patient), "patient JSON")
    as_of = _as_of(args.as_of)
    try:
        data = _load_json(raw)
        if args.patient_id is not None:
            from .fhir import convert, is_bundle

            if not is_bundle(data):
                raise _Usage(f"--patient {args.patient_id}: {patient_name} is not a FHIR Bundle")
            conversion = convert(protocol, data, as_of=as_of, patient=args.patient_id)
            result = protocol.evaluate(conversion.data, as_of=as_of)
            result.warnings[:0] = conversion.warnings
        else:
            result = protocol.evaluate(data, as_of=as_of)
    except ValueError as problem:  # DataError, and JSON that does not parse
        print(f"{patient_name}: {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    elif args.format == "html":
        from .html_report import result_page

        sys.stdout.write(result_page(result, patient_name))
    else:
        print(result.explain())
    return EXIT_OK


def _as_of(text: Optional[str]):
    import datetime

    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise _Usage(f"--as-of {text}: expected a date YYYY-MM-DD, such as 2026-12-01") from None


def _load_json(text: str):
    def no_duplicates(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise DataError([f"{key}: given twice in the same object"])
            seen[key] = value
        return seen

    try:
        # Numbers are read as floats, as evaluation uses them: an integer of any length
        # (Python refuses to convert more than 4300 digits to an int) becomes a float,
        # infinite beyond the float range, which data.prepare refuses naming the input.
        return json.loads(text, object_pairs_hook=no_duplicates, parse_int=float)
    except json.JSONDecodeError as problem:
        raise DataError([f"not valid JSON: {problem.msg} at line {problem.lineno}, column {problem.colno}"]) from None
    except RecursionError:
        raise DataError(["not valid JSON: nested too deeply"]) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
