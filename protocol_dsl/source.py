"""Source text, spans and diagnostics: where things are, and how to show them."""

from __future__ import annotations

import bisect
import re

import attrs


class UnreadableFile(Exception):
    """A file that cannot be read as UTF-8 text; the message names it and says why."""


def read_text(path, what: str) -> str:
    """A file's text (UTF-8, a leading byte-order mark dropped), or UnreadableFile."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise UnreadableFile(f"{path} is a directory") from None
    except FileNotFoundError:
        raise UnreadableFile(f"{path}: no such file") from None
    except OSError as problem:
        raise UnreadableFile(f"{path}: cannot be read ({problem.strerror or problem})") from None
    if b"\0" in data:
        raise UnreadableFile(f"{path}: this is a binary file, not {what}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise UnreadableFile(f"{path}: not UTF-8 text (byte {problem.start})") from None
    return text.removeprefix("\ufeff")


def quoted(text: str) -> str:
    """A text as rules files write it: in double quotes, with \\ and \" escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@attrs.frozen
class Span:
    """A half-open range of character offsets (0-based) in a source text."""

    start: int
    end: int


@attrs.frozen(eq=False)
class Source:
    """A named text with fast offset -> line/column conversion."""

    text: str
    name: str = "<string>"
    _line_starts: list[int] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        starts = [0]
        starts.extend(match.end() for match in re.finditer("\n", self.text))  # one pass, in C
        object.__setattr__(self, "_line_starts", starts)

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based (line, column) of an offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]

    def excerpt(self, span: Span) -> str:
        """The first line of a span with a caret underline beneath it."""
        line, column = self.position(span.start)
        text = self.line_text(line)
        end_line, end_column = self.position(span.end)
        width = (end_column - column) if end_line == line else len(text) - column + 1
        # Tabs keep their width in the underline so the carets stay aligned.
        pad = "".join("\t" if ch == "\t" else " " for ch in text[: column - 1])
        return f"{text}\n{pad}{'^' * max(1, width)}"

    def slice(self, span: Span) -> str:
        return self.text[span.start : span.end]


@attrs.frozen
class Diagnostic:
    """One problem found in a rules file, with its place and a stable code."""

    severity: str  # "error" | "warning"
    code: str
    message: str
    source: Source = attrs.field(eq=False, repr=False)
    span: Span

    @property
    def line(self) -> int:
        return self.source.position(self.span.start)[0]

    @property
    def column(self) -> int:
        return self.source.position(self.span.start)[1]

    @property
    def end_line(self) -> int:
        return self.source.position(self.span.end)[0]

    @property
    def end_column(self) -> int:
        return self.source.position(self.span.end)[1]

    @property
    def file(self) -> str:
        return self.source.name

    def format(self) -> str:
        """`file:line:column: severity[code]: message`, then the line and a caret."""
        head = f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"
        return f"{head}\n{self.source.excerpt(self.span)}"

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }
