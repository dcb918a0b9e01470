"""Deep checks on the IR: sound at the 12-digit band edges, complete for plain contradictions, linear in shared nodes."""

import itertools
import math
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocol_dsl
from protocol_dsl import ir, numeric
from protocol_dsl.analysis import Analyzer, Goal, deep_diagnostics, eligible_patient, near_misses
from protocol_dsl.backends.interpreter import Interpreter
from protocol_dsl.backends.intervals import FALSE, TRUE
from protocol_dsl.lowering import lower


def codes(text: str) -> list[str]:
    protocol = protocol_dsl.loads(text, "f.rules")
    return sorted(d.code for d in deep_diagnostics(protocol.checked))


# ------------------------------------------------------------ soundness at the band edges
@pytest.mark.parametrize("text, patient", [
    ("input x: number range 0..5\ninclusion I: x >= 5.000000000001\n", {"x": 5}),
    ("input x: number range 0..1.49999999999999\ninclusion I: x >= 1.5\n", {"x": 1.49999999999999}),
    ("input x: number range 0..5\nexclusion E: x < 5.000000000001\ninclusion I: x >= 1\n", {"x": 5}),
])
def test_no_claim_contradicted_at_a_band_edge(text, patient):
    protocol = protocol_dsl.loads(text, "f.rules")
    assert protocol.evaluate(patient).status == "eligible"
    assert not {"E401", "W201"} & set(codes(text))
    found, core = eligible_patient(protocol.checked)
    assert found is not None and core == []
    assert protocol.evaluate(found).status == "eligible"


# ------------------------------------------------------------ completeness with inclusive bounds
@pytest.mark.parametrize("text, expected", [
    ("input ecog: number range 0..5\ninclusion I: ecog <= 1 and ecog >= 2\n", ["E401", "W201"]),
    ("input age: number years range 0..130\ninclusion I: age <= 17 years and age >= 18 years\n", ["E401", "W201"]),
    ("input a: number range 0..10\ninclusion I1: a >= 2\ninclusion I2: a <= 1.9\n", ["E401"]),
    ("input ecog: number range 0..5\ninclusion I1: ecog < 1\nexclusion E1: ecog < 1\n", ["E401"]),
    ("input ecog: number range 0..5\ninclusion I: ecog < 1 and ecog > 2\n", ["E401", "W201"]),
    ("input ecog: number range 0..5\ninclusion I: ecog = 1 and ecog != 1\n", ["E401", "W201"]),
    ("input x: number range 0..5\ninclusion I: x <= 5\n", ["W202"]),
    ("input x: number range 0..5\ninclusion I: x > 5\n", ["E401", "W201"]),
])
def test_plain_contradictions_are_found(text, expected):
    assert codes(text) == expected


def test_the_core_names_both_criteria():
    text = "input a: number range 0..10\ninclusion I1: a >= 2\ninclusion I2: a <= 1.9\n"
    patient, core = eligible_patient(protocol_dsl.loads(text).checked)
    assert patient is None and [c.id for c in core] == ["I1", "I2"]


# ------------------------------------------------------------ budget: no claim without proof
def test_an_exhausted_budget_claims_nothing():
    text = "input a: number range 0..10\ninput b: number range 0..10\ninclusion I: a > 2 and b > 3 and a < 1\n"
    program = lower(protocol_dsl.loads(text).checked)
    criterion = program.criteria[0]
    assert Analyzer(program).search([Goal(criterion.body, TRUE)]).impossible
    starved = Analyzer(program, budget=1).search([Goal(criterion.body, TRUE)])
    assert not starved.impossible and starved.witness is None
    patient, core = eligible_patient(program, Analyzer(program, budget=1))
    assert patient is None and core == []  # "not proven", never "impossible"


def test_arithmetic_that_is_hard_to_decide_claims_nothing():
    text = 'input a: number range 1..10\ninput b: number range 1..10\ninclusion I1 "t": 10 * ln(a) + b > 25\n'
    assert codes(text) == []


# ------------------------------------------------------------ cost
def test_doubling_definitions_are_evaluated_once_per_box():
    lines = ["input x: number range 0..10", "define d0 = x"]
    lines += [f"define d{i} = d{i - 1} + d{i - 1}" for i in range(1, 21)]
    lines += ["inclusion I: d20 > 5"]
    start = time.perf_counter()
    assert codes("\n".join(lines) + "\n") == []
    assert time.perf_counter() - start < 10


def test_nested_ifs_stay_linear():
    body = "x > 1"
    for i in range(40):
        body = f"(if x > {i} then {body} else x < {i + 0.5})"
    text = f"input x: number range 0..100\ninclusion I: {body}\n"
    start = time.perf_counter()
    codes(text)
    assert time.perf_counter() - start < 10


def test_analysis_does_not_use_the_compiler():
    from protocol_dsl import analysis

    source = Path(analysis.__file__).read_text(encoding="utf-8")
    assert "compiler" not in source and "Compiler" not in source


# ------------------------------------------------------------ property: no claim is contradicted
NUDGES = [0.0, 1e-13, -1e-13, 1e-9, -1e-9]
RANGES = [(0.0, 5.0), (0.0, 1.49999999999999), (1.0, 100.0), (0.5, 20.0)]


def literal(value: float) -> str:
    text = f"{value:.16f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


@st.composite
def protocols(draw):
    inputs = {}
    for name in ("x", "y")[: draw(st.integers(1, 2))]:
        inputs[name] = draw(st.sampled_from(RANGES))
    thresholds: dict[str, set] = {name: set() for name in inputs}

    def threshold(name):
        low, high = inputs[name]
        base = draw(st.sampled_from([low, high, (low + high) / 2, 1.5, 5.0]))
        nudge = draw(st.sampled_from(NUDGES)) * max(abs(base), 1.0)
        value = float(literal(max(base + nudge, 0.0)))
        thresholds[name].add(value)
        return literal(value)

    definitions: list[str] = []

    def atom():
        kind = draw(st.sampled_from(["cmp", "cmp", "chain", "cat", "def", "ratio"]))
        if kind == "def" and definitions:
            return draw(st.sampled_from(definitions))
        if kind == "ratio" and len(inputs) == 2:
            return f"x {draw(st.sampled_from(['<=', '>']))} 2.5 * y"
        if kind in ("cat", "def", "ratio"):
            return draw(st.sampled_from(['arm = "a"', 'arm != "b"', 'arm in {"a", "c"}']))
        name = draw(st.sampled_from(sorted(inputs)))
        if kind == "chain":
            return f"{threshold(name)} <= {name} < {threshold(name)}"
        return f"{name} {draw(st.sampled_from(['<', '<=', '>', '>=', '=', '!=']))} {threshold(name)}"

    def expr(depth=0):
        choice = draw(st.integers(0, 3)) if depth < 2 else 0
        if choice == 0:
            return atom()
        if choice == 1:
            return f"not ({expr(depth + 1)})"
        op = draw(st.sampled_from(["and", "or"]))
        return f"({expr(depth + 1)} {op} {expr(depth + 1)})"

    lines = [f"input {n}: number range {literal(lo)}..{literal(hi)}" for n, (lo, hi) in inputs.items()]
    lines.append('input arm: one of "a", "b", "c"')
    for index in range(draw(st.integers(0, 2))):  # shared sub-expressions, related inputs
        lines.append(f"define d{index} = {expr(1)}")
        definitions.append(f"d{index}")
    for index in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["inclusion", "exclusion"]))
        lines.append(f"{kind} C{index}: {expr()}")
    return "\n".join(lines) + "\n", inputs, thresholds


def candidates(low, high, thresholds):
    values = {low, high, (low + high) / 2}
    for t in thresholds:
        lo, hi = numeric.band(t)
        for v in (t, lo, hi, math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf),
                  math.nextafter(t, -math.inf), math.nextafter(t, math.inf), t - 1e-9, t + 1e-9):
            values.add(v)
    return sorted(v for v in values if low <= v <= high)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocols())
def test_no_claim_is_contradicted_by_a_patient(case):
    text, inputs, thresholds = case
    protocol = protocol_dsl.loads(text, "f.rules")
    checked = protocol.checked
    program = lower(checked)
    interpreter = Interpreter(program)
    criteria = [(c, interpreter.criterion(c)) for c in program.criteria]
    operands = {}
    for node in ir.walk([c.body for c in program.criteria] + [d.body for d in program.definitions.values()]):
        if isinstance(node, (ir.And, ir.Or)):
            for o in node.operands:
                if o.origin is not None:
                    span = checked.source.slice(o.origin.span)
                    fn = interpreter.criterion(ir.Criterion(id="", kind="", text=None, body=o))
                    operands.setdefault(" ".join(span.split()), fn)
    names = sorted(inputs)
    grids = [candidates(*inputs[n], thresholds[n]) for n in names]
    patients = [dict(zip(names, values), arm=arm)
                for values in itertools.product(*grids) for arm in ("a", "b", "c")]
    outcomes = [[fn(p) for _, fn in criteria] for p in patients]
    diagnostics = deep_diagnostics(checked)
    for d in diagnostics:
        if d.code in ("W201", "W202"):
            cid = re.search(r"(?:inclusion|exclusion) (\w+) can never", d.message).group(1)
            index = [c.id for c, _ in criteria].index(cid)
            never = d.code == "W201"
            bad = [p for p, o in zip(patients, outcomes) if o[index] is never]
            assert not bad, (text, d.message, bad[:3])
        elif d.code == "E401":
            eligible = [p for p, o in zip(patients, outcomes)
                        if all(v is (c.kind == "inclusion") for (c, _), v in zip(criteria, o))]
            assert not eligible, (text, d.message, eligible[:3])
        elif d.code == "W204":
            a, b = re.search(r"whenever '(.*)' is true, '(.*)' is true too", d.message).groups()
            bad = [p for p in patients if operands[a](p) is True and operands[b](p) is not True]
            assert not bad, (text, d.message, bad[:3])
    patient, core = eligible_patient(checked)
    if patient is not None:
        assert protocol.evaluate(patient).status == "eligible"
    # Searched group by group (criteria sharing no inputs), the protocol is decided as it is whole.
    whole = Analyzer(program).search([Goal(c.body, TRUE if c.kind == "inclusion" else FALSE)
                                      for c in program.criteria])
    if whole.impossible:
        assert patient is None and core, text
    if whole.witness is not None:
        assert patient is not None, text
    for cid, miss in near_misses(checked).items():
        if miss is not None:
            result = protocol.evaluate(miss)
            for c in program.criteria:
                value = result.criteria[c.id].value
                passes = value is (c.kind == "inclusion")
                assert passes is (c.id != cid), (text, cid, miss)


# ------------------------------------------------------------ contradictions through a shared definition
RELATED = """input AST: number U/L range 0..5000
input ULN: number U/L range 1..500
input h: boolean
define liver_ok = AST <= 2.5 * ULN
inclusion I1: liver_ok
inclusion I2: h and not liver_ok
"""


def test_a_shared_relation_needed_both_ways_is_a_contradiction():
    # The box search cannot decide `AST <= 2.5 * ULN` on cells; the shared node can.
    assert codes(RELATED) == ["E401"]
    patient, core = eligible_patient(protocol_dsl.loads(RELATED).checked)
    assert patient is None and [c.id for c in core] == ["I1", "I2"]


def test_no_near_miss_where_failing_one_criterion_fails_another():
    text = RELATED.replace("inclusion I2: h and not liver_ok", "exclusion E1: h and not liver_ok")
    misses = near_misses(protocol_dsl.loads(text).checked)
    assert misses["E1"] is None and misses["I1"] is not None
