"""IR -> abstract values over boxes of patients: the interval domain of the deep checks.

A box gives each input a set of values (a closed float interval for a number, a value
or every value for a boolean or category). Every node evaluates to what it can take
for patients in the box, as an over-approximation:

- a number: `Interval(lo, hi, undefined)` (empty when lo > hi: only unknown);
- a boolean or text: a frozenset of values, None for unknown.

The rules are those of numeric.py, applied to interval ends: IEEE rounding is monotone,
so +, -, *, /, scaling and the monotone functions (floor12, round, clamp, min, max)
computed at the ends bound every value computed inside; the library's transcendental
functions are widened by a few ulps. Comparisons are decided with numeric.COMPARE at
the extreme pairs (each comparison at 12 digits is monotone in each side), so a box
whose input cells do not straddle a comparison's band edge gets its exact value.

Every node is evaluated once per box (memoised by node; a Ref's definition body is one
node too), iteratively, so shared nodes and doubling definitions cost linear time.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from .. import ir, numeric
from ..checker import Bool, Cat
from . import dispatch

MAX = numeric.MAX_FLOAT
TRUE, FALSE, NONE = frozenset({True}), frozenset({False}), frozenset({None})
BOTH = frozenset({True, False})
OTHER = object()  # some text not named anywhere (an open category)


@attrs.frozen
class Interval:
    """Every finite number a node can take in a box, and whether it can be unknown."""

    lo: float
    hi: float
    undefined: bool = False

    @property
    def empty(self) -> bool:
        return self.lo > self.hi

    @property
    def point(self) -> bool:
        return self.lo == self.hi


EMPTY = Interval(math.inf, -math.inf, True)
FULL = Interval(-MAX, MAX, True)


def clip(lo: float, hi: float, undefined: bool = False) -> Interval:
    """[lo, hi] with what overflowed (beyond the largest float, or NaN) made unknown."""
    if math.isnan(lo) or math.isnan(hi):
        return FULL
    if lo < -MAX:
        lo, undefined = -MAX, True
    if hi > MAX:
        hi, undefined = MAX, True
    if lo > hi:
        return EMPTY
    return Interval(lo, hi, undefined)


def widen(lo: float, hi: float, undefined: bool) -> Interval:
    """Interval ends of a library function, widened outward by a few ulps."""
    for _ in range(3):
        lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
    return clip(lo, hi, undefined)


def domain(info) -> Any:
    """Every value an input can take within its declared range or category."""
    t = info.type
    if isinstance(t, Bool):
        return BOTH
    if isinstance(t, Cat):
        return frozenset(t.values) | ({OTHER} if t.open else frozenset())
    low, high = info.range if info.range else (-MAX, MAX)
    if info.whole:  # an integer input: its ends are whole numbers
        low, high = math.ceil(max(low, -MAX)), math.floor(min(high, MAX))
    return clip(float(low), float(high))


def _monotone(fn, x: Interval, undefined: bool) -> Interval:
    """A non-decreasing function of known numbers (None: unknown) applied at the ends."""
    if x.empty:
        return EMPTY
    lo, hi = fn(x.lo), fn(x.hi)
    if lo is None or hi is None:
        return FULL
    return clip(lo, hi, undefined or x.undefined)


def compare(op: str, a: Interval, b: Interval) -> frozenset:
    """The values of `a op b` at 12 digits for numbers in the intervals."""
    out = set()
    if a.undefined or b.undefined:
        out.add(None)
    if a.empty or b.empty:
        return frozenset(out)
    test = numeric.COMPARE[op]
    if op in (">", ">="):  # increasing in a, decreasing in b
        can_true, can_false = test(a.hi, b.lo), not test(a.lo, b.hi)
    elif op in ("<", "<="):
        can_true, can_false = test(a.lo, b.hi), not test(a.hi, b.lo)
    else:
        if a.lo <= b.hi and b.lo <= a.hi:
            near = True
        elif a.hi < b.lo:
            near = numeric.close(a.hi, b.lo)
        else:
            near = numeric.close(a.lo, b.hi)
        far = not (numeric.close(a.lo, b.hi) and numeric.close(a.hi, b.lo))
        can_true, can_false = (near, far) if op == "=" else (far, near)
    if can_true:
        out.add(True)
    if can_false:
        out.add(False)
    return frozenset(out)


def kleene_and(results) -> frozenset:
    out = set()
    if any(False in r for r in results):
        out.add(False)
    if all(True in r for r in results):
        out.add(True)
    if all((True in r or None in r) for r in results) and any(None in r for r in results):
        out.add(None)
    return frozenset(out)


def negate(values: frozenset) -> frozenset:
    return frozenset(None if v is None else not v for v in values)


class Intervals:
    """Abstract evaluation of one program's nodes on boxes."""

    def __init__(self, program: ir.Program):
        self.program = program
        self.domains = {name: domain(info) for name, info in program.inputs.items()}

    def deps(self, node) -> tuple:
        if isinstance(node, ir.Ref):
            return (self.program.definitions[node.name].body,)
        return ir.children(node)

    def evaluate(self, nodes, box: dict, memo: dict | None = None) -> list:
        """The abstract value of each node for patients in `box` (input name -> cell)."""
        memo = {} if memo is None else memo
        for root in nodes:
            stack = [root]
            while stack:
                node = stack[-1]
                if id(node) in memo:
                    stack.pop()
                    continue
                deps = self.deps(node)
                missing = [d for d in deps if id(d) not in memo]
                if missing:
                    stack.extend(missing)
                    continue
                stack.pop()
                memo[id(node)] = dispatch(self, "a_", node)(node, [memo[id(d)] for d in deps], box)
        return [memo[id(n)] for n in nodes]

    # ------------------------------------------------------------ leaves
    def a_Const(self, node, args, box):
        if node.kind == ir.NUMBER:
            return Interval(node.value, node.value)
        return frozenset({node.value})

    def a_Input(self, node, args, box):
        if node.name in box:
            cell = box[node.name]
            return cell if isinstance(cell, Interval) else frozenset({cell})
        return self.domains[node.name]

    def a_Ref(self, node, args, box):
        return args[0]

    def a_Item(self, node, args, box):
        return self.domains[node.name]

    def a_Aggregate(self, node, args, box):
        # Dated values are not split into boxes: an aggregate takes any value its input's
        # declared range allows (the current value in the box says nothing of the others).
        if node.kind == ir.BOOLEAN:
            return frozenset({True, False, None})
        if node.kind == ir.TEXT:
            return self.domains[node.input] | NONE
        if node.function in ("latest", "earliest", "min", "max"):
            d = self.domains[node.input]
            return Interval(d.lo, d.hi, True)
        if node.function in ("count", "duration", "time since", "age"):
            return Interval(0.0, MAX, True)
        return FULL

    def a_EventQuery(self, node, args, box):
        # Events are not split into boxes: a construct over them can take any of its values.
        if node.kind == ir.BOOLEAN:
            return frozenset({True, False, None})
        high = MAX
        if node.function == "exposure" and node.window is not None:
            # The days of a window, at most (a month has at most 31 days, a year 366), with its first and last day.
            per_day = {"h": 1 / 24, "d": 1, "wk": 7, "mo": 31, "a": 366}[node.window.unit]
            high = min(MAX, math.floor(node.window.amount * per_day) + 2.0)
        return Interval(0.0, high, True)

    # ------------------------------------------------------------ numbers
    def a_Scale(self, node, args, box):
        x, f = args[0], node.factor
        if x.empty:
            return EMPTY
        ends = sorted((x.lo * f, x.hi * f))
        return clip(ends[0], ends[1], x.undefined)

    def a_Neg(self, node, args, box):
        x = args[0]
        return EMPTY if x.empty else Interval(-x.hi, -x.lo, x.undefined)

    def a_Arith(self, node, args, box):
        a, b = args
        undefined = a.undefined or b.undefined
        if a.empty or b.empty:
            return EMPTY
        op = node.op
        if op == "+":
            return clip(a.lo + b.lo, a.hi + b.hi, undefined)
        if op == "-":
            return clip(a.lo - b.hi, a.hi - b.lo, undefined)
        if op == "*":
            products = [x * y for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
            return clip(min(products), max(products), undefined)
        if b.lo <= 0 <= b.hi:
            if b.lo == b.hi == 0:
                return EMPTY
            return FULL
        quotients = [x / y for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
        return clip(min(quotients), max(quotients), undefined)

    def a_Power(self, node, args, box):
        a, b = args
        if a.empty or b.empty:
            return EMPTY
        undefined = a.undefined or b.undefined
        if a.point and b.point:
            value = numeric.power(a.lo, b.lo)
            return EMPTY if value is None else Interval(value, value, undefined)
        if a.lo > 0 or (a.lo == 0 and b.lo > 0):
            # For a base >= 0, a ^ b is monotone in each argument: its bounds are at the corners.
            corners = [numeric.power(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
            known = [c for c in corners if c is not None]
            if len(known) < len(corners):  # an overflow at a corner
                return Interval(min(known), MAX, True) if known else EMPTY
            return widen(min(known), max(known), undefined)
        return FULL

    def a_Call(self, node, args, box):
        name = node.function
        if any(a.empty for a in args):
            return EMPTY
        undefined = any(a.undefined for a in args)
        x = args[0]
        if name == "min":
            return clip(min(a.lo for a in args), min(a.hi for a in args), undefined)
        if name == "max":
            return clip(max(a.lo for a in args), max(a.hi for a in args), undefined)
        if name == "clamp":
            low, high = args[1], args[2]
            if low.lo > high.hi:
                return EMPTY
            lo, hi = min(max(x.lo, low.lo), high.lo), min(max(x.hi, low.hi), high.hi)
            return clip(min(lo, hi), max(lo, hi), undefined or low.hi > high.lo)
        if name in ("ln", "log10", "sqrt"):
            fn = math.log if name == "ln" else math.log10 if name == "log10" else math.sqrt
            smallest = 0.0 if name == "sqrt" else 5e-324
            if x.hi < smallest:
                return EMPTY
            bad = x.lo < smallest
            return widen(fn(max(x.lo, smallest)), fn(x.hi), undefined or bad)
        if name == "exp":
            if x.lo > numeric.EXP_MAX:
                return EMPTY
            hi = math.exp(min(x.hi, numeric.EXP_MAX))
            return widen(math.exp(x.lo), hi, undefined or x.hi > numeric.EXP_MAX)
        if name == "abs":
            if x.lo >= 0:
                return x
            if x.hi <= 0:
                return Interval(-x.hi, -x.lo, x.undefined)
            return Interval(0.0, max(-x.lo, x.hi), x.undefined)
        if name in ("floor", "ceil"):
            return _monotone(numeric.floor if name == "floor" else numeric.ceil, x, undefined)
        if name == "round":
            if len(args) == 1:
                return _monotone(numeric.round_half_away, x, undefined)
            digits = args[1]
            if digits.point and digits.lo == math.floor(digits.lo):
                d = digits.lo
                return _monotone(lambda v: numeric.round_half_away(v, d), x, undefined)
            return FULL
        return FULL

    # ------------------------------------------------------------ logic
    def a_Compare(self, node, args, box):
        return compare(node.op, args[0], args[1])

    def a_Equal(self, node, args, box):
        out = set()
        for a in args[0]:
            for b in args[1]:
                if a is None or b is None:
                    out.add(None)
                elif a is OTHER or b is OTHER:
                    out |= BOTH
                else:
                    out.add((a == b) != node.negated)
        return frozenset(out)

    def a_Member(self, node, args, box):
        out = set()
        for v in args[0]:
            if v is None:
                out.add(None)
            elif v is OTHER:
                out |= BOTH
            else:
                out.add((v in node.values) != node.negated)
        return frozenset(out)

    def a_Known(self, node, args, box):
        # known() is about missing data, which the deep checks do not model: never claim
        # it constant (a complete patient makes it true).
        return BOTH

    def a_Not(self, node, args, box):
        return negate(args[0])

    def a_And(self, node, args, box):
        return kleene_and(args)

    def a_Or(self, node, args, box):
        return negate(kleene_and([negate(a) for a in args]))

    def a_AtLeast(self, node, args, box):
        need = node.count
        states = {(0, 0)}  # (true, true + unknown), both capped at `need`
        for values in args:
            states = {
                (min(t + (v is True), need), min(tu + (v is not False), need))
                for t, tu in states for v in values
            }
        return frozenset(numeric.at_least(need, t, tu - t) for t, tu in states)

    def a_If(self, node, args, box):
        condition, then, otherwise = args
        if node.kind == ir.NUMBER:
            parts = []
            if True in condition:
                parts.append(then)
            if False in condition:
                parts.append(otherwise)
            if None in condition:
                parts.append(Interval(then.lo, then.hi, True))
            parts = [p for p in parts if not p.empty] or [EMPTY]
            undefined = any(p.undefined for p in parts) or None in condition
            return Interval(min(p.lo for p in parts), max(p.hi for p in parts), undefined)
        out = set()
        if True in condition:
            out |= then
        if False in condition:
            out |= otherwise
        if None in condition:
            out |= (then & otherwise) | {None}
        return frozenset(out)
