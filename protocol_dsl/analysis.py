"""Deep checks and synthetic patients: what the criteria can and cannot be.

The question asked everywhere is "is there a patient, with complete data inside the
declared ranges (inclusive) and categories, for whom these expressions take these
values?". It is answered on the IR (ir.py) by a search over *cells*: each number
input's range is cut exactly where a comparison with a constant changes value, at the
edges of the constant's 12-digit band (found on floats with numeric.COMPARE, as the
evaluator decides), so that inside a cell each such comparison has one value; booleans
and categories are their values. Expressions are evaluated on boxes of cells with the
interval backend (backends/intervals.py), which over-approximates: a goal that cannot
hold on any box is impossible (a proof); a box where every goal holds gives a witness,
whose point is re-checked by the interpreter before it is returned. Boxes that stay
undecided (arithmetic such as MELD) are sampled. When the search runs out of budget
without a proof, nothing is claimed.
"""

from __future__ import annotations

import itertools
import math
import random
import struct
import time
from typing import Any

import attrs

from . import ast, ir
from .backends.interpreter import Interpreter
from .backends.intervals import FALSE, TRUE, Interval, Intervals
from .checker import Bool, Cat, Checked, Num
from .data import format_number
from .lowering import lower
from .numeric import MAX_FLOAT, ge, le, negate, scale
from .source import Diagnostic


@attrs.frozen
class Goal:
    """An IR node and the values it must take (a subset of {True, False, None})."""

    node: Any
    wanted: frozenset


@attrs.define
class Search:
    """The outcome of a search: a witness patient, a proof of impossibility, or neither."""

    witness: dict | None = None
    impossible: bool = False


# ---------------------------------------------------------------- floats in order
def _key(x: float) -> int:
    bits = struct.unpack("<q", struct.pack("<d", x))[0]
    return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)


def _float(key: int) -> float:
    bits = key if key >= 0 else (-key) | -0x8000000000000000
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def _flip(predicate, low: float, high: float) -> float | None:
    """The first float in (low, high] where a monotone predicate differs from its value at low."""
    start = predicate(low)
    end = predicate(high)
    if start is None or end is None or start == end:
        return None
    a, b = _key(low), _key(high)  # predicate(a) == start, predicate(b) != start
    while b - a > 1:
        m = (a + b) // 2
        if predicate(_float(m)) == start:
            a = m
        else:
            b = m
    return _float(b)


def _chain(node, program: ir.Program):
    """(input name, function of its value) when `node` is a monotone function of one input."""
    steps = []
    while True:
        if isinstance(node, ir.Input):
            break
        if isinstance(node, ir.Ref):
            node = program.definitions[node.name].body
        elif isinstance(node, ir.Scale):
            steps.append(("scale", node.factor))
            node = node.operand
        elif isinstance(node, ir.Neg):
            steps.append(("neg", None))
            node = node.operand
        else:
            return None
    if node.kind != ir.NUMBER:
        return None

    def fn(x):
        for step, factor in reversed(steps):
            if x is None:
                return None
            x = scale(x, factor) if step == "scale" else negate(x)
        return x

    return node.name, fn, not steps


class Analyzer:
    """Answers satisfiability questions about one lowered protocol."""

    def __init__(self, program: ir.Program, budget: int = 20000, seed: int = 0, seconds: float | None = None):
        self.program = program
        # An overall time budget: once spent, every search stops undecided (nothing claimed).
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.out_of_time = False
        self.inputs = program.inputs
        self.domain = Intervals(program)
        self.interpreter = Interpreter(program)
        self.budget = budget
        self.random = random.Random(seed)
        self._cells_of: dict[str, list] = {}
        self._fns: dict[int, Any] = {}
        self._reads: dict[int, frozenset] = {}
        self._cuts: dict[str, tuple[set, set]] | None = None

    # ------------------------------------------------------------ inputs read
    def reads(self, node) -> frozenset:
        """The inputs a node reads, through definitions too (memoised per node)."""
        memo = self._reads
        stack = [node]
        while stack:
            top = stack[-1]
            if id(top) in memo:
                stack.pop()
                continue
            deps = self.domain.deps(top)
            missing = [d for d in deps if id(d) not in memo]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            own = frozenset({top.name}) if isinstance(top, ir.Input) else frozenset()
            memo[id(top)] = own.union(*(memo[id(d)] for d in deps))
        return memo[id(node)]

    # ------------------------------------------------------------ cells
    def _all_cuts(self) -> dict[str, tuple[set, set]]:
        """For each number input: where its cells start, and the readable points (thresholds)."""
        if self._cuts is not None:
            return self._cuts
        cuts: dict[str, tuple[set, set]] = {}
        roots = [d.body for d in self.program.definitions.values()] + [c.body for c in self.program.criteria]
        for node in ir.walk(roots):
            if not isinstance(node, ir.Compare):
                continue
            for mine, other in ((node.left, node.right), (node.right, node.left)):
                if not isinstance(other, ir.Const):
                    continue
                chain = _chain(mine, self.program)
                if chain is None:
                    continue
                name, fn, plain = chain
                low, high = self._range(name)
                c = other.value
                starts, points = cuts.setdefault(name, (set(), set()))
                for test in (ge, le):
                    def predicate(x, test=test, fn=fn, c=c):
                        v = fn(x)
                        return None if v is None else test(v, c)
                    start = _flip(predicate, low, high)
                    if start is not None:
                        starts.add(start)
                if plain and low <= c <= high:
                    points.add(c)
        self._cuts = cuts
        return cuts

    def _range(self, name: str) -> tuple[float, float]:
        info = self.inputs[name]
        low, high = info.range if info.range else (-MAX_FLOAT, MAX_FLOAT)
        return max(float(low), -MAX_FLOAT), min(float(high), MAX_FLOAT)

    def _cells(self, name: str) -> list:
        info = self.inputs[name]
        if isinstance(info.type, Bool):
            return [False, True]  # false first: what an example patient mostly has
        if isinstance(info.type, Cat):
            return list(info.type.values)
        low, high = self._range(name)
        starts, points = self._all_cuts().get(name, (set(), set()))
        starts = {s for s in starts if low < s <= high}
        if not starts and info.range:
            # No threshold: cut the range so that arithmetic on it stays narrow.
            starts = {low + (high - low) * k / 4 for k in range(1, 4)} - {low}
        edges = sorted(starts)
        bounds = [low] + edges
        cells = [
            Interval(a, math.nextafter(b, -math.inf)) for a, b in zip(bounds, edges)
        ] + [Interval(bounds[-1], high)]
        if info.whole:  # an integer takes the whole numbers of each cell only
            cells = [Interval(float(math.ceil(c.lo)), float(math.floor(c.hi))) for c in cells if not c.empty]
        cells = [c for c in cells if not c.empty]
        # Cells holding a threshold first (where clinical decisions sit), then the rest.
        first = [c for c in cells if any(c.lo <= p <= c.hi for p in points)]
        return first + [c for c in cells if c not in first]

    def cells(self, name: str) -> list:
        if name not in self._cells_of:
            self._cells_of[name] = self._cells(name)
        return self._cells_of[name]

    def _points(self, name: str) -> set:
        return self._all_cuts().get(name, (set(), set()))[1]

    # ------------------------------------------------------------ search
    def _implied(self, goals: list[Goal]) -> bool:
        """Whether the goals' necessary consequences on shared sub-expressions contradict.

        A goal that a conjunction be true needs each operand true, a disjunction false each
        operand false, a negation the flipped value of its operand, and a definition the
        value of its body. When one sub-expression (the same node, through definitions) is
        needed with values that have nothing in common, no patient meets the goals: a proof
        the box search cannot find when the sub-expression relates two inputs.
        """
        needed: dict[int, frozenset] = {}
        pending = [(g.node, g.wanted) for g in goals]
        while pending:
            node, wanted = pending.pop()
            while isinstance(node, ir.Ref):
                node = self.program.definitions[node.name].body
            both = needed.get(id(node), wanted) & wanted
            if not both:
                return True
            if needed.get(id(node)) == both:
                continue
            needed[id(node)] = both
            if isinstance(node, ir.Not):
                pending.append((node.operand, frozenset(None if v is None else not v for v in both)))
            elif isinstance(node, ir.And) and both == TRUE or isinstance(node, ir.Or) and both == FALSE:
                pending.extend((o, both) for o in node.operands)
        return False

    def search(self, goals: list[Goal]) -> Search:
        """A patient for whom every goal holds, or a proof that none exists."""
        if self._implied(goals):
            return Search(impossible=True)
        names = sorted(set().union(*(self.reads(g.node) for g in goals)) if goals else set())
        names.sort(key=lambda n: len(self.cells(n)))
        state = {"budget": self.budget, "undecided": False}
        witness = self._search({}, names, goals, state)
        if witness is not None:
            return Search(witness=witness)
        return Search(impossible=not state["undecided"])

    def _search(self, box: dict, remaining: list[str], goals: list[Goal], state: dict) -> dict | None:
        state["budget"] -= 1
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.out_of_time = True
            state["budget"] = -1
        if state["budget"] < 0:
            state["undecided"] = True
            return None
        verdicts = self.domain.evaluate([g.node for g in goals], box)
        if any(not (values & goal.wanted) for values, goal in zip(verdicts, goals)):
            return None  # some goal cannot hold anywhere in this box
        if all(values <= goal.wanted for values, goal in zip(verdicts, goals)):
            point = self._point(box, remaining, goals, tries=1)
            if point is not None:
                return point
        if not remaining:
            point = self._point(box, [], goals, tries=24)
            if point is None:
                state["undecided"] = True
            return point
        name, rest = remaining[0], remaining[1:]
        for cell in self.cells(name):
            found = self._search({**box, name: cell}, rest, goals, state)
            if found is not None:
                return found
            if state["budget"] < 0:
                break
        return None

    def _point(self, box: dict, unassigned: list[str], goals: list[Goal], tries: int) -> dict | None:
        """A concrete patient inside the box for whom the goals hold, checked by the interpreter."""
        for attempt in range(tries):
            patient = {}
            for name, cell in box.items():
                patient[name] = self._whole(name, cell, _pick(cell, self._points(name), attempt, self.random))
            for name in unassigned:
                cell = self.cells(name)[0]
                patient[name] = self._whole(name, cell, _pick(cell, self._points(name), 0, self.random))
            values = _Unknown((name, _value(value)) for name, value in patient.items())  # only the inputs read
            if all(self._concrete(goal.node, values) in goal.wanted for goal in goals):
                return patient
        return None

    def _whole(self, name: str, cell, value):
        """An integer input's value: the whole number nearest the pick, inside its cell (whole ends)."""
        if not self.inputs[name].whole or not isinstance(cell, Interval):
            return value
        return int(min(max(round(value), cell.lo), cell.hi))

    def _concrete(self, node, values: dict):
        if id(node) not in self._fns:
            self._fns[id(node)] = self.interpreter.criterion(ir.Criterion(id="", kind="", text=None, body=node))
        return self._fns[id(node)](values)


class _Unknown(dict):
    """Patient values where an input not given is unknown (the goals read only those given)."""

    def __missing__(self, name):
        return None


def _value(v):
    return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


def bounded(program: ir.Program, node) -> bool:
    """Whether a number node stays finite and known for every patient within the declared ranges."""
    value = Intervals(program).evaluate([node], {})[0]
    return not value.undefined


def _pick(cell, points, attempt: int, rng: random.Random):
    """A concrete value in a cell: a threshold or a readable number when one fits."""
    if not isinstance(cell, Interval):
        return cell
    lo, hi = cell.lo, cell.hi
    if lo == hi:
        return _readable(lo)
    inside = sorted(p for p in points if lo <= p <= hi)
    if inside and attempt < 3:
        return _readable(inside[0])
    if attempt == 0:
        middle = lo / 2 + hi / 2
        for digits in range(7):
            candidate = round(middle, digits)
            if lo <= candidate <= hi:
                return _readable(candidate)
        return middle
    if attempt == 1:
        return _readable(lo)
    if attempt == 2:
        return _readable(hi)
    span_lo, span_hi = max(lo, -1e6), min(hi, 1e6)
    if span_lo > span_hi:
        span_lo, span_hi = lo, hi
    candidate = round(rng.uniform(span_lo, span_hi), 6)
    return _readable(candidate if lo <= candidate <= hi else lo / 2 + hi / 2)


def _readable(x: float):
    return int(x) if float(x).is_integer() and abs(x) < 1e15 else x


# ---------------------------------------------------------------- the deep checks
def _program(checked_or_program) -> ir.Program:
    return checked_or_program if isinstance(checked_or_program, ir.Program) else lower(checked_or_program)


def _passes(criterion: ir.Criterion) -> Goal:
    return Goal(criterion.body, TRUE if criterion.kind == "inclusion" else FALSE)


def _components(analyzer: Analyzer) -> list[list[ir.Criterion]]:
    """Criteria grouped by shared inputs: groups can be satisfied independently."""
    criteria = analyzer.program.criteria
    groups: list[tuple[set, list]] = []
    for criterion in criteria:
        reads = set(analyzer.reads(criterion.body))
        merged = [g for g in groups if g[0] & reads or not reads and not g[0]]
        for g in merged:
            groups.remove(g)
            reads |= g[0]
        groups.append((reads, [c for g in merged for c in g[1]] + [criterion]))
    order = {id(c): i for i, c in enumerate(criteria)}
    return [sorted(g[1], key=lambda c: order[id(c)]) for g in groups]


def _eligible(analyzer: Analyzer) -> tuple[dict | None, list[ir.Criterion]]:
    patient: dict = {}
    for group in _components(analyzer):
        found = analyzer.search([_passes(c) for c in group])
        if found.witness is None:
            return None, (_core(analyzer, group) if found.impossible else [])
        patient.update(found.witness)
    return _ordered(analyzer.program, patient), []


def eligible_patient(checked, analyzer: Analyzer | None = None) -> tuple[dict | None, list]:
    """A complete patient who is eligible, or (None, the criteria that cannot hold together).

    The criteria are the syntax tree's (`ast.Criterion`); an empty list with no patient
    means the search ran out of budget: nothing is proven either way.
    """
    analyzer = analyzer or Analyzer(_program(checked))
    patient, core = _eligible(analyzer)
    return patient, [c.origin for c in core]


def near_misses(checked, analyzer: Analyzer | None = None) -> dict[str, dict | None]:
    """For each criterion, a patient failing that one criterion only (None if there is none)."""
    analyzer = analyzer or Analyzer(_program(checked))
    base, _ = _eligible(analyzer)
    out: dict[str, dict | None] = {c.id: None for c in analyzer.program.criteria}
    for group in _components(analyzer):
        for criterion in group:
            goals = [_passes(c) for c in group if c is not criterion]
            goals.append(Goal(criterion.body, FALSE if criterion.kind == "inclusion" else TRUE))
            found = analyzer.search(goals)
            if found.witness is None or base is None:
                out[criterion.id] = None
            else:
                out[criterion.id] = _ordered(analyzer.program, {**base, **found.witness})
    return out


def _core(analyzer: Analyzer, group: list[ir.Criterion]) -> list[ir.Criterion]:
    """A smallest-by-deletion set of criteria that cannot all pass together."""
    core = list(group)
    for criterion in list(group):
        trial = [c for c in core if c is not criterion]
        if trial and analyzer.search([_passes(c) for c in trial]).impossible:
            core = trial
    return core


def _ordered(program: ir.Program, patient: dict) -> dict:
    return {name: patient[name] for name in program.inputs if name in patient}


def deep_diagnostics(checked: Checked, strict: bool = False, seconds: float | None = None,
                     unproven: list[str] | None = None) -> list[Diagnostic]:
    """Contradictions, constant criteria, implausible literals, redundancy, unused names.

    With `seconds`, the searches stop when that time is spent; what was left undecided
    because of it is appended to `unproven` (see `not_proven`), and nothing is claimed.
    """
    program = lower(checked)
    analyzer = Analyzer(program, seconds=seconds)
    unproven = [] if unproven is None else unproven
    found: list[Diagnostic] = []
    source = checked.source

    def add(severity: str, code: str, message: str, span) -> None:
        found.append(Diagnostic(severity, code, message, source, span))

    for criterion in program.criteria:
        kind = criterion.kind
        for value, code in ((True, "W201"), (False, "W202")):
            result = analyzer.search([Goal(criterion.body, frozenset({value}))])
            if analyzer.out_of_time and not result.impossible and result.witness is None:
                unproven.append(f"whether {kind} {criterion.id} can be {'true' if value else 'false'} ({code})")
            if result.impossible:
                effect = {
                    ("inclusion", True): "no patient can be eligible",
                    ("inclusion", False): "it includes every patient",
                    ("exclusion", True): "it excludes no one",
                    ("exclusion", False): "it excludes every patient",
                }[(kind, value)]
                add("warning", code, f"{kind} {criterion.id} can never be {'true' if value else 'false'}: {effect}",
                    criterion.origin.expr.span)
    patient, core = _eligible(analyzer)
    if patient is None and not core and analyzer.out_of_time:
        unproven.append("whether any patient can satisfy the protocol (E401)")
    if patient is None and core:
        first = core[0]
        if len(core) == 1:
            why = f"no patient meets {first.kind} {first.id}" if first.kind == "inclusion" else (
                f"exclusion {first.id} excludes every patient"
            )
        else:
            names = [f"{c.kind} {c.id}" for c in core]
            why = f"no patient passes {', '.join(names[:-1])} and {names[-1]} together"
        add("error", "E401", f"no patient can satisfy this protocol: {why}", first.origin.id_span)
    found.extend(_implausible_literals(checked, program))
    found.extend(_redundant(checked, analyzer))
    if analyzer.out_of_time and not any("(W204)" in u for u in unproven):
        unproven.append("redundant parts of 'and' and 'or' (W204), not searched to the end")
    found.extend(_unused(checked, program, strict))
    found.sort(key=lambda d: (d.span.start, d.code))
    return found


def not_proven(seconds: float, unproven: list[str]) -> str:
    """The note for what the deep checks left undecided when their time budget ran out."""
    shown = unproven[:5] + ([f"and {len(unproven) - 5} more"] if len(unproven) > 5 else [])
    return f"not proven within the budget of {format_number(seconds)} s: " + "; ".join(shown)


def _roots(program: ir.Program) -> list:
    return [d.body for d in program.definitions.values()] + [c.body for c in program.criteria]


def _implausible_literals(checked: Checked, program: ir.Program) -> list[Diagnostic]:
    from . import units

    out = []
    for node in ir.walk(_roots(program)):
        if not isinstance(node, ir.Compare):
            continue
        for mine, other in ((node.left, node.right), (node.right, node.left)):
            if not (isinstance(mine, ir.Input) and isinstance(other, ir.Const)):
                continue
            literal = other.origin
            if not isinstance(literal, ast.Number) or not literal.unit:
                continue
            info = program.inputs[mine.name]
            if info.range is None or not isinstance(info.type, Num):
                continue
            value = other.value  # already in the input's unit
            low, high = info.range
            if low <= value <= high:
                continue
            unit = info.type.unit.text
            written = f"{literal.text} {literal.unit}"
            shown = f"{format_number(value)} {unit}".strip()
            shown = written if shown == written else f"{written} ({shown})"
            hint = ""
            if low <= literal.value <= high and units.parse_unit(literal.unit) != info.type.unit:
                hint = f": did you mean {literal.text} {unit}?"
            out.append(
                Diagnostic(
                    "warning", "W203",
                    f"{shown} is outside the plausible range of '{mine.name}' "
                    f"({format_number(low)}..{format_number(high)} {unit}){hint}",
                    checked.source, literal.span,
                )
            )
    return out


def _redundant(checked: Checked, analyzer: Analyzer) -> list[Diagnostic]:
    out = []
    source = checked.source
    reported: set[int] = set()
    for node in ir.walk(_roots(analyzer.program)):
        if not isinstance(node, (ir.And, ir.Or)) or not isinstance(node.origin, ast.Logic):
            continue
        if len(node.operands) > 8 or any(o.origin is None for o in node.operands):
            continue
        op = "and" if isinstance(node, ir.And) else "or"
        for a, b in itertools.permutations(node.operands, 2):
            if id(a) in reported or id(b) in reported:
                continue
            if not analyzer.reads(a) & analyzer.reads(b):
                continue
            # a implies b when (a and not b) is impossible.
            if not analyzer.search([Goal(a, TRUE), Goal(b, frozenset({False, None}))]).impossible:
                continue
            if not analyzer.search([Goal(a, TRUE)]).witness:
                continue  # a never true: reported as such, not as redundancy
            redundant = a if op == "or" else b
            reported.add(id(redundant))
            text = lambda n: " ".join(source.slice(n.origin.span).split())
            out.append(
                Diagnostic(
                    "warning", "W204",
                    f"'{text(redundant)}' adds nothing to this '{op}': whenever '{text(a)}' is true, "
                    f"'{text(b)}' is true too",
                    source, redundant.origin.span,
                )
            )
    return out


def _unused(checked: Checked, program: ir.Program, strict: bool) -> list[Diagnostic]:
    out = []
    used_inputs: set[str] = set()
    used_definitions: set[str] = set()
    pending = [c.body for c in program.criteria]
    while pending:
        roots, pending = pending, []
        for node in ir.walk(roots):
            if isinstance(node, (ir.Input, ir.EventQuery)):
                used_inputs.add(node.name)
            elif isinstance(node, ir.Aggregate):
                used_inputs.add(node.input)
            elif isinstance(node, ir.Ref) and node.name not in used_definitions:
                used_definitions.add(node.name)
                pending.append(program.definitions[node.name].body)
    for name, info in program.inputs.items():
        if name not in used_inputs:
            out.append(Diagnostic("warning", "W301", f"input '{name}' is declared but no criterion uses it",
                                  checked.source, info.span))
    for name, definition in program.definitions.items():
        if name not in used_definitions:
            out.append(Diagnostic("warning", "W302", f"definition '{name}' is never used by a criterion",
                                  checked.source, definition.origin.name_span))
    if strict:
        for criterion in program.criteria:
            if criterion.text is None:
                out.append(Diagnostic(
                    "warning", "W303",
                    f"criterion {criterion.id} has no original text: quote the protocol's wording after its id",
                    checked.source, criterion.origin.id_span))
    return out
