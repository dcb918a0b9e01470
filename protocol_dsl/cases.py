"""Example patients kept beside a rules file (`X.cases.yaml`), and running them.

    cases:
      - name: eligible man, MELD 25
        patient: {age: 45, sex: male, TB: 250 umol/L, creatinine: 1.0 mg/dL}
        expect:
          status: eligible
          criteria: {I7: true, I8: true}
          missing: []

A number input's value may be written with its unit as text ("250 umol/L"); every
other value is written as in patient JSON. Unknown inputs, criteria and keys are
errors, so a typo can never make a case pass.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Optional

import attrs

from .checker import Num
from .events import EVENT_KEYS
from .errors import DataError
from .evaluate import Result
from .protocol import Protocol
from .source import UnreadableFile, read_text

CASE_SUFFIXES = (".cases.yaml", ".cases.yml")
_STATUSES = ("eligible", "ineligible", "undetermined")
_WITH_UNIT = re.compile(r"\s*((?>-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?))\s*(\S.*?)\s*$")


class CaseFileError(Exception):
    """A case file that cannot be used; the message names the file, line and problem."""


@attrs.frozen
class Case:
    """One named example patient and what is expected of it."""

    name: str
    line: int
    patient: dict
    status: Optional[str] = None
    criteria: dict = attrs.field(factory=dict)
    missing: Optional[list] = None
    as_of: Optional[str] = None  # the index date, YYYY-MM-DD (the case's own, or the file's)


@attrs.frozen
class Outcome:
    """A case run: the result (None when the data was refused) and every mismatch."""

    case: Case
    result: Optional[Result]
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def case_file_for(rules: Path) -> Optional[Path]:
    """The case file beside a rules file, if there is one."""
    stem = rules.name[: -len(".rules")] if rules.name.endswith(".rules") else rules.stem
    for suffix in CASE_SUFFIXES:
        candidate = rules.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def load_cases(path: Path, protocol: Protocol) -> list[Case]:
    """Read and validate a case file against the protocol it tests."""
    import yaml  # only `protocol-dsl test` needs YAML

    try:
        text = read_text(path, "a case file")
    except UnreadableFile as problem:
        raise CaseFileError(str(problem)) from None
    loader = _loader()
    try:
        node = yaml.compose(text, Loader=loader)
        document = yaml.load(text, Loader=loader)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise CaseFileError(f"{where}: not valid YAML: {getattr(problem, 'problem', None) or problem}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
        raise CaseFileError(f"{path}:1: a case file is a mapping with a 'cases:' list")
    unknown = set(document) - {"cases", "as_of"}
    if unknown:
        raise CaseFileError(f"{path}:1: unknown key {sorted(unknown)[0]!r}: a case file has 'cases:' and 'as_of:'")
    default_as_of = _as_of(document.get("as_of"), f"{path}:1")
    lines = _item_lines(node)
    cases, names, problems = [], set(), []
    for index, raw in enumerate(document["cases"]):
        line = lines[index] if index < len(lines) else 1
        try:
            case = _case(raw, protocol, f"{path}:{line}", line, default_as_of)
        except CaseFileError as problem:  # every case is checked, so all problems show at once
            problems.append(str(problem))
            continue
        if case.name in names:
            problems.append(f"{path}:{line}: a second case is named {case.name!r}: names must differ")
        names.add(case.name)
        cases.append(case)
    if problems:
        raise CaseFileError("\n".join(problems))
    if not cases:
        raise CaseFileError(f"{path}:1: the 'cases:' list is empty")
    return cases


def _loader():
    """YAML's safe loader, but only `true`/`false` are booleans (as in YAML 1.2 and JSON).

    YAML 1.1 reads `on`, `off`, `yes` and `no` as booleans, which would turn a case
    named `on`, or a category value `no`, into true or false.
    """
    import re as regex

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        # Dates stay texts ("2026-11-28"), as in JSON patient data.
        first: [(tag, pattern) for tag, pattern in resolvers
                if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", regex.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )

    def integer(loader, node):
        # A whole number beyond the float range is read as the (infinite) float it is to
        # evaluation, refused naming the input; int() of over 4300 digits would raise.
        text = loader.construct_scalar(node).replace("_", "")
        if text.lstrip("+-").isdigit() and len(text.lstrip("+-")) > 300:
            return float(text)
        return yaml.SafeLoader.construct_yaml_int(loader, node)

    Loader.add_constructor("tag:yaml.org,2002:int", integer)
    return Loader


def _item_lines(node) -> list[int]:
    try:
        for key, value in node.value:
            if key.value == "cases":
                return [item.start_mark.line + 1 for item in value.value]
    except (AttributeError, TypeError):
        pass
    return []


def _as_of(raw: Any, where: str) -> Optional[str]:
    """An `as_of:` of a case file as YAML gives it (a date, or a text) -> YYYY-MM-DD, or None."""
    import datetime

    from .records import parse_as_of

    if raw is None:
        return None
    if isinstance(raw, (datetime.date, str)):
        try:
            return parse_as_of(raw).isoformat()
        except ValueError:
            pass
    raise CaseFileError(f"{where}: 'as_of' must be a date such as 2026-12-01, not {raw!r}")


def _case(raw: Any, protocol: Protocol, where: str, line: int, default_as_of: Optional[str] = None) -> Case:
    if not isinstance(raw, dict):
        raise CaseFileError(f"{where}: each case is a mapping with name, patient and expect")
    extra = set(raw) - {"name", "patient", "expect", "as_of"}
    if extra:
        raise CaseFileError(f"{where}: unknown key {sorted(extra)[0]!r} (a case has name, patient, expect and as_of)")
    name = raw.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        raise CaseFileError(f"{where}: every case needs a 'name'")
    if not isinstance(name, str):
        raise CaseFileError(f"{where}: a case's name must be text, not {name!r}: put it in quotes")
    where = f"{where}: case {name!r}"
    patient = raw.get("patient") or {}
    if not isinstance(patient, dict):
        raise CaseFileError(f"{where}: 'patient' must be a mapping of input names to values")
    for key in patient:
        if key not in protocol.inputs and key not in EVENT_KEYS:  # events are listed under their own keys
            raise CaseFileError(f"{where}: {key!r} is not an input of the protocol{_suggest(str(key), protocol.inputs)}")
    expect = raw.get("expect")
    if not isinstance(expect, dict) or not expect:
        raise CaseFileError(f"{where}: 'expect' must give at least a status, criteria or missing")
    extra = set(expect) - {"status", "criteria", "missing"}
    if extra:
        raise CaseFileError(f"{where}: unknown expectation {sorted(extra)[0]!r} (status, criteria or missing)")
    status = expect.get("status")
    if status is not None and status not in _STATUSES:
        raise CaseFileError(f"{where}: status {status!r} is not one of {', '.join(_STATUSES)}")
    criteria = expect.get("criteria") or {}
    ids = {c.id for c in protocol.checked.criteria}
    if not isinstance(criteria, dict):
        raise CaseFileError(f"{where}: 'criteria' must map criterion ids to true, false or null")
    for cid, value in criteria.items():
        if cid not in ids:
            raise CaseFileError(f"{where}: {cid!r} is not a criterion of the protocol{_suggest(str(cid), ids)}")
        if value not in (True, False, None):
            raise CaseFileError(f"{where}: criterion {cid} must be expected true, false or null (unknown)")
    missing = expect.get("missing")
    if missing is not None and not (isinstance(missing, list) and all(isinstance(m, str) for m in missing)):
        raise CaseFileError(f"{where}: 'missing' must be a list of input names")
    for name_ in missing or []:
        if name_ not in protocol.inputs:
            raise CaseFileError(f"{where}: {name_!r} in 'missing' is not an input{_suggest(name_, protocol.inputs)}")
    return Case(
        name=name,
        line=line,
        patient={k: _value(protocol, k, v) for k, v in patient.items()},
        status=status,
        criteria=dict(criteria),
        missing=missing,
        as_of=_as_of(raw["as_of"], where) if raw.get("as_of") is not None else default_as_of,
    )


def _value(protocol: Protocol, name: str, value: Any) -> Any:
    """"250 umol/L" -> {"value": 250, "unit": "umol/L"} for number inputs."""
    if name in EVENT_KEYS and name not in protocol.inputs:
        return value
    if isinstance(value, str) and isinstance(protocol.inputs[name].type, Num):
        match = _WITH_UNIT.fullmatch(value)
        if match:
            number = float(match.group(1))
            unit = match.group(2)
            if len(unit) > 2 and unit[0] == unit[-1] == "'":  # quoted as in a rules file: '/uL'
                unit = unit[1:-1]
            return {"value": int(number) if number.is_integer() and "." not in match.group(1) else number, "unit": unit}
    return value


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def run_case(protocol: Protocol, case: Case) -> Outcome:
    """Evaluate one case and compare with what it expects."""
    try:
        result = protocol.evaluate(case.patient, as_of=case.as_of)
    except DataError as problem:
        return Outcome(case, None, tuple(f"patient data refused: {p}" for p in problem.problems))
    failures = []
    if case.status is not None and result.status.value != case.status:
        failures.append(f"status: expected {case.status}, got {result.status.value}")
    for cid, expected in case.criteria.items():
        actual = result.criteria[cid].value
        if actual is not expected:
            failures.append(
                f"{cid}: expected {_word(expected)}, got {_word(actual)} ({result.criteria[cid].reason})"
            )
    if case.missing is not None and sorted(case.missing) != result.missing:
        failures.append(f"missing: expected {sorted(case.missing)}, got {result.missing}")
    return Outcome(case, result, tuple(failures))


def _word(value: Optional[bool]) -> str:
    return {True: "true", False: "false", None: "unknown"}[value]
