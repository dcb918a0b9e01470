"""The syntax tree: frozen attrs nodes, data only.

Spans are excluded from equality, so two trees that say the same thing compare
equal wherever they were written (`parse(fmt(x)) == parse(x)`).
"""

from __future__ import annotations

from typing import Optional, Union

import attrs

from .source import Span

_node = attrs.frozen(kw_only=True)


def _span():
    return attrs.field(eq=False, repr=False, default=Span(0, 0))


# ----------------------------------------------------------------- expressions
@_node
class Number:
    """A number literal, kept as written, with an optional unit (`171 umol/L`, `40%`)."""

    text: str
    unit: Optional[str] = None
    unit_span: Span = _span()
    span: Span = _span()

    @property
    def value(self) -> float:
        """The number (an int when written as one, so that it shows as written).

        Whole numbers of more than 300 digits are floats, so that no text raises
        (Python refuses to convert more than 4300 digits to an int): one beyond the
        float range is then infinite, and the checker refuses it (E206).
        """
        digits = self.text.lstrip("-")
        if digits.isdigit() and len(digits) <= 300:
            return int(self.text)
        return float(self.text)


@_node
class String:
    """A quoted category value such as `"positive"`."""

    value: str
    span: Span = _span()


@_node
class Boolean:
    """`true` or `false`."""

    value: bool
    span: Span = _span()


@_node
class Name:
    """A reference to an input or a definition."""

    name: str
    span: Span = _span()


@_node
class Call:
    """A function call: `ln(x)`, `max(a, b)`, `known(TB)`."""

    function: str
    args: tuple["Expr", ...]
    window: Optional["Number"] = None  # `f(X within 12 weeks)`: the duration of the window
    function_span: Span = _span()
    span: Span = _span()


@_node
class Limit:
    """`2.5 x ULN` (or `x LLN`): a multiple of the limit of normal of the input on the comparison's other side."""

    factor: Number
    limit: str  # "ULN" | "LLN"
    span: Span = _span()


@_node
class Negate:
    """Unary minus."""

    operand: "Expr"
    span: Span = _span()


@_node
class Arithmetic:
    """A binary `+ - * /`."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@_node
class Power:
    """`base ^ exponent` (right-associative, tighter than unary minus)."""

    base: "Expr"
    exponent: "Expr"
    span: Span = _span()


@_node
class As:
    """`X as UNIT`: the plain number of X expressed in UNIT."""

    operand: "Expr"
    unit: str
    unit_span: Span = _span()
    span: Span = _span()


@_node
class Compare:
    """A comparison chain `a < b <= c`; `ops` are ASCII (`=`, `!=`, `<`, `<=`, `>`, `>=`)."""

    operands: tuple["Expr", ...]
    ops: tuple[str, ...]
    span: Span = _span()


@_node
class Membership:
    """`X in {"a", "b"}`, `X in {0, 1}` or `X not in {...}`."""

    operand: "Expr"
    values: tuple[Union[String, Number], ...]
    negated: bool = False
    span: Span = _span()


@_node
class Not:
    """Kleene negation."""

    operand: "Expr"
    span: Span = _span()


@_node
class Logic:
    """Kleene `and` / `or` over two or more operands."""

    op: str  # "and" | "or"
    operands: tuple["Expr", ...]
    span: Span = _span()


@_node
class AtLeast:
    """`at least N of (A, B, ...)`."""

    count: int
    operands: tuple["Expr", ...]
    span: Span = _span()


@_node
class If:
    """`if C then A else B`; `otherwise` is None when `else` is left out."""

    condition: "Expr"
    then: "Expr"
    otherwise: Optional["Expr"] = None
    span: Span = _span()


Expr = Union[
    Number, String, Boolean, Name, Call, Limit, Negate, Arithmetic, Power, As, Compare, Membership, Not, Logic, AtLeast,
    If
]


# ------------------------------------------------------------------ statements
@_node
class NumberType:
    """`number UNIT?`, or `integer UNIT?` (`whole`): whole numbers only."""

    unit: Optional[str] = None
    unit_span: Span = _span()
    whole: bool = False


@_node
class BooleanType:
    """`boolean`."""


@_node
class DateType:
    """`date`: a calendar date, such as a birth date (for `age(D)` and `time since D`)."""


@_node
class CategoryType:
    """`one of "a", "b", ...`, or `ordered "a", "b", ...` (`ordered`): values ordered as listed."""

    values: tuple[String, ...]
    ordered: bool = False


@_node
class EventType:
    """`condition in VS`, `procedure in VS`, `medication in VS`: events whose code is in a value set."""

    kind: str  # "condition" | "procedure" | "medication"
    valueset: str
    valueset_span: Span = _span()


InputType = Union[NumberType, BooleanType, DateType, CategoryType, EventType]


@_node
class Range:
    """`range LOW..HIGH`, inclusive, in the input's unit."""

    low: Number
    high: Number
    span: Span = _span()


@_node
class MolarMass:
    """`molar mass N g/mol`."""

    amount: Number
    span: Span = _span()


@_node
class Label:
    """The input's human label."""

    text: str
    span: Span = _span()


@_node
class LookBack:
    """`look back DURATION`: how old a value may be and still be the current one."""

    amount: Number
    span: Span = _span()


@_node
class Normal:
    """`normal LOW..HIGH`: the default reference range, in the input's unit."""

    low: Number
    high: Number
    span: Span = _span()


@_node
class Code:
    """`code SYSTEM "CODE"`: a code the input is recorded under (FHIR input); `system` as written."""

    system: str  # an alias such as LOINC, or a URI when `quoted`
    code: str
    quoted: bool = False
    system_span: Span = _span()
    span: Span = _span()


Attribute = Union[Range, MolarMass, LookBack, Normal, Label, Code]


@_node
class Header:
    """`protocol ID "title"`."""

    id: str
    title: Optional[str] = None
    span: Span = _span()


@_node
class Input:
    """`input NAME: TYPE ATTR*`."""

    name: str
    type: InputType
    attributes: tuple[Attribute, ...] = ()
    name_span: Span = _span()
    span: Span = _span()

    def attribute(self, kind: type) -> Optional[Attribute]:
        """The first attribute of a kind, or None."""
        return next((a for a in self.attributes if isinstance(a, kind)), None)


@_node
class Define:
    """`define NAME = EXPR`."""

    name: str
    expr: Expr
    name_span: Span = _span()
    span: Span = _span()


@_node
class Parameter:
    """`NAME: TYPE`, a parameter of a function (a number with an optional unit, or a boolean)."""

    name: str
    type: Union[NumberType, BooleanType]
    molar_mass: Optional[Number] = None  # `molar mass N g/mol`, for an argument in mass or substance
    name_span: Span = _span()
    span: Span = _span()


@_node
class Function:
    """`define NAME(PARAM: TYPE, ...) = EXPR`."""

    name: str
    parameters: tuple[Parameter, ...]
    expr: Expr
    name_span: Span = _span()
    span: Span = _span()


@_node
class Import:
    """`import "file.rules"` (a path, relative to the importing file) or `import scores` (a library)."""

    target: str
    library: bool  # True for `import NAME`
    target_span: Span = _span()
    span: Span = _span()


@_node
class Criterion:
    """`inclusion ID "text"?: EXPR` or `exclusion ...`."""

    kind: str  # "inclusion" | "exclusion"
    id: str
    text: Optional[str]
    expr: Expr
    id_span: Span = _span()
    span: Span = _span()


@_node
class ValueSet:
    """`valueset NAME: SYSTEM "code", ...` or `valueset NAME: file "path"` (`path` set, `codes` empty)."""

    name: str
    system: Optional[str] = None
    codes: tuple[String, ...] = ()
    path: Optional[str] = None
    system_quoted: bool = False  # the system was written as a quoted URI
    system_span: Span = _span()
    name_span: Span = _span()
    span: Span = _span()


@_node
class Complete:
    """`complete KIND, ...`: the kinds of record (or inputs) that are complete for every patient."""

    kinds: tuple[str, ...]
    kind_spans: tuple[Span, ...] = attrs.field(eq=False, repr=False, default=())
    span: Span = _span()


Statement = Union[Header, Import, Input, Define, Function, Criterion, ValueSet, Complete]


@_node
class RulesFile:
    """A whole rules file: its statements in the order written."""

    statements: tuple[Statement, ...]
    span: Span = _span()


# ------------------------------------------------------------------ walking
def children(node) -> tuple:
    """The syntax nodes directly inside a node, in the order written (spans are not nodes)."""
    found = []
    for field in attrs.fields(type(node)):
        value = getattr(node, field.name)
        for item in value if isinstance(value, tuple) else (value,):
            if attrs.has(type(item)) and not isinstance(item, Span):
                found.append(item)
    return tuple(found)


def walk(node):
    """Every syntax node beneath `node`, itself first (iterative: no recursion limit)."""
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        stack.extend(reversed(children(item)))
