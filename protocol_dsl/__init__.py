"""protocol-dsl: clinical-trial eligibility criteria as rule files, evaluated with reasons.

    >>> import protocol_dsl
    >>> p = protocol_dsl.loads('input INR: number\\ninclusion I1: INR >= 1.5')
    >>> p.evaluate({"INR": 1.7}).status
    <Status.ELIGIBLE: 'eligible'>
"""

from __future__ import annotations

import os
from typing import Any, Union

from .errors import DataError, ProtocolDslError, RulesError
from .evaluate import CriterionResult, Result, Status
from .protocol import Protocol

__all__ = [
    "load",
    "loads",
    "compile_expression",
    "Protocol",
    "Expression",
    "Result",
    "CriterionResult",
    "Status",
    "ProtocolDslError",
    "RulesError",
    "DataError",
    "ScreenError",
]


def __getattr__(name: str):
    # ScreenError lives with screening, which imports nothing heavy until it runs.
    if name == "ScreenError":
        from .screen import ScreenError

        return ScreenError
    raise AttributeError(f"module 'protocol_dsl' has no attribute {name!r}")


def loads(text: str, name: str = "<string>") -> Protocol:
    """Parse, check and compile a rules text; raise RulesError listing every error."""
    from .checker import check
    from .parser import parse_source
    from .source import Source

    source = Source(text, name)
    checked = check(source, parse_source(source))
    if checked.errors:
        raise RulesError(checked.diagnostics)
    return Protocol(checked)


def load(path: Union[str, os.PathLike]) -> Protocol:
    """Read a `.rules` file (UTF-8) and compile it like `loads`."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return loads(text, os.fspath(path))


class Expression:
    """A compiled lone expression; names in it are inputs (numbers unless used as conditions)."""

    def __init__(self, text: str):
        from .backends.python import expression_functions
        from .checker import check_expression
        from .lowering import lower_expression
        from .parser import parse_expression
        from .source import Source

        source = Source(text, "<expression>")
        expr = parse_expression(source)
        checked, self.inputs = check_expression(source, expr)
        if checked.errors:
            raise RulesError(checked.diagnostics)
        self.text = text
        self.warnings = checked.warnings
        self._prepare_fast, self._value_fast = expression_functions(lower_expression(checked, self.inputs, expr))

    def evaluate(self, data: Any) -> Any:
        """The expression's value for these names: True/False/None, or a number."""
        prepared = self._prepare_fast(data)
        if prepared is None:
            from .data import prepare

            values, _warnings = prepare(self.inputs, data)
        else:
            values, _extra = prepared  # names the expression does not use are ignored
        return self._value_fast(values)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def compile_expression(text: str) -> Expression:
    """Compile one expression, such as `INR >= 1.5 or 20 < PTA <= 40`."""
    return Expression(text)
