"""The `protocol-dsl` command through `main(argv)`: outputs, exit codes, and never a traceback."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

from protocol_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "protocols" / "NCT01844063.rules"
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))

# The example of SPEC section 1, verbatim.
SPEC_EXAMPLE = """\
protocol NCT01844063 "Safety and Efficacy of Diverse Mesenchymal Stem Cells Transplantation for Liver Failure"

input age: number years range 0..130 "Age at screening"
input sex: one of "female", "male"
input TB: number umol/L range 0..1500 molar mass 584.66 g/mol "Total bilirubin"
input TB_rise: number umol/L/d "Rise in total bilirubin per day"
input INR: number range 0.5..20
input PTA: number % range 0..200 "Prothrombin time activity"
input hcc: boolean "Hepatocellular carcinoma"

define tb_high = TB >= 171 umol/L or TB_rise >= 17.1 umol/L/d

inclusion I1 "Aged 18-65 years": 18 years <= age <= 65 years
inclusion I6 "TB >= 171 umol/L or ascend >= 17.1 umol/L per day": tb_high
inclusion I7 "INR >= 1.5 or 20% < PTA <= 40%":
    INR >= 1.5 or 20% < PTA <= 40%
exclusion E1 "Hepatocellular carcinoma": hcc
"""

UNDECLARED = "input age: number years\ninclusion I1 \"Adult\": agee >= 18 years\n"
BARE_NUMBER = 'input PTA: number %\ninclusion I1 "PTA above 40%": PTA > 40\n'

DIAGNOSTIC_KEYS = {"file", "line", "column", "end_line", "end_column", "severity", "code", "message"}
TRACE_KEYS = {"expr", "value", "line", "column", "children"}
CRITERION_KEYS = {"id", "kind", "text", "value", "reason", "missing", "trace"}


def run(argv, capsys):
    """Run the command; return (exit code, stdout, stderr), checking that no traceback was printed."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def patient(tmp_path: Path, data) -> Path:
    return write(tmp_path, "patient.json", json.dumps(data))


# ----------------------------------------------------------------------- check
def test_check_of_the_seed_protocol_is_clean(capsys):
    code, out, err = run(["check", SEED], capsys)
    assert (code, out) == (0, "")


def test_check_of_a_directory_checks_its_rules_files(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code, out, err = run(["check", "protocols/"], capsys)
    assert (code, out) == (0, "")
    code, out, err = run(["check", "--format", "json", "protocols/"], capsys)
    assert (code, json.loads(out)) == (0, [])


def test_check_json_of_a_clean_file_is_an_empty_list(capsys):
    code, out, err = run(["check", "--format", "json", SEED], capsys)
    assert code == 0
    assert json.loads(out) == []


def test_check_text_shows_the_place_the_line_and_a_caret(tmp_path, capsys):
    path = write(tmp_path, "bad.rules", UNDECLARED)
    code, out, err = run(["check", path], capsys)
    assert code == 1
    assert out.splitlines() == [
        f"{path}:2:23: error[E101]: 'agee' is not declared (did you mean 'age'?)",
        'inclusion I1 "Adult": agee >= 18 years',
        "                      ^^^^",
    ]


def test_check_text_of_incompatible_units(tmp_path, capsys):
    path = write(tmp_path, "units.rules", 'input age: number years\ninclusion I1 "Adult": age >= 18 kg\n')
    code, out, err = run(["check", path], capsys)
    assert code == 1
    assert out.splitlines() == [
        f"{path}:2:30: error[E202]: a number in kg cannot be compared or combined with a number in years: "
        "the dimensions differ",
        'inclusion I1 "Adult": age >= 18 kg',
        "                             ^^^^^",
    ]


def test_check_places_an_unfinished_expression_on_its_own_line(tmp_path, capsys):
    path = write(tmp_path, "cut.rules", 'input age: number years\ninclusion I1 "Adult": age >=\n')
    code, out, err = run(["check", path], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{path}:2:29: error[E001]: expected a value after '>=', but the text ends"
    assert lines[1] == 'inclusion I1 "Adult": age >='


def test_check_json_has_exactly_the_documented_keys(tmp_path, capsys):
    path = write(tmp_path, "bad.rules", UNDECLARED)
    code, out, err = run(["check", "--format", "json", path], capsys)
    assert code == 1
    (diagnostic,) = json.loads(out)
    assert set(diagnostic) == DIAGNOSTIC_KEYS
    assert diagnostic == {
        "file": str(path),
        "line": 2,
        "column": 23,
        "end_line": 2,
        "end_column": 27,
        "severity": "error",
        "code": "E101",
        "message": "'agee' is not declared (did you mean 'age'?)",
    }


def test_a_warning_passes_unless_strict(tmp_path, capsys):
    path = write(tmp_path, "warn.rules", BARE_NUMBER)
    code, out, err = run(["check", path], capsys)
    assert code == 0
    assert out.splitlines()[0] == f"{path}:2:37: warning[W101]: 40 has no unit and is taken in %: write '40 %'"
    code, out, err = run(["check", "--strict", path], capsys)
    assert code == 1
    assert "warning[W101]" in out


def test_check_json_of_a_warning(tmp_path, capsys):
    path = write(tmp_path, "warn.rules", BARE_NUMBER)
    code, out, err = run(["check", "--format", "json", path], capsys)
    assert code == 0
    (diagnostic,) = json.loads(out)
    assert set(diagnostic) == DIAGNOSTIC_KEYS
    assert (diagnostic["severity"], diagnostic["code"], diagnostic["line"], diagnostic["column"]) == ("warning", "W101", 2, 37)


def test_check_github_annotations(tmp_path, capsys):
    error = write(tmp_path, "bad.rules", UNDECLARED)
    warning = write(tmp_path, "warn.rules", BARE_NUMBER)
    code, out, err = run(["check", "--format", "github", error], capsys)
    assert code == 1
    assert out.splitlines()[0].startswith(f"::error file={error},line=2,col=23,")
    code, out, err = run(["check", "--format", "github", warning], capsys)
    assert code == 0
    assert out.splitlines()[0].startswith(f"::warning file={warning},line=2,col=37,")
    assert all(line.startswith(("::error file=", "::warning file=")) for line in out.splitlines())


def test_check_of_several_files_reports_each_at_its_own_name(tmp_path, capsys):
    error = write(tmp_path, "bad.rules", UNDECLARED)
    code, out, err = run(["check", "--format", "json", SEED, error], capsys)
    assert code == 1
    assert [d["file"] for d in json.loads(out)] == [str(error)]


def test_sarif_rule_names_are_identifiers(capsys):
    code, out, err = run(["check", "--format", "sarif", SEED], capsys)
    rules = json.loads(out)["runs"][0]["tool"]["driver"]["rules"]
    bad = [r["name"] for r in rules if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", r["name"])]
    assert bad == []


# ----------------------------------------------------------------------- usage errors
def _usage_cases(tmp_path: Path) -> dict:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no rules here")
    binary = tmp_path / "binary.rules"
    binary.write_bytes(b"input x: number\x00\x01\x02")
    latin1 = tmp_path / "latin1.rules"
    latin1.write_bytes('input x: number "café"\n'.encode("latin-1"))
    return {
        "no command": [],
        "unknown command": ["frobnicate"],
        "check without a path": ["check"],
        "missing file": ["check", tmp_path / "missing.rules"],
        "directory without rules": ["check", empty],
        "binary file": ["check", binary],
        "not UTF-8": ["check", latin1],
        "unknown format": ["check", "--format", "xml", SEED],
        "unknown option": ["check", "--frobnicate", SEED],
        "eval without a patient": ["eval", SEED],
        "eval of a missing rules file": ["eval", tmp_path / "missing.rules", EXAMPLES[0]],
        "eval of a directory": ["eval", tmp_path, EXAMPLES[0]],
        "eval of a binary rules file": ["eval", binary, EXAMPLES[0]],
        "eval with an unknown format": ["eval", "--format", "xml", SEED, EXAMPLES[0]],
    }


USAGE_CASES = [
    "no command", "unknown command", "check without a path", "missing file", "directory without rules",
    "binary file", "not UTF-8", "unknown format", "unknown option", "eval without a patient",
    "eval of a missing rules file", "eval of a directory", "eval of a binary rules file",
    "eval with an unknown format",
]


@pytest.mark.parametrize("case", USAGE_CASES)
def test_usage_errors_exit_2_with_a_message_and_no_traceback(case, tmp_path, capsys):
    argv = _usage_cases(tmp_path)[case]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.strip()


@pytest.mark.parametrize(
    "case, words",
    [
        ("missing file", ["missing.rules"]),
        ("directory without rules", ["empty", "no *.rules files"]),
        ("binary file", ["binary.rules", "binary"]),
        ("not UTF-8", ["latin1.rules", "UTF-8"]),
        ("unknown format", ["xml"]),
        ("unknown command", ["frobnicate"]),
    ],
)
def test_usage_errors_name_the_culprit(case, words, tmp_path, capsys):
    code, out, err = run(_usage_cases(tmp_path)[case], capsys)
    for word in words:
        assert word in err


def test_help_and_version_exit_0(capsys):
    code, out, err = run(["--help"], capsys)
    assert code == 0
    assert "usage: protocol-dsl" in out
    for command in ("check", "eval"):
        assert command in out
    code, out, err = run(["--version"], capsys)
    assert code == 0
    assert re.fullmatch(r"protocol-dsl \S+\n", out)
    code, out, err = run(["check", "--help"], capsys)
    assert code == 0
    assert "--strict" in out


# ----------------------------------------------------------------------- eval
def test_eval_text_starts_with_the_status_and_marks_every_criterion(capsys):
    code, out, err = run(["eval", SEED, ROOT / "examples" / "ineligible_coagulation.json"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "NCT01844063: INELIGIBLE"
    marks = {}
    for line in lines[1:]:
        match = re.match(r"  ([✓✗?]) ([IE]\d+) (inclusion|exclusion) ", line)
        if match:
            marks[match.group(2)] = match.group(1)
    assert marks == {
        **{f"I{i}": "✓" for i in range(1, 9)},
        **{f"E{i}": "✓" for i in range(1, 8)},
        "I7": "✗",
    }
    assert "      INR 1.2 < 1.5 and PTA 55 % > 40 %" in lines


def test_eval_text_of_an_undetermined_patient_marks_unknown_criteria(capsys):
    code, out, err = run(["eval", SEED, ROOT / "examples" / "undetermined.json"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "NCT01844063: UNDETERMINED"
    assert any(re.match(r"  \? I7 inclusion unknown: ", line) for line in lines)
    assert any(line.startswith("Missing: ") and "PTA" in line for line in lines)


def _assert_trace(trace: dict) -> None:
    assert set(trace) == TRACE_KEYS
    assert isinstance(trace["expr"], str) and trace["line"] >= 1 and trace["column"] >= 1
    for child in trace["children"]:
        _assert_trace(child)


def test_eval_json_has_the_documented_shape(capsys):
    code, out, err = run(["eval", "--format", "json", SEED, ROOT / "examples" / "undetermined.json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"protocol", "status", "criteria", "missing", "warnings"}
    assert (result["protocol"], result["status"]) == ("NCT01844063", "undetermined")
    assert [c["id"] for c in result["criteria"]] == [f"I{i}" for i in range(1, 9)] + [f"E{i}" for i in range(1, 8)]
    for criterion in result["criteria"]:
        assert set(criterion) == CRITERION_KEYS
        assert criterion["kind"] == ("inclusion" if criterion["id"].startswith("I") else "exclusion")
        assert criterion["value"] in (True, False, None)
        assert criterion["trace"]["value"] == criterion["value"]
        _assert_trace(criterion["trace"])
    assert result["missing"] == sorted(result["missing"]) and "PTA" in result["missing"]
    assert result["warnings"] == []


def test_eval_of_the_spec_example(tmp_path, capsys):
    rules = write(tmp_path, "spec.rules", SPEC_EXAMPLE)
    code, out, err = run(["eval", "--format", "json", rules, patient(tmp_path, {"INR": 1.2, "PTA": 55})], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["status"] == "ineligible"
    (i7,) = [c for c in result["criteria"] if c["id"] == "I7"]
    assert i7["kind"] == "inclusion"
    assert i7["text"] == "INR >= 1.5 or 20% < PTA <= 40%"
    assert i7["value"] is False
    assert i7["reason"] == "INR 1.2 < 1.5 and PTA 55 % > 40 %"
    assert i7["missing"] == []
    trace = i7["trace"]
    assert (trace["expr"], trace["value"], trace["line"], trace["column"]) == ("INR >= 1.5 or 20% < PTA <= 40%", False, 16, 5)
    assert result["missing"] == ["TB", "TB_rise", "age", "hcc"]


def test_eval_reads_the_patient_from_standard_input(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"age": 45, "INR": 1.7})))
    code, out, err = run(["eval", SEED, "-"], capsys)
    assert code == 0
    assert out.splitlines()[0] == "NCT01844063: UNDETERMINED"


def test_eval_of_invalid_patient_data_names_the_input_and_the_value(tmp_path, capsys):
    code, out, err = run(["eval", SEED, patient(tmp_path, {"age": 300, "INR": "high", "sex": "femal"})], capsys)
    assert code == 1
    assert out == ""
    assert "age" in err and "300" in err
    assert "INR" in err and '"high"' in err
    assert "sex" in err and '"femal"' in err


@pytest.mark.parametrize(
    "data, words",
    [
        ({"age": {"value": 30, "unit": "furlongs"}}, ["age", "furlongs"]),
        ({"TB": {"value": 3, "unit": "kg"}}, ["TB", "kg"]),
        ({"hcc": "yes"}, ["hcc", '"yes"']),
        ({"age": True}, ["age", "true"]),
        ([1, 2], ["[1, 2]"]),
    ],
)
def test_eval_refuses_each_kind_of_invalid_value(data, words, tmp_path, capsys):
    code, out, err = run(["eval", SEED, patient(tmp_path, data)], capsys)
    assert code == 1
    for word in words:
        assert word in err


@pytest.mark.parametrize("text", ['{"age": NaN}', '{"age": Infinity}', '{"age": 1e999}'])
def test_eval_refuses_numbers_that_are_not_finite(text, tmp_path, capsys):
    code, out, err = run(["eval", SEED, write(tmp_path, "patient.json", text)], capsys)
    assert code == 1
    assert "age" in err


@pytest.mark.parametrize("text", ['{"age": 30,', "", "not json", '{"age": 1, "age": 2}'])
def test_eval_of_invalid_json_exits_1(text, tmp_path, capsys):
    code, out, err = run(["eval", SEED, write(tmp_path, "patient.json", text)], capsys)
    assert code == 1
    assert out == ""
    assert err.strip()


def test_eval_of_a_rules_file_with_errors_exits_2(tmp_path, capsys):
    rules = write(tmp_path, "bad.rules", UNDECLARED)
    code, out, err = run(["eval", rules, patient(tmp_path, {"age": 30})], capsys)
    assert code == 2
    assert out == ""
    assert f"{rules}:2:23: error[E101]" in err


def test_eval_of_a_missing_patient_file_exits_2(tmp_path, capsys):
    code, out, err = run(["eval", SEED, tmp_path / "nobody.json"], capsys)
    assert code == 2
    assert "nobody.json" in err


def test_eval_of_a_binary_patient_file_says_what_it_expected(tmp_path, capsys):
    data = tmp_path / "patient.json"
    data.write_bytes(b'{"age": 30\x00}')
    code, out, err = run(["eval", SEED, data], capsys)
    assert code in (1, 2)
    assert "patient.json" in err
    assert "rules file" not in err


def test_eval_warns_about_unknown_keys_but_evaluates(tmp_path, capsys):
    data = patient(tmp_path, {"age": 30, "agee": 31})
    code, out, err = run(["eval", SEED, data], capsys)
    assert code == 0
    assert "Warning: 'agee' is not an input of this protocol and was ignored (did you mean 'age'?)" in out.splitlines()
    code, out, err = run(["eval", "--format", "json", SEED, data], capsys)
    assert code == 0
    (warning,) = json.loads(out)["warnings"]
    assert "'agee'" in warning


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_patient_gets_the_status_its_name_says(example, capsys):
    expected = example.stem.split("_")[0]
    assert expected in ("eligible", "ineligible", "undetermined")
    code, out, err = run(["eval", "--format", "json", SEED, example], capsys)
    assert code == 0
    assert json.loads(out)["status"] == expected
    code, out, err = run(["eval", SEED, example], capsys)
    assert out.splitlines()[0] == f"NCT01844063: {expected.upper()}"


def test_eval_json_stays_json_when_a_computation_overflows(tmp_path, capsys):
    rules = write(tmp_path, "big.rules", 'input x: number\ninclusion I1 "Large square": x * x - x * x >= 0\n')
    code, out, err = run(["eval", "--format", "json", rules, patient(tmp_path, {"x": 1e200})], capsys)
    assert code == 0

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    result = json.loads(out, parse_constant=refuse)
    assert result["criteria"][0]["value"] in (True, None)


# ----------------------------------------------------------------------- deep budget
BUDGET_RULES = 'input x: number range 0..10\ninput y: number range 0..10\ninclusion I1 "x": x >= 2\nexclusion E1 "y": y > 5\n'


def test_a_spent_deep_budget_says_what_was_not_proven_and_fails_nothing(tmp_path, capsys):
    path = write(tmp_path, "b.rules", BUDGET_RULES)
    code, out, err = run(["check", path, "--strict", "--deep-budget", "0"], capsys)
    assert code == 0 and out == ""
    assert err.splitlines() == [
        f"{path}: note: not proven within the budget of 0 s: whether inclusion I1 can be true (W201); "
        "whether inclusion I1 can be false (W202); whether exclusion E1 can be true (W201); "
        "whether exclusion E1 can be false (W202); whether any patient can satisfy the protocol (E401); "
        "and 1 more",
        "1 file checked: 0 errors, 0 warnings",
    ]


def test_a_deep_budget_that_suffices_changes_nothing(tmp_path, capsys):
    path = write(tmp_path, "b.rules", BUDGET_RULES.replace("x >= 2", "x >= 2 and x < 1"))
    assert run(["check", path, "--deep-budget", "60"], capsys) == run(["check", path], capsys)


def test_example_with_a_spent_budget_claims_nothing(tmp_path, capsys):
    path = write(tmp_path, "b.rules", BUDGET_RULES)
    code, out, err = run(["example", path, "--deep-budget", "0"], capsys)
    assert code == 1 and out == ""
    assert err == f"{path}: no eligible patient was found within the search budget (nothing is proven either way)\n"
    code, out, err = run(["example", "--near-miss", path, "--deep-budget", "0"], capsys)
    assert code == 1 and json.loads(out) == [{"fails": "I1", "patient": None}, {"fails": "E1", "patient": None}]
    assert err == f"{path}: note: not proven within the budget of 0 s: a near miss for I1; a near miss for E1\n"


def test_the_deep_budget_must_be_seconds(tmp_path, capsys):
    path = write(tmp_path, "b.rules", BUDGET_RULES)
    code, out, err = run(["check", path, "--deep-budget", "soon"], capsys)
    assert code == 2
    assert "argument --deep-budget: expected a number of seconds, 0 or more, got 'soon'" in err
