"""The seed protocol NCT01844063: its criteria, MELD, and the example patients."""

import json
import math
from pathlib import Path

import pytest

import protocol_dsl

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "protocols" / "NCT01844063.rules"


@pytest.fixture(scope="module")
def seed():
    return protocol_dsl.load(SEED)


def test_seed_has_no_errors_and_no_warnings(seed):
    assert seed.warnings == []
    assert seed.id == "NCT01844063"


def test_criteria_in_the_listing_order(seed):
    result = seed.evaluate({})
    assert list(result.criteria) == [f"I{i}" for i in range(1, 9)] + [f"E{i}" for i in range(1, 8)]


LISTING = [
    "Aged 18-65 years",
    "Liver failure",
    "Negative pregnancy test (female patients in fertile age)",
    "Written consent",
    "HBsAg positive",
    "TB≥171 μmol/L or ascend ≥17.1 μmol/L/per day,",
    "INR≥1.5 or 20%<PTA≤40%",
    "17≤MELD score≤30",
    "Hepatocellular carcinoma or other malignancies",
    "Severe problems in other vital organs(e.g.the heart,renal or lungs)",
    "Pregnant or lactating women",
    "Severe bacteria infection",
    "Anticipated with difficulty of follow-up observation",
    "Liver failure caused by other reasons, such as autoimmune diseases, alcohol, drug and so on",
    "Other candidates who are judged to be not applicable to this study by doctors",
]


def test_criterion_texts_are_the_listing_wording(seed):
    assert [c.text for c in seed.evaluate({}).criteria.values()] == LISTING


def reference_meld(bilirubin_mg_dl, inr, creatinine_mg_dl, dialysis):
    """UNOS MELD written directly from its definition, for comparison."""
    bilirubin = max(bilirubin_mg_dl, 1.0)
    inr = max(inr, 1.0)
    creatinine = 4.0 if dialysis else min(max(creatinine_mg_dl, 1.0), 4.0)
    score = 10 * (0.957 * math.log(creatinine) + 0.378 * math.log(bilirubin) + 1.120 * math.log(inr) + 0.643)
    return min(math.floor(score + 0.5), 40)


BILIRUBIN_UMOL_PER_MG_DL = 17.104  # 10 / 584.66 g/mol * 1000
CREATININE_UMOL_PER_MG_DL = 88.4017  # 10 / 113.12 g/mol * 1000


@pytest.mark.parametrize(
    "tb_umol, inr, creatinine_umol, dialysis",
    [
        (250, 2.1, 90, False),
        (171, 1.5, 60, False),
        (400, 3.0, 300, False),
        (400, 3.0, 300, True),
        (10, 0.9, 40, False),  # every value floored at 1.0
        (1200, 8.0, 900, False),  # capped at 40
        (300, 1.8, 500, False),  # creatinine capped at 4.0
    ],
)
def test_meld_agrees_with_the_formula(seed, tb_umol, inr, creatinine_umol, dialysis):
    expected = reference_meld(
        tb_umol / BILIRUBIN_UMOL_PER_MG_DL, inr, creatinine_umol / CREATININE_UMOL_PER_MG_DL, dialysis
    )
    meld = protocol_dsl.compile_expression("17 <= m <= 30")
    result = seed.evaluate({"TB": tb_umol, "INR": inr, "creatinine": creatinine_umol, "dialysis": dialysis})
    assert result.criteria["I8"].value is meld.evaluate({"m": expected})
    assert f"meld(TB, INR, creatinine, dialysis) {expected}" in result.criteria["I8"].reason


def test_dialysis_decides_meld_only_when_it_matters(seed):
    # creatinine >= 4 mg/dL: dialysis or not, the creatinine term is 4.0, so MELD is known.
    result = seed.evaluate({"TB": 250, "INR": 2.1, "creatinine": 400})
    assert result.criteria["I8"].value is not None
    result = seed.evaluate({"TB": 250, "INR": 2.1, "creatinine": 90})
    assert result.criteria["I8"].value is None
    assert result.criteria["I8"].missing == ["dialysis"]


EXPECTED = {
    "eligible.json": "eligible",
    "ineligible_coagulation.json": "ineligible",
    "ineligible_pregnant.json": "ineligible",
    "undetermined.json": "undetermined",
}


@pytest.mark.parametrize("name, status", EXPECTED.items())
def test_example_patients(seed, name, status):
    data = json.loads((ROOT / "examples" / name).read_text())
    assert seed.evaluate(data).status == status


def test_every_example_is_listed():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.json")) == sorted(EXPECTED)


def test_reasons_for_the_examples(seed):
    data = json.loads((ROOT / "examples" / "ineligible_coagulation.json").read_text())
    result = seed.evaluate(data)
    assert result.criteria["I7"].reason == "INR 1.2 < 1.5 and PTA 55 % > 40 %"
    data = json.loads((ROOT / "examples" / "undetermined.json").read_text())
    result = seed.evaluate(data)
    assert result.missing == ["PTA", "creatinine", "dialysis"]
    assert result.criteria["I7"].reason == "INR 1.3 < 1.5 and PTA is missing"
    assert result.criteria["I8"].reason == "meld(TB, INR, creatinine, dialysis) is unknown: creatinine, dialysis are missing"


def test_a_man_is_never_excluded_for_pregnancy(seed):
    result = seed.evaluate({"sex": "male"})
    assert result.criteria["E3"].value is False
    assert result.criteria["I3"].value is True
    assert result.criteria["I3"].reason == 'not applicable: sex "male" != "female"'


def test_bilirubin_in_mg_dl_meets_the_umol_threshold(seed):
    assert seed.evaluate({"TB": {"value": 10.1, "unit": "mg/dL"}}).criteria["I6"].value is True
    assert seed.evaluate({"TB": {"value": 9.9, "unit": "mg/dL"}}).criteria["I6"].value is None  # TB_rise unknown
