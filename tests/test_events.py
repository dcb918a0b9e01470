"""Patient events: validation and the computations of any/count/latest/on/dose/stable/exposure."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol_dsl.errors import DataError
from protocol_dsl.events import (
    Event,
    any_in,
    count_in,
    cumulative_exposure,
    current_dose,
    latest,
    merged_periods,
    on_at,
    parse_date,
    prepare_events,
    stable_for,
    time_since_end,
)

D = dt.date.fromisoformat
AS_OF = D("2026-12-01")


def period(start, end=None, dose=None, code="C09AA05"):
    return Event("medication", 0, "ATC", code, D(start), D(end) if end else None, dose)


def point(day, code="I21.4"):
    return Event("condition", 0, "ICD10", code, D(day), D(day))


def test_prepare_events():
    events = prepare_events({
        "conditions": [{"code": "I21.4", "system": "http://hl7.org/fhir/sid/icd-10", "time": "2026-10-01T08:30:00Z"}],
        "medications": [{"code": "C09AA05", "system": "ATC", "start": "2026-01-01", "dose": {"value": 10, "unit": "mg/d"}}],
    })
    (mi,) = events["condition"]
    assert (mi.system, mi.code, mi.start, mi.end) == ("ICD10", "I21.4", D("2026-10-01"), D("2026-10-01"))
    (acei,) = events["medication"]
    assert (acei.start, acei.end, acei.dose) == (D("2026-01-01"), None, 10.0)
    assert events["procedure"] == ()
    assert mi.describe() == "I21.4 on 2026-10-01"
    assert acei.describe() == "C09AA05 from 2026-01-01 (ongoing)"


def test_dose_conversion():
    def convert(value, unit):
        if unit == "g/d":
            return value * 1000
        raise ValueError(f'"{unit}" cannot be converted to mg/d')

    data = {"medications": [{"code": "A10BA02", "system": "ATC", "time": "2026-01-01", "dose": {"value": 1, "unit": "g/d"}}]}
    assert prepare_events(data, convert)["medication"][0].dose == 1000
    data["medications"][0]["dose"]["unit"] = "mg"
    with pytest.raises(DataError) as info:
        prepare_events(data, convert)
    assert info.value.problems == ['medications[0].dose: "mg" cannot be converted to mg/d']


@pytest.mark.parametrize(
    "data, problems",
    [
        ({"conditions": {"code": "x"}}, ["conditions: expected a list of events, got an object"]),
        ({"conditions": ["I21"]}, ['conditions[0]: expected an event {"code", "system", "time"}, got "I21"']),
        ({"conditions": [{"system": "ICD10", "time": "2026-01-01"}]}, ["conditions[0].code: expected a text, it is missing"]),
        ({"procedures": [{"code": 3, "system": "SNOMED", "time": "2026-01-01"}]}, ["procedures[0].code: expected a text, got 3"]),
        ({"conditions": [{"code": "I21", "system": "ICD9", "time": "2026-01-01"}]},
         ['conditions[0].system: unknown coding system "ICD9" (use ICD10, SNOMED, LOINC, ATC, RxNorm or a URI)']),
        ({"conditions": [{"code": "I21", "system": "ICD10"}]},
         ["conditions[0]: no date: give time (one date) or start (and end, unless it is ongoing)"]),
        ({"conditions": [{"code": "I21", "system": "ICD10", "time": "2026-01-01", "start": "2026-01-01"}]},
         ["conditions[0]: give either time (one date) or start and end (a period), not both"]),
        ({"conditions": [{"code": "I21", "system": "ICD10", "time": "2026-13-01"}]},
         ['conditions[0].time: "2026-13-01" is not a date (expected YYYY-MM-DD or an ISO date and time)']),
        ({"medications": [{"code": "x", "system": "ATC", "start": "2026-02-01", "end": "2026-01-01"}]},
         ["medications[0]: end 2026-01-01 is before start 2026-02-01"]),
        ({"conditions": [{"code": "I21", "system": "ICD10", "time": "2026-01-01", "dose": {"value": 1}}]},
         ['conditions[0]: unknown field "dose" (a dose is only for medications); an event has code, system, time or start/end and display']),
        ({"medications": [{"code": "x", "system": "ATC", "time": "2026-01-01", "dose": 10}]},
         ['medications[0].dose: expected {"value": NUMBER, "unit": "UNIT"} (a daily dose such as "mg/d"), got 10']),
        ({"medications": [{"code": "x", "system": "ATC", "time": "2026-01-01", "dose": {"value": -1, "unit": "mg/d"}}]},
         ["medications[0].dose.value: a dose cannot be negative, got -1"]),
        ({"conditions": [{"code": "I21", "system": "ICD10", "time": 20260101},
                         {"code": "I22", "system": "ICD10", "time": "2026-01-01", "when": "x"}]},
         ["conditions[0].time: 20260101 is not a date (expected YYYY-MM-DD or an ISO date and time)",
          'conditions[1]: unknown field "when"; an event has code, system, time or start/end and display']),
    ],
)
def test_invalid_events(data, problems):
    with pytest.raises(DataError) as info:
        prepare_events(data)
    assert info.value.problems == problems


def test_parse_date():
    assert parse_date("2026-03-01") == D("2026-03-01")
    assert parse_date("2026-03-01T23:59:00+02:00") == D("2026-03-01")
    with pytest.raises(ValueError):
        parse_date("03/01/2026")


def test_window_overlap():
    events = [point("2026-09-01"), period("2026-01-01", "2026-06-30"), period("2026-11-01")]
    assert count_in(events, D("2026-06-30"), AS_OF) == 3
    assert count_in(events, D("2026-07-01"), AS_OF) == 2
    assert count_in(events, D("2026-09-02"), AS_OF) == 1
    assert not any_in([point("2026-12-02")], None, AS_OF)  # after the index date
    assert any_in([point("2026-12-01")], None, AS_OF)


def test_latest_and_time_since():
    events = [point("2026-09-01"), period("2026-01-01", "2026-10-31"), point("2026-12-05")]
    day, event = latest(events, AS_OF)
    assert day == D("2026-10-31") and event is events[1]
    assert time_since_end(events, AS_OF)[0] == 31
    assert time_since_end([period("2026-01-01")], AS_OF)[0] == 0
    assert time_since_end([period("2026-01-01", "2027-01-01")], AS_OF)[0] == 0
    assert time_since_end([], AS_OF) is None


def test_on_and_dose():
    events = [period("2026-01-01", "2026-06-30", 500), period("2026-06-01", None, 1000), period("2026-11-01", "2026-11-30", 5)]
    assert len(on_at(events, AS_OF)) == 1
    assert current_dose(events, AS_OF) == 1000
    assert current_dose(events, D("2026-06-15")) == 1500  # two prescriptions at once add up
    assert current_dose(events, D("2025-01-01")) == 0
    assert current_dose([period("2026-01-01")], AS_OF) is None  # no dose recorded


def test_stable_for():
    # 10 mg from January to March, 10 mg again from the next day: one run.
    events = [period("2026-01-01", "2026-03-31", 10), period("2026-04-01", None, 10)]
    assert stable_for(events, AS_OF) == (AS_OF - D("2026-01-01")).days
    # a gap breaks the run
    events = [period("2026-01-01", "2026-03-30", 10), period("2026-04-01", None, 10)]
    assert stable_for(events, AS_OF) == (AS_OF - D("2026-04-01")).days
    # a change of dose breaks it
    events = [period("2026-01-01", "2026-03-31", 5), period("2026-04-01", None, 10)]
    assert stable_for(events, AS_OF) == (AS_OF - D("2026-04-01")).days
    assert stable_for([period("2026-01-01", "2026-02-01", 10)], AS_OF) == 0  # not on it
    assert stable_for([period("2026-01-01")], AS_OF) is None  # no dose
    assert stable_for([period("2026-12-01", None, 10)], AS_OF) == 0


def test_exposure():
    events = [period("2026-01-01", "2026-01-10"), period("2026-01-05", "2026-01-20"), period("2026-01-21", "2026-01-31"),
              period("2026-11-25")]
    assert merged_periods(events, AS_OF) == [(D("2026-01-01"), D("2026-01-31")), (D("2026-11-25"), AS_OF)]
    assert cumulative_exposure(events, None, AS_OF) == 31 + 7
    assert cumulative_exposure(events, D("2026-01-31"), AS_OF) == 1 + 7
    assert cumulative_exposure(events, D("2026-11-30"), AS_OF) == 2
    assert cumulative_exposure([], None, AS_OF) == 0


DAY = st.integers(min_value=-400, max_value=30)
PERIOD = st.tuples(DAY, st.one_of(st.none(), st.integers(min_value=0, max_value=200)), st.sampled_from([None, 5.0, 10.0]))


def build(periods):
    return [Event("medication", i, "ATC", "x", AS_OF + dt.timedelta(days=s), None if n is None else AS_OF + dt.timedelta(days=s + n), d)
            for i, (s, n, d) in enumerate(periods)]


@given(st.lists(PERIOD, max_size=8), st.integers(min_value=0, max_value=500))
def test_exposure_never_exceeds_the_window(periods, days):
    events = build(periods)
    start = AS_OF - dt.timedelta(days=days)
    exposure = cumulative_exposure(events, start, AS_OF)
    assert 0 <= exposure <= days + 1
    # every day counted is a day some event covers, and each is counted once
    covered = {start + dt.timedelta(days=k) for k in range(days + 1)}
    covered = {day for day in covered if on_at(events, day)}
    assert exposure == len(covered)


@given(st.lists(PERIOD, max_size=8))
def test_merged_periods_are_disjoint_and_apart(periods):
    merged = merged_periods(build(periods), AS_OF)
    for (a0, a1), (b0, b1) in zip(merged, merged[1:]):
        assert a0 <= a1 and b0 > a1 + dt.timedelta(days=1)


@given(st.lists(PERIOD, max_size=6))
def test_stable_for_is_a_run_of_the_same_dose(periods):
    events = build(periods)
    days = stable_for(events, AS_OF)
    if days is None or days == 0:
        return
    current = current_dose(events, AS_OF)
    for k in range(days + 1):
        day = AS_OF - dt.timedelta(days=k)
        assert on_at(events, day) and current_dose(events, day) == current
    before = AS_OF - dt.timedelta(days=days + 1)
    assert not on_at(events, before) or current_dose(events, before) != current
