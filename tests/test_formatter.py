"""fmt: one canonical layout that keeps the meaning and comes back unchanged."""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol_dsl.formatter import format_text
from protocol_dsl.parser import parse
from strategies import protocols

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def messy(text: str, draw) -> str:
    """The same file written carelessly: extra spaces, operator spellings, line breaks, comments."""
    text = re.sub(r" ", lambda _: draw(st.sampled_from([" ", "  ", "\t "])), text)
    text = text.replace(">=", draw(st.sampled_from([">=", "≥"]))).replace("<=", draw(st.sampled_from(["<=", "≤"])))
    text = text.replace(": ", draw(st.sampled_from([": ", ":\n    ", " : "])))
    lines = text.splitlines()
    out = []
    for line in lines:
        out.append(line + draw(st.sampled_from(["", "  # note"])))
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(["", "# a comment of its own"])))
    return "\n".join(out) + "\n"


@SETTINGS
@given(protocols(), st.data())
def test_formatting_keeps_the_tree_and_is_idempotent(generated, data):
    """parse(fmt(x)) == parse(x) and fmt(fmt(x)) == fmt(x), for generated files written messily."""
    text = messy(generated.text, data.draw)
    formatted = format_text(text)
    assert parse(formatted) == parse(text)
    assert format_text(formatted) == formatted


@SETTINGS
@given(protocols(), st.data())
def test_every_comment_survives(generated, data):
    """No comment is lost: each appears in the formatted file, in the same order."""
    text = messy(generated.text, data.draw)
    comments = re.findall(r"#[^\n]*", text)
    formatted = format_text(text)
    assert re.findall(r"#[^\n]*", formatted) == [c.rstrip() for c in comments]
