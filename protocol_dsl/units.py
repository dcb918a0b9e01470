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
from typing import NoReturn

import attrs

__all__ = [
    "DIMENSIONLESS", "KNOWN_UNITS", "Unit", "UnitError", "compatible",
    "conversion_factor", "divide", "multiply", "parse_unit", "power", "round12",
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
}
_PREFIXES = {"k": "kilo", "d": "deci", "c": "centi", "m": "milli",
             "u": "micro", "n": "nano", "p": "pico", "f": "femto"}
_PREFIXABLE = ("g", "m", "L", "mol", "s", "Pa", "IU", "U", "[iU]", "[IU]", "Eq", "eq")
_OFFSET_UNITS = {"degC", "degF", "°C", "°F", "Cel", "[degF]", "celsius", "fahrenheit"}
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
_SPELLING = str.maketrans({"\u00b5": "u", "\u03bc": "u", "\u00b2": "2", "\u00b3": "3"})


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
    """The known name the user probably meant: same letters in another case, or close."""
    for known in _all_names():
        if known.lower() == name.lower():
            return known
    if len(name) < 3:  # difflib finds 'eq' close to 'e': noise for one or two letters
        return None
    close = difflib.get_close_matches(name, _all_names(), n=1, cutoff=0.75)
    return close[0] if close else None


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
        elif kind == "annotation" and value.replace("_", "").replace(" ", "") == "{1.73m2}":
            # UCUM's eGFR spelling 'mL/min/{1.73_m2}' means per 1.73 m2 of body surface.
            scale, dims = _Parser("1.73m2").product()
            self.named = True
        elif kind == "annotation":  # UCUM '{copies}': a label, worth 1
            scale, dims = 1.0, {}
            self.named = True
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
            if kind == "name" and _lookup(value) is None:
                guess = _suggest(value)
                if guess is None:
                    return None
                pieces += [self.text[last:pos], guess]
                last = pos + len(value)
        return "".join(pieces) + self.text[last:]

    def name(self, value: str) -> dict[str, float]:
        found = _lookup(value)
        if found is None:
            if value in _OFFSET_UNITS:
                raise UnitError(f"unsupported unit {value!r}: temperatures with an offset "
                                "cannot be converted by a factor; use a plain number")
            fixed = self.corrected()
            if fixed is not None:
                raise UnitError(f"unknown unit {self.text!r} (did you mean {fixed!r}?)")
            where = "" if value == self.text else f" in {self.text!r}"
            raise UnitError(f"unknown unit {value!r}{where}")
        self.named = True
        if self.peek()[0] == "annotation":  # 'mg{creat}': annotations do not change a unit
            self.take()
        exp = 1.0
        if self.peek()[0] == "number" or (self.peek()[1] == "-" and self.peek(1)[0] == "number"):
            exp = self.exponent(whole=True)  # 'm2', 'mm3', UCUM 's-1'
        return {found: exp} if found else {}


@functools.lru_cache(maxsize=1024)
def parse_unit(text: str) -> Unit:
    """Parse a unit spelling such as 'umol/L', '%', '10*9/L' or 'mL/min/1.73m2'."""
    # Whitespace carries no meaning in a unit; dropping it makes 'mL / min' equal 'mL/min'.
    text = "".join(text.translate(_SPELLING).split())
    if not text:
        raise UnitError("empty unit (write a unit such as 'mg/dL', or none for a plain number)")
    if len(text) > _MAX_LENGTH:
        raise UnitError(f"invalid unit {text[:20] + '...'!r}: longer than {_MAX_LENGTH} characters")
    parser = _Parser(text)
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
    return Unit(text, scale=scale, factors=tuple(factors))


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


def conversion_factor(src: Unit, dst: Unit, molar_mass: float | None = None) -> float | None:
    """f such that value_in_dst = value_in_src * f; None if incompatible.

    The factor keeps 15 significant digits: enough that 7 days are exactly 1 week once
    the converted value is read at 12 digits, and clean of pint's last-bit noise
    (1 year is exactly 12 months).
    """
    if molar_mass is not None and not (math.isfinite(molar_mass) and molar_mass > 0):
        raise UnitError(f"molar mass must be a positive number, not {molar_mass!r}")
    if src._factors == dst._factors:  # same pint part ('%' and '', '10^9/L' and '/L'): no pint
        return _round15(src._scale / dst._scale)
    factor = _pint_factor(src._factors, dst._factors, molar_mass)
    return None if factor is None else _round15(src._scale * factor / dst._scale)


def compatible(a: Unit, b: Unit, molar_mass: float | None = None) -> bool:
    """True when a value in a can be converted to b."""
    return conversion_factor(a, b, molar_mass) is not None


def _operand(text: str, powered: bool = False) -> str:
    # Anything but a bare name is bracketed so that the composed text parses back
    # to the same unit: 'kg/m2' but 'mg*(10^9/L)' and '(m2)^2'.
    bare = r"[A-Za-z_\[\]{}]+|%" if powered else r"[A-Za-z_\[\]{}]+[0-9]*|%"
    return text if re.fullmatch(bare, text) else f"({text})"


def _compose(text: str) -> Unit:
    unit = parse_unit(text)
    # Collapse only exact cancellation (d/d, mL/cm3): 'mg/dL' / 'g/L' stays a ratio
    # unit worth 0.01, because the caller keeps the number as computed.
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
