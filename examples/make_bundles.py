"""FHIR R4 bundles for the seed protocol: the example patients, and a dated record.

    python examples/make_bundles.py [OUTDIR]     (default: examples/bundles)

For each example patient `examples/NAME.json` it writes `OUTDIR/NAME.json`, a
collection Bundle holding the same patient: a Patient (birth date, gender) and one
Observation per value, coded with LOINC where the seed's input is bound to it and with
`urn:protocol-dsl:input` for the attestations. These observations carry no date: they
are the current values, so the bundle evaluates as the JSON patient does, with
`--as-of 2026-12-01` (the bundle's date, at which the birth date gives the age).

It also writes `OUTDIR/history.json`, a searchset with a patient's dated record:
laboratory series with UCUM units and reference ranges, conditions, a procedure and
medication statements with their doses.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INDEX_DATE = dt.date(2026, 12, 1)
LOINC, SNOMED, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
ICD10, ATC = "http://hl7.org/fhir/sid/icd-10", "http://www.whocc.no/atc"
INPUT = "urn:protocol-dsl:input"

# The seed's coded inputs: (LOINC code, display) by the unit the value is given in.
LABS = {
    "TB": {"umol/L": ("14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma"),
           "mg/dL": ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma")},
    "creatinine": {"umol/L": ("14682-9", "Creatinine [Moles/volume] in Serum or Plasma"),
                   "mg/dL": ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma")},
    "INR": {"": ("6301-6", "INR in Platelet poor plasma by Coagulation assay")},
    "PTA": {"%": ("5894-1", "Prothrombin time (PT) actual/Normal")},
}
UNITS = {"TB": "umol/L", "creatinine": "umol/L", "INR": "", "PTA": "%", "TB_rise": "umol/L/d"}
QUALIFIERS = {"positive": ("10828004", "Positive"), "negative": ("260385009", "Negative")}


def birth_date(age: int) -> str:
    """A birth date that makes the age `age` completed years at the index date."""
    born = dt.date(INDEX_DATE.year - age, 3, 15)
    return (born if born <= INDEX_DATE else dt.date(born.year - 1, 3, 15)).isoformat()


def quantity(value, unit: str) -> dict:
    if not unit:
        return {"value": value, "unit": "{INR}", "system": UCUM, "code": "{INR}"}
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def coded(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def observation(ident: str, patient: str, code: dict, value: dict, **more) -> dict:
    resource = {"resourceType": "Observation", "id": ident, "status": "final", "code": code,
                "subject": {"reference": f"Patient/{patient}"}}
    resource.update(value)
    resource.update(more)
    return resource


def entry(resource: dict) -> dict:
    return {"fullUrl": f"urn:uuid:{resource['resourceType'].lower()}-{resource['id']}", "resource": resource}


def seed_bundle(name: str, patient: dict) -> dict:
    """A Bundle with the same values as one example patient, undated (current values)."""
    pid = name.replace("_", "-")
    resources = [{"resourceType": "Patient", "id": pid, "birthDate": birth_date(int(patient["age"])),
                  "gender": patient["sex"]}]
    for key, raw in patient.items():
        if key in ("age", "sex"):
            continue
        ident = f"{pid}-{key.lower().replace('_', '-')}"
        if key in LABS or key == "TB_rise":
            number, unit = (raw["value"], raw["unit"]) if isinstance(raw, dict) else (raw, UNITS[key])
            code = coded(LOINC, *LABS[key][unit]) if key in LABS else coded(INPUT, key, "Rise in total bilirubin per day")
            resources.append(observation(ident, pid, code, {"valueQuantity": quantity(number, unit)}))
        elif key == "HBsAg":
            code = coded(LOINC, "5196-1", "Hepatitis B virus surface Ag [Presence] in Serum or Plasma by Immunoassay")
            resources.append(observation(ident, pid, code, {"valueCodeableConcept": coded(SNOMED, *QUALIFIERS[raw])}))
        elif isinstance(raw, bool):
            resources.append(observation(ident, pid, coded(INPUT, key, key), {"valueBoolean": raw}))
        else:
            value = {"valueCodeableConcept": coded(SNOMED, *QUALIFIERS[raw])}
            resources.append(observation(ident, pid, coded(INPUT, key, key), value))
    return {"resourceType": "Bundle", "id": pid, "type": "collection",
            "timestamp": f"{INDEX_DATE.isoformat()}T09:00:00Z", "entry": [entry(r) for r in resources]}


def history_bundle() -> dict:
    """A dated record: what an EHR search for one patient returns."""
    pid = "hbv-0042"
    lab_range = {"TB": (3.4, 20.5), "creatinine": (53, 97), "INR": (0.8, 1.2), "PTA": (70, 120)}
    series = {
        "TB": [("2026-10-02", 96, "umol/L"), ("2026-11-14", 8.9, "mg/dL"), ("2026-11-28", 214, "umol/L")],
        "INR": [("2026-10-02", 1.4, ""), ("2026-11-28", 1.8, "")],
        "PTA": [("2026-11-28", 38, "%")],
        "creatinine": [("2026-11-14", 88, "umol/L"), ("2026-11-28", 1.1, "mg/dL")],
    }
    resources = [{"resourceType": "Patient", "id": pid, "birthDate": "1979-04-23", "gender": "male"}]
    for key, values in series.items():
        for index, (day, number, unit) in enumerate(values):
            low, high = lab_range[key]
            if unit == "mg/dL":  # the laboratory's range in its own unit
                per_mg_dl = {"TB": 17.104, "creatinine": 88.42}[key]  # umol/L in 1 mg/dL
                low, high = round(low / per_mg_dl, 2), round(high / per_mg_dl, 2)
            reference = {"low": quantity(low, unit), "high": quantity(high, unit)}
            resources.append(observation(
                f"{key.lower()}-{index + 1}", pid, coded(LOINC, *LABS[key][unit]),
                {"valueQuantity": quantity(number, unit)},
                effectiveDateTime=f"{day}T07:30:00+08:00", referenceRange=[reference],
            ))
    resources.append(observation(
        "hbsag-1", pid, coded(LOINC, "5196-1", "Hepatitis B virus surface Ag [Presence] in Serum or Plasma by Immunoassay"),
        {"valueCodeableConcept": coded(SNOMED, "10828004", "Positive")}, effectiveDateTime="2026-03-01",
    ))
    resources.append(observation(
        "consent-1", pid, coded(INPUT, "consent", "Written informed consent given"), {"valueBoolean": True},
        effectiveDateTime="2026-11-30",
    ))
    resources.append(observation(
        "dialysis-1", pid, coded(INPUT, "dialysis", "Dialysed at least twice in the past week"), {"valueBoolean": False},
        effectiveDateTime="2026-11-30",
    ))
    subject = {"reference": f"Patient/{pid}"}
    chronic = {"coding": [{"system": ICD10, "code": "B18.1", "display": "Chronic viral hepatitis B without delta-agent"},
                          {"system": SNOMED, "code": "61977001", "display": "Chronic type B viral hepatitis"}]}
    failure = {"coding": [{"system": ICD10, "code": "K72.9", "display": "Hepatic failure, unspecified"}]}
    resources += [
        {"resourceType": "Condition", "id": "chb", "subject": subject, "code": chronic, "onsetDateTime": "2011-05-10",
         "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active")},
        {"resourceType": "Condition", "id": "aclf", "subject": subject, "code": failure, "onsetDateTime": "2026-11-20"},
        {"resourceType": "Procedure", "id": "biopsy", "status": "completed", "subject": subject,
         "code": coded(SNOMED, "86259008", "Biopsy of liver"), "performedDateTime": "2019-08-02"},
        {"resourceType": "MedicationStatement", "id": "etv", "status": "active", "subject": subject,
         "medicationCodeableConcept": coded(ATC, "J05AF10", "entecavir"),
         "effectivePeriod": {"start": "2019-09-01"},
         "dosage": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                     "doseAndRate": [{"doseQuantity": quantity(0.5, "mg")}]}]},
        {"resourceType": "MedicationStatement", "id": "tdf", "status": "completed", "subject": subject,
         "medicationCodeableConcept": coded(ATC, "J05AF07", "tenofovir disoproxil"),
         "effectivePeriod": {"start": "2012-01-15", "end": "2019-08-31"},
         "dosage": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                     "doseAndRate": [{"doseQuantity": quantity(300, "mg")}]}]},
        {"resourceType": "MedicationStatement", "id": "propranolol", "status": "active", "subject": subject,
         "medicationCodeableConcept": coded(ATC, "C07AA05", "propranolol"),
         "effectivePeriod": {"start": "2024-02-10"},
         "dosage": [{"timing": {"code": coded("http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "BID", "BID")},
                     "doseAndRate": [{"doseQuantity": quantity(40, "mg")}]}]},
    ]
    entries = [dict(entry(r), search={"mode": "match"}) for r in resources]
    return {"resourceType": "Bundle", "id": "history", "type": "searchset", "total": len(entries),
            "timestamp": f"{INDEX_DATE.isoformat()}T09:00:00Z", "entry": entries}


def bundles() -> dict[str, dict]:
    """Every bundle this script writes, by file name."""
    made = {}
    for path in sorted(HERE.glob("*.json")):
        made[path.name] = seed_bundle(path.stem, json.loads(path.read_text(encoding="utf-8")))
    made["history.json"] = history_bundle()
    return made


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else HERE / "bundles"
    out.mkdir(parents=True, exist_ok=True)
    for name, bundle in bundles().items():
        (out / name).write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {out / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
