"""A Pygments lexer for rules files (`pygmentize -l rules`, Sphinx and MkDocs code blocks).

Pygments is needed only here: the package does not import this module, and
Pygments finds it through the `pygments.lexers` entry point (extra `[highlight]`).
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

__all__ = ["RulesLexer"]

# Statement keywords, then the words of types and attributes, then the expression words.
DECLARATIONS = ("protocol", "import", "input", "define", "inclusion", "exclusion", "valueset", "complete")
TYPES = ("number", "integer", "boolean", "date", "one", "ordered", "condition", "procedure", "medication")
ATTRIBUTES = ("range", "molar", "mass", "look", "back", "normal", "code", "file")
EXPRESSION = ("if", "then", "else", "at", "least", "of", "as", "within", "since")
OPERATOR_WORDS = ("and", "or", "not", "in")
CONSTANTS = ("true", "false")
KEYWORDS = DECLARATIONS + TYPES + ATTRIBUTES + EXPRESSION + OPERATOR_WORDS + CONSTANTS

_WORD = r"[A-Za-z_][A-Za-z0-9_]*"
_UNIT_PART = r"(?:10\^[0-9]+|[A-Za-zµμ][A-Za-z0-9µμ]*)"
_UNIT = rf"(?:%|{_UNIT_PART})(?:/(?:[0-9]+(?:\.[0-9]+)?)?{_UNIT_PART})*"
# A word after a number is its unit unless it is a keyword (`at least 2 of`, `0..130 code`).
_NOT_KEYWORD = r"(?!(?:" + "|".join(KEYWORDS) + r")(?![A-Za-z0-9_]))"
_NUMBER = r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"


class RulesLexer(RegexLexer):
    """Rules files of protocol-dsl: clinical-trial eligibility criteria."""

    name = "protocol-dsl rules"
    aliases = ["rules", "protocol-dsl"]
    filenames = ["*.rules"]
    mimetypes = ["text/x-protocol-dsl"]
    url = "https://pypi.org/project/protocol-dsl/"

    tokens = {
        "root": [
            (r"[ \t\r\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"(?:[^"\\\n]|\\.)*"', String.Double),
            (r"'[^'\n]*'", Name.Constant),  # a quoted UCUM unit: '10*9/L'
            (rf"\b(inclusion|exclusion)([ \t\r\n]+)({_WORD})", bygroups(Keyword.Declaration, Whitespace, Name.Label)),
            (rf"\b(input|valueset)([ \t\r\n]+)({_WORD})", bygroups(Keyword.Declaration, Whitespace, Name.Variable)),
            (rf"\b(define)([ \t\r\n]+)({_WORD})", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (rf"\b(protocol)([ \t\r\n]+)({_WORD})", bygroups(Keyword.Declaration, Whitespace, Name.Namespace)),
            # A unit after a number type or `as`: `number umol/L`, `TB as mg/dL`.
            (rf"\b(number|integer)([ \t]+)({_NOT_KEYWORD}{_UNIT})", bygroups(Keyword.Type, Whitespace, Name.Constant)),
            (rf"\b(as)([ \t]+)({_NOT_KEYWORD}{_UNIT})", bygroups(Keyword, Whitespace, Name.Constant)),
            (rf"({_NUMBER})([ \t]*)(x[ \t]+(?:ULN|LLN))(?![A-Za-z0-9_])", bygroups(Number, Whitespace, Name.Builtin)),
            (rf"({_NUMBER})(%)", bygroups(Number, Name.Constant)),
            (rf"({_NUMBER})([ \t]*)({_NOT_KEYWORD}{_UNIT})", bygroups(Number, Whitespace, Name.Constant)),
            (_NUMBER, Number),
            (words(DECLARATIONS, suffix=r"\b"), Keyword.Declaration),
            (words(TYPES, suffix=r"\b"), Keyword.Type),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(OPERATOR_WORDS, suffix=r"\b"), Operator.Word),
            (words(ATTRIBUTES + EXPRESSION, suffix=r"\b"), Keyword),
            (rf"{_WORD}(?=[ \t]*\()", Name.Function),
            (_WORD, Name),
            (r"<=|>=|==|!=|≤|≥|≠|<|>|=|\+|-|\*|/|\^|\.\.", Operator),
            (r"[(){},:]", Punctuation),
        ],
    }
