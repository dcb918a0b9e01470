"""Value sets: the codes (of one or more coding systems) that make up a clinical concept.

A value set is a list of (system, pattern) entries. A pattern is a code, or a prefix
followed by `*` that matches every code starting with it. Systems are kept under one
canonical name each (`ICD10`, `SNOMED`, `LOINC`, `ATC`, `RxNorm`, or the URI as given),
so `ICD10` in a rules file, `http://hl7.org/fhir/sid/icd-10-cm` in a FHIR resource and
`icd10` in a CSV name one system. ICD-10 codes are compared without regard to the dot
and to case (`C34.1` = `c341`); other codes exactly as written.

Loading reads FHIR R4 ValueSet JSON (`expansion.contains[]`, or else
`compose.include[].concept[]`) and CSV (`system,code[,display]`); a problem is a
`ValueSetError` whose message names the file, the place in it and what is wrong.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable

from .source import UnreadableFile, quoted, read_text

__all__ = [
    "ALIASES", "KIND_SYSTEMS", "ValueSet", "ValueSetError", "canonical_system",
    "load", "load_csv", "load_fhir", "normalize_code", "parse_pattern",
]

# The alias of each known system and the URIs (FHIR canonical URLs and HL7 OIDs) that
# name it. A URI that is not listed here is a system of its own, compared as written.
ALIASES: dict[str, tuple[str, ...]] = {
    "ICD10": (
        "http://hl7.org/fhir/sid/icd-10",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "urn:oid:2.16.840.1.113883.6.3",
        "urn:oid:2.16.840.1.113883.6.90",
    ),
    "SNOMED": ("http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"),
    "LOINC": ("http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"),
    "ATC": ("http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73"),
    "RxNorm": ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"),
}
_BY_NAME = {alias.lower(): alias for alias in ALIASES}
_BY_NAME.update({"icd-10": "ICD10", "icd-10-cm": "ICD10", "icd10cm": "ICD10", "snomedct": "SNOMED",
                 "snomed-ct": "SNOMED", "snomed ct": "SNOMED"})
_BY_URI = {uri: alias for alias, uris in ALIASES.items() for uri in uris}

# The systems in which each kind of event is usually coded; a value set of only other
# known systems used for that kind is probably a mistake (the checker warns).
KIND_SYSTEMS: dict[str, frozenset[str]] = {
    "condition": frozenset({"ICD10", "SNOMED"}),
    "procedure": frozenset({"SNOMED"}),
    "medication": frozenset({"ATC", "RxNorm", "SNOMED"}),
}


class ValueSetError(Exception):
    """A value set that cannot be built or loaded; the message says where and why."""


def canonical_system(text: str) -> str | None:
    """The canonical name of a system (an alias or a URI), or None if it is neither."""
    text = text.strip()
    known = _BY_URI.get(text.rstrip("/")) or _BY_NAME.get(text.lower())
    if known is not None:
        return known
    if ":" in text and " " not in text:  # any other URI (http:, urn:) is a system of its own
        return text
    return None


def system_problem(text: str) -> str:
    """Why `text` is not a system (for messages)."""
    return f"unknown coding system {quoted(text)} (use {', '.join(ALIASES)} or a URI)"


def normalize_code(system: str, code: str) -> str:
    """A code as it is compared: ICD-10 without dots, spaces or case; others as written."""
    code = code.strip()
    if system == "ICD10":
        return code.replace(".", "").replace(" ", "").upper()
    return code


def parse_pattern(system: str, text: str) -> tuple[str, bool]:
    """(normalized code or prefix, is_prefix) for a pattern; ValueError says what is wrong."""
    if not text.strip():
        raise ValueError("empty code")
    prefix = text.strip().endswith("*")
    body = text.strip()[:-1] if prefix else text.strip()
    if "*" in body:
        raise ValueError(f"{quoted(text)}: '*' may only end a code (a prefix such as \"C34.*\")")
    code = normalize_code(system, body)
    if not code:
        raise ValueError(f"{quoted(text)}: a prefix needs at least one character before '*'")
    return code, prefix


class ValueSet:
    """Codes of one or more systems; `matches(system, code)` is the membership test."""

    __slots__ = ("name", "entries", "_exact", "_prefixes", "origin")

    def __init__(self, entries: Iterable[tuple[str, str]], name: str = "", origin: str = ""):
        """Entries are (system, pattern) pairs, the system an alias or a URI; ValueSetError if invalid."""
        self.name = name
        self.origin = origin  # where it was loaded from, for messages ("" when written inline)
        kept: list[tuple[str, str]] = []
        exact: dict[str, set[str]] = {}
        prefixes: dict[str, set[str]] = {}
        for system_text, pattern in entries:
            system = canonical_system(system_text)
            if system is None:
                raise ValueSetError(system_problem(system_text))
            try:
                code, is_prefix = parse_pattern(system, pattern)
            except ValueError as problem:
                raise ValueSetError(str(problem)) from None
            (prefixes if is_prefix else exact).setdefault(system, set()).add(code)
            kept.append((system, code + "*" if is_prefix else code))
        self.entries: tuple[tuple[str, str], ...] = tuple(dict.fromkeys(kept))
        self._exact = {system: frozenset(codes) for system, codes in exact.items()}
        # Prefixes that another prefix already covers are dropped; what is left is
        # prefix-free, so the only candidate for a code is its sorted predecessor.
        self._prefixes = {system: _prefix_free(codes) for system, codes in prefixes.items()}

    @property
    def systems(self) -> frozenset[str]:
        """The canonical systems the set has codes of."""
        return frozenset(system for system, _ in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"ValueSet({self.name!r}, {len(self.entries)} entries)"

    def matches(self, system: str, code: str) -> bool:
        """Whether the code of that system (alias or URI) is in the set."""
        canonical = canonical_system(system) if system not in self._exact and system not in self._prefixes else system
        if canonical is None:
            return False
        code = normalize_code(canonical, code)
        exact = self._exact.get(canonical)
        if exact is not None and code in exact:
            return True
        prefixes = self._prefixes.get(canonical)
        if not prefixes:
            return False
        at = bisect.bisect_right(prefixes, code)
        return at > 0 and code.startswith(prefixes[at - 1])


def _prefix_free(codes: set[str]) -> list[str]:
    kept: list[str] = []
    for code in sorted(codes):  # a prefix sorts before every string it starts
        if kept and code.startswith(kept[-1]):
            continue
        kept.append(code)
    return kept


# -- loading ------------------------------------------------------------------------------


def load(path: Path | str, name: str = "") -> ValueSet:
    """A value set from a `.json` (FHIR ValueSet) or `.csv` file; ValueSetError if it cannot be."""
    path = Path(path)
    try:
        text = read_text(path, "a value set")
    except UnreadableFile as problem:
        raise ValueSetError(str(problem)) from None
    except ValueError:  # a path the system cannot name (an embedded NUL)
        raise ValueSetError(f"{path}: cannot be read (not a valid file name)") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        return load_fhir(text, str(path), name)
    if suffix == ".csv":
        return load_csv(text, str(path), name)
    raise ValueSetError(f"{path}: a value set file must be .json (a FHIR ValueSet) or .csv (system,code)")


def load_fhir(text: str, where: str = "<json>", name: str = "") -> ValueSet:
    """A value set from the text of a FHIR R4 ValueSet resource."""
    try:
        resource = json.loads(text)
    except json.JSONDecodeError as problem:
        raise ValueSetError(f"{where}: not valid JSON: {problem.msg} (line {problem.lineno}, column {problem.colno})") from None
    except RecursionError:
        raise ValueSetError(f"{where}: not valid JSON: nested too deeply") from None
    if not isinstance(resource, dict):
        raise ValueSetError(f"{where}: expected a FHIR ValueSet object")
    kind = resource.get("resourceType", "ValueSet")
    if kind != "ValueSet":
        raise ValueSetError(f"{where}: resourceType is {_show(kind)}, expected \"ValueSet\"")
    entries: list[tuple[str, str]] = []
    expansion = resource.get("expansion")
    if expansion is not None:
        # The expansion is the resolved list of codes: when there is one, it is used, and
        # the compose (filters included) it was computed from is not needed.
        contains = _list(_object(expansion, where, "expansion").get("contains", []), where, "expansion.contains")
        _contains(contains, where, "expansion.contains", entries)
    else:
        compose = resource.get("compose")
        if compose is None:
            raise ValueSetError(f"{where}: has neither expansion.contains nor compose.include: there are no codes")
        compose = _object(compose, where, "compose")
        if compose.get("exclude"):
            raise ValueSetError(f"{where}: compose.exclude is not supported: give the expansion, or list the codes to include")
        includes = _list(compose.get("include", []), where, "compose.include")
        for i, include in enumerate(includes):
            _include(_object(include, where, f"compose.include[{i}]"), where, f"compose.include[{i}]", entries)
    if not entries:
        raise ValueSetError(f"{where}: the value set has no codes")
    return _build(entries, where, name)


def _include(include: dict, where: str, at: str, entries: list) -> None:
    if include.get("valueSet"):
        raise ValueSetError(f"{where}: {at}.valueSet: a value set included by reference cannot be resolved; list its codes")
    system = include.get("system")
    if not isinstance(system, str) or not system.strip():
        raise ValueSetError(f"{where}: {at}: no system")
    canonical = canonical_system(system)
    if canonical is None:
        raise ValueSetError(f"{where}: {at}.system: {system_problem(system)}")
    concepts = _list(include.get("concept", []), where, f"{at}.concept")
    filters = _list(include.get("filter", []), where, f"{at}.filter")
    if not concepts and not filters:
        raise ValueSetError(f"{where}: {at}: includes the whole of {system}; list the codes (concept[]) to include")
    for j, concept in enumerate(concepts):
        concept = _object(concept, where, f"{at}.concept[{j}]")
        code = concept.get("code")
        if not isinstance(code, str) or not code.strip():
            raise ValueSetError(f"{where}: {at}.concept[{j}]: no code")
        entries.append((system, _literal(code, where, f"{at}.concept[{j}]")))
    for j, rule in enumerate(filters):
        entries.append((system, _filter(_object(rule, where, f"{at}.filter[{j}]"), canonical, where, f"{at}.filter[{j}]")))


# Systems whose hierarchy is spelled by the code itself: a concept's descendants are
# exactly the codes that start with it, so `is-a` needs no terminology server.
_PREFIX_HIERARCHIES = frozenset({"ICD10", "ATC"})


def _filter(rule: dict, system: str, where: str, at: str) -> str:
    prop, op, value = rule.get("property"), rule.get("op"), rule.get("value")
    if not isinstance(value, str) or not value.strip():
        raise ValueSetError(f"{where}: {at}: a filter needs a value")
    if prop in ("concept", "code") and op == "=":
        return _literal(value, where, at)
    if prop == "concept" and op == "is-a" and system in _PREFIX_HIERARCHIES:
        return _literal(value, where, at) + "*"
    raise ValueSetError(
        f"{where}: {at}: the filter ({_show(prop)} {_show(op)} {_show(value)}) needs a terminology server; "
        "give the expansion, or list the codes (only \"concept is-a\" on ICD-10 or ATC and \"=\" can be read)"
    )


def _literal(code: str, where: str, at: str) -> str:
    if "*" in code:
        raise ValueSetError(f"{where}: {at}: {quoted(code)} is not a code ('*' is only for prefixes in rules files and CSV)")
    return code


def _contains(items: list, where: str, at: str, entries: list) -> None:
    for i, item in enumerate(items):
        item = _object(item, where, f"{at}[{i}]")
        code, system = item.get("code"), item.get("system")
        if not item.get("abstract") or code is not None:
            if not isinstance(code, str) or not code.strip():
                raise ValueSetError(f"{where}: {at}[{i}]: no code")
            if not isinstance(system, str) or not system.strip():
                raise ValueSetError(f"{where}: {at}[{i}]: no system")
            if canonical_system(system) is None:
                raise ValueSetError(f"{where}: {at}[{i}].system: {system_problem(system)}")
            entries.append((system, _literal(code, where, f"{at}[{i}]")))
        _contains(_list(item.get("contains", []), where, f"{at}[{i}].contains"), where, f"{at}[{i}].contains", entries)


def _object(value: Any, where: str, at: str) -> dict:
    if not isinstance(value, dict):
        raise ValueSetError(f"{where}: {at}: expected an object, got {_show(value)}")
    return value


def _list(value: Any, where: str, at: str) -> list:
    if not isinstance(value, list):
        raise ValueSetError(f"{where}: {at}: expected a list, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return json.dumps(value)


def load_csv(text: str, where: str = "<csv>", name: str = "") -> ValueSet:
    """A value set from CSV text: rows `system,code[,display]`, an optional header row."""
    entries: list[tuple[str, str]] = []
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            if not entries and line == _first_line(text) and row[0].strip().lower() == "system":
                continue  # the header
            if len(row) < 2 or len(row) > 3:
                raise ValueSetError(
                    f"{where}, line {line}: expected system,code or system,code,display, got {len(row)} column{'s' if len(row) != 1 else ''}"
                )
            system, code = row[0].strip(), row[1].strip()
            if canonical_system(system) is None:
                raise ValueSetError(f"{where}, line {line}: {system_problem(system)}")
            try:
                parse_pattern(canonical_system(system), code)
            except ValueError as problem:
                raise ValueSetError(f"{where}, line {line}: {problem}") from None
            entries.append((system, code))
    except csv.Error as problem:
        raise ValueSetError(f"{where}, line {reader.line_num}: not valid CSV ({problem})") from None
    if not entries:
        raise ValueSetError(f"{where}: the value set has no codes")
    return _build(entries, where, name)


def _first_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            return number
    return 0


def _build(entries: list, where: str, name: str) -> ValueSet:
    try:
        return ValueSet(entries, name, where)
    except ValueSetError as problem:
        raise ValueSetError(f"{where}: {problem}") from None
