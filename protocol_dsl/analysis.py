"""Deep checks and synthetic patients: what the criteria can and cannot be.

The question asked everywhere is "is there a patient, with complete data inside the
declared ranges and categories, for whom these expressions take these values?". It is
answered by a search over *cells*: each number input's range is cut at every threshold
it is compared with (converted into its unit), so that inside a cell each such
comparison has one value; booleans and categories are their values. Expressions are
evaluated on boxes of cells with interval arithmetic, which over-approximates: a goal
that is false on every box is impossible (a proof); a box where every goal is true
holds a witness, whose point is checked by the real evaluator before it is returned.
Boxes that stay undecided (arithmetic such as MELD) are sampled. When the search runs
out of budget without a proof, nothing is claimed.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any, Optional

import attrs

from . import ast
from .checker import Bool, Cat, Checked, InputInfo, Num, conversion, inputs_read
from .compiler import Compiler
from .data import format_number
from .source import Diagnostic

TRUE, FALSE, NONE = frozenset({True}), frozenset({False}), frozenset({None})
BOTH = frozenset({True, False})
_INF = math.inf


# ---------------------------------------------------------------- abstract values
@attrs.frozen
class Interval:
    """Every number the expression can take in a box; `undefined` if it may be unknown."""

    lo: float
    hi: float
    undefined: bool = False

    @property
    def empty(self) -> bool:
        return self.lo > self.hi


def _iv(lo: float, hi: float, undefined: bool = False) -> Interval:
    if math.isnan(lo) or math.isnan(hi):
        return Interval(-_INF, _INF, True)
    return Interval(lo, hi, undefined)


def _products(a: Interval, b: Interval) -> list[float]:
    out = []
    for x in (a.lo, a.hi):
        for y in (b.lo, b.hi):
            p = x * y
            out.append(0.0 if math.isnan(p) else p)  # 0 * inf: the zero end decides
    return out


@attrs.frozen
class Goal:
    """An expression and the values it must take (a subset of {True, False})."""

    expr: Any
    wanted: frozenset


@attrs.define
class Search:
    """The outcome of a search: a witness patient, a proof of impossibility, or neither."""

    witness: Optional[dict] = None
    impossible: bool = False


class Analyzer:
    """Answers satisfiability questions about one checked protocol."""

    def __init__(self, checked: Checked, budget: int = 20000, seed: int = 0, inputs=None):
        self.checked = checked
        self.inputs = inputs if inputs is not None else checked.inputs
        self.compiler = Compiler(checked, traced=False)
        self.budget = budget
        self.random = random.Random(seed)
        self._cells_of: dict[str, list] = {}
        self._fns: dict[int, Any] = {}

    @property
    def cells(self) -> "_Cells":
        return _Cells(self)

    # ------------------------------------------------------------ cells
    def _thresholds(self, name: str) -> list[float]:
        """Every constant `name` is compared with, in its unit (through definitions too)."""
        info = self.checked.inputs[name]
        found: set[float] = set()
        nodes = [c.expr for c in self.checked.criteria] + [d.expr for d in self.checked.definitions.values()]
        for node in _walk(nodes):
            if not isinstance(node, ast.Compare):
                continue
            for left, right in zip(node.operands, node.operands[1:]):
                for mine, other in ((left, right), (right, left)):
                    if isinstance(mine, ast.Name) and mine.name == name and isinstance(other, ast.Number):
                        try:
                            factor = conversion(self.checked.type_of(other), info.type)
                        except (AssertionError, KeyError):
                            continue
                        found.add(other.value * factor)
        return sorted(found)

    def _cells(self, info: InputInfo) -> list:
        t = info.type
        if isinstance(t, Bool):
            return [False, True]  # false first: what an example patient mostly has
        if isinstance(t, Cat):
            return list(t.values)
        low, high = info.range if info.range else (-_INF, _INF)
        points = [p for p in self._thresholds(info.name) if low <= p <= high]
        if not points and low > -_INF and high < _INF:
            # No threshold: cut the range so that arithmetic on it stays narrow.
            points = [low + (high - low) * k / 4 for k in range(1, 4)]
        edges = [low] + points + [high]
        # Thresholds first (where clinical decisions sit), then the spans between them,
        # then the range's own ends: the search meets readable values first.
        cells: list = [Interval(p, p) for p in points]
        cells += [Interval(a, b) for a, b in zip(edges, edges[1:]) if a < b]  # open, over-approximated
        cells += [Interval(p, p) for p in (low, high) if -_INF < p < _INF and p not in points]
        return cells

    # ------------------------------------------------------------ search
    def search(self, goals: list[Goal]) -> Search:
        """A patient for whom every goal holds, or a proof that none exists."""
        names = sorted(set().union(*(inputs_read(self.checked, g.expr) for g in goals)) if goals else set())
        names.sort(key=lambda n: len(self.cells[n]))
        state = {"budget": self.budget, "undecided": False}
        witness = self._search({}, names, goals, state)
        if witness is not None:
            return Search(witness=witness)
        return Search(impossible=not state["undecided"])

    def _search(self, box: dict, remaining: list[str], goals: list[Goal], state: dict) -> Optional[dict]:
        state["budget"] -= 1
        if state["budget"] < 0:
            state["undecided"] = True
            return None
        verdicts = [self.evaluate(goal.expr, box) for goal in goals]
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
        for cell in self.cells[name]:
            found = self._search({**box, name: cell}, rest, goals, state)
            if found is not None:
                return found
            if state["budget"] < 0:
                break
        return None

    def _point(self, box: dict, unassigned: list[str], goals: list[Goal], tries: int) -> Optional[dict]:
        """A concrete patient inside the box for whom the goals hold, checked by evaluation."""
        for attempt in range(tries):
            patient = {}
            for name, cell in box.items():
                patient[name] = _pick(cell, self.random if attempt else None)
            for name in unassigned:
                patient[name] = _pick(self.cells[name][0], None)
            values = {name: patient.get(name) for name in self.checked.inputs}
            if all(self._concrete(goal.expr, values) in goal.wanted for goal in goals):
                return patient
        return None

    def _concrete(self, expr, values: dict):
        if id(expr) not in self._fns:
            self._fns[id(expr)] = self.compiler.compile(expr).fn
        return self._fns[id(expr)](values)

    # ------------------------------------------------------------ abstract evaluation
    def evaluate(self, node, box: dict):
        """The set of values (or the Interval) `node` can take for patients in `box`."""
        return getattr(self, "a_" + type(node).__name__)(node, box)

    def number(self, node, box: dict, target=None) -> Interval:
        value = self.evaluate(node, box)
        if target is None:
            return value
        factor = conversion(self.checked.type_of(node), target)
        if factor == 1.0:
            return value
        return _iv(value.lo * factor, value.hi * factor, value.undefined)

    def a_Number(self, node, box):
        return Interval(node.value, node.value)

    def a_String(self, node, box):
        return frozenset({node.value})

    def a_Boolean(self, node, box):
        return TRUE if node.value else FALSE

    def a_Name(self, node, box):
        if node.name in self.checked.definitions:
            return self.evaluate(self.checked.definitions[node.name].expr, box)
        info = self.inputs[node.name]
        if node.name in box:
            cell = box[node.name]
            return cell if isinstance(cell, Interval) else frozenset({cell})
        if isinstance(info.type, Bool):
            return BOTH
        if isinstance(info.type, Cat):
            return frozenset(info.type.values)
        low, high = info.range if info.range else (-_INF, _INF)
        return Interval(low, high)

    def a_Negate(self, node, box):
        v = self.evaluate(node.operand, box)
        return _iv(-v.hi, -v.lo, v.undefined)

    def a_Arithmetic(self, node, box):
        result = self.checked.type_of(node)
        if node.op in "+-":
            a, b = self.number(node.left, box, result), self.number(node.right, box, result)
        else:
            a, b = self.evaluate(node.left, box), self.evaluate(node.right, box)
        undefined = a.undefined or b.undefined
        if node.op == "+":
            return _iv(a.lo + b.lo, a.hi + b.hi, undefined)
        if node.op == "-":
            return _iv(a.lo - b.hi, a.hi - b.lo, undefined)
        if node.op == "*":
            products = _products(a, b)
            return _iv(min(products), max(products), undefined)
        if b.lo <= 0 <= b.hi:
            return _iv(-_INF, _INF, True)  # may divide by zero: unknown
        inverse = Interval(1 / b.hi, 1 / b.lo)
        products = _products(a, inverse)
        return _iv(min(products), max(products), undefined)

    def a_As(self, node, box):
        source = self.checked.type_of(node.operand)
        from . import units

        factor = units.conversion_factor(source.unit, units.parse_unit(node.unit), source.molar_mass)
        v = self.evaluate(node.operand, box)
        return _iv(v.lo * factor, v.hi * factor, v.undefined)

    def a_Call(self, node, box):
        name = node.function
        if name == "known":
            # known() exists for missing data, which these searches do not model: never
            # claim it constant. (A witness has complete data, where it is true.)
            return BOTH
        result = self.checked.type_of(node)
        if name in ("min", "max", "clamp"):
            args = [self.number(a, box, result) for a in node.args]
        else:
            args = [self.evaluate(a, box) for a in node.args]
        undefined = any(a.undefined for a in args)
        x = args[0]
        if name == "min":
            return _iv(min(a.lo for a in args), min(a.hi for a in args), undefined)
        if name == "max":
            return _iv(max(a.lo for a in args), max(a.hi for a in args), undefined)
        if name == "clamp":
            low, high = args[1], args[2]
            return _iv(min(max(x.lo, low.lo), high.lo), min(max(x.hi, low.hi), high.hi), undefined or low.hi > high.lo)
        if name in ("ln", "log10", "sqrt"):
            edge = 0.0
            fn = {"ln": math.log, "log10": math.log10, "sqrt": math.sqrt}[name]
            bad = x.lo <= edge if name != "sqrt" else x.lo < edge
            lo = max(x.lo, 0.0)
            try:
                low = fn(lo) if lo > 0 or name == "sqrt" else -_INF
                high = fn(x.hi) if x.hi > 0 or (name == "sqrt" and x.hi >= 0) else -_INF
            except (ValueError, OverflowError):
                return _iv(-_INF, _INF, True)
            return _iv(low, high, undefined or bad)
        if name == "exp":
            try:
                return _iv(math.exp(x.lo), math.exp(x.hi) if x.hi < 709 else _INF, undefined or x.hi >= 709)
            except OverflowError:
                return _iv(0, _INF, True)
        if name == "abs":
            if x.lo >= 0:
                return x
            if x.hi <= 0:
                return _iv(-x.hi, -x.lo, x.undefined)
            return _iv(0, max(-x.lo, x.hi), x.undefined)
        if name in ("floor", "ceil", "round"):
            if len(args) == 2 or not (math.isfinite(x.lo) and math.isfinite(x.hi)):
                return _iv(x.lo - 1, x.hi + 1, undefined)
            fn = {"floor": math.floor, "ceil": math.ceil, "round": lambda v: math.floor(v + 0.5)}[name]
            return _iv(fn(x.lo) if name != "round" else math.floor(x.lo + 0.5) if x.lo >= 0 else math.ceil(x.lo - 0.5),
                       fn(x.hi) if name != "round" else math.floor(x.hi + 0.5) if x.hi >= 0 else math.ceil(x.hi - 0.5),
                       undefined)
        return _iv(-_INF, _INF, True)

    def a_Compare(self, node, box):
        results = []
        for left, op, right in zip(node.operands, node.ops, node.operands[1:]):
            results.append(self._pair(left, op, right, box))
        return _kleene_and(results)

    def _pair(self, left, op, right, box):
        left_t, right_t = self.checked.type_of(left), self.checked.type_of(right)
        if isinstance(left_t, Num) and isinstance(right_t, Num):
            target = right_t if left_t.bare else left_t
            a, b = self.number(left, box, target), self.number(right, box, target)
            out = set()
            if a.undefined or b.undefined:
                out.add(None)
            if a.empty or b.empty:
                return frozenset(out) or NONE
            can_true, can_false = _interval_compare(op, a, b)
            if can_true:
                out.add(True)
            if can_false:
                out.add(False)
            return frozenset(out)
        a, b = self.evaluate(left, box), self.evaluate(right, box)
        out = set()
        for x in a:
            for y in b:
                if x is None or y is None:
                    out.add(None)
                else:
                    out.add((x == y) if op == "=" else (x != y))
        return frozenset(out)

    def a_Membership(self, node, box):
        values = self.evaluate(node.operand, box)
        members = {v.value for v in node.values}
        return frozenset(None if v is None else ((v in members) != node.negated) for v in values)

    def a_Not(self, node, box):
        return frozenset(None if v is None else not v for v in self.evaluate(node.operand, box))

    def a_Logic(self, node, box):
        results = [self.evaluate(o, box) for o in node.operands]
        if node.op == "and":
            return _kleene_and(results)
        negated = [frozenset(None if v is None else not v for v in r) for r in results]
        return frozenset(None if v is None else not v for v in _kleene_and(negated))

    def a_AtLeast(self, node, box):
        results = [self.evaluate(o, box) for o in node.operands]
        out = set()
        # Small lists: enumerate; large ones: bound by counts.
        if len(results) <= 10:
            for combo in itertools.product(*results):
                true = sum(v is True for v in combo)
                unknown = sum(v is None for v in combo)
                out.add(True if true >= node.count else (False if true + unknown < node.count else None))
            return frozenset(out)
        return frozenset({True, False, None})

    def a_If(self, node, box):
        condition = self.evaluate(node.condition, box)
        then = self.evaluate(node.then, box)
        otherwise = self.evaluate(node.otherwise, box) if node.otherwise is not None else TRUE
        if isinstance(then, Interval):
            parts = []
            if True in condition:
                parts.append(then)
            if False in condition:
                parts.append(otherwise)
            if None in condition:
                parts.append(_iv(min(then.lo, otherwise.lo), max(then.hi, otherwise.hi), True))
            return _iv(min(p.lo for p in parts), max(p.hi for p in parts), any(p.undefined for p in parts))
        out = set()
        if True in condition:
            out |= then
        if False in condition:
            out |= otherwise
        if None in condition:
            out |= then | otherwise | {None}
        return frozenset(out)


class _Cells:
    """Each input's cells, computed on first use."""

    def __init__(self, analyzer: Analyzer):
        self.analyzer = analyzer

    def __getitem__(self, name: str) -> list:
        cache = self.analyzer._cells_of
        if name not in cache:
            cache[name] = self.analyzer._cells(self.analyzer.checked.inputs[name])
        return cache[name]


def bounded(checked: Checked, node, inputs=None) -> bool:
    """Whether a number expression stays finite for every patient within the declared ranges."""
    value = Analyzer(checked, inputs=inputs).evaluate(node, {})
    return math.isfinite(value.lo) and math.isfinite(value.hi)


def _interval_compare(op: str, a: Interval, b: Interval) -> tuple[bool, bool]:
    """Whether `a op b` can be true, and whether it can be false, for values in the intervals."""
    point = a.lo == a.hi == b.lo == b.hi
    if op in ("<", "<="):
        strict = op == "<"
        can_true = a.lo < b.hi or (not strict and a.lo <= b.hi)
        can_false = a.hi > b.lo or (strict and a.hi >= b.lo)
    elif op in (">", ">="):
        strict = op == ">"
        can_true = a.hi > b.lo or (not strict and a.hi >= b.lo)
        can_false = a.lo < b.hi or (strict and a.lo <= b.hi)
    else:
        overlap = a.lo <= b.hi and b.lo <= a.hi
        can_equal, can_differ = overlap, not point
        can_true, can_false = (can_equal, can_differ) if op == "=" else (can_differ, can_equal)
    return can_true, can_false


def _kleene_and(results) -> frozenset:
    out = set()
    if any(False in r for r in results):
        out.add(False)
    if all(True in r for r in results):
        out.add(True)
    if all((True in r or None in r) for r in results) and any(None in r for r in results):
        out.add(None)
    return frozenset(out)


def _pick(cell, rng: Optional[random.Random]):
    """A concrete value in a cell: a readable number when one fits."""
    if not isinstance(cell, Interval):
        return cell
    lo, hi = cell.lo, cell.hi
    if lo == hi:
        return int(lo) if float(lo).is_integer() else lo
    if not math.isfinite(lo) and not math.isfinite(hi):
        lo, hi = -1000.0, 1000.0
    elif not math.isfinite(lo):
        lo = hi - max(10.0, abs(hi))
    elif not math.isfinite(hi):
        hi = lo + max(10.0, abs(lo))
    if rng is not None:
        return round(rng.uniform(lo, hi), 6)
    middle = (lo + hi) / 2
    for digits in range(0, 7):
        candidate = round(middle, digits)
        if lo < candidate < hi:
            return int(candidate) if digits == 0 else candidate
    return middle


def _walk(nodes):
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        for field in attrs.fields(type(node)):
            value = getattr(node, field.name)
            children = value if isinstance(value, tuple) else (value,)
            stack.extend(c for c in children if attrs.has(type(c)) and type(c).__module__ == ast.__name__)


# ---------------------------------------------------------------- the deep checks
def _passes(criterion: ast.Criterion) -> Goal:
    return Goal(criterion.expr, TRUE if criterion.kind == "inclusion" else FALSE)


def _components(checked: Checked) -> list[list[ast.Criterion]]:
    """Criteria grouped by shared inputs: groups can be satisfied independently."""
    groups: list[tuple[set, list]] = []
    for criterion in checked.criteria:
        reads = set(inputs_read(checked, criterion.expr))
        merged = [g for g in groups if g[0] & reads or not reads and not g[0]]
        for g in merged:
            groups.remove(g)
            reads |= g[0]
        groups.append((reads, [c for g in merged for c in g[1]] + [criterion]))
    order = {id(c): i for i, c in enumerate(checked.criteria)}
    return [sorted(g[1], key=lambda c: order[id(c)]) for g in groups]


def eligible_patient(checked: Checked, analyzer: Optional[Analyzer] = None) -> tuple[Optional[dict], list]:
    """A complete patient who is eligible, or (None, the criteria that cannot hold together)."""
    analyzer = analyzer or Analyzer(checked)
    patient: dict = {}
    for group in _components(checked):
        found = analyzer.search([_passes(c) for c in group])
        if found.witness is None:
            return None, (_core(analyzer, group) if found.impossible else [])
        patient.update(found.witness)
    return _ordered(checked, patient), []


def near_misses(checked: Checked, analyzer: Optional[Analyzer] = None) -> dict[str, Optional[dict]]:
    """For each criterion, a patient failing that one criterion only (None if there is none)."""
    analyzer = analyzer or Analyzer(checked)
    base, _ = eligible_patient(checked, analyzer)
    out: dict[str, Optional[dict]] = {c.id: None for c in checked.criteria}
    for group in _components(checked):
        for criterion in group:
            goals = [_passes(c) for c in group if c is not criterion]
            goals.append(Goal(criterion.expr, FALSE if criterion.kind == "inclusion" else TRUE))
            found = analyzer.search(goals)
            if found.witness is None or base is None:
                out[criterion.id] = None
            else:
                out[criterion.id] = _ordered(checked, {**base, **found.witness})
    return out


def _core(analyzer: Analyzer, group: list[ast.Criterion]) -> list[ast.Criterion]:
    """A smallest-by-deletion set of criteria that cannot all pass together."""
    core = list(group)
    for criterion in list(group):
        trial = [c for c in core if c is not criterion]
        if trial and analyzer.search([_passes(c) for c in trial]).impossible:
            core = trial
    return core


def _ordered(checked: Checked, patient: dict) -> dict:
    return {name: patient[name] for name in checked.inputs if name in patient}


def deep_diagnostics(checked: Checked, strict: bool = False) -> list[Diagnostic]:
    """Contradictions, constant criteria, implausible literals, redundancy, unused names."""
    analyzer = Analyzer(checked)
    found: list[Diagnostic] = []
    source = checked.source

    def add(severity: str, code: str, message: str, span) -> None:
        found.append(Diagnostic(severity, code, message, source, span))

    for criterion in checked.criteria:
        kind = criterion.kind
        for value, code in ((True, "W201"), (False, "W202")):
            if analyzer.search([Goal(criterion.expr, frozenset({value}))]).impossible:
                effect = {
                    ("inclusion", True): "no patient can be eligible",
                    ("inclusion", False): "it includes every patient",
                    ("exclusion", True): "it excludes no one",
                    ("exclusion", False): "it excludes every patient",
                }[(kind, value)]
                add("warning", code, f"{kind} {criterion.id} can never be {'true' if value else 'false'}: {effect}",
                    criterion.expr.span)
    patient, core = eligible_patient(checked, analyzer)
    if patient is None and core:
        first = core[0]
        if len(core) == 1:
            why = f"no patient meets {first.kind} {first.id}" if first.kind == "inclusion" else (
                f"exclusion {first.id} excludes every patient"
            )
        else:
            names = [f"{c.kind} {c.id}" for c in core]
            why = f"no patient passes {', '.join(names[:-1])} and {names[-1]} together"
        add("error", "E401", f"no patient can satisfy this protocol: {why}", first.id_span)
    found.extend(_implausible_literals(checked))
    found.extend(_redundant(checked, analyzer))
    found.extend(_unused(checked, strict))
    found.sort(key=lambda d: (d.span.start, d.code))
    return found


def _implausible_literals(checked: Checked) -> list[Diagnostic]:
    from . import units

    out = []
    nodes = [c.expr for c in checked.criteria] + [d.expr for d in checked.definitions.values()]
    for node in _walk(nodes):
        if not isinstance(node, ast.Compare):
            continue
        for left, right in zip(node.operands, node.operands[1:]):
            for mine, other in ((left, right), (right, left)):
                if not (isinstance(mine, ast.Name) and mine.name in checked.inputs and isinstance(other, ast.Number)):
                    continue
                info = checked.inputs[mine.name]
                if info.range is None or not other.unit or not isinstance(info.type, Num):
                    continue
                value = other.value * conversion(checked.type_of(other), info.type)
                low, high = info.range
                if low <= value <= high:
                    continue
                unit = info.type.unit.text
                written = f"{other.text} {other.unit}"
                shown = f"{format_number(value)} {unit}".strip()
                shown = written if shown == written else f"{written} ({shown})"
                hint = ""
                if low <= other.value <= high and units.parse_unit(other.unit) != info.type.unit:
                    hint = f": did you mean {other.text} {unit}?"
                out.append(
                    Diagnostic(
                        "warning", "W203",
                        f"{shown} is outside the plausible range of '{mine.name}' "
                        f"({format_number(low)}..{format_number(high)} {unit}){hint}",
                        checked.source, other.span,
                    )
                )
    return out


def _redundant(checked: Checked, analyzer: Analyzer) -> list[Diagnostic]:
    out = []
    source = checked.source
    nodes = [c.expr for c in checked.criteria] + [d.expr for d in checked.definitions.values()]
    reported: set[int] = set()
    for node in _walk(nodes):
        if not isinstance(node, ast.Logic) or len(node.operands) > 8:
            continue
        for a, b in itertools.permutations(node.operands, 2):
            if id(a) in reported or id(b) in reported:
                continue
            if not inputs_read(checked, a) & inputs_read(checked, b):
                continue
            # a implies b when (a and not b) is impossible.
            if not analyzer.search([Goal(a, TRUE), Goal(b, frozenset({False, None}))]).impossible:
                continue
            if not analyzer.search([Goal(a, TRUE)]).witness:
                continue  # a never true: reported as such, not as redundancy
            redundant, other = (a, b) if node.op == "or" else (b, a)
            reported.add(id(redundant))
            text = lambda n: " ".join(source.slice(n.span).split())  # noqa: E731
            out.append(
                Diagnostic(
                    "warning", "W204",
                    f"'{text(redundant)}' adds nothing to this '{node.op}': whenever '{text(a)}' is true, "
                    f"'{text(b)}' is true too",
                    source, redundant.span,
                )
            )
    return out


def _unused(checked: Checked, strict: bool) -> list[Diagnostic]:
    out = []
    used_inputs: set[str] = set()
    used_definitions: set[str] = set()
    for criterion in checked.criteria:
        used_inputs |= inputs_read(checked, criterion.expr)
        for node in _walk([criterion.expr]):
            if isinstance(node, ast.Name) and node.name in checked.definitions:
                used_definitions.add(node.name)
    pending = list(used_definitions)
    while pending:
        for node in _walk([checked.definitions[pending.pop()].expr]):
            if isinstance(node, ast.Name) and node.name in checked.definitions and node.name not in used_definitions:
                used_definitions.add(node.name)
                pending.append(node.name)
    for name, info in checked.inputs.items():
        if name not in used_inputs:
            out.append(Diagnostic("warning", "W301", f"input '{name}' is declared but no criterion uses it",
                                  checked.source, info.span))
    for name, define in checked.definitions.items():
        if name not in used_definitions:
            out.append(Diagnostic("warning", "W302", f"definition '{name}' is never used by a criterion",
                                  checked.source, define.name_span))
    if strict:
        for criterion in checked.criteria:
            if criterion.text is None:
                out.append(Diagnostic(
                    "warning", "W303",
                    f"criterion {criterion.id} has no original text: quote the protocol's wording after its id",
                    checked.source, criterion.id_span))
    return out
