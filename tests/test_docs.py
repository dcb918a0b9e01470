"""The documentation is kept true: its examples are run against the library and the CLI.

docs/errors.md has one `## CODE` section per diagnostic code. In each, the first
```rules block is a file with the problem, the following ```text block is exactly
what `protocol-dsl check example.rules` prints for it (`check --strict` when the
section says so), and the second ```rules block is the corrected file, which checks
clean. Further ```rules/```text pairs in a section show other messages with the same
code. Every ```rules block of docs/language.md checks clean.
"""

from __future__ import annotations

import glob
import json
import re
from pathlib import Path

import pytest

import protocol_dsl
from protocol_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ERRORS = (DOCS / "errors.md").read_text(encoding="utf-8")
LANGUAGE = (DOCS / "language.md").read_text(encoding="utf-8")

FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.S | re.M)
PRINTED_CODE = re.compile(r"^\S+:[0-9]+:[0-9]+: (?:error|warning)\[([EW][0-9]{3})\]: ", re.M)


def sections(text: str) -> dict[str, str]:
    """`## Heading` -> the text up to the next `## ` heading."""
    parts = re.split(r"^## +(.+?)[ \t]*$", text, flags=re.M)
    return {heading: body for heading, body in zip(parts[1::2], parts[2::2])}


def fences(text: str, *languages: str) -> list[tuple[str, str]]:
    """The fenced blocks of a text, as (language, body), keeping only `languages`."""
    return [(lang, body) for lang, body in FENCE.findall(text) if lang in languages]


def loaded(text: str) -> tuple[bool, list]:
    """(whether `loads` raised RulesError, its diagnostics or the warnings of the protocol)."""
    try:
        protocol = protocol_dsl.loads(text, "example.rules")
    except protocol_dsl.RulesError as error:
        return True, error.diagnostics
    return False, protocol.warnings


@pytest.fixture
def check(tmp_path, monkeypatch, capsys):
    """Run `protocol-dsl check [--strict] example.rules` on a text: (exit code, stdout)."""
    monkeypatch.chdir(tmp_path)

    def run(text: str, strict: bool = False) -> tuple[int, str]:
        (tmp_path / "example.rules").write_text(text, encoding="utf-8")
        capsys.readouterr()
        code = main(["check", *(["--strict"] if strict else []), "example.rules"])
        return code, capsys.readouterr().out

    return run


ERROR_SECTIONS = {heading: body for heading, body in sections(ERRORS).items() if re.fullmatch(r"[EW][0-9]{3}", heading)}


def imported_file(code: str) -> None:
    """Write the section's ```imported block, if it has one, as site.rules in the current directory."""
    for _, body in fences(ERROR_SECTIONS[code], "imported"):
        Path("site.rules").write_text(body, encoding="utf-8")


def strict(code: str) -> bool:
    return "check --strict example.rules" in ERROR_SECTIONS[code]


def examples(code: str) -> list[tuple[str, str]]:
    """Every (bad rules text, expected output) pair of a code's section."""
    blocks = fences(ERROR_SECTIONS[code], "rules", "text")
    languages = [lang for lang, _ in blocks]
    assert languages[:3] == ["rules", "text", "rules"], f"{code}: expected a bad file, its output and a fix"
    rest = blocks[3:]
    assert [lang for lang, _ in rest] == ["rules", "text"] * (len(rest) // 2), f"{code}: extra examples come in pairs"
    pairs = [(blocks[0][1], blocks[1][1])]
    pairs += [(rest[i][1], rest[i + 1][1]) for i in range(0, len(rest), 2)]
    return pairs


def example_ids() -> list[tuple[str, int]]:
    return [(code, index) for code in ERROR_SECTIONS for index in range(len(examples(code)))]


# ------------------------------------------------------------------ errors.md
@pytest.mark.parametrize(("code", "index"), example_ids(), ids=lambda v: str(v))
def test_bad_example_gives_its_code_and_the_documented_output(check, code, index):
    bad, expected = examples(code)[index]
    imported_file(code)
    status, printed = check(bad, strict(code))
    assert printed == expected
    assert code in PRINTED_CODE.findall(printed)
    assert status == (1 if code.startswith("E") or strict(code) else 0)
    raised, found = loaded(bad)
    if code in [d.code for d in found]:
        # Found by the library too: an error stops loading, a warning does not.
        assert raised == code.startswith("E")
        assert "\n".join(d.format() for d in found) + "\n" == printed
    else:
        # Only the deep checks of `check` find it, and they run on files that load.
        assert not raised, "\n".join(d.format() for d in found)


@pytest.mark.parametrize("code", sorted(ERROR_SECTIONS))
def test_fixed_example_checks_clean(check, code):
    fixed = fences(ERROR_SECTIONS[code], "rules")[1][1]
    imported_file(code)
    assert check(fixed, strict(code)) == (0, "")
    raised, found = loaded(fixed)
    assert not raised and found == []


def test_every_emitted_code_is_documented_and_every_documented_code_is_emitted():
    emitted = set()
    for path in (ROOT / "protocol_dsl").rglob("*.py"):
        emitted |= {match.strip('"') for match in re.findall(r'"[EW][0-9]{3}"', path.read_text(encoding="utf-8"))}
    assert emitted, "no diagnostic codes found in the package"
    assert sorted(emitted - set(ERROR_SECTIONS)) == [], "codes without a section in docs/errors.md"
    assert sorted(set(ERROR_SECTIONS) - emitted) == [], "docs/errors.md documents codes the tool never emits"


def _data_section():
    body = sections(ERRORS)["Patient data errors"]
    rules = fences(body, "rules")[0][1]
    return body, protocol_dsl.loads(rules)


def _table(body: str, header: str) -> list[tuple[str, list[str]]]:
    """Rows `| `data` | `line`<br>`line` |` of the table whose header starts with `header`."""
    table = body[body.index(header):].split("\n\n")[0]
    rows = []
    for line in table.splitlines()[2:]:
        data, reported = re.fullmatch(r"\| `(.+?)` \| (.+) \|", line).groups()
        rows.append((data, [cell.strip("`") for cell in reported.split("<br>")]))
    return rows


def test_patient_data_problems_are_as_documented():
    body, protocol = _data_section()
    rows = _table(body, "| patient data | problem reported |")
    assert len(rows) >= 10
    for data, problems in rows:
        with pytest.raises(protocol_dsl.DataError) as caught:
            protocol.evaluate(json.loads(data))
        assert caught.value.problems == problems, data


def test_patient_data_warnings_are_as_documented():
    body, protocol = _data_section()
    for data, warnings in _table(body, "| patient data | warning |"):
        assert protocol.evaluate(json.loads(data)).warnings == warnings, data


def test_the_eval_example_prints_the_documented_problems():
    body, protocol = _data_section()
    (_, patient), (_, printed) = fences(body, "json", "text")[:2]
    with pytest.raises(protocol_dsl.DataError) as caught:
        protocol.evaluate(json.loads(patient))
    assert f"patient.json: {caught.value}" == printed.rstrip("\n")


# ------------------------------------------------------------------ language.md
LANGUAGE_RULES = [body for _, body in fences(LANGUAGE, "rules")]


@pytest.mark.parametrize("text", LANGUAGE_RULES, ids=[f"block{i}" for i in range(len(LANGUAGE_RULES))])
def test_language_examples_check_clean(check, text):
    # Every example is a complete file: broken ones are shown in ```text fences instead.
    assert re.search(r"\b(inclusion|exclusion)\b", text), "an example without criteria"
    assert check(text) == (0, "")
    raised, found = loaded(text)
    assert not raised and found == []


def test_language_evaluation_example_is_exact():
    # A ```rules block, then directly a ```json patient and a ```text block: the explanation.
    found = list(FENCE.finditer(LANGUAGE))
    worked = [
        (a.group(2), b.group(2), c.group(2))
        for a, b, c in zip(found, found[1:], found[2:])
        if (a.group(1), b.group(1), c.group(1)) == ("rules", "json", "text")
        and not LANGUAGE[a.end() : b.start()].strip()
        and not LANGUAGE[b.end() : c.start()].strip()
    ]
    assert worked, "docs/language.md shows at least one complete evaluation"
    for rules, patient, printed in worked:
        result = protocol_dsl.loads(rules).evaluate(json.loads(patient))
        assert result.explain() == printed.rstrip("\n")


def test_language_seed_reasons_are_real():
    match = re.search(r"<!-- reasons: (\S+) (\S+) -->\n```text\n(.*?)^```", LANGUAGE, re.S | re.M)
    assert match, "the seed reasons block is marked with <!-- reasons: RULES PATIENTS -->"
    rules, patients, quoted = match.groups()
    protocol = protocol_dsl.load(ROOT / rules)
    produced = set()
    for path in sorted(glob.glob(str(ROOT / patients))):
        with open(path, encoding="utf-8") as handle:
            produced |= set(protocol.evaluate(json.load(handle)).explain().splitlines())
    for line in quoted.splitlines():
        assert line in produced, line


def test_language_mentions_every_function_and_reserved_word():
    from protocol_dsl.checker import FUNCTIONS

    for name in FUNCTIONS:
        assert f"`{name}(" in LANGUAGE, name
    grammar = (ROOT / "grammar" / "protocol.lark").read_text(encoding="utf-8")
    reserved = re.search(r"NAME: /\(\?!\(([a-z|]+)\)", grammar).group(1).split("|")
    listed = re.search(r"^`(protocol input define[^`]*)`", LANGUAGE, re.M).group(1).split()
    assert sorted(listed) == sorted(reserved)


def test_language_lists_every_known_unit():
    from protocol_dsl.units import KNOWN_UNITS

    for unit in KNOWN_UNITS:
        assert f"`{unit}`" in LANGUAGE or f"`'{unit}'`" in LANGUAGE, unit
