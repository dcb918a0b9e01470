"""The score library (`import scores`): each score's worked example, its boundaries and its units.

Each worked example cites where it comes from. Where no published worked example with
its inputs and result could be found, the expected value is worked out in the comment
from the published equation, step by step, so that a wrong coefficient or a wrong
order of operations fails the test.
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
    # The UNOS equation, 10 x (0.957 ln(1.9) + 0.378 ln(4.0) + 1.120 ln(1.8) + 0.643):
    # 0.957 x 0.641854 = 0.614254; 0.378 x 1.386294 = 0.524019; 1.120 x 0.587787 = 0.658321;
    # sum + 0.643 = 2.439594; x 10 = 24.396 -> 24. (The patient of the example in
    # tools.gera.services/meld-score: creatinine 1.9, bilirubin 4.0, INR 1.8.)
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
    # OPTN policy 9.1 (2016): MELD(i) = round(10 x 2.439594) = 24 (the MELD example above);
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
    # Kim et al. 2021, the MELD 3.0 equation, for a woman with bilirubin 2.0, INR 1.5,
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
        # The thresholds of the Child-Pugh table (e.g. Cleveland Clinic J Med, Table 1:
        # bilirubin < 2, 2-3, > 3 mg/dL; albumin > 3.5, 2.8-3.5, < 2.8 g/dL; INR < 1.7,
        # 1.7-2.3, > 2.3), at and around each boundary.
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
    # 4.6 x (patient PT - control PT) + bilirubin (mg/dL), as in the Maddrey/Carithers
    # formula (e.g. fpnotebook.com, Maddrey Discriminant Function): PT 20 s, control 12 s,
    # bilirubin 10 mg/dL: 4.6 x 8 + 10 = 46.8, above the 32 that marks severe disease.
    assert value("maddrey(pt, pt_control, bilirubin)", pt=20, pt_control=12, bilirubin=10) == pytest.approx(46.8)
    assert value("maddrey(pt, pt_control, TB)", pt=20, pt_control=12, TB=171.04) == pytest.approx(46.8, abs=1e-3)


def test_lille_worked_example():
    # calcbee.pages.dev, Lille Score: age 50, albumin 2.5 g/dL, bilirubin 12 mg/dL on day 0
    # and 8 on day 7, creatinine 1.2 mg/dL, PT 25 s: Lille 0.203. (Louvet et al. 2007:
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
    # droracle.ai, "How to calculate eGFR step-by-step for a 53-year-old male with
    # creatinine 111 umol/L": 141 x 1.40^-1.209 x 0.993^53 = 65 mL/min/1.73 m2.
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
    # Inker et al. 2021: a man of 55 with creatinine 1.2 mg/dL:
    # 142 x (1.2 / 0.9)^-1.200 x 0.9938^55 = 142 x 0.707969 x 0.710539 = 71.42 -> 71.
    got = value("ckd_epi_2021(creatinine, age, female)", creatinine=1.2, age=55, female=False)
    assert round(got, 2) == 71.42
    # A woman of 50 at kappa (0.7 mg/dL): 142 x 0.9938^50 x 1.012 = 105.3.
    assert value("ckd_epi_2021(creatinine, age, female)", creatinine=0.7, age=50, female=True) == \
        pytest.approx(142 * 0.9938 ** 50 * 1.012)


def test_cockcroft_gault_worked_examples():
    # superglobalcalculator.com, Creatinine Clearance Formula (Cockcroft-Gault):
    # male, 65 years, 70 kg, 1.4 mg/dL: 75 x 70 / 100.8 = 52.1 mL/min;
    # female, 45 years, 60 kg, 0.9 mg/dL: 5700 / 64.8 x 0.85 = 74.8 mL/min.
    expression = "cockcroft_gault(age, weight, creatinine, female)"
    assert round(value(expression, age=65, weight=70, creatinine=1.4, female=False), 1) == 52.1
    assert round(value(expression, age=45, weight=60, creatinine=0.9, female=True), 1) == 74.8


# ------------------------------------------------------------------ body size
def test_bmi_worked_example():
    # WHO: BMI = weight / height^2; 70 kg at 1.75 m is 22.86 kg/m2.
    assert round(value("bmi(weight, height)", weight=70, height=175), 2) == 22.86
    assert reason("bmi(weight, height) >= 25 kg/m2", weight=70, height=175) == \
        "bmi(weight, height) 22.8571428571 kg/m2 < 25 kg/m2"


def test_bsa_worked_examples():
    # 1001ferramentas.com (Body Surface Area, Mosteller): 175 cm, 70 kg is 1.84 m2;
    # medicalequations.com (Body Surface Area): 170 cm, 70 kg is about 1.818 m2.
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
