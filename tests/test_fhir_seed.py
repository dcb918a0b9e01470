"""The seed's example patients as FHIR bundles: the same status and the same reasons."""

import json
from pathlib import Path

import pytest

import protocol_dsl
from protocol_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "protocols" / "NCT01844063.rules"
PATIENTS = sorted((ROOT / "examples").glob("*.json"))


def read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def index_date(bundle: dict) -> str:
    return bundle["timestamp"][:10]


@pytest.mark.parametrize("patient", PATIENTS, ids=lambda p: p.stem)
def test_each_bundle_evaluates_as_its_json_patient(patient):
    protocol = protocol_dsl.load(SEED)
    bundle = read(ROOT / "examples" / "bundles" / patient.name)
    from_json = protocol.evaluate(read(patient), as_of=index_date(bundle))
    from_bundle = protocol.evaluate(bundle, as_of=index_date(bundle))
    assert from_bundle.status == from_json.status
    assert {cid: (c.value, c.reason) for cid, c in from_bundle.criteria.items()} == {
        cid: (c.value, c.reason) for cid, c in from_json.criteria.items()
    }
    assert from_bundle.missing == from_json.missing
    assert from_bundle.warnings == from_json.warnings == []


@pytest.mark.parametrize("patient", PATIENTS, ids=lambda p: p.stem)
def test_each_bundle_prints_as_its_json_patient(patient, capsys):
    bundle_path = ROOT / "examples" / "bundles" / patient.name
    as_of = index_date(read(bundle_path))
    assert main(["eval", "--as-of", as_of, str(SEED), str(patient)]) == 0
    printed = capsys.readouterr().out
    assert main(["eval", "--as-of", as_of, str(SEED), str(bundle_path)]) == 0
    assert capsys.readouterr().out == printed


def test_the_dated_record_reads_as_the_latest_values():
    """Dated values, events and their reasons: runs once dated observations can be evaluated."""
    protocol = protocol_dsl.load(SEED)
    bundle = read(ROOT / "examples" / "bundles" / "history.json")
    try:
        result = protocol.evaluate(bundle, as_of=index_date(bundle))
    except protocol_dsl.DataError as refused:
        if "got [{" in str(refused):
            pytest.skip("dated observations are evaluated once the dated-values work is merged")
        raise
    assert result.status == "undetermined"
    assert {cid: result.criteria[cid].value for cid in ("I1", "I4", "I5", "I6", "I7", "I8")} == {
        "I1": True, "I4": True, "I5": True, "I6": True, "I7": True, "I8": True,
    }
    assert "liver_failure" in result.missing
    assert not [w for w in result.warnings if "conditions" in w or "medications" in w or "procedures" in w]
