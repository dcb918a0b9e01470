"""Patient data -> the values evaluation reads: types checked, units converted, ranges enforced."""

from __future__ import annotations

import difflib
import math
import re
from typing import Any, Mapping

from . import units
from .checker import Bool, Cat, Date, Events, InputInfo, Num
from .errors import DataError
from .source import quoted


def format_number(value: float) -> str:
    """A number as a person writes it: 55, 1.2, 0.001 (never 55.0 or 1.2000000000000002)."""
    if isinstance(value, bool):
        return str(value).lower()
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(units.round12(float(value)), ".12g")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        try:
            return format_number(value) if math.isfinite(value) else str(value)
        except OverflowError:  # an int beyond the float range
            if value.bit_length() > 14000:  # str() refuses more than 4300 digits
                return f"a whole number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
            return str(value)[:20] + "..."
    if isinstance(value, dict):
        return "{" + ", ".join(f"{quoted(str(k))}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def _with_unit(value: float, unit: units.Unit) -> str:
    return f"{format_number(value)} {unit.text}" if not unit.is_dimensionless else format_number(value)


def prepare(inputs: Mapping[str, InputInfo], data: Any, as_of=None) -> tuple[dict[str, Any], list[str]]:
    """Validate one patient; return every input's value (None when unknown) and warnings.

    Event inputs (conditions, procedures, medications) get an `events.EventRecord`: the
    events whose code is in the input's value set, at the index date `as_of` (a date).
    Raises DataError listing every invalid value, each with its input and the value.
    """
    if not isinstance(data, Mapping):
        raise DataError([f"patient data must be an object of input names and values, not {_show(data)}"])
    values: dict[str, Any] = {}
    problems: list[str] = []
    warnings: list[str] = []
    series: dict[str, tuple] = {}
    used: dict[str, Any] = {}
    if any(isinstance(info.type, Events) for info in inputs.values()):
        problems += _event_records(inputs, data, as_of, values)
    for name, info in inputs.items():
        if isinstance(info.type, Events):
            continue
        raw = data.get(name)
        if raw is None:
            values[name] = None
            continue
        if isinstance(info.type, Date):
            values[name] = _date(name, raw, as_of, series, problems)
            continue
        if isinstance(raw, list):
            values[name] = _dated(name, info, raw, as_of, series, used, problems, warnings)
            continue
        try:
            values[name] = _value(info, raw)
        except ValueError as problem:
            problems.append(f"{name}: {problem}")
    if problems:
        raise DataError(problems)
    record = Record(values)
    record.as_of, record.series, record.used = as_of, series, used
    return record, warnings + unknown_keys(inputs, [key for key in data if key not in inputs])


class Record(dict):
    """A patient's values (input name -> current value, None when unknown) and their dated values.

    `series`: input name -> its dated values at or before the index date, oldest first (an
    input given one undated value has none: it is one value at the index date);
    `used`: input name -> the dated value that is its current value; `as_of`: the index date.
    """

    as_of = None
    series: dict = {}
    used: dict = {}


def _date(name: str, raw: Any, as_of, series: dict, problems: list):
    """A date input's value ("YYYY-MM-DD"): one dated item, read by age() and time since."""
    import datetime

    from . import records

    if not isinstance(raw, str):
        problems.append(f"{name}: expected a date YYYY-MM-DD, got {_show(raw)}")
        return None
    try:
        day = datetime.date.fromisoformat(raw)
    except ValueError:
        problems.append(f"{name}: {_show(raw)} is not a date (expected YYYY-MM-DD, such as 1970-05-17)")
        return None
    if as_of is None:
        problems.append(f"{name}: a date needs an index date (give --as-of, or as_of=...)")
        return None
    if day > as_of:
        problems.append(f"{name}: {day.isoformat()} is after the index date {as_of.isoformat()}")
        return None
    series[name] = (records.Obs(day, datetime.datetime.combine(day, datetime.time())),)
    return day


def _dated(name, info, raw: list, as_of, series: dict, used: dict, problems: list, warnings: list):
    """The current value of an input given as dated values; its values into `series`."""
    from . import records

    if as_of is None:
        problems.append(f"{name}: dated values need an index date (give --as-of, or as_of=...)")
        return None
    items = []
    for index, item in enumerate(raw):
        where = f"{name}[{index}]"
        if not isinstance(item, Mapping):
            problems.append(f'{where}: a dated value is {{"value": ..., "time": "YYYY-MM-DD"}}, got {_show(item)}')
            continue
        time_text = item.get("time")
        if isinstance(time_text, str):
            where += f" ({time_text})"
        extra = set(item) - {"value", "unit", "time", "range", "status"}
        if extra:
            problems.append(f"{where}: unknown field{'s' if len(extra) > 1 else ''} "
                            f"{', '.join(quoted(str(k)) for k in sorted(extra, key=str))} (a dated value has value, "
                            f"unit, time, range, status)")
            continue
        status = item.get("status")
        if status is not None and status not in records.STATUSES:
            problems.append(f"{where}: status {_show(status)} is not one of "
                            f"{', '.join(sorted(records.STATUSES))}")
            continue
        if status in records.STATUS_LEFT_OUT:
            warnings.append(f"{where}: a value {status} is not a value, and was left out")
            continue
        if "time" not in item:
            problems.append(f'{where}: a dated value needs its "time" ("YYYY-MM-DD")')
            continue
        try:
            time = records.parse_time(time_text)
        except ValueError as problem:
            problems.append(f"{where}: {problem}")
            continue
        if item.get("value") is None:
            problems.append(f'{where}: "value" is missing or null: leave the item out when there is no value')
            continue
        single = item["value"] if "unit" not in item else {"value": item["value"], "unit": item["unit"]}
        try:
            value = _value(info, single)
            low, high = _reference_range(info, item.get("range"), item.get("unit"))
        except ValueError as problem:
            problems.append(f"{where}: {problem}")
            continue
        if time.date() > as_of:  # not part of the record at the index date
            continue
        items.append(records.Obs(value, time, low, high))
    items.sort(key=lambda o: o.time)
    series[name] = tuple(items)
    current = [o for o in items if info.look_back is None or o.time >= records.window_start(as_of, info.look_back)]
    if not current:
        return None
    used[name] = current[-1]
    return current[-1].value


def _reference_range(info, raw, unit_text):
    """(low, high) of an item's own reference range, in the input's unit; either may be None."""
    if raw is None:
        return None, None
    if not isinstance(raw, Mapping) or set(raw) - {"low", "high"}:
        raise ValueError(f'a reference range is {{"low": L, "high": H}}, got {_show(raw)}')
    if not isinstance(info.type, Num):
        raise ValueError("only a number has a reference range")
    bounds = []
    for key in ("low", "high"):
        bound = raw.get(key)
        if bound is None:
            bounds.append(None)
        else:
            bounds.append(_number(info.type, bound if unit_text is None else {"value": bound, "unit": unit_text}))
    return tuple(bounds)


def _event_records(inputs, data, as_of, values) -> list[str]:
    """Each event input's EventRecord into `values`; the problems of the events, if any."""
    from . import events as ev

    try:
        by_kind = ev.prepare_events(data, _convert_dose)
    except DataError as error:
        return error.problems
    problems = []
    for name, info in inputs.items():
        t = info.type
        if not isinstance(t, Events):
            continue
        key = ev.KEY_OF_KIND[t.kind]
        matching = tuple(e for e in by_kind[t.kind] if t.codes.matches(e.system, e.code))
        if by_kind[t.kind] and as_of is None:
            problems.append(f"{name}: dated events ({key}) need an index date (give --as-of, or as_of=...)")
        values[name] = ev.EventRecord(matching, t.complete, as_of, t.kind)
    return problems


def _convert_dose(value: float, unit_text: str) -> float:
    from .events import DOSE_UNIT

    try:
        given = units.parse_unit(unit_text)
    except units.UnitError as problem:
        raise ValueError(f"{format_number(value)} {unit_text}: {problem}") from None
    factor = units.conversion_factor(given, units.parse_unit(DOSE_UNIT))
    if factor is None:
        raise ValueError(f"{format_number(value)} {unit_text} is not a daily dose: it cannot be converted to {DOSE_UNIT}")
    return value * factor


def unknown_keys(inputs: Mapping[str, InputInfo], keys) -> list[str]:
    """A warning for each key of patient data that is not an input (nothing else is done with it).

    The keys that list events (conditions, procedures, medications) are part of any record.
    """
    from .events import EVENT_KEYS

    warnings = []
    for key in keys:
        if key in EVENT_KEYS:
            continue
        close = difflib.get_close_matches(str(key), list(inputs), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        warnings.append(f"'{key}' is not an input of this protocol and was ignored{hint}")
    return warnings


def _value(info: InputInfo, raw: Any) -> Any:
    t = info.type
    if isinstance(t, Bool):
        if not isinstance(raw, bool):
            raise ValueError(f"expected true or false, got {_show(raw)}")
        return raw
    if isinstance(t, Cat):
        if not isinstance(raw, str):
            wanted = "a text" if t.open else "one of " + ", ".join(_show(v) for v in t.values)
            raise ValueError(f"expected {wanted}, got {_show(raw)}")
        if not t.open and raw not in t.values:
            close = difflib.get_close_matches(raw, t.values, n=1)
            hint = f" (did you mean {quoted(close[0])}?)" if close else ""
            raise ValueError(
                f"{_show(raw)} is not one of {', '.join(_show(v) for v in t.values)}{hint}"
            )
        return raw
    assert isinstance(t, Num)
    value = _number(t, raw)
    if info.whole and not units.round12(value).is_integer():
        of = f" of {t.unit.text}" if not t.unit.is_dimensionless else ""
        if isinstance(raw, Mapping) and raw.get("unit") not in (None, t.unit.text):
            shown = f"{format_number(raw['value'])} {raw['unit']} ({_with_unit(value, t.unit)})"
        else:
            shown = format_number(value)
        raise ValueError(f"expected a whole number{of}, got {shown}")
    if info.whole:  # 216 months is 18 years exactly
        value = float(round(units.round12(value)))
    if info.range is not None:
        low, high = info.range
        if not low <= value <= high:
            raise ValueError(
                f"{_with_unit(value, t.unit)} is outside the plausible range "
                f"{format_number(low)}..{format_number(high)}{' ' + t.unit.text if not t.unit.is_dimensionless else ''}"
            )
    return value


def _number(t: Num, raw: Any) -> float:
    wanted = f"a number{' in ' + t.unit.text if not t.unit.is_dimensionless else ''}"
    if isinstance(raw, Mapping):
        extra = set(raw) - {"value", "unit"}
        if extra or "value" not in raw:
            raise ValueError(f'expected {{"value": NUMBER, "unit": "UNIT"}}, got {_show(dict(raw))}')
        number, unit_text = raw["value"], raw.get("unit")
        if number is None:
            raise ValueError('"value" is null: leave the input out, or null, when it is unknown')
        number = _finite(number, wanted)
        if unit_text is None or unit_text == t.unit.text:
            return number
        if not isinstance(unit_text, str):
            raise ValueError(f"the unit must be a text such as \"mg/dL\", got {_show(unit_text)}")
        try:
            given = units.parse_unit(unit_text)
        except units.UnitError as problem:
            raise ValueError(f"{_show(number)} {unit_text}: {_with_suggestion(problem, unit_text, t.unit)}") from None
        how = units.convert(given, t.unit, t.molar_mass)
        if how is None:
            target = t.unit.text or "a plain number"
            reason = units.incompatibility(given, t.unit)
            why = "" if reason.endswith("have different dimensions") else f": {reason}"
            raise ValueError(f"{format_number(number)} {unit_text} cannot be converted to {target}{why}")
        converted = how.apply(number)
        if converted is None and how.transform == "log10" and not number > 0:
            raise ValueError(f"{format_number(number)} {unit_text} has no logarithm, so it cannot be "
                             f"expressed in {t.unit.text}")
        if converted is None:
            raise ValueError(f"{format_number(number)} {unit_text} is too large")
        return converted if how.linear else units.round12(converted)
    return _finite(raw, wanted)


def _with_suggestion(problem: units.UnitError, text: str, expected: units.Unit) -> str:
    """The unit error, with a spelling of the expected dimension suggested where the parser had none."""
    message = str(problem)
    if not message.startswith("unknown unit"):
        return message
    # The input's unit is known here: suggest only a spelling that converts to it.
    message = re.sub(r" \(did you mean '.*'\?\)$", "", message)
    guess = units.suggest_for(text, expected)
    return f"{message} (did you mean {guess!r}?)" if guess else message


def _finite(raw: Any, wanted: str) -> float:
    """A patient's number as a float (as the generated fast path reads it), or ValueError."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError(f"expected {wanted}, got {_show(raw)}")
    try:
        number = float(raw)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {_show(raw)}")
    return number
