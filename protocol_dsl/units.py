"""Units: parse the spellings users write after numbers, and convert between them.

Parsing is done here, against a closed vocabulary of clinical unit names, and never
by pint's own parser: pint evaluates expressions and accepts thousands of names
('l', 'e', 'h' as Planck's constant) that would make typos silently meaningful.
The conversion arithmetic is pint's, loaded on first use so that importing this
module stays cheap.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from typing import NoReturn, Optional

import attrs

__all__ = [
    "DIMENSIONLESS", "KNOWN_UNITS", "Conversion", "Unit", "UnitError", "compatible",
    "convert", "conversion_factor", "divide", "incompatibility", "multiply", "parse_unit",
    "power", "round12", "suggest_for",
]


class UnitError(Exception):
    """A unit that cannot be parsed or used; the message is advice for the user."""


@attrs.frozen
class Unit:
    """A parsed unit; two units are equal when they are spelled the same."""

    text: str
    # A number times a product of pint unit names raised to exponents, e.g.
    # '10^9/L' is 1e9 * liter**-1. Kept as plain data so a Unit is hashable and
    # can be built without loading pint.
    _scale: float = attrs.field(default=1.0, eq=False, repr=False)
    _factors: tuple[tuple[str, float], ...] = attrs.field(default=(), eq=False, repr=False)
    # What a dimensionless unit is a ratio of: "" for a plain number ('', '%', '10^9'),
    # "count" for copies and cells, else the base dimensions that cancel ("substance" for
    # mmol/mol, "mass" for mg/g). Only units of one kind convert into each other by a factor.
    _kind: str = attrs.field(default="", eq=False, repr=False)
    # The quantity a UCUM annotation names ("HbA1c" for '%{HbA1c}'), which brings its own
    # conversions (the IFCC-NGSP master equation); "" for none.
    _quantity: str = attrs.field(default="", eq=False, repr=False)
    # A temperature: value in kelvin = value * scale + offset. None for every other unit.
    _offset: Optional[float] = attrs.field(default=None, eq=False, repr=False)
    # 'log10 copies/mL': the unit whose base-10 logarithm this is; None for a linear unit.
    _log_of: Optional["Unit"] = attrs.field(default=None, eq=False, repr=False)

    @property
    def is_linear(self) -> bool:
        """False for a temperature with an offset and for a logarithmic unit: no factor reaches them."""
        return self._offset is None and self._log_of is None

    @property
    def is_logarithmic(self) -> bool:
        """True for 'log10 copies/mL' and the like."""
        return self._log_of is not None

    @property
    def is_dimensionless(self) -> bool:
        """True only for the absent unit (a plain number)."""
        return self.text == ""

    @property
    def is_percent(self) -> bool:
        """True for '%', a unit of its own that converts to a plain number by 0.01."""
        return self.text == "%"

    def __str__(self) -> str:
        return self.text


DIMENSIONLESS = Unit("")

KNOWN_UNITS: tuple[str, ...] = (
    "%", "years", "months", "weeks", "days", "hours", "d", "h", "min", "s",
    "g/L", "g/dL", "mg/dL", "mg/L", "umol/L", "mmol/L", "mEq/L",
    "IU/L", "U/L", "IU/mL", "10^9/L", "10*9/L", "10^12/L", "/uL", "/mm3", "10*3/uL",
    "mL/min", "mL/min/1.73m2", "kg", "g", "cm", "m", "kg/m2", "mmHg", "ng/mL",
    "copies/mL", "{copies}/mL", "[iU]/L", "umol/L/d", "g/d",
    "mmol/mol", "%{HbA1c}", "mmol/mol{HbA1c}", "Cel", "degC", "\u00b0C", "[degF]", "degF", "\u00b0F",
    "log10 copies/mL", "log10 IU/mL", "Gy", "cGy", "[lb_av]", "[in_i]", "/[HPF]",
    "x10^9/L",
)

# Names without a prefix, mapped to pint names. "" marks a count: copies and cells
# are plain numbers, so copies/mL converts to /mL (and never to IU/mL).
_NAMES: dict[str, str] = {
    "s": "second", "second": "second", "seconds": "second",
    "min": "minute", "minute": "minute", "minutes": "minute",
    "h": "hour", "hour": "hour", "hours": "hour",
    "d": "day", "day": "day", "days": "day",
    "wk": "week", "week": "week", "weeks": "week",
    "mo": "month", "month": "month", "months": "month",
    "a": "year", "year": "year", "years": "year",
    "g": "gram", "mcg": "microgram", "m": "meter", "L": "liter", "mol": "mole",
    "Pa": "pascal", "mmHg": "millimeter_Hg", "mm[Hg]": "millimeter_Hg",
    # IU and U are the same activity unit here. pint's own 'U' (umol/min) is never
    # consulted: enzyme activity in a lab report is not convertible to mol/min.
    "IU": "international_unit", "U": "international_unit",
    "[iU]": "international_unit", "[IU]": "international_unit",
    "Eq": "equivalent", "eq": "equivalent",
    "copies": "", "copy": "", "cells": "",
    "Gy": "gray", "[lb_av]": "pound", "lb": "pound", "[in_i]": "inch",
    # A high-power field of a microscope: a dimension of its own ('/[HPF]' counts per field).
    "[HPF]": "high_power_field", "HPF": "high_power_field", "hpf": "high_power_field",
}
# The base dimensions of each pint name, without pint, to tell kinds of ratio apart.
_DIMENSIONS: dict[str, dict[str, int]] = {
    "second": {"time": 1}, "minute": {"time": 1}, "hour": {"time": 1}, "day": {"time": 1},
    "week": {"time": 1}, "month": {"time": 1}, "year": {"time": 1},
    "gram": {"mass": 1}, "pound": {"mass": 1}, "meter": {"length": 1}, "inch": {"length": 1},
    "liter": {"length": 3}, "mole": {"substance": 1},
    "pascal": {"mass": 1, "length": -1, "time": -2},
    "millimeter_Hg": {"mass": 1, "length": -1, "time": -2},
    "international_unit": {"activity": 1}, "equivalent": {"equivalent": 1},
    "gray": {"length": 2, "time": -2}, "high_power_field": {"field": 1},
}
# Temperatures: (scale, offset) such that kelvin = value * scale + offset. They stand
# alone: a temperature inside a compound unit ('Cel/h') would be a difference.
_TEMPERATURES: dict[str, tuple[float, float]] = {
    "Cel": (1.0, 273.15), "degC": (1.0, 273.15), "\u00b0C": (1.0, 273.15),
    "[degF]": (5 / 9, 459.67 * 5 / 9), "degF": (5 / 9, 459.67 * 5 / 9),
    "\u00b0F": (5 / 9, 459.67 * 5 / 9),
}
# The quantities that UCUM annotations may name, case-insensitively.
_QUANTITIES = {"hba1c": "HbA1c"}
# HbA1c: NGSP % = 0.09148 * IFCC mmol/mol + 2.152 (the IFCC-NGSP master equation,
# Hoelzel et al., Clin Chem 2004;50:166-174).
_NGSP_SLOPE, _NGSP_INTERCEPT = 0.09148, 2.152
_PREFIXES = {"k": "kilo", "d": "deci", "c": "centi", "m": "milli",
             "u": "micro", "n": "nano", "p": "pico", "f": "femto"}
_PREFIXABLE = ("g", "m", "L", "mol", "s", "Pa", "IU", "U", "[iU]", "[IU]", "Eq", "eq", "Gy")
# Beyond these, exponents and factors mean a typo or an attempt to exhaust memory.
_MAX_EXPONENT = 24
_MAX_DEPTH = 10
_MAX_LENGTH = 500

_TOKEN = re.compile(r"""
    (?P<number>[0-9]+(?:\.[0-9]+)?)
  | (?P<name>(?:[A-Za-z_°]+|\[[^\[\]{}]*\])+)
  | (?P<annotation>\{[^{}]*\})
  | (?P<op>\*\*|[*/.^()%+-])
""", re.VERBOSE)
_SPELLING = str.maketrans({
    "\u00b5": "u", "\u03bc": "u", "\u00b2": "2", "\u00b3": "3", "\u2103": "\u00b0C", "\u2109": "\u00b0F",
    "\u00d7": "x",
})
_SUPERSCRIPTS = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
_POWER_OF_TEN = re.compile(f"10([{_SUPERSCRIPTS}]+)")
# 'x10^9/L' and '\u00d710\u2079/L' (as printed in lab reports) are '10^9/L'.
_TIMES_TEN = re.compile(r"(?:^|(?<=[(*./]))x(?=10[*^])")
# 'log10 copies/mL', 'log10(copies/mL)': the logarithm of a unit.
_LOG = re.compile(r"^log10(?:\s+|(?=\())(.+)$", re.DOTALL)


def _lookup(name: str) -> str | None:
    """The pint name for a unit name ("" for a count), or None if the name is unknown."""
    if name in _NAMES:
        return _NAMES[name]
    if name[:1] in _PREFIXES and name[1:] in _PREFIXABLE:
        return _PREFIXES[name[0]] + _NAMES[name[1:]]
    return None


@functools.cache
def _all_names() -> tuple[str, ...]:
    return tuple(sorted(set(_NAMES) | {p + b for p in _PREFIXES for b in _PREFIXABLE}))


def _suggest(name: str) -> str | None:
    """The known name the user probably meant: same letters in another case, or close.

    Without knowing which dimension was meant, a guess keeps every letter typed and
    lowers no capital: 'mg/dl' -> 'mg/dL' and 'yeras' -> 'years', but never 'G' -> 'g'
    (G/L is giga per litre) nor 'bpm' -> 'pm' (a picometre is not a heart rate).
    """
    for guess in _guesses(name):
        if _keeps_letters(name, guess):
            return guess
    return None


def suggest_for(text: str, expected: Unit) -> str | None:
    """A spelling close to text that converts to expected (whose dimension is known), or None."""
    try:
        parser = _Parser("".join(text.translate(_SPELLING).split()))
    except UnitError:
        return None
    unknown = [(value, pos) for kind, value, pos in parser.tokens
               if kind == "name" and _lookup(value) is None and value not in _TEMPERATURES]
    if not unknown or len(unknown) > 2:
        return None
    options = [[]]
    for value, pos in unknown:
        options = [chosen + [(value, pos, guess)] for chosen in options for guess in _guesses(value)]
    for chosen in options:
        fixed, last, pieces = parser.text, 0, []
        for value, pos, guess in chosen:
            pieces += [fixed[last:pos], guess]
            last = pos + len(value)
        candidate = "".join(pieces) + fixed[last:]
        try:
            if convert(parse_unit(candidate), expected, 1.0) is not None:
                return candidate
        except UnitError:
            continue
    return None


def _guesses(name: str) -> list[str]:
    same_case = [known for known in _all_names() if known.lower() == name.lower()]
    if len(name) < 3:  # difflib finds 'eq' close to 'e': noise for one or two letters
        return same_case
    return same_case + difflib.get_close_matches(name, _all_names(), n=5, cutoff=0.75)


def _keeps_letters(name: str, guess: str) -> bool:
    if sorted(name.lower()) != sorted(guess.lower()) and not set(name.lower()) <= set(guess.lower()):
        return False
    return not any(a.isupper() and b.islower() for a, b in zip(name, guess) if a.lower() == b.lower())


class _Parser:
    """Recursive descent over one unit text; '/' and '*' ('.') bind left to right, as in UCUM."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                self.fail(f"unexpected {text[pos]!r}")
            self.tokens.append((match.lastgroup, match.group(), pos))
            pos = match.end()
        self.i = 0
        self.depth = 0
        self.named = False  # a unit needs a name: '5' or '10^9' alone is a number
        self.count = False  # copies or cells appear
        self.quantity = ""  # the quantity an annotation names ('{HbA1c}')

    def annotate(self, annotation: str) -> None:
        """Annotations change nothing, except one that names a quantity with its own conversions."""
        quantity = _QUANTITIES.get(annotation[1:-1].strip().lower())
        if quantity:
            if self.quantity and self.quantity != quantity:
                self.fail(f"it names two quantities, {self.quantity} and {quantity}")
            self.quantity = quantity

    def fail(self, why: str) -> NoReturn:
        raise UnitError(f"invalid unit {self.text!r}: {why}")

    def peek(self, offset: int = 0) -> tuple[str, str, int]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("end", "", len(self.text))

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        self.i += 1
        return token

    def product(self) -> tuple[float, dict[str, float]]:
        scale, dims, op = 1.0, {}, ""
        if self.peek()[1] == "/":  # '/uL' is 1/uL
            op = self.take()[1]
        while True:
            kind, value, _ = self.peek()
            if kind == "end" or value in ("/", "*", ".", ")", "**", "^"):
                if op:
                    self.fail(f"expected a unit after {op!r}")
                self.fail(f"unexpected {value!r}" if value else "expected a unit")
            f_scale, f_dims = self.factor()
            sign = -1 if op == "/" else 1
            scale = self.checked(scale / f_scale if sign < 0 else scale * f_scale)
            for name, exp in f_dims.items():
                dims[name] = dims.get(name, 0) + sign * exp
            if self.peek()[1] not in ("/", "*", "."):
                return scale, dims
            op = self.take()[1]

    def checked(self, scale: float) -> float:
        # Keeps later arithmetic away from inf, nan and division by zero.
        if not 1e-300 < scale < 1e300:
            self.fail("factor out of range")
        return scale

    def exponent(self, whole: bool) -> float:
        sign = -1 if self.peek()[1] == "-" else 1
        if self.peek()[1] in ("-", "+"):
            self.take()
        kind, value, _ = self.take()
        if kind != "number" or (whole and "." in value):
            self.fail("expected a whole-number exponent" if whole else "expected an exponent")
        exp = sign * float(value)
        if abs(exp) > _MAX_EXPONENT:
            self.fail(f"exponent {value} is too large (at most {_MAX_EXPONENT})")
        return exp

    def factor(self) -> tuple[float, dict[str, float]]:
        kind, value, _ = self.take()
        if value == "(":
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                self.fail("too many parentheses")
            scale, dims = self.product()
            if self.take()[1] != ")":
                self.fail("missing ')'")
            self.depth -= 1
        elif kind == "number":
            if float(value) == 0:
                self.fail("a factor cannot be 0")
            scale, dims = self.checked(float(value)), {}
            if value == "10" and self.peek()[1] == "*" and (
                self.peek(1)[0] == "number" or self.peek(1)[1] in ("-", "+")
            ):  # UCUM writes 10^9 as 10*9
                self.take()
                scale = self.checked(10.0 ** self.exponent(whole=True))
        elif value == "%":
            scale, dims = 0.01, {}
            self.named = True
            if self.peek()[0] == "annotation":  # '%{HbA1c}'
                self.annotate(self.take()[1])
        elif kind == "annotation" and value.replace("_", "").replace(" ", "") == "{1.73m2}":
            # UCUM's eGFR spelling 'mL/min/{1.73_m2}' means per 1.73 m2 of body surface.
            scale, dims = _Parser("1.73m2").product()
            self.named = True
        elif kind == "annotation":  # UCUM '{copies}': a label, worth 1
            scale, dims = 1.0, {}
            self.named = True
            self.annotate(value)
        elif kind == "name":
            scale, dims = 1.0, self.name(value)
        else:
            self.fail(f"unexpected {value!r}" if value else "expected a unit")
        if self.peek()[1] in ("^", "**"):
            self.take()
            exp = self.exponent(whole=False)
            try:
                scale = self.checked(scale ** exp)
            except OverflowError:
                self.fail("factor out of range")
            dims = {name: e * exp for name, e in dims.items()}
        if kind == "number" and self.peek()[0] == "name":  # '1.73m2' is 1.73 * m^2
            n_scale, n_dims = self.factor()
            scale, dims = self.checked(scale * n_scale), n_dims
        return scale, dims

    def corrected(self) -> str | None:
        """The text with every unknown name replaced by a likely one; None if one has none."""
        pieces, last = [], 0
        for kind, value, pos in self.tokens:
            if kind == "name" and _lookup(value) is None and value not in _TEMPERATURES:
                guess = _suggest(value)
                if guess is None:
                    return None
                pieces += [self.text[last:pos], guess]
                last = pos + len(value)
        return "".join(pieces) + self.text[last:]

    def name(self, value: str) -> dict[str, float]:
        found = _lookup(value)
        if value in _TEMPERATURES:
            if self.text != value:
                self.fail(f"a temperature ({value}) stands alone, not inside a compound unit: "
                          "a temperature per hour or per litre would be a difference of temperatures")
            self.named = True
            return {"kelvin": 1.0}
        if found is None:
            fixed = self.corrected()
            if fixed is not None:
                raise UnitError(f"unknown unit {self.text!r} (did you mean {fixed!r}?)")
            where = "" if value == self.text else f" in {self.text!r}"
            raise UnitError(f"unknown unit {value!r}{where}")
        self.named = True
        if found == "":
            self.count = True
        if self.peek()[0] == "annotation":  # 'mg{creat}': annotations do not change a unit
            self.annotate(self.take()[1])
        exp = 1.0
        if self.peek()[0] == "number" or (self.peek()[1] == "-" and self.peek(1)[0] == "number"):
            exp = self.exponent(whole=True)  # 'm2', 'mm3', UCUM 's-1'
        return {found: exp} if found else {}


@functools.lru_cache(maxsize=1024)
def parse_unit(text: str) -> Unit:
    """Parse a unit spelling such as 'umol/L', '%', '10*9/L', 'Cel' or 'log10 copies/mL'."""
    log = _LOG.match(text.strip())
    if log is not None:
        inner = log.group(1).strip()
        if inner.startswith("(") and inner.endswith(")"):
            inner = inner[1:-1]
        of = parse_unit(inner)
        if not of.is_linear:
            raise UnitError(f"invalid unit {text.strip()!r}: only a linear unit has a logarithm "
                            "(not a temperature or another logarithm)")
        if of._kind or not _base(dict(of._factors)):
            raise UnitError(f"invalid unit {text.strip()!r}: write the logarithm of a unit "
                            "with a dimension, such as 'log10 copies/mL'")
        return Unit(f"log10 {of.text}", log_of=of)
    # Whitespace carries no meaning in a unit; dropping it makes 'mL / min' equal 'mL/min'.
    spelled = _POWER_OF_TEN.sub(
        lambda m: "10^" + "".join(str(_SUPERSCRIPTS.index(c)) for c in m.group(1)), text.strip()
    )
    text = "".join(spelled.translate(_SPELLING).split())
    if not text:
        raise UnitError("empty unit (write a unit such as 'mg/dL', or none for a plain number)")
    if len(text) > _MAX_LENGTH:
        raise UnitError(f"invalid unit {text[:20] + '...'!r}: longer than {_MAX_LENGTH} characters")
    parser = _Parser(_TIMES_TEN.sub("", text))
    scale, dims = parser.product()
    if parser.peek()[0] != "end":
        parser.fail(f"unexpected {parser.peek()[1]!r}")
    if not parser.named:
        parser.fail("a unit needs a name such as 'mg' or '%', not only a number")
    factors = []
    for name, exp in sorted(dims.items()):
        exp = round(exp, 9)  # 'm^0.5*m^0.5' must cancel exactly
        if abs(exp) > _MAX_EXPONENT:
            parser.fail(f"exponent {exp:g} is too large (at most {_MAX_EXPONENT})")
        if exp:
            factors.append((name, int(exp) if exp.is_integer() else exp))
    if dims.get("kelvin"):
        scale, offset = _TEMPERATURES[text]
        return Unit(text, scale=scale, factors=(("kelvin", 1),), offset=offset)
    kind = _kind_of(dims, parser.count)
    # '{HbA1c}' names the quantity only on a unit it is given in (% or mmol/mol); elsewhere
    # it is a label like any other annotation.
    quantity = parser.quantity if kind in _HBA1C_FAMILIES and not _base(dims) else ""
    return Unit(text, scale=scale, factors=tuple(factors), kind=kind, quantity=quantity)


def _base(dims: dict[str, float]) -> dict[str, float]:
    """The base dimensions of a product of pint names."""
    total: dict[str, float] = {}
    for name, exp in dims.items():
        for base, power_ in _DIMENSIONS[_unprefixed(name)].items():
            total[base] = total.get(base, 0) + power_ * exp
    return {base: exp for base, exp in total.items() if round(exp, 9)}


def _unprefixed(name: str) -> str:
    for prefix in _PREFIXES.values():
        if name.startswith(prefix) and name[len(prefix):] in _DIMENSIONS:
            return name[len(prefix):]
    return name


def _kind_of(dims: dict[str, float], count: bool) -> str:
    """What a dimensionless unit is a ratio of ("" for none: a plain number, '%')."""
    if _base(dims):
        return ""
    cancelled = sorted({base for name in dims for base in _DIMENSIONS[_unprefixed(name)]})
    if cancelled:
        return "/".join(cancelled)
    return "count" if count else ""


# The pint definitions of exactly the names the parser produces (see _NAMES and
# _PREFIXES): building this registry takes milliseconds, where pint's full default
# registry takes a tenth of a second, which every cold `protocol-dsl check` would pay.
# Values are pint's own defaults (a Julian year of 365.25 days, a month a twelfth of it).
_DEFINITIONS = """
femto- = 1e-15
pico- = 1e-12
nano- = 1e-9
micro- = 1e-6
milli- = 1e-3
centi- = 1e-2
deci- = 1e-1
kilo- = 1e3
meter = [length]
gram = [mass]
second = [time]
mole = [substance]
minute = 60 * second
hour = 60 * minute
day = 24 * hour
week = 7 * day
year = 365.25 * day
month = year / 12
liter = decimeter ** 3
pascal = kilogram / meter / second ** 2
millimeter_Hg = 133.322387415 * pascal
international_unit = [clinical_activity]
equivalent = [clinical_equivalent]
gray = meter ** 2 / second ** 2
pound = 453.59237 * gram
inch = 2.54 * centimeter
high_power_field = [microscope_field]
kelvin = [temperature]
"""


@functools.cache
def _registry():
    """The pint registry of the clinical units; built once, on the first conversion."""
    import pint

    registry = pint.UnitRegistry(None)
    # IU and Eq have their own dimensions, so nothing converts to them but themselves:
    # an IU is defined per substance, and mEq -> mmol needs a valence a unit does not carry.
    for line in _DEFINITIONS.strip().splitlines():
        registry.define(line)
    return registry


def _pint_unit(registry, factors: tuple[tuple[str, float], ...]):
    unit = registry.dimensionless
    for name, exp in factors:
        unit = unit * registry.Unit(name) ** exp
    return unit


@functools.lru_cache(maxsize=4096)
def _pint_factor(src: tuple, dst: tuple, molar_mass: float | None) -> float | None:
    import pint

    registry = _registry()
    quantity, target = registry.Quantity(1.0, _pint_unit(registry, src)), _pint_unit(registry, dst)
    candidates = [quantity]
    if molar_mass is not None:  # mass -> substance divides by g/mol, the reverse multiplies
        per_mole = registry.Quantity(molar_mass, registry.gram / registry.mole)
        candidates += [quantity / per_mole, quantity * per_mole]
    for candidate in candidates:
        try:
            return float(candidate.to(target).magnitude)
        except pint.DimensionalityError:
            continue
    return None


@attrs.frozen
class Conversion:
    """value_in_dst = factor * transform(value_in_src) + offset.

    `transform` is "" (none), "exp10" (10 ** x, out of a logarithmic unit) or "log10"
    (into one). A plain factor is `linear`; temperatures and HbA1c have an offset.
    """

    factor: float = 1.0
    offset: float = 0.0
    transform: str = ""

    @property
    def linear(self) -> bool:
        return self.transform == "" and self.offset == 0.0

    def apply(self, value: float) -> float | None:
        """The converted value; None when it has none (the log of 0, an overflow)."""
        if self.transform == "log10":
            if not value > 0:
                return None
            value = math.log10(value)
        elif self.transform == "exp10":
            try:
                value = 10.0 ** value
            except OverflowError:
                return None
        result = value * self.factor + self.offset
        return result if math.isfinite(result) else None


def conversion_factor(src: Unit, dst: Unit, molar_mass: float | None = None) -> float | None:
    """f such that value_in_dst = value_in_src * f; None if incompatible or not a factor apart.

    The factor keeps 15 significant digits: enough that 7 days are exactly 1 week once
    the converted value is read at 12 digits, and clean of pint's last-bit noise
    (1 year is exactly 12 months).
    """
    found = convert(src, dst, molar_mass)
    return found.factor if found is not None and found.linear else None


def convert(src: Unit, dst: Unit, molar_mass: float | None = None) -> Conversion | None:
    """How a value in src is expressed in dst; None if it cannot be (see `incompatibility`)."""
    if molar_mass is not None and not (math.isfinite(molar_mass) and molar_mass > 0):
        raise UnitError(f"molar mass must be a positive number, not {molar_mass!r}")
    if src._log_of is not None or dst._log_of is not None:
        return _convert_log(src, dst, molar_mass)
    if src._offset is not None or dst._offset is not None:
        if src._offset is None or dst._offset is None:
            return None
        factor = _round15(src._scale / dst._scale)
        offset = _round15((src._offset - dst._offset) / dst._scale)
        return Conversion(factor=factor, offset=0.0 if abs(offset) < 1e-9 else offset)
    if src._quantity or dst._quantity:
        return _convert_quantity(src, dst)
    factor = _linear_factor(src, dst, molar_mass)
    return None if factor is None else Conversion(factor=factor)


def _linear_factor(src: Unit, dst: Unit, molar_mass: float | None) -> float | None:
    if src._kind != dst._kind:  # '%' and mmol/mol are both dimensionless, but not one kind
        return None
    if src._factors == dst._factors:  # same pint part ('%' and '', '10^9/L' and '/L'): no pint
        return _round15(src._scale / dst._scale)
    factor = _pint_factor(src._factors, dst._factors, molar_mass)
    return None if factor is None else _round15(src._scale * factor / dst._scale)


def _convert_log(src: Unit, dst: Unit, molar_mass: float | None) -> Conversion | None:
    if src._log_of is not None and dst._log_of is not None:  # log10(a x) = log10(x) + log10(a)
        factor = _linear_factor(src._log_of, dst._log_of, molar_mass)
        return None if factor is None else Conversion(offset=_round15(math.log10(factor)))
    if src._log_of is not None:
        if not dst.is_linear:
            return None
        factor = _linear_factor(src._log_of, dst, molar_mass)
        return None if factor is None else Conversion(factor=factor, transform="exp10")
    if not src.is_linear:
        return None
    factor = _linear_factor(src, dst._log_of, molar_mass)
    return None if factor is None else Conversion(offset=_round15(math.log10(factor)), transform="log10")


_HBA1C_FAMILIES = {"": "NGSP", "substance": "IFCC"}
_HBA1C_UNITS = {"NGSP": "%", "IFCC": "mmol/mol"}
_RATIOS = {"substance": "amounts of substance", "mass": "masses", "length": "lengths or volumes",
           "time": "times", "activity": "activities"}


def _convert_quantity(src: Unit, dst: Unit) -> Conversion | None:
    """HbA1c: % (NGSP) and mmol/mol (IFCC) by the master equation; either side's annotation says it is HbA1c."""
    if src._quantity and dst._quantity and src._quantity != dst._quantity:
        return None
    families = (_HBA1C_FAMILIES.get(src._kind), _HBA1C_FAMILIES.get(dst._kind))
    if None in families or src._factors and _base(dict(src._factors)) or dst._factors and _base(dict(dst._factors)):
        return None
    # NGSP is a percentage: a plain number is not taken for HbA1c (is 7 a percent or a fraction?).
    if any(family == "NGSP" and unit._scale != 0.01 for family, unit in zip(families, (src, dst))):
        return None
    # Each side's number in its family's unit: % for NGSP, mmol/mol for IFCC.
    into = _linear_factor(src, parse_unit(_HBA1C_UNITS[families[0]]), None)
    out = _linear_factor(parse_unit(_HBA1C_UNITS[families[1]]), dst, None)
    if into is None or out is None:
        return None
    if families[0] == families[1]:
        return Conversion(factor=_round15(into * out))
    if families[0] == "IFCC":  # NGSP = slope * IFCC + intercept
        return Conversion(factor=_round15(_NGSP_SLOPE * into * out), offset=_round15(_NGSP_INTERCEPT * out))
    return Conversion(factor=_round15(into * out / _NGSP_SLOPE), offset=_round15(-_NGSP_INTERCEPT / _NGSP_SLOPE * out))


def incompatibility(src: Unit, dst: Unit) -> str:
    """Why a value in src cannot be expressed in dst, in words (for the messages that refuse it)."""
    a, b = _describe(src), _describe(dst)
    hba1c = {src._kind, dst._kind} == {"", "substance"} and not (src._factors and _base(dict(src._factors)))
    if hba1c and "%" in (src.text, dst.text):
        return (f"{a} and {b} are different kinds of quantity, not a factor apart; for HbA1c, "
                "declare the input's unit as '%{HbA1c}' (NGSP) or 'mmol/mol{HbA1c}' (IFCC) to "
                "convert by the IFCC-NGSP master equation")
    if src._kind != dst._kind and _same_dimensions(src, dst):
        return f"{a} and {b} are different kinds of quantity, not a factor apart"
    if (src._offset is None) != (dst._offset is None):
        return f"{a} and {b} have different dimensions"
    return f"{a} and {b} have different dimensions"


def _describe(unit: Unit) -> str:
    if unit.is_dimensionless:
        return "a plain number"
    if unit._log_of is not None:
        return f"{unit.text} (a logarithm)"
    if unit._offset is not None:
        return f"{unit.text} (a temperature)"
    if unit._kind == "count":
        return f"{unit.text} (a count)"
    if unit._kind:
        kinds = [_RATIOS.get(kind, kind) for kind in unit._kind.split("/")]
        return f"{unit.text} (a ratio of {' and '.join(kinds)})"
    if unit.is_percent:
        return "% (a percentage)"
    return unit.text


def _same_dimensions(a: Unit, b: Unit) -> bool:
    return a.is_linear and b.is_linear and not _base(dict(a._factors)) and not _base(dict(b._factors))


def compatible(a: Unit, b: Unit, molar_mass: float | None = None) -> bool:
    """True when a value in a can be converted to b (by a factor or otherwise)."""
    return convert(a, b, molar_mass) is not None


def _operand(text: str, powered: bool = False) -> str:
    # Anything but a bare name is bracketed so that the composed text parses back
    # to the same unit: 'kg/m2' but 'mg*(10^9/L)' and '(m2)^2'.
    bare = r"[A-Za-z_\[\]{}]+|%" if powered else r"[A-Za-z_\[\]{}]+[0-9]*|%"
    return text if re.fullmatch(bare, text) else f"({text})"


def _compose(text: str) -> Unit:
    unit = parse_unit(text)
    # A computed ratio of two values is a plain ratio, whatever cancels: 'mg/dL' / 'g/L'
    # is a number worth 0.01 of a plain number (the caller keeps the number as computed).
    unit = attrs.evolve(unit, kind="", quantity="")
    # Collapse only exact cancellation (d/d, mL/cm3).
    if conversion_factor(unit, DIMENSIONLESS) == 1.0:
        return DIMENSIONLESS
    return unit


def multiply(a: Unit, b: Unit) -> Unit:
    """The unit of a product."""
    if a.is_dimensionless or b.is_dimensionless:
        return b if a.is_dimensionless else a
    return _compose(f"{a.text}*{_operand(b.text)}")


def divide(a: Unit, b: Unit) -> Unit:
    """The unit of a quotient."""
    if b.is_dimensionless:
        return a
    if a.is_dimensionless and re.fullmatch(r"/[A-Za-z_\[\]{}]+[0-9]*", b.text):
        return parse_unit(b.text[1:])  # 1 / '/uL' is 'uL', not '/(/uL)'
    return _compose(f"{a.text}/{_operand(b.text)}")


def power(a: Unit, exponent: float) -> Unit:
    """The unit of a raised to exponent (0.5 for a square root)."""
    if not math.isfinite(exponent):
        raise UnitError(f"cannot raise a unit to the power {exponent!r}")
    if exponent == 1:
        return a
    if exponent == 0 or a.is_dimensionless:
        return DIMENSIONLESS
    shown = repr(float(exponent))
    if "e" in shown:  # the parser reads no scientific notation
        shown = f"{exponent:.12f}".rstrip("0")
    shown = shown.removesuffix(".0")
    return _compose(f"{_operand(a.text, powered=True)}^{shown}")


def _round15(x: float) -> float:
    return float(f"{x:.15g}")


def round12(x: float) -> float:
    """x rounded to 12 significant digits, so that 216 months is 18.0 years."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.12g}")
