"""The whole seed protocol (15 criteria, MELD from three laboratory values) per patient,
against the same logic written by hand in Python.

Run alone: `python bench/single_patient.py` (prints the table).
"""

from __future__ import annotations

import math

from common import PATIENTS, REPEATS, SEED_FILE, patients, time_per_item

import protocol_dsl


# --------------------------------------------------------- the hand-written floor
def _meld(p):
    creatinine = 4.0 if p["dialysis"] else min(max(p["creatinine"] * 113.12 / 10000, 1.0), 4.0)
    bilirubin = max(p["TB"] * 584.66 / 10000, 1.0)
    inr = max(p["INR"], 1.0)
    score = 10 * (0.957 * math.log(creatinine) + 0.378 * math.log(bilirubin) + 1.120 * math.log(inr) + 0.643)
    return min(math.floor(score + 0.5), 40)


def hand_criteria(p) -> dict:
    female = p["sex"] == "female"
    return {
        "I1": 18 <= p["age"] <= 65,
        "I2": p["liver_failure"],
        "I3": not (female and p["childbearing_potential"]) or p["pregnancy_test"] == "negative",
        "I4": p["consent"],
        "I5": p["HBsAg"] == "positive",
        "I6": p["TB"] >= 171 or p["TB_rise"] >= 17.1,
        "I7": p["INR"] >= 1.5 or 20 < p["PTA"] <= 40,
        "I8": 17 <= _meld(p) <= 30,
        "E1": p["hcc"] or p["other_malignancy"],
        "E2": p["severe_organ_disease"],
        "E3": female and (p["pregnant"] or p["lactating"]),
        "E4": p["severe_bacterial_infection"],
        "E5": p["followup_difficulty"],
        "E6": p["other_cause"],
        "E7": p["investigator_excludes"],
    }


def hand_status(p) -> str:
    c = hand_criteria(p)
    included = all(c[f"I{i}"] for i in range(1, 9))
    excluded = any(c[f"E{i}"] for i in range(1, 8))
    return "eligible" if included and not excluded else "ineligible"


def hand_status_short(p) -> str:
    """The floor: the status as a person writes it for speed, stopping at the first failing criterion."""
    if not 18 <= p["age"] <= 65 or not p["liver_failure"]:
        return "ineligible"
    if p["sex"] == "female" and p["childbearing_potential"] and p["pregnancy_test"] != "negative":
        return "ineligible"
    if not p["consent"] or p["HBsAg"] != "positive":
        return "ineligible"
    if not (p["TB"] >= 171 or p["TB_rise"] >= 17.1) or not (p["INR"] >= 1.5 or 20 < p["PTA"] <= 40):
        return "ineligible"
    if not 17 <= _meld(p) <= 30:
        return "ineligible"
    if p["hcc"] or p["other_malignancy"] or p["severe_organ_disease"]:
        return "ineligible"
    if p["sex"] == "female" and (p["pregnant"] or p["lactating"]):
        return "ineligible"
    if p["severe_bacterial_infection"] or p["followup_difficulty"] or p["other_cause"] or p["investigator_excludes"]:
        return "ineligible"
    return "eligible"


def hand_reasons(p) -> dict:
    """The same logic with a one-line reason per criterion, as a person would write it."""
    c = hand_criteria(p)
    meld = _meld(p)
    return {
        "status": hand_status(p),
        "criteria": {
            "I1": (c["I1"], f"age {p['age']} years"),
            "I2": (c["I2"], f"liver_failure is {p['liver_failure']}"),
            "I3": (c["I3"], f"sex {p['sex']}, pregnancy test {p['pregnancy_test']}"),
            "I4": (c["I4"], f"consent is {p['consent']}"),
            "I5": (c["I5"], f"HBsAg {p['HBsAg']}"),
            "I6": (c["I6"], f"TB {p['TB']} umol/L, rise {p['TB_rise']} umol/L/d"),
            "I7": (c["I7"], f"INR {p['INR']}, PTA {p['PTA']} %"),
            "I8": (c["I8"], f"meld {meld}"),
            "E1": (c["E1"], f"hcc {p['hcc']}, other malignancy {p['other_malignancy']}"),
            "E2": (c["E2"], f"severe_organ_disease is {p['severe_organ_disease']}"),
            "E3": (c["E3"], f"pregnant {p['pregnant']}, lactating {p['lactating']}"),
            "E4": (c["E4"], f"severe_bacterial_infection is {p['severe_bacterial_infection']}"),
            "E5": (c["E5"], f"followup_difficulty is {p['followup_difficulty']}"),
            "E6": (c["E6"], f"other_cause is {p['other_cause']}"),
            "E7": (c["E7"], f"investigator_excludes is {p['investigator_excludes']}"),
        },
    }


# --------------------------------------------------------- the run
def run(count: int = PATIENTS, repeats: int = REPEATS) -> dict:
    cohort = patients(count)
    protocol = protocol_dsl.load(SEED_FILE)

    # Every patient's 15 criterion values and status agree before anything is timed.
    for patient in cohort:
        result = protocol.evaluate(patient)
        actual = {cid: c.value for cid, c in result.criteria.items()}
        assert actual == hand_criteria(patient), (patient, actual)
        assert result.status == hand_status(patient) == hand_status_short(patient) == protocol.status(patient), patient

    functions = {
        "hand short": hand_status_short,
        "hand status": hand_status,
        "dsl status()": protocol.status,
        "hand reasons": hand_reasons,
        "dsl status": lambda p: protocol.evaluate(p).status,
        "dsl reasons": lambda p: [c.reason for c in protocol.evaluate(p).criteria.values()],
        "dsl to_dict": lambda p: protocol.evaluate(p).to_dict(),
    }
    timings = time_per_item(functions, {name: cohort for name in functions}, repeats)
    statuses = [hand_status(p) for p in cohort]
    return {"timings": timings, "patients": count, "repeats": repeats,
            "eligible": statuses.count("eligible")}


ROWS = [
    ("hand short", "hand-written function, status, stopping at the first failing criterion (the floor)", "hand short"),
    ("dsl status()", "protocol-dsl `status(p)` (stops at the first decisive criterion)", "hand short"),
    ("hand status", "hand-written function, status (every criterion computed)", "hand status"),
    ("hand reasons", "hand-written function, status and a reason per criterion", "hand reasons"),
    ("dsl status", "protocol-dsl `evaluate(p).status`", "hand status"),
    ("dsl reasons", "protocol-dsl `[c.reason for c in evaluate(p).criteria.values()]`", "hand reasons"),
    ("dsl to_dict", "protocol-dsl `evaluate(p).to_dict()` (reasons and traces)", "hand reasons"),
]


def table(result: dict) -> list[str]:
    """Status rows against the hand-written status; rows with reasons against the hand-written reasons."""
    timings = result["timings"]
    lines = ["| what | µs per patient (median) | min–max of runs | × its hand-written counterpart |",
             "|---|---:|---:|---:|"]
    for key, label, counterpart in ROWS:
        t = timings[key]
        lines.append(f"| {label} | {t.median:.2f} | {t.spread} | {t.median / timings[counterpart].median:.1f} |")
    return lines


if __name__ == "__main__":
    outcome = run()
    print(f"{outcome['patients']} patients, {outcome['eligible']} eligible")
    print("\n".join(table(outcome)))
