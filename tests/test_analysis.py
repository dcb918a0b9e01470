"""Deep checks and synthetic patients: each check on a small bad file; examples re-evaluated."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocol_dsl
from protocol_dsl.analysis import deep_diagnostics, eligible_patient
from protocol_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
AGE = 'input age: number years range 0..130 "Age"\n'


def deep(text: str, strict: bool = False) -> list[tuple[str, int, int, str]]:
    protocol = protocol_dsl.loads(text, "f.rules")
    return [(d.code, d.line, d.column, d.message) for d in deep_diagnostics(protocol.checked, strict)]


DEEP = {
    "criterion never true": (
        AGE + 'inclusion I1 "t": age > 65 years and age < 18 years\n',
        [
            ("E401", 2, 11, "no patient can satisfy this protocol: no patient meets inclusion I1"),
            ("W201", 2, 19, "inclusion I1 can never be true: no patient can be eligible"),
        ],
    ),
    "criterion never false": (
        AGE + 'inclusion I1 "t": age >= 0 years\n',
        [("W202", 2, 19, "inclusion I1 can never be false: it includes every patient")],
    ),
    "exclusion that excludes no one": (
        AGE + 'inclusion I1 "t": age > 18 years\nexclusion E1 "t": age > 150 years\n',
        [
            ("W201", 3, 19, "exclusion E1 can never be true: it excludes no one"),
            ("W203", 3, 25, "150 years is outside the plausible range of 'age' (0..130 years)"),
        ],
    ),
    "inclusions that contradict each other": (
        AGE + 'inclusion I1 "t": age < 10 years\ninclusion I2 "t": age > 20 years\n',
        [("E401", 2, 11, "no patient can satisfy this protocol: no patient passes inclusion I1 and inclusion I2 together")],
    ),
    "an exclusion that is always true": (
        'input hcc: boolean\ninclusion I1 "t": hcc\nexclusion E1 "t": hcc or not hcc\n',
        [
            ("E401", 3, 11, "no patient can satisfy this protocol: exclusion E1 excludes every patient"),
            ("W202", 3, 19, "exclusion E1 can never be false: it excludes every patient"),
        ],
    ),
    "a unit slip makes a threshold implausible": (
        'input TB: number umol/L range 0..1500 molar mass 584.66 g/mol\ninclusion I1 "t": TB >= 171 mg/dL\n',
        [
            ("E401", 2, 11, "no patient can satisfy this protocol: no patient meets inclusion I1"),
            ("W201", 2, 19, "inclusion I1 can never be true: no patient can be eligible"),
            ("W203", 2, 25, "171 mg/dL (2924.77679335 umol/L) is outside the plausible range of 'TB' "
                            "(0..1500 umol/L): did you mean 171 umol/L?"),
        ],
    ),
    "redundant branch of an or": (
        AGE + 'inclusion I1 "t": age > 50 years or age > 30 years\n',
        [("W204", 2, 19, "'age > 50 years' adds nothing to this 'or': whenever 'age > 50 years' is true, "
                         "'age > 30 years' is true too")],
    ),
    "redundant part of an and": (
        AGE + 'inclusion I1 "t": age > 50 years and age > 30 years\n',
        [("W204", 2, 38, "'age > 30 years' adds nothing to this 'and': whenever 'age > 50 years' is true, "
                         "'age > 30 years' is true too")],
    ),
    "unused input and definition": (
        AGE + 'input weight: number kg\ndefine old = age > 80 years\ninclusion I1 "t": age > 18 years\n',
        [
            ("W301", 2, 7, "input 'weight' is declared but no criterion uses it"),
            ("W302", 3, 8, "definition 'old' is never used by a criterion"),
        ],
    ),
}


@pytest.mark.parametrize("text, expected", DEEP.values(), ids=DEEP.keys())
def test_deep_check(text, expected):
    assert deep(text) == expected


def test_criterion_without_text_only_under_strict():
    text = AGE + "inclusion I1: age > 18 years\n"
    assert deep(text) == []
    assert deep(text, strict=True) == [
        ("W303", 2, 11, "criterion I1 has no original text: quote the protocol's wording after its id")
    ]


def test_the_seed_passes_every_deep_check():
    assert deep((ROOT / "protocols" / "NCT01844063.rules").read_text(), strict=True) == []


def test_no_claim_without_proof_for_arithmetic():
    # MELD-like arithmetic: the search samples; it must not call the criterion impossible.
    text = 'input a: number range 1..10\ninput b: number range 1..10\ninclusion I1 "t": 10 * ln(a) + b > 25\n'
    assert [c for c, *_ in deep(text)] == []


def test_example_is_eligible_for_the_seed(capsys):
    assert main(["example", str(ROOT / "protocols" / "NCT01844063.rules")]) == 0
    patient = json.loads(capsys.readouterr().out)
    protocol = protocol_dsl.load(ROOT / "protocols" / "NCT01844063.rules")
    assert protocol.evaluate(patient).status == "eligible"
    assert set(patient) == set(protocol.inputs)


def test_near_misses_fail_exactly_their_criterion(capsys):
    assert main(["example", "--near-miss", str(ROOT / "protocols" / "NCT01844063.rules")]) == 0
    misses = json.loads(capsys.readouterr().out)
    protocol = protocol_dsl.load(ROOT / "protocols" / "NCT01844063.rules")
    assert [m["fails"] for m in misses] == list(protocol.evaluate({}).criteria)
    for miss in misses:
        result = protocol.evaluate(miss["patient"])
        assert [cid for cid, c in result.criteria.items() if c.passes is not True] == [miss["fails"]]


def test_example_explains_an_impossible_protocol(tmp_path, capsys):
    path = tmp_path / "u.rules"
    path.write_text(AGE + 'inclusion I1 "t": age < 10 years\ninclusion I2 "t": age > 20 years\n')
    assert main(["example", str(path)]) == 1
    err = capsys.readouterr().err
    assert "no patient can be eligible: these criteria cannot all pass together: inclusion I1, inclusion I2" in err


# A tiny random protocol language over two inputs, to check the analysis against brute force.
THRESHOLDS = st.integers(0, 100)
OPS = st.sampled_from(["<", "<=", ">", ">=", "=", "!="])


@st.composite
def small_protocols(draw):
    def atom():
        name = draw(st.sampled_from(["x", "y", "flag"]))
        if name == "flag":
            return draw(st.sampled_from(["flag", "not flag"]))
        return f"{name} {draw(OPS)} {draw(THRESHOLDS)}"

    def expr(depth=0):
        if depth > 1 or draw(st.booleans()):
            return atom()
        return f"({expr(depth + 1)} {draw(st.sampled_from(['and', 'or']))} {expr(depth + 1)})"

    lines = ["input x: number range 0..100", "input y: number range 0..100", "input flag: boolean"]
    for index in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["inclusion", "exclusion"]))
        lines.append(f'{kind} C{index} "t": {expr()}')
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_protocols())
def test_analysis_agrees_with_brute_force(text):
    """The search's verdict (a witness, or impossible) agrees with trying every integer patient."""
    protocol = protocol_dsl.loads(text)
    patient, core = eligible_patient(protocol.checked)
    if patient is not None:
        assert protocol.evaluate(patient).status == "eligible"
    exists = any(
        protocol.evaluate({"x": x, "y": y, "flag": flag}).status == "eligible"
        for x in range(0, 101) for y in range(0, 101, 1) for flag in (True, False)
    ) if patient is None else True
    if core:  # proven impossible: no integer patient may be eligible
        assert not exists
    # Every integer thresholds: when an eligible integer patient exists, the search finds one.
    if exists:
        assert patient is not None
