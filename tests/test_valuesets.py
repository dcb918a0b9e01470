"""Value sets: systems, patterns, matching, and loading from FHIR JSON and CSV."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol_dsl.valuesets import (
    ValueSet,
    ValueSetError,
    canonical_system,
    load,
    load_csv,
    load_fhir,
)


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("ICD10", "ICD10"),
        ("icd10", "ICD10"),
        ("http://hl7.org/fhir/sid/icd-10", "ICD10"),
        ("http://hl7.org/fhir/sid/icd-10-cm", "ICD10"),
        ("SNOMED", "SNOMED"),
        ("http://snomed.info/sct", "SNOMED"),
        ("LOINC", "LOINC"),
        ("http://loinc.org", "LOINC"),
        ("ATC", "ATC"),
        ("http://www.whocc.no/atc", "ATC"),
        ("RxNorm", "RxNorm"),
        ("http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm"),
        ("http://www.ama-assn.org/go/cpt", "http://www.ama-assn.org/go/cpt"),
        ("ICD9", None),
    ],
)
def test_systems(text, canonical):
    assert canonical_system(text) == canonical


def test_icd10_without_regard_to_the_dot():
    vs = ValueSet([("ICD10", "C34.1"), ("ICD10", "I21.*")])
    assert vs.matches("ICD10", "C341")
    assert vs.matches("http://hl7.org/fhir/sid/icd-10-cm", "C34.1")
    assert vs.matches("ICD10", "I21")
    assert vs.matches("ICD10", "I21.4")
    assert vs.matches("ICD10", "I214")
    assert not vs.matches("ICD10", "I22.0")
    assert not vs.matches("SNOMED", "C341")


def test_other_systems_as_written():
    vs = ValueSet([("ATC", "C09A*"), ("SNOMED", "22298006")])
    assert vs.matches("http://www.whocc.no/atc", "C09AA05")
    assert not vs.matches("ATC", "C09BA05")
    assert not vs.matches("ATC", "c09aa05")
    assert vs.matches("SNOMED", "22298006")
    assert not vs.matches("SNOMED", "222980060")


def test_covered_prefixes():
    vs = ValueSet([("ICD10", "C3*"), ("ICD10", "C34A*"), ("ICD10", "C35")])
    assert vs.matches("ICD10", "C35")
    assert vs.matches("ICD10", "C399")
    assert not vs.matches("ICD10", "C4")
    assert vs.systems == {"ICD10"}


@pytest.mark.parametrize(
    "entries, message",
    [
        ([("ICD9", "250")], 'unknown coding system "ICD9" (use ICD10, SNOMED, LOINC, ATC, RxNorm or a URI)'),
        ([("ICD10", "C*34")], "\"C*34\": '*' may only end a code (a prefix such as \"C34.*\")"),
        ([("ICD10", "*")], "\"*\": a prefix needs at least one character before '*'"),
        ([("ICD10", " ")], "empty code"),
    ],
)
def test_invalid_entries(entries, message):
    with pytest.raises(ValueSetError) as info:
        ValueSet(entries)
    assert str(info.value) == message


CODE = st.text(alphabet="ABC12.", min_size=0, max_size=6)


@given(st.lists(st.tuples(CODE.filter(lambda c: c.replace(".", "")), st.booleans()), min_size=1, max_size=8), CODE)
def test_prefix_match_is_the_naive_definition(patterns, code):
    vs = ValueSet([("ICD10", p + ("*" if prefix else "")) for p, prefix in patterns])
    plain = code.replace(".", "")
    naive = any(
        plain.startswith(p.replace(".", "")) if prefix else plain == p.replace(".", "") for p, prefix in patterns
    )
    assert vs.matches("ICD10", code) == naive


# -- FHIR ------------------------------------------------------------------------------

COMPOSE = {
    "resourceType": "ValueSet",
    "compose": {
        "include": [
            {"system": "http://hl7.org/fhir/sid/icd-10", "concept": [{"code": "C34.0"}, {"code": "C34.1"}]},
            {"system": "http://snomed.info/sct", "concept": [{"code": "254637007", "display": "NSCLC"}]},
        ]
    },
}


def test_fhir_compose():
    vs = load_fhir(json.dumps(COMPOSE), "nsclc.json", "nsclc")
    assert vs.name == "nsclc"
    assert vs.matches("ICD10", "C340") and vs.matches("SNOMED", "254637007")
    assert not vs.matches("ICD10", "C342")
    assert vs.systems == {"ICD10", "SNOMED"}


def test_fhir_expansion_is_used_and_nests():
    resource = {
        "resourceType": "ValueSet",
        "compose": {"include": [{"system": "http://snomed.info/sct", "filter": [
            {"property": "concept", "op": "descendent-of", "value": "22298006"}]}]},
        "expansion": {"contains": [
            {"system": "http://snomed.info/sct", "code": "22298006", "contains": [
                {"system": "http://snomed.info/sct", "code": "57054005"}]},
            {"abstract": True, "display": "grouper", "contains": [
                {"system": "http://snomed.info/sct", "code": "401303003"}]},
        ]},
    }
    vs = load_fhir(json.dumps(resource), "mi.json")
    assert {code for _, code in vs.entries} == {"22298006", "57054005", "401303003"}


def test_fhir_simple_filters():
    resource = {"resourceType": "ValueSet", "compose": {"include": [
        {"system": "http://hl7.org/fhir/sid/icd-10", "filter": [{"property": "concept", "op": "is-a", "value": "I21"}]},
        {"system": "http://www.whocc.no/atc", "filter": [{"property": "code", "op": "=", "value": "C09AA05"}]},
    ]}}
    vs = load_fhir(json.dumps(resource), "x.json")
    assert vs.matches("ICD10", "I21.9") and vs.matches("ATC", "C09AA05") and not vs.matches("ATC", "C09AA0")


@pytest.mark.parametrize(
    "resource, message",
    [
        ("{", "vs.json: not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
        ([], "vs.json: expected a FHIR ValueSet object"),
        ({"resourceType": "CodeSystem"}, 'vs.json: resourceType is "CodeSystem", expected "ValueSet"'),
        ({"resourceType": "ValueSet"}, "vs.json: has neither expansion.contains nor compose.include: there are no codes"),
        ({"compose": {"include": []}}, "vs.json: the value set has no codes"),
        ({"compose": {"include": [{"concept": [{"code": "1"}]}]}}, "vs.json: compose.include[0]: no system"),
        ({"compose": {"include": [{"system": "ICD9", "concept": [{"code": "1"}]}]}},
         'vs.json: compose.include[0].system: unknown coding system "ICD9" (use ICD10, SNOMED, LOINC, ATC, RxNorm or a URI)'),
        ({"compose": {"include": [{"system": "http://loinc.org", "concept": [{"display": "x"}]}]}},
         "vs.json: compose.include[0].concept[0]: no code"),
        ({"compose": {"include": [{"system": "http://loinc.org"}]}},
         "vs.json: compose.include[0]: includes the whole of http://loinc.org; list the codes (concept[]) to include"),
        ({"compose": {"include": [{"valueSet": ["http://x/vs"]}]}},
         "vs.json: compose.include[0].valueSet: a value set included by reference cannot be resolved; list its codes"),
        ({"compose": {"include": [{"system": "http://snomed.info/sct", "filter": [
            {"property": "concept", "op": "is-a", "value": "22298006"}]}]}},
         'vs.json: compose.include[0].filter[0]: the filter ("concept" "is-a" "22298006") needs a terminology server; '
         'give the expansion, or list the codes (only "concept is-a" on ICD-10 or ATC and "=" can be read)'),
        ({"compose": {"include": [{"system": "http://loinc.org", "concept": [{"code": "1"}]}], "exclude": [{}]}},
         "vs.json: compose.exclude is not supported: give the expansion, or list the codes to include"),
        ({"expansion": {"contains": [{"code": "1"}]}}, "vs.json: expansion.contains[0]: no system"),
        ({"expansion": {"contains": {"code": "1"}}}, "vs.json: expansion.contains: expected a list, got an object"),
    ],
)
def test_fhir_errors(resource, message):
    text = resource if isinstance(resource, str) else json.dumps(resource)
    with pytest.raises(ValueSetError) as info:
        load_fhir(text, "vs.json")
    assert str(info.value) == message


# -- CSV -------------------------------------------------------------------------------


def test_csv():
    vs = load_csv("system,code,display\nICD10,C34.*,Lung cancer\nhttp://snomed.info/sct,254637007\n\n", "l.csv")
    assert vs.matches("ICD10", "C3411") and vs.matches("SNOMED", "254637007")


def test_csv_without_header():
    assert load_csv("ATC,C09A*\n", "a.csv").matches("ATC", "C09AA05")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "l.csv: the value set has no codes"),
        ("system,code\n", "l.csv: the value set has no codes"),
        ("system,code\nICD10\n", "l.csv, line 2: expected system,code or system,code,display, got 1 column"),
        ("ICD10,C34,x,y\n", "l.csv, line 1: expected system,code or system,code,display, got 4 columns"),
        ("ICD10,C34\nICD9,250\n", 'l.csv, line 2: unknown coding system "ICD9" (use ICD10, SNOMED, LOINC, ATC, RxNorm or a URI)'),
        ("ICD10,C34\n\nICD10,\n", "l.csv, line 3: empty code"),
        ('ICD10,"C3\n4', "l.csv, line 2: not valid CSV (unexpected end of data)"),
    ],
)
def test_csv_errors(text, message):
    with pytest.raises(ValueSetError) as info:
        load_csv(text, "l.csv")
    assert str(info.value) == message


def test_load_files(tmp_path):
    (tmp_path / "a.csv").write_text("ICD10,I21.*\n", encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(COMPOSE), encoding="utf-8")
    (tmp_path / "c.txt").write_text("x", encoding="utf-8")
    assert load(tmp_path / "a.csv").matches("ICD10", "I21.9")
    assert load(tmp_path / "b.json").matches("ICD10", "C34.1")
    with pytest.raises(ValueSetError) as info:
        load(tmp_path / "c.txt")
    assert str(info.value).endswith("c.txt: a value set file must be .json (a FHIR ValueSet) or .csv (system,code)")
    with pytest.raises(ValueSetError) as info:
        load(tmp_path / "missing.csv")
    assert str(info.value).endswith("missing.csv: no such file")
