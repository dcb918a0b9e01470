"""FHIR R4 records -> patient data, in the shapes of docs/records.md (see docs/fhir.md).

Plain JSON, read field by field: only the fields used are looked at, and each one
that cannot be used is refused with the resource (type/id, entry index) and the field
named. A FHIR object model would validate every field of every resource, including
those that no criterion reads, and would speak in its own error messages.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from typing import Any, Iterable, Mapping, Optional

import attrs

from . import codes, units
from .checker import Bool, Cat, InputInfo, Num
from .data import _show, _value, format_number
from .errors import DataError
from .source import quoted

UCUM = "http://unitsofmeasure.org"
BUNDLE_TYPES = ("searchset", "collection", "document", "transaction", "batch")
OBSERVATION_STATUSES = (
    "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"
)
_NOT_VALUES = ("cancelled", "entered-in-error")

# Qualifier codes a coded result is commonly given in, by the word they mean.
_QUALIFIERS = {
    (codes.SYSTEMS["SNOMED"], "10828004"): "positive",
    (codes.SYSTEMS["SNOMED"], "260385009"): "negative",
    (codes.SYSTEMS["SNOMED"], "260373001"): "detected",
    (codes.SYSTEMS["SNOMED"], "260415000"): "not detected",
    (codes.SYSTEMS["SNOMED"], "52101004"): "present",
    (codes.SYSTEMS["SNOMED"], "2667000"): "absent",
    (codes.SYSTEMS["SNOMED"], "11214006"): "reactive",
    (codes.SYSTEMS["SNOMED"], "131194007"): "non-reactive",
    (codes.SYSTEMS["SNOMED"], "373066001"): "yes",
    (codes.SYSTEMS["SNOMED"], "373067005"): "no",
    ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "POS"): "positive",
    ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "NEG"): "negative",
    ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "DET"): "detected",
    ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "ND"): "not detected",
    ("http://terminology.hl7.org/CodeSystem/v2-0136", "Y"): "yes",
    ("http://terminology.hl7.org/CodeSystem/v2-0136", "N"): "no",
}
# Words that say the same of a finding: a declared "positive" takes a result "Detected".
_YES = frozenset({"positive", "pos", "detected", "present", "reactive", "yes", "y", "true"})
_NO = frozenset(
    {"negative", "neg", "not detected", "undetected", "absent", "non-reactive", "nonreactive", "no", "n", "false"}
)

# Doses a day of the common timing abbreviations (HL7 v3 GTSAbbreviation).
_TIMING_CODES = {"QD": 1, "AM": 1, "PM": 1, "BID": 2, "TID": 3, "QID": 4, "QOD": 0.5,
                 "Q4H": 6, "Q6H": 4, "Q8H": 3, "Q12H": 2}
_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1, "wk": 7}

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PARTIAL = re.compile(r"[0-9]{4}(-[0-9]{2})?")


@attrs.frozen
class Conversion:
    """A FHIR record read for a protocol: the patient data, warnings, and whose record it is."""

    data: dict
    warnings: list
    patient: Optional[str] = None  # "Patient/ID", when the record names its patient


def is_bundle(data: Any) -> bool:
    """Whether patient data is a FHIR Bundle (an object whose resourceType is "Bundle")."""
    return isinstance(data, Mapping) and data.get("resourceType") == "Bundle"


def patient_data(protocol, bundle: Any, as_of=None, patient: Optional[str] = None) -> dict:
    """The patient data of a FHIR R4 Bundle (or a resource, or a list of them) for a protocol.

    `patient` chooses one patient (its id, or "Patient/ID") in a bundle that holds
    several. Raises DataError naming each resource and field that cannot be used.
    """
    return convert(protocol, bundle, as_of=as_of, patient=patient).data


def convert(protocol, bundle: Any, as_of=None, patient: Optional[str] = None) -> Conversion:
    """Like `patient_data`, with the warnings (resources left out, and why) and the patient chosen."""
    inputs = protocol.inputs if hasattr(protocol, "inputs") else protocol
    return _Reader(inputs, _index_date(as_of)).read(bundle, patient)


def _index_date(as_of) -> Optional[dt.date]:
    if as_of is None or (isinstance(as_of, dt.date) and not isinstance(as_of, dt.datetime)):
        return as_of
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, str):
        try:
            return dt.datetime.fromisoformat(as_of.replace("Z", "+00:00")).date() if "T" in as_of else dt.date.fromisoformat(as_of)
        except ValueError:
            pass
    raise DataError([f"as_of: {_show(as_of)} is not a date: write YYYY-MM-DD"])


@attrs.define
class _Entry:
    index: Optional[int]  # None for a lone resource
    resource: dict
    full_url: Optional[str]

    @property
    def type(self) -> str:
        return self.resource["resourceType"]

    @property
    def id(self) -> Optional[str]:
        rid = self.resource.get("id")
        return rid if isinstance(rid, str) and rid else None

    @property
    def where(self) -> str:
        name = f"{self.type}/{self.id}" if self.id else self.type
        return name if self.index is None else f"{name} (entry {self.index})"

    @property
    def key(self) -> str:
        return f"{self.type}/{self.id}" if self.id else (self.full_url or self.where)


class _Reader:
    def __init__(self, inputs: Mapping[str, InputInfo], as_of: Optional[dt.date]):
        self.inputs = inputs
        self.as_of = as_of
        self.problems: list[str] = []
        self.warnings: list[str] = []
        # (system alias or URI, code) -> the inputs recorded under it
        self.by_code: dict[tuple[str, str], list[str]] = {}
        self.by_element: dict[str, str] = {}
        for name, info in inputs.items():
            for system, code in info.codes:
                if system == codes.SYSTEMS["FHIR"]:
                    self.by_element[code] = name
                else:
                    self.by_code.setdefault(_system_key(system, code), []).append(name)
            if not info.codes:
                self.by_code.setdefault((codes.INPUT_SYSTEM, name), []).append(name)

    def problem(self, entry: _Entry, field: str, message: str) -> None:
        self.problems.append(f"{entry.where}: {field}: {message}")

    def warn(self, entry: _Entry, message: str) -> None:
        self.warnings.append(f"{entry.where}: {message}")

    # ------------------------------------------------------------- the bundle
    def read(self, bundle: Any, chosen: Optional[str]) -> Conversion:
        entries = self.entries(bundle)
        owner, entries = self.choose_patient(entries, chosen)
        medications = {}
        for entry in entries:
            if entry.type == "Medication":
                medications[entry.key] = entry
                if entry.full_url:
                    medications[entry.full_url] = entry
        observed: dict[str, list] = {}
        events: dict[str, list] = {"conditions": [], "procedures": [], "medications": []}
        data: dict[str, Any] = {}
        for entry in entries:
            kind = entry.type
            if kind == "Patient":
                self.patient(entry, data)
            elif kind == "Observation":
                self.observation(entry, observed)
            elif kind == "Condition":
                events["conditions"].extend(self.condition(entry))
            elif kind == "Procedure":
                events["procedures"].extend(self.procedure(entry))
            elif kind in ("MedicationStatement", "MedicationRequest"):
                events["medications"].extend(self.medication(entry, medications))
            elif kind == "OperationOutcome":
                self.warn(entry, "an OperationOutcome of the search, not patient data: left out")
        for name, found in observed.items():
            value = self.assemble(name, found)
            if value is not None:
                data[name] = value
        for key, items in events.items():
            if items:
                data[key] = items
        if self.problems:
            raise DataError(self.problems)
        return Conversion(data, self.warnings, owner)

    def entries(self, bundle: Any) -> list[_Entry]:
        if isinstance(bundle, list):
            items = [(index, item, None) for index, item in enumerate(bundle)]
        elif isinstance(bundle, Mapping) and bundle.get("resourceType") == "Bundle":
            kind = bundle.get("type")
            if kind not in BUNDLE_TYPES:
                raise DataError([
                    f"Bundle: type: {_show(kind)} is not a bundle of records: expected one of "
                    + ", ".join(BUNDLE_TYPES)
                ])
            listed = bundle.get("entry", [])
            if not isinstance(listed, list):
                raise DataError([f"Bundle: entry: expected a list of entries, got {_show(listed)}"])
            items = []
            for index, item in enumerate(listed):
                if not isinstance(item, Mapping):
                    self.problems.append(f"entry {index}: expected an object with a resource, got {_show(item)}")
                    continue
                if item.get("resource") is None:
                    self.warnings.append(f"entry {index}: no resource: left out")
                    continue
                full_url = item.get("fullUrl")
                items.append((index, item["resource"], full_url if isinstance(full_url, str) else None))
        elif isinstance(bundle, Mapping) and isinstance(bundle.get("resourceType"), str):
            items = [(None, bundle, None)]
        else:
            raise DataError([
                f"expected a FHIR Bundle, a resource or a list of resources, not {_show(bundle)[:80]}"
            ])
        entries = []
        for index, resource, full_url in items:
            if not isinstance(resource, Mapping) or not isinstance(resource.get("resourceType"), str):
                where = "resource" if index is None else f"entry {index}"
                self.problems.append(f"{where}: resource: expected a FHIR resource with a resourceType, got {_show(resource)[:80]}")
                continue
            entries.append(_Entry(index, dict(resource), full_url))
        self.problems.sort(key=lambda problem: int(re.match(r"(?:entry )?([0-9]*)", problem).group(1) or 0))
        if self.problems:
            raise DataError(self.problems)
        return entries

    def choose_patient(self, entries: list[_Entry], chosen: Optional[str]) -> tuple[Optional[str], list[_Entry]]:
        """The patient whose record is read, and the entries of that record."""
        aliases = {}  # a reference spelling -> the patient's key
        patients: dict[str, _Entry] = {}
        for entry in entries:
            if entry.type == "Patient":
                patients.setdefault(entry.key, entry)
                aliases[entry.key] = entry.key
                if entry.full_url:
                    aliases[entry.full_url] = entry.key
        owners: dict[int, Optional[str]] = {}
        # Each patient, with where it is first named: "entry 0", "subject of Observation/x (entry 3)".
        seen: dict[str, str] = {
            key: "a resource" if entry.index is None else f"entry {entry.index}" for key, entry in patients.items()
        }
        for position, entry in enumerate(entries):
            if entry.type == "Patient":
                owners[position] = entry.key
                continue
            reference = entry.resource.get("subject")
            if reference is None:
                owners[position] = None
                continue
            text = reference.get("reference") if isinstance(reference, Mapping) else None
            if not isinstance(text, str) or not text:
                self.problem(entry, "subject", f"expected a reference such as {{\"reference\": \"Patient/1\"}}, got {_show(reference)}")
                owners[position] = None
                continue
            key = aliases.get(text) or _patient_key(text)
            owners[position] = key
            # A reference to another kind of resource (Group/1, Device/2) is not a patient;
            # one that cannot be resolved (urn:uuid:... of no entry) may be, so it counts.
            if not re.fullmatch(r"[A-Z][A-Za-z]*/[^/]+", key) or key.startswith("Patient/"):
                seen.setdefault(key, f"subject of {entry.where}")
            else:
                self.warn(entry, f"subject {quoted(text)} is not a patient: left out")
        if self.problems:
            raise DataError(self.problems)
        if chosen is not None:
            wanted = chosen if "/" in chosen else f"Patient/{chosen}"
            if wanted not in seen:
                held = ", ".join(seen) or "none"
                raise DataError([f"Bundle: there is no {wanted} in this record (it holds: {held})"])
            owner = wanted
        elif len(seen) > 1:
            held = [f"{key} ({where})" for key, where in seen.items()]
            raise DataError([
                f"Bundle: the record holds {len(seen)} patients, {', '.join(held[:-1])} and {held[-1]}: "
                "choose one (--patient ID, or patient=ID)"
            ])
        else:
            owner = next(iter(seen), None)
        kept = []
        for position, entry in enumerate(entries):
            mine = owners.get(position)
            if mine is None or mine == owner:
                if mine is None and chosen is not None and len(seen) > 1 and entry.type != "Medication":
                    self.warn(entry, f"no subject, so it may not be {owner}'s: left out")
                    continue
                kept.append(entry)
        return owner, kept

    # ------------------------------------------------------------- Patient
    def patient(self, entry: _Entry, data: dict) -> None:
        resource = entry.resource
        name = self.by_element.get("Patient.birthDate")
        if name is not None and resource.get("birthDate") is not None:
            value = self.age(entry, resource["birthDate"], self.inputs[name])
            if value is not None:
                self.accept(entry, "birthDate", name, value, data)
        name = self.by_element.get("Patient.gender")
        if name is not None and resource.get("gender") is not None:
            gender = resource["gender"]
            info = self.inputs[name]
            if not isinstance(gender, str):
                self.problem(entry, "gender", f"expected a text such as \"female\", got {_show(gender)}")
                return
            values = info.type.values if isinstance(info.type, Cat) else ()
            match = [v for v in values if v.lower() == gender.lower()]
            if match:
                self.accept(entry, "gender", name, match[0], data)
            elif gender != "unknown":
                self.problem(entry, "gender", f"{quoted(gender)} is not one of {_values(values)} (the values of {name})")

    def age(self, entry: _Entry, birth: Any, info: InputInfo) -> Optional[dict]:
        if not isinstance(birth, str) or not _DATE.fullmatch(birth):
            if isinstance(birth, str) and _PARTIAL.fullmatch(birth):
                self.problem(entry, "birthDate", f"{quoted(birth)} is not precise to the day, so {info.name} cannot be computed")
            else:
                self.problem(entry, "birthDate", f"expected a date YYYY-MM-DD, got {_show(birth)}")
            return None
        try:
            born = dt.date.fromisoformat(birth)
        except ValueError:
            self.problem(entry, "birthDate", f"{quoted(birth)} is not a date")
            return None
        if self.as_of is None:
            self.problem(entry, "birthDate", f"{info.name} from the birth date needs an index date (give --as-of, or as_of=...)")
            return None
        if born > self.as_of:
            self.problem(entry, "birthDate", f"{birth} is after the index date {self.as_of.isoformat()}")
            return None
        months = (self.as_of.year - born.year) * 12 + self.as_of.month - born.month - (self.as_of.day < born.day)
        days = (self.as_of - born).days
        factor = units.conversion_factor(info.type.unit, units.parse_unit("years")) if isinstance(info.type, Num) else 1
        if factor is None or factor >= 1:
            return {"value": months // 12, "unit": "years"}
        if factor >= 1 / 12 * 0.999:
            return {"value": months, "unit": "months"}
        if factor >= 7 / 365.25 * 0.999:
            return {"value": days // 7, "unit": "weeks"}
        return {"value": days, "unit": "days"}

    def accept(self, entry: _Entry, field: str, name: str, value: Any, data: dict) -> None:
        if name in data:
            self.problem(entry, field, f"{name} is given twice (a second Patient?)")
            return
        if self.valid(entry, field, name, value):
            data[name] = value

    def valid(self, entry: _Entry, field: str, name: str, value: Any) -> bool:
        try:
            _value(self.inputs[name], value)
        except ValueError as problem:
            self.problem(entry, field, f"{name}: {problem}")
            return False
        return True

    # ------------------------------------------------------------- Observation
    def observation(self, entry: _Entry, observed: dict) -> None:
        resource = entry.resource
        parts = [("", resource)]
        components = resource.get("component")
        if isinstance(components, list):
            parts += [(f"component[{i}].", c) for i, c in enumerate(components) if isinstance(c, Mapping)]
        matched = []
        for prefix, part in parts:
            for name in self.matching(entry, part.get("code"), prefix + "code"):
                matched.append((prefix, part, name))
        if not matched:
            return
        status = resource.get("status")
        if status is not None and status not in OBSERVATION_STATUSES:
            self.problem(entry, "status", f"{_show(status)} is not an Observation status: expected one of {', '.join(OBSERVATION_STATUSES)}")
            return
        if status in _NOT_VALUES:
            self.warn(entry, f"status {status}: not a value, left out")
            return
        time, time_field = self.observation_time(entry)
        if time is None and time_field is not None:  # a date that cannot be read: reported
            return
        for prefix, part, name in matched:
            item = self.observed_value(entry, prefix, part, self.inputs[name])
            if item is None:
                continue
            if time is not None:
                item["time"] = time
                if status not in (None, "unknown"):
                    item["status"] = status
            elif "range" in item:
                del item["range"]
                self.warn(entry, f"{prefix}referenceRange: left out: a value without a date carries no range")
            observed.setdefault(name, []).append((entry, time, item))

    def matching(self, entry: _Entry, concept: Any, field: str) -> list[str]:
        names: list[str] = []
        for system, code in self.codings(entry, concept, field):
            for name in self.by_code.get(_system_key(system, code), []):
                if name not in names:
                    names.append(name)
            if system == codes.INPUT_SYSTEM and (codes.INPUT_SYSTEM, code) not in self.by_code:
                if code in self.inputs:
                    bound = ", ".join(_code_text(s, c) for s, c in self.inputs[code].codes)
                    self.warn(entry, f"coded {codes.INPUT_SYSTEM} {quoted(code)}, but {code} is read from {bound}: left out")
                else:
                    close = difflib.get_close_matches(code, list(self.inputs), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    self.warn(entry, f"'{code}' is not an input of this protocol and was ignored{hint}")
        return names

    def codings(self, entry: _Entry, concept: Any, field: str) -> list[tuple[str, str]]:
        """The (system, code) pairs of a CodeableConcept; a coding without both is passed over."""
        if concept is None:
            return []
        if not isinstance(concept, Mapping):
            self.problem(entry, field, f"expected a CodeableConcept, got {_show(concept)[:80]}")
            return []
        found = []
        listed = concept.get("coding", [])
        if not isinstance(listed, list):
            self.problem(entry, f"{field}.coding", f"expected a list of codings, got {_show(listed)[:80]}")
            return []
        for coding in listed:
            if isinstance(coding, Mapping) and isinstance(coding.get("system"), str) and isinstance(coding.get("code"), str):
                pair = (coding["system"], coding["code"])
                if pair not in found:
                    found.append(pair)
        return found

    def observation_time(self, entry: _Entry) -> tuple[Optional[str], Optional[str]]:
        resource = entry.resource
        for field in ("effectiveDateTime", "effectiveInstant"):
            if resource.get(field) is not None:
                return self.time(entry, field, resource[field]), field
        period = resource.get("effectivePeriod")
        if period is not None:
            if isinstance(period, Mapping) and (period.get("start") or period.get("end")):
                field = "effectivePeriod.start" if period.get("start") else "effectivePeriod.end"
                return self.time(entry, field, period.get("start") or period.get("end")), field
            self.problem(entry, "effectivePeriod", f"expected a period with a start, got {_show(period)[:80]}")
            return None, "effectivePeriod"
        if resource.get("issued") is not None:
            return self.time(entry, "issued", resource["issued"]), "issued"
        return None, None

    def time(self, entry: _Entry, field: str, text: Any) -> Optional[str]:
        """A FHIR date or dateTime, precise to the day at least, as written; else a problem."""
        if isinstance(text, str):
            if _DATE.fullmatch(text):
                try:
                    dt.date.fromisoformat(text)
                    return text
                except ValueError:
                    pass
            elif _PARTIAL.fullmatch(text):
                self.problem(entry, field, f"{quoted(text)} is not precise to the day")
                return None
            elif "T" in text:
                try:
                    dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
                    return text
                except ValueError:
                    pass
        self.problem(entry, field, f"expected a date or date-time such as \"2026-11-28\", got {_show(text)[:80]}")
        return None

    def observed_value(self, entry: _Entry, prefix: str, part: Mapping, info: InputInfo) -> Optional[dict]:
        """{"value", "unit"?, "range"?} of an observation (or component) for an input, or None."""
        given = [key for key in part if key.startswith("value")]
        if not given:
            absent = part.get("dataAbsentReason")
            why = ""
            if isinstance(absent, Mapping):
                why = f" ({_concept_text(absent)})"
            self.warn(entry, f"{prefix or ''}no value{why} for {info.name}: left out")
            return None
        field = given[0]
        raw = part[field]
        where = prefix + field
        t = info.type
        if isinstance(t, Num):
            if field == "valueQuantity":
                number, unit = self.quantity(entry, where, raw, info)
            elif field == "valueInteger":
                if not _is_number(raw):
                    self.problem(entry, where, f"expected a finite number, got {_show(raw)[:80]}")
                    return None
                number, unit = raw, None
            else:
                self.problem(entry, where, f"{info.name} is a number, so a valueQuantity is needed")
                return None
            if number is None:
                return None
            item = {"value": number} if unit is None else {"value": number, "unit": unit}
            if not self.valid(entry, where, info.name, dict(item)):
                return None
            ranges = part.get("referenceRange")
            if ranges is not None:
                limits = self.reference_range(entry, prefix + "referenceRange", ranges, unit, info)
                if limits:
                    item["range"] = limits
            return item
        if field == "valueBoolean":
            if not isinstance(raw, bool):
                self.problem(entry, where, f"expected true or false, got {_show(raw)}")
                return None
            words = ["yes" if raw else "no"]
            shown = "true" if raw else "false"
        elif field == "valueString":
            if not isinstance(raw, str):
                self.problem(entry, where, f"expected a text, got {_show(raw)}")
                return None
            words, shown = [raw], quoted(raw)
        elif field == "valueCodeableConcept":
            if not isinstance(raw, Mapping):
                self.problem(entry, where, f"expected a CodeableConcept, got {_show(raw)[:80]}")
                return None
            words, shown = _concept_words(raw), _concept_text(raw)
        else:
            kind = "true or false" if isinstance(t, Bool) else "a category"
            self.problem(entry, where, f"{info.name} is {kind}, so a valueCodeableConcept, valueString or valueBoolean is needed")
            return None
        if isinstance(t, Bool):
            meant = {True for w in words if w.lower() in _YES} | {False for w in words if w.lower() in _NO}
            if len(meant) != 1:
                self.problem(entry, where, f"{shown} does not say yes or no, as {info.name} (true or false) needs")
                return None
            return {"value": meant.pop()}
        value = _category(words, t.values if isinstance(t, Cat) else ())
        if value is None:
            self.problem(entry, where, f"{shown} is not one of {_values(t.values)} (the values of {info.name})")
            return None
        return {"value": value}

    def quantity(self, entry: _Entry, where: str, raw: Any, info: InputInfo) -> tuple[Optional[float], Optional[str]]:
        if not isinstance(raw, Mapping):
            self.problem(entry, where, f"expected a Quantity, got {_show(raw)[:80]}")
            return None, None
        number = raw.get("value")
        if not _is_number(number):
            self.problem(entry, f"{where}.value", f"expected a finite number, got {_show(number)}")
            return None, None
        if raw.get("comparator") is not None:
            self.problem(
                entry, f"{where}.comparator",
                f"the value is given as {quoted(str(raw['comparator']) + format_number(number))}: "
                f"a bound, not a value of {info.name}",
            )
            return None, None
        unit = self.unit(entry, where, raw, info)
        if unit is False:
            return None, None
        return number, unit

    def unit(self, entry: _Entry, where: str, quantity: Mapping, info: InputInfo):
        """The unit of a Quantity as text (None for a plain number), or False after a problem."""
        wanted = info.type
        candidates = []
        if quantity.get("system") == UCUM and isinstance(quantity.get("code"), str):
            candidates.append(("code", quantity["code"]))
        if isinstance(quantity.get("unit"), str):
            candidates.append(("unit", quantity["unit"]))
        if not candidates and isinstance(quantity.get("code"), str):
            candidates.append(("code", quantity["code"]))
        if not candidates:
            if wanted.unit.is_dimensionless:
                return None
            self.problem(entry, where, f"no unit, but {info.name} is in {wanted.unit.text}: give the unit (UCUM code)")
            return False
        first_problem = None
        for field, text in candidates:
            if _plain(text):
                if wanted.unit.is_dimensionless:
                    return None
                first_problem = first_problem or (field, f"{quoted(text)} is a plain number, but {info.name} is in {wanted.unit.text}")
                continue
            try:
                given = units.parse_unit(text)
            except units.UnitError as problem:
                first_problem = first_problem or (field, str(problem))
                continue
            if units.conversion_factor(given, wanted.unit, wanted.molar_mass) is None:
                target = wanted.unit.text or "a plain number"
                first_problem = first_problem or (field, f"{text} cannot be converted to {target}, the unit of {info.name}")
                continue
            return text
        field, message = first_problem
        self.problem(entry, f"{where}.{field}", message)
        return False

    def reference_range(self, entry: _Entry, field: str, ranges: Any, unit: Optional[str], info: InputInfo) -> Optional[dict]:
        if not isinstance(ranges, list):
            self.problem(entry, field, f"expected a list of ranges, got {_show(ranges)[:80]}")
            return None
        for index, candidate in enumerate(ranges):
            if not isinstance(candidate, Mapping):
                self.problem(entry, f"{field}[{index}]", f"expected a range, got {_show(candidate)[:80]}")
                return None
            kind = candidate.get("type")
            if kind is not None and "normal" not in _concept_words(kind if isinstance(kind, Mapping) else {}):
                continue  # a therapeutic or treatment range is not a range of normal values
            limits = {}
            for bound in ("low", "high"):
                quantity = candidate.get(bound)
                if quantity is None:
                    continue
                where = f"{field}[{index}].{bound}"
                if not isinstance(quantity, Mapping) or not _is_number(quantity.get("value")):
                    self.problem(entry, where, f"expected a Quantity with a value, got {_show(quantity)[:80]}")
                    return None
                number = float(quantity["value"])
                own = self.unit(entry, where, quantity, info) if any(k in quantity for k in ("unit", "code")) else unit
                if own is False:
                    return None
                if own != unit and own is not None and unit is not None:  # into the value's own unit
                    factor = units.conversion_factor(units.parse_unit(own), units.parse_unit(unit), info.type.molar_mass)
                    limits[bound] = units.round12(number * factor)
                else:
                    limits[bound] = quantity["value"]
            if limits:
                return limits
        return None

    def assemble(self, name: str, found: list) -> Any:
        """One input's observations as patient data: a dated list, or one undated current value."""
        undated = [(entry, item) for entry, time, item in found if time is None]
        if undated and len(found) > 1:
            entry = undated[0][0]
            others = ", ".join(e.where for e, _t, _i in found if e is not entry)
            self.problems.append(
                f"{entry.where}: effective[x]: no date, and {name} has other values ({others}): "
                "which one is current cannot be told"
            )
            return None
        if undated:
            item = undated[0][1]
            if "unit" in item:
                return {"value": item["value"], "unit": item["unit"]}
            return item["value"]
        dated = sorted(((time, item) for _entry, time, item in found), key=lambda pair: pair[0])
        return [{key: item[key] for key in ("value", "unit", "time", "range", "status") if key in item} for _t, item in dated]

    # ------------------------------------------------------------- events
    def event_codes(self, entry: _Entry, concept: Any, field: str) -> list[tuple[str, str]]:
        pairs = []
        for system, code in self.codings(entry, concept, field):
            key = (codes.alias(system) or system, code)
            if key not in pairs:
                pairs.append(key)
        if not pairs and concept is not None:
            self.warn(entry, f"{field}: no coding with a system and a code: left out")
        return pairs

    def period(self, entry: _Entry, field: str, period: Any) -> Optional[dict]:
        if not isinstance(period, Mapping) or not (period.get("start") or period.get("end")):
            self.problem(entry, field, f"expected a period with a start, got {_show(period)[:80]}")
            return None
        span = {}
        for bound in ("start", "end"):
            if period.get(bound) is not None:
                span[bound] = self.time(entry, f"{field}.{bound}", period[bound])
        if "start" not in span:
            return {"time": span["end"]} if span.get("end") else None
        if span.get("end") and span["start"] and span["end"][:10] < span["start"][:10]:
            self.problem(entry, f"{field}.end", f"{span['end']} is before the start {span['start']}")
            return None
        return span if all(span.values()) else None

    def events(self, entry: _Entry, pairs, when: Optional[dict], extra: Optional[dict] = None) -> list[dict]:
        if when is None:
            return []
        made = []
        for system, code in pairs:
            event = {"code": code, "system": system, **when}
            if extra:
                event.update(extra)
            made.append(event)
        return made

    def dropped(self, entry: _Entry, field: str, status: Any, left_out: tuple) -> bool:
        if status in left_out:
            self.warn(entry, f"{field} {status}: left out")
            return True
        return False

    def condition(self, entry: _Entry) -> list[dict]:
        resource = entry.resource
        verification = resource.get("verificationStatus")
        words = _concept_words(verification) if isinstance(verification, Mapping) else []
        for word in ("refuted", "entered-in-error"):
            if word in words:
                self.warn(entry, f"verificationStatus {word}: left out")
                return []
        pairs = self.event_codes(entry, resource.get("code"), "code")
        if not pairs:
            return []
        when = None
        if resource.get("onsetDateTime") is not None:
            start = self.time(entry, "onsetDateTime", resource["onsetDateTime"])
            when = {"start": start} if start else None
        elif resource.get("onsetPeriod") is not None:
            when = self.period(entry, "onsetPeriod", resource["onsetPeriod"])
            if when and "start" in when:
                when = {"start": when["start"]}
        elif resource.get("recordedDate") is not None:
            start = self.time(entry, "recordedDate", resource["recordedDate"])
            when = {"start": start} if start else None
        else:
            self.problem(entry, "onsetDateTime", "no date: give onsetDateTime, onsetPeriod.start or recordedDate")
            return []
        if when is None:
            return []
        end = None
        if resource.get("abatementDateTime") is not None:
            end = self.time(entry, "abatementDateTime", resource["abatementDateTime"])
        elif isinstance(resource.get("abatementPeriod"), Mapping):
            period = resource["abatementPeriod"]
            if period.get("end") or period.get("start"):
                end = self.time(entry, "abatementPeriod", period.get("end") or period.get("start"))
        if end:
            if "start" in when and end[:10] < when["start"][:10]:
                self.problem(entry, "abatementDateTime", f"{end} is before the onset {when['start']}")
                return []
            when["end"] = end
        return self.events(entry, pairs, when)

    def procedure(self, entry: _Entry) -> list[dict]:
        resource = entry.resource
        if self.dropped(entry, "status", resource.get("status"), ("entered-in-error", "not-done")):
            return []
        pairs = self.event_codes(entry, resource.get("code"), "code")
        if not pairs:
            return []
        if resource.get("performedDateTime") is not None:
            time = self.time(entry, "performedDateTime", resource["performedDateTime"])
            when = {"time": time} if time else None
        elif resource.get("performedPeriod") is not None:
            when = self.period(entry, "performedPeriod", resource["performedPeriod"])
        else:
            self.problem(entry, "performedDateTime", "no date: give performedDateTime or performedPeriod")
            return []
        return self.events(entry, pairs, when)

    def medication(self, entry: _Entry, medications: dict) -> list[dict]:
        resource = entry.resource
        statement = entry.type == "MedicationStatement"
        left_out = ("entered-in-error", "intended", "not-taken") if statement else ("entered-in-error", "cancelled", "draft")
        status = resource.get("status")
        if self.dropped(entry, "status", status, left_out):
            return []
        if resource.get("medicationCodeableConcept") is not None:
            pairs = self.event_codes(entry, resource["medicationCodeableConcept"], "medicationCodeableConcept")
        elif resource.get("medicationReference") is not None:
            pairs = self.medication_reference(entry, resource["medicationReference"], medications)
        else:
            self.problem(entry, "medicationCodeableConcept", "no medication: give medicationCodeableConcept or medicationReference")
            return []
        if not pairs:
            return []
        dosages = resource.get("dosage") if statement else resource.get("dosageInstruction")
        when = None
        if statement:
            if resource.get("effectivePeriod") is not None:
                when = self.period(entry, "effectivePeriod", resource["effectivePeriod"])
            elif resource.get("effectiveDateTime") is not None:
                time = self.time(entry, "effectiveDateTime", resource["effectiveDateTime"])
                when = {"time": time} if time else None
            elif resource.get("dateAsserted") is not None:
                time = self.time(entry, "dateAsserted", resource["dateAsserted"])
                when = {"start": time} if time and status == "active" else ({"time": time} if time else None)
            else:
                self.problem(entry, "effectivePeriod", "no date: give effectivePeriod, effectiveDateTime or dateAsserted")
                return []
        else:
            bounds = _first_bounds(dosages)
            validity = resource.get("dispenseRequest", {}).get("validityPeriod") if isinstance(resource.get("dispenseRequest"), Mapping) else None
            if bounds is not None:
                when = self.period(entry, "dosageInstruction[0].timing.repeat.boundsPeriod", bounds)
            elif validity is not None:
                when = self.period(entry, "dispenseRequest.validityPeriod", validity)
            elif resource.get("authoredOn") is not None:
                time = self.time(entry, "authoredOn", resource["authoredOn"])
                ongoing = status in ("active", "on-hold", None)
                when = ({"start": time} if ongoing else {"time": time}) if time else None
            else:
                self.problem(entry, "authoredOn", "no date: give authoredOn, a boundsPeriod or dispenseRequest.validityPeriod")
                return []
        dose = _daily_dose(dosages)
        return self.events(entry, pairs, when, {"dose": dose} if dose else None)

    def medication_reference(self, entry: _Entry, reference: Any, medications: dict) -> list[tuple[str, str]]:
        text = reference.get("reference") if isinstance(reference, Mapping) else None
        if not isinstance(text, str):
            self.problem(entry, "medicationReference", f"expected a reference such as {{\"reference\": \"Medication/1\"}}, got {_show(reference)[:80]}")
            return []
        if text.startswith("#"):
            contained = [r for r in _list(entry.resource.get("contained")) if isinstance(r, Mapping) and r.get("id") == text[1:]]
            if contained:
                return self.event_codes(entry, contained[0].get("code"), f"contained {text} code")
        found = medications.get(text) or medications.get(_patient_key(text))
        if found is None:
            self.problem(entry, "medicationReference", f"{quoted(text)} is not a Medication in this record")
            return []
        return self.event_codes(found, found.resource.get("code"), "code")


# ----------------------------------------------------------------- helpers
def _system_key(system: str, code: str) -> tuple[str, str]:
    return (codes.alias(system) or system, code)


def _code_text(system: str, code: str) -> str:
    return f"{codes.alias(system) or system} {quoted(code)}"


def _patient_key(reference: str) -> str:
    """`Patient/1` for the references `Patient/1`, `http://server/fhir/Patient/1/_history/2`."""
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return f"{parts[-2]}/{parts[-1]}"
    return reference


def _is_number(value: Any) -> bool:
    """A JSON number that is a finite float (a whole number beyond the float range is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _plain(unit: str) -> bool:
    """UCUM's unit of a plain number: `1`, or annotations only (`{INR}`, `{ratio}`)."""
    return unit.strip() == "1" or re.fullmatch(r"(\{[^{}]*\})+", unit.strip()) is not None


def _values(values: Iterable[str]) -> str:
    return ", ".join(quoted(v) for v in values)


def _concept_words(concept: Mapping) -> list[str]:
    """The words a CodeableConcept says: qualifier meanings, codes, displays and its text."""
    words = []
    listed = concept.get("coding", [])
    for coding in listed if isinstance(listed, list) else []:
        if not isinstance(coding, Mapping):
            continue
        meaning = _QUALIFIERS.get((coding.get("system"), coding.get("code")))
        for word in (meaning, coding.get("display"), coding.get("code")):
            if isinstance(word, str) and word.strip():
                words.append(word.strip())
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        words.append(concept["text"].strip())
    return words


def _concept_text(concept: Mapping) -> str:
    shown = []
    listed = concept.get("coding", [])
    for coding in listed if isinstance(listed, list) else []:
        if isinstance(coding, Mapping):
            system = coding.get("system")
            text = f"{codes.alias(system) or system} {coding.get('code')}" if system else str(coding.get("code"))
            if isinstance(coding.get("display"), str):
                text += f" {quoted(coding['display'])}"
            shown.append(text)
    if isinstance(concept.get("text"), str):
        shown.append(quoted(concept["text"]))
    return " / ".join(shown) or "an empty CodeableConcept"


def _category(words: list[str], values: tuple[str, ...]) -> Optional[str]:
    """The declared value the words name: one spelled alike, else one meaning alike."""
    lowered = {w.lower() for w in words}
    exact = {v for v in values if v.lower() in lowered}
    if len(exact) == 1:
        return exact.pop()
    if exact:
        return None
    for group in (_YES, _NO):
        if lowered & group:
            alike = [v for v in values if v.lower() in group]
            if len(alike) == 1 and not (lowered & ((_YES | _NO) - group)):
                return alike[0]
    return None


def _first_bounds(dosages: Any) -> Optional[Any]:
    if isinstance(dosages, list) and dosages and isinstance(dosages[0], Mapping):
        timing = dosages[0].get("timing")
        repeat = timing.get("repeat") if isinstance(timing, Mapping) else None
        if isinstance(repeat, Mapping):
            return repeat.get("boundsPeriod")
    return None


def _daily_dose(dosages: Any) -> Optional[dict]:
    """The daily dose of a single, regular dosage (`{"value": 1000, "unit": "mg/d"}`), or None."""
    if not isinstance(dosages, list) or len(dosages) != 1 or not isinstance(dosages[0], Mapping):
        return None
    dosage = dosages[0]
    if dosage.get("asNeededBoolean") or dosage.get("asNeededCodeableConcept"):
        return None
    rates = dosage.get("doseAndRate")
    if not isinstance(rates, list) or len(rates) != 1 or not isinstance(rates[0], Mapping):
        return None
    quantity = rates[0].get("doseQuantity")
    if not isinstance(quantity, Mapping) or not _is_number(quantity.get("value")):
        return None
    unit = quantity.get("code") if quantity.get("system") == UCUM else quantity.get("unit")
    if not isinstance(unit, str) or _plain(unit):
        return None
    per_day = _per_day(dosage.get("timing"))
    if per_day is None:
        return None
    try:
        units.parse_unit(f"{unit}/d")
    except units.UnitError:
        return None
    value = units.round12(float(quantity["value"]) * per_day)
    return {"value": int(value) if value.is_integer() else value, "unit": f"{unit}/d"}


def _per_day(timing: Any) -> Optional[float]:
    if not isinstance(timing, Mapping):
        return None
    repeat = timing.get("repeat")
    if isinstance(repeat, Mapping) and ("period" in repeat or "frequency" in repeat):
        if repeat.get("frequencyMax") is not None or repeat.get("periodMax") is not None:
            return None
        frequency, period = repeat.get("frequency", 1), repeat.get("period", 1)
        days = _PERIOD_DAYS.get(repeat.get("periodUnit", "d"))
        if not (_is_number(frequency) and _is_number(period)) or days is None or period <= 0:
            return None
        return frequency / (period * days)
    if isinstance(repeat, Mapping) and isinstance(repeat.get("timeOfDay"), list) and repeat["timeOfDay"]:
        return len(repeat["timeOfDay"])
    concept = timing.get("code")
    if isinstance(concept, Mapping):
        for coding in _list(concept.get("coding")):
            if isinstance(coding, Mapping) and coding.get("code") in _TIMING_CODES:
                return _TIMING_CODES[coding["code"]]
    return None
