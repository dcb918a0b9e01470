"""Which outcomes and boundaries the example patients reach (`protocol-dsl test --coverage`).

For every criterion and every comparison: whether some case made it true, false and
unknown. For every threshold (a comparison of a value with a number literal): whether
some case sits exactly on it, and some case just across it, that is within one step
of the literal's last written decimal (`1.5` -> 0.1, `171` -> 1) on the side where the
comparison's outcome differs from the outcome on the threshold.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Optional

import attrs

from . import ast
from .checker import Num, conversion
from .backends.interpreter import Trace
from .data import format_number
from .evaluate import Result, compared_values, ordered_scale
from .source import quoted
from .protocol import Protocol

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq, "!=": operator.ne}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
_OUTCOMES = ((True, "true"), (False, "false"), (None, "unknown"))


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))


@attrs.define
class Outcomes:
    """How many cases gave each value to a criterion or comparison."""

    label: str
    line: int
    column: int
    counts: dict = attrs.field(factory=lambda: {True: 0, False: 0, None: 0})

    @property
    def complete(self) -> bool:
        return all(self.counts.values())


@attrs.define
class Boundary:
    """A threshold: `value OP literal`, and the cases on it and just across it."""

    label: str
    line: int
    column: int
    node: Any  # the Compare node
    index: int  # the pair: operands[index] OP operands[index + 1]
    threshold: float
    unit: str
    step: float
    on: list = attrs.field(factory=list)
    across: list = attrs.field(factory=list)
    scale: tuple = ()  # an ordered scale's values: the threshold and step are positions on it
    whole_op: str = ""  # an integer against a threshold between whole numbers: `value OP threshold` on integers

    def value_op(self) -> str:
        """The pair's operator read as `value OP threshold`."""
        if self.whole_op:
            return self.whole_op
        op = self.node.ops[self.index]
        literal_left = isinstance(self.node.operands[self.index], (ast.Number, ast.String))
        return _MIRROR[op] if literal_left else op

    @property
    def complete(self) -> bool:
        return bool(self.on) and bool(self.across)

    def hint(self) -> str:
        """What case would complete this boundary."""
        op = self.value_op()
        on_value = _OPS[op](self.threshold, self.threshold)
        below = self.threshold - self.step
        target = below if _OPS[op](below, self.threshold) != on_value else self.threshold + self.step
        shown, across = self.shown(self.threshold), self.shown(target)
        wanted = []
        if not self.on:
            wanted.append(f"a case exactly on {shown}")
        if not self.across:
            wanted.append(f"a case at {across}")
        return " and ".join(wanted)

    def shown(self, value: float) -> str:
        if self.scale:
            return quoted(self.scale[int(value)])
        return f"{format_number(value)}{(' ' + self.unit) if self.unit else ''}"


@attrs.define
class WindowBoundary(Boundary):
    """A window `within N UNIT` of an aggregate: the cases with a value on its first day, and one the day before."""

    window: Any = None
    input: str = ""

    def hint(self) -> str:
        wanted = []
        if not self.on:
            wanted.append(f"a case with a value of {self.input} exactly {self.window.text()} before the index date")
        if not self.across:
            wanted.append(f"a case with a value of {self.input} one day earlier")
        return " and ".join(wanted)


@attrs.define
class Coverage:
    """Coverage of one rules file by its cases."""

    file: str
    cases: int
    criteria: list[Outcomes]
    comparisons: list[Outcomes]
    boundaries: list[Boundary]

    @property
    def complete(self) -> bool:
        return all(o.complete for o in self.criteria + self.comparisons) and all(b.complete for b in self.boundaries)

    # --------------------------------------------------------------- outputs
    def text(self) -> str:
        lines = [f"coverage of {self.file} by {self.cases} case{'s' if self.cases != 1 else ''}:"]

        def table(title: str, rows: list[Outcomes]) -> None:
            if not rows:
                return
            done = sum(r.complete for r in rows)
            lines.append(f"  {title}: {done} of {len(rows)} reached true, false and unknown")
            for row in rows:
                if not row.complete:
                    absent = ", ".join(word for value, word in _OUTCOMES if not row.counts[value])
                    lines.append(f"    line {row.line}: {row.label}: never {absent}")

        table("criteria", self.criteria)
        table("comparisons", self.comparisons)
        if self.boundaries:
            done = sum(b.complete for b in self.boundaries)
            lines.append(f"  boundaries: {done} of {len(self.boundaries)} with a case on the threshold and one just across")
            for b in self.boundaries:
                if not b.complete:
                    lines.append(f"    line {b.line}: {b.label}: add {b.hint()}")
        lines.append("  coverage is complete" if self.complete else "  coverage is incomplete")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        def outcomes(row: Outcomes) -> dict:
            return {"expr": row.label, "line": row.line, "column": row.column,
                    **{word: row.counts[value] for value, word in _OUTCOMES}}

        return {
            "file": self.file,
            "cases": self.cases,
            "complete": self.complete,
            "criteria": [outcomes(r) for r in self.criteria],
            "comparisons": [outcomes(r) for r in self.comparisons],
            "boundaries": [
                {"expr": b.label, "line": b.line, "column": b.column,
                 "threshold": b.scale[int(b.threshold)] if b.scale else b.threshold, "unit": b.unit,
                 "on": b.on, "across": b.across}
                for b in self.boundaries
            ],
        }

    def lcov(self) -> str:
        """LCOV tracefile: criteria as functions, each outcome and boundary side as a branch."""
        out = ["TN:", f"SF:{self.file}"]
        for row in self.criteria:
            out.append(f"FN:{row.line},{row.label}")
        for row in self.criteria:
            out.append(f"FNDA:{self.cases},{row.label}")
        out += [f"FNF:{len(self.criteria)}", f"FNH:{len(self.criteria) if self.cases else 0}"]
        branches = hit = 0
        block = 0
        for row in self.criteria + self.comparisons:
            for branch, (value, _word) in enumerate(_OUTCOMES):
                count = row.counts[value]
                out.append(f"BRDA:{row.line},{block},{branch},{count if count else '-'}")
                branches += 1
                hit += bool(count)
            block += 1
        for b in self.boundaries:
            for branch, cases in enumerate((b.on, b.across)):
                out.append(f"BRDA:{b.line},{block},{branch},{len(cases) if cases else '-'}")
                branches += 1
                hit += bool(cases)
            block += 1
        out += [f"BRF:{branches}", f"BRH:{hit}"]
        lines = sorted({r.line for r in self.criteria + self.comparisons})
        hits = {line: 0 for line in lines}
        for row in self.criteria + self.comparisons:
            hits[row.line] = max(hits[row.line], sum(row.counts.values()))
        out += [f"DA:{line},{hits[line]}" for line in lines]
        out += [f"LF:{len(lines)}", f"LH:{sum(1 for line in lines if hits[line])}", "end_of_record"]
        return "\n".join(out) + "\n"


def measure(protocol: Protocol, named_results: list[tuple[str, Result]]) -> Coverage:
    """Coverage of a protocol by evaluated cases (name, result)."""
    checked = protocol.checked
    source = checked.source

    def where(node) -> tuple[int, int]:
        return source.position(node.span.start)

    def text(node) -> str:
        return " ".join(source.slice(node.span).split())

    criteria = [Outcomes(c.id, *where(c)) for c in checked.criteria]
    comparisons: dict[int, Outcomes] = {}
    boundaries: dict[tuple[int, int], Boundary] = {}
    for node in _windows(checked):
        name = next(n.name for n in ast.walk(node.args[0]) if isinstance(n, ast.Name) and n.name in checked.inputs)
        window = checked.windows[id(node)]
        boundaries[(id(node), 0)] = WindowBoundary(
            f"{text(node.args[0])} within {window.text()}", *where(node.window), node, 0,
            float(node.window.value), node.window.unit or "", 1.0, window=window, input=name,
        )
    for node in _comparisons(checked):
        comparisons[id(node)] = Outcomes(text(node), *where(node))
        if not isinstance(node, ast.Compare):
            continue
        scale = ordered_scale(checked, node)
        for index in range(len(node.ops)):
            left, right = node.operands[index], node.operands[index + 1]
            if scale is not None:
                boundary = _ordered_boundary(node, index, scale, text, where)
                if boundary is not None:
                    boundaries[(id(node), index)] = boundary
                continue
            literal = _literal(right) if _literal(left) is None else (_literal(left) if _literal(right) is None else None)
            if literal is None:
                continue
            unit = literal.unit or ""
            if not unit:  # a bare literal is in the other side's unit
                other = checked.type_of(left if _literal(right) is not None else right)
                unit = other.unit.text if isinstance(other, Num) and not other.bare else ""
            pair = f"{text(left)} {node.ops[index]} {text(right)}"
            boundary = Boundary(pair, *where(literal), node, index, float(literal.value), unit, _step(literal.text))
            other = left if literal is right else right
            if isinstance(other, ast.Name) and other.name in checked.inputs and checked.inputs[other.name].whole:
                boundary = _whole_boundary(boundary)
                if boundary is None:
                    continue
            boundaries[(id(node), index)] = boundary

    for name, result in named_results:
        for boundary in boundaries.values():
            if isinstance(boundary, WindowBoundary):
                _window_boundary(boundary, result, name)
        for row, criterion in zip(criteria, result.criteria.values()):
            row.counts[criterion.value] += 1
        for criterion in result.criteria.values():
            for trace in _walk(criterion.trace):
                row = comparisons.get(id(trace.node))
                if row is not None:
                    row.counts[trace.value] += 1
                if isinstance(trace.node, ast.Compare):
                    _boundaries(checked, trace, boundaries, name)
    return Coverage(source.name, len(named_results), criteria, list(comparisons.values()), list(boundaries.values()))


def _whole_boundary(boundary: Boundary) -> Optional[Boundary]:
    """For an integer input the cases sit on whole numbers: `ecog <= 1.5` is on 1 and across at 2."""
    op, threshold = boundary.value_op(), boundary.threshold
    boundary.step = 1.0
    if float(threshold).is_integer():
        return boundary
    if op in ("=", "!="):
        return None  # no whole number is on it: the comparison's outcomes say the rest
    if op in ("<", "<="):
        boundary.threshold, boundary.whole_op = float(math.floor(threshold)), "<="
    else:
        boundary.threshold, boundary.whole_op = float(math.ceil(threshold)), ">="
    return boundary


def _ordered_boundary(node: ast.Compare, index: int, scale: tuple, text, where) -> Optional[Boundary]:
    """`nyha >= "III"`: on the value itself, and across on its neighbour where the outcome differs."""
    left, right = node.operands[index], node.operands[index + 1]
    op = node.ops[index]
    if isinstance(left, ast.String) == isinstance(right, ast.String) or op in ("=", "!="):
        return None
    literal = left if isinstance(left, ast.String) else right
    if isinstance(left, ast.String):
        op = _MIRROR[op]
    at = scale.index(literal.value)
    on = _OPS[op](at, at)
    neighbours = [at + step for step in (-1, 1) if 0 <= at + step < len(scale) and _OPS[op](at + step, at) != on]
    if not neighbours:
        return None  # nothing lies across (`nyha >= "I"`): the comparison's outcomes say the rest
    pair = f"{text(left)} {node.ops[index]} {text(right)}"
    return Boundary(pair, *where(literal), node, index, float(at), "", 1.0, scale=scale)


def _boundaries(checked, trace: Trace, boundaries: dict, case: str) -> None:
    node = trace.node
    scale = ordered_scale(checked, node)
    if scale is not None:
        _ordered_boundaries(trace, scale, boundaries, case)
        return
    values = [child.value for child in trace.children]
    for index in range(len(node.ops)):
        boundary = boundaries.get((id(node), index))
        if boundary is None or index + 1 >= len(values):
            continue
        literal_left = _literal(node.operands[index]) is not None
        other_index = index + 1 if literal_left else index
        literal_node = node.operands[index if literal_left else index + 1]
        value = values[other_index]
        if value is None:
            continue
        value = conversion(checked.type_of(node.operands[other_index]), checked.type_of(literal_node)).apply(value)
        if value is None:
            continue
        op = boundary.value_op()
        threshold = boundary.threshold
        if _close(value, threshold):
            if case not in boundary.on:
                boundary.on.append(case)
            continue
        distance = abs(value - threshold)
        if distance <= boundary.step * (1 + 1e-9) and _OPS[op](value, threshold) != _OPS[op](threshold, threshold):
            if case not in boundary.across:
                boundary.across.append(case)


def _ordered_boundaries(trace: Trace, scale: tuple, boundaries: dict, case: str) -> None:
    node = trace.node
    values = compared_values(node, trace, scale)
    for index in range(len(node.ops)):
        boundary = boundaries.get((id(node), index))
        if boundary is None:
            continue
        literal_left = isinstance(node.operands[index], ast.String)
        value = values[index + 1 if literal_left else index]
        if not isinstance(value, str) or value not in scale:
            continue
        position, at = scale.index(value), int(boundary.threshold)
        op = boundary.value_op()
        if position == at:
            if case not in boundary.on:
                boundary.on.append(case)
        elif abs(position - at) == 1 and _OPS[op](position, at) != _OPS[op](at, at):
            if case not in boundary.across:
                boundary.across.append(case)


def _window_boundary(boundary: WindowBoundary, result: Result, case: str) -> None:
    import datetime

    from .records import window_start

    values = result.values
    as_of = getattr(values, "as_of", None)
    items = getattr(values, "series", {}).get(boundary.input, ())
    if as_of is None or not items:
        return
    first = window_start(as_of, boundary.window)
    for obs in items:
        if obs.time is None:
            continue
        if obs.time.date() == first.date() and case not in boundary.on:
            boundary.on.append(case)
        if obs.time.date() == (first - datetime.timedelta(days=1)).date() and case not in boundary.across:
            boundary.across.append(case)


def _windows(checked) -> list:
    """Every aggregate with a window over dated values reachable from the criteria, in file order."""
    from .checker import is_record_call

    return [n for n in _reachable(checked) if isinstance(n, ast.Call) and id(n) in checked.windows
            and is_record_call(checked.inputs, n)]


def _reachable(checked, prune=None) -> list:
    """Every syntax node reachable from the criteria, through definitions, in file order.

    `prune(node)` true: neither the node nor anything below it is reached.
    """
    seen: dict[int, Any] = {}
    pending = [c.expr for c in checked.criteria]
    visited_definitions: set[str] = set()
    while pending:
        node = pending.pop()
        if prune is not None and prune(node):
            continue
        seen[id(node)] = node
        if isinstance(node, ast.Name) and node.name in checked.definitions and node.name not in visited_definitions:
            visited_definitions.add(node.name)
            pending.append(checked.definitions[node.name].expr)
        pending.extend(ast.children(node))
    return sorted(seen.values(), key=lambda n: n.span.start)


def _comparisons(checked) -> list:
    """Every comparison and membership test reachable from the criteria, in file order.

    A condition inside an aggregate is evaluated once per dated value and not traced:
    its window is covered instead (`_windows`).
    """
    from .checker import is_record_call

    def aggregate(node) -> bool:
        return isinstance(node, ast.Call) and is_record_call(checked.inputs, node)

    return [n for n in _reachable(checked, aggregate) if isinstance(n, (ast.Compare, ast.Membership))]


def _walk(trace: Trace):
    stack = [trace]
    while stack:
        item = stack.pop()
        yield item
        stack.extend(item.children)


def _literal(node) -> Optional[ast.Number]:
    return node if isinstance(node, ast.Number) else None


def _step(text: str) -> float:
    """One unit of the last written decimal: 1.5 -> 0.1, 171 -> 1, 1e3 -> 1."""
    mantissa = text.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 10.0 ** -decimals
