"""Evaluation results: status, per-criterion values, missing data, reasons and traces."""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING, Any, Optional

from . import ast
from .backends.interpreter import Trace
from .checker import Cat, Checked
from .data import format_number
from .source import quoted

if TYPE_CHECKING:
    from .protocol import Protocol


_ANNOTATION = re.compile(r"\{[^}]*\}")  # a UCUM annotation, such as {HbA1c}

class Status(str, enum.Enum):
    """A patient's eligibility for a protocol."""

    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    UNDETERMINED = "undetermined"

    def __str__(self) -> str:
        return self.value


class CriterionResult:
    """One criterion's outcome: `value` (True/False/None), `reason`, `missing`, `trace`."""

    def __init__(self, result: "Result", node: ast.Criterion, value: Optional[bool], missing: list[str]):
        self._result = result
        self.node = node
        self.id = node.id
        self.kind = node.kind
        self.text = node.text
        self.value = value
        self.missing = missing
        self._reason: Optional[str] = None

    @property
    def trace(self) -> Trace:
        return self._result._trace(self.id)

    @property
    def reason(self) -> str:
        if self._reason is None:
            self._reason = self._result._reasons().criterion_reason(self.trace)
        return self._reason

    @property
    def passes(self) -> Optional[bool]:
        """Whether this criterion lets the patient in (an exclusion passes when false)."""
        if self.value is None:
            return None
        return self.value if self.kind == "inclusion" else not self.value

    def __repr__(self) -> str:
        return f"CriterionResult(id={self.id!r}, value={self.value!r})"


class Result:
    """A patient's evaluation: status, criteria by id, missing inputs, warnings.

    The status and values are computed at once; everything else on first use.
    """

    def __init__(self, protocol: Protocol, values: dict, outcome: tuple, status: Status, warnings: list[str]):
        self.protocol = protocol
        self.values = values
        self.status = status
        self.warnings = warnings
        self._outcome = outcome
        self._criteria: Optional[dict[str, CriterionResult]] = None
        self._traces: Optional[dict[str, Trace]] = None
        self._reasoner: Optional[Reasons] = None

    @property
    def criteria(self) -> dict[str, CriterionResult]:
        """Criterion results by id, in the file's order."""
        if self._criteria is None:
            values = self.values
            self._criteria = {}
            for node, value, lowered in zip(self.protocol.checked.criteria, self._outcome, self.protocol.program.criteria):
                missing = sorted(n for n in lowered.reads if absent(values[n])) if value is None else []
                self._criteria[node.id] = CriterionResult(self, node, value, missing)
        return self._criteria

    @property
    def missing(self) -> list[str]:
        """Inputs without a value read by a criterion whose value is unknown, sorted."""
        return sorted({name for c in self.criteria.values() for name in c.missing})

    def _trace(self, criterion_id: str) -> Trace:
        # Every criterion's trace at once: the definitions they share are traced once, not once per criterion.
        if self._traces is None:
            self._traces = self.protocol.traced_criteria()(self.values)
        return self._traces[criterion_id]

    def _reasons(self) -> "Reasons":
        if self._reasoner is None:
            self._reasoner = Reasons(self.protocol.checked, self.protocol.layout())
        return self._reasoner

    def to_dict(self) -> dict:
        """Exactly the JSON of `protocol-dsl eval --format json`."""
        shown = self.protocol.layout().shown
        return {
            "protocol": self.protocol.id,
            "status": self.status.value,
            "criteria": [
                {
                    "id": c.id,
                    "kind": c.kind,
                    "text": c.text,
                    "value": c.value,
                    "reason": c.reason,
                    "missing": c.missing,
                    "trace": _trace_dict(c.trace, shown),
                }
                for c in self.criteria.values()
            ],
            "missing": self.missing,
            "warnings": list(self.warnings),
        }

    def explain(self) -> str:
        """Human-readable: status, then each criterion with a mark, its text and reason."""
        title = f"{self.protocol.id}: " if self.protocol.id else ""
        lines = [f"{title}{self.status.value.upper()}"]
        for c in self.criteria.values():
            mark = {True: "✓", False: "✗", None: "?"}[c.passes]
            state = {True: "met", False: "not met", None: "unknown"}[c.value]
            lines.append(f"  {mark} {c.id} {c.kind} {state}: {c.text or _text(self.protocol.source, c.node.expr)}")
            lines.append(f"      {c.reason}")
        if self.missing:
            lines.append(f"Missing: {', '.join(self.missing)}")
        for warning in self.warnings:
            lines.append(f"Warning: {warning}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The result as HTML, for Jupyter."""
        from .html_report import result_fragment

        return result_fragment(self)

    def __repr__(self) -> str:
        return f"Result(status={self.status.value!r}, missing={self.missing!r})"


def absent(value: Any) -> bool:
    """Whether an input has no value: unknown, or an event input with no event and a record not declared complete."""
    if value is None:
        return True
    from .events import EventRecord

    return isinstance(value, EventRecord) and not value.events and not value.complete


def _text(source, node) -> str:
    return " ".join(source.slice(node.span).split())


class Layout:
    """What is shown of each syntax node of one checked file, computed on first use and kept.

    A node's text (white space collapsed), line and column, and a comparison's ordered scale, do not
    depend on the patient: reasons and JSON look them up instead of recomputing them per trace.
    """

    def __init__(self, checked: Checked):
        self.checked = checked
        self.source = checked.source
        self._texts: dict[int, str] = {}
        self._shown: dict[int, tuple[str, int, int]] = {}
        self._scales: dict[int, Optional[tuple[str, ...]]] = {}
        self._nodes: list = []  # keeps every node looked up alive, so that its id stays its own

    def text(self, node) -> str:
        key = id(node)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = _text(self.source, node)
            self._nodes.append(node)
        return text

    def shown(self, node) -> tuple[str, int, int]:
        """(text, line, column) of a node."""
        key = id(node)
        shown = self._shown.get(key)
        if shown is None:
            shown = self._shown[key] = (self.text(node), *self.source.position(node.span.start))
        return shown

    def scale(self, node: ast.Compare) -> Optional[tuple[str, ...]]:
        key = id(node)
        if key not in self._scales:
            self._scales[key] = ordered_scale(self.checked, node)
            self._nodes.append(node)
        return self._scales[key]


def _trace_dict(trace: Trace, layout) -> dict:
    expr, line, column = layout(trace.node)
    shown = {
        "expr": expr,
        "value": trace.value,
        "line": line,
        "column": column,
        "children": [_trace_dict(child, layout) for child in trace.children],
    }
    if trace.when[:4].isdigit():  # the dated value used: its date (YYYY-MM-DD)
        shown["date"] = trace.when[:10]
    elif trace.when:  # a limit of normal: where it came from
        shown["limit"] = trace.when
    return shown


def _is_aggregate(checked: Checked, node: ast.Call) -> bool:
    from .checker import is_record_call

    return is_record_call(checked.inputs, node)


def _no_values(node: ast.Call, text: str) -> str:
    """Why an aggregate over dated values has no value."""
    names = sorted({n.name for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)}) if node.args else []
    name = names[0] if len(names) == 1 else "the input"
    window = f" within {node.window.text} {node.window.unit}" if node.window is not None else ""
    if node.function in ("uln", "lln"):
        return f"{text} is unknown: {name} has no reference range (give the result's range, or declare 'normal LOW..HIGH')"
    if node.function == "rate":
        return f"{text} is unknown: it needs two values of {name}{window} at different times"
    if node.function in ("count", "any", "all", "duration"):
        return f"{text} is unknown: no value of {name}{window}, or a value the condition cannot decide"
    return f"{text} is unknown: no value of {name}{window}"


_UNSEEN = object()  # an operand of a chain that evaluation did not reach


def ordered_scale(checked: Checked, node: ast.Compare) -> Optional[tuple[str, ...]]:
    """The values of the ordered scale a comparison chain orders, or None."""
    for a, op, b in zip(node.operands, node.ops, node.operands[1:]):
        if op in ("=", "!="):
            continue
        for operand in (a, b):
            t = checked.types.get(id(operand))
            if isinstance(t, Cat) and t.ordered:
                return t.values
    return None


def ordered_test(op: str, a: str, b: str, scale: tuple[str, ...]) -> bool:
    """`a op b` for two values of a scale, by their positions."""
    if op in ("=", "!="):
        return (a == b) == (op == "=")
    return {"<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__}[op](scale.index(a), scale.index(b))


def compared_values(node: ast.Compare, trace: Trace, scale: tuple[str, ...]) -> list:
    """The value of each operand of an ordering of a scale: literals from the syntax, the rest from the trace."""
    children = iter(trace.children)
    values = []
    for operand in node.operands:
        if isinstance(operand, ast.String):
            values.append(operand.value)
        else:
            child = next(children, None)
            values.append(_UNSEEN if child is None else child.value)
    # A chain stops at its first false pair: a literal beyond the last operand reached was not compared.
    for index, op in enumerate(node.ops):
        a, b = values[index], values[index + 1]
        if a is _UNSEEN or b is _UNSEEN or a is None or b is None or not ordered_test(op, a, b, scale):
            values[index + 2:] = [_UNSEEN] * (len(values) - index - 2)
            if b is not _UNSEEN and a is _UNSEEN:
                values[index + 1] = _UNSEEN
            break
    return values


_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "=": "!=", "!=": "="}


class Reasons:
    """One-line reasons built from a trace, with the observed values and their units."""

    def __init__(self, checked: Checked, layout: Optional[Layout] = None):
        self.checked = checked
        self.source = checked.source
        self.layout = layout if layout is not None else Layout(checked)
        self.text = self.layout.text
        self.whole: set[int] = set()  # traces that stand for the whole criterion

    def criterion_reason(self, trace: Trace) -> str:
        """The reason for a criterion's value, from the trace of its expression."""
        whole = trace
        self.whole = {id(whole)}
        while isinstance(whole.node, ast.Name) and whole.children:  # a definition stands for its body
            whole = whole.children[0]
            self.whole.add(id(whole))
        return self.reason(trace)

    def reason(self, trace: Trace) -> str:
        if trace.note:
            return self.show(trace)
        return getattr(self, "reason_" + type(trace.node).__name__, self.reason_other)(trace)

    # values
    def show(self, trace: Trace) -> str:
        """An operand with its observed value: `INR 1.2`, `40 %`, `1.5 * ULN (1.8 mg/dL)`."""
        node, value = trace.node, trace.value
        if value is None:
            return self.unknown(trace)
        if trace.note:  # an event construct: what it is, its value, and the events behind it
            text = self.text(node)
            shown = text if isinstance(value, bool) else f"{text} {self.value(value, trace.unit)}"
            return f"{'not ' if value is False else ''}{shown}: {trace.note}"
        if isinstance(node, ast.Number):
            return f"{node.text} {node.unit}" if node.unit else node.text
        if isinstance(node, ast.String):
            return quoted(node.value)
        shown = self.value(value, trace.unit)
        if trace.when and (isinstance(node, ast.Limit) or (isinstance(node, ast.Call) and node.function in ("uln", "lln"))):
            if isinstance(node, ast.Limit):  # the limit itself, and where it came from
                return f"{node.factor.text} x {node.limit} {shown} ({trace.when})"
            return f"{self.text(node)} = {shown} ({trace.when})"
        if trace.when:  # a dated value: which one, and when
            since = isinstance(node, ast.Call) and node.function in ("time since", "duration")
            if isinstance(node, ast.Call) and node.function == "age":
                shown += f" (born {trace.when[:10]})"
            else:
                shown += f" since {trace.when[:10]}" if since else f" on {trace.when}"
            if not isinstance(node, ast.Name):
                return f"{self.text(node)} = {shown}"
        if isinstance(node, ast.Name):
            return f"{node.name} {shown}"
        if self.user_function(node):  # a score reads as its name and value: `meld(TB, INR, creatinine, dialysis) 25`
            return f"{self.text(node)} {shown}"
        return f"{self.text(node)} ({shown})"

    def user_function(self, node) -> bool:
        """A call of a function written in rules (this file's or an imported one)."""
        return isinstance(node, ast.Call) and node.function in self.checked.functions

    @staticmethod
    def show_literal(node) -> str:
        """A literal as written: `"III"`, `1.5`, `171 umol/L`."""
        if isinstance(node, ast.String):
            return quoted(node.value)
        return f"{node.text} {node.unit}" if node.unit else node.text

    @staticmethod
    def value(value: Any, unit: str = "") -> str:
        if isinstance(value, str):
            return quoted(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        unit = _ANNOTATION.sub("", unit)  # '%{HbA1c}' reads as %: the annotation says what, not how much
        return f"{format_number(value)} {unit}" if unit else format_number(value)

    def unknown(self, trace: Trace) -> str:
        """Why a value is unknown: the inputs missing beneath it, or an undefined operation."""
        node = trace.node
        if trace.note:
            return trace.note
        if isinstance(node, ast.Name) and node.name not in self.checked.definitions:
            return f"{node.name} is missing"
        missing: list[str] = []
        undefined: list[str] = []
        self._collect_unknown(trace, missing, undefined)
        causes = []
        if missing:
            names = sorted(set(missing))
            verb = "is" if len(names) == 1 else "are"
            causes.append(f"{', '.join(names)} {verb} missing")
        causes.extend(dict.fromkeys(undefined))
        if isinstance(node, ast.Name):  # a definition: say which one, then why
            return f"{node.name} is unknown: {'; '.join(causes)}" if causes else f"{node.name} is undefined"
        if self.user_function(node) and missing:  # a score: say which one, then why
            return f"{self.text(node)} is unknown: {'; '.join(causes)}"
        return " and ".join(causes) if causes else f"{self.text(node)} is undefined"

    def undefined(self, trace: Trace) -> str:
        """Why an operation on known values has no value."""
        node, text = trace.node, self.text(trace.node)
        if isinstance(node, ast.Call) and _is_aggregate(self.checked, node):
            return _no_values(node, text)
        if isinstance(node, ast.Limit):
            name = self.checked.limits.get(id(node), "the input")
            return (f"{text} is unknown: {name} has no reference range (give the result's range, "
                    f"or declare 'normal LOW..HIGH')")
        if isinstance(node, ast.Arithmetic) and node.op == "/" and trace.children[-1].value == 0:
            return f"{text} is undefined (division by zero)"
        if isinstance(node, ast.Call) and node.function in ("ln", "log10"):
            return f"{text} is undefined (the logarithm of a number <= 0)"
        if isinstance(node, ast.Call) and node.function == "sqrt":
            return f"{text} is undefined (the square root of a negative number)"
        if isinstance(node, ast.Call) and node.function == "clamp":
            return f"{text} is undefined (its lower bound is above its upper bound)"
        if isinstance(node, ast.Power) and len(trace.children) == 2:
            base, exponent = (child.value for child in trace.children)
            if base == 0 and exponent < 0:
                return f"{text} is undefined (zero to a negative power)"
            if base < 0 and exponent != int(exponent):
                return f"{text} is undefined (a negative number to a fractional power)"
            return f"{text} is too large to compute"
        if isinstance(node, (ast.Arithmetic, ast.As)) or (isinstance(node, ast.Call) and node.function == "exp"):
            return f"{text} is too large to compute"
        return f"{text} is undefined"

    def _collect_unknown(self, trace: Trace, missing: list[str], undefined: list[str]) -> None:
        node = trace.node
        if trace.note:
            undefined.append(trace.note)
            return
        if isinstance(node, ast.Name) and node.name not in self.checked.definitions:
            missing.append(node.name)
            return
        unknown = [child for child in trace.children if child.value is None]
        if not unknown and not isinstance(node, (ast.If, ast.Name)):
            undefined.append(self.undefined(trace))  # known operands, unknown result
        for child in unknown:
            self._collect_unknown(child, missing, undefined)

    @staticmethod
    def join(parts: list[str], word: str) -> str:
        parts = list(dict.fromkeys(parts))
        return f" {word} ".join(parts)

    # nodes
    def reason_Compare(self, trace: Trace) -> str:
        if trace.value is None:
            return self.join([self.unknown(c) for c in trace.children if c.value is None], "and")
        scale = self.layout.scale(trace.node)
        if scale is not None:
            return self.reason_ordered(trace, scale)
        operands = trace.children
        ops = trace.node.ops
        if trace.value is False:
            # Evaluation stops at the failing pair, so it is the last one evaluated.
            index = len(operands) - 2
            return f"{self.show(operands[index])} {_NEGATED[ops[index]]} {self.show(operands[index + 1])}"
        parts = [self.show(operands[0])]
        for op, operand in zip(ops, operands[1:]):
            parts.append(f"{op} {self.show(operand)}")
        return " ".join(parts)

    def reason_ordered(self, trace: Trace, scale: tuple[str, ...]) -> str:
        """`nyha "II" < "III"`: an ordering of a scale, whose literals have no trace of their own."""
        node = trace.node
        values = compared_values(node, trace, scale)
        children = iter(trace.children)
        shown = [self.show_literal(o) if isinstance(o, ast.String) else self.show(next(children)) for o, v in
                 zip(node.operands, values) if v is not _UNSEEN]
        if trace.value is False:
            for index, op in enumerate(node.ops):
                a, b = values[index], values[index + 1]
                if a is not _UNSEEN and b is not _UNSEEN and not ordered_test(op, a, b, scale):
                    return f"{shown[index]} {_NEGATED[op]} {shown[index + 1]}"
        parts = [shown[0]]
        for op, part in zip(node.ops, shown[1:]):
            parts.append(f"{op} {part}")
        return " ".join(parts)

    def reason_Logic(self, trace: Trace) -> str:
        decisive = trace.node.op == "or"
        children = trace.children
        if trace.value is decisive:
            return self.reason(next(c for c in children if c.value is decisive))
        if trace.value is None and not decisive:
            # An unknown `and` has no false part: what is unknown is the whole story.
            return self.join([self.reason(c) for c in children if c.value is None], "and")
        return self.join([self.reason(c) for c in children], "and")

    def reason_Not(self, trace: Trace) -> str:
        return self.reason(trace.children[0])

    def reason_Name(self, trace: Trace) -> str:
        node = trace.node
        if node.name in self.checked.definitions:
            return self.reason(trace.children[0])
        if trace.value is None:
            return f"{node.name} is missing"
        return f"{node.name} is {self.value(trace.value)}"

    def reason_Boolean(self, trace: Trace) -> str:
        return self.value(trace.value)

    def reason_Membership(self, trace: Trace) -> str:
        if trace.value is None:
            return self.unknown(trace.children[0])
        node = trace.node
        values = "{" + ", ".join(self.show_literal(v) for v in node.values) + "}"
        inside = trace.value != node.negated
        return f"{self.show(trace.children[0])} is {'' if inside else 'not '}in {values}"

    def reason_AtLeast(self, trace: Trace) -> str:
        node = trace.node
        true = [c for c in trace.children if c.value is True]
        unknown = [c for c in trace.children if c.value is None]
        head = f"{len(true)} of {len(node.operands)} true, at least {node.count} needed"
        if trace.value is True:
            return f"{head}: " + "; ".join(self.reason(c) for c in true)
        if trace.value is None:
            return f"{head}, {len(unknown)} unknown: " + "; ".join(self.reason(c) for c in unknown)
        return head

    def reason_If(self, trace: Trace) -> str:
        condition, *branches = trace.children
        why = self.reason(condition)
        if condition.value is False and trace.node.otherwise is None:
            if id(trace) in self.whole:
                return f"not applicable: {why}"
            # Inside a larger expression the `if` is only a true part of it, not the verdict.
            return f"{why}, so {self.text(trace.node)} is true"
        if condition.value is None:
            if trace.value is None:
                return f"{why}; whether it applies decides the outcome"
            return f"{why}, but either way: {self.reason(branches[0])}"
        return f"{why}, so {self.reason(branches[0])}" if branches else why

    def reason_Call(self, trace: Trace) -> str:
        node = trace.node
        if node.function == "known" and not self.user_function(node):
            name = node.args[0].name
            return f"{name} is {'known' if trace.value else 'missing'}"
        if trace.value is None:
            return self.unknown(trace)
        if isinstance(trace.value, bool):
            return f"{self.text(node)} is {self.value(trace.value)}"
        return self.show(trace)

    def reason_other(self, trace: Trace) -> str:
        if trace.value is None:
            return self.unknown(trace)
        return self.show(trace)
