"""Syntax tree -> canonical rules text (`protocol-dsl fmt`).

One layout for every file: one statement per line, ASCII operators, minimal
parentheses (plus parentheses around an `and` inside an `or`, which readers
otherwise misread), long criteria wrapped at `or`/`and`, function arguments and
`if` branches. Comments stay with the statement they were written at: a comment
on its own line before a statement stays above it, one at the end of a
statement's last line stays there; a comment inside a statement's lines moves
above that statement.
"""

from __future__ import annotations

import re
from typing import Optional

from . import ast
from .parser import parse_source
from .source import Source, quoted

WIDTH = 88
INDENT = "    "

# Precedence, loosest first; a child printed at a lower precedence than its slot gets parentheses.
_IF, _OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _POWER, _POSTFIX, _ATOM = range(11)
_UNIT = re.compile(r"(10\^[0-9]+|%|[A-Za-zµμ][A-Za-z0-9µμ]*)(/([0-9]+(\.[0-9]+)?)?([A-Za-zµμ][A-Za-z0-9µμ]*|10\^[0-9]+))*")
_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|(#[^\n]*)')


def format_text(text: str, name: str = "<string>") -> str:
    """The canonical form of a rules text; raises RulesError if it does not parse."""
    source = Source(text, name)
    tree = parse_source(source)
    return _Formatter(source).file(tree)


def unit_text(unit: str) -> str:
    """A unit as written in rules text: quoted when it is not a plain spelling (UCUM `'10*9/L'`)."""
    return unit if _UNIT.fullmatch(unit) else f"'{unit}'"




def code_text(node: ast.Code) -> str:
    system = quoted(node.system) if node.quoted else node.system
    return f"code {system} {quoted(node.code)}"


def number_text(node: ast.Number) -> str:
    if node.unit is None:
        return node.text
    return f"{node.text}%" if node.unit == "%" else f"{node.text} {unit_text(node.unit)}"


class _Formatter:
    def __init__(self, source: Source):
        self.source = source
        self.comments = [
            (m.start(1), m.group(1).rstrip()) for m in _COMMENT.finditer(source.text) if m.group(1) is not None
        ]

    # ------------------------------------------------------------ the file
    def file(self, tree: ast.RulesFile) -> str:
        text = self.source.text
        out: list[str] = []
        comments = list(self.comments)
        previous_end: Optional[int] = None
        for statement in tree.statements:
            start, end = statement.span.start, statement.span.end
            before = [c for c in comments if c[0] < start]
            inside = [c for c in comments if start <= c[0] and self._line_of(c[0]) <= self._line_of(end)]
            comments = [c for c in comments if c not in before and c not in inside]
            trailing = [c for c in inside if self._line_of(c[0]) == self._line_of(end) and c[0] >= end]
            hoisted = [c for c in inside if c not in trailing]
            first_start = before[0][0] if before else start
            if out and previous_end is not None and "\n\n" in _blank_lines(text[previous_end:first_start]):
                out.append("")
            for index, (offset, comment) in enumerate(before):
                if index and "\n\n" in _blank_lines(text[before[index - 1][0] : offset]):
                    out.append("")
                out.append(comment)
            if before and "\n\n" in _blank_lines(text[before[-1][0] : start]):
                out.append("")
            out.extend(comment for _, comment in hoisted)
            lines = self.statement(statement)
            if trailing:
                lines[-1] += "  " + trailing[0][1]
                out.extend(lines)
                out.extend(comment for _, comment in trailing[1:])
            else:
                out.extend(lines)
            previous_end = trailing[-1][0] if trailing else end
        if comments:
            if out and previous_end is not None and "\n\n" in _blank_lines(text[previous_end : comments[0][0]]):
                out.append("")
            out.extend(comment for _, comment in comments)
        return "\n".join(out) + "\n" if out else ""

    def _line_of(self, offset: int) -> int:
        return self.source.position(offset)[0]

    # ------------------------------------------------------------ statements
    def statement(self, node) -> list[str]:
        if isinstance(node, ast.Header):
            return [f"protocol {node.id}" + (f" {quoted(node.title)}" if node.title is not None else "")]
        if isinstance(node, ast.Input):
            return [self.input(node)]
        if isinstance(node, ast.Define):
            return self.headed(f"define {node.name} =", node.expr)
        if isinstance(node, ast.Function):
            parameters = [
                f"{p.name}: {self.type_text(p.type)}" + (f" molar mass {number_text(p.molar_mass)}" if p.molar_mass else "")
                for p in node.parameters
            ]
            head = f"define {node.name}({', '.join(parameters)}) ="
            if len(head) <= WIDTH:
                return self.headed(head, node.expr)
            # Too wide: one parameter a line, and the body below.
            listed = [INDENT + p + ("," if i < len(parameters) - 1 else "") for i, p in enumerate(parameters)]
            return [f"define {node.name}("] + listed + [") ="] + self.lines(node.expr, _IF, INDENT)
        if isinstance(node, ast.Import):
            return [f"import {node.target}" if node.library else f"import {quoted(node.target)}"]
        if isinstance(node, ast.ValueSet):
            if node.path is not None:
                return [f"valueset {node.name}: file {quoted(node.path)}"]
            system = quoted(node.system) if node.system_quoted else node.system
            codes = [quoted(c.value) for c in node.codes]
            lines = [f"valueset {node.name}: {system} {codes[0]}"]
            for code in codes[1:]:  # as many codes a line as fit, the rest indented below
                if len(lines[-1]) + len(code) + 2 > WIDTH:
                    lines[-1] += ","
                    lines.append(INDENT + code)
                else:
                    lines[-1] += ", " + code
            return lines
        if isinstance(node, ast.Complete):
            return ["complete " + ", ".join(node.kinds)]
        text = f" {quoted(node.text)}" if node.text is not None else ""
        return self.headed(f"{node.kind} {node.id}{text}:", node.expr)

    @staticmethod
    def type_text(t) -> str:
        if isinstance(t, ast.NumberType):
            return ("integer" if t.whole else "number") + (f" {unit_text(t.unit)}" if t.unit else "")
        if isinstance(t, ast.DateType):
            return "date"
        if isinstance(t, ast.BooleanType):
            return "boolean"
        if isinstance(t, ast.EventType):
            return f"{t.kind} in {t.valueset}"
        return ("ordered " if t.ordered else "one of ") + ", ".join(quoted(v.value) for v in t.values)

    def input(self, node: ast.Input) -> str:
        parts = [f"input {node.name}: {self.type_text(node.type)}"]
        range_ = node.attribute(ast.Range)
        if range_ is not None:
            parts.append(f"range {range_.low.text}..{range_.high.text}")
        mass = node.attribute(ast.MolarMass)
        if mass is not None:
            parts.append(f"molar mass {number_text(mass.amount)}")
        # Duplicated attributes are an error for the checker; keep them so nothing is lost.
        extras = [
            a for a in node.attributes if not isinstance(a, (ast.Label, ast.Code)) and a is not range_ and a is not mass
        ]
        for attribute in extras:
            if isinstance(attribute, ast.Range):
                parts.append(f"range {attribute.low.text}..{attribute.high.text}")
            elif isinstance(attribute, ast.LookBack):
                parts.append(f"look back {number_text(attribute.amount)}")
            elif isinstance(attribute, ast.Normal):
                parts.append(f"normal {attribute.low.text}..{attribute.high.text}")
            else:
                parts.append(f"molar mass {number_text(attribute.amount)}")
        # Codes keep the order written: the first is the one a reader looks for.
        parts.extend(code_text(a) for a in node.attributes if isinstance(a, ast.Code))
        parts.extend(quoted(a.text) for a in node.attributes if isinstance(a, ast.Label))
        return " ".join(parts)

    def headed(self, head: str, expr) -> list[str]:
        flat = self.flat(expr, _IF)
        if len(head) + 1 + len(flat) <= WIDTH:
            return [f"{head} {flat}"]
        return [head] + self.lines(expr, _IF, INDENT)

    # ------------------------------------------------------------ expressions
    def lines(self, node, slot: int, indent: str) -> list[str]:
        """The expression laid out from `indent`, broken over lines where it is too wide."""
        flat = self.flat(node, slot)
        if len(indent) + len(flat) <= WIDTH:
            return [indent + flat]
        if _precedence(node) < slot:
            return [indent + "("] + self.lines(node, _IF, indent + INDENT) + [indent + ")"]
        if isinstance(node, ast.Logic):
            out: list[str] = []
            slot_ = _AND + 1 if node.op == "and" else _OR + 1
            for index, operand in enumerate(node.operands):
                child = self.lines(operand, _child_slot(node, operand, slot_), indent + (" " * (len(node.op) + 1) if index else ""))
                if index:
                    child[0] = indent + node.op + " " + child[0][len(indent) + len(node.op) + 1 :]
                out.extend(child)
            return out
        if isinstance(node, ast.If):
            out = [indent + "if " + self.flat(node.condition, _branch_slot(node.condition))]
            then = self.lines(node.then, _then_slot(node), indent + INDENT)
            out.append(indent + "then " + then[0].strip())
            out.extend(then[1:])
            if node.otherwise is not None:
                otherwise = self.lines(node.otherwise, _IF, indent + INDENT)
                out.append(indent + "else " + otherwise[0].strip())
                out.extend(otherwise[1:])
            return out
        if isinstance(node, ast.Call) and node.args and node.window is None and node.function != "time since":
            return self.listed(f"{node.function}(", node.args, indent)
        if isinstance(node, ast.AtLeast):
            return self.listed(f"at least {node.count} of (", node.operands, indent)
        if isinstance(node, ast.Arithmetic):
            level = _SUM if node.op in "+-" else _PRODUCT
            left_flat = self.flat(node.left, level)
            if _precedence(node.right) <= level and len(indent) + len(left_flat) + 4 <= WIDTH:
                inner = self.lines(node.right, _IF, indent + INDENT)
                return [f"{indent}{left_flat} {node.op} ("] + inner + [indent + ")"]
        if isinstance(node, ast.Arithmetic) and node.op in "+-":
            left = self.lines(node.left, _SUM, indent)
            right = self.lines(node.right, _SUM + 1, indent + "  ")
            right[0] = indent + node.op + " " + right[0].strip()
            return left + right
        return [indent + flat]

    def listed(self, head: str, items, indent: str) -> list[str]:
        """`head` then one item a line, comma-separated, and the closing parenthesis."""
        out = [indent + head]
        for index, item in enumerate(items):
            child = self.lines(item, _IF, indent + INDENT)
            if index < len(items) - 1:
                child[-1] += ","
            out.extend(child)
        out.append(indent + ")")
        return out

    def flat(self, node, slot: int) -> str:
        text = self._flat(node)
        return f"({text})" if _precedence(node) < slot else text

    def _flat(self, node) -> str:
        if isinstance(node, ast.Number):
            return number_text(node)
        if isinstance(node, ast.String):
            return quoted(node.value)
        if isinstance(node, ast.Boolean):
            return "true" if node.value else "false"
        if isinstance(node, ast.Name):
            return node.name
        if isinstance(node, ast.Limit):
            return f"{node.factor.text} x {node.limit}"
        if isinstance(node, ast.Call) and node.function == "time since":
            return f"time since {self.flat(node.args[0], _ATOM)}"
        if isinstance(node, ast.Call) and node.window is not None:
            return f"{node.function}({self.flat(node.args[0], _IF)} within {number_text(node.window)})"
        if isinstance(node, ast.Call):
            return f"{node.function}(" + ", ".join(self.flat(a, _IF) for a in node.args) + ")"
        if isinstance(node, ast.Negate):
            return "-" + self.flat(node.operand, _UNARY)
        if isinstance(node, ast.Arithmetic):
            level = _SUM if node.op in "+-" else _PRODUCT
            return f"{self.flat(node.left, level)} {node.op} {self.flat(node.right, level + 1)}"
        if isinstance(node, ast.Power):
            # Right-associative: `a ^ b ^ c` is `a ^ (b ^ c)`; the exponent may be negated (`2 ^ -1`).
            # `(TB as mg/dL) ^ 2` keeps its parentheses: without them it reads as a unit raised.
            base = self.flat(node.base, _ATOM if isinstance(node.base, ast.As) else _POSTFIX)
            return f"{base} ^ {self.flat(node.exponent, _UNARY)}"
        if isinstance(node, ast.As):
            return f"{self.flat(node.operand, _ATOM)} as {unit_text(node.unit)}"
        if isinstance(node, ast.Compare):
            parts = [self.flat(node.operands[0], _SUM)]
            for op, operand in zip(node.ops, node.operands[1:]):
                parts.append(f"{op} {self.flat(operand, _SUM)}")
            return " ".join(parts)
        if isinstance(node, ast.Membership):
            values = "{" + ", ".join(self._flat(v) for v in node.values) + "}"
            return f"{self.flat(node.operand, _SUM)} {'not in' if node.negated else 'in'} {values}"
        if isinstance(node, ast.Not):
            return "not " + self.flat(node.operand, _NOT)
        if isinstance(node, ast.Logic):
            slot = _AND + 1 if node.op == "and" else _OR + 1
            return f" {node.op} ".join(self.flat(o, _child_slot(node, o, slot)) for o in node.operands)
        if isinstance(node, ast.AtLeast):
            return f"at least {node.count} of (" + ", ".join(self.flat(o, _IF) for o in node.operands) + ")"
        if isinstance(node, ast.If):
            text = f"if {self.flat(node.condition, _branch_slot(node.condition))} then {self.flat(node.then, _then_slot(node))}"
            if node.otherwise is not None:
                text += f" else {self.flat(node.otherwise, _IF)}"
            return text
        raise TypeError(f"cannot format {type(node).__name__}")


def _branch_slot(condition) -> int:
    # An `if` as the condition of an `if` reads better in parentheses.
    return _ATOM if isinstance(condition, ast.If) else _IF


def _then_slot(node: ast.If) -> int:
    # With an `else`, an `if` in the `then` branch needs parentheses, or the `else`
    # would belong to it: `if a then (if b then c) else d`.
    return _ATOM if node.otherwise is not None and isinstance(node.then, ast.If) else _IF


def _child_slot(parent: ast.Logic, child, slot: int) -> int:
    # An `and` inside an `or` gets parentheses: `a or (b and c)` reads as meant.
    if parent.op == "or" and isinstance(child, ast.Logic) and child.op == "and":
        return _ATOM
    return slot


def _precedence(node) -> int:
    if isinstance(node, ast.If):
        return _IF
    if isinstance(node, ast.Logic):
        return _OR if node.op == "or" else _AND
    if isinstance(node, (ast.Not, ast.AtLeast)):
        return _NOT
    if isinstance(node, (ast.Compare, ast.Membership)):
        return _COMPARE
    if isinstance(node, ast.Arithmetic):
        return _SUM if node.op in "+-" else _PRODUCT
    if isinstance(node, ast.Negate):
        return _UNARY
    if isinstance(node, ast.Power):
        return _POWER
    if isinstance(node, ast.As):
        return _POSTFIX
    if isinstance(node, ast.Number) and node.text.startswith("-"):
        return _UNARY
    return _ATOM


def _blank_lines(text: str) -> str:
    """The newlines of a stretch of text, with spaces dropped, so blank lines show as '\\n\\n'."""
    return re.sub(r"[^\n]", "", re.sub(r"#[^\n]*", "", text.replace(" ", "").replace("\t", "")))
