"""The language server, spoken to over stdio as an editor would, and its analysis in-process."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("pygls")

from protocol_dsl.lsp import Analysis, Lines  # noqa: E402
from protocol_dsl.report import diagnose  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

TEXT = """\
input TB: number μmol/L range 0..1500 "Total bilirubin ≥ normal"
input sex: one of "female", "male"
define tb_high = TB >= 171 umol/L
inclusion I1 "Bilirubin ≥ 171 μmol/L": tb_high and sex = "female"
exclusion E1: TB > 1000 umol/L
"""


class Client:
    """A minimal LSP client: Content-Length framed JSON-RPC over a subprocess's pipes."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "protocol_dsl", "lsp"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        )
        self.next_id = 0
        self.messages: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        stream = self.process.stdout
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                key, _, value = line.partition(":")
                headers[key.lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.messages.put(json.loads(body.decode("utf-8")))

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params) -> dict:
        self.next_id += 1
        wanted = self.next_id
        self.send({"id": wanted, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == wanted and "method" not in m)

    def wait(self, accept, timeout: float = 30) -> dict:
        while True:
            message = self.messages.get(timeout=timeout)
            if accept(message):
                if "error" in message:
                    raise AssertionError(message["error"])
                return message

    def diagnostics(self, uri: str, timeout: float = 30) -> list:
        return self.wait(
            lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri, timeout
        )["params"]["diagnostics"]


@pytest.fixture(scope="module")
def client():
    c = Client()
    reply = c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    capabilities = reply["result"]["capabilities"]
    for provider in ("hoverProvider", "completionProvider", "definitionProvider", "referencesProvider",
                     "renameProvider", "documentFormattingProvider"):
        assert capabilities.get(provider), provider
    c.notify("initialized", {})
    yield c
    assert c.request("shutdown", None)["result"] is None
    c.notify("exit", None)
    assert c.process.wait(timeout=10) == 0
    assert b"Traceback" not in c.process.stderr.read()


def uri_of(path: Path) -> str:
    return path.resolve().as_uri()


def opened(client, path: Path, text: str) -> list:
    uri = uri_of(path)
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "rules", "version": 1, "text": text}})
    return client.diagnostics(uri)


def position(text: str, needle: str, nth: int = 0, delta: int = 0) -> dict:
    offset = -1
    for _ in range(nth + 1):
        offset = text.index(needle, offset + 1)
    return Lines(text).position(offset + delta)


def test_diagnostics_are_the_messages_of_check(client, tmp_path):
    text = 'input x: number mg/dL\ninclusion I1 "≥ μ": x >= 2 kg\n'
    path = tmp_path / "bad.rules"
    found = opened(client, path, text)
    expected = diagnose(text, str(path))
    assert expected and [d["message"] for d in found] == [d.message for d in expected]
    assert [d["code"] for d in found] == [d.code for d in expected]
    first = expected[0]
    # 0-based lines; columns count UTF-16 code units (≥ and μ are one each).
    assert found[0]["range"]["start"] == {"line": first.line - 1, "character": first.column - 1}
    assert found[0]["severity"] == 1


def test_a_change_is_checked_again(client, tmp_path):
    path = tmp_path / "change.rules"
    uri = uri_of(path)
    assert opened(client, path, TEXT) == []
    broken = TEXT.replace("tb_high and", "tb_hihg and")
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": broken}]})
    found = client.diagnostics(uri)
    assert [d["message"] for d in found] == [d.message for d in diagnose(broken, str(path))]
    assert found[0]["range"]["start"] == position(broken, "tb_hihg")


def test_navigation_rename_hover_completion_formatting(client, tmp_path):
    path = tmp_path / "nav.rules"
    uri = uri_of(path)
    opened(client, path, TEXT)
    doc = {"uri": uri}
    use = position(TEXT, "tb_high", 1, 2)

    reply = client.request("textDocument/definition", {"textDocument": doc, "position": use})["result"]
    location = reply[0] if isinstance(reply, list) else reply
    assert location["range"]["start"] == position(TEXT, "tb_high")

    refs = client.request("textDocument/references", {
        "textDocument": doc, "position": position(TEXT, "TB", 1), "context": {"includeDeclaration": True}})["result"]
    assert [r["range"]["start"] for r in refs] == [position(TEXT, "TB", i) for i in (0, 1, 2)]

    edit = client.request("textDocument/rename", {"textDocument": doc, "position": use, "newName": "high"})["result"]
    edits = edit["changes"][uri]
    assert len(edits) == 2 and {e["newText"] for e in edits} == {"high"}

    hover = client.request("textDocument/hover", {"textDocument": doc, "position": position(TEXT, "TB", 2)})["result"]
    assert "input TB: number μmol/L range 0..1500" in hover["contents"]["value"]
    assert "label: Total bilirubin ≥ normal" in hover["contents"]["value"]
    hover = client.request("textDocument/hover", {"textDocument": doc, "position": use})["result"]
    assert "define tb_high = TB >= 171 umol/L" in hover["contents"]["value"]

    after_eq = position(TEXT, '"female"', 1)
    items = client.request("textDocument/completion", {"textDocument": doc, "position": after_eq})["result"]["items"]
    assert [i["label"] for i in items] == ["female", "male"]
    items = client.request("textDocument/completion", {"textDocument": doc, "position": position(TEXT, "tb_high", 1)})
    labels = {i["label"] for i in items["result"]["items"]}
    assert {"TB", "sex", "tb_high", "ln", "max"} <= labels
    units = client.request("textDocument/completion", {"textDocument": doc, "position": position(TEXT, "umol/L", 1)})
    assert "mg/dL" in {i["label"] for i in units["result"]["items"]}

    messy = "input x:number\ninclusion   I1 :x>1\n"
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": messy}]})
    edits = client.request("textDocument/formatting", {
        "textDocument": doc, "options": {"tabSize": 4, "insertSpaces": True}})["result"]
    from protocol_dsl.formatter import format_text

    assert [e["newText"] for e in edits] == [format_text(messy)]


def test_coverage_of_the_cases_beside_the_file(client, tmp_path):
    text = "input x: number\ninclusion I1: x > 1\n"
    (tmp_path / "cov.cases.yaml").write_text(
        "cases:\n  - name: high\n    patient: {x: 5}\n    expect:\n      status: eligible\n")
    found = opened(client, tmp_path / "cov.rules", text)
    assert found and all(d["code"] == "coverage" and d["severity"] in (3, 4) for d in found)
    assert "not covered: x > 1 is never false or unknown in cov.cases.yaml" in [d["message"] for d in found]


# ------------------------------------------------------------------ in-process
def test_utf16_columns():
    lines = Lines('a "μ😀" b\nc')
    assert lines.position(6) == {"line": 0, "character": 7}  # 😀 is two UTF-16 units
    assert lines.offset(0, 7) == 6
    assert lines.offset(1, 0) == 9


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list(TEXT) + ["{", "}", "(", ")", "'", "\\", "😀", "\n"]), max_size=200),
       st.integers(0, 250), st.integers(0, 60))
def test_any_text_is_survived(text, line, character):
    """Whatever is typed, every request the server answers returns without raising."""
    from lsprotocol import converters, types

    structure = converters.get_converter().structure
    analysis = Analysis(text, "fuzz.rules")
    for found in (analysis.diagnostics(deep=False), analysis.diagnostics(deep=True)):
        [structure(d, types.Diagnostic) for d in found]  # what the server sends must convert too
    offset = analysis.lines.offset(line % 5, character)
    hover = analysis.hover(offset)
    if hover is not None:
        structure(hover, types.Hover)
    [structure(i, types.CompletionItem) for i in analysis.completion(offset, Analysis(TEXT, "known.rules"))]
    analysis.definition(offset)
    analysis.references(offset)
    [structure(e, types.TextEdit) for e in analysis.rename(offset, "renamed") or ()]
    [structure(e, types.TextEdit) for e in analysis.formatting()]


def test_deep_checks_follow_when_typing_stops(client, tmp_path):
    path = tmp_path / "deep.rules"
    uri = uri_of(path)
    assert opened(client, path, "input x: number range 0..10\ninclusion I1: x > 5\n") == []
    text = "input x: number range 0..10\ninclusion I1: x > 5 and x < 3\n"
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": text}]})
    assert client.diagnostics(uri) == []  # at once: the syntax and type checks, which pass
    deep = client.diagnostics(uri)  # then, after the pause, the deep checks
    expected = diagnose(text, str(path))
    assert [(d["code"], d["message"]) for d in deep] == [(d.code, d.message) for d in expected]
    assert {d.code for d in expected} == {"E401", "W201"}


@pytest.mark.parametrize(
    "before, expected",
    [
        ('inclusion I2: sex = "', ["female", "male"]),
        ("inclusion I2: sex in {", ['"female"', '"male"']),
        ('inclusion I2: sex not in {"female", ', ['"female"', '"male"']),
        ("inclusion I2: sex != ", ['"female"', '"male"']),
    ],
)
def test_category_completion(before, expected):
    text = TEXT + before
    items = Analysis(text, "c.rules").completion(len(text), Analysis(TEXT, "c.rules"))
    assert [i.get("insertText", i["label"]) for i in items] == expected


def test_unit_completion_and_names():
    text = TEXT + "inclusion I2: TB > 5 "
    units = {i["label"] for i in Analysis(text, "u.rules").completion(len(text), Analysis(TEXT, "u.rules"))}
    assert {"umol/L", "mg/dL", "%"} <= units
    text = TEXT + "inclusion I2: "
    names = {i["label"] for i in Analysis(text, "n.rules").completion(len(text), Analysis(TEXT, "n.rules"))}
    assert {"TB", "sex", "tb_high", "known", "clamp", "at least"} <= names


def test_rename_refuses_what_is_not_a_name():
    analysis = Analysis(TEXT, "r.rules")
    at = TEXT.index("tb_high")
    assert analysis.rename(at, "and") is None and analysis.rename(at, "2x") is None
    assert analysis.rename(TEXT.index("171"), "y") is None  # not on a name
    # A name inside a string or comment is not an occurrence.
    text = TEXT + '# TB here\nexclusion E2 "TB": TB < 1 umol/L\n'
    edits = Analysis(text, "r.rules").rename(text.index("TB"), "bili")
    assert len(edits) == 4


def test_hover_on_a_function():
    text = "input x: number\ndefine y = max(x, 2) + ln(x)\ninclusion I1: y > 1\n"
    hover = Analysis(text, "h.rules").hover(text.index("max") + 1)
    assert hover["contents"]["value"] == "max(a, b, ...): the largest of its arguments, converted to one unit."
    assert Analysis(text, "h.rules").hover(text.index("2)")) is None


def test_the_package_does_not_import_the_editor_tools():
    code = "import sys, protocol_dsl, protocol_dsl.cli; print(sorted({'pygls', 'lsprotocol', 'pygments'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("cases", ["cases: [", "cases:\n  - name: x\n    patient: {y: 1}\n", "\0", "- 1\n"])
def test_a_broken_cases_file_gives_no_coverage(tmp_path, cases):
    path = tmp_path / "b.rules"
    (tmp_path / "b.cases.yaml").write_text(cases)
    assert Analysis("input x: number\ninclusion I1: x > 1\n", str(path)).coverage(path) == []


def test_python_m_protocol_dsl_lsp_starts_the_server():
    def framed(message: dict) -> bytes:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    requests = (
        framed({"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": None, "capabilities": {}}})
        + framed({"id": 2, "method": "shutdown", "params": None})
        + framed({"method": "exit", "params": None})
    )
    done = subprocess.run([sys.executable, "-m", "protocol_dsl.lsp"], input=requests, capture_output=True, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0 and b'"serverInfo"' in done.stdout and b"Traceback" not in done.stderr
