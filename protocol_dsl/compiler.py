"""Checked tree -> evaluable tree of closures, with every unit resolved up front.

Each expression becomes a function of the patient's values (a dict holding every
input, None for unknown). Evaluation never looks up a unit, re-reads the source or
dispatches on node types: all of that happens once, here.

The same closures serve the fast path and the explained path: for explanations the
tree is compiled a second time with every node wrapped by a recorder, so there is
one definition of the language's meaning, not two.
"""

from __future__ import annotations

import math
import operator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Optional

import attrs

from . import ast, units
from .checker import Checked, Num, conversion

Fn = Callable[[Any], Any]

# Numbers are carried at full float precision and every decision reads them at about
# 12 significant digits: two numbers this close are equal. So boundaries are decided
# on the decimals a person reads, not on binary noise (1.5 * 1.2 is 1.7999999999999998;
# 10 mg/dL of bilirubin in umol/L and back is 9.999999999999998 mg/dL).
_RELATIVE = 1e-12


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= _RELATIVE * max(abs(a), abs(b))


def _lt(a: float, b: float) -> bool:
    return a < b and not _close(a, b)


def _le(a: float, b: float) -> bool:
    return a <= b or _close(a, b)


def _gt(a: float, b: float) -> bool:
    return a > b and not _close(a, b)


def _ge(a: float, b: float) -> bool:
    return a >= b or _close(a, b)


def _ne(a: float, b: float) -> bool:
    return not _close(a, b)


TOLERANT = {"<": _lt, "<=": _le, ">": _gt, ">=": _ge, "=": _close, "!=": _ne}


def band(constant: float) -> tuple[float, float]:
    """The numbers equal to `constant` at 12 digits, as (low, high): `x >= c` is `x >= low`.

    Generated code and SQL fold this band into their comparisons with a constant.
    """
    width = abs(constant) * _RELATIVE
    return constant - width, constant + width


def _tolerant(op: str) -> Callable[[float, float], bool]:
    return TOLERANT[op]


_EXACT = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq, "!=": operator.ne}


@attrs.frozen
class Trace:
    """One evaluated node: its value and the traces of the nodes it evaluated."""

    node: Any
    value: Any
    children: tuple["Trace", ...]
    unit: str = ""


class TraceEnv(dict):
    """Patient values plus the stack of traces being built (explained path only)."""

    def __init__(self, values: dict):
        super().__init__(values)
        self.frames: list[list[Trace]] = [[]]


VARIES = object()  # the `constant` of an expression whose value depends on the patient


@attrs.frozen
class Compiled:
    """A compiled expression: its function, and facts used while compiling its parents."""

    fn: Fn
    constant: Any = VARIES  # a literal's value, folded into its parent


def _unit_text(t) -> str:
    return t.unit.text if isinstance(t, Num) and not t.bare else ""


class Compiler:
    """Compiles one checked protocol; `traced` wraps every node with a recorder."""

    def __init__(self, checked: Checked, traced: bool, free_inputs=None):
        self.checked = checked
        self.traced = traced
        self.inputs = dict(checked.inputs)
        self.inputs.update(free_inputs or {})
        self.definitions: dict[str, Compiled] = {}

    # ------------------------------------------------------------------ driver
    def compile(self, node) -> Compiled:
        compiled = getattr(self, "compile_" + type(node).__name__)(node)
        if not self.traced:
            return compiled
        return attrs.evolve(compiled, fn=self.record(node, compiled.fn))

    def record(self, node, fn: Fn) -> Fn:
        unit = _unit_text(self.checked.types.get(id(node)))

        def recorded(env: TraceEnv):
            frames = env.frames
            frames.append([])
            value = fn(env)
            children = frames.pop()
            frames[-1].append(Trace(node, value, tuple(children), unit))
            return value

        return recorded

    def type_of(self, node):
        return self.checked.types[id(node)]

    def definition(self, name: str) -> Compiled:
        if name not in self.definitions:
            self.definitions[name] = self.compile(self.checked.definitions[name].expr)
        return self.definitions[name]

    def converted(self, node, target: Num) -> Compiled:
        """`node` compiled and brought into the unit of `target`."""
        compiled = self.compile(node)
        factor = conversion(self.type_of(node), target)
        if factor == 1.0:
            return compiled
        if compiled.constant is not VARIES:
            value = compiled.constant * factor
            fn = self.record(node, _constant(value)) if self.traced else _constant(value)
            return Compiled(fn, constant=value)
        inner = compiled.fn
        return Compiled(lambda env: _convert(inner(env), factor))

    # ------------------------------------------------------------------ leaves
    def compile_Number(self, node: ast.Number) -> Compiled:
        value = node.value
        return Compiled(_constant(value), constant=value)

    def compile_String(self, node: ast.String) -> Compiled:
        return Compiled(_constant(node.value), constant=node.value)

    def compile_Boolean(self, node: ast.Boolean) -> Compiled:
        return Compiled(_constant(node.value), constant=node.value)

    def compile_Name(self, node: ast.Name) -> Compiled:
        if node.name in self.inputs:
            return Compiled(operator.itemgetter(node.name))
        compiled = self.definition(node.name)
        return Compiled(compiled.fn)

    # ------------------------------------------------------------------ numbers
    def compile_Negate(self, node: ast.Negate) -> Compiled:
        inner = self.compile(node.operand)
        if inner.constant is not VARIES:
            return Compiled(_constant(-inner.constant), constant=-inner.constant)
        fn = inner.fn
        return Compiled(lambda env: None if (v := fn(env)) is None else -v)

    def compile_Arithmetic(self, node: ast.Arithmetic) -> Compiled:
        result = self.type_of(node)
        if node.op in "+-":
            left, right = self.converted(node.left, result), self.converted(node.right, result)
        else:
            left, right = self.compile(node.left), self.compile(node.right)
        lf, rf = left.fn, right.fn
        combine = _ARITHMETIC[node.op]

        def arithmetic(env):
            # Both operands are evaluated, so that an explanation names every missing one.
            a, b = lf(env), rf(env)
            if a is None or b is None:
                return None
            try:
                result = combine(a, b)
            except ZeroDivisionError:
                return None  # division by zero is unknown, with its reason in the trace
            return result if math.isfinite(result) else None  # an overflow is unknown too

        return Compiled(arithmetic)

    def compile_As(self, node: ast.As) -> Compiled:
        source = self.type_of(node.operand)
        target = units.parse_unit(node.unit)
        factor = units.conversion_factor(source.unit, target, source.molar_mass)
        inner = self.compile(node.operand)
        fn = inner.fn
        if factor == 1.0:
            return Compiled(fn)
        return Compiled(lambda env: _convert(fn(env), factor))

    def compile_Call(self, node: ast.Call) -> Compiled:
        name = node.function
        if name == "known":
            inner = self.compile(node.args[0]).fn
            return Compiled(lambda env: inner(env) is not None)
        result = self.type_of(node)
        if name in ("min", "max", "clamp"):
            args = [self.converted(a, result) for a in node.args]
        else:
            args = [self.compile(a) for a in node.args]
        fns = [a.fn for a in args]
        if name in ("min", "max"):
            pick = min if name == "min" else max

            def extreme(env):
                values = [f(env) for f in fns]
                return None if None in values else pick(values)

            return Compiled(extreme)
        if name == "clamp":
            x, low, high = fns

            def clamp(env):
                v, lo, hi = x(env), low(env), high(env)
                if v is None or lo is None or hi is None or lo > hi:
                    return None
                return min(max(v, lo), hi)

            return Compiled(clamp)
        if name == "round":
            x = fns[0]
            digits = fns[1] if len(fns) == 2 else _constant(0)

            def rounded(env):
                v, d = x(env), digits(env)
                return None if v is None or d is None else round_half_away(v, d)

            return Compiled(rounded)
        x = fns[0]
        function = _UNARY[name]
        return Compiled(lambda env: None if (v := x(env)) is None else function(v))

    # ------------------------------------------------------------------ logic
    def compile_Compare(self, node: ast.Compare) -> Compiled:
        if len(node.ops) == 1:
            left_node, right_node = node.operands
            target = self.comparison_unit(left_node, right_node)
            if target is None:
                left, right = self.compile(left_node), self.compile(right_node)
            else:
                left, right = self.converted(left_node, target), self.converted(right_node, target)
            test = _EXACT[node.ops[0]] if target is None else _tolerant(node.ops[0])
            lf, rf = left.fn, right.fn

            def single(env):
                a, b = lf(env), rf(env)
                return None if a is None or b is None else test(a, b)

            return Compiled(single)

        # A chain: every operand is evaluated once, then each neighbouring pair is
        # compared in that pair's own unit (`18 years <= age <= 65 years`).
        operands = [self.compile(operand) for operand in node.operands]
        fns = [operand.fn for operand in operands]
        steps = []
        for index, op in enumerate(node.ops):
            left_node, right_node = node.operands[index], node.operands[index + 1]
            target = self.comparison_unit(left_node, right_node)
            left_factor = right_factor = 1.0
            if target is not None:
                left_factor = conversion(self.type_of(left_node), target)
                right_factor = conversion(self.type_of(right_node), target)
            steps.append((left_factor, _EXACT[op] if target is None else _tolerant(op), right_factor))

        def chain(env):
            unknown = False
            previous = fns[0](env)
            for (left_factor, test, right_factor), fn in zip(steps, fns[1:]):
                current = fn(env)
                a = None if previous is None else _scale(previous, left_factor)
                b = None if current is None else _scale(current, right_factor)
                if a is None or b is None:
                    unknown = True
                elif not test(a, b):
                    return False
                previous = current
            return None if unknown else True

        return Compiled(chain)

    def comparison_unit(self, left_node, right_node) -> Optional[Num]:
        """The unit two numbers are compared in (None for non-numbers).

        A literal is converted into the other side's unit, so that a patient's value
        is compared as it was given.
        """
        left_t, right_t = self.type_of(left_node), self.type_of(right_node)
        if not (isinstance(left_t, Num) and isinstance(right_t, Num)):
            return None
        if left_t.bare or (not right_t.bare and _is_literal(left_node) and not _is_literal(right_node)):
            return right_t
        return left_t

    def compile_Membership(self, node: ast.Membership) -> Compiled:
        inner = self.compile(node.operand).fn
        values = frozenset(v.value for v in node.values)
        if node.negated:
            return Compiled(lambda env: None if (v := inner(env)) is None else v not in values)
        return Compiled(lambda env: None if (v := inner(env)) is None else v in values)

    def compile_Not(self, node: ast.Not) -> Compiled:
        inner = self.compile(node.operand).fn
        return Compiled(lambda env: None if (v := inner(env)) is None else not v)

    def compile_Logic(self, node: ast.Logic) -> Compiled:
        fns = [self.compile(operand).fn for operand in node.operands]
        decisive = node.op == "or"  # the value that settles the whole: true for or, false for and

        def kleene(env):
            unknown = False
            for fn in fns:
                value = fn(env)
                if value is decisive:
                    return decisive
                if value is None:
                    unknown = True
            return None if unknown else not decisive

        return Compiled(kleene)

    def compile_AtLeast(self, node: ast.AtLeast) -> Compiled:
        fns = [self.compile(operand).fn for operand in node.operands]
        needed, total = node.count, len(fns)

        def at_least(env):
            true = unknown = 0
            for index, fn in enumerate(fns):
                if true >= needed:
                    return True
                if true + unknown + (total - index) < needed:
                    return False
                value = fn(env)
                if value is True:
                    true += 1
                elif value is None:
                    unknown += 1
            if true >= needed:
                return True
            return False if true + unknown < needed else None

        return Compiled(at_least)

    def compile_If(self, node: ast.If) -> Compiled:
        condition = self.compile(node.condition).fn
        result = self.type_of(node)
        if isinstance(result, Num):
            then = self.converted(node.then, result)
            otherwise = self.converted(node.otherwise, result)
        else:
            then = self.compile(node.then)
            otherwise = self.compile(node.otherwise) if node.otherwise is not None else Compiled(_constant(True))
        then_fn, else_fn = then.fn, otherwise.fn
        numeric = isinstance(result, Num)

        def conditional(env):
            c = condition(env)
            if c is True:
                return then_fn(env)
            if c is False:
                return else_fn(env)
            a, b = then_fn(env), else_fn(env)
            if a is None or b is None:
                return None
            same = _close(a, b) if numeric else a == b
            return a if same else None

        return Compiled(conditional)


_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _constant(value) -> Fn:
    return lambda env: value


def _scale(value: float, factor: float) -> float:
    return value if factor == 1.0 else _convert(value, factor)


def _convert(value: Optional[float], factor: float) -> Optional[float]:
    """A value brought into another unit; unknown if it overflows."""
    if value is None:
        return None
    value = value * factor
    return value if math.isfinite(value) else None


def _is_literal(node) -> bool:
    return isinstance(node, ast.Number) or (isinstance(node, ast.Negate) and _is_literal(node.operand))


def round_half_away(value: float, digits: float = 0) -> Optional[float]:
    """Round half away from zero, on the decimals as written (2.5 -> 3, -2.5 -> -3)."""
    if digits == 0:
        magnitude = abs(value)
        if abs(magnitude - math.floor(magnitude) - 0.5) > 1e-6:  # clearly not a half: no doubt
            whole = math.floor(magnitude + 0.5)
        else:  # at 12 significant digits a half is exact in binary: floor(x + 0.5) decides it
            whole = math.floor(units.round12(magnitude) + 0.5)
        return whole if value >= 0 else -whole
    if digits != int(digits):
        return None
    try:
        quantum = Decimal(1).scaleb(-int(digits))
        result = Decimal(repr(units.round12(value))).quantize(quantum, rounding=ROUND_HALF_UP)
    except (InvalidOperation, OverflowError, ValueError):
        return None
    return int(result) if digits <= 0 else float(result)


def floor_decimal(value: float) -> int:
    """floor on the decimals as written: floor(2.9999999999999996) is 3."""
    return math.floor(units.round12(value))


def ceil_decimal(value: float) -> int:
    return math.ceil(units.round12(value))


def _guarded(function: Callable[[float], float], allowed: Callable[[float], bool]) -> Callable[[float], Optional[float]]:
    def apply(value: float) -> Optional[float]:
        if not allowed(value):
            return None
        try:
            result = function(value)
        except (OverflowError, ValueError):
            return None
        return result if math.isfinite(result) else None

    return apply


_UNARY = {
    "ln": _guarded(math.log, lambda v: v > 0),
    "log10": _guarded(math.log10, lambda v: v > 0),
    "exp": _guarded(math.exp, lambda v: True),
    "sqrt": _guarded(math.sqrt, lambda v: v >= 0),
    "abs": abs,
    "floor": floor_decimal,
    "ceil": ceil_decimal,
}
