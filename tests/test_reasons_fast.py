"""The reasons and JSON of a result are exactly those of the reference path: one trace per criterion
computed alone, a fresh `Reasons` per criterion, positions and texts recomputed for every node."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import patients, protocols

import protocol_dsl
from protocol_dsl.evaluate import Reasons

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _text(source, node) -> str:
    return " ".join(source.slice(node.span).split())


def reference_trace_dict(trace, source) -> dict:
    line, column = source.position(trace.node.span.start)
    shown = {
        "expr": _text(source, trace.node),
        "value": trace.value,
        "line": line,
        "column": column,
        "children": [reference_trace_dict(child, source) for child in trace.children],
    }
    if trace.when[:4].isdigit():
        shown["date"] = trace.when[:10]
    elif trace.when:
        shown["limit"] = trace.when
    return shown


def reference(protocol, result) -> tuple[dict, dict]:
    """Each criterion's reason and the whole `to_dict()`, the slow way."""
    traces = {cid: fn(result.values) for cid, fn in protocol.traced_functions().items()}
    reasons = {cid: Reasons(protocol.checked).criterion_reason(trace) for cid, trace in traces.items()}
    shown = {
        "protocol": protocol.id,
        "status": result.status.value,
        "criteria": [
            {"id": c.id, "kind": c.kind, "text": c.text, "value": c.value, "reason": reasons[c.id],
             "missing": c.missing, "trace": reference_trace_dict(traces[c.id], protocol.source)}
            for c in result.criteria.values()
        ],
        "missing": result.missing,
        "warnings": list(result.warnings),
    }
    return reasons, shown


@st.composite
def protocol_and_patients(draw):
    generated = draw(protocols())
    return generated.text, draw(st.lists(patients(generated), min_size=1, max_size=4))


@SETTINGS
@given(protocol_and_patients())
def test_reasons_and_to_dict_are_those_of_the_reference_path(case):
    text, cohort = case
    protocol = protocol_dsl.loads(text)
    for patient in cohort:
        result = protocol.evaluate(patient)
        reasons, shown = reference(protocol, result)
        assert {cid: c.reason for cid, c in result.criteria.items()} == reasons
        assert result.to_dict() == shown
        assert protocol.evaluate(patient).to_dict() == shown  # to_dict first, then the reasons
        assert {cid: c.reason for cid, c in result.criteria.items()} == reasons


def test_every_conformance_evaluation_agrees_with_the_reference_path():
    """Dates, events, limits of normal and ordered scales too: every evaluation of the conformance suite."""
    import copy
    import json
    import pathlib

    checked = 0
    for path in sorted((pathlib.Path(__file__).parent / "conformance").glob("*.json")):
        for case in json.loads(path.read_text()).get("cases", []):
            if "rules" not in case or "errors" in case:
                continue
            protocol = protocol_dsl.loads(case["rules"])
            for ev in case.get("evaluations", [case] if "data" in case else []):
                if "data_error" in ev:
                    continue
                result = protocol.evaluate(copy.deepcopy(ev["data"]), as_of=ev.get("as_of"))
                reasons, shown = reference(protocol, result)
                assert result.to_dict() == shown, case.get("name")
                assert {cid: c.reason for cid, c in result.criteria.items()} == reasons, case.get("name")
                checked += 1
    assert checked > 100
