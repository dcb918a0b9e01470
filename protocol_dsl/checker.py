"""Names, types, units, categories and cycles: every problem of a file, with its place."""

from __future__ import annotations

import difflib
import math
import os
import re
from pathlib import Path
from typing import Any, Optional, Union

import attrs

from . import ast, codes, units
from .events import DOSE_UNIT, EVENT_KEYS, KEY_OF_KIND
from .source import Diagnostic, Source, Span, quoted


# ----------------------------------------------------------------------- types
@attrs.frozen
class Num:
    """A number in a unit; `bare` for a literal written without one."""

    unit: units.Unit
    bare: bool = False
    molar_mass: Optional[float] = None  # g/mol, for mass <-> substance conversions


@attrs.frozen
class Bool:
    """True, false or unknown."""


@attrs.frozen
class Cat:
    """A value of a category input; `open` for a name of a lone expression (any text).

    `ordered` for a scale (`ordered "I", "II", ...`): its values are ordered as listed.
    """

    values: tuple[str, ...]
    owner: str
    open: bool = False
    ordered: bool = False


@attrs.frozen
class Str:
    """A quoted category literal."""

    value: str


@attrs.frozen
class Events:
    """An event input: the patient's events of a kind whose code is in a value set."""

    kind: str  # "condition" | "procedure" | "medication"
    valueset: str
    owner: str
    codes: Any = attrs.field(default=None, eq=False, repr=False)  # the valuesets.ValueSet
    complete: str = ""  # what is declared complete: the kind's key ("conditions") or the input's name; "" if not


@attrs.frozen
class Date:
    """A calendar date (a `date` input): read only by `age(D)` and `time since D`."""


@attrs.frozen
class Err:
    """The type of an expression that already has an error: it raises no more."""


Type = Union[Num, Bool, Cat, Str, Events, Date, Err]
BARE = Num(units.DIMENSIONLESS, bare=True)
PLAIN = Num(units.DIMENSIONLESS)


def describe(t: Type) -> str:
    """A type in words, for messages."""
    if isinstance(t, Num):
        if t.bare or t.unit.is_dimensionless:
            return "a plain number"
        return f"a number in {t.unit.text}"
    if isinstance(t, Bool):
        return "a true/false value"
    if isinstance(t, Cat):
        return f"a category ({t.owner})"
    if isinstance(t, Str):
        return f"the text {quoted(t.value)}"
    if isinstance(t, Events):
        return f"the {t.kind} events of '{t.owner}'"
    if isinstance(t, Date):
        return "a date"
    return "an invalid value"


@attrs.frozen
class InputInfo:
    """A declared input, resolved: its type, plausible range, molar mass and label."""

    name: str
    type: Type
    range: Optional[tuple[float, float]] = None
    label: Optional[str] = None
    span: Span = attrs.field(eq=False, default=Span(0, 0))
    whole: bool = False  # `integer`: patient values must be whole numbers
    look_back: Optional[Any] = None  # records.Window: how old the current value may be
    normal: Optional[tuple[float, float]] = None  # the default reference range (`normal LOW..HIGH`)
    codes: tuple[tuple[str, str], ...] = ()  # (system URI, code) pairs, from `code SYSTEM "CODE"`


@attrs.frozen
class FunctionInfo:
    """A function checked in its own file; `parameters` is None for an imported definition (used by name)."""

    name: str
    parameters: Optional[tuple[tuple[str, Type], ...]]
    result: Type
    node: Any  # ast.Function, or ast.Define for an imported definition
    source: Source = attrs.field(eq=False, repr=False)

    @property
    def place(self) -> str:
        line, column = self.source.position(self.node.name_span.start)
        return f"{self.source.name}:{line}:{column}"


@attrs.define
class Checked:
    """What the checker learned: types of every node, inputs, definitions, problems."""

    source: Source
    tree: ast.RulesFile
    inputs: dict[str, InputInfo]
    definitions: dict[str, ast.Define]
    criteria: list[ast.Criterion]
    header: Optional[ast.Header]
    types: dict[int, Type]  # id(node) -> type; nodes are values, so identity is the key
    diagnostics: list[Diagnostic]
    functions: dict[str, FunctionInfo] = attrs.Factory(dict)  # this file's and imported ones
    valuesets: dict = attrs.field(factory=dict)  # name -> valuesets.ValueSet
    complete: frozenset = frozenset()  # kinds of record ("conditions", ...) and input names declared complete
    windows: dict = attrs.field(factory=dict)  # id(ast.Call) -> records.Window of an aggregate's `within`
    limits: dict = attrs.field(factory=dict)  # id(ast.Limit) -> the input whose limit of normal it is

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def type_of(self, node) -> Type:
        return self.types[id(node)]


def conversion(src: Num, dst: Num) -> units.Conversion:
    """How a number of type `src` is brought into the unit of `dst` (a factor, or an offset or logarithm too)."""
    if src.bare or dst.bare:
        return units.Conversion()
    found = units.convert(src.unit, dst.unit, dst.molar_mass or src.molar_mass)
    assert found is not None, "the checker let incompatible units through"
    return found


def _nonlinear(t: Type) -> bool:
    """A number in a temperature or a logarithmic unit: not a quantity that adds or scales."""
    return isinstance(t, Num) and not t.bare and not t.unit.is_linear


_NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")

_MOLAR_HINT = ": mass and amount of substance convert through a molar mass, so declare the input's (molar mass N g/mol)"

# How deep an expression may nest, counting definitions it uses: the later stages
# walk expressions recursively, and real criteria nest a dozen levels.
MAX_DEPTH = 150

FUNCTIONS = {
    # name: (fewest arguments, most arguments or None for any)
    "ln": (1, 1),
    "log10": (1, 1),
    "exp": (1, 1),
    "sqrt": (1, 1),
    "abs": (1, 1),
    "floor": (1, 1),
    "ceil": (1, 1),
    "round": (1, 2),
    "min": (2, None),
    "max": (2, None),
    "clamp": (3, 3),
    "known": (1, 1),
}


# `import NAME`: the libraries shipped inside the package (protocol_dsl/library/NAME.rules).
LIBRARIES = ("scores",)


def library_path(name: str) -> Path:
    """Where the library `import NAME` reads is installed."""
    return Path(__file__).parent / "library" / f"{name}.rules"


# Functions over an event input's events (events.py computes them at the index date).
EVENT_FUNCTIONS = frozenset({"any", "count", "time since", "on", "dose", "stable_for", "exposure"})
MEDICATION_FUNCTIONS = frozenset({"on", "dose", "stable_for", "exposure"})
WINDOWED_FUNCTIONS = frozenset({"any", "count", "exposure"})


def check(source: Source, tree: ast.RulesFile) -> Checked:
    """Check a parsed rules file (and the files it imports)."""
    return _Checker(source, tree).run()


def check_expression(source: Source, expr: ast.Expr) -> tuple[Checked, dict[str, InputInfo]]:
    """Check a lone expression whose unknown names become inputs (numbers, or booleans in logic)."""
    checker = _Checker(source, ast.RulesFile(statements=()), free_names=True)
    checked = checker.run()
    checker.visit(expr, want_bool=False)
    return checked, checker.free_inputs


class _Checker:
    def __init__(
        self,
        source: Source,
        tree: ast.RulesFile,
        free_names: bool = False,
        module: bool = False,
        importing: tuple = (),
    ):
        self.source = source
        self.tree = tree
        self.free_names = free_names
        self.date_allowed = False  # a date input's name is read only inside age(D) and time since D
        self.module = module  # an imported file: definitions and functions only
        self.importing = importing  # (path, shown name) of each file importing this one, outermost first
        self.functions: dict[str, ast.Function] = {}
        self.parameter_types: dict[str, tuple[tuple[str, Type], ...]] = {}
        self.function_types: dict[str, Type] = {}
        self.imported: dict[str, FunctionInfo] = {}
        self.imported_files: set[str] = set()
        self.scope: Optional[dict[str, Type]] = None  # the parameters, inside a function's body
        self.free_inputs: dict[str, InputInfo] = {}
        self.diagnostics: list[Diagnostic] = []
        self.types: dict[int, Type] = {}
        self.inputs: dict[str, InputInfo] = {}
        self.definitions: dict[str, ast.Define] = {}
        self.definition_types: dict[str, Type] = {}
        self.in_cycle: set[str] = set()
        self.header: Optional[ast.Header] = None
        self.criteria: list[ast.Criterion] = []
        self.valuesets: dict = {}
        self.valueset_nodes: dict[str, ast.ValueSet] = {}
        self.complete: set[str] = set()
        self.windows: dict = {}
        self.limits: dict = {}  # id(ast.Limit) -> the input whose limit of normal it multiplies

    # diagnostics
    def error(self, code: str, message: str, span: Span) -> Err:
        self.diagnostics.append(Diagnostic("error", code, message, self.source, span))
        return Err()

    def warning(self, code: str, message: str, span: Span) -> None:
        self.diagnostics.append(Diagnostic("warning", code, message, self.source, span))

    def run(self) -> Checked:
        self.declare()
        self.limit_depth()
        if not self.criteria and not self.free_names and not self.module:
            self.warning(
                "W102",
                "this file has no inclusion or exclusion criteria: every patient would be eligible",
                Span(0, 0),
            )
        self.find_cycles()
        for name in self.functions:
            self.function_type(name)
        for define in self.definitions.values():
            self.definition_type(define.name)
        for criterion in self.criteria:
            if self.depth(criterion.expr) > MAX_DEPTH:
                if not self.references(criterion.expr) & self.in_cycle:
                    self.too_deep(criterion.expr.span)
                continue
            t = self.visit(criterion.expr, want_bool=True)
            if criterion.kind == "exclusion" and isinstance(criterion.expr, ast.If) and criterion.expr.otherwise is None:
                self.warning(
                    "W103",
                    f"exclusion {criterion.id}: 'if C then A' without 'else' is true when C is false, "
                    "so it would exclude every patient it does not apply to: write 'C and A'",
                    criterion.expr.span,
                )
            if not isinstance(t, (Bool, Err)):
                self.error(
                    "E205",
                    f"criterion {criterion.id} must be true or false, but its expression is {describe(t)}",
                    criterion.expr.span,
                )
        # This file's problems first, then each imported file's, each in the order of its text.
        self.diagnostics.sort(key=lambda d: (d.source is not self.source, d.source.name, d.span.start, d.span.end))
        functions = dict(self.imported)
        for name, node in self.functions.items():
            functions[name] = FunctionInfo(name, self.parameters_of(name), self.function_type(name), node, self.source)
        if self.module:  # an imported definition is used by its name, its body lowered where it is used
            for name, define in self.definitions.items():
                functions[name] = FunctionInfo(name, None, self.definition_type(name), define, self.source)
        return Checked(
            source=self.source,
            tree=self.tree,
            inputs=self.inputs,
            definitions=self.definitions,
            criteria=self.criteria,
            header=self.header,
            types=self.types,
            diagnostics=self.diagnostics,
            functions=functions,
            valuesets=self.valuesets,
            complete=frozenset(self.complete),
            windows=self.windows,
            limits=self.limits,
        )

    # ------------------------------------------------------------- declarations
    def declare(self) -> None:
        ids: set[str] = set()
        for statement in self.tree.statements:
            if isinstance(statement, ast.Import):
                self.load_import(statement)
        for statement in self.tree.statements:  # first, so that an input may use a value set declared below
            if isinstance(statement, ast.ValueSet):
                self.declare_valueset(statement)
        for index, statement in enumerate(self.tree.statements):
            if self.module and isinstance(statement, (ast.Header, ast.Input, ast.Criterion)):
                what = {ast.Header: "a protocol header", ast.Input: "an input", ast.Criterion: "a criterion"}
                self.error(
                    "E111",
                    f"an imported file holds only definitions and functions, not {what[type(statement)]}: "
                    "move it to the file that imports this one",
                    statement.span,
                )
                continue
            if isinstance(statement, (ast.Input, ast.Define, ast.Function)) and statement.name in self.imported:
                self.error(
                    "E112",
                    f"'{statement.name}' is already defined in {self.imported[statement.name].place}: "
                    "give this one another name",
                    statement.name_span,
                )
                continue
            if isinstance(statement, ast.Function):
                self.declare_function(statement)
            elif isinstance(statement, ast.Header):
                if self.header is not None:
                    self.error("E105", "a file holds one protocol: remove this second 'protocol' header", statement.span)
                elif index != 0:
                    self.error("E105", "the 'protocol' header must come first in the file", statement.span)
                    self.header = statement
                else:
                    self.header = statement
            elif isinstance(statement, (ast.Input, ast.Define)):
                if statement.name in self.inputs or statement.name in self.definitions or statement.name in self.functions:
                    self.error(
                        "E102",
                        f"'{statement.name}' is already declared: give this one another name",
                        statement.name_span,
                    )
                elif isinstance(statement, ast.Input):
                    info = self.declare_input(statement)
                    self.inputs[statement.name] = attrs.evolve(info, codes=self.declare_codes(statement, info))
                else:
                    self.definitions[statement.name] = statement
            elif isinstance(statement, ast.Criterion):
                if statement.id in ids:
                    self.error(
                        "E103",
                        f"criterion id '{statement.id}' is already used: each criterion needs its own id",
                        statement.id_span,
                    )
                else:
                    ids.add(statement.id)
                self.criteria.append(statement)
        for statement in self.tree.statements:  # last: a kind may be an input's name
            if isinstance(statement, ast.Complete):
                self.declare_complete(statement)
        for name, info in self.inputs.items():
            t = info.type
            if isinstance(t, Events):
                declared = name if name in self.complete else KEY_OF_KIND[t.kind] if KEY_OF_KIND[t.kind] in self.complete else ""
                self.inputs[name] = attrs.evolve(info, type=attrs.evolve(t, complete=declared))

    def declare_valueset(self, node: ast.ValueSet) -> None:
        from . import valuesets

        if node.name in self.valueset_nodes:
            self.error("E102", f"value set '{node.name}' is already declared: give this one another name", node.name_span)
            return
        self.valueset_nodes[node.name] = node
        try:
            if node.path is not None:
                # relative to the rules file; a text that is no file (`loads`) reads from the working directory
                base = Path(self.source.name).parent if not self.source.name.startswith("<") else Path()
                target = Path(node.path) if Path(node.path).is_absolute() else base / node.path
                loaded = valuesets.load(target, node.name)
            else:
                if valuesets.canonical_system(node.system) is None:
                    self.error("E501", valuesets.system_problem(node.system), node.system_span)
                    return
                problems = []
                for code in node.codes:
                    try:
                        valuesets.parse_pattern(valuesets.canonical_system(node.system), code.value)
                    except ValueError as problem:
                        problems.append(self.error("E501", f"value set '{node.name}': {problem}", code.span))
                if problems:
                    return
                loaded = valuesets.ValueSet([(node.system, c.value) for c in node.codes], node.name)
        except valuesets.ValueSetError as problem:
            self.error("E501", f"value set '{node.name}' cannot be loaded: {problem}", node.span)
            return
        self.valuesets[node.name] = loaded

    def declare_complete(self, node: ast.Complete) -> None:
        for kind, span in zip(node.kinds, node.kind_spans):
            if kind in EVENT_KEYS or kind in self.inputs:
                self.complete.add(kind)
            else:
                known = list(EVENT_KEYS) + list(self.inputs)
                self.error(
                    "E504",
                    f"'{kind}' is not a kind of record (conditions, procedures, medications) or an input"
                    f"{_did_you_mean(kind, known)}",
                    span,
                )

    # ------------------------------------------------------------- functions and imports
    def declare_function(self, node: ast.Function) -> None:
        if node.name in FUNCTIONS:
            self.error(
                "E108",
                f"'{node.name}' is a built-in function: give this function another name",
                node.name_span,
            )
            return
        if node.name in self.inputs or node.name in self.definitions or node.name in self.functions:
            self.error("E102", f"'{node.name}' is already declared: give this one another name", node.name_span)
            return
        self.functions[node.name] = node
        seen: set[str] = set()
        parameters = []
        for parameter in node.parameters:
            if parameter.name in seen:
                self.error(
                    "E108",
                    f"{node.name}() has two parameters named '{parameter.name}': give each its own name",
                    parameter.name_span,
                )
            seen.add(parameter.name)
            if isinstance(parameter.type, ast.BooleanType):
                t: Type = Bool()
            elif parameter.type.unit is None:
                t = PLAIN
            else:
                unit = self.resolve_unit(parameter.type.unit, parameter.type.unit_span)
                t = Num(unit) if unit is not None else Err()
            if parameter.molar_mass is not None:
                t = self.parameter_molar_mass(parameter, t)
            parameters.append((parameter.name, t))
        self.parameter_types[node.name] = tuple(parameters)

    def parameter_molar_mass(self, parameter: ast.Parameter, t: Type) -> Type:
        mass = parameter.molar_mass
        given = self.resolve_unit(mass.unit, mass.unit_span) if mass.unit else None
        factor = units.conversion_factor(given, units.parse_unit("g/mol")) if given else None
        if not isinstance(t, Num):
            if not isinstance(t, Err):
                self.error("E302", f"only a number can have a molar mass; '{parameter.name}' is not a number", mass.span)
            return Err()
        if factor is None:
            if given is not None or not mass.unit:
                self.error("E302", "a molar mass needs a unit of mass per amount of substance, such as g/mol", mass.span)
            return Err()
        if not self.finite_literal(mass) or mass.value <= 0:
            if math.isfinite(mass.value):
                self.error("E302", "a molar mass must be greater than zero", mass.span)
            return Err()
        return Num(t.unit, molar_mass=mass.value * factor)

    def parameters_of(self, name: str) -> tuple[tuple[str, Type], ...]:
        return self.parameter_types[name]

    def function_type(self, name: str) -> Type:
        if name in self.in_cycle:
            return Err()
        if name not in self.function_types:
            self.function_types[name] = Err()  # a guard; cycles were reported already
            saved, self.scope = self.scope, dict(self.parameters_of(name))
            try:
                self.function_types[name] = self.visit(self.functions[name].expr, want_bool=False)
            finally:
                self.scope = saved
        return self.function_types[name]

    def load_import(self, node: ast.Import) -> None:
        """Check an imported file on its own; its definitions and functions become names here."""
        from .errors import RulesError
        from .parser import parse_source

        if node.library:
            if node.target not in LIBRARIES:
                choices = ", ".join(LIBRARIES)
                self.error(
                    "E110",
                    f"there is no library '{node.target}'{_did_you_mean(node.target, list(LIBRARIES))}: "
                    f"the libraries are {choices} (a file is imported by its path in quotes)",
                    node.target_span,
                )
                return
            path, shown = library_path(node.target), node.target
        else:
            if not node.target.endswith(".rules"):
                self.error(
                    "E110",
                    f"cannot import {quoted(node.target)}: an imported file is a rules file, named *.rules",
                    node.target_span,
                )
                return
            here = self.source.name
            base = Path(here).parent if not here.startswith("<") else Path(".")
            path = base / node.target
            shown = os.path.normpath(os.fspath(path))
        try:
            key = os.path.normcase(os.path.realpath(path))
        except (OSError, ValueError):  # a path no file system accepts (a NUL character)
            self.error("E110", f"cannot import {quoted(node.target)}: it is not a file name", node.target_span)
            return
        chain = [s for _, s in self.importing] + [self.source.name]
        if key in [k for k, _ in self.importing] or key == os.path.normcase(os.path.realpath(self.source.name)):
            self.error(
                "E110",
                f"files import each other in a circle ({' -> '.join(chain + [shown])}): remove one of the imports",
                node.target_span,
            )
            return
        if key in self.imported_files:
            return
        self.imported_files.add(key)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ValueError) as problem:
            why = "no such file" if isinstance(problem, FileNotFoundError) else (
                "it is not UTF-8 text" if isinstance(problem, UnicodeDecodeError) else (problem.strerror or str(problem)))
            self.error("E110", f"cannot import {quoted(node.target)}: {why} (at {shown})", node.target_span)
            return
        source = Source(text, shown if not node.library else f"<{node.target}>")  # a library by its name
        try:
            tree = parse_source(source)
        except RulesError as problem:
            self.diagnostics.extend(problem.diagnostics)
            return
        own = os.path.normcase(os.path.realpath(self.source.name)) if not self.source.name.startswith("<") else "<>"
        child = _Checker(source, tree, module=True, importing=self.importing + ((own, self.source.name),))
        checked = child.run()
        self.diagnostics.extend(checked.diagnostics)
        self.types.update(checked.types)
        for name, info in checked.functions.items():
            earlier = self.imported.get(name)
            if earlier is not None and earlier.place != info.place:
                self.error(
                    "E112",
                    f"'{name}' is defined twice: in {earlier.place} and in {info.place}; "
                    "two imported files cannot define the same name",
                    node.target_span,
                )
            elif earlier is None:
                self.imported[name] = info

    def declare_input(self, node: ast.Input) -> InputInfo:
        if node.name in EVENT_KEYS:
            self.error(
                "E503",
                f"'{node.name}' is the key of patient data that lists the {node.name} (events): give this input another name",
                node.name_span,
            )
        if isinstance(node.type, ast.EventType):
            return self.declare_events(node)
        seen: set[type] = set()
        for attribute in node.attributes:
            if type(attribute) in seen and not isinstance(attribute, ast.Code):  # codes repeat
                self.error("E302", f"input '{node.name}' has this attribute twice: keep one", attribute.span)
            seen.add(type(attribute))
        label = node.attribute(ast.Label)
        label_text = label.text if label else None
        if isinstance(node.type, ast.DateType):
            for attribute in node.attributes:
                if not isinstance(attribute, (ast.Label, ast.Code)):
                    self.error("E302", f"'{node.name}' is a date: it takes a label and codes, no other attribute",
                               attribute.span)
            return InputInfo(node.name, Date(), label=label_text, span=node.name_span)
        if isinstance(node.type, ast.BooleanType) or isinstance(node.type, ast.CategoryType):
            for attribute in node.attributes:
                if isinstance(attribute, (ast.Range, ast.MolarMass, ast.Normal)):
                    what = {ast.Range: "a range", ast.MolarMass: "a molar mass", ast.Normal: "a normal range"}[
                        type(attribute)]
                    self.error("E302", f"only number inputs can have {what}; '{node.name}' is not a number", attribute.span)
            if isinstance(node.type, ast.BooleanType):
                return InputInfo(node.name, Bool(), label=label_text, span=node.name_span, look_back=self.look_back(node))
            values: list[str] = []
            for value in node.type.values:
                if value.value in values:
                    self.error("E302", f"{quoted(value.value)} is listed twice among the values of '{node.name}'", value.span)
                else:
                    values.append(value.value)
            category = Cat(tuple(values), node.name, ordered=node.type.ordered)
            return InputInfo(node.name, category, label=label_text, span=node.name_span, look_back=self.look_back(node))

        unit = units.DIMENSIONLESS
        failed = False  # the input's own declaration has an error: its uses raise no more
        if node.type.unit is not None:
            resolved = self.resolve_unit(node.type.unit, node.type.unit_span)
            failed = resolved is None
            unit = resolved or units.DIMENSIONLESS
        molar_mass = None
        mass = node.attribute(ast.MolarMass)
        if mass is not None and node.type.whole:
            failed = True
            self.error("E302", f"'{node.name}' is an integer (a count or a score): it cannot have a molar mass", mass.span)
        elif mass is not None:
            grams_per_mole = units.parse_unit("g/mol")
            given = self.resolve_unit(mass.amount.unit, mass.amount.unit_span) if mass.amount.unit else None
            factor = units.conversion_factor(given, grams_per_mole) if given else None
            if factor is None:
                failed = True
                if given is not None or not mass.amount.unit:
                    self.error(
                        "E302", "a molar mass needs a unit of mass per amount of substance, such as g/mol", mass.span
                    )
            elif not self.finite_literal(mass.amount):
                failed = True
            elif mass.amount.value <= 0:
                failed = True
                self.error("E302", "a molar mass must be greater than zero", mass.span)
            else:
                molar_mass = mass.amount.value * factor
                if not math.isfinite(molar_mass):
                    failed, molar_mass = True, None
                    self.error(
                        "E206",
                        f"the molar mass {self.source.slice(mass.amount.span)} is too large to compute with: "
                        "in g/mol it can be at most about 1.8e308",
                        mass.span,
                    )
        bounds = None
        range_ = node.attribute(ast.Range)
        if range_ is not None:
            low, high = range_.low.value, range_.high.value
            if not (self.finite_literal(range_.low) & self.finite_literal(range_.high)):
                pass  # reported: a range beyond the float range bounds nothing
            elif node.type.whole and not (float(low).is_integer() and float(high).is_integer()):
                self.error(
                    "E302",
                    f"'{node.name}' takes whole numbers, so its range needs whole bounds, "
                    f"not {range_.low.text}..{range_.high.text}",
                    range_.span,
                )
            elif low > high:
                self.error(
                    "E302",
                    f"the range of '{node.name}' runs from {range_.low.text} down to {range_.high.text}: "
                    f"write the lower bound first",
                    range_.span,
                )
            else:
                bounds = (low, high)
        t = Err() if failed else Num(unit, molar_mass=molar_mass)
        return InputInfo(node.name, t, bounds, label_text, node.name_span, whole=node.type.whole,
                         look_back=self.look_back(node), normal=self.normal(node))

    def declare_events(self, node: ast.Input) -> InputInfo:
        from .valuesets import KIND_SYSTEMS

        label = node.attribute(ast.Label)
        for attribute in node.attributes:
            if not isinstance(attribute, ast.Label):
                what = "a range" if isinstance(attribute, ast.Range) else "a molar mass"
                self.error("E302", f"only number inputs can have {what}; '{node.name}' lists {node.type.kind}s", attribute.span)
        name = node.type.valueset
        t: Type = Events(node.type.kind, name, node.name, self.valuesets.get(name))
        if name not in self.valuesets:
            if name not in self.valueset_nodes:  # a value set with errors was reported already
                self.error(
                    "E502",
                    f"there is no value set '{name}'{_did_you_mean(name, list(self.valueset_nodes))}: "
                    f"declare it with 'valueset {name}: SYSTEM \"CODE\", ...'",
                    node.type.valueset_span,
                )
            t = Err()
        else:
            systems = self.valuesets[name].systems
            expected = KIND_SYSTEMS[node.type.kind]
            known = {"ICD10", "SNOMED", "LOINC", "ATC", "RxNorm"}
            if systems <= known and not systems & expected:
                self.warning(
                    "W501",
                    f"value set '{name}' holds {', '.join(sorted(systems))} codes, which do not code {node.type.kind}s "
                    f"(those are coded in {', '.join(sorted(expected))}): no {node.type.kind} will match",
                    node.type.valueset_span,
                )
        return InputInfo(node.name, t, label=label.text if label else None, span=node.name_span)

    # ------------------------------------------------------------- dated records
    def look_back(self, node: ast.Input):
        attribute = node.attribute(ast.LookBack)
        return None if attribute is None else self.window(attribute.amount, "a look-back")

    def normal(self, node: ast.Input) -> Optional[tuple[float, float]]:
        attribute = node.attribute(ast.Normal)
        if attribute is None or not (self.finite_literal(attribute.low) & self.finite_literal(attribute.high)):
            return None
        if attribute.low.value > attribute.high.value:
            self.error("E302", f"the normal range of '{node.name}' runs from {attribute.low.text} down to "
                       f"{attribute.high.text}: write the lower limit first", attribute.span)
            return None
        return (attribute.low.value, attribute.high.value)

    def visit_Limit(self, node: ast.Limit, want_bool: bool) -> Type:
        self.visit(node.factor, want_bool=False)
        name = self.limits.get(id(node))
        if name is None:
            return self.error(
                "E604",
                f"'x {node.limit}' is a multiple of the limit of normal of the input compared with it: write it "
                f"beside that input's name (ALT <= 2.5 x ULN), or use {node.limit.lower()}(NAME)",
                node.span,
            )
        return self.inputs[name].type

    def window(self, number: ast.Number, what: str = "a window"):
        """The records.Window of a duration literal, or an error (E601) and None."""
        from . import records

        self.visit(number, want_bool=False)
        t = self.types.get(id(number))
        if isinstance(t, Err):
            return None
        window = None
        if isinstance(t, Num) and not t.bare:
            factor = units.conversion_factor(t.unit, units.parse_unit("d"))
            names = {1 / 24: "h", 1.0: "d", 7.0: "wk", 30.4375: "mo", 365.25: "a"}
            unit = next((u for f, u in names.items() if factor is not None and abs(factor - f) < 1e-9), None)
            window = records.window_of(unit, number.value) if unit else None
        if window is None:
            self.error(
                "E601",
                f"{what} is a whole number of hours, days, weeks, months or years (such as 12 months), "
                f"not {self.source.slice(number.span)}",
                number.span,
            )
        return window

    def is_record_call(self, node: ast.Call) -> bool:
        return is_record_call(self.inputs, node)

    def visit_record_call(self, node: ast.Call) -> Type:
        from .records import CONDITION_AGGREGATES, NUMERIC_AGGREGATES

        name = node.function
        shown = "time since" if name == "time since" else f"{name}()"
        (argument,) = node.args
        window = None
        if node.window is not None:
            if name in ("uln", "lln"):
                return self.error("E602", f"{shown} does not take a window: it is the limit of the current value",
                                  node.window.span)
            if name == "time since":
                return self.error("E602", "time since does not take a window: it counts from the latest value", node.window.span)
            if name == "age":
                return self.error("E602", "age() does not take a window: it is the age at the index date", node.window.span)
            window = self.window(node.window)
            if window is None:
                return Err()
            self.windows[id(node)] = window
        names = sorted({n.name for n in ast.walk(argument) if isinstance(n, ast.Name)})
        inputs = [n for n in names if n in self.inputs]
        others = [n for n in names if n not in self.inputs]
        bare = isinstance(argument, ast.Name)
        if name in CONDITION_AGGREGATES and not (name == "count" and bare):
            if others or len(inputs) != 1:
                t = self.visit(argument, want_bool=True)
                if isinstance(t, Err):
                    return t
                read = ", ".join(f"'{n}'" for n in names) or "no input"
                return self.error(
                    "E602",
                    f"the condition of {shown} reads exactly one input with dated values, and no definitions; "
                    f"this one reads {read}",
                    argument.span,
                )
            t = self.expect_bool(argument, shown)
            if isinstance(t, Err):
                return t
        else:
            if not bare or argument.name not in self.inputs:
                if isinstance(self.visit(argument, want_bool=False), Err):
                    return Err()
                return self.error("E602", f"{shown} takes the name of an input with dated values", argument.span)
            self.date_allowed = name in ("time since", "age")
            try:
                t = self.visit(argument, want_bool=False)
            finally:
                self.date_allowed = False
            if isinstance(t, Err):
                return t
            if name == "age" and not isinstance(t, Date):
                return self.error("E602", f"age() takes a date input, such as a birth date, but '{argument.name}' is "
                                  f"{describe(t)}", argument.span)
            if name in NUMERIC_AGGREGATES | {"rate", "uln", "lln"} and not isinstance(t, Num):
                return self.error("E602", f"{shown} takes a number input, but '{argument.name}' is {describe(t)}", argument.span)
        info = self.inputs[inputs[0]] if inputs else None
        if window is not None and name == "rate" and window.days() == 0:
            self.error("E603", f"rate() needs two values at different times, which 'within {window.text()}' cannot hold: "
                       "give a longer window", node.window.span)
        if window is not None and info is not None and info.look_back is not None and window.days() > info.look_back.days():
            self.warning("W601", f"the window {window.text()} is longer than the look-back of '{info.name}' "
                         f"({info.look_back.text()}), so values that old are read here but never as its current value",
                         node.window.span)
        if name in ("count",):
            return PLAIN
        if name in ("any", "all"):
            return Bool()
        if name in ("duration", "time since"):
            return Num(units.parse_unit("d"))
        if name == "age":
            return Num(units.parse_unit("years"))
        if name == "rate":
            return Num(units.divide(t.unit, units.parse_unit("d")), molar_mass=t.molar_mass)
        return t

    def declare_codes(self, node: ast.Input, info: InputInfo) -> tuple[tuple[str, str], ...]:
        """The (system URI, code) pairs an input is bound to, each checked (E303)."""
        found: list[tuple[str, str]] = []
        fhir = None
        for attribute in node.attributes:
            if not isinstance(attribute, ast.Code):
                continue
            system = attribute.system
            if attribute.quoted and not codes.is_uri(system):
                self.error(
                    "E303",
                    f"{quoted(system)} is not a URI: write a system's full URI, such as \"http://loinc.org\", "
                    "or its alias (LOINC, SNOMED, ICD10, ATC, RxNorm, FHIR)",
                    attribute.system_span,
                )
                continue
            if not attribute.quoted and system not in codes.SYSTEMS:
                hint = _did_you_mean(system, list(codes.SYSTEMS))
                self.error(
                    "E303",
                    f"unknown code system '{system}'{hint}: use LOINC, SNOMED, ICD10, ATC, RxNorm, FHIR or a quoted URI",
                    attribute.system_span,
                )
                continue
            if not attribute.code.strip():
                self.error("E303", "the code is empty: write the code, such as \"1975-2\"", attribute.span)
                continue
            pair = (codes.uri(system), attribute.code)
            if pair in found:
                self.error("E303", f"{system} {quoted(attribute.code)} is listed twice for '{node.name}'", attribute.span)
                continue
            if pair[0] == codes.SYSTEMS["FHIR"]:
                problem = self.fhir_element(attribute.code, info)
                if problem:
                    self.error("E303", problem, attribute.span)
                    continue
                fhir = attribute
            found.append(pair)
        if fhir is not None and len(found) > 1:
            self.error(
                "E303",
                f"'{node.name}' is read from {fhir.code}, so it cannot also have other codes: keep one",
                fhir.span,
            )
        return tuple(found)

    def fhir_element(self, element: str, info: InputInfo) -> Optional[str]:
        """Why an input cannot be bound to a Patient element, or None."""
        if element not in codes.FHIR_ELEMENTS:
            hint = _did_you_mean(element, list(codes.FHIR_ELEMENTS))
            return f"{quoted(element)} is not a FHIR element protocol-dsl reads{hint}: use \"Patient.birthDate\" or \"Patient.gender\""
        t = info.type
        if element == "Patient.gender" and not isinstance(t, (Cat, Err)):
            return f"Patient.gender is a category: bind it to a 'one of' input, but '{info.name}' is {describe(t)}"
        if element == "Patient.birthDate":
            years = units.parse_unit("years")
            if isinstance(t, (Bool, Cat)) or (isinstance(t, Num) and units.conversion_factor(t.unit, years) is None):
                return (
                    f"Patient.birthDate is a date: bind it to a number input in years (the age at the index date), "
                    f"but '{info.name}' is {describe(t)}"
                )
        return None

    def resolve_unit(self, text: str, span: Span) -> Optional[units.Unit]:
        try:
            return units.parse_unit(text)
        except units.UnitError as problem:
            self.error("E301", str(problem), span)
            return None

    # ------------------------------------------------------------- depth
    def limit_depth(self) -> None:
        """Refuse definitions nested, through each other, deeper than the stages can walk."""
        self.depths: dict[str, int] = {}
        graph = {name: sorted(self.references(d.expr) & self.definitions.keys()) for name, d in self.definitions.items()}
        # Tarjan's components come dependencies first, so each depth is known before it is used.
        for component in _strongly_connected(graph):
            for name in component:
                self.depths[name] = 0  # cycles are reported by find_cycles
            for name in component:
                self.depths[name] = self.depth(self.definitions[name].expr)
        for name, depth in self.depths.items():
            if depth > MAX_DEPTH:
                if not set(graph[name]) & self.in_cycle:  # report where the limit is first crossed
                    self.too_deep(self.definitions[name].name_span)
                self.in_cycle.add(name)  # never type-checked or compiled

    def depth(self, expr) -> int:
        deepest = 0
        stack = [(expr, 1)]
        while stack:
            node, depth = stack.pop()
            if isinstance(node, ast.Name):
                depth += self.depths.get(node.name, 0)
            deepest = max(deepest, depth)
            for field in attrs.fields(type(node)):
                value = getattr(node, field.name)
                children = value if isinstance(value, tuple) else (value,)
                stack.extend((c, depth + 1) for c in children if attrs.has(type(c)) and not isinstance(c, Span))
        return deepest

    def too_deep(self, span: Span) -> None:
        self.error(
            "E002",
            f"this nests more than {MAX_DEPTH} levels deep, counting the definitions it uses: "
            "no criterion needs that, so write it more simply",
            span,
        )

    # ------------------------------------------------------------- definitions
    def find_cycles(self) -> None:
        """Report each cycle of definitions and functions once, at its first member in the file."""
        local = self.definitions.keys() | self.functions.keys()
        graph = {name: sorted(self.references(d.expr) & local) for name, d in self.definitions.items()}
        for name, function in self.functions.items():
            names = self.references(function.expr) - {p.name for p in function.parameters}
            graph[name] = sorted((names | self.calls(function.expr)) & local)
        for name, define in self.definitions.items():
            graph[name] = sorted(set(graph[name]) | (self.calls(define.expr) & self.functions.keys()))
        nodes = {**self.definitions, **self.functions}
        order = {s.name: i for i, s in enumerate(self.tree.statements) if isinstance(s, (ast.Define, ast.Function))}
        for component in _strongly_connected(graph):
            first = min(component, key=lambda n: order.get(n, 0))
            if len(component) == 1 and first not in graph[first]:
                continue
            self.in_cycle.update(component)
            path = _cycle_path(graph, first, set(component))
            if any(n in self.functions for n in component):
                message = (
                    f"functions and definitions call each other in a circle ({' -> '.join(path)}): "
                    "a function cannot call itself, directly or through others"
                )
            else:
                message = (
                    f"definitions refer to each other in a circle ({' -> '.join(path)}): "
                    "a definition cannot depend on itself"
                )
            self.error("E104", message, nodes[first].name_span)

    @staticmethod
    def calls(node) -> set[str]:
        return {item.function for item in ast.walk(node) if isinstance(item, ast.Call)}

    @staticmethod
    def references(node) -> set[str]:
        return {item.name for item in ast.walk(node) if isinstance(item, ast.Name)}

    def definition_type(self, name: str) -> Type:
        if name in self.in_cycle:
            return Err()
        if name not in self.definition_types:
            self.definition_types[name] = Err()  # a guard; cycles were reported already
            saved, self.scope = self.scope, None
            try:
                self.definition_types[name] = self.visit(self.definitions[name].expr, want_bool=False)
            finally:
                self.scope = saved
        return self.definition_types[name]

    # ------------------------------------------------------------- expressions
    def visit(self, node, want_bool: bool) -> Type:
        t = getattr(self, "visit_" + type(node).__name__)(node, want_bool)
        self.types[id(node)] = t
        return t

    def visit_Number(self, node: ast.Number, want_bool: bool) -> Type:
        finite = self.finite_literal(node)
        if node.unit is None:
            return BARE if finite else Err()
        unit = self.resolve_unit(node.unit, node.unit_span)
        return Num(unit) if unit is not None and finite else Err()

    def finite_literal(self, node: ast.Number) -> bool:
        """Whether a number literal is within the float range; E206 when it is not.

        The later stages (lowering, the backends) read literals as floats and rely on
        this: a literal such as 1e400, or an integer of 400 digits, is refused here.
        """
        if math.isfinite(node.value):
            return True
        digits = [c for c in node.text if c.isdigit()]
        shown = node.text if len(node.text) <= 24 else f"{node.text[:12]}... ({len(digits)} digits)"
        self.error(
            "E206",
            f"the number {shown} is too large to compute with: numbers can be at most about 1.8e308",
            node.span,
        )
        return False

    def visit_String(self, node: ast.String, want_bool: bool) -> Type:
        return Str(node.value)

    def visit_Boolean(self, node: ast.Boolean, want_bool: bool) -> Type:
        return Bool()

    def visit_Name(self, node: ast.Name, want_bool: bool) -> Type:
        if self.scope is not None and node.name in self.scope:
            return self.scope[node.name]
        if node.name in self.imported and self.imported[node.name].parameters is None:
            return self.imported[node.name].result
        if node.name in self.functions or node.name in self.imported:
            names = [n for n, _ in self.signature(node.name)]
            return self.error(
                "E106",
                f"'{node.name}' is a function: call it with its arguments, {node.name}({', '.join(names)})",
                node.span,
            )
        if node.name in self.inputs:
            t = self.inputs[node.name].type
            if isinstance(t, Date) and not self.date_allowed:
                return self.error(
                    "E602", f"'{node.name}' is a date: use it as age({node.name}) or time since {node.name}", node.span
                )
            return Bool() if isinstance(t, Events) else t  # bare: whether there is such an event
        if node.name in self.definitions:
            return self.definition_type(node.name)
        if self.free_names:
            if node.name not in self.free_inputs:
                t = Bool() if want_bool else PLAIN
                self.free_inputs[node.name] = InputInfo(node.name, t, span=node.span)
            return self.free_inputs[node.name].type
        return self.error("E101", f"'{node.name}' is not declared{self.undeclared_advice(node)}", node.span)

    def undeclared_advice(self, node: ast.Name) -> str:
        """What the writer of an undeclared name most likely meant."""
        owners = [info.name for info in self.inputs.values() if isinstance(info.type, Cat) and node.name in info.type.values]
        if owners:
            return f': "{node.name}" is a value of {owners[0]}: write it in quotes, "{node.name}"'
        before = self.source.text[: node.span.start].rstrip()
        if before.endswith("/") and _is_unit("/" + node.name):
            number = re.search(r"([0-9.]+)\s*$", before[:-1])
            written = f"{number.group(1)} '/{node.name}'" if number else f"'/{node.name}'"
            return f": a unit after a space reads as a division: write it quoted, right after the number: {written}"
        known = list(self.inputs) + list(self.definitions)
        return _did_you_mean(node.name, known)

    def signature(self, name: str) -> tuple[tuple[str, Type], ...]:
        if name in self.functions:
            return self.parameters_of(name)
        return self.imported[name].parameters or ()

    def visit_user_call(self, node: ast.Call) -> Type:
        """A call of a function of this file or an imported one: arity, then each argument against its parameter."""
        name = node.function
        parameters = self.signature(name)
        result = self.function_type(name) if name in self.functions else self.imported[name].result
        types = [self.visit(argument, want_bool=False) for argument in node.args]
        if len(node.args) != len(parameters):
            count = len(parameters)
            names = ", ".join(n for n, _ in parameters)
            wanted = f"{count} argument{'s' if count != 1 else ''}" + (f" ({names})" if names else "")
            return self.error("E106", f"{name}() takes {wanted}, but {len(node.args)} given", node.function_span)
        failed = False
        for index, (argument, t, (parameter, wanted)) in enumerate(zip(node.args, types, parameters), 1):
            if isinstance(t, Err) or isinstance(wanted, Err):
                failed = True
                continue
            where = f"argument {index} of {name}() ({parameter})"
            if isinstance(wanted, Bool):
                if not isinstance(t, Bool):
                    failed = True
                    self.error("E109", f"{where} takes a true/false value, but this is {describe(t)}", argument.span)
                continue
            if not isinstance(t, Num):
                failed = True
                self.error("E109", f"{where} takes {describe(wanted)}, but this is {describe(t)}", argument.span)
            elif t.bare:
                if not wanted.unit.is_dimensionless:
                    number = self.source.slice(argument.span)
                    self.warning(
                        "W101",
                        f"{number} has no unit and is taken in {wanted.unit.text}: write '{number} {wanted.unit.text}'",
                        argument.span,
                    )
            elif t.molar_mass and wanted.molar_mass and not math.isclose(t.molar_mass, wanted.molar_mass, rel_tol=1e-3) \
                    and units.conversion_factor(t.unit, wanted.unit) is None:
                failed = True
                self.error(
                    "E109",
                    f"{where} is a substance of molar mass {wanted.molar_mass:g} g/mol, but this one's is "
                    f"{t.molar_mass:g} g/mol: is it the right value?",
                    argument.span,
                )
            elif units.conversion_factor(t.unit, wanted.unit, wanted.molar_mass or t.molar_mass) is None:
                failed = True
                hint = _MOLAR_HINT if units.conversion_factor(t.unit, wanted.unit, 1.0) is not None else ""
                self.error(
                    "E109",
                    f"{where} takes {describe(wanted)}, but this is {describe(t)}: the dimensions differ{hint}",
                    argument.span,
                )
        return Err() if failed else result

    def visit_Call(self, node: ast.Call, want_bool: bool) -> Type:
        if node.window is None and (node.function in self.functions or node.function in self.imported):
            if node.function in self.functions or self.imported[node.function].parameters is not None:
                return self.visit_user_call(node)
        if self.is_record_call(node):
            return self.visit_record_call(node)
        if node.function in EVENT_FUNCTIONS:
            return self.visit_event_call(node)
        if node.window is not None:
            return self.error("E505", f"{node.function}() does not take a window ('within ...')", node.window.span)
        if node.function not in FUNCTIONS:
            callable_ = [n for n in self.functions] + [n for n, i in self.imported.items() if i.parameters is not None]
            suggestion = _did_you_mean(
                node.function, sorted(FUNCTIONS) + sorted(EVENT_FUNCTIONS - {"time since"}) + sorted(callable_)
            )
            return self.error("E106", f"there is no function '{node.function}'{suggestion}", node.function_span)
        fewest, most = FUNCTIONS[node.function]
        count = len(node.args)
        if count < fewest or (most is not None and count > most):
            if most is None:
                wanted = f"at least {fewest} arguments"
            elif fewest == most:
                wanted = f"{fewest} argument{'s' if fewest > 1 else ''}"
            else:
                wanted = f"{fewest} to {most} arguments"
            return self.error("E106", f"{node.function}() takes {wanted}, but {count} given", node.function_span)
        if node.function == "known":
            (argument,) = node.args
            if not isinstance(argument, ast.Name):
                return self.error("E107", "known() takes the name of an input or a definition", argument.span)
            self.visit(argument, want_bool=False)
            return Bool()
        types = [self.visit(argument, want_bool=False) for argument in node.args]
        if any(isinstance(t, Err) for t in types):
            return Err()
        for argument, t in zip(node.args, types):
            if not isinstance(t, Num):
                return self.error("E201", f"{node.function}() takes numbers, but this is {describe(t)}", argument.span)
        first = types[0]
        if node.function in ("sqrt", "abs") and _nonlinear(first):
            return self.not_a_quantity(f"{node.function}()", first, node.args[0])
        if node.function in ("ln", "log10", "exp"):
            if not (first.bare or first.unit.is_dimensionless):
                return self.error(
                    "E204",
                    f"{node.function}() takes a plain number, but this is {describe(first)}: "
                    f"use '... as UNIT' to take its number in a unit",
                    node.args[0].span,
                )
            return Num(units.DIMENSIONLESS, bare=first.bare)
        if node.function == "sqrt":
            return first if first.bare else Num(units.power(first.unit, 0.5))
        if node.function == "round" and count == 2:
            digits = types[1]
            if not (digits.bare or digits.unit.is_dimensionless):
                return self.error("E201", "round()'s number of decimals must be a plain number", node.args[1].span)
            return first
        if node.function in ("min", "max", "clamp"):
            result = first
            for argument, t in zip(node.args[1:], types[1:]):
                result = self.unify(result, t, node.args[0], argument)
                if isinstance(result, Err):
                    return result
            return result
        return first

    def visit_event_call(self, node: ast.Call) -> Type:
        name = node.function
        shown = "time since" if name == "time since" else f"{name}()"
        if len(node.args) != 1:
            return self.error("E106", f"{shown} takes 1 argument, but {len(node.args)} given", node.function_span)
        (argument,) = node.args
        events = self.inputs.get(argument.name).type if isinstance(argument, ast.Name) and argument.name in self.inputs else None
        if not isinstance(events, Events):
            if isinstance(events, Err) or isinstance(self.visit(argument, want_bool=False), Err):
                return Err()
            return self.error("E505", f"{shown} takes the name of a condition, procedure or medication input", argument.span)
        self.types[id(argument)] = events
        if name in MEDICATION_FUNCTIONS and events.kind != "medication":
            return self.error("E505", f"{shown} is about medications, but '{argument.name}' lists {events.kind}s", node.span)
        if node.window is not None:
            if name not in WINDOWED_FUNCTIONS:
                return self.error("E505", f"{shown} does not take a window ('within ...'): it is at the index date", node.window.span)
            window = self.window(node.window)  # E601 unless a whole duration
            if window is None:
                return Err()
            self.windows[id(node)] = window
        if name in ("any", "on"):
            return Bool()
        if name == "count":
            return PLAIN
        if name == "dose":
            return Num(units.parse_unit(DOSE_UNIT))
        return Num(units.parse_unit("d"))

    def visit_Negate(self, node: ast.Negate, want_bool: bool) -> Type:
        t = self.visit(node.operand, want_bool=False)
        if _nonlinear(t) and not isinstance(node.operand, ast.Number):  # -40 Cel is a temperature
            return self.not_a_quantity("'-'", t, node.operand)
        if isinstance(t, (Num, Err)):
            return t
        return self.error("E201", f"'-' takes a number, but this is {describe(t)}", node.operand.span)

    def visit_Arithmetic(self, node: ast.Arithmetic, want_bool: bool) -> Type:
        left = self.visit(node.left, want_bool=False)
        right = self.visit(node.right, want_bool=False)
        if isinstance(left, Err) or isinstance(right, Err):
            return Err()
        for operand, t in ((node.left, left), (node.right, right)):
            if not isinstance(t, Num):
                return self.error("E201", f"'{node.op}' takes numbers, but this is {describe(t)}", operand.span)
        for operand, t in ((node.left, left), (node.right, right)):
            if _nonlinear(t):
                return self.not_a_quantity(f"'{node.op}'", t, operand)
        if node.op in "+-":
            return self.unify(left, right, node.left, node.right, factor_only=True)
        if left.bare and right.bare:
            return BARE
        if node.op == "*":
            if left.bare or right.bare:
                return attrs.evolve(right if left.bare else left, bare=False)
            return Num(units.multiply(left.unit, right.unit))
        if right.bare:
            return left
        return Num(units.divide(units.DIMENSIONLESS if left.bare else left.unit, right.unit))

    def visit_Power(self, node: ast.Power, want_bool: bool) -> Type:
        base = self.visit(node.base, want_bool=False)
        exponent = self.visit(node.exponent, want_bool=False)
        if isinstance(base, Err) or isinstance(exponent, Err):
            return Err()
        for operand, t in ((node.base, base), (node.exponent, exponent)):
            if not isinstance(t, Num):
                return self.error("E201", f"'^' takes numbers, but this is {describe(t)}", operand.span)
        if not (exponent.bare or exponent.unit.is_dimensionless):
            return self.error(
                "E208", f"an exponent must be a plain number, but this is {describe(exponent)}", node.exponent.span
            )
        if base.bare or base.unit.is_dimensionless:
            return Num(units.DIMENSIONLESS, bare=base.bare and exponent.bare)
        written = self.source.slice(node.base.span)
        if isinstance(node.base, ast.Number) and not written.startswith("("):
            # `2.25 m^2` would be (2.25 m) ^ 2, 5.0625 m2: almost surely not what was meant.
            power = self.source.slice(node.exponent.span)
            return self.error(
                "E208",
                f"'{written}^{power}' raises {written} to a power: for a unit write {node.base.unit}{power} "
                f"or '{node.base.unit}^{power}', and to raise the number write ({written}) ^ {power}",
                node.span,
            )
        whole = _whole_constant(node.exponent)
        if whole is None:
            return self.error(
                "E208",
                f"{describe(base)} can be raised only to a whole number written here, such as ^ 2, "
                f"because the unit of the result must be known: use '... as UNIT' to raise its plain number",
                node.exponent.span,
            )
        try:
            return Num(units.power(base.unit, whole))
        except units.UnitError as problem:
            return self.error("E208", str(problem), node.exponent.span)

    def visit_As(self, node: ast.As, want_bool: bool) -> Type:
        t = self.visit(node.operand, want_bool=False)
        unit = self.resolve_unit(node.unit, node.unit_span)
        if isinstance(t, Err) or unit is None:
            return Err()
        if not isinstance(t, Num):
            return self.error("E201", f"'as' converts numbers, but this is {describe(t)}", node.operand.span)
        if t.bare:
            return self.error("E204", f"'as {node.unit}' needs a value with a unit, but this number has none", node.operand.span)
        if units.convert(t.unit, unit, t.molar_mass) is None:
            return self.error(
                "E202", f"{describe(t)} cannot be expressed in {unit.text}: {self.why(t.unit, unit, t.molar_mass)}",
                node.unit_span,
            )
        return PLAIN

    def free_category(self, node) -> None:
        """In a lone expression, a new name compared with text is a category, not a number."""
        if self.free_names and isinstance(node, ast.Name) and node.name not in self.free_inputs:
            if node.name not in self.inputs and node.name not in self.definitions:
                self.free_inputs[node.name] = InputInfo(node.name, Cat((), node.name, open=True), span=node.span)

    def visit_Compare(self, node: ast.Compare, want_bool: bool) -> Type:
        for left, op, right in zip(node.operands, node.ops, node.operands[1:]):
            if op in ("=", "!=") and isinstance(right, ast.String):
                self.free_category(left)
            if op in ("=", "!=") and isinstance(left, ast.String):
                self.free_category(right)
        for index, operand in enumerate(node.operands):
            if isinstance(operand, ast.Limit):  # `ALT <= 2.5 x ULN`: the ULN of the input beside it
                beside = [node.operands[i] for i in (index - 1, index + 1) if 0 <= i < len(node.operands)]
                names = [b.name for b in beside if isinstance(b, ast.Name) and b.name in self.inputs
                         and isinstance(self.inputs[b.name].type, Num)]
                if len(names) == 1:
                    self.limits[id(operand)] = names[0]
        types = [self.visit(operand, want_bool=False) for operand in node.operands]
        failed = False
        for (left_node, left), op, (right_node, right) in zip(
            zip(node.operands, types), node.ops, zip(node.operands[1:], types[1:])
        ):
            if isinstance(left, Err) or isinstance(right, Err):
                failed = True
            elif isinstance(left, Num) and isinstance(right, Num):
                failed |= isinstance(self.unify(left, right, left_node, right_node), Err)
                failed = failed or self.literal_without_logarithm(left, right, left_node, right_node)
            elif op in ("=", "!=") and self.comparable(left, right, left_node, right_node):
                continue
            elif op not in ("=", "!=") and (ordered := self.ordering(op, left, right, left_node, right_node)) is not None:
                failed |= not ordered
            else:
                failed = True
                if not isinstance(self.types.get(id(right_node)), Err):
                    if op in ("=", "!="):
                        self.error("E201", f"cannot compare {describe(left)} with {describe(right)}", right_node.span)
                    elif not isinstance(left, Num):
                        self.error("E201", f"'{op}' orders numbers, but this is {describe(left)}", left_node.span)
                    else:
                        self.error("E201", f"'{op}' orders numbers, but this is {describe(right)}", right_node.span)
        return Bool() if not failed else Err()

    def literal_without_logarithm(self, left: Num, right: Num, left_node, right_node) -> bool:
        """A literal of 0 or less compared with a logarithmic value has no logarithm: an error, not unknown."""
        for literal, literal_t, other, other_t in ((left_node, left, right_node, right), (right_node, right, left_node, left)):
            if isinstance(literal, ast.Number) and literal.unit and not isinstance(other, ast.Number) \
                    and other_t.unit.is_logarithmic and not literal_t.unit.is_logarithmic and not literal.value > 0:
                self.error(
                    "E202",
                    f"{self.source.slice(literal.span)} has no logarithm, so it cannot be compared with "
                    f"{describe(other_t)}: compare with a value above 0",
                    literal.span,
                )
                return True
        return False

    def comparable(self, left: Type, right: Type, left_node, right_node) -> bool:
        """Whether `=`/`!=` may compare two non-numbers; reports undeclared category values."""
        if isinstance(left, Bool) and isinstance(right, Bool):
            return True
        if isinstance(left, Str) and isinstance(right, Cat):
            left, right, left_node, right_node = right, left, right_node, left_node
        if isinstance(left, Cat) and isinstance(right, Str):
            if not left.open and right.value not in left.values:
                self.undeclared_value(left, right_node)
            return True
        return isinstance(left, (Cat, Str)) and isinstance(right, (Cat, Str))

    def ordering(self, op: str, left: Type, right: Type, left_node, right_node) -> Optional[bool]:
        """Whether `<` `<=` `>` `>=` may order two non-numbers (reported when not); None when neither is a category."""
        cats = [(t, n) for t, n in ((left, left_node), (right, right_node)) if isinstance(t, Cat) and not t.open]
        if not cats:
            return None
        unordered = [(t, n) for t, n in cats if not t.ordered]
        if unordered and not all(isinstance(t, (Cat, Str)) for t in (left, right)):
            return None  # a category against a number: not an ordering at all
        if unordered:
            t, node = unordered[0]
            scale = ", ".join(quoted(v) for v in t.values)
            self.error(
                "E210",
                f"'{op}' orders numbers and ordered scales, but '{t.owner}' is declared with 'one of', "
                f"whose values have no order: declare it 'ordered {scale}' if they are ordered as listed",
                node.span,
            )
            return False
        scale = cats[0][0]
        # Every text an ordered side can give must be on the scale (an if's branches too).
        strays = [t for n in (left_node, right_node) for t in _result_texts(n) if t.value not in scale.values]
        for stray in strays:
            self.undeclared_value(scale, stray)
        if strays:
            return False
        if len(cats) == 2:
            if left.values != right.values:
                self.error(
                    "E210",
                    f"'{left.owner}' and '{right.owner}' are different ordered scales: "
                    "their values cannot be ordered against each other",
                    right_node.span,
                )
                return False
            return True
        scale, scale_node = cats[0]
        other, other_node = (right, right_node) if scale_node is left_node else (left, left_node)
        if isinstance(other, Str):
            return True
        self.error(
            "E201",
            f"'{op}' cannot order '{scale.owner}' against {describe(other)}: "
            f"compare it with one of its values, such as {quoted(scale.values[0])}",
            other_node.span,
        )
        return False

    def undeclared_value(self, category: Cat, node: ast.String) -> None:
        choices = ", ".join(quoted(v) for v in category.values)
        close = difflib.get_close_matches(node.value, category.values, n=1)
        hint = f" (did you mean {quoted(close[0])}?)" if close else ""
        message = f"{quoted(node.value)} is not a value of '{category.owner}', which is one of {choices}{hint}"
        self.error("E203", message, node.span)
        self.types[id(node)] = Err()

    def visit_Membership(self, node: ast.Membership, want_bool: bool) -> Type:
        word = "not in" if node.negated else "in"
        numbers = [v for v in node.values if isinstance(v, ast.Number)]
        if numbers and len(numbers) < len(node.values):
            first = node.values[0]
            odd = next(v for v in node.values if isinstance(v, ast.Number) != isinstance(first, ast.Number))
            self.visit(node.operand, want_bool=False)
            return self.error(
                "E201", f"a set holds either quoted texts or numbers, not both: {self.source.slice(odd.span)} "
                f"is not like {self.source.slice(first.span)}", odd.span
            )
        if numbers:
            return self.number_membership(node, word, numbers)
        self.free_category(node.operand)
        t = self.visit(node.operand, want_bool=False)
        for value in node.values:
            self.visit(value, want_bool=False)
        if isinstance(t, Err):
            return t
        if isinstance(t, Num):
            message = f"'{word}' tests a category, but this is {describe(t)}"
            texts = [v.value for v in node.values]
            if (t.bare or t.unit.is_dimensionless) and all(_NUMBER_TEXT.fullmatch(v) for v in texts):
                message += f": write the numbers without quotes, {{{', '.join(texts)}}}"
            return self.error("E201", message, node.operand.span)
        if not isinstance(t, Cat):
            word = "not in" if node.negated else "in"
            return self.error("E201", f"'{word}' tests a category, but this is {describe(t)}", node.operand.span)
        for value in node.values:
            if not t.open and value.value not in t.values:
                self.undeclared_value(t, value)
        return Bool()

    def number_membership(self, node: ast.Membership, word: str, numbers: list) -> Type:
        """`X in {0, 1}`: X a plain number or an integer without a unit; the numbers without units."""
        t = self.visit(node.operand, want_bool=False)
        failed = isinstance(t, Err)
        for value in numbers:
            if value.unit is not None:
                failed = True
                self.error(
                    "E201",
                    f"numbers in a set have no unit: {self.source.slice(value.span)} is a value in {value.unit}; "
                    "compare a value in a unit with <, <=, >= or = instead",
                    value.span,
                )
            elif not self.finite_literal(value):
                failed = True
            else:
                self.types[id(value)] = BARE
        if failed:
            return Err()
        if isinstance(t, Cat):
            example = ", ".join(quoted(v) for v in t.values[:2]) if not t.open else '"a"'
            return self.error(
                "E201",
                f"'{word}' with numbers tests a number, but this is {describe(t)}: "
                f"its set holds its values as quoted texts, such as {{{example}}}",
                node.operand.span,
            )
        if not isinstance(t, Num):
            return self.error("E201", f"'{word}' with numbers tests a number, but this is {describe(t)}",
                              node.operand.span)
        if not (t.bare or t.unit.is_dimensionless):
            return self.error(
                "E201",
                f"'{word}' with numbers tests a plain number or an integer, but this is {describe(t)}: "
                "compare it with <, <=, >= or = instead",
                node.operand.span,
            )
        return Bool()

    def visit_Not(self, node: ast.Not, want_bool: bool) -> Type:
        return self.expect_bool(node.operand, "'not'")

    def visit_Logic(self, node: ast.Logic, want_bool: bool) -> Type:
        results = [self.expect_bool(operand, f"'{node.op}'") for operand in node.operands]
        return Err() if any(isinstance(r, Err) for r in results) else Bool()

    def visit_AtLeast(self, node: ast.AtLeast, want_bool: bool) -> Type:
        results = [self.expect_bool(operand, "'at least'") for operand in node.operands]
        return Err() if any(isinstance(r, Err) for r in results) else Bool()

    def visit_If(self, node: ast.If, want_bool: bool) -> Type:
        condition = self.expect_bool(node.condition, "'if'")
        then = self.visit(node.then, want_bool=want_bool or node.otherwise is None)
        if node.otherwise is None:
            if isinstance(then, (Bool, Err)):
                return Err() if isinstance(condition, Err) else then
            return self.error(
                "E205",
                f"'if' without 'else' is only for conditions, but 'then' gives {describe(then)}: add an 'else'",
                node.span,
            )
        otherwise = self.visit(node.otherwise, want_bool=want_bool)
        if isinstance(then, Err) or isinstance(otherwise, Err) or isinstance(condition, Err):
            return Err()
        if isinstance(then, Num) and isinstance(otherwise, Num):
            return self.unify(then, otherwise, node.then, node.otherwise)
        if isinstance(then, Bool) and isinstance(otherwise, Bool):
            return then
        if isinstance(then, (Cat, Str)) and isinstance(otherwise, (Cat, Str)):
            return then
        return self.error(
            "E201", f"'then' gives {describe(then)} but 'else' gives {describe(otherwise)}", node.otherwise.span
        )

    # ------------------------------------------------------------- helpers
    def expect_bool(self, node, where: str) -> Type:
        t = self.visit(node, want_bool=True)
        if isinstance(t, (Bool, Err)):
            return t
        return self.error("E201", f"{where} takes true/false values, but this is {describe(t)}", node.span)

    def not_a_quantity(self, what: str, t: Num, node) -> Err:
        from .formatter import unit_text

        written = unit_text(t.unit.text)
        fix = f"compare it, or take its number with ({self.source.slice(node.span)} as {written})"
        if t.unit.is_logarithmic:
            kind = "a logarithm"
        else:
            kind = "a temperature, a point on a scale with an offset"
            fix += f"; a difference of temperatures is (A as {written}) - (B as {written})"
        return self.error("E207", f"{what} cannot take {describe(t)}: it is {kind}, not a quantity that adds or scales; {fix}",
                          node.span)

    @staticmethod
    def why(src: units.Unit, dst: units.Unit, molar_mass: Optional[float]) -> str:
        """Why src cannot be expressed in dst, with a hint about molar masses where one would do."""
        if molar_mass is None and units.convert(src, dst, 1.0) is not None:
            return "the dimensions differ" + _MOLAR_HINT
        reason = units.incompatibility(src, dst)
        return "the dimensions differ" if reason.endswith("have different dimensions") else reason

    def unify(self, left: Num, right: Num, left_node, right_node, factor_only: bool = False) -> Type:
        """The type of two numbers brought to one unit (for + - min max and comparisons).

        `factor_only` (for + and -): the units must be a factor apart, not related by an offset.
        """
        if left.bare and right.bare:
            return BARE
        if left.bare or right.bare:
            bare_node, other = (left_node, right) if left.bare else (right_node, left)
            if not other.unit.is_dimensionless:
                number = self.source.slice(bare_node.span)
                self.warning(
                    "W101",
                    f"{number} has no unit and is taken in {other.unit.text}: write '{number} {other.unit.text}'",
                    bare_node.span,
                )
            return other
        if left.molar_mass is None or right.molar_mass is None or left.molar_mass == right.molar_mass:
            molar_mass = left.molar_mass or right.molar_mass
        else:  # two substances: no mass <-> amount conversion between them
            molar_mass = None
        found = units.convert(right.unit, left.unit, molar_mass)
        if found is None:
            return self.error(
                "E202",
                f"{describe(right)} cannot be compared or combined with {describe(left)}: "
                f"{self.why(right.unit, left.unit, molar_mass)}",
                right_node.span,
            )
        if factor_only and not found.linear:
            return self.error(
                "E207",
                f"{describe(right)} cannot be added to or subtracted from {describe(left)}: the units are "
                "not a factor apart (the IFCC-NGSP equation has an offset); compare them instead",
                right_node.span,
            )
        return Num(left.unit, molar_mass=molar_mass)


def _is_unit(text: str) -> bool:
    try:
        units.parse_unit(text)
    except units.UnitError:
        return False
    return True


def _whole_constant(node) -> Optional[int]:
    """The value of a whole-number literal such as `2` or `-1`, else None."""
    if isinstance(node, ast.Number) and node.unit is None:
        value = node.value
        if isinstance(value, int) or (math.isfinite(value) and value == math.floor(value)):
            return int(value)
    return None


def _result_texts(node) -> list:
    """The text literals an expression can give as its value: itself, or an if's branches."""
    if isinstance(node, ast.String):
        return [node]
    if isinstance(node, ast.If):
        return _result_texts(node.then) + (_result_texts(node.otherwise) if node.otherwise is not None else [])
    return []


def _did_you_mean(name: str, candidates: list[str]) -> str:
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return f" (did you mean '{lowered[name.lower()]}'?)"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _cycle_path(graph: dict[str, list[str]], start: str, members: set[str]) -> list[str]:
    """One path start -> ... -> start inside a strongly connected component."""
    parents = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in graph[node]:
            if child == start:
                path = [node]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return list(reversed(path)) + [start]
            if child in members and child not in parents:
                parents[child] = node
                queue.append(child)
    return [start, start]


def is_record_call(inputs: dict, node: ast.Call) -> bool:
    """Whether a call is an aggregate over an input's dated values (not over events, not the plain min/max)."""
    from .records import AGGREGATES

    if node.function in ("uln", "lln", "age"):
        return len(node.args) == 1
    if node.function != "time since" and (node.function not in AGGREGATES or len(node.args) != 1):
        return False
    if node.function in ("min", "max") and node.window is None:  # max(X) stays the ordinary function's E106
        return False
    names = {n.name for arg in node.args for n in ast.walk(arg) if isinstance(n, ast.Name)}
    return not any(isinstance(inputs[n].type, Events) for n in names if n in inputs)


def inputs_read(checked: Checked, expr) -> frozenset[str]:
    """The inputs an expression reads, through any definitions it uses."""
    seen: set[str] = set()
    found: set[str] = set()
    pending = [expr]
    while pending:
        for name in _Checker.references(pending.pop()):
            if name in checked.definitions and name not in seen:
                seen.add(name)
                pending.append(checked.definitions[name].expr)
            elif name not in checked.definitions:
                found.add(name)
    return frozenset(found)
