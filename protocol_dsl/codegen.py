"""Checked tree -> Python source for the fast path: values and status, no reasons.

The generated code is built only from our own syntax tree (names are checked
identifiers, constants are written with repr), never from user text.

For each criterion, when every input it reads is known, a plain two-valued Python
expression computes it: with complete data, Kleene logic and Boolean logic agree. A
domain error (ln(0), a division by zero) raises inside that expression; the criterion
is then evaluated by the closures of compiler.py, which give unknown with its reason.
So does a criterion with a missing input. Patient data that is not plain (a value
with a unit, a wrong type, a number outside its range) goes through data.prepare,
which converts or refuses it.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from . import ast, units
from .checker import Bool, Cat, Checked, Num, conversion, inputs_read
from .compiler import TOLERANT, Compiler, _close, band, ceil_decimal, floor_decimal, round_half_away

_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "==", "!=": "!="}
_ARITHMETIC_ERRORS = (TypeError, ValueError, ZeroDivisionError, OverflowError)


_TOLERANT = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge", "=": "_eq", "!=": "_ne"}


def _round(value, digits=0):
    result = round_half_away(value, digits)
    if result is None:
        raise ValueError("round: digits must be whole")
    return result


def _clamp(value, low, high):
    if low > high:
        raise ValueError("clamp: low above high")
    return min(max(value, low), high)


def _fin(value):
    # inf - inf and nan - nan are nan: an overflow becomes unknown on the closures' path.
    if value - value == 0:
        return value
    raise OverflowError("the result is too large")


def _known(thunk):
    try:
        return thunk() is not None
    except _ARITHMETIC_ERRORS:
        return False


class _Code:
    """Python source for one expression, and its value when it is a constant."""

    __slots__ = ("text", "constant")

    def __init__(self, text: str, constant: Any = None):
        self.text, self.constant = text, constant


_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


def _against_constant(text: str, op: str, constant: float) -> str:
    """`text OP constant` read at 12 significant digits, as one plain comparison.

    Within 1e-12 of the constant counts as equal (compiler._close), so the band is
    folded into the constant: `x >= 1.5` becomes `x >= 1.4999999999985`.
    """
    low, high = band(constant)
    if op == ">=":
        return f"({text} >= {low!r})"
    if op == ">":
        return f"({text} > {high!r})"
    if op == "<=":
        return f"({text} <= {high!r})"
    if op == "<":
        return f"({text} < {low!r})"
    if op == "=":
        return f"({low!r} <= {text} <= {high!r})"
    return f"(not ({low!r} <= {text} <= {high!r}))"


class Generator:
    """Writes the fast functions of one checked protocol."""

    def __init__(self, checked: Checked, inputs=None, statuses=("eligible", "ineligible", "undetermined")):
        self.checked = checked
        self.statuses = statuses  # what criteria_fast returns for each status
        self.inputs = inputs if inputs is not None else checked.inputs
        self.constants: dict[str, Any] = {}
        self.temporaries = 0

    # ---------------------------------------------------------------- driver
    def build(self) -> tuple[Callable, Callable]:
        """(prepare_fast(data) -> values or None, criteria_fast(values) -> (status, values))."""
        from .backends.interpreter import interpreter_functions
        from .lowering import lower

        functions = self._exec(
            self.prepare_source() + "\n\n" + self.criteria_source(),
            interpreter_functions(lower(self.checked)),
        )
        return functions["prepare_fast"], functions["criteria_fast"]

    def build_expression(self, expr) -> tuple[Callable, Callable]:
        """(prepare_fast, value_fast(values) -> the expression's value) for a lone expression."""
        slow = Compiler(self.checked, traced=False, free_inputs=self.inputs).compile(expr).fn
        names = sorted(inputs_read(self.checked, expr))
        lines = ["def value_fast(v):"]
        lines += [f"    i_{name} = v[{name!r}]" for name in names]
        guard = " and ".join(f"i_{name} is not None" for name in names) or "True"
        lines += [f"    if {guard}:", "        try:", f"            return {self.expr(expr).text}",
                  "        except _ERRORS:", "            pass", "    return _slow[0](v)"]
        functions = self._exec(self.prepare_source() + "\n\n" + "\n".join(lines), [slow])
        return functions["prepare_fast"], functions["value_fast"]

    def _exec(self, source: str, slow: list) -> dict:
        namespace: dict[str, Any] = {
            "math": math,
            "_close": _close,
            **{name: TOLERANT[op] for op, name in _TOLERANT.items()},
            "_round": _round, "_floor": floor_decimal, "_ceil": ceil_decimal, "_clamp": _clamp,
            "_known": _known,
            "_fin": _fin,
            "_ERRORS": _ARITHMETIC_ERRORS,
        }
        namespace["_slow"] = slow
        namespace["_ELIGIBLE"], namespace["_INELIGIBLE"], namespace["_UNDETERMINED"] = self.statuses
        namespace.update(self.constants)
        code = compile(source, f"<protocol {self.checked.source.name}>", "exec")
        exec(code, namespace)  # noqa: S102 - source generated from our own checked tree only
        self.source = source
        return namespace

    def constant(self, value: Any) -> str:
        name = f"_K{len(self.constants)}"
        self.constants[name] = value
        return name

    # ---------------------------------------------------------------- data
    def prepare_source(self) -> str:
        """(values, keys that are not inputs) for plain, valid values; anything else None (full path)."""
        lines = ["def prepare_fast(data):", "    if type(data) is not dict:", "        return None"]
        keys = self.constant(frozenset(self.inputs))
        lines.append(f"    extra = None if data.keys() <= {keys} else [k for k in data if k not in {keys}]")
        values = []
        for index, (name, info) in enumerate(self.inputs.items()):
            var = f"x{index}"
            values.append(f"{name!r}: {var}")
            lines.append(f"    {var} = data.get({name!r})")
            t = info.type
            if isinstance(t, Bool):
                test = f"type({var}) is not bool"
            elif isinstance(t, Cat) and t.open:
                test = f"type({var}) is not str"
            elif isinstance(t, Cat):
                test = f"type({var}) is not str or {var} not in {self.constant(frozenset(t.values))}"
            else:
                low, high = info.range if info.range else (-math.inf, math.inf)
                bounds = f"{self.constant(float(low))} <= {var} <= {self.constant(float(high))}"
                if info.range is None:
                    bounds = f"-math.inf < {var} < math.inf"
                test = f"(type({var}) is not int and type({var}) is not float) or not ({bounds})"
            lines.append(f"    if {var} is not None and ({test}):")
            lines.append("        return None")
        lines.append("    return {" + ", ".join(values) + "}, extra")
        return "\n".join(lines)

    # ---------------------------------------------------------------- criteria
    def criteria_source(self) -> str:
        checked = self.checked
        read = sorted(set().union(*(inputs_read(checked, c.expr) for c in checked.criteria)) if checked.criteria else [])
        lines = ["def criteria_fast(v):"]
        for name in read:
            lines.append(f"    i_{name} = v[{name!r}]")
        results = []
        for index, criterion in enumerate(checked.criteria):
            var = f"c{index}"
            results.append(var)
            guard = " and ".join(f"i_{n} is not None" for n in sorted(inputs_read(checked, criterion.expr)))
            body = self.expr(criterion.expr).text
            indent = "    "
            if guard:
                lines.append(f"    if {guard}:")
                indent = "        "
            lines.append(f"{indent}try:")
            lines.append(f"{indent}    {var} = {body}")
            lines.append(f"{indent}except _ERRORS:")
            lines.append(f"{indent}    {var} = _slow[{index}](v)")
            if guard:
                lines.append("    else:")
                lines.append(f"        {var} = _slow[{index}](v)")
        fails, unknown = [], []
        for var, criterion in zip(results, checked.criteria):
            fails.append(f"{var} is {'False' if criterion.kind == 'inclusion' else 'True'}")
            unknown.append(f"{var} is None")
        values = "(" + "".join(f"{v}, " for v in results) + ")"
        if results:
            lines.append(f"    if {' or '.join(fails)}:")
            lines.append(f"        return _INELIGIBLE, {values}")
            lines.append(f"    if {' or '.join(unknown)}:")
            lines.append(f"        return _UNDETERMINED, {values}")
        lines.append(f"    return _ELIGIBLE, {values}")
        return "\n".join(lines)

    # ---------------------------------------------------------------- expressions
    def expr(self, node) -> _Code:
        return getattr(self, "g_" + type(node).__name__)(node)

    def type_of(self, node):
        return self.checked.types[id(node)]

    def converted(self, node, target: Num) -> _Code:
        code = self.expr(node)
        factor = conversion(self.type_of(node), target)
        if factor == 1.0:
            return code
        if code.constant is not None:
            value = code.constant * factor
            return _Code(repr(value), constant=value)
        return _Code(self.finite(node, f"({code.text} * {factor!r})"))

    def g_Number(self, node):
        return _Code(repr(node.value), constant=node.value)

    def g_String(self, node):
        return _Code(repr(node.value))

    def g_Boolean(self, node):
        return _Code(repr(node.value))

    def g_Name(self, node):
        if node.name in self.inputs:
            return _Code(f"i_{node.name}")
        inner = self.expr(self.checked.definitions[node.name].expr)
        return _Code(f"({inner.text})", constant=inner.constant)

    def g_Negate(self, node):
        inner = self.expr(node.operand)
        constant = -inner.constant if inner.constant is not None else None
        return _Code(f"(-{inner.text})", constant=constant)

    def finite(self, node, text: str) -> str:
        """`text`, checked for overflow unless the declared ranges keep it finite."""
        from .analysis import bounded

        return text if bounded(self.checked, node, self.inputs) else f"_fin({text})"

    def g_Arithmetic(self, node):
        if node.op in "+-":
            result = self.type_of(node)
            left, right = self.converted(node.left, result), self.converted(node.right, result)
        else:
            left, right = self.expr(node.left), self.expr(node.right)
        return _Code(self.finite(node, f"({left.text} {node.op} {right.text})"))

    def g_As(self, node):
        source = self.type_of(node.operand)
        factor = units.conversion_factor(source.unit, units.parse_unit(node.unit), source.molar_mass)
        inner = self.expr(node.operand)
        if factor == 1.0:
            return inner
        return _Code(self.finite(node.operand, f"({inner.text} * {factor!r})"))

    def g_Call(self, node):
        name = node.function
        if name == "known":
            argument = node.args[0]
            if argument.name in self.inputs:
                return _Code(f"(i_{argument.name} is not None)")
            return _Code(f"_known(lambda: {self.expr(argument).text})")
        result = self.type_of(node)
        if name in ("min", "max", "clamp"):
            args = [self.converted(a, result) for a in node.args]
        else:
            args = [self.expr(a) for a in node.args]
        texts = ", ".join(a.text for a in args)
        if name in ("min", "max"):
            return _Code(f"{name}({texts})")
        if name == "clamp":
            return _Code(f"_clamp({texts})")
        if name == "round":
            return _Code(f"_round({texts})")
        if name in ("floor", "ceil"):
            return _Code(f"_{name}({texts})")
        if name == "abs":
            return _Code(f"abs({texts})")
        function = {"ln": "math.log", "log10": "math.log10", "exp": "math.exp", "sqrt": "math.sqrt"}[name]
        return _Code(f"{function}({texts})")

    def g_Compare(self, node):
        # Each operand is computed once: a middle operand is kept in a temporary the
        # first time it is read, then brought into each pair's unit from there.
        raws = [self.expr(operand) for operand in node.operands]
        first_use, later_use = [], []
        for index, raw in enumerate(raws):
            if raw.constant is not None or 0 < index < len(raws) - 1 and raw.text.isidentifier():
                first_use.append(raw.text)
                later_use.append(raw.text)
            elif 0 < index < len(raws) - 1:
                temporary = f"_t{self.temporaries}"
                self.temporaries += 1
                first_use.append(f"({temporary} := {raw.text})")
                later_use.append(temporary)
            else:
                first_use.append(raw.text)
                later_use.append(raw.text)
        parts = []
        for index, op in enumerate(node.ops):
            left_node, right_node = node.operands[index], node.operands[index + 1]
            target = Compiler.comparison_unit(self, left_node, right_node)
            sides = []
            for position, operand in ((index, left_node), (index + 1, right_node)):
                raw = raws[position]
                text = later_use[position] if position == index else first_use[position]
                factor = conversion(self.type_of(operand), target) if target is not None else 1.0
                if factor == 1.0:
                    sides.append(_Code(text, constant=raw.constant))
                elif raw.constant is not None:
                    sides.append(_Code(repr(raw.constant * factor), constant=raw.constant * factor))
                else:
                    sides.append(_Code(self.finite(operand, f"({text} * {factor!r})")))
            left, right = sides
            if target is None:
                parts.append(f"({left.text} {_OPS[op]} {right.text})")
            elif right.constant is not None:
                parts.append(_against_constant(left.text, op, right.constant))
            elif left.constant is not None:
                parts.append(_against_constant(right.text, _MIRROR[op], left.constant))
            else:
                parts.append(f"{_TOLERANT[op]}({left.text}, {right.text})")
        return _Code("(" + " and ".join(parts) + ")")

    def g_Membership(self, node):
        inner = self.expr(node.operand)
        values = self.constant(frozenset(v.value for v in node.values))
        return _Code(f"({inner.text} {'not in' if node.negated else 'in'} {values})")

    def g_Not(self, node):
        return _Code(f"(not {self.expr(node.operand).text})")

    def g_Logic(self, node):
        return _Code("(" + f" {node.op} ".join(self.expr(o).text for o in node.operands) + ")")

    def g_AtLeast(self, node):
        if not node.operands:
            return _Code(repr(node.count <= 0))
        total = " + ".join(f"{self.expr(o).text}" for o in node.operands)
        return _Code(f"(({total}) >= {node.count})")

    def g_If(self, node):
        result = self.type_of(node)
        condition = self.expr(node.condition).text
        if isinstance(result, Num):
            then, otherwise = self.converted(node.then, result), self.converted(node.otherwise, result)
        else:
            then = self.expr(node.then)
            otherwise = self.expr(node.otherwise) if node.otherwise is not None else _Code("True")
        return _Code(f"({then.text} if {condition} else {otherwise.text})")


def fast_functions(checked: Checked, statuses) -> tuple[Callable, Callable]:
    """The generated (prepare_fast, criteria_fast) of a checked protocol.

    `statuses` are the objects criteria_fast returns for eligible, ineligible, undetermined.
    """
    return Generator(checked, statuses=statuses).build()
