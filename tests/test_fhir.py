"""FHIR R4 in: the `code` attribute, Bundle -> patient data, its messages, and the command line."""

import copy
import json
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol_dsl
from protocol_dsl import fhir
from protocol_dsl.cli import main
from protocol_dsl.formatter import format_text

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "protocols" / "NCT01844063.rules"
LOINC, SNOMED, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"

RULES = """
input age: number years range 0..130 code FHIR "Patient.birthDate"
input sex: one of "female", "male" code FHIR "Patient.gender"
input TB: number umol/L range 0..1500 molar mass 584.66 g/mol code LOINC "1975-2" code LOINC "14631-6"
input INR: number range 0.5..20 code LOINC "6301-6"
input HBsAg: one of "positive", "negative" code LOINC "5196-1"
input hcc: boolean code SNOMED "109841003"
input consent: boolean
inclusion I1: 18 years <= age <= 65 years
inclusion I5: HBsAg = "positive"
inclusion I6: TB >= 171 umol/L
inclusion I7: INR >= 1.5 and sex = "male"
inclusion I4: consent
exclusion E1: hcc
"""


@pytest.fixture(scope="module")
def protocol():
    return protocol_dsl.loads(RULES)


def obs(ident, code, system=LOINC, **value):
    return {"resourceType": "Observation", "id": ident, "status": "final",
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": "Patient/p1"}, **value}


def qty(value, code, unit=None):
    q = {"value": value, "system": UCUM, "code": code}
    if unit:
        q["unit"] = unit
    return q


REASON_I6 = "TB 242.876201553 umol/L >= 171 umol/L"
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-06-15", "gender": "male"}


def bundle(*resources, kind="collection"):
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}


def problems(protocol, data, **options):
    with pytest.raises(protocol_dsl.DataError) as caught:
        fhir.patient_data(protocol, data, **options)
    return caught.value.problems


# ------------------------------------------------------------------ the attribute
def test_codes_are_kept_on_the_input_as_system_uris(protocol):
    info = protocol.inputs["TB"]
    assert info.codes == ((LOINC, "1975-2"), (LOINC, "14631-6"))
    assert protocol.inputs["age"].codes == (("http://hl7.org/fhir", "Patient.birthDate"),)
    uri = protocol_dsl.loads('input x: boolean code "urn:oid:1.2.3" "A-1"\ninclusion I: x')
    assert uri.inputs["x"].codes == (("urn:oid:1.2.3", "A-1"),)
    assert protocol.inputs["consent"].codes == ()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('input TB: number umol/L code LONIC "1975-2"',
         "unknown code system 'LONIC' (did you mean 'LOINC'?): use LOINC, SNOMED, ICD10, ATC, RxNorm, FHIR or a quoted URI"),
        ('input TB: number umol/L code loinc "1975-2"',
         "unknown code system 'loinc' (did you mean 'LOINC'?): use LOINC, SNOMED, ICD10, ATC, RxNorm, FHIR or a quoted URI"),
        ('input TB: number umol/L code LOINC ""', 'the code is empty: write the code, such as "1975-2"'),
        ('input TB: number umol/L code FHIR "Patient.birthDate"',
         "Patient.birthDate is a date: bind it to a number input in years (the age at the index date), "
         "but 'TB' is a number in umol/L"),
        ('input TB: number umol/L code FHIR "Patient.gender"',
         "Patient.gender is a category: bind it to a 'one of' input, but 'TB' is a number in umol/L"),
    ],
)
def test_bad_code_attributes_are_e303(line, message):
    with pytest.raises(protocol_dsl.RulesError) as caught:
        protocol_dsl.loads(line + "\ninclusion I: TB > 1 umol/L")
    assert [(d.code, d.message) for d in caught.value.diagnostics] == [("E303", message)]


def test_fmt_prints_codes_canonically_and_keeps_them():
    text = 'input TB: number umol/L "Total bilirubin" code LOINC "1975-2" range 0..1500 code "http://x.org/cs" "a\\"b"\n'
    text += "inclusion I6: TB >= 171 umol/L\n"
    formatted = format_text(text)
    assert formatted.splitlines()[0] == (
        'input TB: number umol/L range 0..1500 code LOINC "1975-2" code "http://x.org/cs" "a\\"b" "Total bilirubin"'
    )
    assert format_text(formatted) == formatted
    assert protocol_dsl.loads(formatted).inputs["TB"] == protocol_dsl.loads(text).inputs["TB"]


_CODE = st.text(string.ascii_letters + string.digits + "-.:/ \"\\", min_size=1, max_size=12).filter(str.strip)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["LOINC", "SNOMED", "ICD10", "ATC", "RxNorm", '"urn:x:y"']), _CODE),
                min_size=1, max_size=4, unique=True))
def test_codes_survive_formatting(pairs):
    escaped = [(s, c.replace("\\", "\\\\").replace('"', '\\"')) for s, c in pairs]
    text = "input x: boolean " + " ".join(f'code {s} "{c}"' for s, c in escaped) + ' "label"\ninclusion I: x\n'
    formatted = format_text(text)
    assert format_text(formatted) == formatted
    assert protocol_dsl.loads(formatted).inputs["x"].codes == protocol_dsl.loads(text).inputs["x"].codes


# ------------------------------------------------------------------ conversion
def test_dated_observations_become_dated_lists(protocol):
    tb_old = obs("tb-1", "1975-2", valueQuantity=qty(8.9, "mg/dL", "mg/dl"), effectiveDateTime="2026-11-14",
                 referenceRange=[{"low": qty(0.2, "mg/dL"), "high": qty(1.2, "mg/dL")}])
    tb_new = obs("tb-2", "14631-6", valueQuantity=qty(214, "umol/L"), effectivePeriod={"start": "2026-11-28T07:30:00+08:00"},
                 referenceRange=[{"high": {"value": 1.2, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}}],
                 status="amended")
    inr = obs("inr", "6301-6", valueQuantity=qty(1.8, "{INR}"), issued="2026-11-28T09:00:00Z")
    hbsag = obs("hbsag", "5196-1", effectiveDateTime="2026-03-01",
                valueCodeableConcept={"coding": [{"system": SNOMED, "code": "10828004", "display": "Positive"}]})
    data = fhir.patient_data(protocol, bundle(PATIENT, tb_new, tb_old, inr, hbsag), as_of="2026-12-01")
    assert data == {
        "age": {"value": 46, "unit": "years"},
        "sex": "male",
        "TB": [
            {"value": 8.9, "unit": "mg/dL", "time": "2026-11-14", "range": {"low": 0.2, "high": 1.2}, "status": "final"},
            {"value": 214, "unit": "umol/L", "time": "2026-11-28T07:30:00+08:00",
             "range": {"high": 20.524749427}, "status": "amended"},
        ],
        "INR": [{"value": 1.8, "time": "2026-11-28T09:00:00Z", "status": "final"}],
        "HBsAg": [{"value": "positive", "time": "2026-03-01", "status": "final"}],
    }


def test_undated_observations_are_current_values_and_evaluate_now(protocol):
    resources = [
        PATIENT,
        obs("tb", "1975-2", valueQuantity=qty(14.2, "mg/dL")),
        obs("inr", "6301-6", valueQuantity={"value": 1.7}),
        obs("hbsag", "5196-1", valueString="Detected"),
        obs("consent", "consent", system="urn:protocol-dsl:input", valueBoolean=True),
        obs("hcc", "109841003", system=SNOMED,
            valueCodeableConcept={"coding": [{"system": SNOMED, "code": "373067005", "display": "No"}]}),
    ]
    data = fhir.patient_data(protocol, bundle(*resources, kind="searchset"), as_of="2026-12-01")
    assert data == {"age": {"value": 46, "unit": "years"}, "sex": "male", "TB": {"value": 14.2, "unit": "mg/dL"},
                    "INR": 1.7, "HBsAg": "positive", "consent": True, "hcc": False}
    result = protocol.evaluate(bundle(*resources), as_of="2026-12-01")
    assert result.status == "eligible"
    assert result.criteria["I6"].reason == REASON_I6
    assert result.warnings == []


def test_events_conditions_procedures_medications(protocol):
    subject = {"reference": "Patient/p1"}
    resources = [
        PATIENT,
        {"resourceType": "Condition", "id": "c1", "subject": subject, "onsetDateTime": "2011-05-10",
         "abatementDateTime": "2020-01-01",
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "B18.1"},
                             {"system": SNOMED, "code": "61977001"}]}},
        {"resourceType": "Condition", "id": "c2", "subject": subject, "recordedDate": "2026-11-20",
         "verificationStatus": {"coding": [{"code": "refuted"}]},
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "K72.9"}]}},
        {"resourceType": "Procedure", "id": "p", "status": "completed", "subject": subject,
         "code": {"coding": [{"system": SNOMED, "code": "86259008"}]},
         "performedPeriod": {"start": "2019-08-02", "end": "2019-08-03"}},
        {"resourceType": "MedicationStatement", "id": "m1", "status": "active", "subject": subject,
         "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "C07AA05"}]},
         "effectivePeriod": {"start": "2024-02-10"},
         "dosage": [{"timing": {"code": {"coding": [{"code": "BID"}]}},
                     "doseAndRate": [{"doseQuantity": qty(40, "mg")}]}]},
        {"resourceType": "Medication", "id": "etv",
         "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J05AF10"}]}},
        {"resourceType": "MedicationRequest", "id": "m2", "status": "active", "intent": "order", "subject": subject,
         "medicationReference": {"reference": "Medication/etv"}, "authoredOn": "2019-09-01",
         "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 2, "periodUnit": "d"}},
                                "doseAndRate": [{"doseQuantity": qty(0.5, "mg")}]}]},
    ]
    conversion = fhir.convert(protocol, bundle(*resources), as_of="2026-12-01")
    assert conversion.patient == "Patient/p1"
    assert conversion.data["conditions"] == [
        {"code": "B18.1", "system": "ICD10", "start": "2011-05-10", "end": "2020-01-01"},
        {"code": "61977001", "system": "SNOMED", "start": "2011-05-10", "end": "2020-01-01"},
    ]
    assert conversion.data["procedures"] == [
        {"code": "86259008", "system": "SNOMED", "start": "2019-08-02", "end": "2019-08-03"}
    ]
    assert conversion.data["medications"] == [
        {"code": "C07AA05", "system": "ATC", "start": "2024-02-10", "dose": {"value": 80, "unit": "mg/d"}},
        {"code": "J05AF10", "system": "ATC", "start": "2019-09-01", "dose": {"value": 0.25, "unit": "mg/d"}},
    ]
    assert conversion.warnings == ["Condition/c2 (entry 2): verificationStatus refuted: left out"]


def test_a_lone_resource_and_a_list_of_resources(protocol):
    assert fhir.patient_data(protocol, PATIENT, as_of="2026-06-15") == {"age": {"value": 46, "unit": "years"}, "sex": "male"}
    assert fhir.patient_data(protocol, [PATIENT], as_of="2026-06-14") == {"age": {"value": 45, "unit": "years"}, "sex": "male"}


def test_bundles_of_several_patients_need_a_choice(protocol):
    other = dict(PATIENT, id="p2", gender="female")
    two = bundle(PATIENT, other, obs("inr", "6301-6", valueQuantity={"value": 1.7}))
    assert problems(protocol, two, as_of="2026-12-01") == [
        "Bundle: the record holds 2 patients, Patient/p1 (entry 0) and Patient/p2 (entry 1): "
        "choose one (--patient ID, or patient=ID)"
    ]
    stray = bundle(PATIENT, dict(obs("o", "6301-6", valueQuantity={"value": 1.7}), subject={"reference": "urn:uuid:p3"}),
                   dict(obs("q", "6301-6"), subject={"reference": "https://ehr.example/fhir/Patient/p4/_history/2"}))
    assert problems(protocol, stray) == [
        "Bundle: the record holds 3 patients, Patient/p1 (entry 0), urn:uuid:p3 (subject of Observation/o (entry 1)) "
        "and Patient/p4 (subject of Observation/q (entry 2)): choose one (--patient ID, or patient=ID)"
    ]
    assert fhir.patient_data(protocol, two, as_of="2026-12-01", patient="p1")["INR"] == 1.7
    assert "INR" not in fhir.patient_data(protocol, two, as_of="2026-12-01", patient="Patient/p2")
    assert problems(protocol, two, patient="p9") == [
        "Bundle: there is no Patient/p9 in this record (it holds: Patient/p1, Patient/p2)"
    ]


# ------------------------------------------------------------------ messages
@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (obs("tb", "1975-2", valueQuantity=qty(10, "mg/dl")),
         "Observation/tb (entry 1): valueQuantity.code: unknown unit 'mg/dl' (did you mean 'mg/dL'?)"),
        (obs("tb", "1975-2", valueQuantity=qty(10, "g")),
         "Observation/tb (entry 1): valueQuantity.code: g cannot be converted to umol/L, the unit of TB"),
        (obs("tb", "1975-2", valueQuantity={"value": 10}),
         "Observation/tb (entry 1): valueQuantity: no unit, but TB is in umol/L: give the unit (UCUM code)"),
        (obs("tb", "1975-2", valueQuantity=dict(qty(0.5, "mg/dL"), comparator="<")),
         'Observation/tb (entry 1): valueQuantity.comparator: the value is given as "<0.5": a bound, not a value of TB'),
        (obs("tb", "1975-2", valueQuantity=qty("12", "mg/dL")),
         'Observation/tb (entry 1): valueQuantity.value: expected a finite number, got "12"'),
        (obs("tb", "1975-2", valueQuantity=qty(5000, "umol/L")),
         "Observation/tb (entry 1): valueQuantity: TB: 5000 umol/L is outside the plausible range 0..1500 umol/L"),
        (obs("tb", "1975-2", valueString="high"),
         "Observation/tb (entry 1): valueString: TB is a number, so a valueQuantity is needed"),
        (obs("hbsag", "5196-1", valueCodeableConcept={"coding": [{"system": SNOMED, "code": "42425007", "display": "Equivocal"}]}),
         'Observation/hbsag (entry 1): valueCodeableConcept: SNOMED 42425007 "Equivocal" is not one of "positive", "negative" (the values of HBsAg)'),
        (obs("hcc", "109841003", system=SNOMED, valueString="maybe"),
         'Observation/hcc (entry 1): valueString: "maybe" does not say yes or no, as hcc (true or false) needs'),
        (obs("inr", "6301-6", valueQuantity={"value": 1.2}, effectiveDateTime="2026-11"),
         'Observation/inr (entry 1): effectiveDateTime: "2026-11" is not precise to the day'),
        (obs("inr", "6301-6", valueQuantity={"value": 1.2}, effectiveDateTime="yesterday"),
         'Observation/inr (entry 1): effectiveDateTime: expected a date or date-time such as "2026-11-28", got "yesterday"'),
        (obs("inr", "6301-6", valueQuantity={"value": 1.2}, status="done"),
         'Observation/inr (entry 1): status: "done" is not an Observation status: expected one of registered, '
         "preliminary, final, amended, corrected, cancelled, entered-in-error, unknown"),
        (dict(PATIENT, id="p1", gender="other"),
         'Patient/p1 (entry 1): gender: "other" is not one of "female", "male" (the values of sex)'),
        ({"resourceType": "Procedure", "id": "x", "status": "completed", "subject": {"reference": "Patient/p1"},
          "code": {"coding": [{"system": SNOMED, "code": "86259008"}]}},
         "Procedure/x (entry 1): performedDateTime: no date: give performedDateTime or performedPeriod"),
        ({"resourceType": "Condition", "subject": {"reference": "Patient/p1"}, "onsetDateTime": "2026-01-02",
          "abatementDateTime": "2025-01-01", "code": {"coding": [{"system": SNOMED, "code": "1"}]}},
         "Condition (entry 1): abatementDateTime: 2025-01-01 is before the onset 2026-01-02"),
        ({"resourceType": "MedicationStatement", "id": "m", "status": "active", "subject": {"reference": "Patient/p1"},
          "medicationReference": {"reference": "Medication/nowhere"}, "effectiveDateTime": "2026-01-01"},
         'MedicationStatement/m (entry 1): medicationReference: "Medication/nowhere" is not a Medication in this record'),
    ],
)
def test_each_problem_names_the_resource_and_the_field(protocol, resource, expected):
    entries = [{"resourceType": "Patient", "id": "p0"}, resource] if resource.get("resourceType") == "Patient" else [PATIENT, resource]
    if resource.get("resourceType") == "Patient":
        entries = [{"resourceType": "Condition", "subject": {"reference": "Patient/p1"}}, resource]
    assert problems(protocol, bundle(*entries), as_of="2026-12-01") == [expected]


def test_problems_about_the_bundle_itself(protocol):
    assert problems(protocol, {"resourceType": "Bundle", "type": "history", "entry": []}) == [
        'Bundle: type: "history" is not a bundle of records: expected one of searchset, collection, document, transaction, batch'
    ]
    assert problems(protocol, {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": 1}}, 5]}) == [
        'entry 0: resource: expected a FHIR resource with a resourceType, got {"id": 1}',
        "entry 1: expected an object with a resource, got 5",
    ]
    assert problems(protocol, 42) == ["expected a FHIR Bundle, a resource or a list of resources, not 42"]
    assert problems(protocol, PATIENT) == [
        "Patient/p1: birthDate: age from the birth date needs an index date (give --as-of, or as_of=...)"
    ]
    assert problems(protocol, PATIENT, as_of="1.12.2026") == ['as_of: "1.12.2026" is not a date: write YYYY-MM-DD']


def test_two_undated_values_cannot_be_told_apart(protocol):
    data = bundle(PATIENT, obs("a", "6301-6", valueQuantity={"value": 1.2}), obs("b", "6301-6", valueQuantity={"value": 1.3}))
    assert problems(protocol, data, as_of="2026-12-01") == [
        "Observation/a (entry 1): effective[x]: no date, and INR has other values (Observation/b (entry 2)): "
        "which one is current cannot be told"
    ]


def test_warnings_for_what_is_left_out(protocol):
    resources = [
        PATIENT,
        obs("x", "6301-6", valueQuantity={"value": 1.2}, status="entered-in-error", effectiveDateTime="2026-11-01"),
        obs("y", "6301-6", dataAbsentReason={"text": "Sample haemolysed"}, effectiveDateTime="2026-11-02"),
        obs("z", "cosent", system="urn:protocol-dsl:input", valueBoolean=True),
        obs("w", "TB", system="urn:protocol-dsl:input", valueQuantity=qty(100, "umol/L")),
        obs("v", "6301-6", valueQuantity={"value": 1.4}, effectiveDateTime="2026-11-03",
            referenceRange=[{"low": {"value": 2}, "type": {"coding": [{"code": "therapeutic"}]}}]),
    ]
    conversion = fhir.convert(protocol, bundle(*resources), as_of="2026-12-01")
    assert conversion.data["INR"] == [{"value": 1.4, "time": "2026-11-03", "status": "final"}]
    assert conversion.warnings == [
        "Observation/x (entry 1): status entered-in-error: not a value, left out",
        'Observation/y (entry 2): no value ("Sample haemolysed") for INR: left out',
        "Observation/z (entry 3): 'cosent' is not an input of this protocol and was ignored (did you mean 'consent'?)",
        'Observation/w (entry 4): coded urn:protocol-dsl:input "TB", but TB is read from LOINC "1975-2", LOINC "14631-6": left out',
    ]


_KEYS = st.sampled_from([
    "resourceType", "type", "entry", "resource", "code", "coding", "system", "value", "valueQuantity", "valueBoolean",
    "effectiveDateTime", "subject", "reference", "status", "birthDate", "gender", "referenceRange", "low", "unit",
    "onsetDateTime", "onsetPeriod", "abatementPeriod", "start", "end", "performedPeriod", "medicationCodeableConcept",
    "medicationReference", "contained", "id", "dosage", "dosageInstruction", "timing", "repeat", "doseAndRate",
    "doseQuantity", "frequency", "period", "periodUnit", "verificationStatus", "component", "valueCodeableConcept",
    "valueString", "valueInteger", "issued",
])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_any_json_is_read_or_refused_with_data_error(protocol, value):
    """Whatever the JSON, reading it either succeeds or raises DataError: never another exception."""
    shaped = [dict(base, **value) if isinstance(value, dict) else base for base in (
        obs("o", "6301-6"), obs("h", "5196-1"), obs("c", "consent", system="urn:protocol-dsl:input"),
        {"resourceType": "Condition", "code": {"coding": [{"system": SNOMED, "code": "1"}]}, "onsetDateTime": "2020-01-01"},
        {"resourceType": "Procedure", "code": {"coding": [{"system": SNOMED, "code": "1"}]}},
        {"resourceType": "MedicationStatement", "medicationCodeableConcept": {"coding": [{"system": SNOMED, "code": "1"}]}},
        {"resourceType": "MedicationRequest", "medicationReference": {"reference": "#m"}},
        dict(PATIENT, id="p1"),
    )]
    candidates = [value, {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": value}]}]
    candidates += [bundle(PATIENT, item) if item["resourceType"] != "Patient" else bundle(item) for item in shaped]
    for candidate in candidates:
        try:
            fhir.patient_data(protocol, candidate, as_of="2026-12-01")
        except protocol_dsl.DataError:
            pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(range(8)), min_size=1, max_size=8))
def test_the_entry_order_does_not_change_the_data(protocol, order):
    made = [PATIENT] + [
        obs(f"inr-{i}", "6301-6", valueQuantity={"value": 1 + i / 10}, effectiveDateTime=f"2026-11-{10 + i:02d}")
        for i in sorted(set(order))
    ]
    forward = fhir.patient_data(protocol, bundle(*made), as_of="2026-12-01")
    assert fhir.patient_data(protocol, bundle(*reversed(made)), as_of="2026-12-01") == forward
    assert [item["time"] for item in forward["INR"]] == sorted(item["time"] for item in forward["INR"])


# ------------------------------------------------------------------ library and command line
def test_evaluate_detects_a_bundle(protocol):
    seed = protocol_dsl.load(SEED)
    bundle_json = json.loads((ROOT / "examples" / "bundles" / "ineligible_coagulation.json").read_text())
    result = seed.evaluate(copy.deepcopy(bundle_json), as_of="2026-12-01")
    assert result.status == "ineligible"
    assert result.criteria["I7"].reason == "INR 1.2 < 1.5 and PTA 55 % > 40 %"


def test_cli_eval_reads_a_bundle(capsys):
    path = str(ROOT / "examples" / "bundles" / "eligible.json")
    assert main(["eval", "--as-of", "2026-12-01", "--format", "json", str(SEED), path]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "eligible" and out["warnings"] == []


def test_cli_eval_refuses_a_bundle_without_an_index_date(capsys):
    path = ROOT / "examples" / "bundles" / "eligible.json"
    assert main(["eval", str(SEED), str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}: invalid patient data:\n"
        "  Patient/eligible (entry 0): birthDate: age from the birth date needs an index date (give --as-of, or as_of=...)\n"
    )


def test_cli_eval_chooses_a_patient(tmp_path, capsys):
    first = json.loads((ROOT / "examples" / "bundles" / "eligible.json").read_text())
    second = json.loads((ROOT / "examples" / "bundles" / "ineligible_coagulation.json").read_text())
    both = dict(first, entry=first["entry"] + second["entry"])
    path = tmp_path / "two.json"
    path.write_text(json.dumps(both))
    assert main(["eval", "--as-of", "2026-12-01", str(SEED), str(path)]) == 1
    assert "the record holds 2 patients" in capsys.readouterr().err
    assert main(["eval", "--as-of", "2026-12-01", "--patient", "ineligible-coagulation", str(SEED), str(path)]) == 0
    assert capsys.readouterr().out.startswith("NCT01844063: INELIGIBLE")
    assert main(["eval", "--as-of", "2026-12-01", "--patient", "x", str(SEED), str(ROOT / "examples" / "eligible.json")]) == 2
    assert main(["eval", "--as-of", "1 Dec", str(SEED), str(path)]) == 2
    assert capsys.readouterr().err.endswith("--as-of 1 Dec: expected a date YYYY-MM-DD, such as 2026-12-01\n")


def test_the_committed_bundles_are_what_the_script_makes():
    import runpy

    made = runpy.run_path(str(ROOT / "examples" / "make_bundles.py"))["bundles"]()
    committed = {p.name for p in (ROOT / "examples" / "bundles").glob("*.json")}
    assert committed == set(made)
    for name, bundle_json in made.items():
        assert json.loads((ROOT / "examples" / "bundles" / name).read_text()) == bundle_json, name


def test_import_stays_light():
    import subprocess
    import sys

    code = "import sys, protocol_dsl; print('protocol_dsl.fhir' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_components_feed_their_own_inputs_and_qualifiers_map_to_categories():
    protocol = protocol_dsl.loads(
        'input sbp: number mmHg code LOINC "8480-6"\n'
        'input dbp: number mmHg code LOINC "8462-4"\n'
        'input pregnancy_test: one of "negative", "positive"\n'
        'inclusion I: sbp < 140 mmHg and dbp < 90 mmHg and pregnancy_test = "negative"\n'
    )
    pressure = {"value": 128, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
    bp = {"resourceType": "Observation", "id": "bp", "status": "final", "effectiveDateTime": "2026-11-30",
          "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
          "component": [{"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": pressure},
                        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": dict(pressure, value=82)}]}
    hcg = obs("hcg", "pregnancy_test", system="urn:protocol-dsl:input", valueCodeableConcept={
        "coding": [{"system": SNOMED, "code": "260415000", "display": "Not detected"}]})
    assert fhir.patient_data(protocol, [bp, hcg]) == {
        "sbp": [{"value": 128, "unit": "mm[Hg]", "time": "2026-11-30", "status": "final"}],
        "dbp": [{"value": 82, "unit": "mm[Hg]", "time": "2026-11-30", "status": "final"}],
        "pregnancy_test": "negative",
    }


def test_evaluate_passes_the_warnings_of_reading_on(protocol):
    resources = [PATIENT, obs("x", "6301-6", valueQuantity={"value": 1.2}, status="cancelled"),
                 obs("inr", "6301-6", valueQuantity={"value": 1.6})]
    result = protocol.evaluate(bundle(*resources), as_of="2026-12-01")
    assert result.criteria["I7"].value is True
    assert result.warnings == ["Observation/x (entry 1): status cancelled: not a value, left out"]
