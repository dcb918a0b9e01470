"""Reasons, verbatim: each kind of expression, true, false and unknown."""

import pytest

import protocol_dsl

RULES = """
input age: number years range 0..130
input sex: one of "female", "male"
input TB: number umol/L molar mass 584.66 g/mol
input INR: number
input PTA: number %
input ULN: number umol/L
input cr: number umol/L
input hcc: boolean
input a: boolean
input b: boolean
input c: boolean
input x: number
define big = x > 10
define lx = ln(x)
inclusion C1: TB >= 10 mg/dL
inclusion C2: 18 years <= age <= 65 years
inclusion C3: INR >= 1.5 or 20% < PTA <= 40%
inclusion C4: cr > 1.5 * ULN
inclusion C5: sex in {"female"}
inclusion C6: sex not in {"female"}
inclusion C7: at least 2 of (a, b, c)
inclusion C8: if sex = "female" then a
inclusion C9: if a then x > 1 else x < -1
inclusion C10: known(x)
inclusion C11: not hcc
inclusion C12: big
inclusion C13: lx > 1
inclusion C14: a and b
inclusion C15: sex = "female"
inclusion C16: x / (x - 2) > 1
inclusion C17: true
"""

FIRST = {"TB": 200, "age": 45, "INR": 1.2, "PTA": 55, "ULN": 1.2, "cr": 1.8, "sex": "male",
         "a": True, "b": False, "c": True, "x": 2, "hcc": False}
SECOND = {"TB": 100, "age": 70, "INR": 1.6, "ULN": 1.2, "cr": 1.9, "sex": "female", "a": False, "x": 0}
EMPTY = {}

CASES = [
    (FIRST, "C1", True, 'TB 200 umol/L >= 10 mg/dL'),
    (FIRST, "C2", True, '18 years <= age 45 years <= 65 years'),
    (FIRST, "C3", False, 'INR 1.2 < 1.5 and PTA 55 % > 40 %'),
    (FIRST, "C4", False, 'cr 1.8 umol/L <= 1.5 * ULN (1.8 umol/L)'),
    (FIRST, "C5", False, 'sex "male" is not in {"female"}'),
    (FIRST, "C6", True, 'sex "male" is not in {"female"}'),
    (FIRST, "C7", True, '2 of 3 true, at least 2 needed: a is true; c is true'),
    (FIRST, "C8", True, 'not applicable: sex "male" != "female"'),
    (FIRST, "C9", True, 'a is true, so x 2 > 1'),
    (FIRST, "C10", True, 'x is known'),
    (FIRST, "C11", True, 'hcc is false'),
    (FIRST, "C12", False, 'x 2 <= 10'),
    (FIRST, "C13", False, 'lx 0.69314718056 <= 1'),
    (FIRST, "C14", False, 'b is false'),
    (FIRST, "C15", False, 'sex "male" != "female"'),
    (FIRST, "C16", None, 'x / (x - 2) is undefined (division by zero)'),
    (FIRST, "C17", True, 'true'),
    (SECOND, "C1", False, 'TB 100 umol/L < 10 mg/dL'),
    (SECOND, "C2", False, 'age 70 years > 65 years'),
    (SECOND, "C3", True, 'INR 1.6 >= 1.5'),
    (SECOND, "C4", True, 'cr 1.9 umol/L > 1.5 * ULN (1.8 umol/L)'),
    (SECOND, "C5", True, 'sex "female" is in {"female"}'),
    (SECOND, "C6", False, 'sex "female" is in {"female"}'),
    (SECOND, "C7", None, '0 of 3 true, at least 2 needed, 2 unknown: b is missing; c is missing'),
    (SECOND, "C8", False, 'sex "female" = "female", so a is false'),
    (SECOND, "C9", False, 'a is false, so x 0 >= -1'),
    (SECOND, "C10", True, 'x is known'),
    (SECOND, "C11", None, 'hcc is missing'),
    (SECOND, "C12", False, 'x 0 <= 10'),
    (SECOND, "C13", None, 'lx is unknown: ln(x) is undefined (the logarithm of a number <= 0)'),
    (SECOND, "C14", False, 'a is false'),
    (SECOND, "C15", True, 'sex "female" = "female"'),
    (SECOND, "C16", False, 'x / (x - 2) (0) <= 1'),
    (SECOND, "C17", True, 'true'),
    (EMPTY, "C1", None, 'TB is missing'),
    (EMPTY, "C2", None, 'age is missing'),
    (EMPTY, "C3", None, 'INR is missing and PTA is missing'),
    (EMPTY, "C4", None, 'cr is missing and ULN is missing'),
    (EMPTY, "C5", None, 'sex is missing'),
    (EMPTY, "C6", None, 'sex is missing'),
    (EMPTY, "C7", None, '0 of 3 true, at least 2 needed, 3 unknown: a is missing; b is missing; c is missing'),
    (EMPTY, "C8", None, 'sex is missing; whether it applies decides the outcome'),
    (EMPTY, "C9", None, 'a is missing; whether it applies decides the outcome'),
    (EMPTY, "C10", False, 'x is missing'),
    (EMPTY, "C11", None, 'hcc is missing'),
    (EMPTY, "C12", None, 'x is missing'),
    (EMPTY, "C13", None, 'lx is unknown: x is missing'),
    (EMPTY, "C14", None, 'a is missing and b is missing'),
    (EMPTY, "C15", None, 'sex is missing'),
    (EMPTY, "C16", None, 'x is missing'),
    (EMPTY, "C17", True, 'true'),
]


@pytest.fixture(scope="module")
def protocol():
    return protocol_dsl.loads(RULES)


@pytest.mark.parametrize("data, criterion, value, reason", CASES)
def test_reason(protocol, data, criterion, value, reason):
    result = protocol.evaluate(data).criteria[criterion]
    assert (result.value, result.reason) == (value, reason)


def test_an_if_inside_a_larger_expression_is_not_called_not_applicable():
    protocol = protocol_dsl.loads(
        "input b: boolean\ninput d: boolean\ndefine z = if b then d\n"
        "inclusion I1: if (if b then d) then d else false\ninclusion I2: z\n"
    )
    result = protocol.evaluate({"b": False, "d": False})
    assert result.criteria["I1"].reason == "b is false, so (if b then d) is true, so d is false"
    assert result.criteria["I2"].reason == "not applicable: b is false"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({}, "0 months >= 0 years and age is missing"),
        ({"age": 70}, "age 70 years > 780 months"),
        ({"age": 40}, "18 years <= age 40 years <= 780 months"),
    ],
)
def test_a_chain_with_literals_in_other_units_shows_each_operand_once(data, reason):
    protocol = protocol_dsl.loads(
        "input age: number years range 0..130\n"
        "inclusion I1: 0 years < age < 0 months < 0 years or 18 years <= age <= 780 months\n"
    )
    assert protocol.evaluate(data).criteria["I1"].reason.endswith(reason)
