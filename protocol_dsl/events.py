"""Patient events (conditions, procedures, medications): validation and the computations on them.

An event has a code of a system and either a date (`time`) or a period (`start`, and
an `end` unless it is ongoing). Every computation here is a pure function of a list of
events and dates: the language's constructs (`any(mi within 12 weeks)`, `on(acei)`,
`exposure(art within 12 months)`, ...) are these functions applied to the events that
match an input's value set, at the index date. Days are calendar days; a period
includes both its first and its last day.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Iterable, Mapping, Sequence

from .errors import DataError
from .source import quoted

__all__ = [
    "DOSE_UNIT", "EVENT_KEYS", "KIND_OF_KEY", "Event", "any_in", "count_in", "cumulative_exposure",
    "current_dose", "events_in", "latest", "on_at", "parse_date", "prepare_events", "stable_for",
    "time_since_end",
]

# The keys of patient data that hold events, and the kind of event each holds.
KIND_OF_KEY = {"conditions": "condition", "procedures": "procedure", "medications": "medication"}
KEY_OF_KIND = {kind: key for key, kind in KIND_OF_KEY.items()}
EVENT_KEYS = tuple(KIND_OF_KEY)
DOSE_UNIT = "mg/d"  # the unit a daily dose is computed in
_FIELDS = {"code", "system", "time", "start", "end", "display", "dose"}


class Event:
    """One event of a patient: a code, and the days it covers (end None: ongoing)."""

    __slots__ = ("kind", "index", "system", "code", "start", "end", "dose", "display")

    def __init__(self, kind: str, index: int, system: str, code: str, start: _dt.date,
                 end: _dt.date | None, dose: float | None = None, display: str | None = None):
        self.kind, self.index, self.system, self.code = kind, index, system, code
        self.start, self.end, self.dose, self.display = start, end, dose, display

    @property
    def is_point(self) -> bool:
        """True for an event on one date (`time`), rather than a period."""
        return self.end == self.start

    def __repr__(self) -> str:
        return f"Event({self.kind}, {self.code!r}, {self.start}..{self.end or ''})"

    def describe(self) -> str:
        """How a reason names it: `I21.4 on 2026-10-01`, `C09AA05 from 2026-01-01 (ongoing)`."""
        if self.is_point:
            return f"{self.code} on {self.start.isoformat()}"
        if self.end is None:
            return f"{self.code} from {self.start.isoformat()} (ongoing)"
        return f"{self.code} from {self.start.isoformat()} to {self.end.isoformat()}"


# -- validation ---------------------------------------------------------------------------


def parse_date(raw: Any) -> _dt.date:
    """A `YYYY-MM-DD` date or an ISO date and time (its date), or ValueError saying what is wrong."""
    if isinstance(raw, _dt.datetime):  # YAML reads unquoted dates and times as these
        return raw.date()
    if isinstance(raw, _dt.date):
        return raw
    if isinstance(raw, str) and len(raw) >= 10:
        try:
            if len(raw) == 10:
                return _dt.date.fromisoformat(raw)
            return _dt.datetime.fromisoformat(raw).date()
        except ValueError:
            pass
    shown = quoted(raw) if isinstance(raw, str) else _plain(raw)
    raise ValueError(f"{shown} is not a date (expected YYYY-MM-DD or an ISO date and time)")


def _plain(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return repr(value)


def prepare_events(data: Mapping[str, Any], convert_dose=None) -> dict[str, tuple[Event, ...]]:
    """The events of a patient by kind (`condition`, ...); DataError lists every invalid one.

    `convert_dose(value, unit) -> float` turns a dose into DOSE_UNIT or raises ValueError;
    without it, a dose must be given in DOSE_UNIT.
    """
    result: dict[str, tuple[Event, ...]] = {}
    problems: list[str] = []
    for key, kind in KIND_OF_KEY.items():
        raw = data.get(key)
        if raw is None:
            result[kind] = ()
            continue
        if not isinstance(raw, list):
            problems.append(f"{key}: expected a list of events, got {_plain(raw) if not isinstance(raw, str) else quoted(raw)}")
            result[kind] = ()
            continue
        events = []
        for index, item in enumerate(raw):
            try:
                events.append(_event(kind, key, index, item, convert_dose))
            except ValueError as problem:
                problems.append(str(problem))
        result[kind] = tuple(events)
    if problems:
        raise DataError(problems)
    return result


def _event(kind: str, key: str, index: int, item: Any, convert_dose) -> Event:
    at = f"{key}[{index}]"
    if not isinstance(item, Mapping):
        raise ValueError(f'{at}: expected an event {{"code", "system", "time"}}, got {_plain(item) if not isinstance(item, str) else quoted(item)}')
    allowed = _FIELDS if kind == "medication" else _FIELDS - {"dose"}
    for field in item:
        if field not in allowed:
            hint = " (a dose is only for medications)" if field == "dose" else ""
            raise ValueError(f"{at}: unknown field {quoted(str(field))}{hint}; an event has code, system, time or start/end"
                             + (", dose" if kind == "medication" else "") + " and display")
    for field in ("code", "system"):
        value = item.get(field)
        if not isinstance(value, str) or not value.strip():
            got = "it is missing" if value is None else f"got {quoted(value) if isinstance(value, str) else _plain(value)}"
            raise ValueError(f"{at}.{field}: expected a text, {got}")
    from .valuesets import canonical_system, system_problem

    system = canonical_system(item["system"])
    if system is None:
        raise ValueError(f"{at}.system: {system_problem(item['system'])}")
    has_time, has_start = item.get("time") is not None, item.get("start") is not None
    if has_time and (has_start or item.get("end") is not None):
        raise ValueError(f"{at}: give either time (one date) or start and end (a period), not both")
    if not has_time and not has_start:
        raise ValueError(f"{at}: no date: give time (one date) or start (and end, unless it is ongoing)")
    if has_time:
        start = end = _date(item["time"], f"{at}.time")
    else:
        start = _date(item["start"], f"{at}.start")
        end = _date(item["end"], f"{at}.end") if item.get("end") is not None else None
        if end is not None and end < start:
            raise ValueError(f"{at}: end {end.isoformat()} is before start {start.isoformat()}")
    display = item.get("display")
    if display is not None and not isinstance(display, str):
        raise ValueError(f"{at}.display: expected a text, got {_plain(display)}")
    dose = _dose(item["dose"], f"{at}.dose", convert_dose) if item.get("dose") is not None else None
    return Event(kind, index, system, item["code"].strip(), start, end, dose, display)


def _date(raw: Any, at: str) -> _dt.date:
    try:
        return parse_date(raw)
    except ValueError as problem:
        raise ValueError(f"{at}: {problem}") from None


def _dose(raw: Any, at: str, convert_dose) -> float:
    if not isinstance(raw, Mapping) or "value" not in raw or set(raw) - {"value", "unit"}:
        raise ValueError(f'{at}: expected {{"value": NUMBER, "unit": "UNIT"}} (a daily dose such as "mg/d"), got {_plain(raw)}')
    value, unit = raw["value"], raw.get("unit", DOSE_UNIT)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ValueError(f"{at}.value: expected a finite number, got {_plain(value)}")
    if value < 0:
        raise ValueError(f"{at}.value: a dose cannot be negative, got {_plain(value)}")
    if not isinstance(unit, str):
        raise ValueError(f"{at}.unit: expected a text such as \"mg/d\", got {_plain(unit)}")
    if unit == DOSE_UNIT or convert_dose is None:
        if unit != DOSE_UNIT:
            raise ValueError(f"{at}.unit: {quoted(unit)}: a daily dose is given in {DOSE_UNIT}")
        return float(value)
    try:
        return convert_dose(float(value), unit)
    except ValueError as problem:
        raise ValueError(f"{at}: {problem}") from None


# -- computations -------------------------------------------------------------------------
# Each takes the events that matter (already those of one input) and dates; None means
# the value cannot be known from these events (a dose that is not recorded).

_ONE_DAY = _dt.timedelta(days=1)


def events_in(events: Iterable[Event], start: _dt.date | None, end: _dt.date) -> list[Event]:
    """The events that overlap [start, end] (start None: every event up to end)."""
    return [e for e in events if e.start <= end and (start is None or e.end is None or e.end >= start)]


def any_in(events: Iterable[Event], start: _dt.date | None, end: _dt.date) -> bool:
    """Whether some event overlaps [start, end]."""
    return bool(events_in(events, start, end))


def count_in(events: Iterable[Event], start: _dt.date | None, end: _dt.date) -> int:
    """How many events overlap [start, end]."""
    return len(events_in(events, start, end))


def latest(events: Iterable[Event], as_of: _dt.date) -> tuple[_dt.date, Event] | None:
    """The last date at or before as_of covered by an event, with that event (None: no event)."""
    best: tuple[_dt.date, Event] | None = None
    for e in events:
        if e.start > as_of:
            continue
        last = as_of if e.end is None or e.end > as_of else e.end
        if best is None or last > best[0]:
            best = (last, e)
    return best


def time_since_end(events: Iterable[Event], as_of: _dt.date) -> tuple[int, Event] | None:
    """Days from the end of the last event to as_of (0 while one is ongoing), with that event."""
    found = latest(events, as_of)
    return None if found is None else ((as_of - found[0]).days, found[1])


def on_at(events: Iterable[Event], day: _dt.date) -> list[Event]:
    """The events (periods or one-day events) that cover the day."""
    return [e for e in events if e.start <= day and (e.end is None or e.end >= day)]


def current_dose(events: Iterable[Event], as_of: _dt.date) -> float | None:
    """The daily dose at as_of: the sum over the events that cover it (0 when none does)."""
    doses = [e.dose for e in on_at(events, as_of)]
    if any(d is None for d in doses):
        return None
    return float(sum(doses))


def _dose_segments(events: Sequence[Event], as_of: _dt.date) -> list[tuple[_dt.date, float | None]]:
    """The daily dose as steps up to as_of: (first day, dose) for each change, oldest first."""
    points = {as_of}
    for e in events:
        if e.start <= as_of:
            points.add(e.start)
            if e.end is not None and e.end < as_of:
                points.add(e.end + _ONE_DAY)
    return [(day, current_dose(events, day)) for day in sorted(points) if day <= as_of]


def stable_for(events: Iterable[Event], as_of: _dt.date) -> int | None:
    """Days the current daily dose has been unchanged, up to as_of (0 when not on it).

    Periods of the same dose that follow each other without a gap are one run.
    """
    events = list(events)
    segments = _dose_segments(events, as_of)
    if not on_at(events, as_of):
        return 0
    current = segments[-1][1]  # as_of itself is the last step
    if current is None:
        return None
    first = as_of
    for day, dose in reversed(segments):
        if dose is None or not _same(dose, current) or not on_at(events, day):
            break
        first = day
    return (as_of - first).days


def _same(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


def merged_periods(events: Iterable[Event], as_of: _dt.date) -> list[tuple[_dt.date, _dt.date]]:
    """The days covered by the events up to as_of, as disjoint periods (overlapping or adjacent merged)."""
    spans = sorted((e.start, as_of if e.end is None or e.end > as_of else e.end) for e in events if e.start <= as_of)
    merged: list[tuple[_dt.date, _dt.date]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1] + _ONE_DAY:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def cumulative_exposure(events: Iterable[Event], start: _dt.date | None, as_of: _dt.date) -> int:
    """Days in [start, as_of] covered by some event (each day once; start None: no lower limit)."""
    total = 0
    for first, last in merged_periods(events, as_of):
        if start is not None and first < start:
            first = start
        if last >= first:
            total += (last - first).days + 1
    return total


# -- an input's record ---------------------------------------------------------------------


class EventRecord:
    """What an event input reads for one patient: its matching events, the index date, completeness.

    `complete` names what is declared complete (the kind's key, such as "conditions", or the
    input's name), or is "" when absence proves nothing.
    """

    __slots__ = ("events", "complete", "as_of", "kind")

    def __init__(self, events: tuple[Event, ...], complete: str, as_of: _dt.date | None, kind: str):
        self.events, self.complete, self.as_of, self.kind = events, complete, as_of, kind

    def __repr__(self) -> str:
        return f"EventRecord({len(self.events)} {self.kind} events, complete={self.complete}, as_of={self.as_of})"

    def __eq__(self, other) -> bool:
        return isinstance(other, EventRecord) and (self.events, self.complete, self.as_of) == (other.events, other.complete, other.as_of)

    __hash__ = None


# -- the language's constructs ---------------------------------------------------------------


def _window(record: EventRecord, window) -> _dt.date | None:
    """The first day of a window (a records.Window) ending at the index date; a period counts when it overlaps."""
    if window is None or record.as_of is None:
        return None
    from .records import window_start as start_of

    return start_of(record.as_of, window).date()


def query(record: EventRecord, function: str, window) -> Any:
    """The value of an event construct for one patient: bool, number or None (unknown).

    Absence is knowledge only when the record is complete: otherwise `any` of no event,
    `count` 0, `on`, `dose`, `stable_for` and `exposure` of no period are unknown.
    """
    if record is None:  # no record at all (a patient the deep checks make up): nothing is known
        return None
    as_of = record.as_of
    if as_of is None:  # no index date: data.prepare refuses events without one, so there are none
        found: list[Event] = []
    else:
        found = events_in(record.events, _window(record, window), as_of)
    complete = record.complete
    if function == "any":
        return True if found else (False if complete else None)
    if function == "count":
        return float(len(found)) if found or complete else None
    if function == "time since":
        since = time_since_end(record.events, as_of) if as_of is not None else None
        return None if since is None else float(since[0])
    current = on_at(record.events, as_of) if as_of is not None else []
    if function == "on":
        return True if current else (False if complete else None)
    if function == "dose":
        if not current:
            return 0.0 if complete else None
        return current_dose(record.events, as_of)
    if function == "stable_for":
        if not current:
            return 0.0 if complete else None
        days = stable_for(record.events, as_of)
        return None if days is None else float(days)
    if function == "exposure":
        days = cumulative_exposure(record.events, _window(record, window), as_of) if as_of is not None else 0
        return float(days) if days or complete else None
    raise ValueError(f"not an event construct: {function}")


def _concept(label: str | None, name: str) -> str:
    """How a sentence names what an input is about: its label (lower-cased unless an acronym) or its name."""
    if not label:
        return name
    if len(label) > 1 and label[1].isupper():
        return label
    return label[0].lower() + label[1:]


def explain(record: EventRecord, function: str, window, window_text: str, label: str | None, name: str, value: Any) -> str:
    """The events behind a value, for its reason: the event used and its date, or why it is unknown.

    For a known value, the detail (`I21.4 on 2026-10-01`); for an unknown one, a sentence.
    """
    key = record.complete or KEY_OF_KIND[record.kind]
    within = f" {window_text}" if window_text else ""
    if value is None:
        if function == "time since":
            return f"no {_concept(label, name)} is recorded"
        if function in ("dose", "stable_for") and on_at(record.events, record.as_of):
            shown = ", ".join(e.describe() for e in on_at(record.events, record.as_of))
            return f"the dose of {shown} is not recorded"
        what = "recorded" if function in ("any", "count") else "recorded as taken" + ("" if window else " at the index date")
        return f"no {_concept(label, name)} is {what}{within}, and the record of {key} is not declared complete"
    as_of = record.as_of
    if function in ("any", "count", "exposure"):
        found = events_in(record.events, _window(record, window), as_of) if as_of else []
        if not found:
            return f"none recorded{within} (the record of {key} is complete)"
        shown = [e.describe() for e in sorted(found, key=lambda e: e.start, reverse=True)]
        if function == "any":
            return shown[0]
        return ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
    if function == "time since":
        return latest(record.events, as_of)[1].describe()
    current = on_at(record.events, as_of) if as_of else []
    if not current:
        return f"not taken at the index date (the record of {key} is complete)"
    shown = ", ".join(e.describe() for e in current)
    if function == "stable_for" and value:
        since = as_of - _dt.timedelta(days=int(value))
        return f"the same daily dose since {since.isoformat()} ({shown})"
    return shown
