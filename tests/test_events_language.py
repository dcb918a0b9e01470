"""Events and code sets in the language: statements, checks, formatting, evaluation, backends, CLI."""

from __future__ import annotations

import datetime as _dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol_dsl
from protocol_dsl.backends import Unsupported
from protocol_dsl.cli import main
from protocol_dsl.formatter import format_text
from protocol_dsl.parser import parse

AS_OF = "2026-12-01"
RULES = """\
valueset mi_codes: ICD10 "I21.*", "I22.*"
valueset acei_codes: ATC "C09A*"
complete medications

input mi: condition in mi_codes "Myocardial infarction"
input acei: medication in acei_codes "ACE inhibitor"

define recent_mi = any(mi within 12 weeks)

exclusion E1: recent_mi
inclusion I1: on(acei) and stable_for(acei) >= 4 weeks
inclusion I2: time since mi > 30 days
"""
PATIENT = {
    "conditions": [{"code": "I21.4", "system": "http://hl7.org/fhir/sid/icd-10", "time": "2026-10-01"}],
    "medications": [
        {"code": "C09AA05", "system": "ATC", "start": "2026-01-01", "end": "2026-03-31", "dose": {"value": 5, "unit": "mg/d"}},
        {"code": "C09AA05", "system": "ATC", "start": "2026-04-01", "dose": {"value": 10, "unit": "mg/d"}},
    ],
}


def diagnostics(text: str) -> list[str]:
    with pytest.raises(protocol_dsl.RulesError) as raised:
        protocol_dsl.loads(text, "f.rules")
    return [f"{d.code} {d.message}" for d in raised.value.diagnostics]


def test_evaluation_with_reasons():
    result = protocol_dsl.loads(RULES).evaluate(PATIENT, as_of=AS_OF)
    assert result.status == "ineligible"
    reasons = {cid: c.reason for cid, c in result.criteria.items()}
    assert reasons == {
        "E1": "any(mi within 12 weeks): I21.4 on 2026-10-01",
        "I1": "on(acei): C09AA05 from 2026-04-01 (ongoing) and stable_for(acei) 244 d: "
              "the same daily dose since 2026-04-01 (C09AA05 from 2026-04-01 (ongoing)) >= 4 weeks",
        "I2": "time since mi 61 d: I21.4 on 2026-10-01 > 30 days",
    }
    assert result.warnings == []  # the event keys are no unknown inputs


def test_absence_without_a_complete_record_is_unknown():
    result = protocol_dsl.loads(RULES).evaluate({}, as_of=AS_OF)
    e1 = result.criteria["E1"]
    assert e1.value is None
    assert e1.reason == (
        "no myocardial infarction is recorded within 12 weeks, and the record of conditions is not declared complete"
    )
    assert result.criteria["I1"].value is False  # medications are complete: not on it
    assert result.missing == ["mi"]  # no event, and the record is not complete: the data to collect


def test_the_fast_path_and_the_interpreter_agree():
    from protocol_dsl.backends.interpreter import interpreter_functions
    from protocol_dsl.data import prepare

    protocol = protocol_dsl.loads(RULES)
    for patient in (PATIENT, {}, {"conditions": PATIENT["conditions"]}):
        result = protocol.evaluate(patient, as_of=AS_OF)
        values, _ = prepare(protocol.inputs, patient, as_of=protocol_dsl.protocol.index_date(AS_OF))
        slow = [fn(values) for fn in interpreter_functions(protocol.program)]
        assert [c.value for c in result.criteria.values()] == slow


def test_events_need_an_index_date():
    with pytest.raises(protocol_dsl.DataError) as raised:
        protocol_dsl.loads(RULES).evaluate(PATIENT)
    assert raised.value.problems == [
        "mi: dated events (conditions) need an index date (give --as-of, or as_of=...)",
        "acei: dated events (medications) need an index date (give --as-of, or as_of=...)",
    ]
    # no events: nothing needs a date
    assert protocol_dsl.loads(RULES).evaluate({}).criteria["I1"].value is False


def test_invalid_events_are_refused_naming_key_index_and_field():
    with pytest.raises(protocol_dsl.DataError) as raised:
        protocol_dsl.loads(RULES).evaluate({"medications": [{"code": "C09AA05", "system": "ATC", "start": "2026-01-01",
                                                             "dose": {"value": 10, "unit": "mg"}}]}, as_of=AS_OF)
    assert raised.value.problems == ["medications[0].dose: 10 mg is not a daily dose: it cannot be converted to mg/d"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('valueset v: ICD9 "410"\ninput mi: condition in v\nexclusion E: mi',
         ['E501 unknown coding system "ICD9" (use ICD10, SNOMED, LOINC, ATC, RxNorm or a URI)']),
        ('valueset v: ICD10 "I21"\nvalueset v: ICD10 "I22"\ninput mi: condition in v\nexclusion E: mi',
         ["E102 value set 'v' is already declared: give this one another name"]),
        ('valueset mi_codes: ICD10 "I21"\ninput mi: condition in mi_code\nexclusion E: mi',
         ["E502 there is no value set 'mi_code' (did you mean 'mi_codes'?): declare it with 'valueset mi_code: SYSTEM \"CODE\", ...'"]),
        ('valueset v: ATC "C09A*"\ninput medications: medication in v\ninclusion I: on(medications)',
         ["E503 'medications' is the key of patient data that lists the medications (events): give this input another name"]),
        ('valueset v: ICD10 "I21"\ninput mi: condition in v\ncomplete conditons\nexclusion E: mi',
         ["E504 'conditons' is not a kind of record (conditions, procedures, medications) or an input (did you mean 'conditions'?)"]),
        ('valueset v: ICD10 "I21"\ninput mi: condition in v\nexclusion E: dose(mi) > 1 mg/d',
         ["E505 dose() is about medications, but 'mi' lists conditions"]),
        ('input age: number years\ninclusion I: on(age)',
         ["E505 on() takes the name of a condition, procedure or medication input"]),
        ('valueset v: ATC "C09A*"\ninput acei: medication in v\ninclusion I: stable_for(acei within 4 weeks) > 1 days',
         ["E505 stable_for() does not take a window ('within ...'): it is at the index date"]),
        ('valueset v: ATC "C09A*"\ninput acei: medication in v\ninclusion I: exposure(acei within 4 mg) > 1 days',
         ["E601 a window is a whole number of hours, days, weeks, months or years (such as 12 months), not 4 mg"]),
        ('valueset v: ATC "C09A*"\ninput acei: medication in v range 0..1\ninclusion I: on(acei)',
         ["E302 only number inputs can have a range; 'acei' lists medications"]),
        ('valueset v: ATC "C09A*"\ninput acei: medication in v\ninclusion I: on(acei) > 1',
         ["E201 '>' orders numbers, but this is a true/false value"]),
        ('valueset v: ATC "C09A*"\ninput acei: medication in v\ninclusion I: on(acei, acei)',
         ["E106 on() takes 1 argument, but 2 given"]),
    ],
)
def test_check_errors(text, expected):
    assert diagnostics(text) == expected


def test_a_value_set_of_another_system_is_warned_about():
    protocol = protocol_dsl.loads('valueset v: LOINC "1975-2"\ninput mi: condition in v\nexclusion E: mi')
    assert [d.message for d in protocol.warnings] == [
        "value set 'v' holds LOINC codes, which do not code conditions (those are coded in ICD10, SNOMED): "
        "no condition will match"
    ]


def test_value_set_files_are_read_relative_to_the_rules_file(tmp_path):
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "mi.csv").write_text("system,code,display\nICD10,I21.*,Acute MI\n", encoding="utf-8")
    (tmp_path / "sets" / "acei.json").write_text(json.dumps({"resourceType": "ValueSet", "compose": {"include": [
        {"system": "http://www.whocc.no/atc", "concept": [{"code": "C09AA05"}]}]}}), encoding="utf-8")
    rules = tmp_path / "p.rules"
    rules.write_text('valueset mi_codes: file "sets/mi.csv"\nvalueset acei_codes: file "sets/acei.json"\n'
                     "input mi: condition in mi_codes\ninput acei: medication in acei_codes\n"
                     "complete conditions\nexclusion E: mi\ninclusion I: any(acei)\n", encoding="utf-8")
    result = protocol_dsl.load(rules).evaluate(PATIENT, as_of=AS_OF)
    assert (result.criteria["E"].value, result.criteria["I"].value) == (True, True)


def test_an_invalid_value_set_file_is_a_check_error_at_the_statement(tmp_path):
    (tmp_path / "mi.csv").write_text("ICD10,I21.*\nICD10\n", encoding="utf-8")
    rules = tmp_path / "p.rules"
    rules.write_text('valueset mi_codes: file "mi.csv"\ninput mi: condition in mi_codes\nexclusion E: mi\n', encoding="utf-8")
    with pytest.raises(protocol_dsl.RulesError) as raised:
        protocol_dsl.load(rules)
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.code == "E501"
    assert diagnostic.message == (
        f"value set 'mi_codes' cannot be loaded: {tmp_path / 'mi.csv'}, line 2: "
        "expected system,code or system,code,display, got 1 column"
    )
    assert diagnostic.span.start == 0  # the statement
    assert diagnostics('valueset v: file "nowhere.json"\ninput mi: condition in v\nexclusion E: mi') == [
        "E501 value set 'v' cannot be loaded: nowhere.json: no such file"
    ]


def test_formatting_is_canonical_and_round_trips():
    messy = (
        'valueset  mi_codes :ICD10 "I21.*","I22.*"\nvalueset snomed_mi: "http://snomed.info/sct" "22298006"\n'
        'valueset f: file "x.json"\ncomplete   conditions ,medications\n'
        'input mi:condition in mi_codes "MI"\n'
        "inclusion I: any( mi within 12 weeks ) and time  since mi > 3 days and count(mi)>1 and exposure(mi within 1 years) > 1 days\n"
    )
    formatted = format_text(messy)
    assert formatted == (
        'valueset mi_codes: ICD10 "I21.*", "I22.*"\nvalueset snomed_mi: "http://snomed.info/sct" "22298006"\n'
        'valueset f: file "x.json"\ncomplete conditions, medications\n'
        'input mi: condition in mi_codes "MI"\n'
        "inclusion I:\n    any(mi within 12 weeks)\n    and time since mi > 3 days\n    and count(mi) > 1\n"
        "    and exposure(mi within 1 years) > 1 days\n"
    )
    assert format_text(formatted) == formatted
    assert parse(formatted) == parse(messy)


def test_deep_checks_use_sound_ranges():
    # exposure within 1 week is at most 8 days: the deep check knows it can never exceed 30
    text = 'valueset v: ATC "C09A*"\ninput acei: medication in v\ninclusion I: on(acei)\nexclusion E: exposure(acei within 1 weeks) > 30 days\n'
    from protocol_dsl.report import diagnose

    found = [(d.code, d.message) for d in diagnose(text, "f.rules", False)]
    assert [code for code, _ in found] == ["W201"]
    clean = 'valueset v: ATC "C09A*"\ninput acei: medication in v\ninclusion I: on(acei) and exposure(acei within 12 months) > 30 days\n'
    assert diagnose(clean, "f.rules", False) == []


def test_sql_refuses_events_in_words():
    with pytest.raises(Unsupported) as raised:
        protocol_dsl.loads(RULES).to_sql()
    assert str(raised.value) == (
        "SQL does not compute events yet: any() of 'mi' needs each patient's conditions, procedures or medications "
        "and an index date; evaluate these patients one by one (protocol-dsl eval --as-of)"
    )


def test_cli_eval_check_and_fmt(tmp_path, capsys):
    rules = tmp_path / "p.rules"
    rules.write_text(RULES, encoding="utf-8")
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps(PATIENT), encoding="utf-8")
    assert main(["eval", str(rules), str(patient), "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:3] == [
        "INELIGIBLE",
        "  ✗ E1 exclusion met: recent_mi",
        "      any(mi within 12 weeks): I21.4 on 2026-10-01",
    ]
    assert main(["eval", str(rules), str(patient)]) == 1
    err = capsys.readouterr().err
    assert "mi: dated events (conditions) need an index date (give --as-of, or as_of=...)" in err
    assert main(["eval", str(rules), str(patient), "--as-of", "yesterday"]) == 2  # a usage error
    assert "--as-of yesterday: expected a date YYYY-MM-DD, such as 2026-12-01" in capsys.readouterr().err
    assert main(["check", str(rules)]) == 0
    assert main(["fmt", "--check", str(rules)]) == 0
    bad = tmp_path / "bad.rules"
    bad.write_text('valueset v: ICD10 "I21"\ninput mi: condition in w\nexclusion E: mi\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["check", "--format", "json", str(bad)]) == 1
    (problem,) = json.loads(capsys.readouterr().out)
    assert (problem["code"], problem["line"], problem["column"]) == ("E502", 2, 24)


def test_cli_screen_refuses_events_in_words(tmp_path, capsys):
    rules = tmp_path / "p.rules"
    rules.write_text(RULES, encoding="utf-8")
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("_row,x\n1,2\n", encoding="utf-8")
    assert main(["screen", str(rules), str(cohort)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{rules}: SQL does not compute events yet: any() of 'mi'" in err


def test_cases_files_list_events_inside_the_patient(tmp_path, capsys):
    (tmp_path / "p.rules").write_text(RULES, encoding="utf-8")
    (tmp_path / "p.cases.yaml").write_text(
        "as_of: 2026-12-01\n"
        "cases:\n"
        "  - name: recent MI\n"
        "    patient:\n"
        "      conditions: [{code: I21.4, system: ICD10, time: 2026-10-01}]\n"
        "      medications: [{code: C09AA05, system: ATC, start: 2026-01-01, dose: {value: 10, unit: mg/d}}]\n"
        "    expect: {status: ineligible, criteria: {E1: true, I1: true, I2: true}}\n"
        "  - name: no medications, and they are complete\n"
        "    patient: {}\n"
        "    expect: {criteria: {E1: null, I1: false, I2: null}}\n",
        encoding="utf-8",
    )
    assert main(["test", str(tmp_path / "p.rules")]) == 0
    assert capsys.readouterr().out.startswith("2 passed, 0 failed")


# -- properties ------------------------------------------------------------------------------
_PROPERTY = protocol_dsl.loads(
    'valueset v: ATC "C09A*"\ncomplete medications\ninput x: medication in v\n'
    "inclusion A: any(x within 30 days)\ninclusion C: count(x within 30 days) >= 2\n"
    "inclusion E: exposure(x within 30 days) >= 10 days\ninclusion O: on(x)\n"
)
_DAY = _dt.date(2026, 12, 1)
_PERIOD = st.tuples(st.integers(-90, 10), st.one_of(st.none(), st.integers(0, 60)), st.sampled_from(["C09AA05", "C10AA01"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(_PERIOD, max_size=6))
def test_window_constructs_match_their_definition(periods):
    meds = []
    for start, length, code in periods:
        item = {"code": code, "system": "ATC", "start": (_DAY + _dt.timedelta(days=start)).isoformat()}
        if length is not None:
            item["end"] = (_DAY + _dt.timedelta(days=start + length)).isoformat()
        meds.append(item)
    result = _PROPERTY.evaluate({"medications": meds}, as_of=_DAY)
    first = _DAY - _dt.timedelta(days=30)
    spans = [(_DAY + _dt.timedelta(days=s), None if n is None else _DAY + _dt.timedelta(days=s + n))
             for s, n, code in periods if code.startswith("C09A")]
    overlapping = [(a, b) for a, b in spans if a <= _DAY and (b is None or b >= first)]
    covered = {first + _dt.timedelta(days=k) for k in range(31)}
    covered = {d for d in covered if any(a <= d and (b is None or d <= b) for a, b in spans)}
    values = {cid: c.value for cid, c in result.criteria.items()}
    assert values == {
        "A": bool(overlapping),
        "C": len(overlapping) >= 2,
        "E": len(covered) >= 10,
        "O": any(a <= _DAY and (b is None or b >= _DAY) for a, b in spans),
    }
