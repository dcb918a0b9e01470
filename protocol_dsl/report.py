"""Checking files and rendering diagnostics (text, JSON, GitHub annotations, SARIF) for the library and the CLI."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import RulesError


def version() -> str:
    """The installed package's version."""
    try:
        from importlib.metadata import version as installed

        return installed("protocol-dsl")
    except Exception:  # not installed: running from a source tree
        return "unknown"


def diagnose(text: str, name: str, strict: bool = False, seconds: float | None = None,
             unproven: list[str] | None = None):
    """Every diagnostic of a file: syntax, checks, and (for a file without errors) deep checks.

    `seconds` is the deep checks' time budget; what they left unproven goes to `unproven`.
    """
    from .analysis import deep_diagnostics
    from .checker import check
    from .parser import parse_source
    from .source import Source

    source = Source(text, name)
    try:
        tree = parse_source(source)
    except RulesError as problem:
        return problem.diagnostics
    checked = check(source, tree)
    if checked.errors:
        return checked.diagnostics
    return sorted(checked.diagnostics + deep_diagnostics(checked, strict, seconds, unproven), key=lambda d: (d.span.start, d.code))


def sarif(diagnostics) -> dict:
    """A SARIF 2.1.0 log: one run, every code as a rule, every diagnostic as a result."""
    from .errors import CODES

    codes = list(CODES)
    results = []
    for d in diagnostics:
        results.append(
            {
                "ruleId": d.code,
                "ruleIndex": codes.index(d.code),
                "level": "error" if d.severity == "error" else "warning",
                "message": {"text": d.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": Path(d.file).as_posix()},
                            "region": {
                                "startLine": d.line,
                                "startColumn": d.column,
                                "endLine": d.end_line,
                                "endColumn": d.end_column,
                                "snippet": {"text": d.source.line_text(d.line)},
                            },
                        }
                    }
                ],
            }
        )
    rules = [
        {
            "id": code,
            "name": "".join(word.capitalize() for word in re.findall(r"[A-Za-z0-9]+", summary)),
            "shortDescription": {"text": summary},
            "defaultConfiguration": {"level": "error" if code.startswith("E") else "warning"},
        }
        for code, summary in CODES.items()
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "protocol-dsl", "version": version(), "rules": rules}}, "results": results}],
    }


def github(d) -> str:
    def escape(text: str, property: bool = False) -> str:
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if property else text

    level = "error" if d.severity == "error" else "warning"
    where = (
        f"file={escape(d.file, True)},line={d.line},col={d.column},"
        f"endLine={d.end_line},endColumn={d.end_column},title={escape(d.code, True)}"
    )
    return f"::{level} {where}::{escape(d.message)}"
