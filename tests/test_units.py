"""Unit parsing and conversion: tables of spellings, factors and messages, plus properties."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol_dsl
from protocol_dsl import units
from protocol_dsl.units import (
    DIMENSIONLESS, KNOWN_UNITS, Unit, UnitError, compatible, conversion_factor, divide,
    multiply, parse_unit, power, round12,
)

# Every spelling the language promises, with the display text it keeps.
SPELLINGS = [
    ("%", "%"), ("years", "years"), ("year", "year"), ("months", "months"),
    ("weeks", "weeks"), ("days", "days"), ("d", "d"), ("h", "h"), ("min", "min"), ("s", "s"),
    ("g/L", "g/L"), ("g/dL", "g/dL"), ("mg/dL", "mg/dL"), ("mg/L", "mg/L"),
    ("umol/L", "umol/L"), ("\u00b5mol/L", "umol/L"), ("\u03bcmol/L", "umol/L"),
    ("mmol/L", "mmol/L"), ("mEq/L", "mEq/L"), ("IU/L", "IU/L"), ("U/L", "U/L"),
    ("IU/mL", "IU/mL"), ("10^9/L", "10^9/L"), ("10*9/L", "10*9/L"), ("10^12/L", "10^12/L"),
    ("/uL", "/uL"), ("/mm3", "/mm3"), ("mL/min", "mL/min"), ("mL/min/1.73m2", "mL/min/1.73m2"),
    ("kg", "kg"), ("g", "g"), ("cm", "cm"), ("m", "m"), ("kg/m2", "kg/m2"), ("mmHg", "mmHg"),
    ("ng/mL", "ng/mL"), ("copies/mL", "copies/mL"), ("umol/L/d", "umol/L/d"), ("g/d", "g/d"),
    ("[iU]/L", "[iU]/L"), ("10*3/uL", "10*3/uL"), ("{copies}/mL", "{copies}/mL"),
    ("m2", "m2"), ("mm3", "mm3"), ("mm[Hg]", "mm[Hg]"), ("meq/L", "meq/L"),
    ("mL / min", "mL/min"), (" kg/m\u00b2 ", "kg/m2"), ("mg{creat}/dL", "mg{creat}/dL"),
    ("s-1", "s-1"), ("m^2", "m^2"), ("(kg/m2)^0.5", "(kg/m2)^0.5"),
]


@pytest.mark.parametrize("text, shown", SPELLINGS)
def test_spelling_parses_and_keeps_its_text(text, shown):
    unit = parse_unit(text)
    assert unit.text == shown == str(unit)
    assert parse_unit(unit.text) == unit


@pytest.mark.parametrize("text", KNOWN_UNITS)
def test_documented_units_parse(text):
    assert parse_unit(text).text == text


def test_every_vocabulary_name_is_known_to_pint():
    for name in units._all_names():
        # A conversion to a plain number consults pint for every name (None is fine).
        conversion_factor(parse_unit(name), DIMENSIONLESS)


# (source, target, factor): value_in_target = value_in_source * factor, exactly after rounding.
CONVERSIONS = [
    ("g/dL", "g/L", 10.0), ("mg/dL", "mg/L", 10.0), ("umol/L", "mmol/L", 0.001),
    ("mmol/L", "umol/L", 1000.0), ("IU/L", "U/L", 1.0), ("IU/L", "[iU]/L", 1.0),
    ("IU/mL", "IU/L", 1000.0), ("mEq/L", "meq/L", 1.0), ("mEq/L", "Eq/L", 0.001),
    ("10^9/L", "/uL", 1000.0), ("10*9/L", "10^9/L", 1.0), ("10*3/uL", "10^9/L", 1.0),
    ("/uL", "/mm3", 1.0), ("10^9/L", "/mm3", 1000.0), ("10^12/L", "10^9/L", 1000.0),
    ("years", "months", 12.0), ("year", "years", 1.0), ("months", "years", 0.0833333333333),
    ("d", "h", 24.0), ("days", "d", 1.0), ("weeks", "days", 7.0), ("h", "min", 60.0),
    ("min", "s", 60.0), ("%", "", 0.01), ("", "%", 100.0),
    ("umol/L/d", "umol/L/h", 0.0416666666667), ("g/d", "mg/h", 41.6666666667),
    ("kg", "g", 1000.0), ("m", "cm", 100.0), ("cm3", "mL", 1.0), ("mm3", "uL", 1.0),
    ("copies/mL", "/mL", 1.0), ("{copies}/mL", "copies/mL", 1.0), ("copies/mL", "copies/L", 1000.0),
    ("ng/mL", "ug/L", 1.0), ("mL/min/1.73m2", "mL/min/m2", 0.578034682081),
    ("mL/min", "L/h", 0.06), ("mmHg", "kPa", 0.133322387415), ("mmHg", "mm[Hg]", 1.0),
    ("kg/m2", "g/cm2", 0.1),
]


@pytest.mark.parametrize("src, dst, factor", CONVERSIONS)
def test_conversion_factor(src, dst, factor):
    source = parse_unit(src) if src else DIMENSIONLESS
    target = parse_unit(dst) if dst else DIMENSIONLESS
    # Factors keep 15 significant digits; the table is written to 12.
    assert round12(conversion_factor(source, target)) == factor
    assert compatible(source, target) and compatible(target, source)


INCOMPATIBLE = [
    ("umol/L", "mg/dL"), ("IU/mL", "copies/mL"), ("mEq/L", "mmol/L"), ("kg", "cm"),
    ("IU/L", "umol/min/L"), ("U/L", "mol/s/L"), ("years", "%"), ("mg/dL", ""),
    ("10^9/L", "g/L"), ("mL/min", "mL/min/1.73m2"), ("mmHg", "cm"),
]


@pytest.mark.parametrize("src, dst", INCOMPATIBLE)
def test_incompatible_units_have_no_factor(src, dst):
    source = parse_unit(src)
    target = parse_unit(dst) if dst else DIMENSIONLESS
    assert conversion_factor(source, target) is None
    assert conversion_factor(target, source) is None
    assert not compatible(source, target)


MOLAR = [  # (source, target, molar mass in g/mol, factor), checked to 0.1 %
    ("mg/dL", "umol/L", 584.66, 17.1),  # bilirubin
    ("mg/dL", "umol/L", 113.12, 88.4),  # creatinine
    ("umol/L", "mg/dL", 584.66, 1 / 17.1),
    ("umol/L", "mg/dL", 113.12, 1 / 88.4),
    ("mg/dL", "mmol/L", 180.16, 0.0555),  # glucose
    ("umol/L/d", "mg/dL/d", 584.66, 1 / 17.1),
]


@pytest.mark.parametrize("src, dst, molar_mass, factor", MOLAR)
def test_molar_mass_converts_mass_and_substance(src, dst, molar_mass, factor):
    found = conversion_factor(parse_unit(src), parse_unit(dst), molar_mass)
    assert found == pytest.approx(factor, rel=1e-3)
    assert compatible(parse_unit(src), parse_unit(dst), molar_mass)


def test_molar_mass_does_not_open_other_conversions():
    assert conversion_factor(parse_unit("mEq/L"), parse_unit("mmol/L"), 58.44) is None
    assert conversion_factor(parse_unit("IU/L"), parse_unit("umol/L"), 584.66) is None
    assert conversion_factor(parse_unit("mg/dL"), parse_unit("mg/L"), 584.66) == 10.0


@pytest.mark.parametrize("bad", [0, -5.0, float("nan"), float("inf")])
def test_molar_mass_must_be_positive(bad):
    with pytest.raises(UnitError, match="molar mass must be a positive number"):
        conversion_factor(parse_unit("mg/dL"), parse_unit("umol/L"), bad)


def test_months_and_years_meet_exactly():
    factor = conversion_factor(parse_unit("months"), parse_unit("years"))
    assert round12(216 * factor) == 18.0
    assert conversion_factor(parse_unit("years"), parse_unit("months")) == 12.0


ERRORS = [
    ("", "empty unit (write a unit such as 'mg/dL', or none for a plain number)"),
    ("   ", "empty unit (write a unit such as 'mg/dL', or none for a plain number)"),
    ("umol/l", "unknown unit 'umol/l' (did you mean 'umol/L'?)"),
    ("mg/dl", "unknown unit 'mg/dl' (did you mean 'mg/dL'?)"),
    ("iu/l", "unknown unit 'iu/l' (did you mean 'IU/L'?)"),
    ("yeras", "unknown unit 'yeras' (did you mean 'years'?)"),
    ("furlong", "unknown unit 'furlong'"),
    ("xyz/L", "unknown unit 'xyz' in 'xyz/L'"),
    ("e", "unknown unit 'e'"),
    ("__import__", "unknown unit '__import__'"),
    ("Cel/h", "invalid unit 'Cel/h': a temperature (Cel) stands alone, not inside a compound "
              "unit: a temperature per hour or per litre would be a difference of temperatures"),
    ("G/L", "unknown unit 'G' in 'G/L'"),  # giga per litre: never 'g/L', a mass concentration
    ("bpm", "unknown unit 'bpm'"),  # never 'pm', a picometre
    ("Mg/dL", "unknown unit 'Mg' in 'Mg/dL'"),
    ("log10 Cel", "invalid unit 'log10 Cel': only a linear unit has a logarithm (not a "
                  "temperature or another logarithm)"),
    ("log10 %", "invalid unit 'log10 %': write the logarithm of a unit with a dimension, "
                "such as 'log10 copies/mL'"),
    ("5", "invalid unit '5': a unit needs a name such as 'mg' or '%', not only a number"),
    ("10^9", "invalid unit '10^9': a unit needs a name such as 'mg' or '%', not only a number"),
    ("1/0", "invalid unit '1/0': a factor cannot be 0"),
    ("(((", "invalid unit '(((': expected a unit"),
    ("(mg", "invalid unit '(mg': missing ')'"),
    ("mg)", "invalid unit 'mg)': unexpected ')'"),
    ("mg//L", "invalid unit 'mg//L': expected a unit after '/'"),
    ("mg/", "invalid unit 'mg/': expected a unit after '/'"),
    ("m**99999", "invalid unit 'm**99999': exponent 99999 is too large (at most 24)"),
    ("m2.5", "invalid unit 'm2.5': expected a whole-number exponent"),
    ("(10^24)^24", "invalid unit '(10^24)^24': factor out of range"),
    ("mg$", "invalid unit 'mg$': unexpected '$'"),
    ("((((((((((((m))))))))))))",
     "invalid unit '((((((((((((m))))))))))))': too many parentheses"),
]


@pytest.mark.parametrize("text, message", ERRORS)
def test_error_message(text, message):
    with pytest.raises(UnitError) as caught:
        parse_unit(text)
    assert str(caught.value) == message


def test_equality_is_by_text_and_units_are_hashable():
    assert parse_unit("\u00b5mol/L") == parse_unit("umol/L") == Unit("umol/L")
    assert parse_unit("IU/L") != parse_unit("U/L")  # same quantity, different display
    assert len({parse_unit("mg/dL"), parse_unit("mg/dL"), parse_unit("g/L")}) == 2
    assert parse_unit("umol/L") is parse_unit("umol/L")  # cached


def test_dimensionless_and_percent():
    assert DIMENSIONLESS.text == "" and DIMENSIONLESS.is_dimensionless
    assert not DIMENSIONLESS.is_percent
    percent = parse_unit("%")
    assert percent.is_percent and not percent.is_dimensionless
    assert not parse_unit("copies").is_dimensionless
    assert conversion_factor(DIMENSIONLESS, DIMENSIONLESS) == 1.0


ARITHMETIC = [  # (operation, a, b, expected text, target it converts to, factor)
    (multiply, "mg/dL", "dL", "mg/dL*dL", "mg", 1.0),
    (multiply, "", "mg/dL", "mg/dL", "mg/dL", 1.0),
    (multiply, "kg", "", "kg", "kg", 1.0),
    (multiply, "mg", "10^9/L", "mg*(10^9/L)", "mg/nL", 1.0),
    (multiply, "/d", "d", "", "", 1.0),
    (divide, "umol/L", "d", "umol/L/d", "umol/L/d", 1.0),
    (divide, "mg/dL", "mg/dL", "", "", 1.0),
    (divide, "mL", "cm3", "", "", 1.0),
    (divide, "mg/dL", "g/L", "mg/dL/(g/L)", "", 0.01),
    (divide, "kg", "m2", "kg/m2", "kg/m2", 1.0),
    (divide, "kg", "", "kg", "kg", 1.0),
    (divide, "", "d", "/d", "/h", 1 / 24),
    (divide, "", "/uL", "uL", "uL", 1.0),
    (divide, "%", "%", "", "", 1.0),
]


@pytest.mark.parametrize("operation, a, b, text, target, factor", ARITHMETIC)
def test_multiply_and_divide(operation, a, b, text, target, factor):
    unit_of = lambda t: parse_unit(t) if t else DIMENSIONLESS  # noqa: E731
    result = operation(unit_of(a), unit_of(b))
    assert result.text == text
    assert round12(conversion_factor(result, unit_of(target))) == round12(factor)


def test_factors_keep_enough_digits_for_exact_conversions():
    # 7 days are exactly 1 week, and 180 min exactly 3 h, once read at 12 digits.
    assert round12(7 * conversion_factor(parse_unit("d"), parse_unit("weeks"))) == 1.0
    assert round12(180 * conversion_factor(parse_unit("min"), parse_unit("h"))) == 3.0
    assert conversion_factor(parse_unit("years"), parse_unit("months")) == 12.0


@pytest.mark.parametrize("a, exponent, text", [
    ("kg/m2", 0.5, "(kg/m2)^0.5"), ("m", 2, "m^2"), ("m2", 0.5, "(m2)^0.5"),
    ("d", -1, "d^-1"), ("mg", 1, "mg"), ("mg", 0, ""), ("", 0.5, ""),
])
def test_power(a, exponent, text):
    assert power(parse_unit(a) if a else DIMENSIONLESS, exponent).text == text


def test_square_root_of_area_is_a_length():
    assert conversion_factor(power(parse_unit("m2"), 0.5), parse_unit("cm")) == 100.0
    assert conversion_factor(power(parse_unit("cm"), 2), parse_unit("m2")) == 0.0001


@pytest.mark.parametrize("x, rounded", [
    (0.1 + 0.2, 0.3), (216 / 12, 18.0), (1.8 / 1.2, 1.5), (123456789012345.0, 123456789012000.0),
    (0.0, 0.0), (-2.0000000000001, -2.0), (float("inf"), float("inf")),
])
def test_round12(x, rounded):
    assert round12(x) == rounded


def test_import_does_not_load_pint():
    # The module is loaded from its file, so the package's other modules play no part.
    probe = textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("units_probe", {units.__file__!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert "pint" not in sys.modules, "import loaded pint"
        module.parse_unit("mg/dL")
        module.conversion_factor(module.parse_unit("%"), module.DIMENSIONLESS)
        assert "pint" not in sys.modules, "parsing loaded pint"
        module.conversion_factor(module.parse_unit("g/dL"), module.parse_unit("g/L"))
        assert "pint" in sys.modules
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


UNITISH = st.text(alphabet="0123456789/*.^()%+-{}[]_ mgLdkuIUhsaeqlnminµ²", max_size=30)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=40), UNITISH))
def test_parse_returns_a_unit_or_raises_unit_error(text):
    try:
        unit = parse_unit(text)
    except UnitError:
        return
    assert isinstance(unit, Unit) and unit.text
    assert parse_unit(unit.text) == unit


# Temperatures and logarithms have no products; a computed ratio is a plain ratio, so
# units that are a kind of ratio (mmol/mol) do not come back from a product either.
PLAIN = [u for u in KNOWN_UNITS if u != "%" and parse_unit(u).is_linear and not parse_unit(u)._kind]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PLAIN), st.sampled_from(PLAIN))
def test_product_then_quotient_gives_the_unit_back(a, b):
    first, second = parse_unit(a), parse_unit(b)
    back = divide(multiply(first, second), second)
    assert conversion_factor(back, first) == 1.0
    assert parse_unit(back.text) == back


# ------------------------------------------------------------------ beyond factors
P = parse_unit

NONLINEAR = [  # (source, target, value, converted)
    ("Cel", "[degF]", 38, 100.4), ("[degF]", "Cel", 212, 100), ("degC", "\u00b0F", -40, -40),
    ("\u2103", "degF", 0, 32), ("\u00b0F", "Cel", 98.6, 37),
    ("mmol/mol", "%{HbA1c}", 48, 6.54304), ("mmol/mol{HbA1c}", "%", 53, 7.00044),
    ("%{HbA1c}", "mmol/mol", 6.5, 47.5295146481), ("%", "mmol/mol{HbA1c}", 2.152, 0),
    ("mol/mol", "%{HbA1c}", 0.048, 6.54304),
    ("log10 copies/mL", "copies/mL", 3, 1000), ("copies/mL", "log10 copies/mL", 100000, 5),
    ("log10(copies/mL)", "log10 copies/L", 2, 5), ("log10 IU/mL", "IU/L", 2, 100000),
]


@pytest.mark.parametrize("src, dst, value, converted", NONLINEAR)
def test_conversions_that_are_not_a_factor(src, dst, value, converted):
    how = units.convert(P(src), P(dst))
    assert not how.linear
    assert conversion_factor(P(src), P(dst)) is None  # never a factor, so never a wrong one
    assert round12(how.apply(value)) == pytest.approx(converted, abs=1e-9)


NEW_FACTORS = [
    ("cGy", "Gy", 0.01), ("Gy", "cGy", 100.0), ("[lb_av]", "kg", 0.45359237), ("lb", "g", 453.59237),
    ("[in_i]", "cm", 2.54), ("x10^9/L", "10^9/L", 1.0), ("\u00d710\u2079/L", "/uL", 1000.0),
    ("10\u00b9\u00b2/L", "10^9/L", 1000.0), ("x10*9/L", "10*3/uL", 1.0), ("/HPF", "/[HPF]", 1.0),
    ("mmol/mol", "umol/mol", 1000.0), ("mg/g", "g/kg", 1.0), ("%{HbA1c}", "%", 1.0),
    ("mmol/mol{HbA1c}", "mmol/mol", 1.0),
]


@pytest.mark.parametrize("src, dst, factor", NEW_FACTORS)
def test_new_units_convert_by_a_factor(src, dst, factor):
    assert round12(conversion_factor(P(src), P(dst))) == factor


NOT_ONE_KIND = [
    ("mmol/mol", "%", "mmol/mol (a ratio of amounts of substance) and % (a percentage) are different "
     "kinds of quantity, not a factor apart; for HbA1c, declare the input's unit as '%{HbA1c}' (NGSP) "
     "or 'mmol/mol{HbA1c}' (IFCC) to convert by the IFCC-NGSP master equation"),
    ("mg/g", "%", "mg/g (a ratio of masses) and % (a percentage) are different kinds of quantity, "
     "not a factor apart"),
    ("copies", "", "copies (a count) and a plain number are different kinds of quantity, not a factor apart"),
    ("mL/L", "mmol/mol", "mL/L (a ratio of lengths or volumes) and mmol/mol (a ratio of amounts of "
     "substance) are different kinds of quantity, not a factor apart"),
    ("/[HPF]", "/uL", "/[HPF] and /uL have different dimensions"),
    ("mmol/mol{HbA1c}", "", "mmol/mol{HbA1c} (a ratio of amounts of substance) and a plain number are "
     "different kinds of quantity, not a factor apart"),
    ("Cel", "%", "Cel (a temperature) and % (a percentage) have different dimensions"),
]


@pytest.mark.parametrize("src, dst, why", NOT_ONE_KIND)
def test_units_of_different_kinds_do_not_convert(src, dst, why):
    source, target = P(src), P(dst) if dst else DIMENSIONLESS
    assert units.convert(source, target) is None and units.convert(target, source) is None
    assert units.incompatibility(source, target) == why


def test_a_computed_ratio_is_a_plain_number():
    assert conversion_factor(divide(P("mmol/L"), P("mmol/L")), P("%")) == 100.0
    assert round12(conversion_factor(divide(P("mg/dL"), P("g/L")), DIMENSIONLESS)) == 0.01


@pytest.mark.parametrize("text, expected, suggestion", [
    ("mg/dl", "mg/dL", "mg/dL"), ("Kg", "kg", "kg"), ("lbs", "kg", "lb"),
    ("G/L", "10^9/L", None), ("bpm", "/min", None), ("Mg/dL", "g/L", "mg/dL"),
    ("mg/dl", "umol/L", "mg/dL"),  # a molar mass may convert it
    ("mg/dl", "mmHg", None),
])
def test_suggestions_for_a_known_dimension_keep_it(text, expected, suggestion):
    assert units.suggest_for(text, P(expected)) == suggestion


KINDS = ["%", "mmol/mol", "umol/mol", "mg/g", "g/kg", "mL/L", "copies", "cells", "%{HbA1c}", "mmol/mol{HbA1c}"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(KINDS + [""]), st.sampled_from(KINDS + [""]))
def test_no_two_dimensionless_kinds_convert_by_a_factor(a, b):
    source, target = (P(a) if a else DIMENSIONLESS), (P(b) if b else DIMENSIONLESS)
    how = units.convert(source, target)
    if source._kind != target._kind:
        # Only HbA1c, named by its annotation, crosses kinds, and then by its equation.
        hba1c = "HbA1c" in (source._quantity, target._quantity)
        assert how is None or (hba1c and not how.linear)
    elif "HbA1c" in (source._quantity, target._quantity) and "" in (a, b):
        assert how is None  # HbA1c is a percentage, never taken for a plain number
    else:
        assert how is not None


FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(FINITE, st.sampled_from([("Cel", "[degF]"), ("degF", "\u00b0C"), ("%{HbA1c}", "mmol/mol"),
                                ("mmol/mol{HbA1c}", "%"), ("log10 copies/mL", "log10 copies/L")]))
def test_round_trips_through_offsets(x, pair):
    there, back = units.convert(P(pair[0]), P(pair[1])), units.convert(P(pair[1]), P(pair[0]))
    assert back.apply(there.apply(x)) == pytest.approx(x, rel=1e-11, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-300, max_value=1e300), st.sampled_from(["copies/mL", "IU/mL", "copies/L"]))
def test_logarithms_round_trip(x, linear):
    into, out = units.convert(P(linear), P("log10 copies/mL" if "copies" in linear else "log10 IU/mL")), None
    out = units.convert(P(into and ("log10 copies/mL" if "copies" in linear else "log10 IU/mL")), P(linear))
    assert out.apply(into.apply(x)) == pytest.approx(x, rel=1e-11)


@settings(max_examples=300, deadline=None)
@given(FINITE, FINITE, st.sampled_from(NONLINEAR))
def test_conversions_keep_order(x, y, case):
    # A comparison may happen in either unit: the conversion must not change its outcome.
    how = units.convert(P(case[0]), P(case[1]))
    if how.transform == "log10":
        x, y = abs(x) + 1e-3, abs(y) + 1e-3
    if how.transform == "exp10":
        x, y = x / 1e4, y / 1e4
    fx, fy = how.apply(x), how.apply(y)
    if x < y:
        assert fx <= fy


DATA_RULES = """
input HbA1c: number %
input A1c: number '%{HbA1c}'
input temp: number Cel range 25..45
input VL: number 'log10 copies/mL'
input ANC: number 10^9/L
input HR: number '/min'
input w: number kg
inclusion I1: known(HbA1c)
"""

DATA_PROBLEMS = [
    ({"HbA1c": {"value": 53, "unit": "mmol/mol"}},
     "HbA1c: 53 mmol/mol cannot be converted to %: mmol/mol (a ratio of amounts of substance) and % "
     "(a percentage) are different kinds of quantity, not a factor apart; for HbA1c, declare the input's "
     "unit as '%{HbA1c}' (NGSP) or 'mmol/mol{HbA1c}' (IFCC) to convert by the IFCC-NGSP master equation"),
    ({"A1c": {"value": 53, "unit": "mg/dL"}}, "A1c: 53 mg/dL cannot be converted to %{HbA1c}"),
    ({"temp": {"value": 120, "unit": "[degF]"}},
     "temp: 48.8888888889 Cel is outside the plausible range 25..45 Cel"),
    ({"temp": {"value": 38, "unit": "K"}}, "temp: 38 K: unknown unit 'K'"),
    ({"VL": {"value": 0, "unit": "copies/mL"}},
     "VL: 0 copies/mL has no logarithm, so it cannot be expressed in log10 copies/mL"),
    ({"ANC": {"value": 1.5, "unit": "G/L"}}, "ANC: 1.5 G/L: unknown unit 'G' in 'G/L'"),
    ({"HR": {"value": 70, "unit": "bpm"}}, "HR: 70 bpm: unknown unit 'bpm'"),
    ({"w": {"value": 150, "unit": "Kg"}}, "w: 150 Kg: unknown unit 'Kg' (did you mean 'kg'?)"),
    ({"w": {"value": 150, "unit": "Pm"}}, "w: 150 Pm: unknown unit 'Pm'"),  # never 'pm', a length
]


@pytest.mark.parametrize("data, problem", DATA_PROBLEMS)
def test_patient_data_in_units_that_do_not_convert_is_refused_naming_the_input(data, problem):
    import protocol_dsl

    with pytest.raises(protocol_dsl.DataError) as caught:
        protocol_dsl.loads(DATA_RULES).evaluate(data)
    assert caught.value.problems == [problem]


@pytest.mark.parametrize("data, value", [
    ({"A1c": {"value": 53, "unit": "mmol/mol"}}, 7.00044),
    ({"A1c": {"value": 6.5, "unit": "%"}}, 6.5),
    ({"HbA1c": {"value": 53, "unit": "mmol/mol{HbA1c}"}}, 7.00044),
    ({"temp": {"value": 100.4, "unit": "\u00b0F"}}, 38.0),
    ({"VL": {"value": 1000, "unit": "copies/mL"}}, 3.0),
    ({"ANC": {"value": 1500, "unit": "/uL"}}, 1.5),
    ({"ANC": {"value": 2.5, "unit": "\u00d710\u2079/L"}}, 2.5),
    ({"w": {"value": 220.462262185, "unit": "[lb_av]"}}, 100.0),
])
def test_patient_data_converts(data, value):
    from protocol_dsl.data import prepare

    import protocol_dsl

    values, _ = prepare(protocol_dsl.loads(DATA_RULES).program.inputs, data)
    (name,) = data
    assert round12(values[name]) == value


def test_reasons_show_an_annotated_unit_without_its_annotation():
    protocol = protocol_dsl.loads("input HbA1c: number '%{HbA1c}'\ninclusion I1: HbA1c >= 7%\n")
    result = protocol.evaluate({"HbA1c": {"value": 53, "unit": "mmol/mol"}})
    assert result.criteria["I1"].reason == "HbA1c 7.00044 % >= 7 %"
