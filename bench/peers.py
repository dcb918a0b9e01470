"""Five criteria of the seed protocol as one expression, per patient, in every engine.

    18 <= age <= 65 and HBsAg = "positive" and (TB >= 171 or TB_rise >= 17.1)
    and (INR >= 1.5 or 20 < PTA <= 40) and 17 <= MELD <= 30

with the UNOS MELD of the seed file computed inline: bilirubin (µmol/L × 584.66/10000)
and creatinine (µmol/L × 113.12/10000) in mg/dL floored at 1, creatinine capped at 4
and 4 when dialysed, INR floored at 1, round(10 × (0.957 ln Cr + 0.378 ln bili +
1.120 ln INR + 0.643)) capped at 40. Every engine gets the expression in its own syntax
and must agree with the hand-written lambda on every patient before anything is timed.

Run alone: `python bench/peers.py` (prints the table).
"""

from __future__ import annotations

import math
from math import floor, log

from common import PATIENTS, REPEATS, patients, time_per_item

import protocol_dsl

INPUTS = ["age", "HBsAg", "TB", "TB_rise", "INR", "PTA", "creatinine", "dialysis"]


# ---------------------------------------------------------------- the floor
def hand_lambda():
    return lambda p: (
        18 <= p["age"] <= 65
        and p["HBsAg"] == "positive"
        and (p["TB"] >= 171 or p["TB_rise"] >= 17.1)
        and (p["INR"] >= 1.5 or 20 < p["PTA"] <= 40)
        and 17 <= min(floor(10 * (
            0.957 * log(4.0 if p["dialysis"] else min(max(p["creatinine"] * 113.12 / 10000, 1.0), 4.0))
            + 0.378 * log(max(p["TB"] * 584.66 / 10000, 1.0))
            + 1.120 * log(max(p["INR"], 1.0))
            + 0.643) + 0.5), 40) <= 30
    )


def _meld(p):
    creatinine = 4.0 if p["dialysis"] else min(max(p["creatinine"] * 113.12 / 10000, 1.0), 4.0)
    score = 10 * (0.957 * log(creatinine) + 0.378 * log(max(p["TB"] * 584.66 / 10000, 1.0))
                  + 1.120 * log(max(p["INR"], 1.0)) + 0.643)
    return min(floor(score + 0.5), 40)


def hand_every_criterion(p):
    """Each criterion's value computed, as a per-criterion outcome needs (no short cut)."""
    values = (
        18 <= p["age"] <= 65,
        p["HBsAg"] == "positive",
        p["TB"] >= 171 or p["TB_rise"] >= 17.1,
        p["INR"] >= 1.5 or 20 < p["PTA"] <= 40,
        17 <= _meld(p) <= 30,
    )
    return all(values), values


def hand_reasons(p):
    """Each criterion's value with a one-line reason, as a person would write it."""
    meld = _meld(p)
    return [
        (18 <= p["age"] <= 65, f"age {p['age']} years"),
        (p["HBsAg"] == "positive", f"HBsAg {p['HBsAg']}"),
        (p["TB"] >= 171 or p["TB_rise"] >= 17.1, f"TB {p['TB']} umol/L, rise {p['TB_rise']} umol/L/d"),
        (p["INR"] >= 1.5 or 20 < p["PTA"] <= 40, f"INR {p['INR']}, PTA {p['PTA']} %"),
        (17 <= meld <= 30, f"MELD {meld}"),
    ]


# Python's own syntax, for `eval` of a compiled code object and for simpleeval.
PYTHON_TEXT = (
    '18 <= age <= 65 and HBsAg == "positive" and (TB >= 171 or TB_rise >= 17.1)'
    " and (INR >= 1.5 or 20 < PTA <= 40)"
    " and 17 <= min(floor(10 * (0.957 * log(4.0 if dialysis else min(max(creatinine * 113.12 / 10000, 1.0), 4.0))"
    " + 0.378 * log(max(TB * 584.66 / 10000, 1.0)) + 1.120 * log(max(INR, 1.0)) + 0.643) + 0.5), 40) <= 30"
)
PYTHON_FUNCTIONS = {"log": math.log, "floor": math.floor, "min": min, "max": max}


def python_eval():
    code = compile(PYTHON_TEXT, "<five criteria>", "eval")
    namespace = {"__builtins__": {}, **PYTHON_FUNCTIONS}
    return lambda p: eval(code, namespace, p)  # noqa: S307 - our own constant text


def simpleeval_engine():
    from simpleeval import SimpleEval

    evaluator = SimpleEval(functions=PYTHON_FUNCTIONS)
    parsed = evaluator.parse(PYTHON_TEXT)

    def evaluate(p):
        evaluator.names = p
        return evaluator.eval(PYTHON_TEXT, previously_parsed=parsed)

    return evaluate


# rule-engine has no chained comparison and no binding of a sub-expression, so
# 17 <= MELD <= 30 is written |MELD - 23.5| <= 6.5 (the same set of numbers, MELD
# computed once). It has $min/$max (over arrays), $abs and `.floor`; no logarithm: a
# builtin $ln is registered. Its numbers are Decimals.
RULE_ENGINE_TEXT = (
    'age >= 18 and age <= 65 and HBsAg == "positive" and (TB >= 171 or TB_rise >= 17.1)'
    " and (INR >= 1.5 or (PTA > 20 and PTA <= 40))"
    " and $abs($min([(10 * (0.957 * $ln(dialysis ? 4.0 : $min([$max([creatinine * 113.12 / 10000, 1.0]), 4.0]))"
    " + 0.378 * $ln($max([TB * 584.66 / 10000, 1.0])) + 1.120 * $ln($max([INR, 1.0])) + 0.643) + 0.5).floor, 40])"
    " - 23.5) <= 6.5"
)


def rule_engine_engine():
    import rule_engine
    from rule_engine import builtins, types

    context = rule_engine.Context()
    context.builtins = builtins.Builtins.from_defaults(
        values={"ln": lambda x: x.ln()},
        value_types={"ln": types.DataType.FUNCTION("ln", return_type=types.DataType.FLOAT,
                                                  argument_types=(types.DataType.FLOAT,))},
    )
    rule = rule_engine.Rule(RULE_ENGINE_TEXT, context=context)
    return rule.matches


# CEL (the Rust implementation): &&, ||, ?: and int() are native; no min/max/round/ln
# natively. min/max are conditionals, round is int(x + 0.5) (the score is positive), a
# value used twice is bound once with the `[x].all(name, ...)` macro, and `ln` is a
# Python function registered in the context.
CEL_TEXT = """
age >= 18 && age <= 65
&& HBsAg == "positive"
&& (TB >= 171.0 || TB_rise >= 17.1)
&& (INR >= 1.5 || (PTA > 20 && PTA <= 40))
&& [dialysis ? 4.0 : double(creatinine) * 113.12 / 10000.0].all(cr,
     [TB * 584.66 / 10000.0].all(bili,
       [int(10.0 * (0.957 * ln(cr < 1.0 ? 1.0 : (cr > 4.0 ? 4.0 : cr))
                    + 0.378 * ln(bili < 1.0 ? 1.0 : bili)
                    + 1.120 * ln(INR < 1.0 ? 1.0 : INR)
                    + 0.643) + 0.5)].all(score,
         [score < 40 ? score : 40].all(meld, meld >= 17 && meld <= 30))))
"""


def cel_engine():
    import cel

    program = cel.compile(CEL_TEXT)
    context = cel.Context(functions={"ln": math.log})

    def evaluate(p):
        context.update(p)
        return program.execute(context)

    return evaluate


# json-logic: min, max, +, *, the three-operand <= (between) and < are native; no
# logarithm and no rounding: operations `ln` and `floor` are registered.
def _var(name):
    return {"var": name}


JSON_LOGIC = {"and": [
    {"<=": [18, _var("age"), 65]},
    {"==": [_var("HBsAg"), "positive"]},
    {"or": [{">=": [_var("TB"), 171]}, {">=": [_var("TB_rise"), 17.1]}]},
    {"or": [{">=": [_var("INR"), 1.5]}, {"and": [{">": [_var("PTA"), 20]}, {"<=": [_var("PTA"), 40]}]}]},
    {"<=": [17, {"min": [{"floor": {"+": [0.5, {"*": [10, {"+": [
        {"*": [0.957, {"ln": {"if": [_var("dialysis"), 4.0,
                                     {"min": [{"max": [{"*": [_var("creatinine"), 113.12 / 10000]}, 1.0]}, 4.0]}]}}]},
        {"*": [0.378, {"ln": {"max": [{"*": [_var("TB"), 584.66 / 10000]}, 1.0]}}]},
        {"*": [1.120, {"ln": {"max": [_var("INR"), 1.0]}}]},
        0.643,
    ]}]}]}}, 40]}, 30]},
]}


def json_logic_engine():
    from json_logic import jsonLogic
    from json_logic.builtins import BUILTINS

    operations = {**BUILTINS, "ln": lambda data, x: math.log(x), "floor": lambda data, x: math.floor(x)}
    return lambda p: jsonLogic(JSON_LOGIC, p, operations)


# protocol-dsl: the expression in the language, MELD with its own ln/round/min/max/clamp.
# compile_expression cannot compare a free name with a text (error E201), so the
# expression reads a boolean HBsAg_positive, given as HBsAg == "positive".
DSL_TEXT = (
    "18 <= age <= 65 and HBsAg_positive and (TB >= 171 or TB_rise >= 17.1)"
    " and (INR >= 1.5 or 20 < PTA <= 40)"
    " and 17 <= min(round(10 * (0.957 * ln(if dialysis then 4 else clamp(creatinine * 113.12 / 10000, 1, 4))"
    " + 0.378 * ln(max(TB * 584.66 / 10000, 1)) + 1.120 * ln(max(INR, 1)) + 0.643)), 40) <= 30"
)

# The five criteria as a protocol, inputs declared as in the seed file (units, ranges,
# molar masses) and MELD as its definitions.
FIVE_CRITERIA_RULES = """
protocol FIVE "Five computable criteria of NCT01844063"

input age: number years range 0..130
input HBsAg: one of "positive", "negative"
input TB: number umol/L range 0..1500 molar mass 584.66 g/mol
input TB_rise: number umol/L/d range -1500..1500
input INR: number range 0.5..20
input PTA: number % range 0..200
input creatinine: number umol/L range 0..3000 molar mass 113.12 g/mol
input dialysis: boolean

define creatinine_mg_dl = if dialysis then 4 else clamp(creatinine as mg/dL, 1, 4)
define bilirubin_mg_dl = max(TB as mg/dL, 1)
define inr_floored = max(INR, 1)
define meld = min(round(10 * (0.957 * ln(creatinine_mg_dl) + 0.378 * ln(bilirubin_mg_dl)
                              + 1.120 * ln(inr_floored) + 0.643)), 40)

inclusion I1 "Aged 18-65 years": 18 years <= age <= 65 years
inclusion I5 "HBsAg positive": HBsAg = "positive"
inclusion I6 "TB >= 171 umol/L or rise >= 17.1 umol/L/d": TB >= 171 umol/L or TB_rise >= 17.1 umol/L/d
inclusion I7 "INR >= 1.5 or 20% < PTA <= 40%": INR >= 1.5 or 20% < PTA <= 40%
inclusion I8 "17 <= MELD <= 30": 17 <= meld <= 30
"""


# ---------------------------------------------------------------- the run
def run(count: int = PATIENTS, repeats: int = REPEATS) -> dict:
    cohort = [{name: p[name] for name in INPUTS} for p in patients(count)]
    dsl_cohort = [dict({k: v for k, v in p.items() if k != "HBsAg"}, HBsAg_positive=p["HBsAg"] == "positive")
                  for p in cohort]
    expression = protocol_dsl.compile_expression(DSL_TEXT)
    protocol = protocol_dsl.loads(FIVE_CRITERIA_RULES, "five.rules")
    # Validated once, outside the timing (the fast path returns (values, keys that are not inputs)).
    prepared = [protocol._prepare_fast(p)[0] for p in cohort]
    expression_values = [expression._prepare_fast(p)[0] for p in dsl_cohort]
    assert all(v is not None for v in prepared), "every patient takes the fast path"

    engines = {
        "lambda": hand_lambda(),
        "hand every": hand_every_criterion,
        "hand reasons": hand_reasons,
        "eval": python_eval(),
        "simpleeval": simpleeval_engine(),
        "rule-engine": rule_engine_engine(),
        "cel": cel_engine(),
        "json-logic": json_logic_engine(),
        "dsl expression": expression.evaluate,
        "dsl status": lambda p: protocol.evaluate(p).status,
        "dsl fast": lambda v: protocol._criteria_fast(v)[0],
        "dsl reasons": lambda p: [c.reason for c in protocol.evaluate(p).criteria.values()],
        # where protocol-dsl's time goes
        "dsl prepare": protocol._prepare_fast,
        "dsl expression value": expression._value_fast,
        "dsl expression prepare": expression._prepare_fast,
        "dsl traces": lambda p: [c.trace for c in protocol.evaluate(p).criteria.values()],
    }
    items = {name: cohort for name in engines}
    items["dsl expression"] = items["dsl expression prepare"] = dsl_cohort
    items["dsl fast"] = prepared
    items["dsl expression value"] = expression_values

    # Every engine agrees with the floor on every patient before any timing.
    floor_fn = engines["lambda"]
    eligible = reach_meld = 0
    for p, q, values in zip(cohort, dsl_cohort, prepared):
        want = floor_fn(p)
        eligible += want
        every = hand_every_criterion(p)
        reach_meld += all(every[1][:4])
        assert every[0] is want and all(value for value, _ in hand_reasons(p)) is want, p
        assert tuple(c.value for c in protocol.evaluate(p).criteria.values()) == every[1], ("dsl criteria", p)
        for name in ("eval", "simpleeval", "rule-engine", "cel", "json-logic"):
            got = engines[name](p)
            assert bool(got) is want and isinstance(got, bool), (name, p, got, want)
        assert expression.evaluate(q) is want, ("dsl expression", p)
        status = "eligible" if want else "ineligible"
        assert protocol.evaluate(p).status == status, ("dsl status", p)
        assert protocol._criteria_fast(values)[0] == status, ("dsl fast", p)
        reasons = engines["dsl reasons"](p)
        assert len(reasons) == 5 and all(isinstance(r, str) and r for r in reasons), ("dsl reasons", p)

    timings = time_per_item(engines, items, repeats)
    return {"timings": timings, "patients": count, "eligible": eligible, "reach_meld": reach_meld, "repeats": repeats,
            "example_reasons": engines["dsl reasons"](cohort[0])}


ROWS = [
    ("lambda", "hand-written Python lambda (the floor)"),
    ("hand every", "hand-written function, every criterion computed (no short cut)"),
    ("hand reasons", "hand-written function, each criterion with a one-line reason"),
    ("eval", "`eval` of a compiled code object (Python syntax)"),
    ("simpleeval", "simpleeval, pre-parsed"),
    ("rule-engine", "rule-engine `Rule.matches`"),
    ("cel", "common-expression-language (Rust CEL) `Program.execute`"),
    ("json-logic", "panzi-json-logic `jsonLogic`"),
    ("dsl expression", "protocol-dsl `compile_expression(...).evaluate(p)`"),
    ("dsl status", "protocol-dsl 5-criterion protocol `evaluate(p).status`"),
    ("dsl fast", "protocol-dsl `Protocol._criteria_fast(values)` (status only, data already validated)"),
    ("dsl reasons", "protocol-dsl `[c.reason for c in evaluate(p).criteria.values()]`"),
]


DIAGNOSTIC_ROWS = [
    ("dsl expression prepare", "`compile_expression`: checking the data (its generated `prepare_fast`)"),
    ("dsl expression value", "`compile_expression`: the value from checked data (its generated `value_fast`)"),
    ("dsl prepare", "5-criterion protocol: checking the data (`Protocol._prepare_fast`)"),
    ("dsl traces", "5-criterion protocol: `evaluate(p)` and every criterion's trace, no reason text"),
]


def table(result: dict, rows=ROWS) -> list[str]:
    timings = result["timings"]
    floor_us = timings["lambda"].median
    lines = ["| engine | µs per patient (median) | min–max of runs | × lambda |", "|---|---:|---:|---:|"]
    for key, label in rows:
        t = timings[key]
        lines.append(f"| {label} | {t.median:.2f} | {t.spread} | {t.median / floor_us:.1f} |")
    return lines


if __name__ == "__main__":
    outcome = run()
    print(f"{outcome['patients']} patients, {outcome['eligible']} meet the five criteria")
    print("\n".join(table(outcome)))
    print("\n".join(table(outcome, DIAGNOSTIC_ROWS)))
