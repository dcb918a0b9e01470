"""Names, types, units, categories and cycles: every problem of a file, with its place."""

from __future__ import annotations

import difflib
import math
from typing import Optional, Union

import attrs

from . import ast, codes, units
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
    """A value of a category input; `open` for a name of a lone expression (any text)."""

    values: tuple[str, ...]
    owner: str
    open: bool = False


@attrs.frozen
class Str:
    """A quoted category literal."""

    value: str


@attrs.frozen
class Err:
    """The type of an expression that already has an error: it raises no more."""


Type = Union[Num, Bool, Cat, Str, Err]
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
    return "an invalid value"


@attrs.frozen
class InputInfo:
    """A declared input, resolved: its type, plausible range, molar mass and label."""

    name: str
    type: Type
    range: Optional[tuple[float, float]] = None
    label: Optional[str] = None
    span: Span = attrs.field(eq=False, default=Span(0, 0))
    codes: tuple[tuple[str, str], ...] = ()  # (system URI, code) pairs, from `code SYSTEM "CODE"`


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

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def type_of(self, node) -> Type:
        return self.types[id(node)]


def conversion(src: Num, dst: Num) -> float:
    """The factor that brings a number of type `src` into the unit of `dst`."""
    if src.bare or dst.bare:
        return 1.0
    factor = units.conversion_factor(src.unit, dst.unit, dst.molar_mass or src.molar_mass)
    assert factor is not None, "the checker let incompatible units through"
    return factor


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


def check(source: Source, tree: ast.RulesFile) -> Checked:
    """Check a parsed rules file."""
    return _Checker(source, tree).run()


def check_expression(source: Source, expr: ast.Expr) -> tuple[Checked, dict[str, InputInfo]]:
    """Check a lone expression whose unknown names become inputs (numbers, or booleans in logic)."""
    checker = _Checker(source, ast.RulesFile(statements=()), free_names=True)
    checked = checker.run()
    checker.visit(expr, want_bool=False)
    return checked, checker.free_inputs


class _Checker:
    def __init__(self, source: Source, tree: ast.RulesFile, free_names: bool = False):
        self.source = source
        self.tree = tree
        self.free_names = free_names
        self.free_inputs: dict[str, InputInfo] = {}
        self.diagnostics: list[Diagnostic] = []
        self.types: dict[int, Type] = {}
        self.inputs: dict[str, InputInfo] = {}
        self.definitions: dict[str, ast.Define] = {}
        self.definition_types: dict[str, Type] = {}
        self.in_cycle: set[str] = set()
        self.header: Optional[ast.Header] = None
        self.criteria: list[ast.Criterion] = []

    # diagnostics
    def error(self, code: str, message: str, span: Span) -> Err:
        self.diagnostics.append(Diagnostic("error", code, message, self.source, span))
        return Err()

    def warning(self, code: str, message: str, span: Span) -> None:
        self.diagnostics.append(Diagnostic("warning", code, message, self.source, span))

    def run(self) -> Checked:
        self.declare()
        self.limit_depth()
        if not self.criteria and not self.free_names:
            self.warning(
                "W102",
                "this file has no inclusion or exclusion criteria: every patient would be eligible",
                Span(0, 0),
            )
        self.find_cycles()
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
        self.diagnostics.sort(key=lambda d: (d.span.start, d.span.end))
        return Checked(
            source=self.source,
            tree=self.tree,
            inputs=self.inputs,
            definitions=self.definitions,
            criteria=self.criteria,
            header=self.header,
            types=self.types,
            diagnostics=self.diagnostics,
        )

    # ------------------------------------------------------------- declarations
    def declare(self) -> None:
        ids: set[str] = set()
        for index, statement in enumerate(self.tree.statements):
            if isinstance(statement, ast.Header):
                if self.header is not None:
                    self.error("E105", "a file holds one protocol: remove this second 'protocol' header", statement.span)
                elif index != 0:
                    self.error("E105", "the 'protocol' header must come first in the file", statement.span)
                    self.header = statement
                else:
                    self.header = statement
            elif isinstance(statement, (ast.Input, ast.Define)):
                if statement.name in self.inputs or statement.name in self.definitions:
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

    def declare_input(self, node: ast.Input) -> InputInfo:
        seen: set[type] = set()
        for attribute in node.attributes:
            if type(attribute) in seen and not isinstance(attribute, ast.Code):  # codes repeat
                self.error("E302", f"input '{node.name}' has this attribute twice: keep one", attribute.span)
            seen.add(type(attribute))
        label = node.attribute(ast.Label)
        label_text = label.text if label else None
        if isinstance(node.type, ast.BooleanType) or isinstance(node.type, ast.CategoryType):
            for attribute in node.attributes:
                if isinstance(attribute, (ast.Range, ast.MolarMass)):
                    what = "a range" if isinstance(attribute, ast.Range) else "a molar mass"
                    self.error("E302", f"only number inputs can have {what}; '{node.name}' is not a number", attribute.span)
            if isinstance(node.type, ast.BooleanType):
                return InputInfo(node.name, Bool(), label=label_text, span=node.name_span)
            values: list[str] = []
            for value in node.type.values:
                if value.value in values:
                    self.error("E302", f"{quoted(value.value)} is listed twice among the values of '{node.name}'", value.span)
                else:
                    values.append(value.value)
            return InputInfo(node.name, Cat(tuple(values), node.name), label=label_text, span=node.name_span)

        unit = units.DIMENSIONLESS
        failed = False  # the input's own declaration has an error: its uses raise no more
        if node.type.unit is not None:
            resolved = self.resolve_unit(node.type.unit, node.type.unit_span)
            failed = resolved is None
            unit = resolved or units.DIMENSIONLESS
        molar_mass = None
        mass = node.attribute(ast.MolarMass)
        if mass is not None:
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
        return InputInfo(node.name, t, bounds, label_text, node.name_span)

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
        """Report each cycle of definitions once, at its first definition in the file."""
        graph = {name: sorted(self.references(d.expr) & self.definitions.keys()) for name, d in self.definitions.items()}
        order = {name: i for i, name in enumerate(self.definitions)}
        for component in _strongly_connected(graph):
            first = min(component, key=order.__getitem__)
            if len(component) == 1 and first not in graph[first]:
                continue
            self.in_cycle.update(component)
            path = _cycle_path(graph, first, set(component))
            define = self.definitions[first]
            self.error(
                "E104",
                f"definitions refer to each other in a circle ({' -> '.join(path)}): "
                "a definition cannot depend on itself",
                define.name_span,
            )

    @staticmethod
    def references(node) -> set[str]:
        return {item.name for item in ast.walk(node) if isinstance(item, ast.Name)}

    def definition_type(self, name: str) -> Type:
        if name in self.in_cycle:
            return Err()
        if name not in self.definition_types:
            self.definition_types[name] = Err()  # a guard; cycles were reported already
            self.definition_types[name] = self.visit(self.definitions[name].expr, want_bool=False)
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
        if node.name in self.inputs:
            return self.inputs[node.name].type
        if node.name in self.definitions:
            return self.definition_type(node.name)
        if self.free_names:
            if node.name not in self.free_inputs:
                t = Bool() if want_bool else PLAIN
                self.free_inputs[node.name] = InputInfo(node.name, t, span=node.span)
            return self.free_inputs[node.name].type
        known = list(self.inputs) + list(self.definitions)
        return self.error("E101", f"'{node.name}' is not declared{_did_you_mean(node.name, known)}", node.span)

    def visit_Call(self, node: ast.Call, want_bool: bool) -> Type:
        if node.function not in FUNCTIONS:
            suggestion = _did_you_mean(node.function, sorted(FUNCTIONS))
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

    def visit_Negate(self, node: ast.Negate, want_bool: bool) -> Type:
        t = self.visit(node.operand, want_bool=False)
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
        if node.op in "+-":
            return self.unify(left, right, node.left, node.right)
        if left.bare and right.bare:
            return BARE
        if node.op == "*":
            if left.bare or right.bare:
                return attrs.evolve(right if left.bare else left, bare=False)
            return Num(units.multiply(left.unit, right.unit))
        if right.bare:
            return left
        return Num(units.divide(units.DIMENSIONLESS if left.bare else left.unit, right.unit))

    def visit_As(self, node: ast.As, want_bool: bool) -> Type:
        t = self.visit(node.operand, want_bool=False)
        unit = self.resolve_unit(node.unit, node.unit_span)
        if isinstance(t, Err) or unit is None:
            return Err()
        if not isinstance(t, Num):
            return self.error("E201", f"'as' converts numbers, but this is {describe(t)}", node.operand.span)
        if t.bare:
            return self.error("E204", f"'as {node.unit}' needs a value with a unit, but this number has none", node.operand.span)
        if units.conversion_factor(t.unit, unit, t.molar_mass) is None:
            hint = _MOLAR_HINT if units.conversion_factor(t.unit, unit, 1.0) is not None else ""
            return self.error(
                "E202", f"{describe(t)} cannot be expressed in {unit.text}: the dimensions differ{hint}", node.unit_span
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
        types = [self.visit(operand, want_bool=False) for operand in node.operands]
        failed = False
        for (left_node, left), op, (right_node, right) in zip(
            zip(node.operands, types), node.ops, zip(node.operands[1:], types[1:])
        ):
            if isinstance(left, Err) or isinstance(right, Err):
                failed = True
            elif isinstance(left, Num) and isinstance(right, Num):
                failed |= isinstance(self.unify(left, right, left_node, right_node), Err)
            elif op in ("=", "!=") and self.comparable(left, right, left_node, right_node):
                continue
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

    def undeclared_value(self, category: Cat, node: ast.String) -> None:
        choices = ", ".join(quoted(v) for v in category.values)
        close = difflib.get_close_matches(node.value, category.values, n=1)
        hint = f" (did you mean {quoted(close[0])}?)" if close else ""
        message = f"{quoted(node.value)} is not a value of '{category.owner}', which is one of {choices}{hint}"
        self.error("E203", message, node.span)
        self.types[id(node)] = Err()

    def visit_Membership(self, node: ast.Membership, want_bool: bool) -> Type:
        self.free_category(node.operand)
        t = self.visit(node.operand, want_bool=False)
        for value in node.values:
            self.visit(value, want_bool=False)
        if isinstance(t, Err):
            return t
        if not isinstance(t, Cat):
            word = "not in" if node.negated else "in"
            return self.error("E201", f"'{word}' tests a category, but this is {describe(t)}", node.operand.span)
        for value in node.values:
            if not t.open and value.value not in t.values:
                self.undeclared_value(t, value)
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

    def unify(self, left: Num, right: Num, left_node, right_node) -> Type:
        """The type of two numbers brought to one unit (for + - min max and comparisons)."""
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
        if units.conversion_factor(right.unit, left.unit, molar_mass) is None:
            hint = ""
            if molar_mass is None and units.conversion_factor(right.unit, left.unit, 1.0) is not None:
                hint = _MOLAR_HINT
            return self.error(
                "E202",
                f"{describe(right)} cannot be compared or combined with {describe(left)}: the dimensions differ{hint}",
                right_node.span,
            )
        return Num(left.unit, molar_mass=molar_mass)


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
