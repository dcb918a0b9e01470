"""Backends: each maps the IR (ir.py) to one target and restates none of its rules.

- interpreter: closures over patient values, with traces for reasons (the reference);
- python: generated Python source, the fast path for complete data;
- sql: SQL built with sqlglot's expression builders (DuckDB, Spark);
- intervals: the interval domain of the deep checks, example and near-miss patients.

A backend that meets a node it does not map fails when the protocol is compiled
(`Unsupported`), never on a patient.
"""

from __future__ import annotations

from ..errors import ProtocolDslError


class Unsupported(ProtocolDslError):
    """A backend was given an IR node it does not map."""

    def __init__(self, backend: str, node, message: str | None = None) -> None:
        super().__init__(message or f"the {backend} backend does not handle {type(node).__name__} nodes")


def dispatch(backend, prefix: str, node):
    """`backend.<prefix><NodeClass>`, or Unsupported when the backend has no mapping for it."""
    method = getattr(backend, prefix + type(node).__name__, None)
    if method is None:
        raise Unsupported(type(backend).__name__, node)
    return method
