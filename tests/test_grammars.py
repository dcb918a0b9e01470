"""The editor grammars (Pygments lexer, TextMate grammar) on every construct of the language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("pygments")

from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String  # noqa: E402

from protocol_dsl.lexer import KEYWORDS, RulesLexer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEXTMATE = ROOT / "editors" / "protocol-dsl.tmLanguage.json"


def grammar_keywords() -> set[str]:
    """The words the grammar quotes as literals (outside its regular expressions)."""
    text = (ROOT / "grammar" / "protocol.lark").read_text(encoding="utf-8")
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"(?m)^NAME:.*$|^\w+(\.\d+)?: /.*$", "", text)  # terminals written as regexes
    return set(re.findall(r'"([a-z]+)"', text))


def samples() -> dict[str, str]:
    found = {}
    for pattern in ("protocols/*.rules", "examples/trials/*.rules", "protocol_dsl/library/*.rules"):
        for path in sorted(ROOT.glob(pattern)):
            found[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    doc = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    for index, block in enumerate(re.findall(r"```rules\n(.*?)```", doc, re.S)):
        found[f"docs/language.md block {index + 1}"] = block
    return found


SAMPLES = samples()


def test_the_samples_are_found():
    assert len(SAMPLES) > 10 and any(name.startswith("docs/") for name in SAMPLES)


def test_every_grammar_keyword_is_a_lexer_keyword():
    assert grammar_keywords() - set(KEYWORDS) == set()
    assert {"inclusion", "exclusion", "define", "and", "within"} <= grammar_keywords()


# ------------------------------------------------------------------ Pygments
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_lexer_has_no_errors_and_types_every_token(name):
    text = SAMPLES[name]
    tokens = list(RulesLexer().get_tokens(text))
    assert [value for kind, value in tokens if kind in Error] == []
    assert "".join(value for _, value in tokens).rstrip("\n") == text.rstrip("\n")
    keywords = grammar_keywords()
    for kind, value in tokens:
        if value.startswith("#"):
            assert kind in Comment
        elif value.startswith('"'):
            assert kind in String
        elif value in keywords:
            assert kind in Keyword or kind in Operator.Word, (value, kind)
        elif re.fullmatch(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", value):
            assert kind in Number


def test_lexer_on_each_construct():
    text = (
        'protocol P1 "A title"  # a comment\n'
        "input TB: number μmol/L range 0..1500 molar mass 584.66 g/mol \"Total bilirubin ≥ 2\"\n"
        "define high = TB >= 171 umol/L or TB >= 100 '10*9/L'\n"
        'inclusion I1 "≥ 18": at least 2 of (high, TB as mg/dL > 2.5 x ULN, 40% < 50%)\n'
    )
    tokens = [(kind, value) for kind, value in RulesLexer().get_tokens(text) if value.strip()]
    kinds = dict((value, kind) for kind, value in tokens)
    assert kinds["protocol"] in Keyword.Declaration and kinds["inclusion"] in Keyword.Declaration
    assert kinds["I1"] in Name.Label and kinds["P1"] in Name.Namespace
    assert kinds["number"] in Keyword.Type and kinds["μmol/L"] in Name.Constant
    assert kinds["umol/L"] in Name.Constant and kinds["'10*9/L'"] in Name.Constant
    assert kinds["171"] in Number and kinds["%"] in Name.Constant and kinds["x ULN"] in Name.Builtin
    assert kinds[">="] in Operator and kinds["or"] in Operator.Word and kinds["# a comment"] in Comment
    assert kinds['"Total bilirubin ≥ 2"'] in String and kinds["at"] in Keyword and kinds["of"] in Keyword


def test_lexer_is_registered():
    from pygments.lexers import get_lexer_for_filename

    try:
        lexer = get_lexer_for_filename("x.rules")
    except Exception:
        pytest.skip("the package is not installed with its entry points")
    assert isinstance(lexer, RulesLexer)


# ------------------------------------------------------------------ TextMate
def textmate() -> dict:
    return json.loads(TEXTMATE.read_text(encoding="utf-8"))


def flat_patterns(grammar: dict) -> list[dict]:
    """The top-level patterns in order, includes resolved."""
    out = []

    def add(pattern):
        if "include" in pattern:
            add(grammar["repository"][pattern["include"].removeprefix("#")])
        elif "patterns" in pattern and "match" not in pattern and "begin" not in pattern:
            for inner in pattern["patterns"]:
                add(inner)
        else:
            out.append(pattern)

    for pattern in grammar["patterns"]:
        add(pattern)
    return out


def scopes(line: str, patterns: list[dict]) -> list[tuple[str, str]]:
    """A line's (text, scope) pieces, as a TextMate engine scans one line: the earliest match wins."""
    compiled = [(p, re.compile(p.get("match") or p["begin"])) for p in patterns]
    out, position = [], 0
    while position < len(line):
        best = None
        for pattern, regex in compiled:
            m = regex.search(line, position)
            if m and m.end() > m.start() and (best is None or m.start() < best[1].start()):
                best = (pattern, m)
        if best is None:
            break
        pattern, m = best
        end = m.end()
        if "begin" in pattern:
            closing = re.compile(pattern["end"]).search(line, end)
            end = closing.end() if closing else len(line)
        if "captures" in pattern:
            for group, capture in pattern["captures"].items():
                if m.group(int(group)):
                    out.append((m.group(int(group)), capture["name"]))
        else:
            out.append((line[m.start() : end], pattern["name"]))
        position = end
    return out


def test_textmate_grammar_is_valid_and_compiles():
    grammar = textmate()
    assert grammar["scopeName"] == "source.rules" and "rules" in grammar["fileTypes"]
    for pattern in flat_patterns(grammar):
        for key in ("match", "begin", "end"):
            if key in pattern:
                re.compile(pattern[key])
        assert "name" in pattern or "captures" in pattern


@pytest.mark.parametrize("keyword", sorted(grammar_keywords()))
def test_textmate_scopes_every_keyword(keyword):
    pieces = scopes(f"{keyword} ", flat_patterns(textmate()))
    assert pieces and pieces[0][0] == keyword
    assert pieces[0][1].startswith(("keyword.", "storage.", "constant.language.")), pieces


def test_textmate_on_each_construct():
    patterns = flat_patterns(textmate())
    line = 'inclusion I1 "≥ 18 # not a comment": TB as mg/dL >= 171 umol/L or 40% < PTA and 2 x ULN < ALT # note'
    found = dict(scopes(line, patterns))
    assert found["inclusion"].startswith("keyword.") and found["I1"].startswith("entity.name.tag")
    assert found['"≥ 18 # not a comment"'].startswith("string.quoted.double")
    assert found["mg/dL"].startswith("constant.other.unit") and found["umol/L"].startswith("constant.other.unit")
    assert found["171"].startswith("constant.numeric") and found["%"].startswith("constant.other.unit")
    assert found[">="].startswith("keyword.operator") and found["or"].startswith("keyword.operator.word")
    assert found["# note"].startswith("comment.line") and found[" x ULN"].startswith("support.constant")
    found = dict(scopes("input PLT: number '10*9/L' \"Platelets\"", patterns))
    assert found["'10*9/L'"].startswith("constant.other.unit.quoted") and found["PLT"].startswith("entity.name")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_textmate_scopes_every_keyword_in_the_samples(name):
    patterns = flat_patterns(textmate())
    keywords = grammar_keywords()
    for line in SAMPLES[name].splitlines():
        for text, scope in scopes(line, patterns):
            if text in keywords:
                assert scope.startswith(("keyword.", "storage.", "constant.language.")), (line, text, scope)
            elif text.startswith("#"):
                assert scope.startswith("comment."), (line, text)
