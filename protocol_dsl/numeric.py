"""The numeric and logical rules of the language, written once for every backend.

Each rule is stated here as a Python function on floats (None is unknown) and, where
a backend cannot call Python, as the facts it needs (`RELATIVE`, `EXP_MAX`,
`MAX_FLOAT`, `band`). Every rule is built from single IEEE operations (a product, a
sum, floor, a comparison) so that SQL computes exactly what Python computes.

- Numbers are carried at full float precision and every decision reads them at 12
  significant digits: two numbers this close are equal (`close`). So boundaries are
  decided on the decimals a person reads, not on binary noise (1.5 * 1.2 is
  1.7999999999999998; 10 mg/dL of bilirubin in umol/L and back is 9.999999999999998).
- floor, ceil and round decide at 12 digits the same way: a number close to a whole
  number is that number (`floor(2.9999999999999996)` is 3).
- Any result that is not a finite float (an overflow) is unknown, as is a domain error:
  division by zero, `0 ^ b` for b < 0, a negative base to a fractional power, `ln`/`log10` of a number <= 0, `sqrt` of a negative number,
  `exp` above EXP_MAX, `clamp` with its lower bound above its upper bound, round to a
  number of decimals that is not whole.
- and/or/not/at least are Kleene's; an `if` whose condition is unknown keeps the value
  both branches agree on (numbers: at 12 digits).
"""

from __future__ import annotations

import math
import sys
from typing import Callable, Iterable, Optional

RELATIVE = 1e-12  # two numbers within this fraction of the larger are equal
MAX_FLOAT = sys.float_info.max
EXP_MAX = math.log(MAX_FLOAT)  # exp(x) is finite exactly up to here: 709.782712893384

Num = Optional[float]


# --------------------------------------------------------------- comparisons
def close(a: float, b: float) -> bool:
    """a and b are equal at 12 significant digits."""
    return a == b or abs(a - b) <= RELATIVE * max(abs(a), abs(b))


def lt(a: float, b: float) -> bool:
    return a < b and not close(a, b)


def le(a: float, b: float) -> bool:
    return a <= b or close(a, b)


def gt(a: float, b: float) -> bool:
    return a > b and not close(a, b)


def ge(a: float, b: float) -> bool:
    return a >= b or close(a, b)


def ne(a: float, b: float) -> bool:
    return not close(a, b)


COMPARE: dict[str, Callable[[float, float], bool]] = {"<": lt, "<=": le, ">": gt, ">=": ge, "=": close, "!=": ne}
NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "=": "!=", "!=": "="}
MIRRORED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


def band(constant: float) -> tuple[float, float]:
    """The numbers equal to `constant` at 12 digits, as (low, high): `x >= c` is `x >= low`.

    Backends fold this band into a comparison with a constant, so it is one plain
    comparison. For |x| and |c| within a factor of 2 of each other this is the same
    as `close`; farther apart, neither is close, so both agree everywhere.
    """
    width = abs(constant) * RELATIVE
    return constant - width, constant + width


def against_constant(op: str, constant: float) -> tuple[str, float, Optional[float]]:
    """`x OP constant` as (plain op, bound, second bound or None): the band folded in.

    `=` becomes `low <= x <= high` ("between"), `!=` its negation ("outside").
    """
    low, high = band(constant)
    if op == ">=":
        return ">=", low, None
    if op == ">":
        return ">", high, None
    if op == "<=":
        return "<=", high, None
    if op == "<":
        return "<", low, None
    return ("between" if op == "=" else "outside"), low, high


# --------------------------------------------------------------- arithmetic
def finite(value: float) -> Num:
    """The value, or unknown if it overflowed (or is not a number)."""
    return value if -MAX_FLOAT <= value <= MAX_FLOAT else None


def scale(value: Num, factor: float) -> Num:
    return None if value is None else finite(value * factor)


def negate(value: Num) -> Num:
    return None if value is None else -value


def add(a: float, b: float) -> Num:
    return finite(a + b)


def sub(a: float, b: float) -> Num:
    return finite(a - b)


def mul(a: float, b: float) -> Num:
    return finite(a * b)


def div(a: float, b: float) -> Num:
    if b == 0:
        return None
    return finite(a / b)


ARITH: dict[str, Callable[[float, float], Num]] = {"+": add, "-": sub, "*": mul, "/": div}


def power(a: float, b: float) -> Num:
    """`a ^ b`: unknown for 0 to a negative power, a negative base with a fractional exponent, overflow.

    One call of the C library's pow (as SQL's pow is), after the two guards that SQL states too.
    """
    if a == 0 and b < 0:
        return None
    if a < 0 and b != math.floor(b):
        return None
    try:
        return finite(math.pow(a, b))
    except (OverflowError, ValueError):
        return None


# --------------------------------------------------------------- functions
def ln(x: float) -> Num:
    return math.log(x) if x > 0 else None


def log10(x: float) -> Num:
    return math.log10(x) if x > 0 else None


def exp(x: float) -> Num:
    return math.exp(x) if x <= EXP_MAX else None


def sqrt(x: float) -> Num:
    return math.sqrt(x) if x >= 0 else None


def floor12(x: float) -> float:
    """floor read at 12 digits: a number close to the next whole number is that number."""
    whole = float(math.floor(x))
    above = whole + 1.0
    return above if close(x, above) else whole


def ceil12(x: float) -> float:
    """ceil read at 12 digits: a number close to the previous whole number is that number."""
    whole = float(math.ceil(x))
    below = whole - 1.0
    return below if close(x, below) else whole


def floor(x: float) -> Num:
    return floor12(x) if math.isfinite(x) else None


def ceil(x: float) -> Num:
    return ceil12(x) if math.isfinite(x) else None


def round_half_away(x: float, digits: float = 0.0) -> Num:
    """Round half away from zero, read at 12 digits: sign(x) * floor12(|x| * 10^d + 0.5) / 10^d."""
    if digits != math.floor(digits):
        return None
    if digits == 0:
        shifted = abs(x) + 0.5
        if not math.isfinite(shifted):
            return None
        whole = floor12(shifted)
        return whole if x >= 0 else -whole
    try:
        factor = 10.0 ** digits
    except OverflowError:
        return None
    shifted = abs(x) * factor + 0.5
    if factor == 0 or not math.isfinite(shifted):
        return None
    result = finite(floor12(shifted) / factor)
    if result is None:
        return None
    return result if x >= 0 else -result


def clamp(x: float, low: float, high: float) -> Num:
    if low > high:
        return None
    return min(max(x, low), high)


# name -> (function of known floats, how many arguments: fewest, most or None for any)
FUNCTIONS: dict[str, Callable[..., Num]] = {
    "ln": ln,
    "log10": log10,
    "exp": exp,
    "sqrt": sqrt,
    "abs": abs,
    "floor": floor,
    "ceil": ceil,
    "round": round_half_away,
    "min": min,
    "max": max,
    "clamp": clamp,
}


def call(function: str, args: list[Num]) -> Num:
    """A function of possibly unknown arguments: unknown if any argument is."""
    if None in args:
        return None
    return FUNCTIONS[function](*args)


# --------------------------------------------------------------- logic
def not_(value: Optional[bool]) -> Optional[bool]:
    return None if value is None else not value


def kleene(values: Iterable[Optional[bool]], decisive: bool) -> Optional[bool]:
    """Kleene `or` (decisive True) or `and` (decisive False), reading values only until one decides."""
    unknown = False
    for value in values:
        if value is decisive:
            return decisive
        if value is None:
            unknown = True
    return None if unknown else not decisive


def at_least(count: int, true: int, unknown: int) -> Optional[bool]:
    """`at least count of` given how many operands are true and how many unknown."""
    if true >= count:
        return True
    if true + unknown < count:
        return False
    return None


def same(a, b, numeric: bool) -> bool:
    """Whether the two branches of an `if` with an unknown condition agree."""
    return close(a, b) if numeric else a == b


def if_unknown(a, b, numeric: bool):
    """The value of an `if` whose condition is unknown: what both branches agree on, or unknown."""
    if a is None or b is None:
        return None
    return a if same(a, b, numeric) else None
