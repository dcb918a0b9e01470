"""Every diagnostic, verbatim: code, place, message, and the caret excerpt."""

import pytest

import protocol_dsl

# (rules text, the first diagnostic formatted exactly as `check` prints it)
CASES = {
    "unknown name with a suggestion": (
        "input age: number years\ninclusion I1: agee > 18 years",
        "f.rules:2:15: error[E101]: 'agee' is not declared (did you mean 'age'?)\n"
        "inclusion I1: agee > 18 years\n"
        "              ^^^^",
    ),
    "unknown name": (
        "input age: number years\ninclusion I1: zzz > 18 years",
        "f.rules:2:15: error[E101]: 'zzz' is not declared\n"
        "inclusion I1: zzz > 18 years\n"
        "              ^^^",
    ),
    "name declared twice": (
        "input a: number\ninput a: boolean\ninclusion I1: a > 1",
        "f.rules:2:7: error[E102]: 'a' is already declared: give this one another name\n"
        "input a: boolean\n"
        "      ^",
    ),
    "criterion id twice": (
        "input a: boolean\ninclusion I1: a\ninclusion I1: not a",
        "f.rules:3:11: error[E103]: criterion id 'I1' is already used: each criterion needs its own id\n"
        "inclusion I1: not a\n"
        "          ^^",
    ),
    "definition cycle": (
        "define a = b + 1\ndefine b = a * 2\ninclusion I1: a > 1",
        "f.rules:1:8: error[E104]: definitions refer to each other in a circle (a -> b -> a): "
        "a definition cannot depend on itself\n"
        "define a = b + 1\n"
        "       ^",
    ),
    "header not first": (
        'input a: boolean\nprotocol X "t"\ninclusion I1: a',
        "f.rules:2:1: error[E105]: the 'protocol' header must come first in the file\n"
        'protocol X "t"\n'
        "^^^^^^^^^^^^^^",
    ),
    "unknown function": (
        "input a: number\ninclusion I1: lg(a) > 1",
        "f.rules:2:15: error[E106]: there is no function 'lg'\n"
        "inclusion I1: lg(a) > 1\n"
        "              ^^",
    ),
    "function arity": (
        "input a: number\ninclusion I1: max(a) > 1",
        "f.rules:2:15: error[E106]: max() takes at least 2 arguments, but 1 given\n"
        "inclusion I1: max(a) > 1\n"
        "              ^^^",
    ),
    "known of an expression": (
        "input a: number\ninclusion I1: known(a + 1)",
        "f.rules:2:21: error[E107]: known() takes the name of an input or a definition\n"
        "inclusion I1: known(a + 1)\n"
        "                    ^^^^^",
    ),
    "and of a number": (
        "input a: number\ninput b: boolean\ninclusion I1: b and a",
        "f.rules:3:21: error[E201]: 'and' takes true/false values, but this is a plain number\n"
        "inclusion I1: b and a\n"
        "                    ^",
    ),
    "ordering a category": (
        'input sex: one of "female", "male"\ninclusion I1: sex > 5',
        "f.rules:2:15: error[E201]: '>' orders numbers, but this is a category (sex)\n"
        "inclusion I1: sex > 5\n"
        "              ^^^",
    ),
    "incompatible units": (
        "input age: number years\ninclusion I1: age > 5 mg/dL",
        "f.rules:2:21: error[E202]: a number in mg/dL cannot be compared or combined with a number in years: "
        "the dimensions differ\n"
        "inclusion I1: age > 5 mg/dL\n"
        "                    ^^^^^^^",
    ),
    "undeclared category value": (
        'input sex: one of "female", "male"\ninclusion I1: sex = "femal"',
        "f.rules:2:21: error[E203]: \"femal\" is not a value of 'sex', which is one of \"female\", \"male\" "
        '(did you mean "female"?)\n'
        'inclusion I1: sex = "femal"\n'
        "                    ^^^^^^^",
    ),
    "ln of a value with a unit": (
        "input TB: number umol/L\ninclusion I1: ln(TB) > 1",
        "f.rules:2:18: error[E204]: ln() takes a plain number, but this is a number in umol/L: "
        "use '... as UNIT' to take its number in a unit\n"
        "inclusion I1: ln(TB) > 1\n"
        "                 ^^",
    ),
    "criterion that is a number": (
        "input a: number\ninclusion I1: a + 1",
        "f.rules:2:15: error[E205]: criterion I1 must be true or false, but its expression is a plain number\n"
        "inclusion I1: a + 1\n"
        "              ^^^^^",
    ),
    "if without else giving a number": (
        "input a: number\ninput b: boolean\ninclusion I1: (if b then a) > 1",
        "f.rules:3:15: error[E205]: 'if' without 'else' is only for conditions, but 'then' gives a plain number: "
        "add an 'else'\n"
        "inclusion I1: (if b then a) > 1\n"
        "              ^^^^^^^^^^^^^",
    ),
    "unknown unit": (
        "input a: number umol/l\ninclusion I1: a > 1 umol/L",
        "f.rules:1:17: error[E301]: unknown unit 'umol/l' (did you mean 'umol/L'?)\n"
        "input a: number umol/l\n"
        "                ^^^^^^",
    ),
    "range upside down": (
        "input a: number range 5..1\ninclusion I1: a > 1",
        "f.rules:1:17: error[E302]: the range of 'a' runs from 5 down to 1: write the lower bound first\n"
        "input a: number range 5..1\n"
        "                ^^^^^^^^^^",
    ),
    "syntax: value expected": (
        "input a: number\ninclusion I1: a >= ",
        "f.rules:2:19: error[E001]: expected a value after '>=', but the text ends\n"
        "inclusion I1: a >= \n"
        "                  ^",
    ),
    "syntax: keyword where a value belongs": (
        "input a: number\ninclusion I1: a >\ninclusion I2: a < 1",
        "f.rules:3:1: error[E001]: expected a value after '>', but found 'inclusion'\n"
        "inclusion I2: a < 1\n"
        "^^^^^^^^^",
    ),
    "syntax: colon expected": (
        "input a: number\ninclusion I1 a > 1",
        "f.rules:2:14: error[E001]: expected ':' or a quoted text such as \"positive\" after 'I1', but found 'a'\n"
        "inclusion I1 a > 1\n"
        "             ^",
    ),
    "syntax: unclosed text": (
        'input a: number "Age\ninclusion I1: a > 1',
        "f.rules:1:17: error[E001]: this text is never closed: add the missing '\"' before the end of the line\n"
        'input a: number "Age\n'
        "                ^",
    ),
    "syntax: => for >=": (
        "input a: number\ninclusion I1: a => 1",
        "f.rules:2:17: error[E001]: '=>' is not a comparison: write '>='\n"
        "inclusion I1: a => 1\n"
        "                ^^",
    ),
    "syntax: =< for <=": (
        "input a: number\ninclusion I1: a =< 1",
        "f.rules:2:17: error[E001]: '=<' is not a comparison: write '<='\n"
        "inclusion I1: a =< 1\n"
        "                ^^",
    ),
    "syntax: AND in capitals": (
        "input a: number\ninput b: boolean\ninclusion I1: a > 1 AND b",
        "f.rules:3:21: error[E001]: keywords are written in lowercase: write 'and', not 'AND'\n"
        "inclusion I1: a > 1 AND b\n"
        "                    ^^^",
    ),
    "syntax: OR after a name": (
        "input a: boolean\ninput b: boolean\ninclusion I1: a OR b",
        "f.rules:3:17: error[E001]: keywords are written in lowercase: write 'or', not 'OR'\n"
        "inclusion I1: a OR b\n"
        "                ^^",
    ),
    "syntax: NOT in capitals": (
        "input a: boolean\ninclusion I1: NOT a",
        "f.rules:2:15: error[E001]: keywords are written in lowercase: write 'not', not 'NOT'\n"
        "inclusion I1: NOT a\n"
        "              ^^^",
    ),
    "syntax: &&": (
        "input a: boolean\ninput b: boolean\ninclusion I1: a && b",
        "f.rules:3:17: error[E001]: '&' is not an operator: write 'and' to join conditions\n"
        "inclusion I1: a && b\n"
        "                ^",
    ),
    "syntax: ||": (
        "input a: boolean\ninput b: boolean\ninclusion I1: a || b",
        "f.rules:3:17: error[E001]: '|' is not an operator: write 'or' to join conditions\n"
        "inclusion I1: a || b\n"
        "                ^",
    ),
    "syntax: ! for not": (
        "input a: boolean\ninclusion I1: !a",
        "f.rules:2:15: error[E001]: '!' is not an operator: write 'not' before a condition, or '!=' for 'is not equal to'\n"
        "inclusion I1: !a\n"
        "              ^",
    ),
    "syntax: between": (
        "input age: number years\ninclusion I1: age between 21 years and 70 years",
        "f.rules:2:19: error[E001]: there is no 'between': write a chained comparison, such as '21 years <= age <= 70 years'\n"
        "inclusion I1: age between 21 years and 70 years\n"
        "                  ^^^^^^^",
    ),
    "syntax: at least two": (
        "input a: boolean\ninput b: boolean\ninclusion I1: at least two of (a, b)",
        "f.rules:3:24: error[E001]: write the count in digits: 'at least 2 of (...)'\n"
        "inclusion I1: at least two of (a, b)\n"
        "                       ^^^",
    ),
    "syntax: superscript in a unit": (
        "input bmi: number kg/m²\ninclusion I1: bmi > 30",
        "f.rules:1:23: error[E001]: write powers in units as plain digits, such as 'kg/m2'\n"
        "input bmi: number kg/m²\n"
        "                      ^",
    ),
    "syntax: x for times": (
        "input alt: number\ninput alt_uln: number\ninclusion I1: alt <= 2.5 x alt_uln",
        "f.rules:3:26: error[E001]: for a multiple write '*': '2.5 * alt_uln'\n"
        "inclusion I1: alt <= 2.5 x alt_uln\n"
        "                         ^^^^^^^^^",
    ),
    "syntax: semicolon": (
        "input a: boolean\ninclusion I1: a;",
        "f.rules:2:16: error[E001]: ';' is not needed: statements begin with a keyword, so none is ended by a mark\n"
        "inclusion I1: a;\n"
        "               ^",
    ),
    "unquoted category value": (
        'input nyha: one of "I", "II", "III", "IV"\ninclusion I1: nyha = IV',
        "f.rules:2:22: error[E101]: 'IV' is not declared: \"IV\" is a value of nyha: write it in quotes, \"IV\"\n"
        "inclusion I1: nyha = IV\n"
        "                     ^^",
    ),
    "unit after a space and a slash": (
        "input w: number '/uL'\ninclusion I1: w > 1500 /uL",
        "f.rules:2:25: error[E101]: 'uL' is not declared: a unit after a space reads as a division: "
        "write it quoted, right after the number: 1500 '/uL'\n"
        "inclusion I1: w > 1500 /uL\n"
        "                        ^^",
    ),
    "syntax: a unit with a space in a declaration": (
        "input egfr: number mL/min/1.73 m2\ninclusion I1: egfr > 30",
        "f.rules:1:20: error[E001]: write the unit without spaces: 'mL/min/1.73m2'\n"
        "input egfr: number mL/min/1.73 m2\n"
        "                   ^^^^^^^^^^^^^^",
    ),
    "syntax: stray character": (
        "input a: number\ninclusion I1: a @ 1",
        "f.rules:2:17: error[E001]: unexpected character '@'\n"
        "inclusion I1: a @ 1\n"
        "                ^",
    ),
}


@pytest.mark.parametrize("text, expected", CASES.values(), ids=CASES.keys())
def test_first_diagnostic_verbatim(text, expected):
    with pytest.raises(protocol_dsl.RulesError) as raised:
        protocol_dsl.loads(text, "f.rules")
    assert raised.value.diagnostics[0].format() == expected


def test_nesting_too_deep_is_an_error_not_a_crash():
    deep = "input a: number\ninclusion I1: " + " + ".join(["a"] * 400) + " > 1"
    with pytest.raises(protocol_dsl.RulesError) as raised:
        protocol_dsl.loads(deep, "f.rules")
    assert raised.value.diagnostics[0].code == "E002"
    chain = "input a: number\ndefine d0 = a\n" + "".join(f"define d{i} = d{i - 1} + 1\n" for i in range(1, 400))
    with pytest.raises(protocol_dsl.RulesError) as raised:
        protocol_dsl.loads(chain + "inclusion I1: d399 > 1", "f.rules")
    assert [(d.code, d.line) for d in raised.value.diagnostics] == [("E002", 77)]
    assert raised.value.diagnostics[0].message == (
        "this nests more than 150 levels deep, counting the definitions it uses: no criterion needs that, so write it more simply"
    )


WARNINGS = {
    "if without else in an exclusion": (
        "input woman: boolean\ninput pregnant: boolean\nexclusion E1: if woman then pregnant",
        "f.rules:3:15: warning[W103]: exclusion E1: 'if C then A' without 'else' is true when C is false, "
        "so it would exclude every patient it does not apply to: write 'C and A'\n"
        "exclusion E1: if woman then pregnant\n"
        "              ^^^^^^^^^^^^^^^^^^^^^^",
    ),
    "bare number against a unit": (
        "input PTA: number %\ninclusion I1: PTA > 40",
        "f.rules:2:21: warning[W101]: 40 has no unit and is taken in %: write '40 %'\n"
        "inclusion I1: PTA > 40\n"
        "                    ^^",
    ),
    "no criteria": (
        "input a: number\n",
        "f.rules:1:1: warning[W102]: this file has no inclusion or exclusion criteria: "
        "every patient would be eligible\n"
        "input a: number\n"
        "^",
    ),
}


@pytest.mark.parametrize("text, expected", WARNINGS.values(), ids=WARNINGS.keys())
def test_warning_verbatim(text, expected):
    protocol = protocol_dsl.loads(text, "f.rules")
    assert [w.format() for w in protocol.warnings] == [expected]


def test_every_problem_of_a_file_is_reported_together():
    text = (
        "input age: number years\n"
        'input sex: one of "female", "male"\n'
        "inclusion I1: agee > 18 years\n"
        'inclusion I2: sex = "femal"\n'
        "inclusion I3: age > 5 mg/dL\n"
        "inclusion I3: true\n"
    )
    with pytest.raises(protocol_dsl.RulesError) as raised:
        protocol_dsl.loads(text, "f.rules")
    found = [(d.code, d.line, d.column) for d in raised.value.diagnostics]
    assert found == [("E101", 3, 15), ("E203", 4, 21), ("E202", 5, 21), ("E103", 6, 11)]


def test_rules_error_message_lists_every_diagnostic():
    with pytest.raises(protocol_dsl.RulesError) as raised:
        protocol_dsl.loads("inclusion I1: a and b", "f.rules")
    assert str(raised.value).count("error[E101]") == 2


def test_diagnostic_positions_are_one_based_with_ends():
    with pytest.raises(protocol_dsl.RulesError) as raised:
        protocol_dsl.loads("input a: number\ninclusion I1: zz > 1", "f.rules")
    d = raised.value.diagnostics[0]
    assert d.to_dict() == {
        "file": "f.rules",
        "line": 2,
        "column": 15,
        "end_line": 2,
        "end_column": 17,
        "severity": "error",
        "code": "E101",
        "message": "'zz' is not declared",
    }


DATA_ERRORS = {
    "text for a number": ({"age": "forty"}, 'age: expected a number in years, got "forty"'),
    "boolean for a number": ({"age": True}, "age: expected a number in years, got true"),
    "number for a boolean": ({"hcc": 1}, "hcc: expected true or false, got 1"),
    "unknown category": (
        {"sex": "Female"},
        'sex: "Female" is not one of "female", "male" (did you mean "female"?)',
    ),
    "outside the range": ({"age": 150}, "age: 150 years is outside the plausible range 0..130 years"),
    "outside the range after conversion": (
        {"age": {"value": 1600, "unit": "months"}},
        "age: 133.333333333 years is outside the plausible range 0..130 years",
    ),
    "unknown unit": (
        {"TB": {"value": 3, "unit": "mg/dl"}},
        "TB: 3 mg/dl: unknown unit 'mg/dl' (did you mean 'mg/dL'?)",
    ),
    "incompatible unit": ({"TB": {"value": 3, "unit": "kg"}}, "TB: 3 kg cannot be converted to umol/L"),
    "not finite": ({"age": float("nan")}, "age: expected a finite number, got nan"),
    "malformed value object": ({"age": {"amount": 3}}, 'age: expected {"value": NUMBER, "unit": "UNIT"}, got {"amount": 3}'),
}

DATA_RULES = (
    "input age: number years range 0..130\n"
    'input sex: one of "female", "male"\n'
    "input TB: number umol/L molar mass 584.66 g/mol\n"
    "input hcc: boolean\n"
    "inclusion I1: age >= 18 years\n"
)


@pytest.mark.parametrize("data, message", DATA_ERRORS.values(), ids=DATA_ERRORS.keys())
def test_data_errors_name_the_input_and_the_value(data, message):
    protocol = protocol_dsl.loads(DATA_RULES)
    with pytest.raises(protocol_dsl.DataError) as raised:
        protocol.evaluate(data)
    assert raised.value.problems == [message]


def test_data_errors_are_all_reported():
    protocol = protocol_dsl.loads(DATA_RULES)
    with pytest.raises(protocol_dsl.DataError) as raised:
        protocol.evaluate({"age": -1, "hcc": "no"})
    assert len(raised.value.problems) == 2


def test_patient_data_must_be_an_object():
    protocol = protocol_dsl.loads(DATA_RULES)
    with pytest.raises(protocol_dsl.DataError, match="patient data must be an object"):
        protocol.evaluate([1, 2])


def test_unknown_keys_are_warnings():
    protocol = protocol_dsl.loads(DATA_RULES)
    result = protocol.evaluate({"age": 40, "agee": 3})
    assert result.warnings == ["'agee' is not an input of this protocol and was ignored (did you mean 'age'?)"]
