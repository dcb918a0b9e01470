"""Bulk screening: DuckDB, Spark and the Python evaluator agree; bad rows are never lost."""

import json
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import protocol_dsl
from protocol_dsl.cli import main
from protocol_dsl.screen import ScreenError, screen

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "protocols" / "NCT01844063.rules"
sys.path.insert(0, str(ROOT / "examples"))
from make_cohort import cohort, write  # noqa: E402


@pytest.fixture(scope="module")
def seed():
    return protocol_dsl.load(SEED)


def python_results(protocol, rows):
    ids = [c.id for c in protocol.checked.criteria]
    out = []
    for index, row in enumerate(rows, start=1):
        result = protocol.evaluate(row)
        out.append({"_row": index, "status": result.status.value,
                    **{i: result.criteria[i].value for i in ids}, "missing": ",".join(result.missing)})
    return out


def test_duckdb_agrees_with_the_python_evaluator_on_every_patient(seed):
    rows = cohort(3000, seed=5)
    screening = screen(seed, pa.Table.from_pylist(rows))
    assert screening.results.to_pylist() == python_results(seed, rows)
    assert screening.rejects.num_rows == 0
    summary = screening.summary
    assert summary["screened"] == 3000
    assert summary["eligible"] + summary["ineligible"] + summary["undetermined"] == 3000
    # The attrition is a funnel in protocol order: what is left is what no criterion removed.
    assert summary["attrition"][-1]["remaining"] == summary["eligible"] + summary["undetermined"]


def test_a_csv_with_bad_rows_reports_every_one_and_loses_none(seed, tmp_path):
    rows = cohort(1000, seed=3, bad=40)
    path = tmp_path / "cohort.csv"
    write(rows, path)
    screening = screen(seed, path)
    bad = {i + 1 for i, r in enumerate(rows)
           if r["age"] == "forty" or r["INR"] == 99.0 or r["sex"] == "unknown"}
    assert {r["_row"] for r in screening.rejects.to_pylist()} == bad
    assert screening.summary["rejected"] == 40
    assert screening.summary["screened"] + screening.summary["rejected"] == 1000
    problems = {r["problem"] for r in screening.rejects.to_pylist()}
    assert problems == {"age: not a number: forty", "INR: 99 is outside the plausible range 0.5..20",
                        "sex: unknown is not one of female, male"}
    good = [r for i, r in enumerate(rows) if i + 1 not in bad]
    expected = [dict(r, _row=row) for r, row in zip(python_results(seed, good), sorted(set(range(1, 1001)) - bad))]
    assert screening.results.to_pylist() == expected


def test_units_from_the_header_or_the_command_line(seed, tmp_path):
    table = pa.table({"TB [mg/dL]": [10.0, 9.9], "TB_rise": [0.0, 0.0]})
    results = screen(seed, table).results.to_pylist()
    assert [r["I6"] for r in results] == [True, False]  # 10 mg/dL of bilirubin is 171 umol/L
    results = screen(seed, pa.table({"TB": [10.0, 9.9], "TB_rise": [0.0, 0.0]}), units_by_input={"TB": "mg/dL"}).results
    assert [r["I6"] for r in results.to_pylist()] == [True, False]


def test_json_lines_and_an_id_column(seed, tmp_path):
    path = tmp_path / "cohort.jsonl"
    path.write_text('{"mrn": "A1", "age": 40}\n{"mrn": "B2", "age": 12}\n')
    screening = screen(seed, path, id_column="mrn")
    assert [(r["mrn"], r["I1"]) for r in screening.results.to_pylist()] == [("A1", True), ("B2", False)]
    assert screening.warnings[0].startswith("the cohort has no column for inputs sex, liver_failure,")
    assert screening.warnings[0].endswith(": unknown for every patient")


@pytest.mark.parametrize("cohort_path, units, message", [
    ("missing.parquet", {}, "missing.parquet: no such file"),
    ("cohort.txt", {}, "cohort.txt: unknown format: use .csv, .jsonl or .parquet"),
    ("cohort.csv", {"TB": "kg"}, "column 'TB': kg cannot be converted to umol/L"),
    ("cohort.csv", {"weight": "kg"}, "--unit weight=...: 'weight' is not an input of the protocol"),
    ("ragged.csv", {}, "ragged.csv: Invalid Input Error: CSV Error on Line: 3; Original Line: 41,2,9; "
                       "Expected Number of Columns: 2 Found: 3"),
    ("empty.csv", {}, "empty.csv: the first line must be a header naming the columns"),
    ("unit.csv", {"TB": "umol/L"}, "column 'TB [mg/dL]' says mg/dL but --unit says TB=umol/L: which is it?"),
    (".", {}, "is a directory: give one cohort file"),
])
def test_screen_errors(seed, tmp_path, cohort_path, units, message):  # noqa: D103
    (tmp_path / "cohort.txt").write_text("x")
    (tmp_path / "cohort.csv").write_text("TB\n1\n")
    (tmp_path / "ragged.csv").write_text("age,INR\n40,2\n41,2,9\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "unit.csv").write_text("TB [mg/dL]\n1\n")
    with pytest.raises(ScreenError) as raised:
        screening = screen(seed, tmp_path / cohort_path, units_by_input=units)
        screening.results.to_pylist()
    assert message in str(raised.value)


def test_range_messages_show_the_value_as_given(seed):
    screening = screen(seed, pa.table({"INR [%]": ["2.1"]}))
    assert screening.rejects.to_pylist()[0]["problem"] == "INR: 2.1 % (0.021) is outside the plausible range 0.5..20"


def test_the_screen_command(tmp_path, capsys):
    path = tmp_path / "cohort.csv"
    write(cohort(500, seed=9, bad=5), path)
    out = tmp_path / "results.parquet"
    assert main(["screen", str(SEED), str(path), "-o", str(out)]) == 0
    stdout, stderr = capsys.readouterr()
    assert stdout.startswith("NCT01844063: 500 patients, 5 rejected (invalid data), 495 screened")
    assert stderr.count(": row ") == 5 and "Traceback" not in stderr
    assert pq.read_table(out).num_rows == 495
    assert len((tmp_path / "results.rejects.csv").read_text().splitlines()) == 6
    assert json.loads((tmp_path / "results.summary.json").read_text())["rejected"] == 5
    assert main(["screen", str(SEED), str(path), "--fail-on-rejects"]) == 1
    capsys.readouterr()
    assert main(["screen", str(SEED), str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err


def test_to_sql_in_two_dialects(seed):
    duck = seed.to_sql()
    spark = seed.to_sql("spark")
    assert '"I1"' in duck and "`I1`" in spark
    assert "CASE WHEN" in spark


@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")
def test_spark_runs_the_same_sql_and_agrees_with_duckdb_and_python(seed, tmp_path):
    pytest.importorskip("pyspark")
    rows = cohort(600, seed=13, bad=6)
    path = tmp_path / "cohort.parquet"
    write(rows, path)
    duck = screen(seed, path)
    spark = screen(seed, path, engine="spark")
    assert spark.results.to_pylist() == duck.results.to_pylist()
    assert spark.rejects.to_pylist() == duck.rejects.to_pylist()
    assert spark.summary == duck.summary
    bad = {r["_row"] for r in duck.rejects.to_pylist()}
    good = [r for i, r in enumerate(rows) if i + 1 not in bad]
    python = python_results(seed, good)
    assert [{k: v for k, v in r.items() if k != "_row"} for r in spark.results.to_pylist()] == [
        {k: v for k, v in r.items() if k != "_row"} for r in python
    ]
