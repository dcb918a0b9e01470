"""The score library (`import scores`): each score's worked example, its boundaries and its units.

No score has a worked example (inputs and result) published by an authoritative source --
the original paper, OPTN/UNOS, NKF/KDIGO, a guideline, a textbook or a peer-reviewed
article -- that could be found: the search of 2026-12-02 (the stored public pages, the
documentation pages and public code) turned up only the equations from such sources and
worked examples on calculator web pages. So each worked example below says where its
inputs come from and works its expected value out by hand from the published equation,
step by step; and every score is checked a second time, at the end of this file, against
an independent implementation of its published equation written here in plain Python,
over a grid of inputs, together with a check that plausible wrong formulas (a swapped or
changed coefficient, a missing floor or cap, a wrong branch) fail that grid.
"""

from __future__ import annotations

import pytest

import protocol_dsl

INPUTS = """
input bilirubin: number mg/dL
input bilirubin7: number mg/dL
input TB: number umol/L molar mass 584.66 g/mol
input inr: number
input creatinine: number mg/dL
input creatinine_si: number umol/L molar mass 113.12 g/mol
input dialysis: boolean
input sodium: number mmol/L
input albumin: number g/dL
input female: boolean
input black: boolean
input age: number years
input weight: number kg
input height: number cm
input pt: number s
input pt_control: number s
input ascites: number range 1..3
input encephalopathy: number range 1..3
"""


def reason(criterion: str, **data) -> str:
    """The reason of a criterion written over the inputs above."""
    protocol = protocol_dsl.loads(f"import scores\n{INPUTS}\ninclusion I1: {criterion}\n")
    return protocol.evaluate(data).criteria["I1"].reason


def score(expression: str, **data):
    """(value, reason) of a score for one patient, through the whole pipeline."""
    text = f"import scores\n{INPUTS}\ndefine value = {expression}\ninclusion I1: known(value) or true\n" \
           f"inclusion I2: value = value\n"
    protocol = protocol_dsl.loads(text)
    result = protocol.evaluate(data)
    trace = result.criteria["I2"].trace
    return trace.children[0].value, result.criteria["I2"].reason


def value(expression: str, **data):
    return score(expression, **data)[0]


MELD = "meld(bilirubin, inr, creatinine, dialysis)"


# ------------------------------------------------------------------ MELD
def test_meld_worked_example():
    # NO PUBLISHED WORKED EXAMPLE FOUND: searched for an OPTN/UNOS calculation example (OPTN
    # Policy 9.1, the OPTN MELD calculator and "guide to calculating MELD" pages) and one in
    # Kamath et al., Hepatology 2001; found only the equation and calculator pages (e.g.
    # thecalculator.co, mdapp.co, droracle.ai), none authoritative. The inputs are those of the
    # example of a calculator page (tools.gera.services/meld-score: creatinine 1.9, bilirubin
    # 4.0, INR 1.8); the value is worked by hand from the UNOS equation,
    # 10 x (0.957 ln(1.9) + 0.378 ln(4.0) + 1.120 ln(1.8) + 0.643):
    # 0.957 x 0.641854 = 0.614254; 0.378 x 1.386294 = 0.524019; 1.120 x 0.587787 = 0.658321;
    # sum + 0.643 = 2.439594; x 10 = 24.396 -> 24. Checked independently on a grid below.
    assert value(MELD, bilirubin=4.0, inr=1.8, creatinine=1.9, dialysis=False) == 24


def test_meld_floors_every_value_at_one():
    # Every value below 1.0 is taken as 1.0: ln(1) = 0 for each, so 10 x 0.643 = 6.43 -> 6.
    assert value(MELD, bilirubin=0.3, inr=0.8, creatinine=0.5, dialysis=False) == 6


def test_meld_caps_creatinine_at_four_and_dialysis_counts_as_four():
    capped = value(MELD, bilirubin=2, inr=1.5, creatinine=4.0, dialysis=False)
    assert value(MELD, bilirubin=2, inr=1.5, creatinine=9.0, dialysis=False) == capped
    assert value(MELD, bilirubin=2, inr=1.5, creatinine=1.0, dialysis=True) == capped
    # 10 x (0.957 ln 4 + 0.378 ln 2 + 1.120 ln 1.5 + 0.643)
    # = 10 x (1.326676 + 0.262011 + 0.454121 + 0.643) = 26.858 -> 27
    assert capped == 27


def test_meld_is_capped_at_forty():
    assert value(MELD, bilirubin=40, inr=8, creatinine=3.5, dialysis=False) == 40


def test_meld_converts_bilirubin_and_creatinine_in_umol_per_litre():
    # 68.4 umol/L of bilirubin (molar mass 584.66 g/mol) is 4.0 mg/dL; 168 umol/L of
    # creatinine (113.12 g/mol) is 1.9 mg/dL: the worked example again.
    assert value("meld(TB, inr, creatinine_si, dialysis)", TB=68.4, inr=1.8, creatinine_si=168, dialysis=False) == 24


def test_meld_of_a_missing_value_is_unknown_with_its_reason():
    assert value(MELD, bilirubin=4.0, creatinine=1.9, dialysis=False) is None
    assert reason(f"{MELD} > 10", bilirubin=4.0, creatinine=1.9, dialysis=False) == \
        "meld(bilirubin, inr, creatinine, dialysis) is unknown: inr is missing"
    assert reason(f"{MELD} > 10", bilirubin=4.0, dialysis=False) == \
        "meld(bilirubin, inr, creatinine, dialysis) is unknown: creatinine, inr are missing"


def test_meld_reads_well_in_a_reason():
    data = {"bilirubin": 4.0, "inr": 1.8, "creatinine": 1.9, "dialysis": False}
    assert reason(f"17 <= {MELD} <= 30", **data) == "17 <= meld(bilirubin, inr, creatinine, dialysis) 24 <= 30"
    assert reason(f"{MELD} > 30", **data) == "meld(bilirubin, inr, creatinine, dialysis) 24 <= 30"


def test_meld_with_dialysis_never_reads_creatinine():
    assert value(MELD, bilirubin=2, inr=1.5, dialysis=True) == 27


# ------------------------------------------------------------------ MELD-Na
MELD_NA = "meld_na(bilirubin, inr, creatinine, dialysis, sodium)"


def test_meld_na_worked_example():
    # NO PUBLISHED WORKED EXAMPLE FOUND (searched OPTN/UNOS MELD-Na material and Kim et al.,
    # N Engl J Med 2008; found only the equation and calculator pages). Worked by hand from
    # OPTN Policy 9.1 (2016): MELD(i) = round(10 x 2.439594) = 24 (the MELD example above);
    # MELD(i) > 11, so 24 + 1.32 x (137 - 128) - 0.033 x 24 x (137 - 128)
    # = 24 + 11.88 - 7.128 = 28.752 -> 29.
    assert value(MELD_NA, bilirubin=4.0, inr=1.8, creatinine=1.9, dialysis=False, sodium=128) == 29


def test_meld_na_bounds_sodium_to_125_137():
    low = value(MELD_NA, bilirubin=4.0, inr=1.8, creatinine=1.9, dialysis=False, sodium=125)
    assert value(MELD_NA, bilirubin=4.0, inr=1.8, creatinine=1.9, dialysis=False, sodium=110) == low
    # sodium above 137 adds nothing: MELD-Na is MELD(i)
    assert value(MELD_NA, bilirubin=4.0, inr=1.8, creatinine=1.9, dialysis=False, sodium=145) == 24


def test_meld_na_leaves_a_meld_of_eleven_alone():
    # MELD(i) = round(10 x (0.378 ln 2 + 1.120 ln 1.2 + 0.643)) = round(10 x 1.109208) = 11: not above 11.
    assert value(MELD, bilirubin=2, inr=1.2, creatinine=1, dialysis=False) == 11
    assert value(MELD_NA, bilirubin=2, inr=1.2, creatinine=1, dialysis=False, sodium=125) == 11


# ------------------------------------------------------------------ MELD 3.0
MELD3 = "meld3(bilirubin, inr, creatinine, dialysis, sodium, albumin, female)"


def test_meld3_worked_example():
    # NO PUBLISHED WORKED EXAMPLE FOUND: searched for one in Kim et al., Gastroenterology
    # 2021 (the stored author manuscript, PMC8608337, shows the equation, no patient example)
    # and in OPTN MELD 3.0 material; found only calculator pages, some with wrong formulas
    # (cal11.calculator.city). Worked by hand from the MELD 3.0 equation of Kim et al. 2021,
    # for a woman with bilirubin 2.0, INR 1.5,
    # creatinine 1.2 mg/dL, sodium 130 mmol/L, albumin 3.0 g/dL:
    # 1.33 + 4.56 ln 2 (3.160798) + 0.82 x 7 (5.74) - 0.24 x 7 x ln 2 (1.164494)
    # + 9.09 ln 1.5 (3.685682) + 11.14 ln 1.2 (2.031059) + 1.85 x 0.5 (0.925)
    # - 1.83 x 0.5 x ln 1.2 (0.166824) + 6 = 21.541221 -> 22.
    data = dict(bilirubin=2.0, inr=1.5, creatinine=1.2, dialysis=False, sodium=130, albumin=3.0)
    assert value(MELD3, female=True, **data) == 22
    assert value(MELD3, female=False, **data) == 20  # 21.541221 - 1.33 = 20.211221


def test_meld3_caps_creatinine_at_three_and_bounds_albumin():
    data = dict(bilirubin=2.0, inr=1.5, sodium=130, female=False)
    at_cap = value(MELD3, creatinine=3.0, dialysis=False, albumin=3.0, **data)
    assert value(MELD3, creatinine=5.0, dialysis=False, albumin=3.0, **data) == at_cap
    assert value(MELD3, creatinine=0.5, dialysis=True, albumin=3.0, **data) == at_cap
    assert value(MELD3, creatinine=1.2, dialysis=False, albumin=1.0, **data) == \
        value(MELD3, creatinine=1.2, dialysis=False, albumin=1.5, **data)
    assert value(MELD3, creatinine=1.2, dialysis=False, albumin=4.5, **data) == \
        value(MELD3, creatinine=1.2, dialysis=False, albumin=3.5, **data)


# ------------------------------------------------------------------ Child-Pugh
CHILD_PUGH = "child_pugh(bilirubin, albumin, inr, ascites, encephalopathy)"


@pytest.mark.parametrize(
    "bilirubin, albumin, inr, ascites, encephalopathy, points, grade",
    [
        # The published example of Child-Pugh is its grading table (Pugh et al., Br J Surg
        # 1973, with INR for the prothrombin time: bilirubin < 2, 2-3, > 3 mg/dL; albumin
        # > 3.5, 2.8-3.5, < 2.8 g/dL; INR < 1.7, 1.7-2.3, > 2.3; class A 5-6, B 7-9, C 10-15);
        # no published patient example was found. Hand-worked, at and around each boundary.
        (1.9, 3.6, 1.6, 1, 1, 5, 1),
        (2.0, 3.5, 1.7, 1, 1, 8, 2),  # 2 is in 2-3, 3.5 in 2.8-3.5, 1.7 in 1.7-2.3
        (3.0, 2.8, 2.3, 1, 1, 8, 2),
        (3.1, 2.7, 2.4, 1, 1, 11, 3),
        (2.5, 3.0, 1.8, 2, 1, 9, 2),  # 2 + 2 + 2 + 2 + 1
        (1.0, 4.0, 1.0, 1, 2, 6, 1),  # class A ends at 6
        (1.0, 4.0, 1.0, 2, 2, 7, 2),  # class B begins at 7
        (4.0, 2.0, 3.0, 3, 3, 15, 3),
    ],
)
def test_child_pugh_points_and_class(bilirubin, albumin, inr, ascites, encephalopathy, points, grade):
    data = dict(bilirubin=bilirubin, albumin=albumin, inr=inr, ascites=ascites, encephalopathy=encephalopathy)
    assert value(CHILD_PUGH, **data) == points
    assert value(f"child_pugh_class({CHILD_PUGH})", **data) == grade


def test_child_pugh_bilirubin_in_umol_per_litre():
    # 34.2 umol/L is 2.0 mg/dL (2 points), 51.3 umol/L is 3.0 mg/dL (2 points), 52 is above.
    expression = "child_pugh(TB, albumin, inr, ascites, encephalopathy)"
    common = dict(albumin=4.0, inr=1.0, ascites=1, encephalopathy=1)
    assert value(expression, TB=34.0, **common) == 5
    assert value(expression, TB=51.0, **common) == 6
    assert value(expression, TB=52.0, **common) == 7


# ------------------------------------------------------------------ alcoholic hepatitis
def test_maddrey_worked_example():
    # NO PUBLISHED WORKED EXAMPLE FOUND (searched for one from Maddrey 1978, Carithers 1989 or
    # a guideline; found the formula on fpnotebook.com, easycalculation.com, gastrotraining.com
    # and calculators, no patient example). Hand-worked from Carithers et al. 1989,
    # 4.6 x (patient PT - control PT) + bilirubin (mg/dL): PT 20 s, control 12 s,
    # bilirubin 10 mg/dL: 4.6 x 8 + 10 = 46.8, above the 32 that marks severe disease.
    assert value("maddrey(pt, pt_control, bilirubin)", pt=20, pt_control=12, bilirubin=10) == pytest.approx(46.8)
    assert value("maddrey(pt, pt_control, TB)", pt=20, pt_control=12, TB=171.04) == pytest.approx(46.8, abs=1e-3)


def test_lille_worked_example():
    # NO PUBLISHED WORKED EXAMPLE FOUND (searched Louvet et al. 2007 and lillemodel.com, the
    # authors' CHRU Lille calculator page, whose stored copy has no example). The example is a
    # calculator page's, not an authority's (calcbee.pages.dev, Lille Score: age 50, albumin
    # 2.5 g/dL, bilirubin 12 mg/dL on day 0 and 8 on day 7, creatinine 1.2 mg/dL, PT 25 s:
    # Lille 0.203), and agrees with the hand-worked value. (Louvet et al. 2007:
    # R = 3.19 - 0.101 x 50 + 0.147 x 25 + 0.0165 x (205.2 - 136.8) - 0 - 0.0065 x 205.2
    # - 0.0096 x 25 = 1.3698, Lille = exp(-R) / (1 + exp(-R)) = 0.2027.)
    got = value("lille(age, albumin, bilirubin, bilirubin7, creatinine, pt)",
                age=50, albumin=2.5, bilirubin=12, bilirubin7=8, creatinine=1.2, pt=25)
    assert round(got, 3) == 0.203


def test_lille_renal_insufficiency_above_1_3_mg_dl():
    expression = "lille(age, albumin, bilirubin, bilirubin7, creatinine, pt)"
    common = dict(age=50, albumin=2.5, bilirubin=12, bilirubin7=8, pt=25)
    at = value(expression, creatinine=1.3, **common)
    above = value(expression, creatinine=1.31, **common)
    assert at == pytest.approx(value(expression, creatinine=1.2, **common))
    assert above > at  # 0.206 less in R: a higher Lille


# ------------------------------------------------------------------ kidney function
def test_ckd_epi_2009_worked_example():
    # NO PUBLISHED WORKED EXAMPLE FOUND (searched Levey et al. 2009, NKF/kidney.org, KDIGO,
    # NIDDK). The example is an AI-written page's, not an authority's (droracle.ai, "How to
    # calculate eGFR step-by-step for a 53-year-old male with creatinine 111 umol/L":
    # 141 x 1.40^-1.209 x 0.993^53 = 65 mL/min/1.73 m2); checked by hand: 111 / 88.4 = 1.2557
    # mg/dL, / 0.9 = 1.3952, ^-1.209 = 0.6686, x 0.993^53 (0.6891) x 141 = 64.96 -> 65.
    got = value("ckd_epi_2009(creatinine_si, age, female, black)",
                creatinine_si=111, age=53, female=False, black=False)
    assert round(got) == 65


def test_ckd_epi_2009_coefficients():
    # Levey et al. 2009: a woman of 60 with creatinine 0.7 mg/dL (at kappa) is
    # 141 x 0.993^60 x 1.018 = 94.5; black, x 1.159 = 109.5.
    assert value("ckd_epi_2009(creatinine, age, female, black)", creatinine=0.7, age=60, female=True,
                 black=False) == pytest.approx(141 * 0.993 ** 60 * 1.018)
    assert value("ckd_epi_2009(creatinine, age, female, black)", creatinine=0.5, age=60, female=True,
                 black=True) == pytest.approx(141 * (0.5 / 0.7) ** -0.329 * 0.993 ** 60 * 1.018 * 1.159)


def test_ckd_epi_2021_worked_example():
    # NO PUBLISHED WORKED EXAMPLE FOUND (searched Inker et al. 2021, NKF/kidney.org "CKD-EPI
    # Creatinine Equation (2021)", NIDDK, KDIGO: the equation only). Hand-worked from the
    # equation of Inker et al. 2021: a man of 55 with creatinine 1.2 mg/dL:
    # 142 x (1.2 / 0.9)^-1.200 x 0.9938^55 = 142 x 0.707969 x 0.710539 = 71.42 -> 71.
    got = value("ckd_epi_2021(creatinine, age, female)", creatinine=1.2, age=55, female=False)
    assert round(got, 2) == 71.42
    # A woman of 50 at kappa (0.7 mg/dL): 142 x 0.9938^50 x 1.012 = 105.3.
    assert value("ckd_epi_2021(creatinine, age, female)", creatinine=0.7, age=50, female=True) == \
        pytest.approx(142 * 0.9938 ** 50 * 1.012)


def test_cockcroft_gault_worked_examples():
    # NO PUBLISHED WORKED EXAMPLE FOUND (searched Cockcroft & Gault 1976 and drug-dosing
    # references). The examples are a calculator page's, not an authority's, and are checked
    # by hand below (superglobalcalculator.com, Creatinine Clearance Formula (Cockcroft-Gault)):
    # male, 65 years, 70 kg, 1.4 mg/dL: 75 x 70 / 100.8 = 52.1 mL/min;
    # female, 45 years, 60 kg, 0.9 mg/dL: 5700 / 64.8 x 0.85 = 74.8 mL/min.
    expression = "cockcroft_gault(age, weight, creatinine, female)"
    assert round(value(expression, age=65, weight=70, creatinine=1.4, female=False), 1) == 52.1
    assert round(value(expression, age=45, weight=60, creatinine=0.9, female=True), 1) == 74.8


# ------------------------------------------------------------------ body size
def test_bmi_worked_example():
    # The definition is WHO's (TRS 894, 2000): BMI = weight / height^2; no published worked
    # example was looked for beyond it. Hand-worked: 70 kg at 1.75 m is 70 / 3.0625 = 22.86 kg/m2.
    assert round(value("bmi(weight, height)", weight=70, height=175), 2) == 22.86
    assert reason("bmi(weight, height) >= 25 kg/m2", weight=70, height=175) == \
        "bmi(weight, height) 22.8571428571 kg/m2 < 25 kg/m2"


def test_bsa_worked_examples():
    # NO PUBLISHED WORKED EXAMPLE FOUND (searched for one with Mosteller 1987; found calculator
    # pages only). The examples are calculator pages', checked by hand: sqrt(175 x 70 / 3600)
    # = sqrt(3.402778) = 1.8447 (1001ferramentas.com: 1.84 m2); sqrt(170 x 70 / 3600)
    # = sqrt(3.305556) = 1.8181 (medicalequations.com: about 1.818 m2).
    assert round(value("bsa(weight, height)", weight=70, height=175), 2) == 1.84
    assert round(value("bsa(weight, height)", weight=70, height=170), 3) == 1.818


# ------------------------------------------------------------------ every backend
def test_scores_agree_on_every_backend():
    """The library is plain IR: the generated Python, SQL and the interpreter give the same values."""
    duckdb = pytest.importorskip("duckdb")
    pa = pytest.importorskip("pyarrow")
    text = f"import scores\n{INPUTS}\n" + "\n".join(
        f"inclusion S{i}: {expression} > {threshold}"
        for i, (expression, threshold) in enumerate([
            (MELD, 20), (MELD_NA, 25), (MELD3, 21),
            ("ckd_epi_2021(creatinine, age, female)", "60 mL/min/1.73m2"),
            ("cockcroft_gault(age, weight, creatinine, female)", "60 mL/min"),
            ("bmi(weight, height)", "25 kg/m2"), ("bsa(weight, height)", "1.8 m2"),
            ("lille(age, albumin, bilirubin, bilirubin7, creatinine, pt)", 0.45),
        ])
    )
    protocol = protocol_dsl.loads(text)
    patients = [
        dict(bilirubin=4.0, bilirubin7=3.0, inr=1.8, creatinine=1.9, dialysis=False, sodium=128, albumin=3.0,
             female=True, age=50, weight=70, height=175, pt=20),
        dict(bilirubin=0.5, bilirubin7=0.4, inr=1.0, creatinine=0.7, dialysis=True, sodium=140, albumin=4.0,
             female=False, age=30, weight=90, height=180, pt=12),
    ]
    from protocol_dsl.backends.interpreter import interpreter_functions
    from protocol_dsl.data import prepare

    reference = interpreter_functions(protocol.program)
    columns = {name: [p.get(name) for p in patients] for name in protocol.inputs}
    table = pa.table({"_row": list(range(len(patients))), **{
        name: pa.array(values, type=pa.bool_() if name in ("dialysis", "female", "black") else pa.float64())
        for name, values in columns.items()}})
    connection = duckdb.connect()
    connection.register("patients", table)
    rows = connection.execute(protocol.to_sql("duckdb")).fetchall()
    for patient, row in zip(patients, rows):
        values, _ = prepare(protocol.inputs, patient)
        expected = [fn(values) for fn in reference]
        assert [protocol.evaluate(patient).criteria[c.id].value for c in protocol.program.criteria] == expected
        assert list(row[2:-1]) == expected


# ------------------------------------------------------------------ independent implementations
# No worked example (inputs and result) published by an authoritative source -- the
# original papers, OPTN/UNOS, NKF/KDIGO, a guideline or a peer-reviewed article -- could be
# found for any score of the library in the search of 2026-12-02 (see each worked-example
# test above for what was searched). So each score is also checked against an independent
# implementation of its published equation, written here in plain Python from the
# coefficients of the cited paper, over a grid of inputs that crosses every floor, cap and
# branch. `test_every_plausible_wrong_formula_fails_the_grid` then shows that the grid
# catches a swapped or changed coefficient, a missing floor or cap, or a wrong branch.

from itertools import product  # noqa: E402
from math import exp, floor, log, sqrt  # noqa: E402

MG_DL_BILIRUBIN_IN_UMOL_L = 10_000 / 584.66  # 17.10 umol/L per mg/dL, at the molar mass the library declares
MG_DL_CREATININE_IN_UMOL_L = 10_000 / 113.12  # 88.40 umol/L per mg/dL


def _round(x: float) -> int:
    """A whole number, halves up (every score here is positive)."""
    return floor(x + 0.5)


def ref_meld(bilirubin, inr, creatinine, dialysis, *, c_cr=0.957, c_bili=0.378, c_inr=1.120, const=0.643,
             floor_at_one=True, cr_cap=4.0, dialysis_rule=True, cap=40, rounded=True):
    """Kamath et al., Hepatology 2001;33:464-470, with the UNOS rules (OPTN Policy 9.1):
    10 x (0.957 ln Cr + 0.378 ln bilirubin + 1.120 ln INR + 0.643); values below 1.0 are 1.0,
    creatinine above 4.0 is 4.0, 4.0 with dialysis twice in the past week; rounded; at most 40."""
    if floor_at_one:
        bilirubin, inr, creatinine = max(bilirubin, 1.0), max(inr, 1.0), max(creatinine, 1.0)
    if cr_cap is not None:
        creatinine = min(creatinine, cr_cap)
    if dialysis and dialysis_rule:
        creatinine = 4.0
    score = 10 * (c_cr * log(creatinine) + c_bili * log(bilirubin) + c_inr * log(inr) + const)
    score = _round(score) if rounded else score
    return min(score, cap) if cap is not None else score


def ref_meld_na(bilirubin, inr, creatinine, dialysis, sodium, *, na_low=125, na_high=137, c_na=1.32,
                c_inter=0.033, threshold=11, strict=True, round_meld_i=True, cap=40):
    """OPTN Policy 9.1 (2016), after Kim WR et al., N Engl J Med 2008;359:1018-1026:
    MELD(i) as above; if MELD(i) > 11, MELD(i) + 1.32 x (137 - Na) - 0.033 x MELD(i) x (137 - Na),
    Na bounded to 125..137; rounded; at most 40."""
    meld_i = ref_meld(bilirubin, inr, creatinine, dialysis, cap=None, rounded=round_meld_i)
    na = min(max(sodium, na_low), na_high)
    if meld_i > threshold if strict else meld_i >= threshold:
        meld_i = meld_i + c_na * (137 - na) - c_inter * meld_i * (137 - na)
    return min(_round(meld_i), cap) if cap is not None else _round(meld_i)


def ref_meld3(bilirubin, inr, creatinine, dialysis, sodium, albumin, female, *, c=None, cr_cap=3.0,
              alb_low=1.5, alb_high=3.5, na_low=125, na_high=137, cap=40):
    """Kim WR et al., Gastroenterology 2021;161:1887-1895 (MELD 3.0):
    1.33 (female) + 4.56 ln bili + 0.82 (137 - Na) - 0.24 (137 - Na) ln bili + 9.09 ln INR
    + 11.14 ln Cr + 1.85 (3.5 - alb) - 1.83 (3.5 - alb) ln Cr + 6; bilirubin, INR and creatinine
    at least 1.0, creatinine at most 3.0 (3.0 with dialysis), Na 125..137, albumin 1.5..3.5 g/dL;
    rounded; at most 40."""
    k = dict(female=1.33, bili=4.56, na=0.82, na_bili=0.24, inr=9.09, cr=11.14, alb=1.85, alb_cr=1.83, const=6)
    k.update(c or {})
    b, i = max(bilirubin, 1.0), max(inr, 1.0)
    cr = cr_cap if dialysis else min(max(creatinine, 1.0), cr_cap)
    na = min(max(sodium, na_low), na_high)
    alb = min(max(albumin, alb_low), alb_high)
    score = (k["female"] * (1 if female else 0) + k["bili"] * log(b) + k["na"] * (137 - na)
             - k["na_bili"] * (137 - na) * log(b) + k["inr"] * log(i) + k["cr"] * log(cr)
             + k["alb"] * (3.5 - alb) - k["alb_cr"] * (3.5 - alb) * log(cr) + k["const"])
    return min(_round(score), cap) if cap is not None else _round(score)


def ref_child_pugh(bilirubin, albumin, inr, ascites, encephalopathy, *, bili_cuts=(2, 3), alb_cuts=(3.5, 2.8),
                   inr_cuts=(1.7, 2.3)):
    """Pugh RNH et al., Br J Surg 1973;60:646-649: bilirubin < 2, 2-3, > 3 mg/dL; albumin > 3.5,
    2.8-3.5, < 2.8 g/dL; INR < 1.7, 1.7-2.3, > 2.3; plus the ascites and encephalopathy points."""
    b = 1 if bilirubin < bili_cuts[0] else 2 if bilirubin <= bili_cuts[1] else 3
    a = 1 if albumin > alb_cuts[0] else 2 if albumin >= alb_cuts[1] else 3
    i = 1 if inr < inr_cuts[0] else 2 if inr <= inr_cuts[1] else 3
    return b + a + i + ascites + encephalopathy


def ref_child_pugh_class(points, *, a_max=6, b_max=9):
    return 1 if points <= a_max else 2 if points <= b_max else 3


def ref_maddrey(pt, pt_control, bilirubin, *, k=4.6):
    """Carithers RL et al., Ann Intern Med 1989;110:685-690: 4.6 x (PT - control PT) + bilirubin (mg/dL)."""
    return k * (pt - pt_control) + bilirubin


def ref_lille(age, albumin_g_dl, bili0_mg_dl, bili7_mg_dl, creatinine, pt, *, c=None, renal_cut=1.3):
    """Louvet A et al., Hepatology 2007;45:1348-1354: R = 3.19 - 0.101 age + 0.147 albumin (g/L)
    + 0.0165 (bili0 - bili7, umol/L) - 0.206 (creatinine > 1.3 mg/dL) - 0.0065 bili0 (umol/L)
    - 0.0096 PT (s); Lille = exp(-R) / (1 + exp(-R))."""
    k = dict(const=3.19, age=0.101, alb=0.147, delta=0.0165, renal=0.206, bili=0.0065, pt=0.0096)
    k.update(c or {})
    bili0, bili7 = bili0_mg_dl * MG_DL_BILIRUBIN_IN_UMOL_L, bili7_mg_dl * MG_DL_BILIRUBIN_IN_UMOL_L
    r = (k["const"] - k["age"] * age + k["alb"] * albumin_g_dl * 10 + k["delta"] * (bili0 - bili7)
         - k["renal"] * (1 if creatinine > renal_cut else 0) - k["bili"] * bili0 - k["pt"] * pt)
    return exp(-r) / (1 + exp(-r))


def ref_ckd_epi_2009(creatinine, age, female, black, *, c=None):
    """Levey AS et al., Ann Intern Med 2009;150:604-612: 141 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.209
    x 0.993^age x 1.018 (female) x 1.159 (black); k 0.7 / 0.9, a -0.329 / -0.411."""
    k = dict(const=141, kf=0.7, km=0.9, af=-0.329, am=-0.411, high=-1.209, age=0.993, female=1.018, black=1.159)
    k.update(c or {})
    kappa, alpha = (k["kf"], k["af"]) if female else (k["km"], k["am"])
    ratio = creatinine / kappa
    return (k["const"] * min(ratio, 1) ** alpha * max(ratio, 1) ** k["high"] * k["age"] ** age
            * (k["female"] if female else 1) * (k["black"] if black else 1))


def ref_ckd_epi_2021(creatinine, age, female, *, c=None):
    """Inker LA et al., N Engl J Med 2021;385:1737-1749 (and NKF, kidney.org "CKD-EPI Creatinine
    Equation (2021)"): 142 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.200 x 0.9938^age x 1.012 (female);
    k 0.7 / 0.9, a -0.241 / -0.302."""
    k = dict(const=142, kf=0.7, km=0.9, af=-0.241, am=-0.302, high=-1.200, age=0.9938, female=1.012)
    k.update(c or {})
    kappa, alpha = (k["kf"], k["af"]) if female else (k["km"], k["am"])
    ratio = creatinine / kappa
    return k["const"] * min(ratio, 1) ** alpha * max(ratio, 1) ** k["high"] * k["age"] ** age * (
        k["female"] if female else 1)


def ref_cockcroft_gault(age, weight, creatinine, female, *, k=72, female_factor=0.85):
    """Cockcroft DW, Gault MH, Nephron 1976;16:31-41: (140 - age) x weight / (72 x Scr), x 0.85 female."""
    return (140 - age) * weight / (k * creatinine) * (female_factor if female else 1)


def ref_bmi(weight, height_cm):
    return weight / (height_cm / 100) ** 2


def ref_bsa(weight, height_cm, *, k=3600):
    """Mosteller RD, N Engl J Med 1987;317:1098: sqrt(height (cm) x weight (kg) / 3600)."""
    return sqrt(height_cm * weight / k)


def _grid(**axes):
    names = list(axes)
    return [dict(zip(names, values)) for values in product(*axes.values())]


def _library_values(expression: str, rows: list[dict]) -> list:
    """The library's value of `expression` for each row, through the whole pipeline (one load)."""
    text = f"import scores\n{INPUTS}\ndefine value = {expression}\ninclusion I1: known(value) or true\n" \
           f"inclusion I2: value = value\n"
    protocol = protocol_dsl.loads(text)
    return [protocol.evaluate(row).criteria["I2"].trace.children[0].value for row in rows]


BILIRUBINS = [0.4, 1.0, 1.9, 2.0, 3.0, 4.0, 12.0, 35.0]
INRS = [0.8, 1.0, 1.3, 1.8, 2.3, 3.5]
CREATININES = [0.5, 1.0, 1.2, 1.9, 2.9, 3.0, 3.5, 4.0, 6.0]

GRIDS = {
    "meld": (MELD, _grid(bilirubin=BILIRUBINS, inr=INRS, creatinine=CREATININES, dialysis=[False, True]),
             lambda r, **k: ref_meld(r["bilirubin"], r["inr"], r["creatinine"], r["dialysis"], **k)),
    "meld_na": (MELD_NA, _grid(bilirubin=[0.4, 2.0, 4.0, 12.0, 35.0], inr=[1.0, 1.2, 1.8, 3.5],
                               creatinine=[0.5, 1.0, 1.9, 6.0], dialysis=[False, True],
                               sodium=[118, 125, 128, 133, 137, 139, 145]),
                lambda r, **k: ref_meld_na(r["bilirubin"], r["inr"], r["creatinine"], r["dialysis"], r["sodium"],
                                           **k)),
    "meld3": (MELD3, _grid(bilirubin=[0.4, 2.0, 6.0, 30.0], inr=[0.9, 1.5, 3.0], creatinine=[0.5, 1.2, 2.5, 4.5],
                           dialysis=[False, True], sodium=[120, 130, 137, 142], albumin=[1.0, 2.5, 3.5, 4.5],
                           female=[False, True]),
              lambda r, **k: ref_meld3(r["bilirubin"], r["inr"], r["creatinine"], r["dialysis"], r["sodium"],
                                       r["albumin"], r["female"], **k)),
    "child_pugh": (CHILD_PUGH, _grid(bilirubin=[1.0, 1.99, 2.0, 3.0, 3.01, 6.0], albumin=[4.0, 3.51, 3.5, 2.8, 2.79],
                                     inr=[1.0, 1.69, 1.7, 2.3, 2.31], ascites=[1, 2, 3], encephalopathy=[1, 3]),
                   lambda r, **k: ref_child_pugh(r["bilirubin"], r["albumin"], r["inr"], r["ascites"],
                                                 r["encephalopathy"], **k)),
    "child_pugh_class": ("child_pugh_class(inr)",  # a plain number: every score from 5 to 15 points
                         _grid(inr=list(range(5, 16))),
                         lambda r, **k: ref_child_pugh_class(r["inr"], **k)),
    "maddrey": ("maddrey(pt, pt_control, bilirubin)",
                _grid(pt=[11.0, 14.5, 20.0, 31.0], pt_control=[10.0, 12.0, 13.5], bilirubin=[0.8, 4.0, 10.0, 25.0]),
                lambda r, **k: ref_maddrey(r["pt"], r["pt_control"], r["bilirubin"], **k)),
    "lille": ("lille(age, albumin, bilirubin, bilirubin7, creatinine, pt)",
              _grid(age=[30, 50, 70], albumin=[2.0, 3.0], bilirubin=[5.0, 12.0, 25.0], bilirubin7=[3.0, 14.0],
                    creatinine=[0.8, 1.3, 1.31, 2.5], pt=[15, 25]),
              lambda r, **k: ref_lille(r["age"], r["albumin"], r["bilirubin"], r["bilirubin7"], r["creatinine"],
                                       r["pt"], **k)),
    "ckd_epi_2009": ("ckd_epi_2009(creatinine, age, female, black)",
                     _grid(creatinine=[0.4, 0.6, 0.7, 0.8, 0.9, 1.2, 2.5, 6.0], age=[20, 45, 80],
                           female=[False, True], black=[False, True]),
                     lambda r, **k: ref_ckd_epi_2009(r["creatinine"], r["age"], r["female"], r["black"], **k)),
    "ckd_epi_2021": ("ckd_epi_2021(creatinine, age, female)",
                     _grid(creatinine=[0.4, 0.6, 0.7, 0.8, 0.9, 1.2, 2.5, 6.0], age=[20, 45, 80],
                           female=[False, True]),
                     lambda r, **k: ref_ckd_epi_2021(r["creatinine"], r["age"], r["female"], **k)),
    "cockcroft_gault": ("cockcroft_gault(age, weight, creatinine, female)",
                        _grid(age=[25, 65, 90], weight=[50, 70, 110], creatinine=[0.6, 1.4, 3.0], female=[False, True]),
                        lambda r, **k: ref_cockcroft_gault(r["age"], r["weight"], r["creatinine"], r["female"], **k)),
    "bmi": ("bmi(weight, height)", _grid(weight=[45, 70, 130], height=[150, 175, 195]),
            lambda r, **k: ref_bmi(r["weight"], r["height"], **k)),
    "bsa": ("bsa(weight, height)", _grid(weight=[3.5, 45, 70, 130], height=[50, 150, 175, 195]),
            lambda r, **k: ref_bsa(r["weight"], r["height"], **k)),
}
WHOLE_NUMBER_SCORES = {"meld", "meld_na", "meld3", "child_pugh", "child_pugh_class"}


def _agrees(name, got, expected) -> bool:
    if name in WHOLE_NUMBER_SCORES:
        return got == expected
    return got == pytest.approx(expected, rel=1e-9)


_LIBRARY_CACHE: dict = {}


def _library(name):
    if name not in _LIBRARY_CACHE:
        expression, rows, _ = GRIDS[name]
        _LIBRARY_CACHE[name] = _library_values(expression, rows)
    return _LIBRARY_CACHE[name]


@pytest.mark.parametrize("name", list(GRIDS))
def test_every_score_matches_an_independent_implementation_of_its_published_equation(name):
    _, rows, reference = GRIDS[name]
    got = _library(name)
    wrong = [(row, g, reference(row)) for row, g in zip(rows, got) if not _agrees(name, g, reference(row))]
    assert not wrong, f"{name}: {len(wrong)} of {len(rows)} grid points differ, e.g. {wrong[:3]}"


# Plausible wrong formulas: each must disagree with the library somewhere on its grid, so a
# scores.rules carrying that mistake would fail the test above.
MUTANTS = {
    "meld": [dict(c_cr=0.378, c_bili=0.957), dict(c_inr=1.2), dict(c_cr=0.975), dict(const=0.643 + 0.1),
             dict(floor_at_one=False), dict(cr_cap=None), dict(cr_cap=3.0), dict(dialysis_rule=False), dict(cap=None)],
    "meld_na": [dict(na_low=120), dict(na_high=140), dict(na_low=125, na_high=135), dict(c_na=1.59),
                dict(c_inter=0.025), dict(strict=False), dict(threshold=0, strict=False), dict(round_meld_i=False),
                dict(cap=None)],
    "meld3": [dict(c=dict(female=0)), dict(c=dict(bili=4.65)), dict(c=dict(na=0.24, na_bili=0.82)),
              dict(c=dict(inr=9.9)), dict(c=dict(cr=11.41)), dict(c=dict(alb=1.83, alb_cr=1.85)),
              dict(c=dict(const=6.43)), dict(cr_cap=4.0), dict(alb_low=1.0), dict(alb_high=4.0),
              dict(na_high=140), dict(cap=None)],
    "child_pugh": [dict(bili_cuts=(2.01, 3)), dict(bili_cuts=(2, 2.99)), dict(alb_cuts=(3.49, 2.8)),
                   dict(alb_cuts=(3.5, 2.81)), dict(inr_cuts=(1.71, 2.3)), dict(inr_cuts=(1.7, 2.29))],
    "child_pugh_class": [dict(a_max=5), dict(a_max=7), dict(b_max=10), dict(b_max=8)],
    "maddrey": [dict(k=4.0), dict(k=4.5)],
    "lille": [dict(c=dict(const=3.91)), dict(c=dict(age=0.110)), dict(c=dict(alb=1.47)), dict(c=dict(delta=0.0156)),
              dict(c=dict(renal=0)), dict(c=dict(bili=0.0056)), dict(c=dict(pt=0.0069)), dict(renal_cut=1.31)],
    "ckd_epi_2009": [dict(c=dict(const=142)), dict(c=dict(af=-0.411, am=-0.329)), dict(c=dict(kf=0.9, km=0.7)),
                     dict(c=dict(high=-1.200)), dict(c=dict(age=0.9938)), dict(c=dict(female=1.012)),
                     dict(c=dict(black=1.212))],
    "ckd_epi_2021": [dict(c=dict(const=141)), dict(c=dict(af=-0.302, am=-0.241)), dict(c=dict(kf=0.9, km=0.7)),
                     dict(c=dict(af=-0.329, am=-0.411)), dict(c=dict(high=-1.209)), dict(c=dict(age=0.993)),
                     dict(c=dict(female=1.018))],
    "cockcroft_gault": [dict(k=70), dict(female_factor=0.8), dict(female_factor=1)],
    "bmi": [],
    "bsa": [dict(k=3131)],
}


@pytest.mark.parametrize("name, mutant", [(name, m) for name, ms in MUTANTS.items() for m in ms],
                         ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={w}" for k, w in v.items()))
def test_every_plausible_wrong_formula_fails_the_grid(name, mutant):
    _, rows, reference = GRIDS[name]
    got = _library(name)
    assert any(not _agrees(name, g, reference(row, **mutant)) for row, g in zip(rows, got)), \
        f"{name}: the grid does not tell the library from the wrong formula {mutant}"
