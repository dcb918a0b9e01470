"""IR -> generated Python source: the fast path for values and status, no reasons.

The source is written from IR nodes only. Nothing the user wrote reaches it except
through repr() of checked names (dictionary keys) and constants; every local name is
made from an index (`x3` an input, `d2` a definition, `c0` a criterion, `t5` a shared
node), so no input name can collide with one.

Per patient, `criteria_fast(v)`:
- reads each input once into a local;
- computes each definition once into a local, in dependency order, when every input
  it reads and every definition it uses is known; otherwise (or when its arithmetic
  meets a domain error or an overflow) the local is None: "not known here";
- computes each criterion with a plain two-valued expression when every input and
  definition it reads is known. With complete data Kleene's logic and Boolean logic
  agree, so this is exactly the interpreter's value. Every operation that gives
  unknown in the interpreter raises here instead (ln(0), a division by zero, exp above
  EXP_MAX, an overflow), and that criterion is then computed by the interpreter
  (backends/interpreter.py), which gives unknown with its reason. So does a criterion
  with a missing input or an unknown definition.

Every numeric rule comes from numeric.py. A comparison with a constant is one plain
comparison: the 12-digit band (numeric.band) folded into the constant, and the bound
then moved to the exact float where numeric.COMPARE changes its answer, so the fast
path and the interpreter agree to the last bit.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import attrs

from .. import ir, numeric
from ..checker import Bool, Cat, Num
from . import dispatch
from .interpreter import interpreter_functions

__all__ = ["Generator", "fast_functions", "expression_functions"]


class _Undefined(ArithmeticError):
    """Raised by generated code where the interpreter gives unknown (a domain error)."""


class _TooDeep(Exception):
    """An expression nested too deeply for Python's compiler: it is left to the interpreter."""


_ERRORS = (ArithmeticError, ValueError)  # ZeroDivisionError, OverflowError, _Undefined; math domain errors
_MAX_DEPTH = 95  # nodes nested; each adds at most two parentheses, and CPython refuses 200
_SAFE = 1e300  # a bound on |value| below this cannot have overflowed (generous margin for the bound's own rounding)
_COMPARE_NAMES = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge", "=": "_eq", "!=": "_ne"}


def _dated(values) -> dict:
    """The dated values of a patient's prepared values (data.Record), or none."""
    return getattr(values, "series", None) or {}


def _fin(value):
    """The value, or raise where numeric.finite says unknown (an overflow)."""
    if numeric.finite(value) is None:
        raise _Undefined("too large")
    return value


def _strict(function: Callable) -> Callable:
    """A numeric.py function that raises where it would give unknown."""

    def strict(*args):
        result = function(*args)
        if result is None:
            raise _Undefined(function.__name__)
        return result

    strict.__name__ = "strict_" + function.__name__
    return strict


# Functions whose Python spelling already raises exactly where numeric.py gives unknown
# (math.log and math.sqrt refuse x <= 0 and x < 0 with ValueError and otherwise compute
# the same float), or that never give unknown for finite arguments.
_DIRECT = {"ln": "math.log", "log10": "math.log10", "sqrt": "math.sqrt", "abs": "abs", "min": "min", "max": "max",
           "floor": "_floor12", "ceil": "_ceil12"}
_STRICT = ("exp", "round", "clamp")


def _calibrated(op: str, constant: float) -> Optional[tuple[str, float, Optional[float]]]:
    """`x OP constant` (numeric.COMPARE) as one plain comparison on finite floats x.

    Starts from numeric.against_constant (the band folded in), then moves each bound by
    single floats until it is the exact float where numeric.COMPARE changes its answer.
    Returns (">=" | "<=" | "between" | "outside", bound, second bound), or None if no
    such bound was found nearby (the comparison is then called as a function).
    """
    test = numeric.COMPARE[op]
    plain, start, other = numeric.against_constant(op, constant)
    low, high = (start, other) if other is not None else (start, start)
    top = numeric.MAX_FLOAT

    def lowest(start: float, holds) -> Optional[float]:
        # The smallest finite float at which `holds` is true (it is true above it).
        b = min(max(start, -top), top)
        for _ in range(64):
            if holds(b):
                below = math.nextafter(b, -math.inf)
                if below < -top or not holds(below):
                    return b
                b = below
            else:
                if b >= top:
                    return None
                b = math.nextafter(b, math.inf)
        return None

    def highest(start: float, holds) -> Optional[float]:
        b = min(max(start, -top), top)
        for _ in range(64):
            if holds(b):
                above = math.nextafter(b, math.inf)
                if above > top or not holds(above):
                    return b
                b = above
            else:
                if b <= -top:
                    return None
                b = math.nextafter(b, -math.inf)
        return None

    def holds(x: float) -> bool:
        return test(x, constant)

    def equal(x: float) -> bool:
        return numeric.close(x, constant)

    if plain in (">=", ">"):
        bound = lowest(start, holds)
        return None if bound is None else (">=", bound, None)
    if plain in ("<=", "<"):
        bound = highest(start, holds)
        return None if bound is None else ("<=", bound, None)
    first, last = lowest(low, equal), highest(high, equal)
    if first is None or last is None:
        return None
    return plain, first, last


class _Expr:
    """Generated text for one node."""

    __slots__ = ("text", "const")

    def __init__(self, text: str, const: Any = None):
        self.text = text
        self.const = const  # the node's value when it is a constant


class Generator:
    """Writes and compiles the fast functions of one IR program."""

    def __init__(self, program: ir.Program, statuses=("eligible", "ineligible", "undetermined"), name: str = "protocol"):
        self.program = program
        self.statuses = statuses
        self.name = name
        self.namespace: dict[str, Any] = {
            "math": math,
            "_fin": _fin,
            "_floor12": numeric.floor12,
            "_ceil12": numeric.ceil12,
            "_ERRORS": _ERRORS,
            **{name: numeric.COMPARE[op] for op, name in _COMPARE_NAMES.items()},
            **{"_" + name: _strict(numeric.FUNCTIONS[name]) for name in _STRICT},
            "_power": _strict(numeric.power),
            "_dated": _dated,
        }
        self.constants: dict[int, str] = {}
        self.input_var = {name: f"x{i}" for i, name in enumerate(program.inputs)}
        self.def_var = {name: f"d{i}" for i, name in enumerate(program.definitions)}
        self.shared = {key for key, count in ir.uses(program).items() if count > 1}
        self.temporaries = 0
        self.bounds: dict[int, float] = {}
        self.def_bounds: dict[str, float] = {}
        for name, definition in program.definitions.items():  # each after those it uses: no recursion
            self.def_bounds[name] = self.bound(definition.body)
        # Definitions that are exactly unknown for a patient of plain values: a rate of one
        # undated value (docs/records.md). `if known(d) then d else X` is then X.
        self.unknown_when_plain = {
            name: d.body.input for name, d in program.definitions.items()
            if isinstance(d.body, ir.Aggregate) and d.body.function == "rate"
        }
        self.plain_inputs: set[str] = set()  # inputs whose plain value a simplified body relies on
        self.source = ""
        # state while writing one expression
        self.assigned: dict[int, str] = {}  # shared node -> its temporary, once surely evaluated
        self.depth = 0

    # ------------------------------------------------------------ driver
    def build(self) -> tuple[Callable, Callable]:
        """(prepare_fast(data) -> (values, extra keys) or None, criteria_fast(values) -> (status, values))."""
        slow = interpreter_functions(self.program)
        namespace = self._exec(self.prepare_source() + "\n\n" + self.criteria_source(), slow)
        return namespace["prepare_fast"], namespace["criteria_fast"]

    def build_expression(self) -> tuple[Callable, Callable]:
        """(prepare_fast, value_fast(values) -> the value) for a program of one criterion (a lone expression)."""
        slow = interpreter_functions(self.program)
        namespace = self._exec(self.prepare_source() + "\n\n" + self.value_source(), slow)
        return namespace["prepare_fast"], namespace["value_fast"]

    def _exec(self, source: str, slow: list) -> dict:
        namespace = dict(self.namespace)
        namespace["_slow"] = slow
        namespace["_ELIGIBLE"], namespace["_INELIGIBLE"], namespace["_UNDETERMINED"] = self.statuses
        self.source = source
        code = compile(source, f"<{self.name}>", "exec")
        exec(code, namespace)  # noqa: S102 - written from IR nodes; user text only through repr()
        return namespace

    def constant(self, value: Any) -> str:
        """A name in the generated module's namespace holding `value`."""
        name = f"_K{len(self.namespace)}"
        self.namespace[name] = value
        return name

    # ------------------------------------------------------------ data
    def prepare_source(self) -> str:
        """(values, keys that are not inputs) for plain valid values; None for anything else (data.prepare)."""
        keys = self.constant(frozenset(self.program.inputs))
        lines = [
            "def prepare_fast(data):",
            "    if type(data) is not dict:",
            "        return None",
            f"    extra = None if data.keys() <= {keys} else [k for k in data if k not in {keys}]",
        ]
        entries = []
        for name in self.program.inputs:
            entries.append(f"{name!r}: {self.input_var[name]}")
            lines += self.read_input(name)
        lines.append("    return {" + ", ".join(entries) + "}, extra")
        return "\n".join(lines)

    def read_input(self, name: str) -> list[str]:
        """Lines that read one input from `data` into its variable: None when absent, or
        `return None` for anything but a plain valid value (data.prepare reads that)."""
        info = self.program.inputs[name]
        var = self.input_var[name]
        lines = [f"    {var} = data.get({name!r})", f"    if {var} is not None:"]
        t = info.type
        if isinstance(t, Bool):
            lines += [f"        if type({var}) is not bool:", "            return None"]
        elif isinstance(t, Cat) and t.open:
            lines += [f"        if type({var}) is not str:", "            return None"]
        elif isinstance(t, Cat):
            values = self.constant(frozenset(t.values))
            lines += [f"        if type({var}) is not str or {var} not in {values}:", "            return None"]
        elif not isinstance(t, Num):  # a date (and anything else): data.prepare reads it
            lines += ["        return None"]
        else:
            if info.range is not None:
                low, high = (self.constant(float(b)) for b in info.range)
            else:
                low, high = self.constant(-numeric.MAX_FLOAT), self.constant(numeric.MAX_FLOAT)
            lines += [
                f"        if type({var}) is int:",
                "            try:",
                f"                {var} = float({var})",
                "            except OverflowError:",
                "                return None",
                f"        elif type({var}) is not float:",
                "            return None",
                f"        if not {low} <= {var} <= {high}:",  # also refuses NaN and the infinities
                "            return None",
            ]
            if info.whole:  # not whole: data.prepare refuses it, with its message
                lines += [f"        if not {var}.is_integer():", "            return None"]
        return lines

    # ------------------------------------------------------------ criteria
    def _needed_definitions(self) -> list[str]:
        """The definitions some criterion uses (through other definitions too), in program order."""
        needed: set[str] = set()
        pending = [c.body for c in self.program.criteria]
        while pending:
            for node in ir.walk([pending.pop()]):
                if isinstance(node, ir.Ref) and node.name not in needed:
                    needed.add(node.name)
                    pending.append(self.program.definitions[node.name].body)
        return [name for name in self.program.definitions if name in needed]

    def guard(self, body: ir.Node, plain: frozenset = frozenset()) -> str:
        """`x1 is not None and d0 is not None ...`: every input and definition the body reads is known.

        An input read only by `known(...)` is not guarded: known() reads it exactly.
        """
        inputs: set[str] = set()
        refs: set[str] = set()
        dated: set[str] = set()
        if isinstance(body, ir.Input):
            inputs.add(body.name)
        for node in ir.walk([body]):
            if isinstance(node, ir.Ref):
                refs.add(node.name)
            if isinstance(node, ir.Aggregate):  # the aggregate of one value: that value must be known
                inputs.add(node.input)
                dated.add(node.input)
            if isinstance(node, ir.Known):
                continue
            for child in ir.children(node):
                if isinstance(child, ir.Input):
                    inputs.add(child.name)
        names = [self.input_var[n] for n in self.program.inputs if n in inputs]
        names += [self.def_var[n] for n in self.program.definitions if n in refs]
        # ... and an aggregated input has one undated value, not dated values (those the interpreter reads)
        dated |= plain
        return " and ".join([f"{n} is not None" for n in names] + [f"{n!r} not in _dated(v)" for n in sorted(dated)])

    def _reads(self, roots) -> list[str]:
        found = {node.name for node in ir.walk(roots) if isinstance(node, ir.Input)}
        found |= {node.input for node in ir.walk(roots) if isinstance(node, ir.Aggregate)}
        return [name for name in self.program.inputs if name in found]

    def plain(self, node: ir.Node, memo: Optional[dict] = None) -> ir.Node:
        """`node` for a patient of plain values: `if known(d) then A else B` is B where d is
        exactly unknown for such a patient (a rate). Untouched subtrees stay the same objects."""
        if not self.unknown_when_plain:
            return node
        memo = {} if memo is None else memo
        key = id(node)
        if key in memo:
            return memo[key]
        result = node
        condition = getattr(node, "condition", None)
        if (isinstance(node, ir.If) and isinstance(condition, ir.Known) and isinstance(condition.operand, ir.Ref)
                and condition.operand.name in self.unknown_when_plain):
            self.plain_inputs.add(self.unknown_when_plain[condition.operand.name])
            result = self.plain(node.otherwise, memo)
        else:
            changes = {}
            for field in attrs.fields(type(node)):
                value = getattr(node, field.name)
                if isinstance(value, tuple) and value and all(attrs.has(type(v)) for v in value):
                    new = tuple(self.plain(v, memo) for v in value)
                    if any(a is not b for a, b in zip(new, value)):
                        changes[field.name] = new
                elif field.name != "origin" and attrs.has(type(value)) and hasattr(value, "kind"):
                    new = self.plain(value, memo)
                    if new is not value:
                        changes[field.name] = new
            if changes:
                result = attrs.evolve(node, **changes)
        memo[key] = result
        return result

    def fast_body(self, body: ir.Node) -> tuple[ir.Node, frozenset]:
        """The body for plain values (`plain`), and the inputs that must be plain for it."""
        self.plain_inputs = set()
        simplified = self.plain(body)
        return simplified, frozenset(self.plain_inputs)

    def guarded_body(self, lines: list[str], body: ir.Node, assign: str, fallback: list[str]) -> None:
        """`assign = <body>` where the two-valued code applies, else `fallback`."""
        simplified, plain = self.fast_body(body)
        text = self.body_text(simplified)
        if text is None:
            lines += ["    " + line for line in fallback]
        else:
            self._guarded(lines, self.guard(simplified, plain), [f"{assign} = {text}"], fallback)

    def body_text(self, body: ir.Node) -> Optional[str]:
        """The two-valued expression for a body, or None when it is too deep for Python's compiler."""
        self.assigned = {}
        self.depth = 0
        try:
            return self.expr(body).text
        except _TooDeep:
            return None

    def criteria_source(self) -> str:
        program = self.program
        needed = self._needed_definitions()
        lines = ["def criteria_fast(v):"]
        roots = [c.body for c in program.criteria] + [program.definitions[n].body for n in needed]
        for name in self._reads(roots):
            lines.append(f"    {self.input_var[name]} = v[{name!r}]")
        for name in needed:
            var = self.def_var[name]
            self.guarded_body(lines, program.definitions[name].body, var, [f"{var} = None"])
        results = []
        for index, criterion in enumerate(program.criteria):
            var = f"c{index}"
            results.append(var)
            self.guarded_body(lines, criterion.body, var, [f"{var} = _slow[{index}](v)"])
        values = "(" + "".join(f"{v}, " for v in results) + ")"
        if results:
            fails = [f"{v} is {'False' if c.kind == 'inclusion' else 'True'}" for v, c in zip(results, program.criteria)]
            lines.append(f"    if {' or '.join(fails)}:")
            lines.append(f"        return _INELIGIBLE, {values}")
            lines.append(f"    if {' or '.join(f'{v} is None' for v in results)}:")
            lines.append(f"        return _UNDETERMINED, {values}")
        lines.append(f"    return _ELIGIBLE, {values}")
        return "\n".join(lines)

    def status_source(self) -> str:
        """status_fast(data): the status, criterion by criterion in protocol order, stopping at
        the first that makes the patient ineligible (Kleene: nothing after it can change that).

        Each input is checked when a criterion first reads it, so only what the decision
        reads is checked; anything but a plain valid value returns None (the caller then
        evaluates the patient in full).
        """
        program = self.program
        lines = ["def status_fast(data):", "    if type(data) is not dict:", "        return None",
                 "    unknown = False", "    v = None  # plain values only: no dated ones"]
        read: set[str] = set()
        computed: set[str] = set()
        order = {name: i for i, name in enumerate(program.definitions)}
        for index, criterion in enumerate(program.criteria):
            definitions = self._definitions_of([criterion.body])
            for name in self._reads([criterion.body] + [program.definitions[d].body for d in definitions]):
                if name not in read:
                    read.add(name)
                    lines += self.read_input(name)
            for name in sorted(definitions - computed, key=order.__getitem__):
                computed.add(name)
                var = self.def_var[name]  # None: each criterion that reads it is then computed by the interpreter
                self.guarded_body(lines, program.definitions[name].body, var, [f"{var} = None"])
            # Where the two-valued code does not apply (an unknown value, an error, a construct
            # it does not compute), the interpreter computes the criterion from the values read.
            values = "{" + ", ".join(f"{n!r}: {self.input_var[n]}" for n in program.inputs if n in read) + "}"
            self.guarded_body(lines, criterion.body, "c", [f"c = _slow[{index}]({values})"])
            decisive = "False" if criterion.kind == "inclusion" else "True"
            lines += [f"    if c is {decisive}:", "        return _INELIGIBLE", "    if c is None:", "        unknown = True"]
        lines.append("    return _UNDETERMINED if unknown else _ELIGIBLE")
        return "\n".join(lines)

    def _definitions_of(self, roots) -> set[str]:
        """The definitions the roots use, directly or through other definitions."""
        found: set[str] = set()
        pending = list(roots)
        while pending:
            for node in ir.walk([pending.pop()]):
                if isinstance(node, ir.Ref) and node.name not in found:
                    found.add(node.name)
                    pending.append(self.program.definitions[node.name].body)
        return found

    def build_status(self) -> Callable:
        """status_fast(data) -> a status, or None where the full evaluation must decide."""
        return self._exec(self.status_source(), interpreter_functions(self.program))["status_fast"]

    def value_source(self) -> str:
        (criterion,) = self.program.criteria
        lines = ["def value_fast(v):"]
        for name in self._reads([criterion.body]):
            lines.append(f"    {self.input_var[name]} = v[{name!r}]")
        text = self.body_text(criterion.body)
        if text is not None:
            self._guarded(lines, self.guard(criterion.body), [f"return {text}"], ["pass"])
        lines.append("    return _slow[0](v)")
        return "\n".join(lines)

    @staticmethod
    def _guarded(lines: list[str], guard: str, fast: list[str], fallback: list[str]) -> None:
        indent = "    "
        if guard:
            lines.append(f"    if {guard}:")
            indent = "        "
        lines.append(f"{indent}try:")
        lines += [f"{indent}    {line}" for line in fast]
        lines.append(f"{indent}except _ERRORS:")
        lines += [f"{indent}    {line}" for line in fallback]
        if guard:
            lines.append("    else:")
            lines += [f"        {line}" for line in fallback]

    # ------------------------------------------------------------ expressions
    def expr(self, node: ir.Node) -> _Expr:
        key = id(node)
        if key in self.assigned:
            return _Expr(self.assigned[key])
        method = dispatch(self, "g_", node)
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _TooDeep()
        try:
            code = method(node)
        finally:
            self.depth -= 1
        if key in self.shared and code.const is None and not isinstance(node, (ir.Input, ir.Ref)):
            temporary = f"t{self.temporaries}"
            self.temporaries += 1
            self.assigned[key] = temporary
            return _Expr(f"({temporary} := {code.text})")
        return code

    def _branch(self, node: ir.Node) -> _Expr:
        """A node that may not be evaluated: temporaries it assigns are not relied on after it."""
        saved = dict(self.assigned)
        code = self.expr(node)
        self.assigned = saved
        return code

    # leaves
    def g_EventQuery(self, node: ir.EventQuery) -> _Expr:
        # Events are computed by the interpreter (events.py): a criterion or definition that
        # reads them is left to it, as one too deep for Python's compiler is.
        raise _TooDeep()

    def g_Aggregate(self, node: ir.Aggregate) -> _Expr:
        """The aggregate of one plain value, the only kind prepare_fast lets through.

        A single undated value is one value at the index date (docs/records.md), and the
        guard makes it known here: latest, min, max... are the value, `time since` and
        `duration` 0 days, count 1 or 0, any and all the condition. Rates, limits of
        normal and dates are left to the interpreter.
        """
        f, x = node.function, self.input_var[node.input]
        if f in ("latest", "earliest", "min", "max", "sum"):
            return _Expr(x)
        if f == "time since" and node.operand.kind != ir.DATE:
            return _Expr("0.0")
        if f in ("count", "any", "all", "duration"):
            condition = self.expr(node.operand).text
            if f == "count":
                return _Expr(f"(1.0 if {condition} else 0.0)")
            return _Expr(f"(0.0, {condition})[0]" if f == "duration" else f"({condition})")  # 0 days, once it is known
        raise _TooDeep()  # rate, uln, lln, age: the interpreter (records.py) computes them

    def g_Item(self, node: ir.Item) -> _Expr:
        return _Expr(self.input_var[node.name])

    def g_Const(self, node: ir.Const) -> _Expr:
        value = node.value
        if isinstance(value, float) and not math.isfinite(value):
            return _Expr(self.constant(value), const=value)
        return _Expr(repr(value), const=value)

    def g_Input(self, node: ir.Input) -> _Expr:
        return _Expr(self.input_var[node.name])

    def g_Ref(self, node: ir.Ref) -> _Expr:
        return _Expr(self.def_var[node.name])

    # numbers
    def bounded(self, node: ir.Node) -> bool:
        """Whether the declared ranges keep this number far from overflow (no check needed)."""
        return self.bound(node) < _SAFE

    def bound(self, node: ir.Node) -> float:
        """An upper bound on |value| of a number node given the inputs' declared ranges (inf: none)."""
        key = id(node)
        if key in self.bounds:
            return self.bounds[key]
        for item in ir.postorder([node]):  # children first: no recursion
            if id(item) not in self.bounds:
                self.bounds[id(item)] = self._bound_of(item)
        return self.bounds[key]

    def _bound_of(self, node: ir.Node) -> float:
        # Every number the fast code holds is finite (a range-checked input, or a result
        # that is bounded or checked), so no bound exceeds MAX_FLOAT.
        return min(self._raw_bound(node), numeric.MAX_FLOAT)

    def _raw_bound(self, node: ir.Node) -> float:
        b = lambda n: self.bounds.get(id(n), math.inf)  # noqa: E731
        if isinstance(node, ir.Const):
            return abs(node.value) if isinstance(node.value, float) else math.inf
        if isinstance(node, ir.Input):
            info = self.program.inputs.get(node.name)
            if info is None or info.range is None:
                return math.inf
            return max(abs(float(info.range[0])), abs(float(info.range[1])))
        if isinstance(node, ir.Ref):
            return self.def_bounds.get(node.name, math.inf)
        if isinstance(node, ir.Scale):
            return b(node.operand) * abs(node.factor)
        if isinstance(node, ir.Neg):
            return b(node.operand)
        if isinstance(node, ir.Arith):
            if node.op in "+-":
                return b(node.left) + b(node.right)
            if node.op == "*":
                return b(node.left) * b(node.right)
            return math.inf  # a / b: b may be as small as the smallest float
        if isinstance(node, ir.Call):
            args = [b(a) for a in node.args]
            f = node.function
            if f in ("abs", "min", "max", "clamp"):
                return max(args)
            if f in ("floor", "ceil") or (f == "round" and len(args) == 1):
                return args[0] + 1.0
            if f == "sqrt":
                return math.sqrt(args[0])
            if f == "exp":
                return math.exp(min(args[0], numeric.EXP_MAX))
            if f in ("ln", "log10"):
                return 800.0  # |ln x| of a positive finite float is below 745
            return math.inf  # round(x, digits)
        if isinstance(node, ir.If) and node.kind == ir.NUMBER:
            return max(b(node.then), b(node.otherwise))
        return math.inf

    def checked(self, node: ir.Node, text: str) -> _Expr:
        return _Expr(text if self.bounded(node) else f"_fin({text})")

    def g_Scale(self, node: ir.Scale) -> _Expr:
        inner = self.expr(node.operand)
        return self.checked(node, f"({inner.text} * {node.factor!r})")

    def g_Neg(self, node: ir.Neg) -> _Expr:
        return _Expr(f"(-{self.expr(node.operand).text})")

    def g_Arith(self, node: ir.Arith) -> _Expr:
        left, right = self.expr(node.left), self.expr(node.right)
        # a / 0 raises ZeroDivisionError: the interpreter then gives unknown.
        return self.checked(node, f"({left.text} {node.op} {right.text})")

    def g_Power(self, node: ir.Power) -> _Expr:
        # numeric.power raises here where it gives unknown: the interpreter then says why.
        return _Expr(f"_power({self.expr(node.base).text}, {self.expr(node.exponent).text})")

    def g_Call(self, node: ir.Call) -> _Expr:
        args = ", ".join(self.expr(a).text for a in node.args)
        f = node.function
        if f in _DIRECT:
            return _Expr(f"{_DIRECT[f]}({args})")
        if f in _STRICT:
            return _Expr(f"_{f}({args})")
        raise KeyError(f"unknown function {f!r}")

    # logic
    def g_Compare(self, node: ir.Compare) -> _Expr:
        left, right = self.expr(node.left), self.expr(node.right)
        op = node.op
        if right.const is not None and left.const is None:
            return self._against(left.text, op, right.const)
        if left.const is not None and right.const is None:
            return self._against(right.text, numeric.MIRRORED[op], left.const)
        return _Expr(f"{_COMPARE_NAMES[op]}({left.text}, {right.text})")

    def _against(self, text: str, op: str, constant: float) -> _Expr:
        folded = _calibrated(op, float(constant))
        if folded is None:
            return _Expr(f"{_COMPARE_NAMES[op]}({text}, {constant!r})")
        plain, low, high = folded
        if plain == ">=":
            return _Expr(f"({text} >= {low!r})")
        if plain == "<=":
            return _Expr(f"({text} <= {low!r})")
        if plain == "between":
            return _Expr(f"({low!r} <= {text} <= {high!r})")
        return _Expr(f"(not ({low!r} <= {text} <= {high!r}))")

    def g_Equal(self, node: ir.Equal) -> _Expr:
        left, right = self.expr(node.left), self.expr(node.right)
        return _Expr(f"({left.text} {'!=' if node.negated else '=='} {right.text})")

    def g_Member(self, node: ir.Member) -> _Expr:
        inner = self.expr(node.operand)
        values = self.constant(frozenset(node.values))
        return _Expr(f"({inner.text} {'not in' if node.negated else 'in'} {values})")

    def g_Known(self, node: ir.Known) -> _Expr:
        # An input: read exactly. A definition: guarded known (else the interpreter decides).
        return _Expr(f"({self.expr(node.operand).text} is not None)")

    def g_Not(self, node: ir.Not) -> _Expr:
        return _Expr(f"(not {self.expr(node.operand).text})")

    def _logic(self, node, word: str) -> _Expr:
        # Reaching operand k means operands before it were evaluated; after the whole,
        # only the first is sure to have been.
        first, *rest = node.operands
        parts = [self.expr(first).text]
        after_first = dict(self.assigned)
        parts += [self.expr(o).text for o in rest]
        self.assigned = after_first
        return _Expr("(" + f" {word} ".join(parts) + ")")

    def g_And(self, node: ir.And) -> _Expr:
        return self._logic(node, "and")

    def g_Or(self, node: ir.Or) -> _Expr:
        return self._logic(node, "or")

    def g_AtLeast(self, node: ir.AtLeast) -> _Expr:
        if not node.operands:
            return _Expr(repr(0 >= node.count))
        # A flat tuple, not a + b + ...: Python's compiler nests a long sum too deep.
        items = ", ".join(self.expr(o).text for o in node.operands)  # all evaluated, in order
        return _Expr(f"(sum(({items},)) >= {node.count!r})")

    def g_If(self, node: ir.If) -> _Expr:
        condition = self.expr(node.condition)
        then = self._branch(node.then)
        otherwise = self._branch(node.otherwise)
        return _Expr(f"({then.text} if {condition.text} else {otherwise.text})")


def fast_functions(program: ir.Program, statuses) -> tuple[Callable, Callable]:
    """The generated (prepare_fast, criteria_fast) of a lowered protocol.

    `statuses` are the objects criteria_fast returns for eligible, ineligible, undetermined.
    """
    return Generator(program, statuses=statuses).build()


def status_function(program: ir.Program, statuses) -> Callable:
    """The generated status_fast(data) of a lowered protocol: a status, or None (evaluate in full)."""
    return Generator(program, statuses=statuses).build_status()


def expression_functions(program: ir.Program) -> tuple[Callable, Callable]:
    """The generated (prepare_fast, value_fast) of a lowered lone expression (lowering.lower_expression)."""
    return Generator(program, name="expression").build_expression()
