"""A checked protocol, lowered once and compiled by its backends: `evaluate`, `screen`, `to_sql`."""

from __future__ import annotations

from typing import Any, Optional

from .backends.interpreter import Interpreter
from .checker import Checked, Events, InputInfo
from .data import prepare, unknown_keys
from .evaluate import Layout, Result, Status
from .lowering import lower


class Protocol:
    """A checked, compiled protocol: call `evaluate(patient)`."""

    def __init__(self, checked: Checked):
        from .backends.python import fast_functions

        self.checked = checked
        self.id = checked.header.id if checked.header else None
        self.title = checked.header.title if checked.header else None
        self.inputs: dict[str, InputInfo] = checked.inputs
        self.warnings = checked.warnings
        statuses = (Status.ELIGIBLE, Status.INELIGIBLE, Status.UNDETERMINED)
        self._traced: Optional[dict[str, Any]] = None
        self._traced_all: Optional[Any] = None
        self._layout: Optional[Layout] = None
        self.program = lower(checked)  # the IR every backend compiles from
        self._prepare_fast, self._criteria_fast = fast_functions(self.program, statuses)
        self._status_fast = None  # generated on the first status()
        self._has_events = any(isinstance(info.type, Events) for info in self.inputs.values())

    @property
    def source(self):
        return self.checked.source

    def evaluate(self, data: Any, as_of: Any = None) -> "Result":
        """Evaluate one patient at the index date `as_of`; raises DataError.

        `data` is a mapping of input names to values, or a FHIR Bundle (read by
        `protocol_dsl.fhir.patient_data`). `as_of` is a date, a datetime (its date is used)
        or a text `YYYY-MM-DD`.
        """
        day = None if as_of is None else index_date(as_of)
        read_warnings: list[str] = []
        if isinstance(data, dict) and "resourceType" in data and data["resourceType"] == "Bundle" \
                and "resourceType" not in self.inputs:
            from .fhir import convert

            conversion = convert(self, data, as_of=day)
            data, read_warnings = conversion.data, conversion.warnings
        prepared = None if self._has_events else self._prepare_fast(data)
        if prepared is None:  # units to convert, events, or something to refuse
            values, warnings = prepare(self.inputs, data, as_of=day)
        else:
            values, extra = prepared
            warnings = unknown_keys(self.inputs, extra) if extra else []
        status, outcome = self._criteria_fast(values)
        return Result(self, values, outcome, status, read_warnings + warnings)

    def status(self, data: Any, as_of: Any = None) -> Status:
        """Only the status of one patient, at the speed of a hand-written check.

        The criteria are taken in protocol order and the first that makes the patient
        ineligible decides (Kleene's logic: no other value can change that), so the values
        after it are neither read nor checked. Every value read is checked as `evaluate`
        checks it; a value that is not plain (another unit, dated values, events) and any
        construct the fast path does not compute make it evaluate in full, and invalid data
        that is read raises DataError. `status(p) == evaluate(p).status` whenever
        `evaluate(p)` does not raise.
        """
        if self._status_fast is None:
            from .backends.python import status_function

            self._status_fast = status_function(self.program, (Status.ELIGIBLE, Status.INELIGIBLE, Status.UNDETERMINED))
        if as_of is None and not self._has_events:
            status = self._status_fast(data)
            if status is not None:
                return status
        return self.evaluate(data, as_of=as_of).status

    def screen(self, cohort: Any, engine: str = "duckdb", units: Optional[dict] = None, id_column: Optional[str] = None):
        """Screen a cohort (a path to CSV/JSON Lines/Parquet, or an Arrow table or DataFrame).

        Returns a Screening: `.results` (a pyarrow Table: _row, status, one column per
        criterion, missing), `.rejects`, `.summary` (the attrition), `.warnings`, and
        `.report(path)`, the screening as one self-contained HTML page.
        """
        from .screen import screen

        return screen(self, cohort, engine=engine, units_by_input=units, id_column=id_column)

    def to_sql(self, dialect: str = "duckdb", source: str = "patients") -> str:
        """The criteria as one SELECT over `source` (columns named after the inputs, and `_row`).

        The result columns are `_row`, `status`, one per criterion (by id) and `missing`;
        see docs/screening.md for the names inside and a criterion named like a result column.
        """
        try:
            from .backends.sql import to_sql
        except ImportError:
            raise ImportError("SQL needs sqlglot: pip install 'protocol-dsl[screen]'") from None
        return to_sql(self.program, dialect, source)

    def traced_functions(self) -> dict[str, Any]:
        """The criteria compiled with recorders, built on first use."""
        if self._traced is None:
            interpreter = Interpreter(self.program, traced=True)
            self._traced = {c.id: interpreter.traced_criterion(c) for c in self.program.criteria}
        return self._traced

    def traced_criteria(self) -> Any:
        """A function of the patient's values giving every criterion's trace by id, built on first use."""
        if self._traced_all is None:
            self._traced_all = Interpreter(self.program, traced=True).traced_criteria()
        return self._traced_all

    def layout(self) -> "Layout":
        """What reasons and JSON show of each syntax node (its text, line, column), computed once per node."""
        if self._layout is None:
            self._layout = Layout(self.checked)
        return self._layout


def index_date(as_of: Any):
    """The index date of an evaluation as a date (None when not given); DataError if it is not one."""
    import datetime

    from .errors import DataError

    if as_of is None or (isinstance(as_of, datetime.date) and not isinstance(as_of, datetime.datetime)):
        return as_of
    if isinstance(as_of, datetime.datetime):
        return as_of.date()
    from .events import parse_date

    try:
        return parse_date(as_of)
    except ValueError as problem:
        raise DataError([f"the index date (as_of): {problem}"]) from None
