"""Dated values: the index date, windows and the aggregates over an input's values.

Pure computations on `Obs` (one dated value), written once: the interpreter calls them,
and the other backends either call the interpreter or refuse (docs/records.md).
Only the standard library's datetime is used, so importing stays fast.
"""

from __future__ import annotations

import calendar
import datetime as _dt
from typing import Any, Optional

import attrs

from . import numeric

# A window's unit: hours, days and weeks are exact; months and years are calendar ones.
WINDOW_UNITS = {"h": "hours", "d": "days", "wk": "weeks", "mo": "months", "a": "years"}
_DAYS_PER = {"h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": None, "a": None}

AGGREGATES = frozenset({"latest", "earliest", "min", "max", "sum", "count", "any", "all", "rate", "duration"})
NUMERIC_AGGREGATES = frozenset({"min", "max", "sum"})
CONDITION_AGGREGATES = frozenset({"count", "any", "all", "duration"})
STATUS_LEFT_OUT = frozenset({"cancelled", "entered-in-error"})
STATUSES = frozenset({"final", "amended", "corrected", "preliminary", "registered"}) | STATUS_LEFT_OUT


@attrs.frozen
class Window:
    """`within AMOUNT UNIT`: from the index date minus the duration up to the index date, both included."""

    amount: int
    unit: str  # "h" | "d" | "wk" | "mo" | "a"

    def text(self) -> str:
        word = WINDOW_UNITS[self.unit]
        return f"{self.amount} {word[:-1] if self.amount == 1 else word}"

    def days(self) -> float:
        """The window's length in days (months and years approximately: for comparing windows only)."""
        per = _DAYS_PER[self.unit]
        if per is None:
            per = 30.4375 if self.unit == "mo" else 365.25
        return self.amount * per


@attrs.frozen
class Obs:
    """One dated value of an input, in the input's unit; `low`/`high` its own reference range."""

    value: Any
    time: Optional[_dt.datetime]  # None: an undated value, taken at the index date
    low: Optional[float] = None
    high: Optional[float] = None


def window_of(unit_name: str, amount: float) -> Optional[Window]:
    """The Window of a duration literal in a canonical unit name, or None if it is not a whole duration."""
    if unit_name not in WINDOW_UNITS or amount != int(amount) or amount < 0:
        return None
    return Window(int(amount), unit_name)


def parse_time(text: Any) -> _dt.datetime:
    """`YYYY-MM-DD` or an ISO datetime as a naive datetime (its clock time as written); ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError("a time must be a text such as \"2026-11-28\"")
    try:
        if len(text) == 10:
            day = _dt.date.fromisoformat(text)
            return _dt.datetime(day.year, day.month, day.day)
        return _dt.datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO date and time") from None


def parse_as_of(value: Any) -> Optional[_dt.date]:
    """An index date from a date, a datetime or an ISO text (a datetime's date is used)."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    return parse_time(value).date()


def minus_months(day: _dt.date, months: int) -> _dt.date:
    """`day` minus whole calendar months, clamped to the month's last day (03-31 - 1 month = 02-28)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    if year < 1:
        return _dt.date(1, 1, 1)
    return _dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def window_start(as_of: _dt.date, window: Window) -> _dt.datetime:
    """The first instant inside the window (inclusive)."""
    midnight = _dt.datetime(as_of.year, as_of.month, as_of.day)
    try:
        if window.unit == "h":  # hours count back from the end of the index day
            return midnight + _dt.timedelta(days=1) - _dt.timedelta(hours=window.amount)
        if window.unit in ("d", "wk"):
            return midnight - _dt.timedelta(days=window.amount * (7 if window.unit == "wk" else 1))
        start = minus_months(as_of, window.amount * (12 if window.unit == "a" else 1))
        return _dt.datetime(start.year, start.month, start.day)
    except OverflowError:
        return _dt.datetime.min


def in_window(items: tuple, as_of: Optional[_dt.date], window: Optional[Window]) -> list:
    """The items inside the window (every item when there is none); undated items are at the index date."""
    if window is None or as_of is None:
        return list(items)
    start = window_start(as_of, window)
    return [o for o in items if o.time is None or o.time >= start]


def days_before(obs: Obs, as_of: Optional[_dt.date]) -> int:
    """Whole days from the item's date to the index date (0 for an undated item)."""
    if obs.time is None or as_of is None:
        return 0
    return (as_of - obs.time.date()).days


def _elapsed_days(first: Obs, last: Obs) -> Optional[float]:
    if first.time is None or last.time is None:
        return None
    return (last.time - first.time).total_seconds() / 86400


def aggregate(function: str, items: list, test, complete: bool) -> tuple[Any, Optional[Obs]]:
    """(the value, the item it came from) of an aggregate over the items in its window, oldest first.

    `test(value)` is the condition per item (True/False/None) for count/any/all/duration.
    """
    if function in ("count", "any", "all"):
        if not items and not complete:
            return None, None
        results = [test(o.value) for o in items]
        if function == "count":
            return (None if None in results else sum(1 for r in results if r)), None
        return numeric.kleene(iter(results), function == "any"), None
    if not items:
        return None, None
    if function == "latest":
        return items[-1].value, items[-1]
    if function == "earliest":
        return items[0].value, items[0]
    if function in ("min", "max"):
        chosen = (min if function == "min" else max)(reversed(items), key=lambda o: o.value)  # the latest of ties
        return chosen.value, chosen
    if function == "sum":
        return numeric.finite(sum(o.value for o in items)), None
    if function == "rate":
        if len(items) < 2:
            return None, None
        first, last = items[0], items[-1]
        elapsed = _elapsed_days(first, last)
        if not elapsed:
            return None, None
        return numeric.finite((last.value - first.value) / elapsed), None
    raise ValueError(function)


def duration(items: list, test, as_of: Optional[_dt.date]) -> tuple[Optional[float], Optional[Obs]]:
    """Days that the condition has held without interruption up to the index date (0 if the current value fails)."""
    if not items:
        return None, None
    start = None
    for obs in reversed(items):
        result = test(obs.value)
        if result is None:
            return None, None
        if not result:
            break
        start = obs
    if start is None:
        return 0.0, items[-1]
    return float(days_before(start, as_of)), start


def time_since(items: list, as_of: Optional[_dt.date]) -> tuple[Optional[float], Optional[Obs]]:
    """Days from the latest value to the index date."""
    if not items:
        return None, None
    return float(days_before(items[-1], as_of)), items[-1]


def age(items: list, as_of: Optional[_dt.date]) -> tuple[Optional[float], Optional[Obs]]:
    """Completed years from a date to the index date (a birthday on 29 February falls on 1 March)."""
    if not items or as_of is None:
        return None, None
    born = items[-1].time.date()
    years = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
    return float(years), items[-1]


def when_text(obs: Obs, as_of: Optional[_dt.date]) -> str:
    """`2026-10-02 (61 days before)`: an item's date, and how long before the index date."""
    day = obs.time.date().isoformat()
    if as_of is None:
        return day
    days = days_before(obs, as_of)
    return f"{day} ({'the index date' if days == 0 else f'{days} day before' if days == 1 else f'{days} days before'})"


def dated_construct(program) -> Optional[str]:
    """The first construct over dated values in a lowered program, in words (`rate() over 'TB'`), or None."""
    from . import ir

    roots = [d.body for d in program.definitions.values()] + [c.body for c in program.criteria]
    for node in ir.walk(roots):
        if isinstance(node, ir.Aggregate):
            what = "time since" if node.function == "time since" else f"{node.function}()"
            return f"{what} over '{node.input}'"
    return None


def limit(function: str, used: Optional[Obs], normal, name: str) -> tuple[Optional[float], Optional[str]]:
    """(the upper or lower limit of normal of the current value, where it came from), or (None, None).

    The current value's own reference range first, else the input's `normal LOW..HIGH`.
    """
    index = 1 if function == "uln" else 0
    own = None if used is None else (used.low, used.high)[index]
    if own is not None:
        return own, "the result's reference range"
    if normal is not None:
        return float(normal[index]), f"default normal range of {name}"
    return None, None
