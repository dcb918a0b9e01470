"""`protocol-dsl test`: case files, their errors, and coverage."""

import json
from pathlib import Path

import pytest

from protocol_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent

RULES = """input age: number years range 0..130
input hcc: boolean
inclusion I1 "Adult": age >= 18 years
exclusion E1 "HCC": hcc
"""


def write(tmp_path: Path, cases: str, rules: str = RULES) -> Path:
    (tmp_path / "p.rules").write_text(rules)
    (tmp_path / "p.cases.yaml").write_text(cases)
    return tmp_path / "p.rules"


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_the_seed_cases_pass_with_complete_coverage(capsys):
    code, out, _ = run(["test", "--coverage", "--require-coverage", str(ROOT / "protocols")], capsys)
    assert code == 0
    assert "45 passed, 0 failed" in out
    assert "criteria: 15 of 15 reached true, false and unknown" in out
    assert "boundaries: 10 of 10 with a case on the threshold and one just across" in out  # 9 thresholds, 1 window
    assert "coverage is complete" in out


def test_a_failing_case_shows_expected_actual_and_reasons(tmp_path, capsys):
    rules = write(
        tmp_path,
        "cases:\n  - name: child\n    patient: {age: 12, hcc: false}\n    expect: {status: eligible, criteria: {I1: true}}\n",
    )
    code, out, _ = run(["test", str(rules)], capsys)
    assert code == 1
    assert f"FAIL {tmp_path / 'p.cases.yaml'}:2: child" in out
    assert "    status: expected eligible, got ineligible" in out
    assert "    I1: expected true, got false (age 12 years < 18 years)" in out
    assert "0 passed, 1 failed" in out


CASE_FILE_ERRORS = {
    "typo in an input name": (
        "cases:\n  - name: a\n    patient: {agee: 40}\n    expect: {status: eligible}\n",
        "p.cases.yaml:2: case 'a': 'agee' is not an input of the protocol (did you mean 'age'?)",
    ),
    "unknown unit": (
        "cases:\n  - name: a\n    patient: {age: 40 yeers, hcc: false}\n    expect: {status: eligible}\n",
        "patient data refused: age: 40 yeers: unknown unit 'yeers' (did you mean 'years'?)",
    ),
    "unknown criterion": (
        "cases:\n  - name: a\n    patient: {age: 40}\n    expect: {criteria: {I2: true}}\n",
        "p.cases.yaml:2: case 'a': 'I2' is not a criterion of the protocol",
    ),
    "unknown status": (
        "cases:\n  - name: a\n    patient: {age: 40}\n    expect: {status: elegible}\n",
        "p.cases.yaml:2: case 'a': status 'elegible' is not one of eligible, ineligible, undetermined",
    ),
    "not YAML": ("cases: [\n", "p.cases.yaml:2:1: not valid YAML"),
    "no cases list": ("- a\n", "p.cases.yaml:1: a case file is a mapping with a 'cases:' list"),
    "duplicate names": (
        "cases:\n  - name: a\n    patient: {}\n    expect: {status: undetermined}\n"
        "  - name: a\n    patient: {}\n    expect: {status: undetermined}\n",
        "p.cases.yaml:5: a second case is named 'a': names must differ",
    ),
    "a name that is not text": (
        "cases:\n  - name: 12\n    patient: {}\n    expect: {status: undetermined}\n",
        "p.cases.yaml:2: a case's name must be text, not 12: put it in quotes",
    ),
    "nothing expected": ("cases:\n  - name: a\n    patient: {}\n", "'expect' must give at least a status"),
}


@pytest.mark.parametrize("cases, message", CASE_FILE_ERRORS.values(), ids=CASE_FILE_ERRORS.keys())
def test_case_file_problems_are_reported_and_fail(tmp_path, capsys, cases, message):
    code, out, err = run(["test", str(write(tmp_path, cases))], capsys)
    assert code == 1
    assert message in out + err


def test_yes_and_no_are_text_not_booleans(tmp_path, capsys):
    rules = 'input answer: one of "yes", "no"\ninclusion I1: answer = "no"\n'
    cases = "cases:\n  - name: on\n    patient: {answer: no}\n    expect: {status: eligible}\n"
    code, out, _ = run(["test", str(write(tmp_path, cases, rules))], capsys)
    assert (code, out.strip()) == (0, "1 passed, 0 failed")


def test_no_case_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "p.rules").write_text(RULES)
    code, _, err = run(["test", str(tmp_path / "p.rules")], capsys)
    assert code == 2
    assert "no case files found" in err


def test_a_case_file_can_be_named_directly(tmp_path, capsys):
    write(tmp_path, "cases:\n  - name: adult\n    patient: {age: 40, hcc: false}\n    expect: {status: eligible}\n")
    code, out, _ = run(["test", str(tmp_path / "p.cases.yaml")], capsys)
    assert (code, out.strip()) == (0, "1 passed, 0 failed")


BOUNDARY_CASES = """cases:
  - name: on
    patient: {age: 18, hcc: false}
    expect: {status: eligible}
  - name: across
    patient: {age: 17, hcc: true}
    expect: {status: ineligible}
  - name: unknown
    patient: {}
    expect: {status: undetermined}
"""


def test_coverage_reports_what_is_missing(tmp_path, capsys):
    rules = write(tmp_path, "cases:\n  - name: adult\n    patient: {age: 40, hcc: false}\n    expect: {status: eligible}\n")
    code, out, _ = run(["test", "--coverage", str(rules)], capsys)
    assert code == 0  # incomplete coverage fails only with --require-coverage
    assert "    line 3: I1: never false, unknown" in out
    assert "    line 3: age >= 18 years: add a case exactly on 18 years and a case at 17 years" in out
    assert "coverage is incomplete" in out
    assert run(["test", "--coverage", "--require-coverage", str(rules)], capsys)[0] == 1


def test_coverage_json_and_lcov(tmp_path, capsys):
    rules = write(tmp_path, BOUNDARY_CASES)
    code, out, err = run(["test", "--coverage", "--coverage-format", "json", str(rules)], capsys)
    report = json.loads(out)[0]  # the results go to stderr, so stdout is the report alone
    assert err.strip() == "3 passed, 0 failed"
    assert code == 0 and report["complete"] is True
    assert report["boundaries"] == [
        {"expr": "age >= 18 years", "line": 3, "column": 30, "threshold": 18.0, "unit": "years",
         "on": ["on"], "across": ["across"]}
    ]
    assert report["criteria"][0] == {"expr": "I1", "line": 3, "column": 1, "true": 1, "false": 1, "unknown": 1}
    lcov = tmp_path / "coverage.info"
    run(["test", "--coverage", "--coverage-format", "lcov", "--coverage-output", str(lcov), str(rules)], capsys)
    text = lcov.read_text()
    assert text.startswith("TN:\nSF:") and text.endswith("end_of_record\n")
    assert "BRDA:3,0,0,1" in text and "BRF:" in text


def test_asking_for_required_coverage_is_asking_for_coverage(tmp_path, capsys):
    rules = write(tmp_path, "cases:\n  - name: adult\n    patient: {age: 40, hcc: false}\n    expect: {status: eligible}\n")
    code, out, _ = run(["test", "--require-coverage", str(rules)], capsys)
    assert code == 1 and "coverage is incomplete" in out


def test_boundary_just_across_needs_the_other_outcome(tmp_path, capsys):
    # 19 is within one step of 18 but on the same side: it does not count as across.
    cases = BOUNDARY_CASES.replace("age: 17", "age: 19")
    code, out, _ = run(["test", "--coverage", str(write(tmp_path, cases.replace("ineligible", "ineligible")))], capsys)
    assert "age >= 18 years: add a case at 17 years" in out


def test_every_problem_of_a_case_file_is_reported_and_the_count_says_so(tmp_path, capsys):
    rules = write(
        tmp_path,
        "cases:\n"
        "  - name: a\n    patient: {agee: 40}\n    expect: {status: eligible}\n"
        "  - name: b\n    patient: {age: 40, hcc: false}\n    expect: {status: eligble}\n"
        "  - name: c\n    patient: {age: 40, hcc: false}\n    expect: {status: eligible}\n",
    )
    code, out, err = run(["test", str(rules)], capsys)
    where = tmp_path / "p.cases.yaml"
    assert code == 1
    assert err.splitlines() == [
        f"{where}:2: case 'a': 'agee' is not an input of the protocol (did you mean 'age'?)",
        f"{where}:5: case 'b': status 'eligble' is not one of eligible, ineligible, undetermined",
    ]
    assert out.strip() == "0 passed, 0 failed, 1 file not run (see above)"


def test_a_unit_may_be_written_quoted_as_in_a_rules_file(tmp_path, capsys):
    rules = write(
        tmp_path,
        "cases:\n"
        "  - name: quoted\n    patient: {n: \"1500 '/uL'\"}\n    expect: {criteria: {I1: true}}\n"
        "  - name: plain\n    patient: {n: 1500 /uL}\n    expect: {criteria: {I1: true}}\n"
        "  - name: other spelling\n    patient: {n: \"1.4 '10*9/L'\"}\n    expect: {criteria: {I1: false}}\n",
        rules="input n: number '/uL'\ninclusion I1: n >= 1500 '/uL'\n",
    )
    code, out, _ = run(["test", str(rules)], capsys)
    assert (code, out.strip()) == (0, "3 passed, 0 failed")
