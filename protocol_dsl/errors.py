"""The two exceptions a user of the library meets."""

from __future__ import annotations


class RulesError(Exception):
    """A rules file (or expression) has errors; `.diagnostics` lists every one."""

    def __init__(self, diagnostics):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class DataError(ValueError):
    """Patient data that cannot be evaluated; `.problems` lists each one."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("invalid patient data:\n" + "\n".join(f"  {p}" for p in self.problems))
