"""Language conformance suite: runs every case in tests/conformance/*.json.

The cases are written from the language specification alone, so that any
implementation of protocol-dsl can run them.  Each file is
``{"description": str, "cases": [case, ...]}`` and a case is one of:

rules case -- ``rules`` is loaded with ``protocol_dsl.loads``.
    ``errors``     loads must raise ``RulesError``; every listed
                   ``{"line", "column", "code", "message"?}`` must be among its
                   error diagnostics, and there must be no other errors.
    ``warnings``   the warnings (of the loaded protocol, or of the RulesError
                   when ``errors`` is given) must be exactly these.
    Without ``errors`` the text must load.  It may then be evaluated, either
    once (the evaluation keys below at the top level) or several times
    (``evaluations``: a list of objects with those keys).

evaluation keys -- ``data`` (required) is passed to ``Protocol.evaluate``.
    ``status``         the result's status ("eligible", "ineligible", "undetermined")
    ``criteria``       {id: true | false | null}, the value of each listed criterion
    ``reasons``        {id: text}, the exact reason of each listed criterion
    ``missing``        the result's missing list, exactly (sorted)
    ``data_warnings``  substrings, each found in some warning of the result
    ``data_error``     evaluate must raise ``DataError`` whose text holds each
                       listed substring (excludes the keys above)

expression case -- ``expression`` is compiled with ``compile_expression``.
    ``value``   what ``.evaluate(data)`` returns for ``data`` (default {}):
                true, false, null (unknown) or a number (compared to 1e-9).
    ``errors``  instead of ``value``: compiling must raise ``RulesError``.

Any case may carry a ``note`` for the reader.  Unknown keys, wrong value types
and missing expectations fail the case loudly rather than passing silently.
Files are read with ``json.load``, which accepts the bare tokens ``NaN`` and
``Infinity`` so that non-finite patient values can be written.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import protocol_dsl

CASE_DIR = Path(__file__).parent / "conformance"

STATUSES = ("eligible", "ineligible", "undetermined")
EXPECTATION_KEYS = {"status", "criteria", "reasons", "missing", "data_warnings", "data_error"}
EVALUATION_KEYS = {"data", "note", "as_of"} | EXPECTATION_KEYS
RULES_KEYS = {"name", "note", "rules", "errors", "warnings", "evaluations"} | EVALUATION_KEYS
EXPRESSION_KEYS = {"name", "note", "expression", "data", "value", "errors"}
DIAGNOSTIC_KEYS = {"line", "column", "code", "message"}


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in a conformance file")
        result[key] = value
    return result


def _load_files() -> list[tuple[str, dict[str, Any]]]:
    files = []
    for path in sorted(CASE_DIR.glob("*.json")):
        with path.open(encoding="utf-8") as f:
            files.append((path.stem, json.load(f, object_pairs_hook=_no_duplicate_keys)))
    return files


FILES = _load_files()


def _case_id(stem: str, index: int, case: Any) -> str:
    name = case.get("name") if isinstance(case, dict) else None
    return f"{stem}::{name}" if isinstance(name, str) and name else f"{stem}::#{index}"


CASES = [
    pytest.param(case, id=_case_id(stem, i, case))
    for stem, content in FILES
    for i, case in enumerate(content.get("cases", []) if isinstance(content, dict) else [])
]


# ----------------------------------------------------------------- shape checks


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _diagnostic_problems(where: str, items: Any) -> list[str]:
    if not isinstance(items, list):
        return [f"{where} must be a list"]
    problems = []
    for item in items:
        if not isinstance(item, dict) or not {"line", "column", "code"} <= set(item):
            problems.append(f"{where}: {item!r} needs line, column and code")
            continue
        if set(item) - DIAGNOSTIC_KEYS:
            problems.append(f"{where}: unknown keys {sorted(set(item) - DIAGNOSTIC_KEYS)}")
        for key in ("line", "column"):
            if not (isinstance(item[key], int) and not isinstance(item[key], bool) and item[key] >= 1):
                problems.append(f"{where}: {key} must be an integer >= 1")
        if not isinstance(item["code"], str) or not item["code"]:
            problems.append(f"{where}: code must be a non-empty string")
        if "message" in item and not isinstance(item["message"], str):
            problems.append(f"{where}: message must be a string")
    return problems


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(s, str) for s in value)


def _evaluation_problems(where: str, ev: Any, allowed: set[str]) -> list[str]:
    if not isinstance(ev, dict):
        return [f"{where} must be an object"]
    problems = []
    unknown = set(ev) - allowed
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(ev.get("data"), dict):
        problems.append(f"{where}: data must be an object")
    expectations = set(ev) & EXPECTATION_KEYS
    if not expectations:
        problems.append(f"{where}: nothing is expected of the evaluation")
    if "data_error" in ev:
        if expectations - {"data_error"}:
            problems.append(f"{where}: data_error excludes {sorted(expectations - {'data_error'})}")
        if not _string_list(ev["data_error"]) or not ev["data_error"]:
            problems.append(f"{where}: data_error must be a non-empty list of strings")
    if "status" in ev and ev["status"] not in STATUSES:
        problems.append(f"{where}: status must be one of {STATUSES}")
    if "criteria" in ev and not (
        isinstance(ev["criteria"], dict)
        and all(v is None or isinstance(v, bool) for v in ev["criteria"].values())
    ):
        problems.append(f"{where}: criteria must map ids to true, false or null")
    if "reasons" in ev and not (
        isinstance(ev["reasons"], dict) and all(isinstance(v, str) for v in ev["reasons"].values())
    ):
        problems.append(f"{where}: reasons must map ids to strings")
    for key in ("missing", "data_warnings"):
        if key in ev and not _string_list(ev[key]):
            problems.append(f"{where}: {key} must be a list of strings")
    if "note" in ev and not isinstance(ev["note"], str):
        problems.append(f"{where}: note must be a string")
    if "as_of" in ev and not (isinstance(ev["as_of"], str) and len(ev["as_of"]) == 10):
        problems.append(f"{where}: as_of must be a date YYYY-MM-DD")
    return problems


def shape_problems(case: Any) -> list[str]:
    """Everything that keeps a case from having one clear meaning."""
    if not isinstance(case, dict):
        return ["a case must be an object"]
    problems = []
    if not isinstance(case.get("name"), str) or not case["name"]:
        problems.append("name must be a non-empty string")
    if "note" in case and not isinstance(case["note"], str):
        problems.append("note must be a string")
    if ("rules" in case) == ("expression" in case):
        return problems + ["a case has exactly one of rules and expression"]

    if "expression" in case:
        unknown = set(case) - EXPRESSION_KEYS
        if unknown:
            problems.append(f"unknown keys {sorted(unknown)}")
        if not isinstance(case["expression"], str):
            problems.append("expression must be a string")
        if "errors" in case:
            problems += _diagnostic_problems("errors", case["errors"])
            if not case["errors"]:
                problems.append("errors must not be empty")
            if "value" in case or "data" in case:
                problems.append("an expression case with errors has no data or value")
        else:
            if "value" not in case:
                problems.append("an expression case needs value (or errors)")
            elif not (case["value"] is None or isinstance(case["value"], bool) or _is_number(case["value"])):
                problems.append("value must be true, false, null or a number")
            if "data" in case and not isinstance(case["data"], dict):
                problems.append("data must be an object")
        return problems

    unknown = set(case) - RULES_KEYS
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)}")
    if not isinstance(case["rules"], str):
        problems.append("rules must be a string")
    if "warnings" in case:
        problems += _diagnostic_problems("warnings", case["warnings"])
    top_level = set(case) & (EXPECTATION_KEYS | {"data"})
    if "errors" in case:
        problems += _diagnostic_problems("errors", case["errors"])
        if not case["errors"]:
            problems.append("errors must not be empty (leave the key out instead)")
        if top_level or "evaluations" in case:
            problems.append("a case with errors cannot be evaluated")
        return problems
    if "evaluations" in case:
        if top_level:
            problems.append(f"evaluations excludes top-level {sorted(top_level)}")
        if not isinstance(case["evaluations"], list) or not case["evaluations"]:
            problems.append("evaluations must be a non-empty list")
        else:
            for i, ev in enumerate(case["evaluations"]):
                problems += _evaluation_problems(f"evaluations[{i}]", ev, EVALUATION_KEYS)
    elif top_level:
        evaluation = {k: v for k, v in case.items() if k in EXPECTATION_KEYS | {"data"}}
        problems += _evaluation_problems("evaluation", evaluation, EVALUATION_KEYS)
    return problems


def test_conformance_files_exist_and_are_well_formed() -> None:
    assert FILES, f"no conformance files in {CASE_DIR.name}/"
    for stem, content in FILES:
        assert isinstance(content, dict), f"{stem}: the file must hold an object"
        assert set(content) == {"description", "cases"}, f"{stem}: keys must be description and cases"
        assert isinstance(content["description"], str) and content["description"], stem
        assert isinstance(content["cases"], list) and content["cases"], f"{stem}: no cases"


def test_case_names_are_unique() -> None:
    seen: dict[str, int] = {}
    for stem, content in FILES:
        for i, case in enumerate(content.get("cases", [])):
            case_id = _case_id(stem, i, case)
            seen[case_id] = seen.get(case_id, 0) + 1
    duplicates = sorted(name for name, count in seen.items() if count > 1)
    assert not duplicates, f"duplicate case names: {duplicates}"


def test_every_case_has_a_recognised_shape() -> None:
    bad = {
        _case_id(stem, i, case): problems
        for stem, content in FILES
        for i, case in enumerate(content.get("cases", []))
        if (problems := shape_problems(case))
    }
    assert not bad, "malformed cases:\n" + "\n".join(f"  {k}: {v}" for k, v in bad.items())


# ----------------------------------------------------------------- checking


def _show(diagnostics: Any) -> str:
    return "\n".join(
        f"  {d.line}:{d.column}: {d.severity}[{d.code}] {d.message}" for d in diagnostics
    ) or "  (none)"


def _check_diagnostics(expected: list[dict[str, Any]], diagnostics: Any, severity: str) -> None:
    actual = [d for d in diagnostics if d.severity == severity]
    unmatched = list(actual)
    not_found = []
    for want in expected:
        for d in unmatched:
            if (
                d.line == want["line"]
                and d.column == want["column"]
                and d.code == want["code"]
                and ("message" not in want or d.message == want["message"])
            ):
                unmatched.remove(d)
                break
        else:
            not_found.append(want)
    assert not not_found and len(actual) == len(expected), (
        f"{severity}s differ\n expected:\n"
        + "\n".join(f"  {w['line']}:{w['column']}: {w['code']}" for w in expected)
        + f"\n got:\n{_show(actual)}"
    )


def _load(rules: str) -> Any:
    try:
        return protocol_dsl.loads(rules)
    except protocol_dsl.RulesError as exc:
        pytest.fail(f"the rules should load, but:\n{_show(exc.diagnostics)}")


def _check_evaluation(protocol: Any, ev: dict[str, Any]) -> None:
    data = copy.deepcopy(ev["data"])
    if "data_error" in ev:
        with pytest.raises(protocol_dsl.DataError) as info:
            protocol.evaluate(data, as_of=ev.get("as_of"))
        text = str(info.value)
        for part in ev["data_error"]:
            assert part in text, f"{part!r} not in the data error {text!r}"
        return
    result = protocol.evaluate(data, as_of=ev.get("as_of"))
    # The status-only path stops at the first decisive criterion: the same status.
    assert protocol.status(copy.deepcopy(ev["data"]), as_of=ev.get("as_of")) == result.status
    if "status" in ev:
        assert result.status == ev["status"]
    for cid, value in ev.get("criteria", {}).items():
        assert cid in result.criteria, f"no criterion {cid!r} in the result"
        got = result.criteria[cid].value
        assert got is value, f"criterion {cid}: expected {value!r}, got {got!r}"
    for cid, reason in ev.get("reasons", {}).items():
        assert result.criteria[cid].reason == reason
    if "missing" in ev:
        assert list(result.missing) == ev["missing"]
    if "data_warnings" in ev:
        messages = [str(w) for w in result.warnings]
        for part in ev["data_warnings"]:
            assert any(part in m for m in messages), f"no warning mentions {part!r}: {messages!r}"


def _run_rules_case(case: dict[str, Any]) -> None:
    if "errors" in case:
        with pytest.raises(protocol_dsl.RulesError) as info:
            protocol_dsl.loads(case["rules"])
        diagnostics = info.value.diagnostics
        _check_diagnostics(case["errors"], diagnostics, "error")
        if "warnings" in case:
            _check_diagnostics(case["warnings"], diagnostics, "warning")
        return
    protocol = _load(case["rules"])
    if "warnings" in case:
        _check_diagnostics(case["warnings"], protocol.warnings, "warning")
    if "evaluations" in case:
        for i, ev in enumerate(case["evaluations"]):
            try:
                _check_evaluation(protocol, ev)
            except AssertionError as exc:
                raise AssertionError(f"evaluations[{i}] with data {ev['data']!r}: {exc}") from exc
    elif "data" in case:
        _check_evaluation(protocol, case)


def _run_expression_case(case: dict[str, Any]) -> None:
    if "errors" in case:
        with pytest.raises(protocol_dsl.RulesError) as info:
            protocol_dsl.compile_expression(case["expression"])
        _check_diagnostics(case["errors"], info.value.diagnostics, "error")
        return
    try:
        compiled = protocol_dsl.compile_expression(case["expression"])
    except protocol_dsl.RulesError as exc:
        pytest.fail(f"the expression should compile, but:\n{_show(exc.diagnostics)}")
    got = compiled.evaluate(copy.deepcopy(case.get("data", {})))
    want = case["value"]
    if want is None or isinstance(want, bool):
        assert got is want, f"expected {want!r}, got {got!r}"
    else:
        assert got is not None and not isinstance(got, bool), f"expected {want!r}, got {got!r}"
        assert float(got) == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_conformance(case: Any) -> None:
    problems = shape_problems(case)
    assert not problems, f"malformed case: {problems}"
    if "rules" in case:
        _run_rules_case(case)
    else:
        _run_expression_case(case)
