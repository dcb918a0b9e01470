"""Checked syntax tree -> IR: the one place where units, chains and definitions are resolved.

Every rule about *which unit* a computation happens in lives here, and only here:
- `+ - min max clamp` and the branches of a numeric `if` bring their operands into the
  result's unit (the checker's type of the node);
- a comparison happens in the unit of its non-literal side, so a patient's value is
  compared as it was given and the literal is converted (`comparison_unit`);
- `X as UNIT` is a conversion into UNIT.
Each conversion becomes an explicit `Scale`, folded into a literal at once. Units that are
not a factor apart are converted with nodes every backend has: a temperature or HbA1c by
`Scale` then `+` an offset, a logarithmic unit by `log10` or `exp`. After this, no backend
looks at a unit again.
"""

from __future__ import annotations

from typing import Optional

import attrs

from . import ast, ir, units
from . import numeric
from .checker import EVENT_FUNCTIONS, Bool, Cat, Checked, Date, Events, Num, Str, conversion, inputs_read, is_record_call
from .numeric import finite


def lower(checked: Checked) -> ir.Program:
    """Lower a checked protocol without errors."""
    lowering = Lowering(checked)
    definitions = {name: lowering.definition(name) for name in definition_order(checked)}
    criteria = tuple(
        ir.Criterion(
            id=c.id,
            kind=c.kind,
            text=c.text,
            body=lowering.lower(c.expr),
            origin=c,
        )
        for c in checked.criteria
    )
    criteria = tuple(attrs.evolve(c, reads=inputs_read(definitions, c.body)) for c in criteria)
    return ir.Program(inputs=dict(checked.inputs), definitions=definitions, criteria=criteria)


def inputs_read(definitions: dict, body: ir.Node) -> frozenset:
    """The inputs a lowered body reads, through the definitions and the functions it uses."""
    found: set[str] = set()
    seen: set[str] = set()
    pending = [body]
    while pending:
        for node in ir.walk([pending.pop()]):
            if isinstance(node, (ir.Input, ir.Item, ir.EventQuery)):
                found.add(node.name)
            elif isinstance(node, ir.Aggregate):
                found.add(node.input)
            elif isinstance(node, ir.Ref) and node.name not in seen:
                seen.add(node.name)
                pending.append(definitions[node.name].body)
    return frozenset(found)


def lower_expression(checked: Checked, inputs: dict, expr) -> ir.Program:
    """Lower a lone expression (its free names are `inputs`) as a program of one criterion."""
    lowering = Lowering(checked, inputs)
    body = lowering.lower(expr)
    criterion = ir.Criterion(id="expression", kind="inclusion", text=None, body=body, origin=None,
                             reads=inputs_read({}, body))
    return ir.Program(inputs=dict(inputs), definitions={}, criteria=(criterion,))


def definition_order(checked: Checked) -> list[str]:
    """Definitions, each after the definitions it uses (iteratively: no recursion limit)."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for root in checked.definitions:
        stack = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                if state.get(name) != 2:
                    state[name] = 2
                    order.append(name)
                continue
            if state.get(name):
                continue
            state[name] = 1
            stack.append((name, True))
            used = sorted(_definitions_used(checked, checked.definitions[name].expr))
            stack.extend((u, False) for u in reversed(used) if not state.get(u))
    return order


_LN10 = 2.302585092994046  # math.log(10): 10 ** x is exp(x * ln 10)


def convert_node(lowered: ir.Node, how: units.Conversion, unit: str, origin=None) -> ir.Node:
    """`lowered` converted as `how` says, into `unit`; a literal is converted at once."""
    if how.linear and how.factor == 1.0:
        return lowered
    if isinstance(lowered, ir.Const):
        value = how.apply(lowered.value)
        if value is not None and not how.linear:  # as patient data in this unit is (data.py)
            value = units.round12(value)
        if value is not None and finite(value) is not None:
            return ir.Const(value=value, kind=ir.NUMBER, unit=unit, origin=lowered.origin)
    if how.linear:
        return ir.Scale(operand=lowered, factor=how.factor, unit=unit, origin=origin)
    node = lowered
    if how.transform == "exp10":  # unknown where 10 ** x overflows, like exp itself
        node = ir.Call(function="exp", args=(ir.Scale(operand=node, factor=_LN10),))
    elif how.transform == "log10":  # unknown for a value <= 0, which has no logarithm
        node = ir.Call(function="log10", args=(node,))
    if how.factor != 1.0:
        node = ir.Scale(operand=node, factor=how.factor, unit=unit)
    if how.offset:
        offset = ir.Const(value=how.offset, kind=ir.NUMBER, unit=unit)
        node = ir.Arith(op="+", left=node, right=offset, unit=unit)
    if origin is not None:
        node = attrs.evolve(node, origin=origin)
    return node


def _definitions_used(checked: Checked, expr) -> set[str]:
    """The definitions of the file an expression uses, directly or through the file's functions."""
    used: set[str] = set()
    seen: set[str] = set()
    pending = [expr]
    while pending:
        for node in ast.walk(pending.pop()):
            if isinstance(node, ast.Name) and node.name in checked.definitions:
                used.add(node.name)
            elif isinstance(node, ast.Call) and node.function in checked.functions and node.function not in seen:
                seen.add(node.function)
                info = checked.functions[node.function]
                if info.source is checked.source:  # an imported function cannot use this file's definitions
                    pending.append(info.node.expr)
    return used


def unit_text(t) -> str:
    """The unit a value of this type is shown in ("" for a plain number)."""
    return t.unit.text if isinstance(t, Num) and not t.bare else ""


def _kind(t) -> str:
    if isinstance(t, Num):
        return ir.NUMBER
    if isinstance(t, Bool):
        return ir.BOOLEAN
    if isinstance(t, (Cat, Str)):
        return ir.TEXT
    if isinstance(t, Date):
        return ir.DATE
    raise TypeError(f"cannot lower a value of type {t!r}")


def _is_literal(node) -> bool:
    return isinstance(node, ast.Number) or (isinstance(node, ast.Negate) and _is_literal(node.operand))


def literal_value(node: ast.Number) -> float:
    """A number literal as a float (the checker has refused those that are not finite)."""
    return float(node.text)


class Lowering:
    """Lowers the expressions of one checked protocol."""

    def __init__(self, checked: Checked, free_inputs: Optional[dict] = None):
        self.checked = checked
        self.inputs = dict(checked.inputs)
        self.inputs.update(free_inputs or {})
        self.functions = checked.functions
        self.arguments: list[dict[str, ir.Node]] = []  # inside a function's body: its parameters' nodes
        self.inlined: dict[tuple, tuple] = {}  # (function, ids of argument nodes) -> (arguments, body)
        self.positions: dict[int, ir.Node] = {}  # lowered text node -> its position on its scale
        self.item_of: Optional[str] = None  # inside an aggregate: the input whose items are read

    def lower_Limit(self, node: ast.Limit) -> ir.Node:
        """`2.5 x ULN` -> 2.5 * uln(X): the limit's trace stands for the written sugar."""
        name = self.checked.limits[id(node)]
        t = self.type_of(node)
        limit = ir.Aggregate(function=node.limit.lower(), input=name, operand=ir.Item(name=name, kind=ir.NUMBER,
                             unit=unit_text(t)), window=None, complete=False, kind=ir.NUMBER, unit=unit_text(t),
                             origin=node)
        factor = ir.Const(value=literal_value(node.factor), kind=ir.NUMBER)
        return ir.Arith(op="*", left=factor, right=limit, unit=unit_text(t))

    def lower_record_call(self, node: ast.Call) -> ir.Node:
        """An aggregate over a dated input: its operand lowered with the input's name as each item."""
        from .records import CONDITION_AGGREGATES

        result = self.type_of(node)
        (argument,) = node.args
        name = next(n.name for n in ast.walk(argument) if isinstance(n, ast.Name) and n.name in self.inputs)
        function = node.function
        if function == "count" and isinstance(argument, ast.Name):
            operand = ir.Const(value=True, kind=ir.BOOLEAN)
        else:
            saved, self.item_of = self.item_of, name
            try:
                operand = self.lower(argument)
            finally:
                self.item_of = saved
        if function not in CONDITION_AGGREGATES and function != "count":
            operand = ir.Item(name=name, kind=operand.kind, unit=getattr(operand, "unit", ""))
        window = self.checked.windows.get(id(node)) if node.window is not None else None
        return ir.Aggregate(function=function, input=name, operand=operand, window=window,
                            complete=name in self.checked.complete, kind=_kind(result), unit=unit_text(result),
                            origin=node)

    def type_of(self, node):
        return self.checked.types[id(node)]

    def definition(self, name: str) -> ir.Definition:
        define = self.checked.definitions[name]
        return ir.Definition(name=name, body=self.lower(define.expr), origin=define)

    def lower(self, node) -> ir.Node:
        lowered = getattr(self, "lower_" + type(node).__name__)(node)
        if self.arguments and lowered.origin is node and not isinstance(lowered, ir.Input):
            # Inside a function's body nothing is traced: the call is, with its arguments (and
            # its body may be written in another file, whose positions mean nothing here).
            lowered = attrs.evolve(lowered, origin=None)
        return lowered

    # ------------------------------------------------------------ functions
    def inline(self, name: str, arguments: tuple, origin) -> ir.Node:
        """A function's body with each parameter standing for its argument's node (shared, so computed once).

        The same function of the same argument nodes is one node, so functions calling
        functions grow the IR linearly.
        """
        info = self.functions[name]
        key = (name, tuple(id(a) for a in arguments))
        if key not in self.inlined:
            names = [n for n, _ in info.parameters or ()]
            self.arguments.append(dict(zip(names, arguments)))
            try:
                body = self.lower(info.node.expr)
            finally:
                self.arguments.pop()
            self.inlined[key] = (arguments, body)
        body = self.inlined[key][1]
        if not self.arguments:  # a call written in the protocol: traced as the call
            body = attrs.evolve(body, origin=origin)
        return body

    def lower_user_call(self, node: ast.Call) -> ir.Node:
        info = self.functions[node.function]
        arguments = []
        for argument, (_, wanted) in zip(node.args, info.parameters):
            lowered = self.lower(argument)
            if isinstance(wanted, Num):
                lowered = self.scaled(lowered, conversion(self.type_of(argument), wanted), wanted)
            arguments.append(lowered)
        return self.inline(node.function, tuple(arguments), node)

    # ------------------------------------------------------------ conversions
    def scaled(self, lowered: ir.Node, how: units.Conversion, target: Num, origin=None) -> ir.Node:
        """`lowered` brought into `target`'s unit; a literal is converted at once."""
        return convert_node(lowered, how, unit_text(target), origin)

    def converted(self, node, target: Num) -> ir.Node:
        return self.scaled(self.lower(node), conversion(self.type_of(node), target), target)

    def comparison_unit(self, left, right) -> Optional[Num]:
        """The unit two numbers are compared in (None for non-numbers).

        A literal is converted into the other side's unit, so that a patient's value is
        compared as it was given.
        """
        left_t, right_t = self.type_of(left), self.type_of(right)
        if not (isinstance(left_t, Num) and isinstance(right_t, Num)):
            return None
        if left_t.bare or (not right_t.bare and _is_literal(left) and not _is_literal(right)):
            return right_t
        return left_t

    # ------------------------------------------------------------ leaves
    def lower_Number(self, node: ast.Number) -> ir.Node:
        return ir.Const(value=literal_value(node), kind=ir.NUMBER, unit=unit_text(self.type_of(node)), origin=node)

    def lower_String(self, node: ast.String) -> ir.Node:
        return ir.Const(value=node.value, kind=ir.TEXT, origin=node)

    def lower_Boolean(self, node: ast.Boolean) -> ir.Node:
        return ir.Const(value=node.value, kind=ir.BOOLEAN, origin=node)

    def lower_Name(self, node: ast.Name) -> ir.Node:
        if self.arguments and node.name in self.arguments[-1]:
            return self.arguments[-1][node.name]
        if node.name in self.functions and node.name not in self.checked.definitions:
            return self.inline(node.name, (), node)  # an imported definition
        t = self.type_of(node)
        if node.name == self.item_of:
            return ir.Item(name=node.name, kind=_kind(t), unit=unit_text(t), origin=node)
        if node.name in self.inputs and isinstance(self.inputs[node.name].type, Events):
            return ir.EventQuery(function="any", name=node.name, window=None, kind=ir.BOOLEAN, origin=node)
        if node.name in self.inputs:
            return ir.Input(name=node.name, kind=_kind(t), unit=unit_text(t), origin=node)
        return ir.Ref(name=node.name, kind=_kind(t), unit=unit_text(t), origin=node)

    # ------------------------------------------------------------ numbers
    def lower_Negate(self, node: ast.Negate) -> ir.Node:
        inner = self.lower(node.operand)
        unit = unit_text(self.type_of(node))
        if isinstance(inner, ir.Const):
            return ir.Const(value=-inner.value, kind=ir.NUMBER, unit=unit, origin=node)
        return ir.Neg(operand=inner, unit=unit, origin=node)

    def lower_Arithmetic(self, node: ast.Arithmetic) -> ir.Node:
        result = self.type_of(node)
        if node.op in "+-":
            left, right = self.converted(node.left, result), self.converted(node.right, result)
        else:
            left, right = self.lower(node.left), self.lower(node.right)
        return ir.Arith(op=node.op, left=left, right=right, unit=unit_text(result), origin=node)

    def lower_Power(self, node: ast.Power) -> ir.Node:
        # The base stays in its own unit: a unit is raised only by a whole constant (the checker).
        base, exponent = self.lower(node.base), self.lower(node.exponent)
        return ir.Power(base=base, exponent=exponent, unit=unit_text(self.type_of(node)), origin=node)

    def lower_As(self, node: ast.As) -> ir.Node:
        source = self.type_of(node.operand)
        how = units.convert(source.unit, units.parse_unit(node.unit), source.molar_mass)
        if how.linear:
            return ir.Scale(operand=self.lower(node.operand), factor=how.factor, origin=node)
        return convert_node(self.lower(node.operand), how, "", node)

    def lower_Call(self, node: ast.Call) -> ir.Node:
        name = node.function
        if name in self.functions:
            return self.lower_user_call(node)
        if name == "known":
            return ir.Known(operand=self.lower(node.args[0]), origin=node)
        if is_record_call(self.inputs, node):
            return self.lower_record_call(node)
        if name in EVENT_FUNCTIONS:
            window = self.checked.windows.get(id(node)) if node.window is not None else None
            result = self.type_of(node)
            return ir.EventQuery(function=name, name=node.args[0].name, window=window, kind=_kind(result),
                                 unit=unit_text(result), origin=node)
        result = self.type_of(node)
        if name in ("min", "max", "clamp"):
            args = tuple(self.converted(a, result) for a in node.args)
        else:
            args = tuple(self.lower(a) for a in node.args)
        return ir.Call(function=name, args=args, unit=unit_text(result), origin=node)

    # ------------------------------------------------------------ logic
    def pair(self, left_node, op: str, right_node, left: ir.Node, right: ir.Node, origin) -> ir.Node:
        scale = self.ordered_scale(op, left_node, right_node)
        if scale is not None:
            return self.ordered_pair(op, left_node, right_node, left, right, scale, origin)
        target = self.comparison_unit(left_node, right_node)
        if target is None:
            return ir.Equal(left=left, right=right, negated=op == "!=", origin=origin)
        left = self.scaled(left, conversion(self.type_of(left_node), target), target)
        right = self.scaled(right, conversion(self.type_of(right_node), target), target)
        return ir.Compare(op=op, left=left, right=right, origin=origin)

    # ------------------------------------------------------------ ordered scales
    def ordered_scale(self, op: str, left_node, right_node) -> Optional[tuple[str, ...]]:
        """The values of the ordered scale a pair orders (`<` `<=` `>` `>=`), or None."""
        if op in ("=", "!="):
            return None
        for t in (self.type_of(left_node), self.type_of(right_node)):
            if isinstance(t, Cat) and t.ordered:
                return t.values
        return None

    def ordered_pair(self, op, left_node, right_node, left, right, scale, origin) -> ir.Node:
        """An ordering of a scale: membership in the values on one side of a literal, else positions."""
        if isinstance(right_node, ast.String) or isinstance(left_node, ast.String):
            if isinstance(left_node, ast.String):
                op, left, right_node = numeric.MIRRORED[op], right, left_node
            at = scale.index(right_node.value)
            test = numeric.COMPARE[op]
            values = tuple(v for i, v in enumerate(scale) if test(i, at))
            if not values:  # nothing is below the lowest value: false whenever it is known
                return ir.Not(operand=ir.Member(operand=left, values=scale), origin=origin)
            return ir.Member(operand=left, values=values, origin=origin)
        return ir.Compare(op=op, left=self.position(left, scale), right=self.position(right, scale), origin=origin)

    def position(self, text: ir.Node, scale: tuple[str, ...]) -> ir.Node:
        """The 0-based position of a text on its scale, unknown when the text is."""
        if id(text) not in self.positions:
            # -1 is never taken (the value is one of the scale's), but it keeps an unknown text unknown.
            node: ir.Node = ir.Const(value=-1.0, kind=ir.NUMBER)
            for index in reversed(range(len(scale))):
                is_value = ir.Equal(left=text, right=ir.Const(value=scale[index], kind=ir.TEXT))
                node = ir.If(condition=is_value, then=ir.Const(value=float(index), kind=ir.NUMBER), otherwise=node,
                             kind=ir.NUMBER)
            self.positions[id(text)] = node
        return self.positions[id(text)]

    def lower_Compare(self, node: ast.Compare) -> ir.Node:
        ordered = any(self.ordered_scale(op, a, b) is not None
                      for a, op, b in zip(node.operands, node.ops, node.operands[1:]))
        # In an ordering of a scale the literals are not values of their own in the trace:
        # the reason shows them from the syntax (Reasons.compared).
        operands = [
            ir.Const(value=operand.value, kind=ir.TEXT) if ordered and isinstance(operand, ast.String) else self.lower(operand)
            for operand in node.operands
        ]  # each computed once
        if len(node.ops) == 1:
            return self.pair(node.operands[0], node.ops[0], node.operands[1], operands[0], operands[1], node)
        pairs = []
        for i, op in enumerate(node.ops):
            pair = self.pair(node.operands[i], op, node.operands[i + 1], operands[i], operands[i + 1], None)
            if pairs and isinstance(pair, ir.Compare) and isinstance(pair.left, ir.Const):
                before = pairs[-1].right if isinstance(pairs[-1], ir.Compare) else None
                if pair.left is not before:
                    # A literal taken in another unit for this pair: computed, but shown once.
                    pair = attrs.evolve(pair, left=attrs.evolve(pair.left, origin=None))
            pairs.append(pair)
        return ir.And(operands=tuple(pairs), origin=node)

    def lower_Membership(self, node: ast.Membership) -> ir.Node:
        if isinstance(node.values[0], ast.Number):
            # `x in {0, 1}` is `x = 0 or x = 1` (at 12 digits, as every comparison), x computed once.
            operand = self.lower(node.operand)
            numbers = dict.fromkeys(literal_value(v) for v in node.values)
            op = "!=" if node.negated else "="
            pairs = tuple(ir.Compare(op=op, left=operand, right=ir.Const(value=n, kind=ir.NUMBER)) for n in numbers)
            if len(pairs) == 1:
                return attrs.evolve(pairs[0], origin=node)
            return (ir.And if node.negated else ir.Or)(operands=pairs, origin=node)
        values = tuple(dict.fromkeys(v.value for v in node.values))
        return ir.Member(operand=self.lower(node.operand), values=values, negated=node.negated, origin=node)

    def lower_Not(self, node: ast.Not) -> ir.Node:
        return ir.Not(operand=self.lower(node.operand), origin=node)

    def lower_Logic(self, node: ast.Logic) -> ir.Node:
        operands = tuple(self.lower(o) for o in node.operands)
        return (ir.And if node.op == "and" else ir.Or)(operands=operands, origin=node)

    def lower_AtLeast(self, node: ast.AtLeast) -> ir.Node:
        return ir.AtLeast(count=node.count, operands=tuple(self.lower(o) for o in node.operands), origin=node)

    def lower_If(self, node: ast.If) -> ir.Node:
        result = self.type_of(node)
        condition = self.lower(node.condition)
        if isinstance(result, Num):
            then, otherwise = self.converted(node.then, result), self.converted(node.otherwise, result)
        else:
            then = self.lower(node.then)
            if node.otherwise is None:
                otherwise = ir.Const(value=True, kind=ir.BOOLEAN)
            else:
                otherwise = self.lower(node.otherwise)
        return ir.If(condition=condition, then=then, otherwise=otherwise, kind=_kind(result),
                     unit=unit_text(result), origin=node)
