"""The README's promises: its tour loads, its library example says what it shows."""

import re
from pathlib import Path

import protocol_dsl

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_after(heading: str) -> str:
    section = README.split(heading, 1)[1]
    return re.search(r"```[a-z]*\n(.*?)```", section, re.S).group(1)


def test_the_tour_is_a_valid_rules_file_without_warnings():
    from protocol_dsl.analysis import deep_diagnostics

    protocol = protocol_dsl.loads(code_after("## A tour of the language"), "tour.rules")
    assert protocol.warnings == []
    assert deep_diagnostics(protocol.checked, strict=True) == []  # `check --strict` is clean too
    result = protocol.evaluate({"age": 40, "sex": "male", "TB": {"value": 12, "unit": "mg/dL"}, "INR": 1.2, "PTA": 30})
    assert result.criteria["I6"].value is True  # 12 mg/dL of bilirubin is above 171 umol/L
    assert result.criteria["I3"].reason == 'not applicable: sex "male" != "female"'


def test_the_library_example():
    p = protocol_dsl.load(ROOT / "protocols" / "NCT01844063.rules")
    r = p.evaluate({"age": 45, "INR": 1.7})
    assert r.status == "undetermined"
    assert r.criteria["I7"].value is True
    assert r.criteria["I7"].reason == "INR 1.7 >= 1.5"
    assert r.missing[:3] == ["HBsAg", "TB", "TB_rise"]
    assert p.status({"age": 12}) == "ineligible"
    e = protocol_dsl.compile_expression("INR >= 1.5 or 20 < PTA <= 40")
    assert e.evaluate({"INR": 1.2, "PTA": 30}) is True


def test_the_two_commands_exist():
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README and "make test" in README
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_clinical_records_example_checks_and_evaluates():
    protocol = protocol_dsl.loads(code_after("### Clinical records"), "records.rules")
    assert protocol.warnings == []
    patient = {
        "birth_date": "1970-05-17",
        "HbA1c": [{"value": 53, "unit": "mmol/mol", "time": "2026-11-02"}],  # 7.0 % by the master equation
        "ALT": [{"value": 80, "time": "2026-11-20", "range": {"low": 7, "high": 35}}],
        "HBV_DNA": [{"value": v, "time": t} for v, t in ((3000, "2026-01-10"), (5000, "2026-06-10"), (2500, "2026-11-10"))],
        "nyha": "III",
    }
    result = protocol.evaluate(patient, as_of="2026-12-01")
    assert result.status == "eligible"
    assert result.criteria["I3"].reason.endswith("<= 2.5 x ULN 35 U/L (the result's reference range)")
    assert protocol.evaluate({**patient, "ALT": [{"value": 90, "time": "2026-11-20", "range": {"high": 35}}]},
                             as_of="2026-12-01").criteria["I3"].value is False
