"""Screening a cohort: every patient of a table through the protocol's SQL, in bulk.

The cohort (CSV, JSON Lines, Parquet, or an Arrow table / DataFrame) has one row per
patient and a column per input, named after it; `TB [mg/dL]` names the input TB given
in mg/dL, and `units={"TB": "mg/dL"}` says the same from outside. Values are validated
in SQL: a row with a value of the wrong type, outside its range or not among its
categories is never dropped silently: it is reported with its row number and reason,
counted, and returned (or written) as a reject. Valid rows get the status, every
criterion's value and the missing inputs. DuckDB runs it by default; Spark runs the
very same sqlglot tree (backends/sql.py) rendered in its dialect.

Every column is read and computed under an internal name (`$s0` the cohort's first
column, `$row`, `$i0` an input...): see docs/screening.md, "Where an engine differs".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional, Union

import attrs

from . import ir, units
from .checker import Bool, Num
from .errors import ProtocolDslError

_HEADER_UNIT = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\[(?P<unit>[^\]]+)\]\s*$")
FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "json", ".ndjson": "json", ".json": "json"}


SAMPLE = 3  # patients of each status kept for the report
RESERVED_ID = ("_row", "status", "missing", "problem")  # result columns an --id column cannot be named


class ScreenError(ProtocolDslError):
    """A cohort that cannot be screened (unreadable, unknown format, unit that cannot convert)."""


try:  # sqlglot comes with the 'screen' extra; without it, screen() says so
    from sqlglot import exp

    from .backends.sql import (RESERVED, WHOLE, CriteriaQuery, Layers, and_, binary, case, close, column,
                               criterion_names, fn, is_finite, is_null, not_, number, summary_query, text, typed_null)
except ImportError:  # pragma: no cover
    exp = None


@attrs.define
class Screening:
    """What a screening produced: per-patient results, rejects, the summary, warnings."""

    results: Any  # pyarrow.Table: _row, [id], status, one column per criterion, missing
    rejects: Any  # pyarrow.Table: _row, [id], problem
    summary: dict
    warnings: list[str]
    # For the report: what was screened, when, and a few patients of each status with their values.
    protocol: Any = None
    cohort: Optional[str] = None
    id_column: Optional[str] = None
    screened_at: Optional[str] = None  # UTC, ISO 8601 to the second
    sample: list = attrs.field(factory=list)  # {"_row", "id", "status", "values"}: see sample_rows

    def attrition_text(self) -> str:
        return attrition_text(self.summary)

    def report(self, path: Union[str, Path, None] = None) -> str:
        """The screening as one self-contained HTML page; written to `path` when given."""
        from .html_report import screening_page

        page = screening_page(self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        extra = "spark" if module.startswith("pyspark") else "screen"
        raise ScreenError(
            f"screening needs the '{module}' package: pip install 'protocol-dsl[{extra}]'"
        ) from None


def screen(protocol, cohort: Union[str, Path, Any], *, engine: str = "duckdb", units_by_input: Optional[dict] = None,
           id_column: Optional[str] = None, output: Optional[Path] = None, progress: bool = False,
           sample: int = SAMPLE) -> Screening:
    """Screen every patient of a cohort (path or Arrow-compatible table).

    `sample`: how many patients of each status keep their values for the report.
    """
    import datetime

    _require("sqlglot")
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    if id_column is not None and id_column in RESERVED_ID:
        raise ScreenError(f"--id {id_column}: the results have a '{id_column}' column of their own; "
                          f"rename the id column in the cohort")
    if engine == "duckdb":
        runner: _Engine = _DuckDB(progress)
    elif engine == "spark":
        runner = _Spark()
    else:
        raise ScreenError(f"unknown engine {engine!r}: use duckdb or spark")
    program = protocol.program
    try:
        columns, numeric_columns = runner.load(cohort)
        mapping, warnings = _map_columns(protocol, columns, units_by_input or {}, id_column)
        keep = {"$id": _source(columns.index(id_column))} if id_column else {}
        inputs = {name: f"$i{index}" for index, name in enumerate(program.inputs)}
        evaluation = CriteriaQuery(program, inputs)  # first: a construct SQL does not compute is refused here
        typed = validation_query(program, inputs, mapping, numeric_columns, keep)
        runner.view("$typed", typed)
        valid = exp.select(exp.Star()).from_(_table("$typed"), copy=False).where(
            exp.EQ(this=column("$problem"), expression=exp.Literal.string("")), copy=False)
        internal = ["$row", *keep] + evaluation.result_columns()
        runner.table("$results", evaluation.select(valid, [column(c) for c in internal]))
        kept = ["$row", *keep]
        rejects = runner.query(
            exp.select(*[column(c) for c in kept + ["$problem"]]).from_(_table("$typed"), copy=False)
            .where(exp.NEQ(this=column("$problem"), expression=exp.Literal.string("")), copy=False).order_by(column("$row"), copy=False))
        rejects = rejects.rename_columns(["_row"] + ([id_column] if id_column else []) + ["problem"])
        flags = {name: flag.name for name, flag in evaluation.missing_flags.items()}
        summary_row = runner.query(summary_query(program, flags, _table("$results"))).to_pylist()[0]
        funnel = runner.query(funnel_query(evaluation, _table("$results"))).to_pylist()
        lack = runner.query(lack_query(program, evaluation, _table("$results"))).to_pylist()[0]
        chosen = runner.query(sample_rows(sample)).to_pylist() if sample > 0 else []
        if chosen:
            typed_rows = runner.query(sample_values(program, inputs, keep, [r["$row"] for r in chosen])).to_pylist()
            by_row = {r["$row"]: r for r in typed_rows}
            chosen = [dict(by_row[r["$row"]], **r) for r in chosen]
        shown = ["$row", *keep, "$status"] + [c.name for c in evaluation.backend.criteria] + ["$missing"]
        names = (["_row"] + ([id_column] if id_column else []) + ["status"]
                 + criterion_names(program, RESERVED + ((id_column,) if id_column else ())) + ["missing"])
        results = exp.select(*[column(c) for c in shown]).from_(_table("$results"), copy=False).order_by(column("$row"), copy=False)
        table = runner.results(results, names, output)
    finally:
        runner.close()
    summary = _summary(protocol, summary_row, rejects.num_rows, funnel, lack)
    chosen = [{"_row": r["$row"], "id": r.get("$id"), "status": r["$status"],
               "values": {name: r[inputs[name]] for name in program.inputs}} for r in chosen]
    name = str(cohort) if isinstance(cohort, (str, Path)) else None
    return Screening(table, rejects, summary, warnings, protocol, name, id_column, started.isoformat(), chosen)


def funnel_query(evaluation, source: exp.Expression) -> exp.Select:
    """Patients by (first failed criterion, first unknown criterion): the funnel's two pools.

    After criterion k, a patient not yet removed (`$first` null or > k) has met every
    criterion so far when `$unknown_first` is null or > k, and is undetermined so far
    otherwise. One linear CASE and a GROUP BY, not a count per criterion and step.
    """
    criteria = evaluation.backend.criteria
    first_unknown = (case(*[(is_null(c), exp.Literal.number(i)) for i, c in enumerate(criteria)])
                     if criteria else exp.Cast(this=exp.Null(), to=exp.DataType.build("int")))
    return (exp.select(exp.alias_(column("$first"), "$first", quoted=True, copy=False),
                       exp.alias_(first_unknown, "$unknown_first", quoted=True, copy=False),
                       exp.alias_(exp.Count(this=exp.Star()), "$patients", quoted=True, copy=False))
            .from_(source, copy=False).group_by(exp.Literal.number(1), exp.Literal.number(2), copy=False))


def lack_query(program, evaluation, source: exp.Expression) -> exp.Select:
    """Per criterion: undetermined patients for whom it is unknown, and of those how many lack each input it reads.

    `$m{i}` is "input i is missing and read by an unknown criterion", so with criterion k
    unknown and reading input i, it is "input i is missing" (aliases `$undetermined{k}`,
    `$lack{k}_{i}`, i the input's position in sorted order).
    """
    one, nothing = exp.Literal.number(1), exp.Literal.number(0)
    undetermined = binary(exp.EQ, column("$status"), text("undetermined"))
    order = {name: index for index, name in enumerate(sorted(program.inputs))}
    columns = [exp.alias_(exp.Count(this=exp.Star()), "$patients", quoted=True, copy=False)]
    for k, (c, value) in enumerate(zip(program.criteria, evaluation.backend.criteria)):
        here = and_(undetermined, is_null(value))
        columns.append(exp.alias_(exp.Sum(this=case((here, one), default=nothing)), f"$undetermined{k}",
                                  quoted=True, copy=False))
        for name in sorted(c.reads):
            flag = evaluation.missing_flags.get(name)
            if flag is not None:
                lacking = and_(here, exp.Coalesce(this=column(flag.name), expressions=[exp.false()]))
                columns.append(exp.alias_(exp.Sum(this=case((lacking, one), default=nothing)),
                                          f"$lack{k}_{order[name]}", quoted=True, copy=False))
    return exp.Select(expressions=columns).from_(source, copy=False)


def sample_rows(per_status: int) -> exp.Select:
    """The row numbers of the first `per_status` valid patients of each status (only the results are read)."""
    ranked = exp.Window(this=exp.RowNumber(), partition_by=[column("$status")],
                        order=exp.Order(expressions=[exp.Ordered(this=column("$row"))]))
    inner = exp.select(column("$row"), column("$status"), exp.alias_(ranked, "$rank", quoted=True, copy=False)).from_(
        _table("$results"), copy=False)
    ranked_rows = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("$ranked", quoted=True)))
    return (exp.select(column("$row"), column("$status")).from_(ranked_rows, copy=False)
            .where(exp.LTE(this=column("$rank"), expression=exp.Literal.number(per_status)), copy=False)
            .order_by(column("$row"), copy=False))


def sample_values(program, inputs: dict, keep: dict, rows: list[int]) -> exp.Select:
    """These rows' kept columns and typed values (in the inputs' units); few rows, so the validation is cheap."""
    return (exp.select(column("$row"), *[column(k) for k in keep], *[column(inputs[name]) for name in program.inputs])
            .from_(_table("$typed"), copy=False)
            .where(exp.In(this=column("$row"), expressions=[exp.Literal.number(r) for r in rows]), copy=False))


def _source(position: int) -> str:
    """The internal name of the cohort's column at this position."""
    return f"$s{position}"


def _table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True))


MARKERS = ("", "NA", "null", "NULL")  # a cell that reads as unknown (unless it is a declared category value)
NUMBER_TEXT = "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"  # what both engines read alike


def validation_query(program, inputs: dict[str, str], mapping: dict, numeric_columns: set, keep: dict) -> exp.Select:
    """SELECT $row, kept columns, each input typed and in its unit (by internal name), $problem FROM $raw.

    `mapping`: input -> (cohort column position, factor into the input's unit, the
    column's unit as written or None); an input without a column is NULL for everyone.
    A number column the engine already reads as a number is cast; any other column is
    read as text, so that a number in a text column and text in a number column are
    judged alike. Every problem of a row is reported, joined by "; ".
    """
    layers = Layers()
    problems = []
    selected = [column("$row")] + [exp.alias_(column(src), out, quoted=True, copy=False) for out, src in keep.items()]
    markers = [exp.Literal.string(m) for m in MARKERS]
    for name, info in program.inputs.items():
        internal = inputs[name]
        t = info.type
        kind = ir.NUMBER if isinstance(t, Num) else ir.BOOLEAN if isinstance(t, Bool) else ir.TEXT
        if name not in mapping:
            selected.append(exp.alias_(typed_null(kind), internal, quoted=True, copy=False))
            continue
        position, factor, given_unit = mapping[name]
        source = column(_source(position))
        as_text = exp.Cast(this=source, to=exp.DataType.build("text"))
        if kind == ir.TEXT:
            cell = layers.add(as_text)  # categories are not trimmed: " a" may be a value
            values = [exp.Literal.string(v) for v in t.values]
            if t.open:
                value = case((exp.In(this=exp.Trim(this=cell), expressions=markers), exp.Null()), default=cell)
                problem = None
            else:
                declared = exp.In(this=cell, expressions=values)
                value = case((declared, cell))
                problem = case((and_(not_(is_null(cell)), not_(declared),
                                     not_(exp.In(this=exp.Trim(this=cell), expressions=markers))),
                                _concat(name + ": ", cell, " is not one of " + ", ".join(t.values))))
            selected.append(exp.alias_(value, internal, quoted=True, copy=False))
            if problem is not None:
                problems.append(problem)
            continue
        raw = layers.add(exp.Trim(this=as_text))
        present = layers.add(and_(not_(is_null(raw)), not_(exp.In(this=raw, expressions=markers))))
        if kind == ir.BOOLEAN:
            lowered = exp.Lower(this=raw)
            selected.append(exp.alias_(case((present, exp.EQ(this=lowered, expression=exp.Literal.string("true")))),
                                       internal, quoted=True, copy=False))
            bad = not_(exp.In(this=lowered, expressions=[exp.Literal.string("true"), exp.Literal.string("false")]))
            problems.append(case((and_(present, bad), _concat(name + ": expected true or false, got ", raw))))
            continue
        if position in numeric_columns:
            parsed = exp.Cast(this=source, to=exp.DataType.build("double"))
        else:
            parsed = case((exp.RegexpLike(this=raw, expression=exp.Literal.string(NUMBER_TEXT)),
                           exp.TryCast(this=raw, to=exp.DataType.build("double"))))
        parsed = layers.add(parsed)
        value = parsed if factor == 1.0 else layers.add(exp.Mul(this=parsed, expression=number(factor)))
        selected.append(exp.alias_(case((present, value)), internal, quoted=True, copy=False))
        unit = f" {t.unit.text}" if not t.unit.is_dimensionless else ""
        whens = [(not_(exp.Coalesce(this=is_finite(parsed), expressions=[exp.false()])),
                  _concat(name + ": not a number: ", raw))]
        if factor != 1.0:
            whens.append((not_(exp.Coalesce(this=is_finite(value), expressions=[exp.false()])),
                          _concat(name + ": ", raw, f" {given_unit} is too large")))
        if info.range is not None:
            low, high = info.range
            shown = [raw] if factor == 1.0 else [
                raw, f" {given_unit} (", exp.Cast(this=value, to=exp.DataType.build("text")), unit + ")"]
            whens.append((not_(exp.Between(this=value, low=number(low), high=number(high))),
                          _concat(name + ": ", *shown, f" is outside the plausible range {_range(info)}{unit}")))
        if info.whole:
            of = f" of {t.unit.text}" if unit else ""
            given = [] if factor == 1.0 else [f" {given_unit}"]
            whens.append((not_(_whole(value)), _concat(f"{name}: expected a whole number{of}, got ", raw, *given)))
        problems.append(case((not_(present), exp.Null()), *whens))
    problem = fn("concat_ws", exp.Literal.string("; "), *problems) if problems else exp.Literal.string("")
    selected.append(exp.alias_(problem, "$problem", quoted=True, copy=False))
    return layers.select(_table("$raw"), selected)


def _whole(value: exp.Expression) -> exp.Expression:
    """A finite column holds a whole number (at 12 digits, as a converted value is read)."""
    nearest = exp.Cast(this=fn("floor", exp.Add(this=value, expression=number(0.5))), to=exp.DataType.build("double"))
    large = exp.GTE(this=fn("abs", value), expression=number(WHOLE))
    return exp.Or(this=large, expression=exp.Paren(this=close(value, nearest)))


def _concat(*parts) -> exp.Expression:
    """Text parts (str literals or expressions) joined with ||."""
    items = [exp.Literal.string(x) if isinstance(x, str) else x for x in parts]
    joined = items[0]
    for item in items[1:]:
        joined = exp.DPipe(this=joined, expression=item, safe=True)
    return joined


def _range(info) -> str:
    from .data import format_number

    low, high = info.range
    return f"{format_number(low)}..{format_number(high)}"


def _map_columns(protocol, columns: list[str], given: dict, id_column: Optional[str]):
    """Input -> (the cohort column's position, factor into the input's unit, the column's unit); warnings."""
    import difflib

    inputs = protocol.inputs
    mapping: dict[str, tuple[str, float, Optional[str]]] = {}
    warnings: list[str] = []
    for name in given:
        if name not in inputs:
            raise ScreenError(f"--unit {name}=...: '{name}' is not an input of the protocol")
    if id_column is not None and id_column not in columns:
        raise ScreenError(f"--id {id_column}: the cohort has no such column")
    if id_column is not None and columns.count(id_column) > 1:
        raise ScreenError(f"--id {id_column}: the cohort has two such columns")
    given_by: dict[str, str] = {}
    for position, column in enumerate(columns):
        if column == id_column:
            continue
        match = _HEADER_UNIT.match(column)
        name, unit_text = (match.group("name"), match.group("unit").strip()) if match else (column, None)
        if name not in inputs:
            close = difflib.get_close_matches(name, list(inputs), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            warnings.append(f"column '{column}' is not an input of the protocol and was ignored{hint}")
            continue
        if name in mapping:
            raise ScreenError(f"input '{name}' is given by two columns: '{given_by[name]}' and '{column}'")
        if name in given:
            if unit_text is not None and units.parse_unit(unit_text) != units.parse_unit(given[name]):
                raise ScreenError(f"column '{column}' says {unit_text} but --unit says {name}={given[name]}: which is it?")
            unit_text = given[name]
        mapping[name] = (position, _factor(inputs[name], unit_text, column), unit_text)
        given_by[name] = column
    absent = [name for name in inputs if name not in mapping]
    if absent:
        warnings.append(
            f"the cohort has no column for {'input' if len(absent) == 1 else 'inputs'} {', '.join(absent)}: "
            f"unknown for every patient"
        )
    return mapping, warnings


def _factor(info, unit_text: Optional[str], column: str) -> float:
    if unit_text is None:
        return 1.0
    if not isinstance(info.type, Num):
        raise ScreenError(f"column '{column}': '{info.name}' is not a number, so it has no unit")
    try:
        given = units.parse_unit(unit_text)
    except units.UnitError as problem:
        raise ScreenError(f"column '{column}': {problem}") from None
    factor = units.conversion_factor(given, info.type.unit, info.type.molar_mass)
    if factor is None:
        target = info.type.unit.text or "a plain number"
        raise ScreenError(f"column '{column}': {unit_text} cannot be converted to {target}")
    return factor


def _summary(protocol, row: dict, rejected: int, funnel: list, lack: dict) -> dict:
    row = {key: int(value or 0) for key, value in row.items()}  # engines sum into decimals
    lack = {key: int(value or 0) for key, value in lack.items()}
    pools = [(r["$first"], r["$unknown_first"], int(r["$patients"] or 0)) for r in funnel]
    order = {name: index for index, name in enumerate(sorted(protocol.program.inputs))}
    criteria = []
    remaining = row["$patients"]
    for index, c in enumerate(protocol.program.criteria):
        removed = row[f"$removed{index}"]
        remaining -= removed
        met = sum(n for first, unknown, n in pools
                  if (first is None or first > index) and (unknown is None or unknown > index))
        lacking = {name: lack.get(f"$lack{index}_{order[name]}", 0) for name in sorted(c.reads)}
        lacking = {name: count for name, count in lacking.items() if count}
        criteria.append({"id": c.id, "kind": c.kind, "text": c.text, "removed": removed, "remaining": remaining,
                         "fails": row[f"$fails{index}"], "unknown": row[f"$unknown{index}"],
                         "remaining_met": met, "remaining_undetermined": remaining - met,
                         "undetermined": lack[f"$undetermined{index}"],
                         "undetermined_for_lack_of": dict(sorted(lacking.items(), key=lambda item: (-item[1], item[0])))})
    missing = {name: row.get(f"$missing{index}", 0) for index, name in enumerate(sorted(protocol.program.inputs))}
    missing = {name: count for name, count in missing.items() if count}
    row = {"patients": row["$patients"], "eligible": row["$eligible"], "ineligible": row["$ineligible"],
           "undetermined": row["$undetermined"]}
    return {
        "protocol": protocol.id,
        "title": protocol.title,
        "patients": (row["patients"] or 0) + rejected,
        "screened": row["patients"] or 0,
        "rejected": rejected,
        "eligible": row["eligible"] or 0,
        "ineligible": row["ineligible"] or 0,
        "undetermined": row["undetermined"] or 0,
        "attrition": criteria,
        "undetermined_for_lack_of": dict(sorted(missing.items(), key=lambda item: (-item[1], item[0]))),
    }


TEXT_WIDTH = 60  # of the criterion text column in the terminal table; longer texts wrap at words


def attrition_text(summary: dict) -> str:
    """The attrition table a coordinator reads."""
    import textwrap

    def count(n: int, word: str) -> str:
        return f"{n} {word}" if n == 1 else f"{n} {word}s"

    lines = [
        f"{summary['protocol'] or 'protocol'}: {count(summary['patients'], 'patient')}, {summary['rejected']} rejected "
        f"(invalid data), {summary['screened']} screened",
        f"  eligible {summary['eligible']}, ineligible {summary['ineligible']}, "
        f"undetermined {summary['undetermined']}",
        "",
        f"  {'criterion':<10} {'removes':>9} {'remaining':>10} {'= met':>9} {'+ undetermined':>14} {'fails':>9} "
        f"{'unknown':>9}  text",
    ]
    indent = " " * (2 + 10 + 9 + 10 + 9 + 14 + 9 + 9 + 6 + 2)
    for c in summary["attrition"]:
        # Wrapped at words, never cut: the report and the JSON carry the same full text.
        text = textwrap.wrap(" ".join((c["text"] or "").split()), TEXT_WIDTH, break_on_hyphens=False) or [""]
        lines.append(f"  {c['id']:<10} {c['removed']:>9} {c['remaining']:>10} {c['remaining_met']:>9} "
                     f"{c['remaining_undetermined']:>14} {c['fails']:>9} {c['unknown']:>9}  {text[0]}")
        lines.extend(indent + more for more in text[1:])
    if summary["attrition"]:
        lines.append("")
        lines.append("  remaining after a criterion = met (every criterion so far met) "
                     "+ undetermined (one so far unknown, none failed)")
        lines.append("  fails: all the patients who fail it; unknown: all for whom it is unknown")
    if summary["undetermined_for_lack_of"]:
        lines.append("")
        lines.append("  undetermined for lack of:")
        for name, count in summary["undetermined_for_lack_of"].items():
            lines.append(f"    {name:<28} {count:>9}")
    return "\n".join(lines)


# ---------------------------------------------------------------- engines
# Every engine reads the cohort's columns by position under internal names ($s0, $s1...
# and $row), so that two columns differing only in case stay two columns, and renames
# to the user's names only in the Arrow tables it returns.
NUMERIC_TYPES = ("DOUBLE", "FLOAT", "REAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT",
                 "UINTEGER", "USMALLINT", "UTINYINT", "DECIMAL", "INT", "LONG", "SHORT", "BYTE")


def _param(name: str, value) -> exp.Expression:
    return exp.EQ(this=exp.var(name), expression=value)


def _aliased(relation: exp.Expression, names: list[str]) -> exp.Expression:
    """relation AS "$cohort"("$s0", ...): its columns renamed by position."""
    alias = exp.TableAlias(this=exp.to_identifier("$cohort", quoted=True),
                           columns=[exp.to_identifier(n, quoted=True) for n in names])
    if isinstance(relation, exp.Table):
        relation.set("alias", alias)
        return relation
    return exp.Table(this=relation, alias=alias)


def _renamed(table, names: list[str]):
    return table.rename_columns(names)


class _Engine:
    name = "the cohort"

    def close(self) -> None:
        pass


class _DuckDB(_Engine):
    def __init__(self, progress: bool):
        duckdb = _require("duckdb")
        _require("pyarrow")
        self.connection = duckdb.connect()
        self.connection.execute(f"SET enable_progress_bar = {'true' if progress else 'false'}")

    def load(self, cohort) -> tuple[list[str], set]:
        sources = lambda count: [_source(i) for i in range(count)]  # noqa: E731
        numbered = None
        if isinstance(cohort, (str, Path)):
            path, kind = _cohort_file(cohort)
            self.name = str(cohort)
            where = exp.Literal.string(str(path))
            if kind == "csv":
                # The header is read here and every row must match it: DuckDB's sniffer
                # would otherwise take a ragged row for the header and lose patients.
                delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
                names = _csv_header(path, delimiter)
                columns = exp.Struct(expressions=[exp.PropertyEQ(this=exp.Literal.string(n), expression=exp.Literal.string("VARCHAR"))
                                                  for n in sources(len(names))])
                reader = exp.Anonymous(this="read_csv", expressions=[
                    where, _param("header", exp.true()), _param("auto_detect", exp.false()), _param("columns", columns),
                    _param("delim", exp.Literal.string(delimiter)), _param("quote", exp.Literal.string('"')),
                    _param("strict_mode", exp.true()), _param("null_padding", exp.false()),
                    # an unquoted empty field is missing; a quoted one ("") is the empty text
                    _param("allow_quoted_nulls", exp.false())])
                relation = _aliased(exp.Table(this=reader), sources(len(names)))
            elif kind == "parquet":
                import pyarrow.parquet as pq

                try:
                    names = pq.read_schema(path).names
                except Exception as problem:  # pyarrow: not a Parquet file
                    raise ScreenError(f"{path}: cannot be read as Parquet ({problem})") from None
                # The reader numbers the rows itself, far cheaper than a window over them all.
                reader = exp.Anonymous(this="read_parquet", expressions=[where, _param("file_row_number", exp.true())])
                relation = _aliased(exp.Table(this=reader), sources(len(names)) + ["$file_row"])
                numbered = exp.Add(this=column("$file_row"), expression=exp.Literal.number(1))
            else:
                reader = exp.Anonymous(this="read_json", expressions=[
                    where, _param("format", exp.Literal.string("newline_delimited")), _param("records", exp.true())])
                # (DuckDB reads JSON keys case-insensitively: the names are what it reads)
                names = list(self.sql_relation(exp.select(exp.Star()).from_(exp.Table(this=reader), copy=False).limit(0, copy=False)).columns)
                relation = _aliased(exp.Table(this=reader), sources(len(names)))
        else:
            self.connection.register("protocol_dsl_cohort", cohort)
            names = [str(n) for n in (cohort.column_names if hasattr(cohort, "column_names") else cohort.columns)]
            relation = _aliased(exp.Table(this=exp.to_identifier("protocol_dsl_cohort")), sources(len(names)))
        row = numbered if numbered is not None else exp.Window(this=exp.RowNumber())
        raw = exp.select(exp.alias_(row, "$row", quoted=True, copy=False), *[column(n) for n in sources(len(names))]).from_(relation, copy=False)
        self.view("$raw", raw)
        types = self.sql_relation(exp.select(exp.Star()).from_(_table("$raw"), copy=False).limit(0, copy=False)).types[1:]
        numeric = {i for i, t in enumerate(types) if str(t).split("(")[0].upper() in NUMERIC_TYPES}
        return names, numeric

    def sql_relation(self, query: exp.Expression):
        duckdb = _require("duckdb")
        try:
            return self.connection.sql(query.sql(dialect="duckdb"))
        except duckdb.Error as problem:
            raise ScreenError(f"{self.name}: {_first_lines(problem)}") from None

    def run(self, statement: exp.Expression):
        """Execute, turning any engine error (unreadable rows, unwritable output) into a ScreenError."""
        duckdb = _require("duckdb")
        try:
            return self.connection.execute(statement.sql(dialect="duckdb"))
        except duckdb.Error as problem:
            raise ScreenError(f"{self.name}: {_first_lines(problem)}") from None

    def view(self, name: str, query: exp.Expression) -> None:
        self.run(exp.Create(this=_table(name), kind="VIEW", expression=query))

    def table(self, name: str, query: exp.Expression) -> None:
        # Results are computed once, into a table the summary and the output read.
        self.run(exp.Create(this=_table(name), kind="TABLE", expression=query))

    def query(self, query: exp.Expression):
        return self.arrow(lambda: self.sql_relation(query).to_arrow_table())

    def results(self, query: exp.Expression, names: list[str], output: Optional[Path]):
        if output is None:
            return _renamed(self.query(query), names)
        reader = self.arrow(lambda: self.sql_relation(query).to_arrow_reader(65536))
        self.arrow(lambda: _stream(reader, names, Path(output)))
        return None

    def arrow(self, produce):
        """Run what reads rows (an engine error can surface only then) with errors as ScreenError."""
        duckdb = _require("duckdb")
        try:
            return produce()
        except duckdb.Error as problem:
            raise ScreenError(f"{self.name}: {_first_lines(problem)}") from None

    def close(self) -> None:
        self.connection.close()


def _first_lines(problem) -> str:
    lines = [line.strip() for line in str(problem).splitlines() if line.strip()]
    return "; ".join(line for line in lines[:3] if not line.startswith(("*", "LINE")))


def _stream(reader, names: list[str], path: Path) -> None:
    """Write record batches under the user's column names, batch by batch."""
    import pyarrow as pa

    schema = pa.schema([field.with_name(n) for field, n in zip(reader.schema, names)])
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            writer = pq.ParquetWriter(path, schema)
        else:
            import pyarrow.csv as pc

            writer = pc.CSVWriter(path, schema)
        with writer:
            for batch in reader:
                writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
    except OSError as problem:
        raise ScreenError(f"{path}: cannot be written ({problem.strerror or problem})") from None


class _Spark(_Engine):
    def __init__(self):
        _require("pyspark")
        _require("pyarrow")
        from pyspark.sql import SparkSession

        self.spark = (
            SparkSession.builder.master("local[2]")
            .appName("protocol-dsl")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.ansi.enabled", "false")
            .getOrCreate()
        )
        self.spark.conf.set("spark.sql.caseSensitive", "true")  # names differing in case are two columns
        self.spark.conf.set("spark.sql.ansi.enabled", "false")
        self.spark.sparkContext.setLogLevel("ERROR")
        self.frames: list = []

    def load(self, cohort) -> tuple[list[str], set]:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        reader = self.spark.read
        if isinstance(cohort, (str, Path)):
            path, kind = _cohort_file(cohort)
            if kind == "csv":
                delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
                names = _csv_header(path, delimiter)
                frame = reader.option("header", "true").option("sep", delimiter).option("mode", "FAILFAST").csv(str(path))
            elif kind == "parquet":
                frame = reader.parquet(str(path))
                names = list(frame.columns)
            else:
                frame = reader.option("mode", "FAILFAST").json(str(path))
                names = list(frame.columns)
        else:
            frame = self.spark.createDataFrame(cohort)  # a pyarrow Table (Spark 4) or a pandas DataFrame
            names = list(frame.columns)
        self.name = str(cohort) if isinstance(cohort, (str, Path)) else "the cohort"
        sources = [_source(i) for i in range(len(names))]
        frame = frame.toDF(*sources)
        numeric = {i for i, (_, t) in enumerate(frame.dtypes) if t.split("(")[0].upper() in NUMERIC_TYPES}
        # Row numbers in file order; the window runs in one partition, which is what
        # numbering rows in order costs.
        row = F.row_number().over(Window.orderBy(F.monotonically_increasing_id())).alias("$row")
        frame.select(row, *[F.col(f"`{n}`") for n in sources]).createOrReplaceTempView("`$raw`")
        return names, numeric

    def frame(self, query: exp.Expression):
        return self.spark.sql(query.sql(dialect="spark"))

    def view(self, name: str, query: exp.Expression) -> None:
        self.frame(query).createOrReplaceTempView(f"`{name}`")

    def table(self, name: str, query: exp.Expression) -> None:
        frame = self.frame(query).cache()
        self.frames.append(frame)
        frame.createOrReplaceTempView(f"`{name}`")

    def query(self, query: exp.Expression):
        return self.collect(self.frame(query))

    def results(self, query: exp.Expression, names: list[str], output: Optional[Path]):
        table = _renamed(self.query(query), names)
        if output is not None:
            try:
                _write(table, Path(output))
            except OSError as problem:
                raise ScreenError(f"{output}: cannot be written ({problem.strerror or problem})") from None
        return table

    def collect(self, frame):
        try:
            return frame.toArrow() if hasattr(frame, "toArrow") else _arrow(frame.toPandas())
        except Exception as problem:  # Spark raises Java errors through py4j: report, never a traceback
            first = next((line for line in str(problem).splitlines() if line.strip()), type(problem).__name__)
            raise ScreenError(f"{self.name}: {first.strip()[:300]}") from None

    def close(self) -> None:
        for frame in self.frames:
            frame.unpersist()


def _cohort_file(cohort) -> tuple[Path, str]:
    path = Path(cohort)
    if path.is_dir():
        raise ScreenError(f"{path} is a directory: give one cohort file")
    if not path.is_file():
        raise ScreenError(f"{path}: no such file")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ScreenError(f"{path}: unknown format: use .csv, .jsonl or .parquet")
    return path, kind


def _csv_header(path: Path, delimiter: str) -> list[str]:
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
    except (OSError, UnicodeDecodeError, csv.Error) as problem:
        raise ScreenError(f"{path}: cannot be read as CSV ({problem})") from None
    if not header or not any(name.strip() for name in header):
        raise ScreenError(f"{path}: the first line must be a header naming the columns")
    if len(set(header)) != len(header):
        raise ScreenError(f"{path}: the header names a column twice")
    return header


def _arrow(frame):
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def _write(table, path: Path) -> None:
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    else:
        import pyarrow.csv as pc

        pc.write_csv(table, path)
