"""Screening through the IR's SQL backend: names, reserved columns, categories, numeric edges, size."""

import shutil

import pyarrow as pa
import pytest
from sqlglot import exp

import protocol_dsl
from protocol_dsl.backends.sql import CriteriaQuery, summary_query
from protocol_dsl.errors import ProtocolDslError
from protocol_dsl.screen import ScreenError, screen


def rules(text: str):
    return protocol_dsl.loads(text, "test.rules")


def python_rows(protocol, rows):
    """What the evaluator gives each patient, as screening lays it out."""
    out = []
    for index, row in enumerate(rows, start=1):
        result = protocol.evaluate({k: v for k, v in row.items() if v is not None})
        out.append({"_row": index, "status": result.status.value,
                    **{c.id: result.criteria[c.id].value for c in protocol.checked.criteria},
                    "missing": ",".join(result.missing)})
    return out


def test_screen_error_is_a_library_error():
    assert issubclass(ScreenError, ProtocolDslError)


# ---------------------------------------------------------------- names
def test_inputs_differing_in_case_are_two_columns_and_a_number_without_range_screens():
    protocol = rules("input INR: number\ninput inr: number\ninclusion I1: INR > 2 and inr < 1\n")
    assert protocol.evaluate({"INR": 3, "inr": 0.5}).status.value == "eligible"
    results = screen(protocol, pa.table({"INR": [3.0], "inr": [0.5]})).results.to_pylist()
    assert results == [{"_row": 1, "status": "eligible", "I1": True, "missing": ""}]


def test_an_input_and_a_definition_differing_in_case():
    protocol = rules("input X: number range 0..10\ndefine x = X * 2\ninclusion I1: x > 3\n")
    assert screen(protocol, pa.table({"X": [2.0, 1.0]})).results.column("I1").to_pylist() == [True, False]


def test_criteria_differing_in_case_keep_their_ids():
    protocol = rules("input a: number range 0..10\ninclusion I1: a > 1\ninclusion i1: a > 5\n")
    results = screen(protocol, pa.table({"a": [3.0]})).results
    assert results.column_names == ["_row", "status", "I1", "i1", "missing"]
    assert results.to_pylist()[0] == {"_row": 1, "status": "ineligible", "I1": True, "i1": False, "missing": ""}


def test_a_csv_with_headers_differing_in_case(tmp_path):
    protocol = rules("input age: number range 0..130\ninput AGE: number range 0..130\ninclusion I1: age > AGE\n")
    path = tmp_path / "cohort.csv"
    path.write_text("age,AGE\n40,30\n20,30\n")
    assert screen(protocol, path).results.column("I1").to_pylist() == [True, False]
    parquet = tmp_path / "cohort.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"age": [40.0], "AGE": [30.0]}), parquet)
    assert screen(protocol, parquet).results.column("I1").to_pylist() == [True]


def test_names_screening_uses_itself_are_ordinary_names():
    protocol = rules(
        "input _row: number\ninput _c0: number\ninput _problem: boolean\n"
        "inclusion status: _row > 1\ninclusion missing: _c0 > 1\nexclusion _row: _problem\n"
    )
    screening = screen(protocol, pa.table({"_row": [5.0, 0.0], "_c0": [5.0, None], "_problem": [False, True]}))
    assert screening.results.column_names == ["_row", "status", "criterion:status", "criterion:missing",
                                              "criterion:_row", "missing"]
    assert [list(r.values()) for r in screening.results.to_pylist()] == [
        [1, "eligible", True, True, False, ""],
        [2, "ineligible", False, None, True, "_c0"],
    ]
    assert screening.rejects.num_rows == 0
    assert [(c["id"], c["removed"]) for c in screening.summary["attrition"]] == [
        ("status", 1), ("missing", 0), ("_row", 0)]


# ---------------------------------------------------------------- values
def test_declared_category_values_are_values_not_missing(tmp_path):
    protocol = rules('input c: one of "NA", "", "null", " a", "b"\ninclusion I1: c in {"NA", "", "null", " a"}\n')
    path = tmp_path / "cohort.csv"
    path.write_text('c\nNA\n""\nnull\n" a"\nb\nNULL\n" b"\n')
    screening = screen(protocol, path)
    assert [(r["_row"], r["I1"]) for r in screening.results.to_pylist()] == [
        (1, True), (2, True), (3, True), (4, True), (5, False), (6, None)]
    assert screening.rejects.to_pylist() == [{"_row": 7, "problem": "c:  b is not one of NA, , null,  a, b"}]


def test_missing_counts_are_exact_per_input():
    protocol = rules("input a_1: number range 0..10\ninput ab1: number range 0..10\ninclusion I1: a_1 > 1 and ab1 > 1\n")
    screening = screen(protocol, pa.table({"a_1": [5.0], "ab1": pa.array([None], pa.float64())}))
    assert screening.results.to_pylist()[0]["missing"] == "ab1"
    assert screening.summary["undetermined_for_lack_of"] == {"ab1": 1}


def test_literals_are_doubles_and_a_double_negation_is_no_comment():
    protocol = rules("input x: number range 0..10\n"
                     "inclusion I1: x > -(-1)\n"
                     "inclusion I2: x * (123456789012.5 * 123456789012.5) > 1\n"
                     "inclusion I3: -(-x) > 1\n")
    sql = protocol.to_sql()
    assert "--" not in sql
    results = screen(protocol, pa.table({"x": [2.0, 0.5]})).results.to_pylist()
    assert [(r["I1"], r["I2"], r["I3"]) for r in results] == [(True, True, True), (False, True, False)]


# ---------------------------------------------------------------- numeric edges
EDGES = [
    "exp(x) > 0",
    "x * 1e300 > 1",
    "x + 1.7e308 > 0",
    "1 / (x - x) > 0",
    "x / y > 1",
    "ln(x) > 0",
    "log10(x) > 0",
    "sqrt(x) >= 0",
    "floor(x) = 2",
    "ceil(x) = 3",
    "round(x) = 3",
    "round(x, 1) > 2.5",
    "round(x, y) > 1",
    "round(x, -1) >= 0",
    "clamp(x, y, 1) > 0",
    "min(x, y) > 0",
    "max(x, y) > 2",
    "(if x > 2 then 1 else 1) = 1",
    "(if y > 2 then x else x + 0) >= 2",
    "if y > 0 then x > 1",
    "x * 3 = y",
    "x >= y",
    "x < y * 1.0000000000001",
    "x != y",
    "at least 2 of (x > 1, y > 1, x > y)",
    "abs(x - y) <= 0.5",
]
VALUES = [None, 0.0, -1.0, 0.5, 1.0, 2.0, 2.5, 2.9999999999999996, 3.0000000000001, -2.5, 1e10, 710.0, 709.0,
          1.5, 0.04999999999999999, 1e308, -1e308, 1e-300]


@pytest.fixture(scope="module")
def edges():
    text = "input x: number\ninput y: number\n" + "".join(f"inclusion E{i}: {e}\n" for i, e in enumerate(EDGES))
    protocol = rules(text)
    rows = [{"x": x, "y": y} for x in VALUES for y in VALUES[:9]]
    return protocol, rows


def test_numeric_edges_agree_with_the_evaluator(edges):
    protocol, rows = edges
    table = pa.table({"x": pa.array([r["x"] for r in rows], pa.float64()),
                      "y": pa.array([r["y"] for r in rows], pa.float64())})
    results = screen(protocol, table).results.to_pylist()
    expected = python_rows(protocol, rows)
    for got, want, row in zip(results, expected, rows):
        assert got == want, row


@pytest.mark.parametrize("expression, x", [
    ("exp(x) > 0", 710.0), ("x * 1e300 > 1", 1e10), ("1 / (x - x) > 0", 1.0), ("ln(x) > 0", 0.0),
    ("log10(x) > 0", -1.0), ("sqrt(x) >= 0", -1.0), ("round(x, 0.5) > 0", 1.0), ("clamp(x, 2, 1) > 0", 1.0),
])
def test_undefined_is_unknown(expression, x):
    protocol = rules(f"input x: number range -1e300..1e300\ninclusion I1: {expression}\n")
    assert protocol.evaluate({"x": x}).criteria["I1"].value is None
    assert screen(protocol, pa.table({"x": [x]})).results.to_pylist()[0]["I1"] is None


# ---------------------------------------------------------------- size
def nested_if(depth: int) -> str:
    expression = "x"
    for level in range(depth):
        expression = f"(if x > {level} then {expression} else y)"
    return f"input x: number\ninput y: number\ninclusion I1: {expression} > 1\n"


def nested_ln(depth: int) -> str:
    return "input x: number\ninclusion I1: " + "ln(" * depth + "x" + ")" * depth + " > 0\n"


def test_sql_grows_linearly_with_nesting():
    small, large = len(rules(nested_if(10)).to_sql()), len(rules(nested_if(40)).to_sql())
    assert large < small * 4 * 1.3
    assert len(rules(nested_if(40)).to_sql()) < 100_000
    assert len(rules(nested_ln(20)).to_sql()) < 40_000
    protocol = rules(nested_if(40))
    assert screen(protocol, pa.table({"x": [50.0, 5.0], "y": [0.0, 0.0]})).results.column("I1").to_pylist() == [
        protocol.evaluate({"x": 50.0, "y": 0.0}).criteria["I1"].value,
        protocol.evaluate({"x": 5.0, "y": 0.0}).criteria["I1"].value]


def test_a_thousand_criteria_screen_with_a_small_summary():
    count = 1000
    protocol = rules("input x: number\n" + "".join(f"inclusion C{i}: x > {i}\n" for i in range(count)))
    query = CriteriaQuery(protocol.program, {"x": "$i0"})
    summary = summary_query(protocol.program, {n: f.name for n, f in query.missing_flags.items()},
                            exp.to_table("results"))
    assert len(summary.sql(dialect="duckdb")) < 500_000
    assert len(protocol.to_sql()) < 1_000_000
    screening = screen(protocol, pa.table({"x": [500.5, None]}))
    assert screening.summary["attrition"][501]["removed"] == 1
    assert screening.summary["undetermined_for_lack_of"] == {"x": 1}


# ---------------------------------------------------------------- Spark
@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")
def test_spark_agrees_on_names_and_numeric_edges(edges, tmp_path):
    pytest.importorskip("pyspark")
    protocol, rows = edges
    path = tmp_path / "edges.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": pa.array([r["x"] for r in rows], pa.float64()),
                             "y": pa.array([r["y"] for r in rows], pa.float64())}), path)
    assert screen(protocol, path, engine="spark").results.to_pylist() == python_rows(protocol, rows)
    cased = rules("input INR: number\ninput inr: number\ninclusion I1: INR > 2 and inr < 1\ninclusion i1: inr > 0\n")
    results = screen(cased, pa.table({"INR": [3.0], "inr": [0.5]}), engine="spark").results
    assert results.to_pylist() == [{"_row": 1, "status": "eligible", "I1": True, "i1": True, "missing": ""}]
