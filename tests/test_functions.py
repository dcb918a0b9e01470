"""Functions (`define f(x: number kg) = ...`), imports (`import "file.rules"`, `import scores`) and `^`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol_dsl
from protocol_dsl import ir
from protocol_dsl.formatter import format_text
from protocol_dsl.parser import parse


def errors(text: str, name: str = "<string>") -> list[str]:
    """Each diagnostic of a text that does not compile, as `file:line:column: code message`."""
    with pytest.raises(protocol_dsl.RulesError) as info:
        protocol_dsl.loads(text, name)
    return [f"{d.file}:{d.line}:{d.column}: {d.code} {d.message}" for d in info.value.diagnostics if d.severity == "error"]


# ------------------------------------------------------------------ functions
BMI = """define bmi2(weight: number kg, height: number m) = (weight as kg) / (height as m) ^ 2 * 1 kg/m2
input w: number g
input h: number cm
inclusion I1: bmi2(w, h) >= 25 kg/m2
"""


def test_arguments_are_converted_to_their_parameters_units():
    protocol = protocol_dsl.loads(BMI)
    result = protocol.evaluate({"w": 81000, "h": 180})
    assert result.criteria["I1"].value is True
    assert result.criteria["I1"].reason == "bmi2(w, h) 25 kg/m2 >= 25 kg/m2"
    assert protocol.evaluate({"w": 80000, "h": 180}).criteria["I1"].value is False


def test_an_unknown_argument_makes_the_call_unknown_with_its_reason():
    result = protocol_dsl.loads(BMI).evaluate({"h": 180})
    assert result.criteria["I1"].value is None
    assert result.criteria["I1"].reason == "bmi2(w, h) is unknown: w is missing"
    assert result.missing == ["w"]


def test_a_shared_argument_is_one_node():
    protocol = protocol_dsl.loads("define sq(x: number) = x * x\ninput a: number\ninclusion I1: sq(a + 1) > 4\n")
    (criterion,) = protocol.program.criteria
    product = criterion.body.left
    assert isinstance(product, ir.Arith) and product.left is product.right
    assert protocol.evaluate({"a": 2}).criteria["I1"].value is True


def test_functions_calling_functions_grow_the_ir_linearly():
    lines = ["define f0(x: number) = x + 1"]
    lines += [f"define f{i}(x: number) = f{i - 1}(x) * f{i - 1}(x)" for i in range(1, 40)]
    text = "\n".join(lines) + "\ninput a: number\ninclusion I1: f39(a) > 0\n"
    protocol = protocol_dsl.loads(text)
    assert len(list(ir.walk([protocol.program.criteria[0].body]))) < 200
    assert protocol.evaluate({"a": 0}).criteria["I1"].value is True


def test_a_boolean_function_reads_as_true_or_false():
    text = "define high(x: number mg/dL) = x > 3 mg/dL\ninput TB: number mg/dL\ninclusion I1: high(TB)\n"
    result = protocol_dsl.loads(text).evaluate({"TB": 4})
    assert result.criteria["I1"].reason == "high(TB) is true"


def test_a_function_may_read_the_files_definitions_in_any_order():
    text = ("define a = f(2)\ninput x: number\ndefine f(y: number) = y + b + x\ndefine b = 3\n"
            "inclusion I1: a > 5\n")
    protocol = protocol_dsl.loads(text)
    assert protocol.evaluate({"x": 1}).criteria["I1"].value is True
    assert protocol.evaluate({}).criteria["I1"].missing == ["x"]
    assert protocol.to_sql()  # definitions in an order SQL can compute


@pytest.mark.parametrize(
    "text, expected",
    [
        ("define f(x: number kg) = x\ninput a: number mL\ninclusion I1: f(a) > 1 kg\n",
         ["<string>:3:17: E109 argument 1 of f() (x) takes a number in kg, but this is a number in mL: "
          "the dimensions differ"]),
        ("define f(x: number kg, b: boolean) = x\ninput a: number kg\ninclusion I1: f(a, 2) > 1 kg\n",
         ["<string>:3:20: E109 argument 2 of f() (b) takes a true/false value, but this is a plain number"]),
        ("define f(x: number kg) = x\ninput a: number kg\ninclusion I1: f(a, a) > 1 kg\n",
         ["<string>:3:15: E106 f() takes 1 argument (x), but 2 given"]),
        ("define ln(x: number) = x\ninclusion I1: true\n",
         ["<string>:1:8: E108 'ln' is a built-in function: give this function another name"]),
        ("define f(x: number, x: number) = x\ninclusion I1: f(1, 2) > 0\n",
         ["<string>:1:21: E108 f() has two parameters named 'x': give each its own name"]),
        ("input f: number\ndefine f(x: number) = x\ninclusion I1: f > 0\n",
         ["<string>:2:8: E102 'f' is already declared: give this one another name"]),
        ("define f(x: number) = g(x)\ndefine g(x: number) = f(x) + 1\ninclusion I1: f(1) > 0\n",
         ["<string>:1:8: E104 functions and definitions call each other in a circle (f -> g -> f): "
          "a function cannot call itself, directly or through others"]),
        ("define f(x: number) = f(x - 1)\ninclusion I1: f(1) > 0\n",
         ["<string>:1:8: E104 functions and definitions call each other in a circle (f -> f): "
          "a function cannot call itself, directly or through others"]),
        ("define f(x: number) = x\ninclusion I1: f > 0\n",
         ["<string>:2:15: E106 'f' is a function: call it with its arguments, f(x)"]),
        ("define f(x: number) = y\ninclusion I1: f(1) > 0\n",
         ["<string>:1:23: E101 'y' is not declared"]),
        ("define f(x: number furlongs) = x\ninclusion I1: f(1) > 0\n",
         ["<string>:1:20: E301 unknown unit 'furlongs'"]),
    ],
)
def test_function_errors(text, expected):
    got = errors(text)
    assert [g.split(" (did you mean")[0] if "E301" in g else g for g in got][: len(expected)] == expected or got == expected


def test_a_bare_argument_is_taken_in_the_parameters_unit_with_a_warning():
    protocol = protocol_dsl.loads("define f(x: number kg) = x\ninclusion I1: f(70) > 60 kg\n")
    assert [w.code for w in protocol.warnings] == ["W101"]
    assert protocol.evaluate({}).criteria["I1"].value is True


def test_a_parameter_with_a_molar_mass_converts_mass_and_substance():
    text = ("define bili(b: number mg/dL molar mass 584.66 g/mol) = b as mg/dL\n"
            "input TB: number umol/L\ninclusion I1: bili(TB) >= 1\n")
    assert protocol_dsl.loads(text).evaluate({"TB": 17.2}).criteria["I1"].value is True


# ------------------------------------------------------------------ formatting
FUNCTIONS_TEXT = """import scores
import "site.rules"
define f(x: number kg, flag: boolean, c: number mg/dL molar mass 113 g/mol) = -x ^ -1
inclusion I1: meld(1, 1, 1, false) > 2 ^ 3 ^ 2 + (-2) ^ 2 + (2 ^ 3) ^ 2 + (T as g) ^ 2
"""


def test_format_is_canonical_and_parses_back_to_the_same_tree():
    formatted = format_text(FUNCTIONS_TEXT)
    assert formatted == FUNCTIONS_TEXT
    assert parse(formatted) == parse(FUNCTIONS_TEXT)
    assert format_text("define  g( x :number )=x^2\ninclusion I1:g(1)>0") == \
        "define g(x: number) = x ^ 2\ninclusion I1: g(1) > 0\n"


def test_a_long_signature_is_laid_out_one_parameter_a_line():
    text = ("define score(bilirubin: number mg/dL molar mass 584.66 g/mol, creatinine: number mg/dL "
            "molar mass 113.12 g/mol) = bilirubin as mg/dL + creatinine as mg/dL\n")
    assert format_text(text) == (
        "define score(\n"
        "    bilirubin: number mg/dL molar mass 584.66 g/mol,\n"
        "    creatinine: number mg/dL molar mass 113.12 g/mol\n"
        ") =\n"
        "    bilirubin as mg/dL + creatinine as mg/dL\n"
    )
    assert format_text(format_text(text)) == format_text(text)


def test_the_score_library_is_in_canonical_form():
    path = Path(protocol_dsl.__file__).parent / "library" / "scores.rules"
    text = path.read_text(encoding="utf-8")
    assert format_text(text) == text


_atoms = st.sampled_from(["x", "2", "0.5", "(-2)", "y", "10"])


@st.composite
def _power_expressions(draw, depth=3):
    if depth == 0 or draw(st.booleans()):
        return draw(_atoms)
    left, right = draw(_power_expressions(depth=depth - 1)), draw(_power_expressions(depth=depth - 1))
    op = draw(st.sampled_from(["^", "*", "+", "-", "/"]))
    text = f"{left} {op} {right}"
    return draw(st.sampled_from([text, f"({text})", f"-{text}" if op == "^" else text]))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_power_expressions())
def test_formatting_powers_keeps_their_meaning(expression):
    """fmt never changes what an expression with powers means: same tree, same value."""
    text = f"inclusion I1: {expression} > 0\n"
    formatted = format_text(text)
    assert parse(formatted) == parse(text)
    assert format_text(formatted) == formatted
    original = protocol_dsl.compile_expression(expression).evaluate({"x": 3, "y": -1.5})
    again = protocol_dsl.compile_expression(formatted.split(": ", 1)[1].rsplit(" > 0", 1)[0]).evaluate(
        {"x": 3, "y": -1.5})
    assert original == again or (original is None and again is None)


# ------------------------------------------------------------------ imports
def write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_an_imported_file_brings_its_definitions_and_functions(tmp_path):
    write(tmp_path, {
        "lib/site.rules": 'define cutoff = 171\ndefine high(x: number umol/L) = x >= cutoff * 1 umol/L\n',
        "main.rules": 'import "lib/site.rules"\ninput TB: number mg/dL molar mass 584.66 g/mol\ninclusion I1: high(TB)\n',
    })
    protocol = protocol_dsl.load(tmp_path / "main.rules")
    assert protocol.evaluate({"TB": 10.1}).criteria["I1"].value is True  # 172.7 umol/L
    assert protocol.evaluate({"TB": 9.9}).criteria["I1"].value is False
    assert protocol.evaluate({"TB": 10.1}).criteria["I1"].reason == "high(TB) is true"


def test_imports_are_relative_to_the_importing_file(tmp_path):
    write(tmp_path, {
        "lib/a.rules": 'import "b.rules"\ndefine a(x: number) = b(x) + 1\n',
        "lib/b.rules": 'define b(x: number) = x * 2\n',
        "main.rules": 'import "lib/a.rules"\ninput x: number\ninclusion I1: a(x) = 7\n',
    })
    assert protocol_dsl.load(tmp_path / "main.rules").evaluate({"x": 3}).criteria["I1"].value is True


def test_an_input_or_criterion_in_an_imported_file_is_an_error_pointing_at_it(tmp_path):
    write(tmp_path, {
        "site.rules": 'define k = 2\ninput x: number\ninclusion I1: x > k\n',
        "main.rules": 'import "site.rules"\ninclusion I1: k > 1\n',
    })
    site = str(tmp_path / "site.rules")
    assert errors((tmp_path / "main.rules").read_text(), str(tmp_path / "main.rules")) == [
        f"{site}:2:1: E111 an imported file holds only definitions and functions, not an input: "
        "move it to the file that imports this one",
        f"{site}:3:1: E111 an imported file holds only definitions and functions, not a criterion: "
        "move it to the file that imports this one",
    ]


def test_an_error_inside_an_imported_file_points_at_its_line_and_column(tmp_path):
    write(tmp_path, {"site.rules": 'define k = 2\ndefine f(x: number) = x + y\n', "main.rules": 'import "site.rules"\ninclusion I1: k > 1\n'})
    site = str(tmp_path / "site.rules")
    assert errors((tmp_path / "main.rules").read_text(), str(tmp_path / "main.rules")) == [
        f"{site}:2:27: E101 'y' is not declared"
    ]
    write(tmp_path, {"site.rules": 'define k = (2\n'})
    got = errors((tmp_path / "main.rules").read_text(), str(tmp_path / "main.rules"))
    assert f"{site}:1:14: E001 expected ')' after '2', but the text ends" in got


def test_import_problems(tmp_path):
    write(tmp_path, {
        "a.rules": 'import "b.rules"\ndefine a = 1\n',
        "b.rules": 'import "a.rules"\ndefine b = 2\n',
        "c.rules": 'define a = 5\n',
        "main.rules": 'import "a.rules"\ninclusion I1: a > 0\n',
    })
    main = str(tmp_path / "main.rules")
    b = str(tmp_path / "b.rules")
    assert errors('import "a.rules"\ninclusion I1: a > 0\n', main) == [
        f"{b}:1:8: E110 files import each other in a circle ({main} -> {tmp_path / 'a.rules'} -> {b} -> "
        f"{tmp_path / 'a.rules'}): remove one of the imports"
    ]
    assert errors('import "missing.rules"\ninclusion I1: true\n', main) == [
        f"{main}:1:8: E110 cannot import \"missing.rules\": no such file (at {tmp_path / 'missing.rules'})"
    ]
    assert errors('import "notes.txt"\ninclusion I1: true\n', main) == [
        f"{main}:1:8: E110 cannot import \"notes.txt\": an imported file is a rules file, named *.rules"
    ]
    (tmp_path / "folder.rules").mkdir()
    assert errors('import "folder.rules"\ninclusion I1: true\n', main)[0].startswith(
        f"{main}:1:8: E110 cannot import \"folder.rules\": ")
    assert errors('import score\ninclusion I1: true\n', main) == [
        f"{main}:1:8: E110 there is no library 'score' (did you mean 'scores'?): the libraries are scores "
        "(a file is imported by its path in quotes)"
    ]
    assert errors('import "c.rules"\ndefine a = 2\ninclusion I1: a > 0\n', main) == [
        f"{main}:2:8: E112 'a' is already defined in {tmp_path / 'c.rules'}:1:8: give this one another name"
    ]


def test_a_name_defined_by_two_imported_files_names_both_places(tmp_path):
    write(tmp_path, {"c.rules": 'define a = 5\n', "d.rules": 'define a = 6\n'})
    main = str(tmp_path / "main.rules")
    assert errors('import "c.rules"\nimport "d.rules"\ninclusion I1: a > 0\n', main) == [
        f"{main}:2:8: E112 'a' is defined twice: in {tmp_path / 'c.rules'}:1:8 and in {tmp_path / 'd.rules'}:1:8; "
        "two imported files cannot define the same name"
    ]


def test_a_file_imported_twice_is_read_once(tmp_path):
    write(tmp_path, {"c.rules": 'define a = 5\n', "d.rules": 'import "c.rules"\ndefine d = a\n'})
    protocol = protocol_dsl.loads('import "c.rules"\nimport "d.rules"\ninclusion I1: a + d = 10\n', str(tmp_path / "m.rules"))
    assert protocol.evaluate({}).criteria["I1"].value is True


def test_a_library_name_cannot_be_redefined():
    assert errors("import scores\ndefine meld = 3\ninclusion I1: meld > 1\n")[0].startswith(
        "<string>:2:8: E112 'meld' is already defined in ")


def test_check_fmt_and_coverage_on_a_file_with_functions(tmp_path):
    write(tmp_path, {
        "p.rules": ("import scores\ninput TB: number umol/L molar mass 584.66 g/mol\ninput INR: number\n"
                    "input cr: number mg/dL\ninput dia: boolean\n"
                    "inclusion I1 \"MELD 17-30\": 17 <= meld(TB, INR, cr, dia) <= 30\n"),
        "p.cases.yaml": ("cases:\n  - name: in\n    data: {TB: 250, INR: 2.1, cr: 1.0, dia: false}\n"
                         "    expect: {status: eligible}\n  - name: unknown\n    data: {TB: 250}\n"
                         "    expect: {status: undetermined}\n"),
    })
    cli = [sys.executable, "-m", "protocol_dsl"]
    for command in (["check", "--strict"], ["fmt", "--check"], ["test", "--coverage"], ["example"]):
        path = tmp_path / "p.rules"
        done = subprocess.run(cli + command + [str(path)], capture_output=True, text=True)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), (command, done.stdout, done.stderr)


def test_the_library_is_in_the_package():
    from protocol_dsl.checker import library_path

    assert library_path("scores").is_file()
