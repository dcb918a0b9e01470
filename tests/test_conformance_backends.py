"""The conformance suite on every backend, and the deep checks held against its patients.

tests/test_conformance.py runs each case through the public API (`Protocol.evaluate`,
the generated Python, and `compile_expression`). Here the same evaluations run on:

- the interpreter alone (the reference backend): `Interpreter(program).criterion(c)`
  on the values of `protocol_dsl.data.prepare`, with the status and the missing list
  derived as the specification states them;
- DuckDB: `Protocol.to_sql()` over a registered Arrow table holding every patient of
  a case (one typed column per input: DOUBLE, BOOLEAN or VARCHAR; values with a unit
  are converted by `data.prepare` first), one connection for the module;
- Spark: the same on a small fixed subset (one session; skipped without Java/pyspark);
- the deep checks: every claim of `analysis.deep_diagnostics` (W201 never true, W202
  never false, E401 no patient eligible, W204 redundant operand) must hold for every
  complete patient of the case (every input known, so inside the declared ranges).

Evaluations that expect a DataError never reach a backend and are left to
test_conformance.py. Expression cases run on the interpreter and on DuckDB.

The helpers (`Reference`, `evaluate_outcome`, `DuckRunner`, `claim_violations`) are used by
tests/test_differential.py too.
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
from typing import Any

import pytest
import test_conformance as conformance

import protocol_dsl
from protocol_dsl import ir, records
from protocol_dsl.backends.interpreter import Env, Interpreter
from protocol_dsl.checker import Bool, Cat, Num
from protocol_dsl.data import prepare
from protocol_dsl.evaluate import absent

try:  # the interpreter and deep-check tests run without the screening extras
    import duckdb
    import pyarrow as pa
except ImportError:  # pragma: no cover - the `test` extra installs both
    duckdb = pa = None


# ----------------------------------------------------------------- outcomes
def status_of(kinds: list[str], values: list[bool | None]) -> str:
    """The protocol status from the criteria's kinds and values, as the specification states it."""
    if any((v is False) if k == "inclusion" else (v is True) for k, v in zip(kinds, values)):
        return "ineligible"
    if any(v is None for v in values):
        return "undetermined"
    return "eligible"


class Reference:
    """The interpreter's criteria of one protocol, compiled once."""

    def __init__(self, protocol: protocol_dsl.Protocol):
        self.protocol = protocol
        self.program = protocol.program
        self.interpreter = Interpreter(self.program)
        self.functions = [self.interpreter.criterion(c) for c in self.program.criteria]
        self.kinds = [c.kind for c in self.program.criteria]

    def outcome(self, values: dict) -> tuple[str, list, list[str]]:
        """(status, each criterion's value, missing) for prepared values."""
        criteria = [fn(values) for fn in self.functions]
        missing = sorted({
            name
            for c, v in zip(self.program.criteria, criteria) if v is None
            for name in c.reads if absent(values.get(name))
        })
        return status_of(self.kinds, criteria), criteria, missing

    def node_value(self, node: ir.Node, values: dict) -> Any:
        """The value of any IR node of the program for prepared values."""
        return self.interpreter.fn(node)(Env(values))


def evaluate_outcome(protocol: protocol_dsl.Protocol, data: dict, as_of=None) -> tuple[str, list, list[str]]:
    """(status, each criterion's value, missing) from Protocol.evaluate (the generated code)."""
    result = protocol.evaluate(copy.deepcopy(data), as_of=as_of)
    return result.status.value, [c.value for c in result.criteria.values()], list(result.missing)


def column_type(info) -> Any:
    if isinstance(info.type, Num):
        return pa.float64()
    if isinstance(info.type, Bool):
        return pa.bool_()
    assert isinstance(info.type, Cat)
    return pa.string()


def arrow_table(inputs: dict, rows: list[dict]) -> Any:
    """Prepared values as a typed table: `_row` (1..n), then one column per input."""
    columns = {"_row": pa.array(range(1, len(rows) + 1), pa.int64())}
    for name, info in inputs.items():
        kind = column_type(info)
        cells = [row.get(name) for row in rows]
        if kind == pa.float64():
            cells = [None if v is None else float(v) for v in cells]
        columns[name] = pa.array(cells, kind)
    return pa.table(columns)


class DuckRunner:
    """One DuckDB connection; runs a protocol's SQL over a table of prepared patients."""

    def __init__(self) -> None:
        self.connection = duckdb.connect()
        self.connection.execute("SET enable_progress_bar = false")

    def close(self) -> None:
        self.connection.close()

    def query(self, sql: str, table) -> list[tuple]:
        con = self.connection
        con.register("patients", table)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.unregister("patients")

    def outcomes(self, protocol: protocol_dsl.Protocol, rows: list[dict]) -> list[tuple[str, list, list[str]]]:
        """(status, criteria, missing) per patient, in order: columns _row, status, criteria..., missing."""
        if not rows:
            return []
        sql = protocol.to_sql("duckdb")
        result = self.query(sql, arrow_table(protocol.inputs, rows))
        count = len(protocol.program.criteria)
        out = []
        for row in sorted(result, key=lambda r: r[0]):
            assert len(row) == count + 3, f"unexpected result columns: {row!r}"
            missing = row[-1]
            out.append((row[1], list(row[2:2 + count]), missing.split(",") if missing else []))
        assert [r[0] for r in sorted(result, key=lambda r: r[0])] == list(range(1, len(rows) + 1))
        return out


# ----------------------------------------------------------------- deep-check claims
CLAIMS = ("W201", "W202", "E401", "W204")


def _origins(program: ir.Program) -> dict[int, list[ir.Node]]:
    """IR nodes by the id of the syntax node they compute (the outermost first)."""
    roots = [d.body for d in program.definitions.values()] + [c.body for c in program.criteria]
    found: dict[int, list[ir.Node]] = {}
    for node in ir.walk(roots):
        if node.origin is not None:
            found.setdefault(id(node.origin), []).append(node)
    return found


def claim_violations(protocol: protocol_dsl.Protocol, complete: list[dict], diagnostics=None) -> list[str]:
    """Every deep-check claim contradicted by one of these complete patients (prepared values)."""
    from protocol_dsl.analysis import deep_diagnostics

    if diagnostics is None:
        diagnostics = deep_diagnostics(protocol.checked)
    claims = [d for d in diagnostics if d.code in CLAIMS]
    if not claims or not complete:
        return []
    reference = Reference(protocol)
    outcomes = [reference.outcome(values) for values in complete]
    criteria = protocol.program.criteria
    problems = []
    for d in claims:
        if d.code in ("W201", "W202"):
            index = [i for i, c in enumerate(protocol.checked.criteria) if c.expr.span == d.span]
            assert index, f"{d.code} at {d.line}:{d.column} is on no criterion's expression"
            i = index[0]
            forbidden = d.code == "W201"  # W201: never true; W202: never false
            for values, (_, got, _) in zip(complete, outcomes):
                if got[i] is forbidden:
                    problems.append(f"{d.code} '{d.message}' but {criteria[i].id} is {forbidden} for {values!r}")
                    break
        elif d.code == "E401":
            for values, (status, _, _) in zip(complete, outcomes):
                if status == "eligible":
                    problems.append(f"E401 '{d.message}' but this patient is eligible: {values!r}")
                    break
        else:
            problem = _redundancy_violation(protocol, reference, d, complete)
            if problem:
                problems.append(problem)
    return problems


def _redundancy_violation(protocol, reference: Reference, d, complete: list[dict]) -> str | None:
    """W204 on an operand r of `or` (r implies another operand) or `and` (another operand implies r)."""
    from protocol_dsl import ast

    origins = _origins(reference.program)
    logic = None
    for node in _all_syntax(protocol.checked):
        if isinstance(node, ast.Logic) and any(o.span == d.span for o in node.operands):
            logic = node
            break
    assert logic is not None, f"W204 at {d.line}:{d.column} is on no operand of an and/or"
    redundant = next(o for o in logic.operands if o.span == d.span)
    others = [o for o in logic.operands if o is not redundant]

    def value(node, values):
        lowered = origins.get(id(node))
        assert lowered, f"no IR node computes {protocol.checked.source.slice(node.span)!r}"
        return reference.node_value(lowered[0], values)

    # Some other operand o must make the claim true for every patient.
    witnesses = []
    for other in others:
        a, b = (redundant, other) if logic.op == "or" else (other, redundant)
        against = [v for v in complete if value(a, v) is True and value(b, v) is not True]
        if not against:
            return None
        witnesses.append(against[0])
    v = witnesses[0]
    shown = {protocol.checked.source.slice(o.span): value(o, v) for o in logic.operands}
    return f"W204 '{d.message}' but for {v!r} the operands are {shown!r}"


def _all_syntax(checked):
    """Every syntax node beneath the criteria and definitions."""
    from protocol_dsl import ast as syntax

    for root in [c.expr for c in checked.criteria] + [d.expr for d in checked.definitions.values()]:
        yield from syntax.walk(root)


def _evaluable(case: Any) -> bool:
    return isinstance(case, dict) and "rules" in case and "errors" not in case


def _evaluations(case: dict) -> list[dict]:
    if "evaluations" in case:
        return list(case["evaluations"])
    return [case] if "data" in case else []


RULES_CASES = [
    pytest.param(case, id=conformance._case_id(stem, i, case))
    for stem, content in conformance.FILES
    for i, case in enumerate(content["cases"])
    if _evaluable(case) and any("data_error" not in ev for ev in _evaluations(case))
]
DEEP_CASES = [
    pytest.param(case, id=conformance._case_id(stem, i, case))
    for stem, content in conformance.FILES
    for i, case in enumerate(content["cases"])
    if _evaluable(case) and _evaluations(case)
]
EXPRESSION_CASES = [
    pytest.param(case, id=conformance._case_id(stem, i, case))
    for stem, content in conformance.FILES
    for i, case in enumerate(content["cases"])
    if isinstance(case, dict) and "expression" in case and "errors" not in case
]
# Spark: a fixed subset, every 20th SQL case, run as one query (Spark plans are slow to build).
SPARK_CASES = [p for p in RULES_CASES if not p.id.startswith(("records", "events"))][::20]  # SQL refuses dated values and events


@functools.cache
def _protocol(rules: str) -> protocol_dsl.Protocol:
    return protocol_dsl.loads(rules)


def _prepared(case: dict) -> tuple[protocol_dsl.Protocol, list[tuple[int, dict, dict]]]:
    """The protocol and, per evaluation that reaches a backend, (index, evaluation, prepared values)."""
    protocol = _protocol(case["rules"])
    out = []
    for index, ev in enumerate(_evaluations(case)):
        if "data_error" in ev:
            continue
        values, _warnings = prepare(protocol.inputs, copy.deepcopy(ev["data"]), as_of=records.parse_as_of(ev.get("as_of")))
        out.append((index, ev, values))
    return protocol, out


def _mismatches(protocol, ev: dict, outcome) -> list[str]:
    status, values, missing = outcome
    ids = [c.id for c in protocol.program.criteria]
    problems = []
    if "status" in ev and status != ev["status"]:
        problems.append(f"status {status!r}, expected {ev['status']!r}")
    for cid, want in ev.get("criteria", {}).items():
        assert cid in ids, f"no criterion {cid!r}"
        got = values[ids.index(cid)]
        if got is not want:
            problems.append(f"criterion {cid} {got!r}, expected {want!r}")
    if "missing" in ev and list(missing) != ev["missing"]:
        problems.append(f"missing {missing!r}, expected {ev['missing']!r}")
    return problems


def _report(backend: str, protocol, failures: list[tuple[int, dict, list[str]]]) -> str:
    lines = [f"{backend} disagrees with the expected results:"]
    for index, ev, problems in failures:
        lines.append(f"  evaluations[{index}] data {ev['data']!r}: " + "; ".join(problems))
    return "\n".join(lines)


@pytest.mark.parametrize("case", RULES_CASES)
def test_interpreter(case: dict) -> None:
    protocol, prepared = _prepared(case)
    reference = Reference(protocol)
    failures = [
        (index, ev, problems)
        for index, ev, values in prepared
        if (problems := _mismatches(protocol, ev, reference.outcome(values)))
    ]
    assert not failures, _report("the interpreter", protocol, failures)
    # Beyond what the case lists: the generated code agrees on every criterion.
    for index, ev, values in prepared:
        fast, slow = evaluate_outcome(protocol, ev["data"], ev.get("as_of")), reference.outcome(values)
        assert fast == slow, f"evaluations[{index}] {ev['data']!r}: evaluate {fast} but the interpreter {slow}"


@pytest.fixture(scope="module")
def duck():
    if duckdb is None:
        pytest.skip("DuckDB and pyarrow are not installed")
    runner = DuckRunner()
    yield runner
    runner.close()


# Known disagreements of the SQL backend, by case id: each fails for the reason given
# (strict: the test reports it as soon as it passes, so that the entry is removed).
SQL_KNOWN = {
    "syntax::names are case-sensitive: two inputs differing in case":
        "to_sql reads each input from a column named after it, and SQL engines resolve column "
        "names case-insensitively: inputs `tb` and `TB` both read one column",
}


def _known_sql_disagreement(request, case_id: str) -> None:
    if case_id in SQL_KNOWN:
        request.applymarker(pytest.mark.xfail(strict=True, reason=SQL_KNOWN[case_id]))


@pytest.mark.parametrize("case", RULES_CASES)
def test_duckdb(case: dict, duck: DuckRunner, request) -> None:
    _known_sql_disagreement(request, request.node.callspec.id)
    protocol, prepared = _prepared(case)
    if _refused_by_sql(protocol):
        return
    # A table holds one value per input: dated values are not a column, so only the
    # evaluations with single values reach SQL (an aggregate of one value at the index date).
    prepared = [(i, ev, values) for i, ev, values in prepared
                if not any(isinstance(v, list) for v in ev["data"].values())]
    outcomes = duck.outcomes(protocol, [values for _, _, values in prepared])
    failures = [
        (index, ev, problems)
        for (index, ev, _), outcome in zip(prepared, outcomes)
        if (problems := _mismatches(protocol, ev, outcome))
    ]
    assert not failures, _report("DuckDB", protocol, failures) + "\nSQL: " + protocol.to_sql("duckdb")
    reference = Reference(protocol)
    for (index, ev, values), outcome in zip(prepared, outcomes):
        slow = reference.outcome(values)
        assert outcome == slow, f"evaluations[{index}] {ev['data']!r}: DuckDB {outcome} but the interpreter {slow}"


def _refused_by_sql(protocol) -> bool:
    """Whether SQL refuses the protocol, explicitly (events, dates): then it must say so, naming the construct."""
    from protocol_dsl.backends import Unsupported

    roots = [d.body for d in protocol.program.definitions.values()] + [c.body for c in protocol.program.criteria]
    nodes = list(ir.walk(roots))
    if any(isinstance(n, ir.EventQuery) for n in nodes):
        refusal = r"SQL does not compute events yet: "
    elif any(isinstance(n, ir.Aggregate) and n.operand.kind == ir.DATE for n in nodes):
        refusal = r"SQL does not compute dates yet: "
    else:
        return False
    with pytest.raises(Unsupported, match=refusal):
        protocol.to_sql("duckdb")
    return True


# ----------------------------------------------------------------- Spark
def _java_available() -> bool:
    java_home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))))


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if pa is None:
        pytest.skip("pyarrow is not installed")
    if not _java_available():
        pytest.skip("Spark needs Java")
    from pyspark.sql import SparkSession

    # The settings of protocol_dsl.screen's own session, so that whichever module starts
    # the shared session (getOrCreate), the other gets the same one.
    session = (
        SparkSession.builder.master("local[2]")
        .appName("protocol-dsl")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.ansi.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    # These plans are tiny: compiling and re-planning them costs more than running them.
    faster = {"spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false"}
    before = {key: session.conf.get(key, None) for key in faster}
    for key, value in faster.items():
        session.conf.set(key, value)
    yield session
    for key, value in before.items():
        if value is None:
            session.conf.unset(key)
        else:
            session.conf.set(key, value)


def _spark_literal(value: Any, info) -> str:
    if isinstance(info.type, Num):
        return "CAST(NULL AS DOUBLE)" if value is None else f"CAST({float(value)!r} AS DOUBLE)"
    if isinstance(info.type, Bool):
        return "CAST(NULL AS BOOLEAN)" if value is None else ("TRUE" if value else "FALSE")
    if value is None:
        return "CAST(NULL AS STRING)"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _spark_relation(protocol, rows: list[dict]) -> str:
    """The patients as an inline VALUES relation (no data shipped from Python to the JVM)."""
    names = ", ".join(_backticks(n) for n in ["_row", *protocol.inputs])
    cells = ", ".join(
        "(" + ", ".join([str(i)] + [_spark_literal(row[n], info) for n, info in protocol.inputs.items()]) + ")"
        for i, row in enumerate(rows, start=1)
    )
    return f"SELECT * FROM VALUES {cells} AS v({names})"


def _backticks(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _spark_select(index: int, protocol) -> str:
    """One case's results in a common shape: case, _row, status, criteria (array), missing."""
    from protocol_dsl.backends.sql import criterion_names

    names = criterion_names(protocol.program)
    values = ", ".join(f"CAST({_backticks(n)} AS BOOLEAN)" for n in names)
    return (f"SELECT {index} AS `case`, `_row`, `status`, array({values}) AS `criteria`, `missing` "
            f"FROM ({protocol.to_sql('spark', source=f'patients_{index}')}) AS `q{index}`")


def _spark_rows(session, sql: str) -> dict[int, list]:
    by_case: dict[int, list] = {}
    for r in session.sql(sql).collect():
        by_case.setdefault(r[0], []).append((r[1], r[2], list(r[3]), r[4]))
    return {
        k: [(status, criteria, missing.split(",") if missing else [])
            for _, status, criteria, missing in sorted(rows, key=lambda x: x[0])]
        for k, rows in by_case.items()
    }


@pytest.fixture(scope="module")
def spark_outcomes(spark) -> dict[int, Any]:
    """The Spark results of every case of the subset, from one UNION ALL query (one job)."""
    relations, selects = [], []
    for index, param in enumerate(SPARK_CASES):
        protocol, prepared = _prepared(param.values[0])
        relations.append(f"`patients_{index}` AS ({_spark_relation(protocol, [v for _, _, v in prepared])})")
        selects.append(_spark_select(index, protocol))
    try:
        return _spark_rows(spark, "WITH " + ",\n".join(relations) + "\n" + "\nUNION ALL\n".join(selects))
    except Exception:  # noqa: BLE001 - one query Spark refuses: run them one by one, to blame the right case
        out: dict[int, Any] = {}
        for index, select in enumerate(selects):
            try:
                out.update(_spark_rows(spark, f"WITH {relations[index]}\n{select}"))
            except Exception as problem:  # noqa: BLE001 - reported by the case's test
                out[index] = problem
        return out


@pytest.mark.parametrize("index", range(len(SPARK_CASES)), ids=[p.id for p in SPARK_CASES])
def test_spark(index: int, spark_outcomes, request) -> None:
    _known_sql_disagreement(request, SPARK_CASES[index].id)
    protocol, prepared = _prepared(SPARK_CASES[index].values[0])
    outcomes = spark_outcomes.get(index, [])
    if isinstance(outcomes, Exception):
        pytest.fail(f"Spark refused the SQL: {outcomes}\nSQL: {protocol.to_sql('spark')}")
    assert len(outcomes) == len(prepared)
    failures = [
        (i, ev, problems)
        for (i, ev, _), outcome in zip(prepared, outcomes)
        if (problems := _mismatches(protocol, ev, outcome))
    ]
    assert not failures, _report("Spark", protocol, failures) + "\nSQL: " + protocol.to_sql("spark")


# ----------------------------------------------------------------- deep checks
@pytest.mark.parametrize("case", DEEP_CASES)
def test_deep_check_claims_hold_for_the_cases_complete_patients(case: dict) -> None:
    protocol, prepared = _prepared(case)
    complete = [values for _, _, values in prepared if all(v is not None for v in values.values())]
    problems = claim_violations(protocol, complete)
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------- expressions
def _expression_program(text: str):
    from protocol_dsl.checker import check_expression
    from protocol_dsl.lowering import lower_expression
    from protocol_dsl.parser import parse_expression
    from protocol_dsl.source import Source

    source = Source(text, "<expression>")
    expr = parse_expression(source)
    checked, inputs = check_expression(source, expr)
    assert not checked.errors
    return lower_expression(checked, inputs, expr), inputs


def _expression_sql(program) -> str:
    """SELECT the lone expression's value as `value` FROM patients (the SQL backend's own columns)."""
    from sqlglot import exp

    from protocol_dsl.backends import sql

    names = {name: f"$i{index}" for index, name in enumerate(program.inputs)}
    base = exp.Select(
        expressions=[exp.alias_(sql.column("_row"), "$row", quoted=True)]
        + [exp.alias_(sql.column(name), names[name], quoted=True) for name in program.inputs]
    ).from_("patients")
    base = exp.Subquery(this=base, alias=exp.TableAlias(this=exp.to_identifier("$source", quoted=True)))
    backend = sql.SqlBackend(program, {name: sql.column(c) for name, c in names.items()})
    final = [exp.alias_(sql.column("$row"), "_row", quoted=True), exp.alias_(backend.criteria[0], "value", quoted=True)]
    return backend.layers.select(base, final).sql(dialect="duckdb")


def _same_value(got: Any, want: Any) -> bool:
    if want is None or isinstance(want, bool):
        return got is want
    if got is None or isinstance(got, bool):
        return False
    return float(got) == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("case", EXPRESSION_CASES)
def test_expression_on_the_interpreter_and_duckdb(case: dict, duck: DuckRunner) -> None:
    program, inputs = _expression_program(case["expression"])
    values, _ = prepare(inputs, copy.deepcopy(case.get("data", {})))
    want = case["value"]
    got = Interpreter(program).criterion(program.criteria[0])(values)
    assert _same_value(got, want), f"interpreter: expected {want!r}, got {got!r}"
    if program.criteria[0].body.kind == ir.TEXT:
        return
    rows = duck.query(_expression_sql(program), arrow_table(inputs, [values]))
    assert len(rows) == 1
    assert _same_value(rows[0][1], want), f"DuckDB: expected {want!r}, got {rows[0][1]!r}"


# ----------------------------------------------------------------- screen, end to end
# Every protocol of the newer constructs goes through `protocol-dsl screen` on a small
# cohort: it screens, or refuses in words (exit 2), never with a traceback.
SCREEN_CASES = [p for p in RULES_CASES if p.id.startswith(("records", "events", "ordered", "power", "units"))]


@pytest.mark.parametrize("case", SCREEN_CASES)
def test_screen_screens_or_refuses_in_words(case: dict, tmp_path, capsys) -> None:
    pytest.importorskip("duckdb")
    from protocol_dsl.cli import main

    rules = tmp_path / "p.rules"
    rules.write_text(case["rules"], encoding="utf-8")
    protocol = _protocol(case["rules"])
    cohort = tmp_path / "cohort.csv"
    cohort.write_text(",".join(protocol.inputs) + "\n" + ",".join("" for _ in protocol.inputs) + "\n", encoding="utf-8")
    code = main(["screen", str(rules), str(cohort), "-o", str(tmp_path / "out.csv")])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code in (0, 2), err
    if code == 2:
        assert "SQL does not compute" in err, err
