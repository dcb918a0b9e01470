"""The intermediate representation: the language's meaning, typed and with every unit resolved.

The checked syntax tree is lowered once into these nodes (lowering.py), and every
backend maps them: the interpreter with traces, the generated Python, SQL and the
intervals of the deep checks. Nothing here knows about units or syntax any more:

- every number is in one known unit, and every conversion is an explicit `Scale`;
- a comparison chain is split into pairs joined by `And`, its middle operands shared
  (the same node object appears in two pairs, so it is computed once);
- a definition is one `Definition` of the program, and each use a `Ref` to it, so a
  backend emits it once however often it is used;
- every node keeps `origin`, the syntax node it computes (for spans, reason text and
  coverage), or None for a node that only the lowering made (a conversion, a pair).

Nodes compare by identity: a DAG is memoised by node, never by structure. The
numeric and logical rules that give the nodes their meaning live in numeric.py.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Union

import attrs

from .checker import InputInfo

NUMBER, BOOLEAN, TEXT, DATE = "number", "boolean", "text", "date"

_node = attrs.frozen(kw_only=True, eq=False, repr=False)


def _origin():
    return attrs.field(default=None)


@_node
class Const:
    """A literal, already in the unit it is used in: float, bool or str."""

    value: Union[float, bool, str]
    kind: str
    unit: str = ""  # the unit's text, for reasons ("" for a plain number)
    origin: Any = _origin()


@_node
class Input:
    """An input's value for this patient (None when unknown)."""

    name: str
    kind: str
    unit: str = ""
    origin: Any = _origin()


@_node
class Ref:
    """A use of a definition; the program holds its body once."""

    name: str
    kind: str
    unit: str = ""
    origin: Any = _origin()


@_node
class Scale:
    """`operand * factor`: a unit conversion (unknown if it overflows)."""

    operand: "Node"
    factor: float
    unit: str = ""
    origin: Any = _origin()
    kind = NUMBER


@_node
class Neg:
    """Unary minus."""

    operand: "Node"
    unit: str = ""
    origin: Any = _origin()
    kind = NUMBER


@_node
class Arith:
    """`+ - * /` on numbers already in matching units (division by zero, overflow: unknown)."""

    op: str
    left: "Node"
    right: "Node"
    unit: str = ""
    origin: Any = _origin()
    kind = NUMBER


@_node
class Power:
    """`base ^ exponent` (numeric.power: 0 to a negative power, a negative base to a fraction, overflow: unknown)."""

    base: "Node"
    exponent: "Node"
    unit: str = ""
    origin: Any = _origin()
    kind = NUMBER


@_node
class Call:
    """A numeric function (see numeric.FUNCTIONS); arguments already in matching units."""

    function: str
    args: tuple["Node", ...]
    unit: str = ""
    origin: Any = _origin()
    kind = NUMBER


@_node
class Compare:
    """Two numbers in one unit compared at 12 significant digits."""

    op: str  # "<" "<=" ">" ">=" "=" "!="
    left: "Node"
    right: "Node"
    origin: Any = _origin()
    kind = BOOLEAN


@_node
class Equal:
    """Exact equality of two booleans or two texts (`negated` for !=)."""

    left: "Node"
    right: "Node"
    negated: bool = False
    origin: Any = _origin()
    kind = BOOLEAN


@_node
class Member:
    """`operand in {values}` (or `not in`) for a text."""

    operand: "Node"
    values: tuple[str, ...]
    negated: bool = False
    origin: Any = _origin()
    kind = BOOLEAN


@_node
class Known:
    """True when an input or definition has a value; never unknown."""

    operand: Union[Input, Ref]
    origin: Any = _origin()
    kind = BOOLEAN


@_node
class Not:
    """Kleene negation."""

    operand: "Node"
    origin: Any = _origin()
    kind = BOOLEAN


@_node
class And:
    """Kleene conjunction of two or more operands, evaluated in order."""

    operands: tuple["Node", ...]
    origin: Any = _origin()
    kind = BOOLEAN


@_node
class Or:
    """Kleene disjunction of two or more operands, evaluated in order."""

    operands: tuple["Node", ...]
    origin: Any = _origin()
    kind = BOOLEAN


@_node
class AtLeast:
    """True when at least `count` operands are true, false when they cannot be."""

    count: int
    operands: tuple["Node", ...]
    origin: Any = _origin()
    kind = BOOLEAN


@_node
class If:
    """`if condition then then else otherwise`; an unknown condition keeps a value both branches agree on.

    Branches already in one unit; `otherwise` is Const(True) for an `if` without `else`.
    """

    condition: "Node"
    then: "Node"
    otherwise: "Node"
    kind: str
    unit: str = ""
    origin: Any = _origin()


@_node
class EventQuery:
    """A computation over an event input's events at the index date (events.py).

    `function`: "any" (also a bare name), "count", "time since", "on", "dose",
    "stable_for" or "exposure"; `window` is the records.Window of `within`, or None for
    every event at or before the index date. Numbers are in `unit` ("d" for durations).
    """

    function: str
    name: str
    window: Any
    kind: str
    unit: str = ""
    origin: Any = _origin()


@_node
class Item:
    """Inside an aggregate's operand: the value of the aggregated input's item in turn."""

    name: str
    kind: str
    unit: str = ""
    origin: Any = _origin()


@_node
class Aggregate:
    """An aggregate over one input's dated values at the index date (records.py computes it).

    `function`: latest earliest min max sum count any all rate duration, or "time since";
    `operand` is the per-item expression (the input's name in it is an `Item`): the item's
    value, or the condition of count/any/all/duration. `window` is a records.Window or None
    (every value at or before the index date). `complete`: the input's record is declared
    complete, so that no value is knowledge (count 0, any false, all true).
    Numbers are in `unit` ("d" for durations, the input's unit per day for a rate).
    """

    function: str
    input: str
    operand: "Node"
    window: Any
    complete: bool
    kind: str
    unit: str = ""
    origin: Any = _origin()


Node = Union[Const, Input, Ref, Scale, Neg, Arith, Power, Call, Compare, Equal, Member, Known, Not, And, Or, AtLeast, If,
             EventQuery, Item, Aggregate]


@attrs.frozen
class Definition:
    """`define name = body`."""

    name: str
    body: Node
    origin: Any = None  # the ast.Define


@attrs.frozen
class Criterion:
    """An inclusion or exclusion criterion: its id, kind, text and body."""

    id: str
    kind: str  # "inclusion" | "exclusion"
    text: Optional[str]
    body: Node
    origin: Any = None  # the ast.Criterion
    reads: frozenset = frozenset()  # the inputs it reads, through definitions too


@attrs.frozen
class Program:
    """A lowered protocol: its inputs, its definitions (each after those it uses) and criteria."""

    inputs: dict[str, InputInfo]
    definitions: dict[str, Definition]
    criteria: tuple[Criterion, ...]


def children(node: Node) -> tuple[Node, ...]:
    """The nodes a node computes from, in evaluation order (a Ref has none: its body is apart)."""
    if isinstance(node, (Const, Input, Ref, EventQuery, Item)):
        return ()
    if isinstance(node, Aggregate):
        return (node.operand,)
    if isinstance(node, (Scale, Neg, Member, Known, Not)):
        return (node.operand,)
    if isinstance(node, (Arith, Compare, Equal)):
        return (node.left, node.right)
    if isinstance(node, Power):
        return (node.base, node.exponent)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, (And, Or, AtLeast)):
        return node.operands
    if isinstance(node, If):
        return (node.condition, node.then, node.otherwise)
    raise TypeError(f"not an IR node: {node!r}")


def walk(roots) -> Iterator[Node]:
    """Every node beneath the roots once (shared nodes once), parents before children."""
    seen: set[int] = set()
    stack = list(reversed(list(roots)))
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(reversed(children(node)))


def postorder(roots) -> list[Node]:
    """Every node beneath the roots once, children before parents (iterative: no recursion limit)."""
    order: list[Node] = []
    done: set[int] = set()
    stack: list[tuple[Node, bool]] = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(children(node)) if id(c) not in done)
    return order


def uses(program: Program) -> dict[int, int]:
    """How many parents each node has across the program (a node used twice is shared)."""
    count: dict[int, int] = {}
    roots = [d.body for d in program.definitions.values()] + [c.body for c in program.criteria]
    for node in walk(roots):
        for child in children(node):
            count[id(child)] = count.get(id(child), 0) + 1
    return count
