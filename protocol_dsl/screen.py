"""Screening a cohort: every patient of a table through the protocol's SQL, in bulk.

The cohort (CSV, JSON Lines, Parquet, or an Arrow table / DataFrame) has one row per
patient and a column per input, named after it; `TB [mg/dL]` names the input TB given
in mg/dL, and `units={"TB": "mg/dL"}` says the same from outside. Values are validated
in SQL: a row with a value of the wrong type, outside its range or not among its
categories is never dropped silently: it is reported with its row number and reason,
counted, and returned (or written) as a reject. Valid rows get the status, every
criterion's value and the missing inputs. DuckDB runs it by default; Spark runs the
very same SQL, translated by sqlglot.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional, Union

import attrs

from . import units
from .checker import Num
from .sql import SqlGenerator, quote, summary_query, validation_query

_HEADER_UNIT = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\[(?P<unit>[^\]]+)\]\s*$")
FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "json", ".ndjson": "json", ".json": "json"}


class ScreenError(Exception):
    """A cohort that cannot be screened (unreadable, unknown format, unit that cannot convert)."""


@attrs.define
class Screening:
    """What a screening produced: per-patient results, rejects, the summary, warnings."""

    results: Any  # pyarrow.Table: _row, [id], status, one column per criterion, missing
    rejects: Any  # pyarrow.Table: _row, [id], problem
    summary: dict
    warnings: list[str]

    def attrition_text(self) -> str:
        return attrition_text(self.summary)


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
           id_column: Optional[str] = None, output: Optional[Path] = None, progress: bool = False) -> Screening:
    """Screen every patient of a cohort (path or Arrow-compatible table)."""
    if engine == "duckdb":
        runner: _Engine = _DuckDB(progress)
    elif engine == "spark":
        runner = _Spark()
    else:
        raise ScreenError(f"unknown engine {engine!r}: use duckdb or spark")
    try:
        columns = runner.load(cohort)
        mapping, warnings = _map_columns(protocol, columns, units_by_input or {}, id_column)
        keep = [id_column] if id_column else []
        typed = validation_query(protocol.checked, mapping, "raw", keep)
        runner.view("typed", typed)
        valid = "(SELECT * FROM typed WHERE _problem = '')"
        criteria = SqlGenerator(protocol.checked).criteria_query(valid, keep=["_row"] + keep)
        results = runner.table("results", criteria, output)
        rejects = runner.query(
            f"SELECT _row{''.join(', ' + quote(k) for k in keep)}, _problem AS problem FROM typed "
            f"WHERE _problem <> '' ORDER BY _row"
        )
        summary_row = runner.query(summary_query(protocol.checked, results)).to_pylist()[0]
    finally:
        runner.close()
    summary = _summary(protocol, summary_row, rejects.num_rows)
    table = runner.last_results
    return Screening(table, rejects, summary, warnings)


def _map_columns(protocol, columns: list[str], given: dict, id_column: Optional[str]):
    """Input -> (cohort column, factor into the input's unit, the column's unit); warnings."""
    import difflib

    inputs = protocol.inputs
    mapping: dict[str, tuple[str, float, Optional[str]]] = {}
    warnings: list[str] = []
    for name in given:
        if name not in inputs:
            raise ScreenError(f"--unit {name}=...: '{name}' is not an input of the protocol")
    if id_column is not None and id_column not in columns:
        raise ScreenError(f"--id {id_column}: the cohort has no such column")
    for column in columns:
        if column == id_column or column == "_row":
            continue
        match = _HEADER_UNIT.match(column)
        name, unit_text = (match.group("name"), match.group("unit").strip()) if match else (column, None)
        if name not in inputs:
            close = difflib.get_close_matches(name, list(inputs), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            warnings.append(f"column '{column}' is not an input of the protocol and was ignored{hint}")
            continue
        if name in mapping:
            raise ScreenError(f"input '{name}' is given by two columns: '{mapping[name][0]}' and '{column}'")
        if name in given:
            if unit_text is not None and units.parse_unit(unit_text) != units.parse_unit(given[name]):
                raise ScreenError(f"column '{column}' says {unit_text} but --unit says {name}={given[name]}: which is it?")
            unit_text = given[name]
        mapping[name] = (column, _factor(inputs[name], unit_text, column), unit_text)
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


def _summary(protocol, row: dict, rejected: int) -> dict:
    row = {key: int(value or 0) for key, value in row.items()}  # engines sum into decimals
    criteria = []
    remaining = row["patients"] or 0
    for c in protocol.checked.criteria:
        removed = row[f"removed:{c.id}"] or 0
        remaining -= removed
        criteria.append({"id": c.id, "kind": c.kind, "text": c.text, "removed": removed, "remaining": remaining,
                         "fails": row[f"fails:{c.id}"] or 0, "unknown": row[f"unknown:{c.id}"] or 0})
    missing = {name: row[f"missing:{name}"] for name in sorted(protocol.inputs) if row[f"missing:{name}"]}
    return {
        "protocol": protocol.id,
        "patients": (row["patients"] or 0) + rejected,
        "screened": row["patients"] or 0,
        "rejected": rejected,
        "eligible": row["eligible"] or 0,
        "ineligible": row["ineligible"] or 0,
        "undetermined": row["undetermined"] or 0,
        "attrition": criteria,
        "undetermined_for_lack_of": dict(sorted(missing.items(), key=lambda item: (-item[1], item[0]))),
    }


def attrition_text(summary: dict) -> str:
    """The attrition table a coordinator reads."""
    def count(n: int, word: str) -> str:
        return f"{n} {word}" if n == 1 else f"{n} {word}s"

    lines = [
        f"{summary['protocol'] or 'protocol'}: {count(summary['patients'], 'patient')}, {summary['rejected']} rejected "
        f"(invalid data), {summary['screened']} screened",
        f"  eligible {summary['eligible']}, ineligible {summary['ineligible']}, "
        f"undetermined {summary['undetermined']}",
        "",
        f"  {'criterion':<10} {'removes':>9} {'remaining':>10} {'fails':>9} {'unknown':>9}  text",
    ]
    for c in summary["attrition"]:
        text = (c["text"] or "")[:60]
        lines.append(f"  {c['id']:<10} {c['removed']:>9} {c['remaining']:>10} {c['fails']:>9} {c['unknown']:>9}  {text}")
    if summary["undetermined_for_lack_of"]:
        lines.append("")
        lines.append("  undetermined for lack of:")
        for name, count in summary["undetermined_for_lack_of"].items():
            lines.append(f"    {name:<28} {count:>9}")
    return "\n".join(lines)


# ---------------------------------------------------------------- engines
class _Engine:
    last_results: Any = None
    name = "the cohort"

    def close(self) -> None:
        pass


class _DuckDB(_Engine):
    def __init__(self, progress: bool):
        duckdb = _require("duckdb")
        _require("pyarrow")
        self.connection = duckdb.connect()
        if progress:
            self.connection.execute("SET enable_progress_bar = true")
        else:
            self.connection.execute("SET enable_progress_bar = false")

    def load(self, cohort) -> list[str]:
        duckdb = _require("duckdb")
        if isinstance(cohort, (str, Path)):
            path, kind = _cohort_file(cohort)
            where = _sql_text(str(path))
            if kind == "csv":
                # The header is read here and every row must match it: DuckDB's sniffer
                # would otherwise take a ragged row for the header and lose patients.
                delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
                header = _csv_header(path, delimiter)
                columns = "{" + ", ".join(f"{_sql_text(name)}: 'VARCHAR'" for name in header) + "}"
                reader = (
                    f"read_csv({where}, header = true, auto_detect = false, columns = {columns}, "
                    f"delim = {_sql_text(delimiter)}, quote = '\"', strict_mode = true, null_padding = false)"
                )
            elif kind == "parquet":
                # The reader numbers the rows itself, far cheaper than a window over them all.
                reader = f"read_parquet({where}, file_row_number = true)"
            else:
                reader = f"read_json({where}, format = 'newline_delimited', records = true)"
        else:
            self.connection.register("cohort_table", cohort)
            reader = "cohort_table"
        self.name = str(cohort) if isinstance(cohort, (str, Path)) else "the cohort"
        if "file_row_number = true" in reader:
            self.run(f"CREATE VIEW raw AS SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) FROM {reader}")
        else:
            self.run(f"CREATE VIEW raw AS SELECT row_number() OVER () AS _row, * FROM {reader}")
        return [c for c in self.connection.sql("SELECT * FROM raw LIMIT 0").columns if c != "_row"]

    def run(self, statement: str):
        """Execute, turning any engine error (unreadable rows, unwritable output) into a ScreenError."""
        duckdb = _require("duckdb")
        try:
            return self.connection.execute(statement)
        except duckdb.Error as problem:
            lines = [line.strip() for line in str(problem).splitlines() if line.strip()]
            detail = "; ".join(line for line in lines[:3] if not line.startswith(("*", "LINE")))
            raise ScreenError(f"{self.name}: {detail}") from None

    def view(self, name: str, query: str) -> None:
        self.run(f"CREATE VIEW {name} AS {query}")

    def table(self, name: str, query: str, output: Optional[Path]) -> str:
        # Results are computed once: written straight to the output, or kept in a table.
        if output is not None:
            kind = "PARQUET" if Path(output).suffix.lower() in (".parquet", ".pq") else "CSV, HEADER"
            target = _sql_text(str(output))
            self.run(f"COPY ({query} ORDER BY _row) TO {target} (FORMAT {kind})")
            reader = "read_parquet" if kind == "PARQUET" else "read_csv"
            self.run(f"CREATE VIEW {name} AS SELECT * FROM {reader}({target})")
            self.last_results = None
        else:
            self.run(f"CREATE TABLE {name} AS {query} ORDER BY _row")
            self.last_results = self.connection.sql(f"SELECT * FROM {name}").to_arrow_table()
        return name

    def query(self, query: str):
        duckdb = _require("duckdb")
        try:
            return self.connection.sql(query).to_arrow_table()
        except duckdb.Error as problem:
            raise ScreenError(f"{self.name}: {str(problem).splitlines()[0]}") from None

    def close(self) -> None:
        self.connection.close()


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
        self.spark.sparkContext.setLogLevel("ERROR")

    def sql(self, query: str) -> str:
        import sqlglot

        return sqlglot.transpile(query, read="duckdb", write="spark")[0]

    def load(self, cohort) -> list[str]:
        reader = self.spark.read
        if isinstance(cohort, (str, Path)):
            path, kind = _cohort_file(cohort)
            if kind == "csv":
                delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
                _csv_header(path, delimiter)
                frame = reader.option("header", "true").option("sep", delimiter).option("mode", "FAILFAST").csv(str(path))
            elif kind == "parquet":
                frame = reader.parquet(str(path))
            else:
                frame = reader.option("mode", "FAILFAST").json(str(path))
        else:
            frame = self.spark.createDataFrame(cohort.to_pandas() if hasattr(cohort, "to_pandas") else cohort)
        self.name = str(cohort) if isinstance(cohort, (str, Path)) else "the cohort"
        frame.createOrReplaceTempView("cohort_table")
        # Row numbers in file order; the window runs in one partition, which is what
        # numbering rows in order costs.
        self.spark.sql(
            "CREATE OR REPLACE TEMP VIEW raw AS SELECT row_number() OVER "
            "(ORDER BY monotonically_increasing_id()) AS _row, * FROM cohort_table"
        )
        return [c for c in self.spark.table("raw").columns if c != "_row"]

    def view(self, name: str, query: str) -> None:
        self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {self.sql(query)}")

    def table(self, name: str, query: str, output: Optional[Path]) -> str:
        frame = self.spark.sql(self.sql(query + " ORDER BY _row"))
        table = self.collect(frame)
        frame.createOrReplaceTempView(name)
        if output is not None:
            try:
                _write(table, Path(output))
            except OSError as problem:
                raise ScreenError(f"{output}: cannot be written ({problem.strerror or problem})") from None
        self.last_results = table
        return name

    def query(self, query: str):
        return self.collect(self.spark.sql(self.sql(query)))

    def collect(self, frame):
        try:
            return frame.toArrow() if hasattr(frame, "toArrow") else _arrow(frame.toPandas())
        except Exception as problem:  # Spark raises Java errors through py4j: report, never a traceback
            first = next((line for line in str(problem).splitlines() if line.strip()), type(problem).__name__)
            raise ScreenError(f"{self.name}: {first.strip()[:300]}") from None


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


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
