"""`date` inputs: age(D) in completed years and time since D, at the index date."""

import datetime

import pytest

import protocol_dsl
from protocol_dsl.cli import main

RULES = """input birth_date: date "Date of birth"
inclusion I1 "Aged 18-75": 18 years <= age(birth_date) <= 75 years
inclusion I2 "Born at least 30 days ago": time since birth_date >= 30 days
"""


@pytest.fixture(scope="module")
def protocol():
    return protocol_dsl.loads(RULES)


@pytest.mark.parametrize(
    "born, as_of, years",
    [
        ("2008-12-02", "2026-12-02", 18),  # the 18th birthday
        ("2008-12-03", "2026-12-02", 17),  # the day before it
        ("2008-02-29", "2026-02-28", 17),  # born on 29 February: the birthday falls on 1 March
        ("2008-02-29", "2026-03-01", 18),
        ("1951-12-02", "2026-12-02", 75),
        ("1950-12-02", "2026-12-02", 76),
    ],
)
def test_age_is_in_completed_calendar_years(protocol, born, as_of, years):
    result = protocol.evaluate({"birth_date": born}, as_of=as_of)
    assert result.criteria["I1"].value is (18 <= years <= 75)
    assert f"age(birth_date) = {years} years (born {born})" in result.criteria["I1"].reason


def test_time_since_a_date_is_in_days(protocol):
    result = protocol.evaluate({"birth_date": "2026-11-02"}, as_of=datetime.date(2026, 12, 2))
    assert result.criteria["I2"].value is True
    assert result.criteria["I2"].reason == "time since birth_date = 30 d since 2026-11-02 >= 30 days"


@pytest.mark.parametrize(
    "data, as_of, message",
    [
        ({"birth_date": 1970}, "2026-12-02", "birth_date: expected a date YYYY-MM-DD, got 1970"),
        ({"birth_date": "17/05/1970"}, "2026-12-02",
         'birth_date: "17/05/1970" is not a date (expected YYYY-MM-DD, such as 1970-05-17)'),
        ({"birth_date": "1970-05-17"}, None, "birth_date: a date needs an index date (give --as-of, or as_of=...)"),
        ({"birth_date": "2027-01-01"}, "2026-12-02", "birth_date: 2027-01-01 is after the index date 2026-12-02"),
    ],
)
def test_invalid_dates_are_refused_naming_the_input(protocol, data, as_of, message):
    with pytest.raises(protocol_dsl.DataError) as raised:
        protocol.evaluate(data, as_of=as_of)
    assert raised.value.problems == [message]


def test_an_unknown_date_leaves_the_criteria_unknown(protocol):
    result = protocol.evaluate({}, as_of="2026-12-02")
    assert result.status == "undetermined" and result.missing == ["birth_date"]


@pytest.mark.parametrize(
    "rules, message",
    [
        ("input b: date\ninclusion I1: b > 3", "'b' is a date: use it as age(b) or time since b"),
        ("input n: number\ninclusion I1: age(n) > 3 years", "age() takes a date input, such as a birth date, but 'n' is a plain number"),
        ("input b: date range 0..3\ninclusion I1: age(b) > 3 years", "'b' is a date: it takes a label and codes, no other attribute"),
        ("input b: date\ninclusion I1: age(b within 3 days) > 3 years", "age() does not take a window: it is the age at the index date"),
    ],
)
def test_dates_are_checked(rules, message):
    with pytest.raises(protocol_dsl.RulesError) as raised:
        protocol_dsl.loads(rules)
    assert [d.message for d in raised.value.diagnostics if d.severity == "error"] == [message]


def test_the_command_line_reads_a_date(tmp_path, capsys):
    rules = tmp_path / "p.rules"
    rules.write_text(RULES)
    patient = tmp_path / "p.json"
    patient.write_text('{"birth_date": "2008-12-03"}')
    assert main(["eval", "--as-of", "2026-12-02", str(rules), str(patient)]) == 0
    out = capsys.readouterr().out
    assert "18 years > age(birth_date) = 17 years (born 2008-12-03)" in out
    assert main(["fmt", "--check", str(rules)]) == 0


def test_sql_refuses_dates_in_words(protocol):
    pytest.importorskip("sqlglot")
    from protocol_dsl.backends import Unsupported

    with pytest.raises(Unsupported) as raised:
        protocol.to_sql()
    assert "SQL does not compute dates yet: age() of 'birth_date'" in str(raised.value)


def test_screen_refuses_dates_in_words(tmp_path, capsys):
    pytest.importorskip("duckdb")
    rules = tmp_path / "p.rules"
    rules.write_text(RULES)
    cohort = tmp_path / "c.csv"
    cohort.write_text("birth_date\n2000-01-01\n")
    assert main(["screen", str(rules), str(cohort)]) == 2
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    assert "SQL does not compute dates yet: age() of 'birth_date'" in err
