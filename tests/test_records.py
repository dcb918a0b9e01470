"""Dated values: the index date, windows and aggregates (docs/records.md).

The table of constructs is in tests/conformance/records.json (run on every backend);
here: the index date's spellings, messages, reasons and traces, the command line and
case files, formatting, screening's refusal, and properties of windows.
"""

from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol_dsl
from protocol_dsl import records
from protocol_dsl.cli import main
from protocol_dsl.formatter import format_text

RULES = """\
input TB: number umol/L range 0..1500 molar mass 584.66 g/mol "Total bilirubin"
input HbA1c: number % range 0..30 look back 3 months
inclusion I1 "High bilirubin": TB >= 171 umol/L
inclusion I2 "HbA1c": HbA1c >= 7 %
inclusion I3 "Rising": rate(TB within 7 days) >= 17.1 umol/L/d
"""

PATIENT = {
    "TB": [{"value": 14.2, "unit": "mg/dL", "time": "2026-11-28"}, {"value": 250, "time": "2026-11-30"}],
    "HbA1c": [{"value": 7.8, "time": "2026-10-02"}],
}


@pytest.fixture(scope="module")
def protocol():
    return protocol_dsl.loads(RULES)


@pytest.mark.parametrize("as_of", ["2026-12-01", datetime.date(2026, 12, 1), datetime.datetime(2026, 12, 1, 18, 0),
                                   "2026-12-01T18:00:00"])
def test_the_index_date_is_a_date_a_datetime_or_an_iso_text(protocol, as_of):
    result = protocol.evaluate(PATIENT, as_of=as_of)
    assert result.criteria["I2"].reason == "HbA1c 7.8 % on 2026-10-02 (60 days before) >= 7 %"


def test_reasons_name_the_value_used_and_its_date(protocol):
    result = protocol.evaluate(PATIENT, as_of="2026-12-01")
    assert result.status == "ineligible"
    assert result.criteria["I1"].reason == "TB 250 umol/L on 2026-11-30 (1 day before) >= 171 umol/L"
    assert result.criteria["I3"].reason == "rate(TB within 7 days) (3.56189922348 umol/L/d) < 17.1 umol/L/d"


def test_the_json_trace_carries_the_date_used(protocol):
    trace = protocol.evaluate(PATIENT, as_of="2026-12-01").to_dict()["criteria"][0]["trace"]
    assert trace["children"][0]["expr"] == "TB"
    assert trace["children"][0]["date"] == "2026-11-30"
    assert "date" not in trace["children"][1]


def test_dated_values_without_an_index_date_are_refused_naming_the_input(protocol):
    with pytest.raises(protocol_dsl.DataError) as error:
        protocol.evaluate(PATIENT)
    assert error.value.problems == [
        "TB: dated values need an index date (give --as-of, or as_of=...)",
        "HbA1c: dated values need an index date (give --as-of, or as_of=...)",
    ]


def test_an_index_date_that_is_not_a_date_is_refused(protocol):
    with pytest.raises(protocol_dsl.DataError):
        protocol.evaluate(PATIENT, as_of="yesterday")


def test_an_aggregate_with_no_values_explains_why(protocol):
    result = protocol.evaluate({"TB": [{"value": 250, "time": "2026-11-01"}]}, as_of="2026-12-01")
    assert result.criteria["I3"].value is None
    assert result.criteria["I3"].reason == (
        "rate(TB within 7 days) is unknown: it needs two values of TB within 7 days at different times"
    )


def test_undated_values_keep_the_fast_path_and_their_meaning(protocol):
    result = protocol.evaluate({"TB": 250, "HbA1c": 8})
    assert result.criteria["I1"].value is True and result.criteria["I2"].value is True
    assert result.criteria["I3"].value is None


def test_protocols_without_dated_constructs_keep_the_generated_fast_path():
    from protocol_dsl.backends.python import Generator

    plain = protocol_dsl.loads("input x: number\ninclusion I: x > 1\n")
    generator = Generator(plain.program)
    generator.build()
    assert "_slow[0]" not in generator.source.split("def criteria_fast")[1].split("try:")[1].split("except")[0]


# ------------------------------------------------------------------ command line and cases
def test_eval_as_of_on_the_command_line(tmp_path, capsys):
    rules = tmp_path / "p.rules"
    rules.write_text(RULES, encoding="utf-8")
    patient = tmp_path / "p.json"
    patient.write_text(json.dumps(PATIENT), encoding="utf-8")
    assert main(["eval", str(rules), str(patient), "--as-of", "2026-12-01"]) == 0
    assert "TB 250 umol/L on 2026-11-30 (1 day before) >= 171 umol/L" in capsys.readouterr().out
    assert main(["eval", str(rules), str(patient)]) == 1
    assert "TB: dated values need an index date (give --as-of, or as_of=...)" in capsys.readouterr().err


def test_case_files_take_as_of_per_case_and_at_the_top(tmp_path, capsys):
    (tmp_path / "p.rules").write_text(RULES, encoding="utf-8")
    (tmp_path / "p.cases.yaml").write_text(
        "as_of: 2026-12-01\n"
        "cases:\n"
        "  - name: the file's date\n"
        "    patient: {TB: [{value: 250, time: 2026-11-30}]}\n"
        "    expect: {criteria: {I1: true}}\n"
        "  - name: its own date, before the value\n"
        "    as_of: 2026-11-29\n"
        "    patient: {TB: [{value: 250, time: 2026-11-30}]}\n"
        "    expect: {criteria: {I1: null}, missing: [HbA1c, TB]}\n",
        encoding="utf-8",
    )
    assert main(["test", str(tmp_path)]) == 0, capsys.readouterr()


def test_a_case_file_with_a_bad_as_of_is_refused(tmp_path, capsys):
    (tmp_path / "p.rules").write_text(RULES, encoding="utf-8")
    (tmp_path / "p.cases.yaml").write_text(
        "as_of: soon\ncases:\n  - name: a\n    patient: {}\n    expect: {status: undetermined}\n", encoding="utf-8")
    assert main(["test", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "'as_of' must be a date such as 2026-12-01, not 'soon'" in out.out + out.err


# ------------------------------------------------------------------ fmt, screen
def test_fmt_prints_every_record_construct_canonically():
    text = (
        "input TB: number umol/L range 0..1500 look back 3 months\n"
        "input S: one of \"positive\", \"negative\"\n"
        "inclusion I1: latest(TB within 7 days) > 1 umol/L and earliest(TB) > 1 umol/L\n"
        "inclusion I2: min(TB within 2 weeks) < max(TB within 12 months)\n"
        "inclusion I3: sum(TB within 48 hours) > 1 umol/L\n"
        "inclusion I7: count(TB > 3 umol/L within 1 years) >= 2\n"
        "inclusion I4: any(TB > 3 umol/L within 7 days) or all(TB < 3 umol/L) or count(TB) = 0\n"
        "inclusion I5: rate(TB within 7 days) > 1 umol/L/d or rate(TB) > 1 umol/L/d\n"
        "inclusion I6: duration(S = \"positive\") > 6 months and time since S < 30 days\n"
    )
    assert format_text(text) == text
    assert format_text(format_text(text)) == format_text(text)
    protocol_dsl.loads(text)


def test_fmt_prints_limits_of_normal_canonically():
    text = (
        "input ALT: number U/L range 0..10000 normal 7..40\n"
        "inclusion I1: ALT <= 2.5 x ULN and 0.5 x LLN <= ALT\n"
        "inclusion I2: uln(ALT) > lln(ALT)\n"
    )
    assert format_text("input ALT: number U/L range 0..10000 normal 7..40\n"
                       "inclusion I1: ALT <= 2.5   x ULN and 0.5 x\tLLN <= ALT\n"
                       "inclusion I2: uln(ALT) > lln(ALT)\n") == text
    protocol = protocol_dsl.loads(text)
    assert protocol.evaluate({"ALT": 30}).status == "eligible"


def test_a_name_x_still_reads_as_a_name():
    protocol = protocol_dsl.loads("input x: number\ninput ULN: number\ninclusion I: 2 * x > ULN\n")
    assert protocol.evaluate({"x": 2, "ULN": 3}).status == "eligible"


def test_sql_computes_aggregates_of_a_cohorts_single_values():
    duckdb = pytest.importorskip("duckdb")
    pa = pytest.importorskip("pyarrow")
    protocol = protocol_dsl.loads(
        "input TB: number umol/L range 0..1500\ninput ALT: number U/L normal 7..40\n"
        "inclusion C: count(TB > 100 umol/L within 7 days) = 1\n"
        "inclusion R: rate(TB within 7 days) >= 17.1 umol/L/d or TB >= 171 umol/L\n"
        "inclusion U: ALT <= 2.5 x ULN\n"
    )
    rows = [{"TB": 150.0, "ALT": 50.0}, {"TB": 200.0, "ALT": 101.0}, {"TB": None, "ALT": None}]
    table = pa.table({"_row": pa.array([1, 2, 3], pa.int64()), "TB": pa.array([r["TB"] for r in rows], pa.float64()),
                      "ALT": pa.array([r["ALT"] for r in rows], pa.float64())})
    connection = duckdb.connect()
    connection.register("patients", table)
    got = sorted(connection.execute(protocol.to_sql()).fetchall())
    expected = []
    for index, row in enumerate(rows, start=1):
        result = protocol.evaluate({k: v for k, v in row.items() if v is not None})
        expected.append((index, result.status.value, *[c.value for c in result.criteria.values()]))
    assert [g[:-1] for g in got] == expected


def test_check_rejects_aggregates_of_the_wrong_kind():
    with pytest.raises(protocol_dsl.RulesError) as error:
        protocol_dsl.loads('input S: one of "a", "b"\ninclusion I: sum(S within 7 days) > 1\n')
    assert [d.message for d in error.value.diagnostics] == [
        "sum() takes a number input, but 'S' is a category (S)"
    ]
    with pytest.raises(protocol_dsl.RulesError) as error:
        protocol_dsl.loads("input x: number\ndefine y = x + 1\ninclusion I: latest(y within 7 days) > 1\n")
    assert [d.code for d in error.value.diagnostics] == ["E602"]


# ------------------------------------------------------------------ properties
START = datetime.date(2026, 1, 1)
days = st.integers(min_value=0, max_value=400)
values = st.integers(min_value=0, max_value=1000)
series = st.lists(st.tuples(days, values), min_size=0, max_size=8)
WINDOWED = protocol_dsl.loads(
    "input TB: number umol/L range 0..1500\n"
    "define small = count(TB > 500 umol/L within 30 days)\n"
    "define big = count(TB > 500 umol/L within 90 days)\n"
    "inclusion L: latest(TB) >= 0 umol/L\n"
    "inclusion C: big >= small\n"
)


def _data(items):
    return {"TB": [{"value": v, "time": (START + datetime.timedelta(days=d)).isoformat()} for d, v in items]}


def _latest(items, as_of):
    kept = [(d, i, v) for i, (d, v) in enumerate(items) if START + datetime.timedelta(days=d) <= as_of]
    return max(kept)[2] if kept else None


@settings(max_examples=60, deadline=None)
@given(series, days)
def test_the_current_value_is_the_latest_at_or_before_the_index_date(items, at):
    items = list(dict(items).items())  # one value a day: the latest is then unambiguous
    as_of = START + datetime.timedelta(days=at)
    result = WINDOWED.evaluate(_data(items), as_of=as_of)
    assert result.values["TB"] == _latest(items, as_of)


@settings(max_examples=60, deadline=None)
@given(series, days, st.integers(min_value=1, max_value=50), values)
def test_a_value_after_the_index_date_changes_nothing(items, at, later, value):
    as_of = START + datetime.timedelta(days=at)
    before = WINDOWED.evaluate(_data(items), as_of=as_of)
    after = WINDOWED.evaluate(_data(items + [(at + later, value)]), as_of=as_of)
    assert [c.value for c in before.criteria.values()] == [c.value for c in after.criteria.values()]
    assert before.criteria["L"].reason == after.criteria["L"].reason


@settings(max_examples=60, deadline=None)
@given(series, days)
def test_a_count_within_a_bigger_window_is_at_least_the_smaller_ones(items, at):
    result = WINDOWED.evaluate(_data(items), as_of=START + datetime.timedelta(days=at))
    assert result.criteria["C"].value is not False


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=60), st.sampled_from(["d", "wk", "mo", "a"]))
def test_the_window_boundary_is_inclusive(amount, unit):
    as_of = datetime.date(2026, 3, 31)
    window = records.Window(amount, unit)
    start = records.window_start(as_of, window)
    inside = records.Obs(1, start)
    outside = records.Obs(1, start - datetime.timedelta(days=1))
    assert records.in_window((outside, inside), as_of, window) == [inside]


def test_the_dated_example_patient_of_the_demo(capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    assert main(["eval", str(root / "protocols" / "NCT01844063.rules"),
                 str(root / "examples" / "dated" / "rising_bilirubin.json"), "--as-of", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("NCT01844063: ELIGIBLE")
    assert "tb_rise 19.4927835047 umol/L/d >= 17.1 umol/L/d" in out
    assert "--as-of 2026-12-01" in (root / "Makefile").read_text(encoding="utf-8")
