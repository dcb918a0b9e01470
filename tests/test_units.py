"""Unit parsing and conversion: tables of spellings, factors and messages, plus properties."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    ("degC", "unsupported unit 'degC': temperatures with an offset cannot be converted "
             "by a factor; use a plain number"),
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


PLAIN = [u for u in KNOWN_UNITS if u != "%"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PLAIN), st.sampled_from(PLAIN))
def test_product_then_quotient_gives_the_unit_back(a, b):
    first, second = parse_unit(a), parse_unit(b)
    back = divide(multiply(first, second), second)
    assert conversion_factor(back, first) == 1.0
    assert parse_unit(back.text) == back
