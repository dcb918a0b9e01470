"""The exceptions of the library: every one derives from ProtocolDslError."""

from __future__ import annotations


class ProtocolDslError(Exception):
    """The root of every error this library raises on purpose."""


class RulesError(ProtocolDslError):
    """A rules file (or expression) has errors; `.diagnostics` lists every one."""

    def __init__(self, diagnostics):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class DataError(ProtocolDslError, ValueError):
    """Patient data that cannot be evaluated; `.problems` lists each one."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("invalid patient data:\n" + "\n".join(f"  {p}" for p in self.problems))


# Every diagnostic code, with a one-line summary (docs/errors.md has examples and fixes).
CODES = {
    "E001": "syntax error",
    "E002": "expression nested too deeply",
    "E101": "name not declared",
    "E102": "name declared twice",
    "E103": "criterion id used twice",
    "E104": "definitions refer to each other in a circle",
    "E105": "misplaced or repeated protocol header",
    "E106": "unknown function or wrong number of arguments",
    "E107": "known() of something that is not a name",
    "E108": "function name or parameter not allowed",
    "E109": "argument does not fit its parameter",
    "E110": "import cannot be read or imports form a circle",
    "E111": "statement not allowed in an imported file",
    "E112": "name defined in two files",
    "E201": "type mismatch",
    "E202": "incompatible units",
    "E203": "category value not declared",
    "E204": "unit not allowed here",
    "E205": "not a true/false condition where one is needed",
    "E206": "number too large",
    "E207": "arithmetic on units that are not a factor apart",
    "E208": "exponent not allowed here",
    "E210": "ordering values that have no common order",
    "E301": "unknown unit",
    "E302": "invalid input attribute",
    "E303": "unknown code system or unusable code binding",
    "W101": "number without a unit taken in the other side's unit",
    "W102": "file without criteria",
    "W103": "if without else in an exclusion",
}
CODES.update(
    {
        "E401": "no patient can satisfy the protocol",
        "W201": "criterion can never be true",
        "W202": "criterion can never be false",
        "W203": "number outside the input's plausible range",
        "W204": "redundant part of an and/or",
        "W301": "input never used",
        "W302": "definition never used",
        "W303": "criterion without its original text (--strict)",
    }
)
CODES.update(
    {
        "E501": "invalid value set",
        "E502": "value set not declared",
        "E503": "input named like a key of patient events",
        "E504": "complete of something that is not a kind of record or an input",
        "E505": "event function used on the wrong thing",
        "W501": "value set of a coding system this kind of event is not coded in",
    }
)
CODES.update(
    {
        "E601": "window or look-back that is not a duration",
        "E602": "aggregate over something that is not one dated input",
        "E603": "window that cannot hold what the aggregate needs",
        "E604": "x ULN without an input beside it",
        "W601": "window longer than the input's look-back",
    }
)
