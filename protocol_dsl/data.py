"""Patient data -> the values evaluation reads: types checked, units converted, ranges enforced."""

from __future__ import annotations

import difflib
import math
import re
from typing import Any, Mapping

from . import units
from .checker import Bool, Cat, InputInfo, Num
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


def prepare(inputs: Mapping[str, InputInfo], data: Any) -> tuple[dict[str, Any], list[str]]:
    """Validate one patient; return every input's value (None when unknown) and warnings.

    Raises DataError listing every invalid value, each with its input and the value.
    """
    if not isinstance(data, Mapping):
        raise DataError([f"patient data must be an object of input names and values, not {_show(data)}"])
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, info in inputs.items():
        raw = data.get(name)
        if raw is None:
            values[name] = None
            continue
        try:
            values[name] = _value(info, raw)
        except ValueError as problem:
            problems.append(f"{name}: {problem}")
    if problems:
        raise DataError(problems)
    return values, unknown_keys(inputs, [key for key in data if key not in inputs])


def unknown_keys(inputs: Mapping[str, InputInfo], keys) -> list[str]:
    """A warning for each key of patient data that is not an input (nothing else is done with it)."""
    warnings = []
    for key in keys:
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
