"""IR -> closures over a patient's values: the reference backend, with traces for reasons.

Each node becomes a function of an `Env` (the patient's values, every input present,
None for unknown). Nothing is looked up or dispatched at evaluation time. A definition
is computed once per patient (`Env.defs`), and so is a node shared inside one
expression (the middle operand of a chain).

With `traced=True` every node that has an origin in the source records a `Trace`
(its syntax node, value, unit and the traces of what it evaluated), from which the
reasons are written. Nodes the lowering made (conversions, a chain's pairs) record
nothing: their children's traces go to the nearest recorded parent.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import attrs

from .. import ir, numeric, records
from . import dispatch

Fn = Callable[["Env"], Any]
_MISSING = object()


@attrs.frozen
class Trace:
    """One evaluated node: its syntax node, value, unit and the traces of the nodes it evaluated."""

    node: Any
    value: Any
    children: tuple["Trace", ...]
    unit: str = ""
    note: str = ""  # for an event construct: the events behind its value (events.explain)
    when: str = ""  # for a dated value: its date and how long before the index date ("2026-10-02, 61 days before")


class Env:
    """One patient's values, the definitions computed so far, and (traced) the traces being built."""

    __slots__ = ("values", "defs", "memo", "frames", "item", "when")

    def __init__(self, values: dict):
        self.values = values
        self.item: Any = None  # inside an aggregate: the value of the item in turn
        self.when: dict[int, Any] = {}  # id(aggregate node) -> the dated value its value came from
        self.defs: dict[str, Any] = {}
        self.memo: dict[int, Any] = {}
        self.frames: list[list[Trace]] = [[]]


class Interpreter:
    """Compiles the nodes of one program into closures; `traced` records a trace per node."""

    def __init__(self, program: ir.Program, traced: bool = False):
        self.program = program
        self.traced = traced
        self.shared = {key for key, count in ir.uses(program).items() if count > 1}
        self.compiled: dict[int, Fn] = {}
        self.definitions: dict[str, Fn] = {}

    # ------------------------------------------------------------ driver
    def criterion(self, criterion: ir.Criterion) -> Callable[[dict], Any]:
        """A function of the patient's values giving the criterion's value."""
        fn = self.fn(criterion.body)
        return lambda values: fn(Env(values))

    def traced_criterion(self, criterion: ir.Criterion) -> Callable[[dict], Trace]:
        """A function of the patient's values giving the criterion's trace (traced only)."""
        fn = self.fn(criterion.body)

        def trace(values: dict) -> Trace:
            env = Env(values)
            fn(env)
            return env.frames[0][0]

        return trace

    def traced_criteria(self) -> Callable[[dict], dict[str, Trace]]:
        """A function of the patient's values giving every criterion's trace by id, in one pass (traced only).

        Each definition is computed once for all the criteria, its trace kept with its value (as inside one
        criterion); each criterion otherwise starts afresh, as when traced alone.
        """
        fns = [(c.id, self.fn(c.body)) for c in self.program.criteria]

        def traces(values: dict) -> dict[str, Trace]:
            env = Env(values)
            out = {}
            for cid, fn in fns:
                env.memo, env.when, env.frames = {}, {}, [[]]
                fn(env)
                out[cid] = env.frames[0][0]
            return out

        return traces

    def fn(self, node: ir.Node) -> Fn:
        key = id(node)
        if key in self.compiled:
            return self.compiled[key]
        fn = dispatch(self, "i_", node)(node)
        if self.traced and node.origin is not None:
            fn = self.record(node, fn)
        if key in self.shared:
            fn = _memoised(key, fn)
        self.compiled[key] = fn
        return fn

    def record(self, node, fn: Fn) -> Fn:
        origin, unit = node.origin, getattr(node, "unit", "") if node.kind == ir.NUMBER else ""
        if isinstance(node, ir.EventQuery):
            return self.record_events(node, fn)
        if isinstance(node, (ir.Input, ir.Aggregate)):
            return self.record_dated(node, fn, origin, unit)

        def recorded(env: Env):
            frames = env.frames
            frames.append([])
            value = fn(env)
            children = frames.pop()
            frames[-1].append(Trace(origin, value, tuple(children), unit))
            return value

        return recorded

    def record_events(self, node: ir.EventQuery, fn: Fn) -> Fn:
        from .. import events

        origin, unit, name, function, window = node.origin, node.unit, node.name, node.function, node.window
        label = self.program.inputs[name].label
        window_text = f"within {window.text()}" if window is not None else ""

        def recorded(env: Env):
            value = fn(env)
            record = env.values[name]
            note = "" if record is None else events.explain(record, function, window, window_text, label, name, value)
            env.frames[-1].append(Trace(origin, value, (), unit, note))
            return value

        return recorded

    def record_dated(self, node, fn: Fn, origin, unit: str) -> Fn:
        """A trace that says which dated value a current value or an aggregate came from."""
        key = id(node)
        name = node.name if isinstance(node, ir.Input) else node.input
        if isinstance(node, ir.Input):
            return self.record_input(fn, origin, unit, name)

        def recorded(env: Env):
            frames = env.frames
            frames.append([])
            value = fn(env)
            children = frames.pop()
            obs = env.when.get(key) if isinstance(node, ir.Aggregate) else getattr(env.values, "used", {}).get(name)
            when = ""
            if isinstance(obs, str):  # a limit of normal: where it came from
                when = obs
            elif obs is not None and obs.time is not None and value is not None:
                as_of = getattr(env.values, "as_of", None)
                when = records.when_text(obs, as_of)
            frames[-1].append(Trace(origin, value, () if isinstance(node, ir.Aggregate) else tuple(children), unit,
                                    when=when))
            return value

        return recorded

    @staticmethod
    def record_input(fn: Fn, origin, unit: str, name: str) -> Fn:
        """An input's trace: a leaf, so no frame of its own; dated only when the data say which value was used."""

        def recorded(env: Env):
            value = fn(env)
            used = getattr(env.values, "used", None)
            obs = None if used is None else used.get(name)
            when = ""
            if isinstance(obs, str):
                when = obs
            elif obs is not None and obs.time is not None and value is not None:
                when = records.when_text(obs, getattr(env.values, "as_of", None))
            env.frames[-1].append(Trace(origin, value, (), unit, when=when))
            return value

        return recorded

    def definition(self, name: str) -> Fn:
        if name not in self.definitions:
            self.definitions[name] = self.fn(self.program.definitions[name].body)
        return self.definitions[name]

    # ------------------------------------------------------------ leaves
    def i_Const(self, node: ir.Const) -> Fn:
        value = node.value
        return lambda env: value

    def i_Input(self, node: ir.Input) -> Fn:
        name = node.name
        return lambda env: env.values[name]

    def i_Ref(self, node: ir.Ref) -> Fn:
        name = node.name
        body = self.definition(name)
        if not self.traced:
            def ref(env: Env):
                value = env.defs.get(name, _MISSING)
                if value is _MISSING:
                    value = env.defs[name] = body(env)
                return value

            return ref

        def traced_ref(env: Env):
            cached = env.defs.get(name, _MISSING)
            if cached is _MISSING:
                env.frames.append([])
                value = body(env)
                cached = env.defs[name] = (value, env.frames.pop()[0])
            env.frames[-1].append(cached[1])
            return cached[0]

        return traced_ref

    def i_Item(self, node: ir.Item) -> Fn:
        return lambda env: env.item

    def i_Aggregate(self, node: ir.Aggregate) -> Fn:
        operand, function, name, window, complete, key = (
            self.fn(node.operand), node.function, node.input, node.window, node.complete, id(node))
        normal = self.program.inputs[name].normal

        def items(env: Env) -> list:
            series = getattr(env.values, "series", {})
            if name in series:
                return records.in_window(series[name], getattr(env.values, "as_of", None), window)
            value = env.values[name]
            return [] if value is None else [records.Obs(value, None)]  # one undated value: at the index date

        def test(env: Env):
            def each(value):
                # Each item is its own evaluation of the operand: nothing memoised or traced is kept.
                saved_item, saved_memo = env.item, env.memo
                env.item, env.memo = value, {}
                env.frames.append([])
                try:
                    return operand(env)
                finally:
                    env.frames.pop()
                    env.item, env.memo = saved_item, saved_memo

            return each

        def aggregate(env: Env):
            found = items(env)
            as_of = getattr(env.values, "as_of", None)
            if function in ("uln", "lln"):
                used = getattr(env.values, "used", {}).get(name)
                value, obs = records.limit(function, used, normal, name)
            elif function == "time since":
                value, obs = records.time_since(found, as_of)
            elif function == "age":
                value, obs = records.age(found, as_of)
            elif function == "duration":
                value, obs = records.duration(found, test(env), as_of)
            else:
                if function == "rate" and window is None:
                    found = found[-2:]  # rate(X): the two latest values
                value, obs = records.aggregate(function, found, test(env), complete)
            env.when[key] = obs
            return value

        return aggregate

    def i_EventQuery(self, node: ir.EventQuery) -> Fn:
        from ..events import query

        name, function, window = node.name, node.function, node.window
        return lambda env: query(env.values[name], function, window)

    # ------------------------------------------------------------ numbers
    def i_Scale(self, node: ir.Scale) -> Fn:
        inner, factor = self.fn(node.operand), node.factor
        return lambda env: numeric.scale(inner(env), factor)

    def i_Neg(self, node: ir.Neg) -> Fn:
        inner = self.fn(node.operand)
        return lambda env: numeric.negate(inner(env))

    def i_Arith(self, node: ir.Arith) -> Fn:
        left, right, combine = self.fn(node.left), self.fn(node.right), numeric.ARITH[node.op]

        def arithmetic(env: Env):
            # Both operands are evaluated, so that an explanation names every missing one.
            a, b = left(env), right(env)
            return None if a is None or b is None else combine(a, b)

        return arithmetic

    def i_Power(self, node: ir.Power) -> Fn:
        base, exponent = self.fn(node.base), self.fn(node.exponent)

        def power(env: Env):
            a, b = base(env), exponent(env)  # both evaluated, so that an explanation names every missing one
            return None if a is None or b is None else numeric.power(a, b)

        return power

    def i_Call(self, node: ir.Call) -> Fn:
        args, function = [self.fn(a) for a in node.args], node.function
        return lambda env: numeric.call(function, [a(env) for a in args])

    # ------------------------------------------------------------ logic
    def i_Compare(self, node: ir.Compare) -> Fn:
        left, right, test = self.fn(node.left), self.fn(node.right), numeric.COMPARE[node.op]

        def compare(env: Env):
            a, b = left(env), right(env)
            return None if a is None or b is None else test(a, b)

        return compare

    def i_Equal(self, node: ir.Equal) -> Fn:
        left, right, negated = self.fn(node.left), self.fn(node.right), node.negated

        def equal(env: Env):
            a, b = left(env), right(env)
            return None if a is None or b is None else (a == b) != negated

        return equal

    def i_Member(self, node: ir.Member) -> Fn:
        inner, values, negated = self.fn(node.operand), frozenset(node.values), node.negated
        return lambda env: None if (v := inner(env)) is None else (v in values) != negated

    def i_Known(self, node: ir.Known) -> Fn:
        inner = self.fn(node.operand)
        return lambda env: inner(env) is not None

    def i_Not(self, node: ir.Not) -> Fn:
        inner = self.fn(node.operand)
        return lambda env: numeric.not_(inner(env))

    def _kleene(self, node, decisive: bool) -> Fn:
        fns = [self.fn(o) for o in node.operands]
        return lambda env: numeric.kleene((fn(env) for fn in fns), decisive)  # lazy: stops at the decisive one

    def i_And(self, node: ir.And) -> Fn:
        return self._kleene(node, False)

    def i_Or(self, node: ir.Or) -> Fn:
        return self._kleene(node, True)

    def i_AtLeast(self, node: ir.AtLeast) -> Fn:
        return _at_least([self.fn(o) for o in node.operands], node.count)

    def i_If(self, node: ir.If) -> Fn:
        condition, then, otherwise = self.fn(node.condition), self.fn(node.then), self.fn(node.otherwise)
        numeric_if = node.kind == ir.NUMBER

        def conditional(env: Env):
            c = condition(env)
            if c is True:
                return then(env)
            if c is False:
                return otherwise(env)
            return numeric.if_unknown(then(env), otherwise(env), numeric_if)

        return conditional


def _at_least(fns: list[Fn], needed: int) -> Fn:
    total = len(fns)

    def at_least(env: Env):
        true = unknown = seen = 0
        for fn in fns:
            # Stop as soon as the rest cannot change the outcome.
            if true >= needed:
                return True
            if true + unknown + (total - seen) < needed:
                return False
            value = fn(env)
            seen += 1
            if value is True:
                true += 1
            elif value is None:
                unknown += 1
        return numeric.at_least(needed, true, unknown)

    return at_least


def _memoised(key: int, fn: Fn) -> Fn:
    def memoised(env: Env):
        value = env.memo.get(key, _MISSING)
        if value is _MISSING:
            value = env.memo[key] = fn(env)
        return value

    return memoised


def interpreter_functions(program: ir.Program) -> list[Callable[[dict], Optional[bool]]]:
    """One function of the patient's values per criterion, in the program's order."""
    interpreter = Interpreter(program)
    return [interpreter.criterion(c) for c in program.criteria]
