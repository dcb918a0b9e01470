"""Rules text -> syntax tree. The only module where lark trees and tokens appear."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import attrs
import lark
from lark import v_args
from lark.visitors import Transformer_NonRecursive

from . import ast
from .checker import MAX_DEPTH
from .errors import RulesError
from .source import Diagnostic, Source, Span

_OP_SPELLINGS = {"==": "=", "≤": "<=", "≥": ">=", "≠": "!="}

# Words a clinician understands for what the parser was waiting for.
_VALUE_STARTS = {"NUMBER", "NAME", "STRING", "LPAR", "MINUS", "TRUE", "FALSE", "NOT", "IF", "AT"}
_STATEMENT_STARTS = {"PROTOCOL", "IMPORT", "INPUT", "DEFINE", "INCLUSION", "EXCLUSION", "VALUESET", "COMPLETE"}
_OPERATORS = {"COMP_OP", "EQ", "PLUS", "STAR", "SLASH", "CARET", "AND", "OR", "IN", "AS", "WITHIN"}
_NAMED = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a quoted text such as "positive"',
    "UNIT": "a unit",
    "QUOTED_UNIT": "a unit",
    "COMP_OP": "a comparison",
    "$END": "the end of the file",
}


def grammar_path() -> Path:
    """The grammar file: inside the installed package, or the source tree's top-level grammar/."""
    packaged = Path(__file__).parent / "grammar" / "protocol.lark"
    return packaged if packaged.exists() else Path(__file__).parent.parent / "grammar" / "protocol.lark"


@functools.cache
def _lark() -> lark.Lark:
    return lark.Lark.open(
        str(grammar_path()),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,
    )


def parse(text: str, name: str = "<string>") -> ast.RulesFile:
    """Parse a whole rules file; raise RulesError on a syntax error."""
    return parse_source(Source(text, name))


def parse_expression(source: Source) -> ast.Expr:
    """Parse a lone expression (for `compile_expression`)."""
    # The grammar's start symbol is a file; an expression is parsed as the body of
    # a criterion so that its positions are still those of the given text.
    prefix = "inclusion _: "
    wrapped = Source(prefix + source.text, source.name)
    try:
        tree = _lark().parse(wrapped.text)
    except lark.exceptions.UnexpectedInput as error:
        raise RulesError([_syntax_diagnostic(wrapped, error, shift=len(prefix), original=source)]) from None
    try:
        statements = _transform(wrapped, tree).statements
    except RulesError as error:  # positions back into the expression's own text
        shift = len(prefix)
        raise RulesError(
            [
                Diagnostic(d.severity, d.code, d.message, source, Span(max(0, d.span.start - shift), max(0, d.span.end - shift)))
                for d in error.diagnostics
            ]
        ) from None
    if len(statements) > 1:
        extra = statements[1].span.start
        raise RulesError(
            [
                Diagnostic(
                    "error",
                    "E001",
                    "expected the end of the expression: statements belong in a rules file",
                    source,
                    Span(extra - len(prefix), len(source.text)),
                )
            ]
        )
    return _shift(statements[0].expr, -len(prefix))


def parse_source(source: Source) -> ast.RulesFile:
    """Parse a whole rules file held in a Source; raise RulesError on a syntax error."""
    try:
        tree = _lark().parse(source.text)
    except lark.exceptions.UnexpectedInput as error:
        raise RulesError([_syntax_diagnostic(source, error)]) from None
    return _transform(source, tree)


class _BadSyntax(Exception):
    """Raised inside the transformer for text the grammar accepts but the language does not."""

    def __init__(self, message: str, span: Span):
        super().__init__(message)
        self.message, self.span = message, span




def _transform(source: Source, tree) -> ast.RulesFile:
    try:
        result = _ToAst(source).transform(tree)
    except lark.exceptions.VisitError as error:
        if isinstance(error.orig_exc, _BadSyntax):
            bad = error.orig_exc
            raise RulesError([Diagnostic("error", "E001", bad.message, source, bad.span)]) from None
        raise
    too_deep = _too_deep(result)
    if too_deep is not None:
        message = f"this expression nests more than {MAX_DEPTH} levels deep: no criterion needs that, so write it more simply"
        raise RulesError([Diagnostic("error", "E002", message, source, too_deep.span)])
    return result


def _too_deep(tree: ast.RulesFile):
    """The first statement whose expression nests deeper than MAX_DEPTH, or None."""
    for statement in tree.statements:
        stack = [(statement, 0)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                return statement
            for field in attrs.fields(type(node)):
                value = getattr(node, field.name)
                children = value if isinstance(value, tuple) else (value,)
                stack.extend((child, depth + 1) for child in children if attrs.has(type(child)) and not isinstance(child, Span))
    return None


# ------------------------------------------------------------------ errors
def _describe(token: lark.Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    return f"'{token.value}'"


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.%µμ^/")


def _previous_text(text: str, offset: int) -> str:
    """The token just before an offset, roughly: enough to say 'after >'."""
    # Scanned backwards from the end, in time linear in the token's length: a regular
    # expression anchored with `$` tries every start position, quadratic in the text.
    end = len(text[:offset].rstrip())
    if end == 0:
        return ""
    for operator in ("..", "<=", ">=", "==", "!="):
        if end >= len(operator) and text.startswith(operator, end - len(operator), end):
            return operator
    last = text[end - 1]
    if last in "\"'":  # a quoted text or unit, opened on the same line
        opening = text.rfind(last, text.rfind("\n", 0, end - 1) + 1, end - 1)
        return text[opening:end] if opening >= 0 else last
    start = end
    while start > 0 and text[start - 1] in _WORD_CHARS:
        start -= 1
    return text[start:end] if start < end else last


def _expected_words(expected: set[str]) -> str:
    # LALR states over-approximate what may follow, so the list is narrowed to
    # what a person would have meant: after a complete value, an operator.
    words: list[str] = []
    if expected & _OPERATORS:
        words.append("an operator")
        if expected & _STATEMENT_STARTS:
            words.append("a new statement")
    elif expected & {"NUMBER", "LPAR"} and "COLON" not in expected:
        words.append("a value")
    else:
        terminals = {t.name: t for t in _lark().terminals}
        for name in sorted(expected - _STATEMENT_STARTS - {"$END"}):
            if name in _NAMED:
                words.append(_NAMED[name])
            elif name in terminals and isinstance(terminals[name].pattern, lark.lexer.PatternStr):
                words.append(f"'{terminals[name].pattern.value}'")
        if expected & _STATEMENT_STARTS:
            words.append("a new statement (input, define, inclusion, exclusion)")
    words = list(dict.fromkeys(words))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


# Spellings from other languages and from habit, with what to write instead.
_KEYWORDS = ("and", "or", "not", "if", "then", "else", "in", "as", "at", "least", "of", "true", "false")
_CHARACTER_ADVICE = {
    "&": "'&' is not an operator: write 'and' to join conditions",
    "|": "'|' is not an operator: write 'or' to join conditions",
    "!": "'!' is not an operator: write 'not' before a condition, or '!=' for 'is not equal to'",
    ";": "';' is not needed: statements begin with a keyword, so none is ended by a mark",
    "²": "write powers in units as plain digits, such as 'kg/m2'",
    "³": "write powers in units as plain digits, such as '/mm3'",
}
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _advice(text: str, token: lark.Token, offset: int, previous: str) -> tuple[str, Span] | None:
    """A message for a mistake people often make, with what to write instead (or None)."""
    before = text[:offset].rstrip()
    if token.type != "$END" and before.endswith("=") and token.value in (">", "<"):
        start = len(before) - 1
        return f"'={token.value}' is not a comparison: write '{token.value}='", Span(start, offset + 1)
    for word, span in ((previous, Span(len(before) - len(previous), len(before))), (token.value, _tok_span(token))):
        if token.type != "$END" and word.lower() in _KEYWORDS and word != word.lower():
            return f"keywords are written in lowercase: write '{word.lower()}', not '{word}'", span
    if token.type == "$END":
        return None
    if token.value == "between":
        return (
            "there is no 'between': write a chained comparison, such as '21 years <= age <= 70 years'",
            _tok_span(token),
        )
    if previous == "least" and token.value.lower() in _NUMBER_WORDS:
        number = _NUMBER_WORDS.index(token.value.lower())
        return f"write the count in digits: 'at least {number} of (...)'", _tok_span(token)
    spaced = re.match(r"/\s*([0-9.]+)\s+([A-Za-zµμ][A-Za-z0-9µμ]*)", text[token.start_pos :])
    if token.type == "SLASH" and spaced and previous[-1:].isalpha():
        joined = f"{previous}/{spaced.group(1)}{spaced.group(2)}"
        return f"write the unit without spaces: '{joined}'", Span(len(before) - len(previous), token.start_pos + spaced.end())
    if previous == "x" and token.type == "NAME":
        factor = _previous_text(text, len(before) - 1)
        return f"for a multiple write '*': '{factor} * {token.value}'", Span(len(before) - 1, token.end_pos)
    return None


def _syntax_diagnostic(
    source: Source, error: lark.exceptions.UnexpectedInput, shift: int = 0, original: Source | None = None
) -> Diagnostic:
    text = source.text
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        offset = error.pos_in_stream
        char = text[offset]
        if char in _CHARACTER_ADVICE:
            message = _CHARACTER_ADVICE[char]
        elif char == '"':
            message = 'this text is never closed: add the missing \'"\' before the end of the line'
        elif char == "'":
            message = "this unit is never closed: add the missing \"'\" before the end of the line"
        elif char == ".":
            message = "unexpected '.': write numbers with a digit before the point, such as 0.5"
        else:
            message = f"unexpected character '{char}'"
        span = Span(offset, offset + 1)
    else:
        token = error.token
        # At the end of the text, point just after its last character, not at a blank line below.
        offset = len(text.rstrip()) if token.type == "$END" else token.start_pos
        expected = set(error.expected) if isinstance(error, lark.exceptions.UnexpectedToken) else set()
        previous = _previous_text(text, offset)
        if shift and len(text[:offset].rstrip()) <= shift:
            previous = ""
        if len(previous) > 40:  # a generated name of thousands of characters: its start is enough
            previous = previous[:37] + "..."
        found = "the text ends" if token.type == "$END" else f"found {_describe(token)}"
        after = f" after '{previous}'" if previous else ""
        message = f"expected {_expected_words(expected)}{after}, but {found}"
        end = offset if token.type == "$END" else token.end_pos
        span = Span(offset, max(end, offset))
        advice = _advice(text, token, offset, previous)
        if advice is not None:
            message, span = advice
    if original is not None:
        span = Span(max(0, span.start - shift), max(0, span.end - shift))
        source = original
    return Diagnostic("error", "E001", message, source, span)


# ------------------------------------------------------------------ tree -> AST
def _span(meta) -> Span:
    if getattr(meta, "empty", True):
        return Span(0, 0)
    return Span(meta.start_pos, meta.end_pos)


def _tok_span(token: lark.Token) -> Span:
    return Span(token.start_pos, token.end_pos)


def _unquote(token: lark.Token) -> str:
    return re.sub(r"\\(.)", r"\1", token.value[1:-1])


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    # statements
    def start(self, meta, children):
        return ast.RulesFile(statements=tuple(children), span=Span(0, len(self.source.text)))

    def header(self, meta, children):
        name, title = children
        return ast.Header(id=name.value, title=_unquote(title) if title else None, span=_span(meta))

    def input(self, meta, children):
        name, type_, *attributes = children
        return ast.Input(
            name=name.value, type=type_, attributes=tuple(attributes), name_span=_tok_span(name), span=_span(meta)
        )

    def define(self, meta, children):
        name, _eq, expr = children
        return ast.Define(name=name.value, expr=expr, name_span=_tok_span(name), span=_span(meta))

    def function(self, meta, children):
        name, *parameters, _eq, expr = children
        parameters = tuple(p for p in parameters if p is not None)
        return ast.Function(
            name=name.value, parameters=parameters, expr=expr, name_span=_tok_span(name), span=_span(meta)
        )

    def parameter(self, meta, children):
        name, type_, mass = children
        return ast.Parameter(
            name=name.value, type=type_, molar_mass=mass, name_span=_tok_span(name), span=_span(meta)
        )

    def import_(self, meta, children):
        (target,) = children
        library = target.type == "NAME"
        return ast.Import(
            target=target.value if library else _unquote(target),
            library=library,
            target_span=_tok_span(target),
            span=_span(meta),
        )

    def criterion(self, meta, children):
        kind, name, text, expr = children
        return ast.Criterion(
            kind=kind.value,
            id=name.value,
            text=_unquote(text) if text else None,
            expr=expr,
            id_span=_tok_span(name),
            span=_span(meta),
        )

    def valueset_file(self, meta, children):
        name, path = children
        return ast.ValueSet(name=name.value, path=_unquote(path), name_span=_tok_span(name), span=_span(meta))

    def valueset_codes(self, meta, children):
        name, system, *codes = children
        return ast.ValueSet(
            name=name.value,
            system=_unquote(system) if system.type == "STRING" else system.value,
            system_quoted=system.type == "STRING",
            system_span=_tok_span(system),
            codes=tuple(ast.String(value=_unquote(c), span=_tok_span(c)) for c in codes),
            name_span=_tok_span(name),
            span=_span(meta),
        )

    def system(self, meta, children):
        return children[0]

    def complete(self, meta, children):
        return ast.Complete(
            kinds=tuple(c.value for c in children), kind_spans=tuple(_tok_span(c) for c in children), span=_span(meta)
        )

    def event_type(self, meta, children):
        kind, name = children
        return ast.EventType(kind=kind.value, valueset=name.value, valueset_span=_tok_span(name))

    def number_type(self, meta, children):
        (unit,) = children
        if unit is None:
            return ast.NumberType()
        return ast.NumberType(unit=unit[0], unit_span=unit[1])

    def integer_type(self, meta, children):
        (unit,) = children
        if unit is None:
            return ast.NumberType(whole=True)
        return ast.NumberType(unit=unit[0], unit_span=unit[1], whole=True)

    def ordered_type(self, meta, children):
        return ast.CategoryType(values=tuple(children), ordered=True)

    def date_type(self, meta, children):
        return ast.DateType()

    def boolean_type(self, meta, children):
        return ast.BooleanType()

    def category_type(self, meta, children):
        return ast.CategoryType(values=tuple(children))

    def range(self, meta, children):
        low, _dots, high = children
        return ast.Range(low=low, high=high, span=_span(meta))

    def molar_mass(self, meta, children):
        return ast.MolarMass(amount=children[0], span=_span(meta))

    def normal_range(self, meta, children):
        low, _dots, high = children
        return ast.Normal(low=low, high=high, span=_span(meta))

    def limit_multiple(self, meta, children):
        number, limit = children
        factor = ast.Number(text=number.value, span=_tok_span(number))
        return ast.Limit(factor=factor, limit=limit.value.split()[-1], span=_span(meta))

    def look_back(self, meta, children):
        return ast.LookBack(amount=children[0], span=_span(meta))

    def code(self, meta, children):
        system, code = children
        quoted = system.type == "STRING"
        return ast.Code(
            system=_unquote(system) if quoted else system.value,
            code=_unquote(code),
            quoted=quoted,
            system_span=_tok_span(system),
            span=_span(meta),
        )

    def label(self, meta, children):
        return ast.Label(text=_unquote(children[0]), span=_span(meta))

    def signed(self, meta, children):
        text = "".join(token.value for token in children)
        return ast.Number(text=text, span=_span(meta))

    # expressions
    def if_expr(self, meta, children):
        condition, then, otherwise = children
        return ast.If(condition=condition, then=then, otherwise=otherwise, span=_span(meta))

    def or_expr(self, meta, children):
        return ast.Logic(op="or", operands=tuple(children), span=_span(meta))

    def and_expr(self, meta, children):
        return ast.Logic(op="and", operands=tuple(children), span=_span(meta))

    def not_(self, meta, children):
        return ast.Not(operand=children[0], span=_span(meta))

    def at_least(self, meta, children):
        count, *operands = children
        if not count.value.isdigit():
            raise _BadSyntax(f"'at least' needs a whole number, not {count.value}", _tok_span(count))
        if len(count.value.lstrip("0")) > 15:  # int() of more than 4300 digits raises
            raise _BadSyntax(
                f"'at least' {count.value[:12]}... ({len(count.value)} digits) is more than any list can hold: "
                f"give a count up to the {len(operands)} items listed",
                _tok_span(count),
            )
        return ast.AtLeast(count=int(count.value), operands=tuple(operands), span=_span(meta))

    def compare(self, meta, children):
        operands = tuple(children[0::2])
        ops = tuple(_OP_SPELLINGS.get(t.value, t.value) for t in children[1::2])
        return ast.Compare(operands=operands, ops=ops, span=_span(meta))

    def member(self, meta, children):
        return ast.Membership(operand=children[0], values=children[1], negated=False, span=_span(meta))

    def not_member(self, meta, children):
        return ast.Membership(operand=children[0], values=children[1], negated=True, span=_span(meta))

    def set(self, meta, children):
        return tuple(children)

    def set_number(self, meta, children):
        *signs, token, unit = children
        text = "".join(t.value for t in signs) + token.value
        if unit is None:
            return ast.Number(text=text, span=_span(meta))
        return ast.Number(text=text, unit=unit[0], unit_span=unit[1], span=_span(meta))

    def arithmetic(self, meta, children):
        left, op, right = children
        return ast.Arithmetic(op=op.value, left=left, right=right, span=_span(meta))

    def negate(self, meta, children):
        _minus, operand = children
        if isinstance(operand, ast.Number) and not operand.text.startswith("-"):
            # `-1` is a number, not an operation: shown, folded and compared as written.
            return attrs.evolve(operand, text="-" + operand.text, span=_span(meta))
        return ast.Negate(operand=operand, span=_span(meta))

    def power(self, meta, children):
        base, _caret, exponent = children
        return ast.Power(base=base, exponent=exponent, span=_span(meta))

    def as_(self, meta, children):
        operand, (unit, unit_span) = children
        return ast.As(operand=operand, unit=unit, unit_span=unit_span, span=_span(meta))

    def parenthesised(self, meta, children):
        # The node stands for the whole parenthesised text, so errors underline it all.
        return attrs.evolve(children[0], span=_span(meta))

    def true(self, meta, children):
        return ast.Boolean(value=True, span=_span(meta))

    def false(self, meta, children):
        return ast.Boolean(value=False, span=_span(meta))

    def name(self, meta, children):
        return ast.Name(name=children[0].value, span=_span(meta))

    def call(self, meta, children):
        name, *args = children
        args = tuple(a for a in args if a is not None)
        return ast.Call(function=name.value, args=args, function_span=_tok_span(name), span=_span(meta))

    def windowed_call(self, meta, children):
        name, argument, window = children
        return ast.Call(function=name.value, args=(argument,), window=window, function_span=_tok_span(name), span=_span(meta))

    def time_since(self, meta, children):
        time, name = children
        if time.value != "time":
            raise _BadSyntax(f"expected 'time since {name.value}', but found '{time.value} since'", _tok_span(time))
        argument = ast.Name(name=name.value, span=_tok_span(name))
        return ast.Call(function="time since", args=(argument,), function_span=Span(time.start_pos, _tok_span(name).start - 1), span=_span(meta))

    def number(self, meta, children):
        token, unit = children
        if unit is not None and "\n" in self.source.text[token.end_pos : unit[1].start]:
            word = self.source.slice(unit[1])
            raise _BadSyntax(
                f"'{word}' is on a new line, so it is not the unit of {token.value}: "
                "a statement begins with input, define, inclusion or exclusion",
                unit[1],
            )
        if unit is None:
            return ast.Number(text=token.value, span=_span(meta))
        return ast.Number(text=token.value, unit=unit[0], unit_span=unit[1], span=_span(meta))

    def string(self, meta, children):
        return ast.String(value=_unquote(children[0]), span=_span(meta))

    def unit(self, meta, children):
        token = children[0]
        text = token.value[1:-1] if token.type == "QUOTED_UNIT" else token.value
        return (text, _tok_span(token))


def _shift(node, delta: int):
    """A copy of a tree with every span moved by `delta` characters."""
    changes = {}
    for field in attrs.fields(type(node)):
        value = getattr(node, field.name)
        if isinstance(value, Span):
            changes[field.name] = Span(value.start + delta, value.end + delta)
        elif isinstance(value, tuple):
            changes[field.name] = tuple(_shift(v, delta) if hasattr(v, "__attrs_attrs__") else v for v in value)
        elif hasattr(value, "__attrs_attrs__"):
            changes[field.name] = _shift(value, delta)
    return attrs.evolve(node, **changes)

