"""The generated-Python backend agrees exactly with the interpreter (the reference backend)."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import protocol_dsl
from protocol_dsl import ir, numeric
from protocol_dsl.backends import Unsupported
from protocol_dsl.backends.interpreter import interpreter_functions
from protocol_dsl.backends.python import Generator, _calibrated
from protocol_dsl.data import prepare

SEED = "protocols/NCT01844063.rules"


def reference(protocol: protocol_dsl.Protocol, data: dict) -> list:
    """Each criterion's value computed by the interpreter alone."""
    values, _ = prepare(protocol.inputs, data)
    values = {k: float(v) if type(v) is int else v for k, v in values.items()}  # numbers are floats
    return [fn(values) for fn in interpreter_functions(protocol.program)]


def agree(text: str, data: dict) -> list:
    """The fast values, asserted equal to the interpreter's (and the same type: no int for a float)."""
    protocol = protocol_dsl.loads(text)
    fast = [c.value for c in protocol.evaluate(data).criteria.values()]
    slow = reference(protocol, data)
    assert fast == slow
    assert [type(v) for v in fast] == [type(v) for v in slow]
    return fast


def source_of(text: str) -> str:
    generator = Generator(protocol_dsl.loads(text).program)
    generator.build()
    return generator.source


# ----------------------------------------------------------------- definitions
def doubling(depth: int) -> str:
    lines = ["input x: number range 0..10", "define d0 = x"]
    lines += [f"define d{i} = d{i - 1} + d{i - 1}" for i in range(1, depth + 1)]
    lines.append(f"inclusion I1: d{depth} > 5")
    lines.append(f"inclusion I2: d{depth} = {2 ** depth}")
    return "\n".join(lines)


def test_a_doubling_chain_of_definitions_loads_and_runs_at_once():
    start = time.perf_counter()
    protocol = protocol_dsl.loads(doubling(20))
    loaded = time.perf_counter() - start
    assert loaded < 2.0  # each definition once: linear, not 2**20 copies
    start = time.perf_counter()
    for _ in range(100):
        result = protocol.evaluate({"x": 1})
    assert (time.perf_counter() - start) / 100 < 0.005
    assert [c.value for c in result.criteria.values()] == [True, True]
    assert agree(doubling(20), {"x": 1}) == [True, True]
    assert agree(doubling(20), {}) == [None, None]
    generator = Generator(protocol.program)
    generator.build()
    assert len(generator.source) < 20_000


def test_a_definition_is_computed_once_into_a_local():
    source = source_of("input x: number range 0..10\ndefine d = ln(x + 1)\ninclusion I1: d > 1\ninclusion I2: d < 2")
    assert source.count("math.log") == 1


def test_a_definition_unknown_through_ln_of_zero():
    text = ("input x: number range 0..10\ninput y: boolean\ndefine d = ln(x)\n"
            "inclusion I1: d > 0 or y\ninclusion I2: known(d)\ninclusion I3: d < 100 and y\n"
            "define e = d + 1\ninclusion I4: e > 0 or y")
    assert agree(text, {"x": 0, "y": True}) == [True, False, None, True]
    assert agree(text, {"x": 0, "y": False}) == [None, False, False, None]
    assert agree(text, {"x": 1, "y": False}) == [False, True, False, True]
    assert agree(text, {"y": True}) == [True, False, None, True]


def test_known_of_an_input_is_exact_without_the_input():
    text = "input x: number\ninput y: boolean\ninclusion I1: known(x) or y\ninclusion I2: not known(x)"
    assert agree(text, {}) == [None, True]
    assert agree(text, {"x": 1}) == [True, False]
    assert agree(text, {"y": False}) == [False, True]


# ----------------------------------------------------------------- names
COLLIDING = ["_t0", "c0", "x0", "x1", "d0", "t0", "i_a", "v", "data", "extra", "math", "k", "_slow",
             "_ERRORS", "_fin", "_K0", "_ge", "_exp", "min", "None", "True"]


def test_input_names_never_collide_with_generated_names():
    lines = [f"input {name}: number range -100..100" for name in COLLIDING]
    lines.append("define d1 = " + " + ".join(COLLIDING))
    lines.append("inclusion I1: 0 < d1 <= " + str(len(COLLIDING)))
    lines += [f"inclusion C{i}: {name} >= {i} and exp({name}) > 0" for i, name in enumerate(COLLIDING)]
    text = "\n".join(lines)
    data = {name: i for i, name in enumerate(COLLIDING)}
    assert agree(text, data) == [False] + [True] * len(COLLIDING)
    data = {name: 1 for name in COLLIDING}
    assert agree(text, data) == [True] + [i <= 1 for i in range(len(COLLIDING))]
    data = {name: 1 for name in COLLIDING[1:]}
    assert agree(text, data)[:2] == [None, None]
    source = source_of(text)
    for name in COLLIDING:  # only as dictionary keys
        assert f"{name!r}" in source


def test_expression_names_never_collide():
    expression = protocol_dsl.compile_expression("v + data + math + extra + _t0 > x0")
    assert expression.evaluate({"v": 1, "data": 2, "math": 3, "extra": 4, "_t0": 5, "x0": 14}) is True
    assert expression.evaluate({"v": 1, "data": 2, "math": 3, "extra": 4, "_t0": 5, "x0": 15}) is False
    assert expression.evaluate({"v": 1, "data": 2, "math": 3, "extra": 4, "x0": 15}) is None


# ----------------------------------------------------------------- numbers
def test_exp_at_exp_max_and_just_above():
    above = math.nextafter(numeric.EXP_MAX, math.inf)
    text = "input x: number\ninclusion I1: exp(x) > 1\ninclusion I2: exp(x) > 1 or x > 0"
    assert agree(text, {"x": numeric.EXP_MAX}) == [True, True]
    assert agree(text, {"x": above}) == [None, True]
    expression = protocol_dsl.compile_expression("exp(x)")
    assert expression.evaluate({"x": numeric.EXP_MAX}) == math.exp(numeric.EXP_MAX)
    assert expression.evaluate({"x": above}) is None


@pytest.mark.parametrize("declaration", ["input x: number", "input x: number range 0..1e10"])
def test_an_overflow_is_unknown(declaration):
    text = f"{declaration}\ninclusion I1: x * 1e300 > 1\ninclusion I2: x * 1e300 - x * 1e300 = 0"
    assert agree(text, {"x": 1e10}) == [None, None]
    assert agree(text, {"x": 1}) == [True, True]
    assert protocol_dsl.compile_expression("x * 1e300").evaluate({"x": 1e10}) is None


def test_a_bounded_computation_needs_no_overflow_check():
    assert "_fin" not in source_of("input x: number range 0..10\ninclusion I1: x * 2 + 1 > 3")
    assert "_fin" in source_of("input x: number\ninclusion I1: x * 2 + 1 > 3")


def test_huge_and_plain_ints():
    text = "input x: number\ninclusion I1: x > 1"
    protocol = protocol_dsl.loads(text)
    with pytest.raises(protocol_dsl.DataError) as refused:
        protocol.evaluate({"x": 10 ** 400})
    assert "x" in str(refused.value)
    assert protocol._prepare_fast({"x": 10 ** 400}) is None
    values, _ = protocol._prepare_fast({"x": 2 ** 60 + 1})
    assert type(values["x"]) is float and values["x"] == float(2 ** 60)
    assert agree(text, {"x": 3}) == [True]
    # an int is a float in arithmetic too: no exact int arithmetic slips through
    expression = protocol_dsl.compile_expression("x + 1 - x")
    assert expression.evaluate({"x": 2 ** 60}) == 0.0


def test_division_by_zero_falls_back_to_the_interpreter():
    text = "input x: number\ninput y: boolean\ninclusion I1: 1 / x > 2\ninclusion I2: 1 / x > 2 or y"
    assert agree(text, {"x": 0, "y": True}) == [None, True]
    assert agree(text, {"x": -0.0, "y": False}) == [None, None]
    assert agree(text, {"x": 0.25, "y": False}) == [True, True]
    result = protocol_dsl.loads(text).evaluate({"x": 0, "y": True})
    assert "zero" in result.criteria["I1"].reason
    assert protocol_dsl.compile_expression("1 / x").evaluate({"x": 0}) is None


@pytest.mark.parametrize("x,expected", [(numeric.MAX_FLOAT, math.sqrt(numeric.MAX_FLOAT)), (-1.0, None), (-0.0, -0.0),
                                        (0.0, 0.0), (4.0, 2.0)])
def test_partial_functions(x, expected):
    assert protocol_dsl.compile_expression("sqrt(x) * 1").evaluate({"x": x}) == expected
    text = "input x: number\ninclusion I1: sqrt(x) * 1 >= 0\ninclusion I2: round(x * 10, 0.5) > 0"
    agree(text, {"x": x})


# ----------------------------------------------------------------- chains
def test_a_chain_computes_its_middle_operand_once():
    source = source_of("input a: number range 0..10\ninput b: number range 0..10\ninclusion I1: 0 < a + b <= 10")
    assert source.count(":=") == 1
    assert source.count("x0 + x1") == 1


@pytest.mark.parametrize("data,expected", [
    ({"a": 1, "b": 2}, [True, False]),
    ({"a": 1}, [None, None]),
    ({"b": 2}, [None, None]),
    ({"a": 9, "b": 9}, [False, False]),
    ({"a": 0, "b": 0}, [False, True]),
])
def test_chains_with_a_missing_middle_operand(data, expected):
    text = ("input a: number range 0..10\ninput b: number range 0..10\n"
            "inclusion I1: 0 < a + b <= 10 < 11\ninclusion I2: 5 < 3 < a + b or a + b < 1 <= 1")
    assert agree(text, data) == expected


def test_a_shared_middle_operand_inside_an_if_branch():
    text = ("input a: number range 0..10\ninput c: boolean\n"
            "inclusion I1: if c then 0 < a * 2 < 10 else 1 < a * 2 < 3\n"
            "inclusion I2: at least 2 of (0 < a * 3 < 10, c, 1 < a - 1 < 3)")
    for data in ({"a": 1, "c": True}, {"a": 1, "c": False}, {"a": 2}, {"c": True}, {"a": 4, "c": False}):
        agree(text, data)


# ----------------------------------------------------------------- comparisons with constants
CONSTANTS = st.one_of(
    st.sampled_from([0.0, 1.5, 18.0, -3.0, 171.0, 1e-300, 5e-324, numeric.MAX_FLOAT, -numeric.MAX_FLOAT, 0.1]),
    st.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=300, deadline=None)
@given(CONSTANTS, st.sampled_from(sorted(numeric.COMPARE)), st.integers(-4, 4), st.sampled_from(["low", "high", "c"]))
def test_a_comparison_with_a_constant_is_exact_at_its_edges(constant, op, steps, where):
    folded = _calibrated(op, constant)
    if folded is None:  # no finite float satisfies it (x > MAX_FLOAT): called as numeric.COMPARE itself
        assert not any(numeric.COMPARE[op](x, constant) for x in (-numeric.MAX_FLOAT, 0.0, numeric.MAX_FLOAT))
        return
    plain, first, second = folded
    low, high = numeric.band(constant)
    x = {"low": low, "high": high, "c": constant}[where]
    x = min(max(x, -numeric.MAX_FLOAT), numeric.MAX_FLOAT)
    for _ in range(abs(steps)):
        x = math.nextafter(x, math.inf if steps > 0 else -math.inf)
    if not math.isfinite(x):
        return
    fast = {">=": lambda: x >= first, "<=": lambda: x <= first,
            "between": lambda: first <= x <= second, "outside": lambda: not first <= x <= second}[plain]()
    assert fast == numeric.COMPARE[op](x, constant)


# ----------------------------------------------------------------- dispatch
def test_an_unknown_node_is_refused_at_compile_time():
    class Strange:
        origin = None

    program = protocol_dsl.loads("input x: number\ninclusion I1: x > 1").program
    generator = Generator(program)
    with pytest.raises(Unsupported):
        generator.expr(Strange())


def test_a_deep_expression_is_left_to_the_interpreter():
    text = "input x: number range 0..1\ninclusion I1: " + " + ".join(["x"] * 120) + " > 100"
    assert "_slow[0](v)" in source_of(text) and "x0 + x0" not in source_of(text)
    assert agree(text, {"x": 1}) == [True]
    assert agree(text, {"x": 0.1}) == [False]


# ----------------------------------------------------------------- the seed protocol
def _seed():
    return protocol_dsl.load(SEED)


SEED_PROTOCOL = _seed()


def number(low: float, high: float, special=()):
    return st.one_of(
        st.floats(low, high, allow_nan=False),
        st.integers(int(math.ceil(low)), int(math.floor(high))),
        st.sampled_from([v for v in special if low <= v <= high] or [low]),
    )


def _near(values):
    out = []
    for v in values:
        out += [v, v * (1 - 1e-12), v * (1 + 1e-12), math.nextafter(v, math.inf), math.nextafter(v, -math.inf),
                v * (1 - 2e-12), v * (1 + 2e-12)]
    return out


SPECIAL = {
    "age": _near([18.0, 65.0]),
    "TB": _near([171.0, 10 / 0.058466, 1 / 0.058466]),
    "TB_rise": _near([17.1]),
    "INR": _near([1.5, 1.0]),
    "PTA": _near([20.0, 40.0]),
    "creatinine": _near([1 / 0.011312, 4 / 0.011312]),
}


def patients():
    fields = {}
    for name, info in SEED_PROTOCOL.inputs.items():
        t = info.type
        if isinstance(t, protocol_dsl.checker.Bool):
            value = st.booleans()
        elif isinstance(t, protocol_dsl.checker.Cat):
            value = st.sampled_from(list(t.values))
        else:
            low, high = (float(b) for b in info.range)
            value = number(low, high, SPECIAL.get(name, ()))
        fields[name] = st.one_of(st.none(), value, value, value)
    return st.fixed_dictionaries(fields)


@settings(max_examples=500, deadline=None)
@given(patients())
@example({"age": 40, "sex": "male", "liver_failure": True, "consent": True, "HBsAg": "positive", "TB": 200,
          "TB_rise": 0, "INR": 2, "PTA": 30, "creatinine": 0, "dialysis": False, "hcc": False})
def test_the_seed_protocol_agrees_with_the_interpreter(patient):
    result = SEED_PROTOCOL.evaluate(patient)
    fast = [c.value for c in result.criteria.values()]
    assert fast == reference(SEED_PROTOCOL, patient)
    slow = reference(SEED_PROTOCOL, patient)
    included = [v for v, c in zip(slow, SEED_PROTOCOL.program.criteria) if c.kind == "inclusion"]
    excluded = [v for v, c in zip(slow, SEED_PROTOCOL.program.criteria) if c.kind == "exclusion"]
    if False in included or True in excluded:
        assert result.status == "ineligible"
    elif None in slow:
        assert result.status == "undetermined"
    else:
        assert result.status == "eligible"


def test_every_ir_node_type_has_a_mapping():
    node_types = [t for t in vars(ir).values() if isinstance(t, type) and t.__module__ == ir.__name__
                  and t not in (ir.Definition, ir.Criterion, ir.Program)]
    for t in node_types:
        assert hasattr(Generator, "g_" + t.__name__), t


# ----------------------------------------------------------------- random protocols
@st.composite
def random_protocol_and_patient(draw):
    from strategies import patients as random_patients
    from strategies import protocols

    generated = draw(protocols())
    return generated, draw(random_patients(generated))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_protocol_and_patient())
def test_random_protocols_agree_with_the_interpreter(case):
    generated, data = case
    protocol = protocol_dsl.loads(generated.text)
    result = protocol.evaluate(data)
    assert [c.value for c in result.criteria.values()] == reference(protocol, data)


@pytest.mark.parametrize("function,spelling", [("ln", math.log), ("log10", math.log10), ("sqrt", math.sqrt)])
@pytest.mark.parametrize("x", [-numeric.MAX_FLOAT, -1.0, -5e-324, -0.0, 0.0, 5e-324, 1e-300, 1.0, 10.0, numeric.MAX_FLOAT])
def test_the_math_spellings_raise_exactly_where_numeric_is_unknown(function, spelling, x):
    """The generated code calls math.log/log10/sqrt directly: they must fail exactly where numeric.py says unknown."""
    expected = numeric.FUNCTIONS[function](x)
    try:
        got = spelling(x)
    except ValueError:
        got = None
    assert got == expected and (got is None or math.copysign(1, got) == math.copysign(1, expected))


def test_a_logarithm_is_bounded_whatever_its_argument():
    assert "_fin" not in source_of("input x: number\ninclusion I1: ln(x) * 2 + 1 > 3")


def test_a_rate_that_falls_back_keeps_the_fast_path_and_its_meaning():
    """`if known(rate) then rate else X` is X for plain values, and the rate itself for dated ones."""
    from protocol_dsl.backends.interpreter import interpreter_functions
    from protocol_dsl.data import prepare

    protocol = protocol_dsl.loads(
        "input TB: number umol/L range 0..1500\n"
        "input TB_rise: number umol/L/d range -1500..1500\n"
        "define rate_ = rate(TB within 7 days)\n"
        "define rise = if known(rate_) then rate_ else TB_rise\n"
        "inclusion I1: TB >= 171 umol/L or rise >= 17.1 umol/L/d\n"
        "inclusion I2: rise < 0 umol/L/d or not known(rise)\n"
    )
    slow = interpreter_functions(protocol.program)
    patients = [
        ({"TB": 100, "TB_rise": 20}, None, [True, False]),
        ({"TB": 100, "TB_rise": 10}, None, [False, False]),
        ({"TB": 100}, None, [None, True]),
        ({"TB_rise": 20}, None, [True, False]),
        ({}, None, [None, True]),
        ({"TB": [{"value": 100, "time": "2026-11-25"}, {"value": 160, "time": "2026-11-28"}], "TB_rise": 0},
         "2026-12-01", [True, False]),  # the rate from the dated values, 20 umol/L/d, not TB_rise
        ({"TB": [{"value": 160, "time": "2026-11-25"}, {"value": 100, "time": "2026-11-28"}], "TB_rise": 20},
         "2026-12-01", [False, True]),
    ]
    for data, as_of, expected in patients:
        result = protocol.evaluate(data, as_of=as_of)
        values, _ = prepare(protocol.inputs, data, as_of=protocol_dsl.protocol.index_date(as_of))
        assert [c.value for c in result.criteria.values()] == expected, data
        assert [fn(values) for fn in slow] == expected, data
        assert protocol.status(data, as_of=as_of) == result.status
    from protocol_dsl.backends.python import Generator

    source = Generator(protocol.program).criteria_source()  # the fast path computes `rise` for plain TB
    assert "if x1 is not None and 'TB' not in _dated(v):\n        try:\n            d1 = x1\n" in source
