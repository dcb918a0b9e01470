"""Properties of the whole pipeline, each stated in its test's docstring."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import protocol_dsl
from protocol_dsl import RulesError, compile_expression

from strategies import completions, kleene_values, patients, protocols, token_text

# Text fuzzing is cheap; generated protocols cost a few milliseconds each.
FAST = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ANY_TEXT = st.one_of(st.text(max_size=200), token_text())


# ----------------------------------------------------------------- arbitrary text
def _load_or_rules_error(function, text):
    try:
        return function(text), None
    except RulesError as error:
        return None, error


@FAST
@given(st.text(max_size=300))
def test_loads_of_any_text_returns_a_protocol_or_raises_rules_error(text):
    """`loads` of any text returns a Protocol or raises RulesError, nothing else."""
    result, error = _load_or_rules_error(protocol_dsl.loads, text)
    assert isinstance(result, protocol_dsl.Protocol) or error.diagnostics


@FAST
@given(token_text())
def test_loads_of_token_soup_returns_a_protocol_or_raises_rules_error(text):
    """`loads` of text made of the language's own tokens returns a Protocol or raises RulesError."""
    result, error = _load_or_rules_error(protocol_dsl.loads, text)
    assert isinstance(result, protocol_dsl.Protocol) or error.diagnostics


@FAST
@given(ANY_TEXT)
def test_compile_expression_of_any_text_returns_an_expression_or_raises_rules_error(text):
    """`compile_expression` of any text returns an Expression or raises RulesError, nothing else."""
    result, error = _load_or_rules_error(compile_expression, text)
    assert isinstance(result, protocol_dsl.Expression) or error.diagnostics


def _assert_well_placed(diagnostic, text):
    start, end = diagnostic.span.start, diagnostic.span.end
    assert 0 <= start <= end <= len(text), (diagnostic, len(text))
    assert diagnostic.line >= 1 and diagnostic.column >= 1
    assert diagnostic.end_line >= diagnostic.line
    for offset, line, column in ((start, diagnostic.line, diagnostic.column), (end, diagnostic.end_line, diagnostic.end_column)):
        assert line == text.count("\n", 0, offset) + 1
        assert column == offset - (text.rfind("\n", 0, offset) + 1) + 1
    shown = diagnostic.to_dict()
    assert (shown["line"], shown["column"]) == (diagnostic.line, diagnostic.column)
    head, source_line, carets = diagnostic.format().split("\n")
    assert head.startswith(f"{diagnostic.file}:{diagnostic.line}:{diagnostic.column}: {diagnostic.severity}[{diagnostic.code}]: ")
    assert source_line == text.split("\n")[diagnostic.line - 1]
    assert carets.strip(" \t") and set(carets.strip(" \t")) == {"^"}


@FAST
@given(ANY_TEXT)
def test_every_diagnostic_of_a_file_lies_within_its_text(text):
    """Every diagnostic (error or warning) of a file has a span inside the text and a matching line and column."""
    protocol, error = _load_or_rules_error(protocol_dsl.loads, text)
    diagnostics = error.diagnostics if error else protocol.warnings
    for diagnostic in diagnostics:
        _assert_well_placed(diagnostic, text)


@FAST
@given(ANY_TEXT)
@example("0\nA")
@example("x > 40\nyears")
def test_every_diagnostic_of_an_expression_lies_within_its_text(text):
    """Every diagnostic of a lone expression is placed inside the expression's own text."""
    expression, error = _load_or_rules_error(compile_expression, text)
    diagnostics = error.diagnostics if error else expression.warnings
    for diagnostic in diagnostics:
        _assert_well_placed(diagnostic, text)


_DEFINITION_CHAIN = "\n".join(
    ["input x: boolean", "define d0 = x"]
    + [f"define d{i} = not d{i - 1}" for i in range(1, 1000)]
    + ["inclusion I1: d999"]
)


@pytest.mark.parametrize(
    "text",
    [
        "not " * 1000 + "x",
        "(" * 1000 + "x" + ")" * 1000 + " > 1",
        " + ".join(["x"] * 1000) + " > 1",
        "input x: number\ninclusion I1: " + " + ".join(["x"] * 400) + " > 1",
        _DEFINITION_CHAIN,
    ],
    ids=["1000 nots", "1000 parentheses", "1000-term sum", "400-term sum in a file", "1000 chained definitions"],
)
def test_deep_nesting_is_refused_or_accepted_but_never_crashes(text):
    """A deeply nested expression loads (and evaluates) or raises RulesError, never RecursionError."""
    try:
        if text.startswith("input"):
            protocol = protocol_dsl.loads(text)
            protocol.evaluate({"x": True if "boolean" in text else 1}).to_dict()
        else:
            compile_expression(text).evaluate({"x": True if text.startswith("not") else 1})
    except RulesError:
        pass


# ----------------------------------------------------------------- generated protocols
def _expected_status(result) -> str:
    passes = []
    for criterion in result.criteria.values():
        if criterion.value is None:
            passes.append(None)
        else:
            passes.append(criterion.value if criterion.kind == "inclusion" else not criterion.value)
    if False in passes:
        return "ineligible"
    if None in passes:
        return "undetermined"
    return "eligible"


@st.composite
def protocol_and_patient(draw, allow_known=True):
    generated = draw(protocols(allow_known=allow_known))
    return generated, draw(patients(generated))


@SLOW
@given(protocol_and_patient())
def test_generated_protocols_load_and_evaluate_consistently(case):
    """A well-typed protocol loads, and any valid patient evaluates to a status and missing list as SPEC 2 defines them."""
    generated, data = case
    protocol = protocol_dsl.loads(generated.text)
    assert [d for d in protocol.warnings if d.code == "W101"] == []  # every literal has its unit
    result = protocol.evaluate(data)
    assert result.warnings == []
    assert set(result.criteria) == set(generated.reads)
    assert result.status == _expected_status(result)
    assert result.status.value == _expected_status(result)

    absent = {item.name for item in generated.inputs if data.get(item.name) is None}
    assert result.missing == sorted(set(result.missing))
    assert set(result.missing) <= absent
    unknown_reads = set()
    for ident, criterion in result.criteria.items():
        assert criterion.value in (True, False, None)
        if criterion.value is None:
            read_and_absent = sorted(generated.reads[ident] & absent)
            assert criterion.missing == read_and_absent
            unknown_reads |= set(read_and_absent)
        else:
            assert criterion.missing == []
    assert result.missing == sorted(unknown_reads)


@SLOW
@given(st.data())
def test_a_decided_criterion_keeps_its_value_when_data_is_added(data):
    """A criterion that is true or false on partial data keeps that value for every completion of the data (no known())."""
    generated = data.draw(protocols(allow_known=False))
    protocol = protocol_dsl.loads(generated.text)
    partial = data.draw(patients(generated))
    full = data.draw(completions(generated, partial))
    before, after = protocol.evaluate(partial), protocol.evaluate(full)
    for ident, criterion in before.criteria.items():
        if not generated.may_be_undefined:  # without domain errors, complete data decides everything
            assert after.criteria[ident].value is not None
        if criterion.value is not None:
            assert after.criteria[ident].value == criterion.value, ident
    assert after.missing == []
    if before.status.value != "undetermined":
        assert after.status == before.status


@SLOW
@given(protocol_and_patient())
def test_traced_evaluation_agrees_with_the_fast_one(case):
    """Each criterion's trace has the criterion's value, and `to_dict` is strict JSON holding the same values."""
    generated, data = case
    result = protocol_dsl.loads(generated.text).evaluate(data)
    for criterion in result.criteria.values():
        assert criterion.trace.value == criterion.value
        assert isinstance(criterion.reason, str) and criterion.reason
    shown = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert shown["status"] == result.status.value
    assert [c["id"] for c in shown["criteria"]] == list(result.criteria)
    for entry in shown["criteria"]:
        assert entry["value"] == result.criteria[entry["id"]].value
        assert entry["trace"]["value"] == entry["value"]
        assert entry["missing"] == result.criteria[entry["id"]].missing
    assert shown["missing"] == result.missing
    assert isinstance(result.explain(), str)


# ----------------------------------------------------------------- chains
COMPARISONS = ("<", "<=", ">", ">=", "=", "!=")
NUMBERS_OR_UNKNOWN = st.one_of(
    st.none(),
    st.integers(-1000, 1000),
    st.decimals(-1000, 1000, places=2).map(float),
    st.floats(allow_nan=False, allow_infinity=False),
)


@FAST
@given(
    st.sampled_from(COMPARISONS),
    st.sampled_from(COMPARISONS),
    NUMBERS_OR_UNKNOWN,
    NUMBERS_OR_UNKNOWN,
    NUMBERS_OR_UNKNOWN,
)
def test_a_chain_means_the_conjunction_of_its_pairs(first, second, a, b, c):
    """`a OP b OP c` has the value of `a OP b and b OP c` for any numbers or unknowns."""
    values = {"a": a, "b": b, "c": c}
    chained = compile_expression(f"a {first} b {second} c").evaluate(values)
    paired = compile_expression(f"a {first} b and b {second} c").evaluate(values)
    assert chained is paired


# ----------------------------------------------------------------- decimals
DECIMALS = st.decimals(min_value=-(10**6), max_value=10**6, places=6, allow_nan=False, allow_infinity=False)
POSITIVE = st.decimals(min_value=Decimal("0.000001"), max_value=1000, places=6)


def _text(d: Decimal) -> str:
    return format(d, "f")


@FAST
@given(DECIMALS)
def test_a_decimal_is_its_own_boundary(d):
    """A number compared with the same decimal written out is equal to it: `>=` holds, `>` does not."""
    x = {"x": float(d)}
    literal = _text(d)
    assert compile_expression(f"x >= {literal}").evaluate(x) is True
    assert compile_expression(f"x <= {literal}").evaluate(x) is True
    assert compile_expression(f"x = {literal}").evaluate(x) is True
    assert compile_expression(f"x > {literal}").evaluate(x) is False
    assert compile_expression(f"x < {literal}").evaluate(x) is False
    assert compile_expression(f"x != {literal}").evaluate(x) is False


@FAST
@given(POSITIVE, st.integers(1, 1000))
@example(Decimal("0.1"), 3)
def test_scaling_by_a_whole_number_is_decided_on_the_decimals(d, k):
    """`x * k` and `k * d` written out are equal when the decimals say so (0.1 * 3 is 0.3)."""
    product = _text(d * k)
    x = {"x": float(d)}
    assert compile_expression(f"x * {k} >= {product}").evaluate(x) is True
    assert compile_expression(f"x * {k} > {product}").evaluate(x) is False
    assert compile_expression(f"x * {k} >= {k} * {_text(d)}").evaluate(x) is True
    assert compile_expression(f"{k} * x < {product}").evaluate(x) is False


@FAST
@given(POSITIVE, POSITIVE)
@example(Decimal("0.1"), Decimal("0.2"))
@example(Decimal("1.2"), Decimal("1.5"))
def test_sums_and_products_are_decided_on_the_decimals(a, b):
    """`x + y` against the decimal sum, and `c > f * u` with c the decimal product, are decided as a person would."""
    values = {"x": float(a), "y": float(b)}
    total = _text(a + b)
    assert compile_expression(f"x + y >= {total}").evaluate(values) is True
    assert compile_expression(f"x + y = {total}").evaluate(values) is True
    assert compile_expression(f"x + y > {total}").evaluate(values) is False
    check = {"c": float(a * b), "f": float(a), "u": float(b)}
    assert compile_expression("c > f * u").evaluate(check) is False
    assert compile_expression("c >= f * u").evaluate(check) is True
    assert compile_expression("c = f * u").evaluate(check) is True


def test_the_spec_examples_of_decimal_boundaries():
    """INR 1.5 meets `INR >= 1.5`; creatinine 1.8 is not `> 1.5 * ULN` with ULN 1.2."""
    assert compile_expression("INR >= 1.5").evaluate({"INR": 1.5}) is True
    assert compile_expression("creatinine > 1.5 * ULN").evaluate({"creatinine": 1.8, "ULN": 1.2}) is False


_BOUNDARIES = (
    "input age: number years range 0..130\n"
    "input TB: number umol/L range 0..1500\n"
    "inclusion AGE_GE: age >= 18 years\n"
    "inclusion AGE_GT: age > 18 years\n"
    "inclusion TB_GE: TB >= 171 umol/L\n"
    "inclusion TB_GT: TB > 171 umol/L\n"
)


@FAST
@given(st.integers(0, 130), st.decimals(min_value=0, max_value=1500, places=3))
@example(18, Decimal(171))
def test_converted_values_meet_their_boundaries_exactly(years, micromoles):
    """A value given in another unit (216 months, 0.171 mmol/L) sits exactly on the boundary written in the declared unit."""
    protocol = protocol_dsl.loads(
        _BOUNDARIES.replace("18 years", f"{years} years").replace("171 umol/L", f"{_text(micromoles)} umol/L")
    )
    result = protocol.evaluate(
        {
            "age": {"value": 12 * years, "unit": "months"},
            "TB": {"value": float(micromoles / 1000), "unit": "mmol/L"},
        }
    )
    values = {ident: c.value for ident, c in result.criteria.items()}
    assert values == {"AGE_GE": True, "AGE_GT": False, "TB_GE": True, "TB_GT": False}


# Exact sizes of the SPEC's units within each dimension, in a base unit of that dimension.
# (rules spelling, patient-data spelling, size)
_UNIT_SIZES = {
    "time": (
        ("years", "years", Fraction(31557600)), ("months", "months", Fraction(2629800)),
        ("weeks", "weeks", Fraction(604800)), ("days", "days", Fraction(86400)), ("d", "d", Fraction(86400)),
        ("h", "h", Fraction(3600)), ("min", "min", Fraction(60)), ("s", "s", Fraction(1)),
    ),
    "mass concentration": (
        ("g/L", "g/L", Fraction(1)), ("g/dL", "g/dL", Fraction(10)),
        ("mg/dL", "mg/dL", Fraction(1, 100)), ("mg/L", "mg/L", Fraction(1, 1000)),
    ),
    "substance concentration": (
        ("mmol/L", "mmol/L", Fraction(1, 1000)), ("umol/L", "umol/L", Fraction(1, 10**6)),
        ("µmol/L", "µmol/L", Fraction(1, 10**6)),
    ),
    "count": (
        ("10^9/L", "10^9/L", Fraction(10**9)), ("'10*9/L'", "10*9/L", Fraction(10**9)),
        ("10^12/L", "10^12/L", Fraction(10**12)), ("'/uL'", "/uL", Fraction(10**6)), ("'/mm3'", "/mm3", Fraction(10**6)),
    ),
    "mass": (("kg", "kg", Fraction(1000)), ("g", "g", Fraction(1))),
    "length": (("m", "m", Fraction(100)), ("cm", "cm", Fraction(1))),
}


@st.composite
def _same_amount_in_two_units(draw):
    """(declared unit, given unit, n, m): n of the given unit is exactly m of the declared one, both whole."""
    sizes = _UNIT_SIZES[draw(st.sampled_from(sorted(_UNIT_SIZES)))]
    declared, given = draw(st.permutations(sizes))[:2]
    ratio = given[2] / declared[2]  # one given unit, in declared units
    n = draw(st.integers(1, 400)) * ratio.denominator
    return declared, given, n, int(n * ratio)


@settings(max_examples=200, deadline=None)
@given(_same_amount_in_two_units())
@example((("weeks", "weeks", Fraction(604800)), ("days", "days", Fraction(86400)), 7, 1))
@example((("h", "h", Fraction(3600)), ("min", "min", Fraction(60)), 180, 3))
@example((("years", "years", Fraction(31557600)), ("days", "days", Fraction(86400)), 2922, 8))
def test_an_amount_given_in_another_unit_sits_exactly_on_its_boundary(case):
    """n of one unit equal to m of another (7 days, 1 weeks) meets `>= m`, `<= m` and not `> m`, as data and as literals."""
    declared, given, n, m = case
    protocol = protocol_dsl.loads(
        f"input t: number {declared[0]}\n"
        f"inclusion GE: t >= {m} {declared[0]}\ninclusion LE: t <= {m} {declared[0]}\n"
        f"inclusion GT: t > {m} {declared[0]}\n"
        f"inclusion LIT_GE: t >= {n} {given[0]}\ninclusion LIT_LE: t <= {n} {given[0]}\n"
        f"inclusion LIT_LT: t < {n} {given[0]}\n"
    )
    expected = {"GE": True, "LE": True, "GT": False, "LIT_GE": True, "LIT_LE": True, "LIT_LT": False}
    for data in ({"t": {"value": n, "unit": given[1]}}, {"t": m}):
        result = protocol.evaluate(data)
        assert {ident: c.value for ident, c in result.criteria.items()} == expected, (data, result.values)


def test_an_overflowing_computation_is_unknown_or_right_but_never_noise():
    """A computation that overflows a float is unknown (or correct), never equal to everything, and its trace is JSON."""
    protocol = protocol_dsl.loads(
        "input x: number\n"
        "inclusion EQ: x * x = 1\ninclusion GT: x * x > 1\n"
        "inclusion SIGN: x * x - x * x >= 0 or x * x - x * x < 0\n"
    )
    result = protocol.evaluate({"x": 1e200})
    assert result.criteria["EQ"].value in (False, None)
    assert result.criteria["GT"].value in (True, None)
    assert result.criteria["SIGN"].value in (True, None)
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    "text, data, ident",
    [
        ("input a: number\ninput b: number\ninclusion I1: a > b\n", {}, "I1"),
        ("input a: number\ninput b: number\ninclusion I1: a + b > 1\n", {}, "I1"),
        ("input a: number\ninput b: number\ninclusion I1: max(a, 1) * b > 1\n", {}, "I1"),
    ],
)
def test_the_reason_of_an_unknown_criterion_names_every_missing_input(text, data, ident):
    """The reason of an unknown criterion made of arithmetic and comparisons names each of its missing inputs."""
    criterion = protocol_dsl.loads(text).evaluate(data).criteria[ident]
    assert criterion.value is None
    for name in criterion.missing:
        assert name in criterion.reason, (name, criterion.reason)


def test_reasons_write_category_values_as_the_rules_file_does():
    """A category value in a reason is quoted as the language quotes it, so `a"b` reads "a\\"b"."""
    protocol = protocol_dsl.loads('input c: one of "a\\"b", "x"\ninclusion I1: c = "x"\n')
    assert protocol.evaluate({"c": 'a"b'}).criteria["I1"].reason == 'c "a\\"b" != "x"'


# ----------------------------------------------------------------- functions
@FAST
@given(st.decimals(min_value=-(10**6), max_value=10**6, places=4), st.integers(0, 3))
def test_round_is_half_away_from_zero_on_the_decimals(d, digits):
    """`round(x, k)` rounds the decimal as written, halves away from zero (2.5 -> 3, -0.125 -> -0.13)."""
    expected = d.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    got = compile_expression(f"round(x, {digits})").evaluate({"x": float(d)})
    assert got == float(expected)


@settings(max_examples=50, deadline=None)
@given(st.one_of(st.none(), st.integers(-100, 100), st.floats(allow_nan=False, allow_infinity=False)))
def test_known_is_never_unknown(x):
    """`known(x)` is true exactly when x has a value, and never unknown."""
    assert compile_expression("known(x)").evaluate({"x": x}) is (x is not None)
    assert compile_expression("not known(x)").evaluate({"x": x}) is (x is None)


# ----------------------------------------------------------------- Kleene logic
def _rank(v):
    return {False: 0, None: 1, True: 2}[v]


def _kleene_and(a, b):
    return min(a, b, key=_rank)


def _kleene_or(a, b):
    return max(a, b, key=_rank)


def _kleene_not(a):
    return None if a is None else not a


@settings(max_examples=60, deadline=None)
@given(kleene_values(), kleene_values())
def test_and_or_are_commutative_and_obey_de_morgan(a, b):
    """`and`/`or` are Kleene's: commutative, with De Morgan's laws, for true/false/unknown."""
    values = {"a": a, "b": b}

    def value(text):
        return compile_expression(text).evaluate(values)

    assert value("a and b") is value("b and a") is _kleene_and(a, b)
    assert value("a or b") is value("b or a") is _kleene_or(a, b)
    assert value("not (a and b)") is value("not a or not b")
    assert value("not (a or b)") is value("not a and not b")
    assert value("not a") is _kleene_not(a)
    assert value("not not a") is a


@settings(max_examples=150, deadline=None)
@given(st.lists(kleene_values(), min_size=1, max_size=5), st.integers(0, 6))
def test_at_least_counts_true_and_unknown_operands(operands, needed):
    """`at least N of (...)` is true for >= N true, false when true + unknown < N, else unknown."""
    names = [f"v{i}" for i in range(len(operands))]
    values = dict(zip(names, operands))
    got = compile_expression(f"at least {needed} of ({', '.join(names)})").evaluate(values)
    true, unknown = operands.count(True), operands.count(None)
    expected = True if true >= needed else False if true + unknown < needed else None
    assert got is expected


@settings(max_examples=60, deadline=None)
@given(kleene_values(), kleene_values(), kleene_values())
def test_if_with_an_unknown_condition_is_known_only_when_both_branches_agree(c, a, b):
    """`if C then A else B` picks a branch; with C unknown it is the branches' common value, or unknown."""
    values = {"c": c, "a": a, "b": b}
    got = compile_expression("if c then a and true else b and true").evaluate(values)
    if c is None:
        expected = a if (a is not None and a == b) else None
    else:
        expected = a if c else b
    assert got is expected
    without_else = compile_expression("if c then a and true").evaluate(values)
    if c is None:
        expected = True if a is True else None
    else:
        expected = a if c else True
    assert without_else is expected
