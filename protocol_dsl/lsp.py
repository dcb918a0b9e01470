"""A language server for rules files (`protocol-dsl lsp`, or `python -m protocol_dsl.lsp`).

The analysis (`Analysis`) is plain Python over the checker's results and knows
nothing of the protocol; `serve()` wires it to pygls, which is imported only
there (the optional extra `[lsp]`). Positions inside are character offsets;
LSP wants 0-based lines and UTF-16 columns, converted by `Lines`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Optional
from urllib.parse import unquote, urlparse

import attrs

from . import ast
from .errors import RulesError
from .source import Source, Span

DEBOUNCE = 0.25  # seconds of quiet after a change before the file is checked again

FUNCTION_DOCS = {
    "ln": "ln(x): the natural logarithm of a plain number (unknown for x <= 0).",
    "log10": "log10(x): the base-10 logarithm of a plain number (unknown for x <= 0).",
    "exp": "exp(x): e raised to a plain number.",
    "sqrt": "sqrt(x): the square root (unknown for x < 0); the unit's square root too.",
    "abs": "abs(x): the absolute value, in x's unit.",
    "floor": "floor(x): the largest whole number not above x.",
    "ceil": "ceil(x): the smallest whole number not below x.",
    "round": "round(x, digits?): x rounded half away from zero, to `digits` decimals (0 by default).",
    "min": "min(a, b, ...): the smallest of its arguments, converted to one unit.",
    "max": "max(a, b, ...): the largest of its arguments, converted to one unit.",
    "clamp": "clamp(x, low, high): x, held between low and high.",
    "known": "known(NAME): true when the input or definition has a value; never unknown.",
}

KEYWORDS = (
    "protocol", "import", "input", "define", "inclusion", "exclusion", "valueset", "complete",
    "number", "integer", "boolean", "date", "one of", "ordered", "range", "molar mass", "look back",
    "normal", "code", "if", "then", "else", "and", "or", "not", "in", "as", "at least", "of",
    "true", "false", "within", "since",
)


# Words the grammar does not accept as a name (its NAME terminal).
RESERVED = frozenset(
    "protocol import input define inclusion exclusion if then else and or not in as at true false within since".split()
)


# ------------------------------------------------------------------ positions
class Lines:
    """Offsets <-> LSP positions (0-based line, UTF-16 column) in one text."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> dict:
        import bisect

        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        before = self.text[self.starts[line] : offset]
        return {"line": line, "character": _utf16_len(before)}

    def offset(self, line: int, character: int) -> int:
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        start = self.starts[line]
        end = self.text.find("\n", start)
        end = len(self.text) if end < 0 else end
        units = 0
        for index in range(start, end):
            if units >= character:
                return index
            units += 2 if ord(self.text[index]) > 0xFFFF else 1
        return end

    def range(self, span: Span) -> dict:
        return {"start": self.position(span.start), "end": self.position(span.end)}


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def path_of(uri: str) -> Path:
    """The file a `file:` URI names (anything else: its text as a path)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(uri)


# ------------------------------------------------------------------- analysis
def _children(node) -> Iterator[Any]:
    if isinstance(node, (tuple, list)):
        for item in node:
            yield from _children(item)
    elif attrs.has(type(node)):
        yield node
        for field in attrs.fields(type(node)):
            value = getattr(node, field.name)
            if isinstance(value, (tuple, list)) or attrs.has(type(value)):
                yield from _children(value)


@attrs.frozen
class Occurrence:
    """A name where it is declared or read."""

    name: str
    span: Span
    declaration: bool


class Analysis:
    """One version of a rules file: its diagnostics, names, and what stands where."""

    def __init__(self, text: str, name: str):
        self.text = text
        self.name = name
        self.lines = Lines(text)
        self.source = Source(text, name)
        self.tree: Optional[ast.RulesFile] = None
        self.checked = None
        try:
            from .parser import parse_source

            self.tree = parse_source(self.source)
        except RulesError:
            return
        from .checker import check

        self.checked = check(self.source, self.tree)

    # ------------------------------------------------------------- diagnostics
    def diagnostics(self, deep: bool = True) -> list[dict]:
        """The diagnostics `protocol-dsl check` reports, as LSP diagnostics."""
        if deep:
            from .report import diagnose

            found = diagnose(self.text, self.name)
        elif self.checked is None:
            from .report import diagnose

            found = diagnose(self.text, self.name)  # a syntax error: nothing deep runs
        else:
            found = self.checked.diagnostics
        return [
            {
                "range": self.lines.range(d.span),
                "severity": 1 if d.severity == "error" else 2,
                "code": d.code,
                "source": "protocol-dsl",
                "message": d.message,
            }
            for d in found
        ]

    def coverage(self, path: Path) -> list[dict]:
        """Criteria, comparisons and thresholds the cases beside the file do not cover."""
        if self.checked is None or self.checked.errors:
            return []
        from .cases import CaseFileError, case_file_for, load_cases, run_case

        cases_path = case_file_for(path)
        if cases_path is None:
            return []
        try:
            from . import loads
            from .coverage import measure

            protocol = loads(self.text, self.name)
            cases = load_cases(cases_path, protocol)
            outcomes = [run_case(protocol, case) for case in cases]
            report = measure(protocol, [(o.case.name, o.result) for o in outcomes if o.result is not None])
        except (RulesError, CaseFileError, OSError, ValueError):
            return []  # a cases file half written, or unreadable: `protocol-dsl test` says why
        found = []
        for row in report.criteria + report.comparisons:
            if not row.complete:
                words = [word for value, word in ((True, "true"), (False, "false"), (None, "unknown"))
                         if not row.counts[value]]
                absent = " or ".join(words) if len(words) < 3 else "true, false or unknown"
                found.append((row.line, row.column, f"not covered: {row.label} is never {absent} in {cases_path.name}", 3))
        for b in report.boundaries:
            if not b.complete:
                found.append((b.line, b.column, f"boundary not covered: {b.label}: add {b.hint()}", 4))
        out = []
        for line, column, message, severity in found:
            start = self.lines.starts[line - 1] + column - 1 if line - 1 < len(self.lines.starts) else 0
            end = self.text.find("\n", start)
            end = len(self.text) if end < 0 else end
            out.append({
                "range": self.lines.range(Span(start, end)),
                "severity": severity,
                "code": "coverage",
                "source": "protocol-dsl",
                "message": message,
            })
        return out

    # ------------------------------------------------------------------- names
    def occurrences(self) -> list[Occurrence]:
        """Every declaration and reading of an input or a definition (functions too)."""
        if self.tree is None:
            return []
        declared = {}
        out = []
        for statement in self.tree.statements:
            if isinstance(statement, (ast.Input, ast.Define, ast.Function)):
                declared[statement.name] = statement
                out.append(Occurrence(statement.name, statement.name_span, True))
        for node in _children(self.tree):
            if isinstance(node, ast.Name) and node.name in declared:
                out.append(Occurrence(node.name, node.span, False))
            elif isinstance(node, ast.Call) and node.function in declared:
                out.append(Occurrence(node.function, node.function_span, False))
        return sorted(out, key=lambda o: o.span.start)

    def occurrence_at(self, offset: int) -> Optional[Occurrence]:
        for o in self.occurrences():
            if o.span.start <= offset <= o.span.end:
                return o
        return None

    def word_at(self, offset: int) -> Optional[tuple[str, Span]]:
        """The input, definition or built-in function named at offset (not in a string or comment)."""
        found = self.occurrence_at(offset)
        if found is not None:
            return found.name, found.span
        for node in _children(self.tree) if self.tree is not None else ():
            if isinstance(node, ast.Call) and node.function_span.start <= offset <= node.function_span.end:
                return node.function, node.function_span
        return None

    def declaration(self, name: str):
        for statement in getattr(self.tree, "statements", ()) if self.tree else ():
            if isinstance(statement, (ast.Input, ast.Define, ast.Function)) and statement.name == name:
                return statement
        return None

    # ------------------------------------------------------------------- hover
    def hover(self, offset: int) -> Optional[dict]:
        word = self.word_at(offset)
        if word is None:
            return None
        name, span = word
        statement = self.declaration(name)
        if statement is not None:
            text = self.source.slice(statement.span)
            lines = [f"```rules\n{text}\n```"]
            info = self.checked.inputs.get(name) if self.checked else None
            if info is not None:
                from .checker import describe

                lines.append(f"{name}: {describe(info.type)}")
                if info.range is not None:
                    lines.append(f"plausible range {info.range[0]}..{info.range[1]}")
                if info.label:
                    lines.append(f"label: {info.label}")
            return {"contents": {"kind": "markdown", "value": "\n\n".join(lines)}, "range": self.lines.range(span)}
        if name in FUNCTION_DOCS:
            return {"contents": {"kind": "markdown", "value": FUNCTION_DOCS[name]}, "range": self.lines.range(span)}
        return None

    # ------------------------------------------------------- definition, references
    def definition(self, offset: int) -> Optional[dict]:
        word = self.word_at(offset)
        statement = self.declaration(word[0]) if word else None
        if statement is None:
            return None
        return self.lines.range(statement.name_span)

    def references(self, offset: int, include_declaration: bool = True) -> list[dict]:
        word = self.word_at(offset)
        if word is None or self.declaration(word[0]) is None:
            return []
        return [
            self.lines.range(o.span)
            for o in self.occurrences()
            if o.name == word[0] and (include_declaration or not o.declaration)
        ]

    def rename(self, offset: int, new_name: str) -> Optional[list[dict]]:
        """The edits renaming the input or definition at offset, or None when there is none."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", new_name) or new_name in RESERVED:
            return None
        ranges = self.references(offset)
        if not ranges:
            return None
        return [{"range": r, "newText": new_name} for r in ranges]

    # -------------------------------------------------------------- formatting
    def formatting(self) -> list[dict]:
        """The edit replacing the whole text with `fmt`'s output (none if it does not parse)."""
        from .formatter import format_text

        try:
            formatted = format_text(self.text, self.name)
        except RulesError:
            return []
        if formatted == self.text:
            return []
        return [{"range": self.lines.range(Span(0, len(self.text))), "newText": formatted}]

    # -------------------------------------------------------------- completion
    def completion(self, offset: int, known: Optional["Analysis"] = None) -> list[dict]:
        """Completions at offset: categories after `=`/`in {`, units after a number, else names."""
        names_from = self if self.checked is not None else (known or self)
        line_start = self.text.rfind("\n", 0, offset) + 1
        before = self.text[line_start:offset]
        category = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:==|!=|=|≠|(?:not\s+)?in\s*\{[^}]*)\s*\"?[^\"]*$", before)
        if category and names_from.checked is not None:
            info = names_from.checked.inputs.get(category.group(1))
            values = getattr(info.type, "values", None) if info else None
            if values:
                quote_open = before.count('"') % 2 == 1
                return [
                    {"label": v, "kind": 20, "insertText": v if quote_open else f'"{v}"', "detail": f"a value of {info.name}"}
                    for v in values
                ]
        if re.search(r"[0-9]\s+[A-Za-zµμ%/0-9^.]*$", before) or re.search(r"[0-9]$", before):
            from .units import KNOWN_UNITS

            return [{"label": u, "kind": 11, "detail": "unit"} for u in KNOWN_UNITS]
        items = []
        if names_from.checked is not None:
            for name, info in names_from.checked.inputs.items():
                items.append({"label": name, "kind": 6, "detail": f"input{': ' + info.label if info.label else ''}"})
            for name in names_from.checked.definitions:
                items.append({"label": name, "kind": 21, "detail": "definition"})
            for name in names_from.checked.functions:
                items.append({"label": name, "kind": 3, "detail": "function"})
        for name, doc in FUNCTION_DOCS.items():
            items.append({"label": name, "kind": 3, "detail": doc})
        for word in KEYWORDS:
            items.append({"label": word, "kind": 14})
        return items


# --------------------------------------------------------------------- server
def serve() -> int:
    """Run the server over standard input and output until the client says exit."""
    try:
        from lsprotocol import converters, types
        from pygls.lsp.server import LanguageServer
    except ImportError:
        import sys

        print("protocol-dsl lsp needs the optional extra: pip install 'protocol-dsl[lsp]'", file=sys.stderr)
        return 2
    import asyncio

    from .report import version

    server = LanguageServer("protocol-dsl", version())
    state: dict[str, Analysis] = {}  # uri -> the last analysis
    good: dict[str, Analysis] = {}  # uri -> the last analysis that parsed (names for completion)
    versions: dict[str, int] = {}

    structure = converters.get_converter().structure

    def convert(kind, data):
        return structure(data, kind)

    def analyse(uri: str) -> Analysis:
        document = server.workspace.get_text_document(uri)
        analysis = Analysis(document.source, str(path_of(uri)))
        state[uri] = analysis
        if analysis.checked is not None:
            good[uri] = analysis
        return analysis

    def current(uri: str) -> Analysis:
        document = server.workspace.get_text_document(uri)
        analysis = state.get(uri)
        if analysis is None or analysis.text != document.source:
            analysis = analyse(uri)
        return analysis

    def collect(uri: str, analysis: Analysis, deep: bool) -> list[dict]:
        found = analysis.diagnostics(deep)
        if deep:
            found += analysis.coverage(path_of(uri))
        return found

    def send(uri: str, found: list[dict]) -> None:
        server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[convert(types.Diagnostic, d) for d in found])
        )

    def publish(uri: str, analysis: Analysis, deep: bool) -> None:
        send(uri, collect(uri, analysis, deep))

    async def check_later(uri: str, version: int) -> None:
        await asyncio.sleep(DEBOUNCE)
        if versions.get(uri) != version:
            return  # a newer change will check
        analysis = current(uri)
        # The deep checks may take a while: off the event loop, so requests are still answered.
        found = await asyncio.to_thread(collect, uri, analysis, True)
        if versions.get(uri) == version:
            send(uri, found)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: types.DidOpenTextDocumentParams):
        uri = params.text_document.uri
        versions[uri] = params.text_document.version
        publish(uri, analyse(uri), True)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls, params: types.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        versions[uri] = params.text_document.version
        publish(uri, analyse(uri), False)  # syntax and type checks at once; deep checks when typing stops
        await check_later(uri, params.text_document.version)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls, params: types.DidSaveTextDocumentParams):
        publish(params.text_document.uri, current(params.text_document.uri), True)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        state.pop(uri, None)
        good.pop(uri, None)
        server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def offset_of(analysis: Analysis, position) -> int:
        return analysis.lines.offset(position.line, position.character)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls, params: types.HoverParams):
        analysis = current(params.text_document.uri)
        found = analysis.hover(offset_of(analysis, params.position))
        return convert(types.Hover, found) if found else None

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=['"', "{", " "]))
    def completion(ls, params: types.CompletionParams):
        uri = params.text_document.uri
        analysis = current(uri)
        items = analysis.completion(offset_of(analysis, params.position), good.get(uri))
        return types.CompletionList(is_incomplete=False, items=[convert(types.CompletionItem, i) for i in items])

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls, params: types.DefinitionParams):
        analysis = current(params.text_document.uri)
        found = analysis.definition(offset_of(analysis, params.position))
        if found is None:
            return None
        return types.Location(uri=params.text_document.uri, range=convert(types.Range, found))

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def references(ls, params: types.ReferenceParams):
        analysis = current(params.text_document.uri)
        found = analysis.references(offset_of(analysis, params.position), params.context.include_declaration)
        return [types.Location(uri=params.text_document.uri, range=convert(types.Range, r)) for r in found]

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    def rename(ls, params: types.RenameParams):
        analysis = current(params.text_document.uri)
        edits = analysis.rename(offset_of(analysis, params.position), params.new_name)
        if edits is None:
            return None
        return types.WorkspaceEdit(changes={params.text_document.uri: [convert(types.TextEdit, e) for e in edits]})

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls, params: types.DocumentFormattingParams):
        analysis = current(params.text_document.uri)
        return [convert(types.TextEdit, e) for e in analysis.formatting()]

    server.start_io()
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())
