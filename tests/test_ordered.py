"""Integer inputs, sets of numbers and ordered scales, through every stage after the conformance cases."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol_dsl
from protocol_dsl import units
from protocol_dsl.parser import parse
from protocol_dsl.analysis import deep_diagnostics, eligible_patient, near_misses
from protocol_dsl.backends.interpreter import Interpreter
from protocol_dsl.cli import main
from protocol_dsl.coverage import measure
from protocol_dsl.data import prepare
from protocol_dsl.formatter import format_text
from protocol_dsl.screen import screen

NYHA = ("I", "II", "III", "IV")
OPS = {"<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__, "=": int.__eq__, "!=": int.__ne__}
SCALE = 'input nyha: ordered "I", "II", "III", "IV"\ninput after: ordered "I", "II", "III", "IV"\n'
ECOG = "input ecog: integer range 0..5\n"


def _values(protocol, data):
    interpreter = Interpreter(protocol.program)
    values, _ = prepare(protocol.inputs, data)
    fast = [c.value for c in protocol.evaluate(data).criteria.values()]
    slow = [interpreter.criterion(c)(values) for c in protocol.program.criteria]
    assert fast == slow
    return fast


# ----------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(op=st.sampled_from(sorted(OPS)), literal=st.sampled_from(NYHA), value=st.sampled_from(NYHA),
       left=st.booleans())
def test_an_ordering_with_a_value_agrees_with_comparing_positions(op, literal, value, left):
    """Every backend that evaluates one patient gives `nyha OP "X"` as the positions compare."""
    text = f'"{literal}" {op} nyha' if left else f'nyha {op} "{literal}"'
    protocol = protocol_dsl.loads(SCALE + f"inclusion I1: {text}\n")
    a, b = (NYHA.index(literal), NYHA.index(value)) if left else (NYHA.index(value), NYHA.index(literal))
    assert _values(protocol, {"nyha": value}) == [OPS[op](a, b)]


@settings(max_examples=60, deadline=None)
@given(op=st.sampled_from(sorted(OPS)), a=st.sampled_from(NYHA), b=st.sampled_from(NYHA))
def test_an_ordering_of_two_inputs_on_one_scale_agrees_with_their_positions(op, a, b):
    protocol = protocol_dsl.loads(SCALE + f"inclusion I1: after {op} nyha\n")
    assert _values(protocol, {"after": a, "nyha": b}) == [OPS[op](NYHA.index(a), NYHA.index(b))]
    assert _values(protocol, {"after": a}) == [None]


@settings(max_examples=60, deadline=None)
@given(members=st.lists(st.integers(-3, 6), min_size=1, max_size=4), value=st.integers(0, 5),
       negated=st.booleans(), as_float=st.booleans())
def test_a_set_of_numbers_agrees_with_python_membership(members, value, negated, as_float):
    word = "not in" if negated else "in"
    protocol = protocol_dsl.loads(ECOG + f"inclusion I1: ecog {word} {{{', '.join(map(str, members))}}}\n")
    given_value = float(value) if as_float else value  # 2.0 is the whole number 2
    assert _values(protocol, {"ecog": given_value}) == [(value in members) != negated]


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=0, max_value=5, allow_nan=False).filter(lambda x: not units.round12(x).is_integer()))
def test_a_number_that_is_not_whole_is_refused_by_both_paths(value):
    # Whole is decided at 12 significant digits, as every boundary is: 1.9999999999999991 is 2.
    protocol = protocol_dsl.loads(ECOG + "inclusion I1: ecog <= 1\n")
    with pytest.raises(protocol_dsl.DataError) as caught:
        protocol.evaluate({"ecog": value})
    assert caught.value.problems[0].startswith("ecog: expected a whole number, got ")


# ----------------------------------------------------------------- syntax
@pytest.mark.parametrize("text", [
    ECOG + "inclusion I1: ecog in {0, -1, 2.5}\n",
    "input age: integer years range 0..130 \"Age\"\ninclusion I1: age >= 18 years\n",
    SCALE + 'inclusion I1: "II" <= nyha <= "III" and nyha not in {"IV"}\n',
])
def test_fmt_is_canonical_and_keeps_the_meaning(text):
    assert format_text(text) == text
    assert parse(format_text(text)) == parse(text)


def test_integer_and_ordered_are_still_names():
    protocol = protocol_dsl.loads("input integer: number\ninput ordered: boolean\ninclusion I1: integer > 1 and ordered\n")
    assert protocol.evaluate({"integer": 2, "ordered": True}).status.value == "eligible"


# ----------------------------------------------------------------- messages
@pytest.mark.parametrize(("text", "message"), [
    ('input sex: one of "female", "male"\ninclusion I1: sex < "male"\n',
     "'<' orders numbers and ordered scales, but 'sex' is declared with 'one of', whose values have no order: "
     "declare it 'ordered \"female\", \"male\"' if they are ordered as listed"),
    ('input a: ordered "I", "II"\ninput b: ordered "I", "II", "III"\ninclusion I1: a < b\n',
     "'a' and 'b' are different ordered scales: their values cannot be ordered against each other"),
    (SCALE + 'inclusion I1: nyha >= "V"\n',
     "\"V\" is not a value of 'nyha', which is one of \"I\", \"II\", \"III\", \"IV\" (did you mean \"IV\"?)"),
    ('input c: boolean\n' + SCALE + 'inclusion I1: nyha < (if c then "I" else "V")\n',
     "\"V\" is not a value of 'nyha', which is one of \"I\", \"II\", \"III\", \"IV\" (did you mean \"IV\"?)"),
    (SCALE + "inclusion I1: nyha in {1, 2}\n",
     "'in' with numbers tests a number, but this is a category (nyha): its set holds its values as quoted texts, "
     "such as {\"I\", \"II\"}"),
    (ECOG + 'inclusion I1: ecog in {"1", "2"}\n',
     "'in' tests a category, but this is a plain number: write the numbers without quotes, {1, 2}"),
    (ECOG + "inclusion I1: ecog in {1 mg}\n",
     "numbers in a set have no unit: 1 mg is a value in mg; compare a value in a unit with <, <=, >= or = instead"),
])
def test_check_messages(text, message):
    with pytest.raises(protocol_dsl.RulesError) as caught:
        protocol_dsl.loads(text)
    assert [d.message for d in caught.value.diagnostics if d.severity == "error"] == [message]


def test_a_converted_value_must_be_whole():
    protocol = protocol_dsl.loads("input age: integer years range 0..130\ninclusion I1: age >= 18 years\n")
    assert protocol.evaluate({"age": {"value": 216, "unit": "months"}}).status.value == "eligible"
    with pytest.raises(protocol_dsl.DataError) as caught:
        protocol.evaluate({"age": {"value": 18, "unit": "months"}})
    assert caught.value.problems == ["age: expected a whole number of years, got 18 months (1.5 years)"]


# ----------------------------------------------------------------- deep checks and example
def test_contradictions_of_whole_numbers_and_of_scales_are_found():
    text = ECOG + SCALE + ("inclusion I1: ecog > 1 and ecog < 2\ninclusion I2: nyha >= \"III\" and nyha <= \"II\"\n"
                           "inclusion I3: ecog <= 1 and ecog >= 2\ninclusion I4: after < nyha\n")
    found = {(d.code, d.line) for d in deep_diagnostics(protocol_dsl.loads(text).checked)}
    assert {("W201", 4), ("W201", 5), ("W201", 6)} <= found
    assert ("W201", 7) not in found


def test_example_patients_take_whole_numbers_and_scale_values():
    text = ECOG + SCALE + 'inclusion I1: ecog <= 1.5\ninclusion I2: nyha > "II"\nexclusion E1: after >= nyha\n'
    protocol = protocol_dsl.loads(text)
    patient, core = eligible_patient(protocol.checked)
    assert core == [] and isinstance(patient["ecog"], int) and patient["ecog"] <= 1
    assert patient["nyha"] in ("III", "IV") and NYHA.index(patient["after"]) < NYHA.index(patient["nyha"])
    for miss in near_misses(protocol.checked).values():
        assert miss is not None and isinstance(miss["ecog"], int)
        protocol.evaluate(miss)  # valid data


# ----------------------------------------------------------------- reasons, SQL, screening, coverage
def test_reasons_of_orderings_and_sets():
    text = ECOG + SCALE + 'inclusion I1: "II" <= nyha <= "III"\ninclusion I2: ecog not in {0, 1}\ninclusion I3: after < nyha\n'
    result = protocol_dsl.loads(text).evaluate({"ecog": 1, "nyha": "IV", "after": "IV"})
    assert [c.reason for c in result.criteria.values()] == [
        'nyha "IV" > "III"', "ecog 1 is in {0, 1}", 'after "IV" >= nyha "IV"']


def test_an_ordering_with_a_value_is_membership_in_sql():
    sql = protocol_dsl.loads(SCALE + 'inclusion I1: nyha >= "III"\n').to_sql()
    assert "IN ('III', 'IV')" in sql


def test_screening_rejects_a_number_that_is_not_whole():
    protocol = protocol_dsl.loads(ECOG + SCALE + 'inclusion I1: ecog <= 1 and nyha >= "II"\n')
    cohort = pa.table({"ecog": ["1", "1.5", "2.0", "1"], "nyha": ["II", "II", "III", "V"], "after": ["I"] * 4})
    screening = screen(protocol, cohort)
    assert screening.rejects.to_pylist() == [
        {"_row": 2, "problem": "ecog: expected a whole number, got 1.5"},
        {"_row": 4, "problem": "nyha: V is not one of I, II, III, IV"},
    ]
    assert [r["status"] for r in screening.results.to_pylist()] == ["eligible", "ineligible"]
    floats = screen(protocol, pa.table({"ecog": [1.0, 0.5], "nyha": ["II", "II"]}))
    assert floats.rejects.to_pylist() == [{"_row": 2, "problem": "ecog: expected a whole number, got 0.5"}]


def test_coverage_of_an_ordering_asks_for_the_value_across():
    protocol = protocol_dsl.loads(ECOG + SCALE + 'inclusion I1: nyha >= "III"\ninclusion I2: ecog <= 1.5\n'
                                  'inclusion I3: "II" < after\n')
    results = [("a", protocol.evaluate({"nyha": "III", "ecog": 1, "after": "III"}))]
    coverage = measure(protocol, results)
    hints = {b.label: b.hint() for b in coverage.boundaries if not b.complete}
    assert hints == {'nyha >= "III"': 'a case at "II"', "ecog <= 1.5": "a case at 2",
                     '"II" < after': 'a case exactly on "II"'}
    results.append(("b", protocol.evaluate({"nyha": "II", "ecog": 2, "after": "II"})))
    assert all(b.complete for b in measure(protocol, results).boundaries)
    assert json.loads(json.dumps(measure(protocol, results).to_dict()))["boundaries"][0]["threshold"] == "III"


def test_eval_prints_the_whole_number_problem(tmp_path, capsys):
    (tmp_path / "p.rules").write_text(ECOG + "inclusion I1: ecog <= 1\n")
    (tmp_path / "p.json").write_text('{"ecog": 1.5}')
    assert main(["eval", str(tmp_path / "p.rules"), str(tmp_path / "p.json")]) == 1
    assert "ecog: expected a whole number, got 1.5" in capsys.readouterr().err


def test_spark_screens_integers_and_scales_as_duckdb_does():
    pytest.importorskip("pyspark")
    import shutil

    if not shutil.which("java"):
        pytest.skip("Spark needs Java")
    protocol = protocol_dsl.loads(ECOG + SCALE + 'inclusion I1: ecog <= 1 and nyha >= "II" and after < nyha\n')
    cohort = pa.table({"ecog": ["1", "1.5", "2.0", "1"], "nyha": ["II", "II", "III", "V"], "after": ["I"] * 4})
    spark, duck = screen(protocol, cohort, engine="spark"), screen(protocol, cohort)
    assert spark.rejects.to_pylist() == duck.rejects.to_pylist()
    assert spark.results.to_pylist() == duck.results.to_pylist()


def test_a_lone_expression_may_test_a_set_of_numbers():
    expression = protocol_dsl.compile_expression("score in {0, 1} and grade >= 2")
    assert expression.evaluate({"score": 1, "grade": 3}) is True
    assert expression.evaluate({"score": 2, "grade": 3}) is False


def test_a_number_within_twelve_digits_of_a_whole_one_is_that_whole_number():
    protocol = protocol_dsl.loads(ECOG + "inclusion I1: ecog <= 1\n")
    assert protocol.evaluate({"ecog": 1.9999999999999991}).criteria["I1"].value is False
    assert protocol.evaluate({"ecog": 1.0000000000000002}).criteria["I1"].value is True
