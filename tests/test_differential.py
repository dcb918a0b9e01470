"""Differential test: the interpreter, the generated Python and DuckDB's SQL agree on every patient.

Hypothesis draws random protocols (tests/strategies.py, `differential_cases`): numbers
with units and molar masses (TB in umol/L against mg/dL literals, creatinine in mg/dL
against umol/L), chained comparisons, `if`/`else` and `if` without `else`, `at least`,
the functions ln log10 exp sqrt round floor ceil min max clamp abs, categories with
values such as "NA" and "", booleans, definitions and `known()`; and random patients:
missing values, values exactly on each threshold and 1e-13 and 1e-9 off it (absolute
and relative), range ends, values in other units ({"value", "unit"}), and huge and tiny
numbers (1e300, 1e-300, 5e-324) for an input without a range.

For every patient, each criterion's value, the status and the missing list must be the
same from `Interpreter` (on `data.prepare`'s values), `Protocol.evaluate` (and the
status from `Protocol.status`, which stops at the first decisive criterion) and
`Protocol.to_sql()` run by DuckDB (all patients of a protocol in one table); invalid
data must be refused by both Python paths. Every claim of the deep checks (W201,
W202, E401, W204) must hold for every complete patient.

The run is derandomised (a fixed seed) with a modest number of examples. For a longer
run, set the number of examples:

    PROTOCOL_DSL_DIFFERENTIAL_EXAMPLES=5000 .venv/bin/python -m pytest -q tests/test_differential.py

(with that variable set, the search is randomised too, unless
PROTOCOL_DSL_DIFFERENTIAL_DERANDOMIZE=1).
"""

from __future__ import annotations

import copy
import os

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import differential_cases

import protocol_dsl
from protocol_dsl.data import prepare

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")
from test_conformance_backends import (
    DuckRunner,
    Reference,
    claim_violations,
    evaluate_outcome,
)

_LONG = os.environ.get("PROTOCOL_DSL_DIFFERENTIAL_EXAMPLES")
EXAMPLES = int(_LONG) if _LONG else 60
DERANDOMIZE = not _LONG or os.environ.get("PROTOCOL_DSL_DIFFERENTIAL_DERANDOMIZE") == "1"

_duck: list[DuckRunner] = []


def duck() -> DuckRunner:
    """One DuckDB connection for the whole module."""
    if not _duck:
        _duck.append(DuckRunner())
    return _duck[0]


def _typed(outcome):
    status, values, missing = outcome
    return status, [(v, type(v).__name__) for v in values], list(missing)


def check_case(text: str, patients) -> None:
    """Every backend agrees on every patient; the deep checks' claims hold for the complete ones."""
    try:
        protocol = protocol_dsl.loads(text)
    except protocol_dsl.RulesError as error:
        pytest.fail(f"a generated protocol does not load:\n{text}\n{error}")
    reference = Reference(protocol)
    valid, prepared = [], []
    for data in patients:
        try:
            values, _ = prepare(protocol.inputs, copy.deepcopy(data))
        except protocol_dsl.DataError:
            with pytest.raises(protocol_dsl.DataError):
                protocol.evaluate(copy.deepcopy(data))
            continue
        expected = reference.outcome(values)
        fast = evaluate_outcome(protocol, data)
        assert _typed(fast) == _typed(expected), (
            f"Protocol.evaluate and the interpreter disagree\nrules:\n{text}\ndata: {data!r}\n"
            f"prepared: {values!r}\ninterpreter: {expected}\nevaluate:    {fast}"
        )
        status = protocol.status(copy.deepcopy(data))
        assert status == expected[0], (
            f"Protocol.status and the interpreter disagree\nrules:\n{text}\ndata: {data!r}\n"
            f"interpreter: {expected[0]}\nstatus: {status}"
        )
        valid.append(data)
        prepared.append(values)
    for data, values, got in zip(valid, prepared, duck().outcomes(protocol, prepared)):
        expected = reference.outcome(values)
        assert _typed(got) == _typed(expected), (
            f"DuckDB and the interpreter disagree\nrules:\n{text}\ndata: {data!r}\nprepared: {values!r}\n"
            f"interpreter: {expected}\nduckdb:      {got}\nSQL: {protocol.to_sql('duckdb')}"
        )
    complete = [v for v in prepared if all(x is not None for x in v.values())]
    problems = claim_violations(protocol, complete)
    assert not problems, f"deep-check claims contradicted\nrules:\n{text}\n" + "\n".join(problems)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None if DERANDOMIZE else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(case=differential_cases())
def test_backends_agree_on_random_protocols_and_patients(case) -> None:
    check_case(case.text, case.patients)


# ----------------------------------------------------------------- fixed corners
CORNERS = [
    # TB in umol/L against a mg/dL literal through its molar mass; exactly on the threshold.
    ("input TB: number umol/L range 0..1500 molar mass 584.66 g/mol\ninclusion I1: TB >= 10 mg/dL\n",
     [{"TB": {"value": 10, "unit": "mg/dL"}}, {"TB": 171.03961276638}, {"TB": 10 / 0.058466},
      {"TB": {"value": 10 - 1e-9, "unit": "mg/dL"}}, {"TB": {"value": 10 + 1e-13, "unit": "mg/dL"}}, {}]),
    # Huge and tiny numbers: overflow and underflow are unknown or exact, the same everywhere.
    (("input big: number\ninclusion I1: big * 10 > 1\ninclusion I2: exp(big) >= 1\ninclusion I3: ln(big) < 0\n"
      "exclusion E1: round(big, 2) = big\nexclusion E2: sqrt(big) > floor(big) or ceil(big) = big\n"),
     [{"big": v} for v in (1e300, -1e300, 1e-300, -1e-300, 5e-324, 1.7976931348623157e308, 0, 0.5, -2.5, 2**53 + 1,
                           10**20, 709.78, 710)]),
    # Categories "NA" and "": neither is unknown.
    (('input code: one of "NA", "", "yes"\ninclusion I1: code = "NA" or code = ""\nexclusion E1: known(code)\n'
      'inclusion I2: if code in {"", "yes"} then code != ""\n'),
     [{"code": "NA"}, {"code": ""}, {"code": "yes"}, {"code": None}, {}]),
]


@pytest.mark.parametrize("text, patients", CORNERS, ids=["molar-mass", "extremes", "categories"])
def test_backends_agree_on_fixed_corners(text, patients) -> None:
    check_case(text, patients)
