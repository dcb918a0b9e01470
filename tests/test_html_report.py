"""HTML for people: the screening report, the attrition's columns, one patient's page.

Pages are read with the standard library's HTMLParser, as a browser's DOM would give
them: text by element, attributes, and every tag seen (so an injected <script> shows).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pytest

import protocol_dsl
from protocol_dsl.cli import main
from protocol_dsl.screen import attrition_text, screen

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "protocols" / "NCT01844063.rules"
sys.path.insert(0, str(ROOT / "examples"))
from make_cohort import cohort, write  # noqa: E402

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


class Page(HTMLParser):
    """A parsed page: every start tag, the text of each element with an id, table rows and SVG steps."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[tuple[str, dict]] = []
        self.texts: list[str] = []
        self.rows: dict[str, list[list[str]]] = {}  # table id -> rows of cell texts
        self.steps: dict[str, list[str]] = {}  # funnel step -> its texts
        self.cells: dict[str, str] = {}  # data-key -> text
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._step: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag not in ("meta", "br", "rect", "line", "input", "img"):
            self.stack.append((tag, attrs))
        if tag == "table":
            self._table = attrs.get("id") or attrs.get("class") or "table"
            self.rows.setdefault(self._table, [])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
            self._key = attrs.get("data-key")
        elif tag == "g" and "data-step" in attrs:
            self._step = attrs["data-step"]
            self.steps[self._step] = []
        elif tag == "text" and self._step is not None:
            self.steps[self._step].append("")

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            text = "".join(self._cell).strip()
            self._row.append(text)
            if self._key:
                self.cells[self._key] = text
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.rows[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "g":
            self._step = None

    def handle_data(self, data):
        self.texts.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._step is not None and self.steps[self._step] and self.stack and self.stack[-1][0] == "text":
            self.steps[self._step][-1] += data

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def table(self, name: str) -> list[dict]:
        header, *rows = self.rows[name]
        return [dict(zip(header, row)) for row in rows]


@pytest.fixture(scope="module")
def seed():
    return protocol_dsl.load(SEED)


def with_ids(rows: list[dict], path: Path, hostile_at: int | None = None) -> None:
    """Write the cohort as CSV with a `pid` column (P0001...), one id hostile if asked."""
    write(rows, path)
    lines = list(csv.reader(path.open(newline="")))
    lines[0].append("pid")
    for index, line in enumerate(lines[1:], start=1):
        line.append(HOSTILE if index == hostile_at else f"P{index:04d}")
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(lines)


@pytest.fixture(scope="module")
def screened(tmp_path_factory):
    """The seed protocol screened from the command line with --report: (page, summary, stderr)."""
    folder = tmp_path_factory.mktemp("report")
    path = folder / "cohort.csv"
    with_ids(cohort(1500, seed=11, bad=9), path)
    out = folder / "results.parquet"
    report = folder / "report.html"
    assert main(["screen", str(SEED), str(path), "-o", str(out), "--id", "pid", "--report", str(report)]) == 0
    summary = json.loads((folder / "results.summary.json").read_text(encoding="utf-8"))
    return report.read_text(encoding="utf-8"), summary, path


# ---------------------------------------------------------------- the report's numbers
def test_the_report_shows_the_totals_and_the_funnel_of_the_summary(screened):
    text, summary, _ = screened
    page = Page(text)
    for key in ("patients", "rejected", "screened", "eligible", "ineligible", "undetermined"):
        assert page.cells[key] == str(summary[key])
    steps = page.steps
    assert list(steps) == ["cohort", "screened"] + [c["id"] for c in summary["attrition"]]
    assert steps["cohort"] == ["cohort", f"{summary['patients']} patients in the cohort"]
    assert steps["screened"] == ["screened", f"{summary['screened']} screened, {summary['rejected']} rejected "
                                             "(invalid data)"]
    for c in summary["attrition"]:
        assert steps[c["id"]] == [c["id"], f"{c['remaining']} remaining = {c['remaining_met']} met + "
                                           f"{c['remaining_undetermined']} undetermined; removes {c['removed']}"]


def test_the_criteria_table_has_every_count_and_the_full_text(screened):
    text, summary, _ = screened
    rows = Page(text).table("attrition")
    assert len(rows) == len(summary["attrition"])
    for row, c in zip(rows, summary["attrition"]):
        assert row["criterion"] == c["id"] + c["kind"]  # the id, a line break, the kind
        assert row["text"] == c["text"]
        assert [row[k] for k in ("removes", "remaining", "met so far", "undetermined so far", "fails", "unknown",
                                 "leaves undetermined")] == [
            str(c[k]) for k in ("removed", "remaining", "remaining_met", "remaining_undetermined", "fails", "unknown",
                                "undetermined")]
        assert row["lacking"] == ", ".join(f"{n} ({k})" for n, k in c["undetermined_for_lack_of"].items())
    long_texts = [c["text"] for c in summary["attrition"] if len(c["text"]) > 60]
    assert long_texts, "the seed has texts longer than the terminal's column"


def test_the_report_lists_the_rejects_by_row_and_id(screened):
    text, summary, path = screened
    page = Page(text)
    rows = page.table("rejects")
    assert len(rows) == summary["rejected"] == 9
    assert all(r["pid"] == f"P{int(r['row']):04d}" for r in rows)
    assert "9 rows were rejected for invalid values, never screened; all of them:" in page.text


def test_the_sample_is_reasoned_by_the_library(screened, seed):
    text, summary, path = screened
    page = Page(text)
    patients = [attrs for tag, attrs in page.tags if tag == "div" and attrs.get("class") == "patient"]
    assert len(patients) == 9  # three of each status
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    first = int(patients[0]["data-row"])
    assert f"Row {first}, pid P{first:04d}" in page.text
    # The reasons shown are the evaluator's for that patient's values.
    criteria = page.rows["criteria"]
    raw = rows[first - 1]
    values = {}
    for name, info in seed.inputs.items():
        cell = raw.get(name, "")
        if cell == "":
            continue
        kind = type(info.type).__name__
        values[name] = float(cell) if kind == "Num" else (cell == "true" if kind == "Bool" else cell)
    result = seed.evaluate(values)
    header = criteria[0]
    shown = [dict(zip(header, r)) for r in criteria[1:len(result.criteria) + 1]]
    assert [(r["criterion"], r["reason"]) for r in shown] == [(c.id, c.reason) for c in result.criteria.values()]


def test_the_report_is_self_contained_and_static(screened):
    text, _, _ = screened
    page = Page(text)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    for tag, attrs in page.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        for key in ("src", "href"):
            assert key not in attrs or attrs[key].startswith("#"), (tag, attrs)
    assert text.count("http") == text.count('xmlns="http://www.w3.org/2000/svg"')
    assert "@media print" in text


# ---------------------------------------------------------------- escaping
HOSTILE_RULES = f"""protocol P1 "{HOSTILE.replace('"', "'")}"
input age: number years range 0..130
inclusion I1 "{HOSTILE.replace('"', "'")}": age >= 18
exclusion E1: age > 90
"""


def test_hostile_texts_and_ids_are_text_not_markup(tmp_path, capsys):
    rules = tmp_path / "p.rules"
    rules.write_text(HOSTILE_RULES, encoding="utf-8")
    path = tmp_path / "cohort.csv"
    path.write_text(f'age,pid\n40,"{HOSTILE.replace(chr(34), chr(34) * 2)}"\n12,b\nold,"<img src=x onerror=y>"\n',
                    encoding="utf-8")
    report = tmp_path / "r.html"
    assert main(["screen", str(rules), str(path), "--id", "pid", "--report", str(report)]) == 0
    stderr = capsys.readouterr().err
    assert f"{path}: row 3 (pid <img src=x onerror=y>): age: not a number: old" in stderr
    page = Page(report.read_text(encoding="utf-8"))
    assert [tag for tag, _ in page.tags if tag in ("script", "b", "img")] == []
    shown = HOSTILE.replace('"', "'")
    assert page.table("attrition")[0]["text"] == shown
    assert f"Row 1, pid {HOSTILE}" in page.text
    assert page.table("rejects")[0]["pid"] == "<img src=x onerror=y>"
    assert page.rows["attrition"][2][1] == "age > 90"  # no text: the expression, in full


def test_hostile_texts_in_one_patients_page_and_the_notebook_view(tmp_path, capsys):
    rules = tmp_path / "p.rules"
    rules.write_text(HOSTILE_RULES, encoding="utf-8")
    patient = tmp_path / "patient.json"
    patient.write_text('{"age": 40}', encoding="utf-8")
    assert main(["eval", "--format", "html", str(rules), str(patient)]) == 0
    for text in (capsys.readouterr().out, protocol_dsl.loads(HOSTILE_RULES).evaluate({"age": 40})._repr_html_()):
        page = Page(text)
        assert [tag for tag, _ in page.tags if tag in ("script", "b")] == []
        assert HOSTILE.replace('"', "'") in page.text


# ---------------------------------------------------------------- one patient
def test_eval_html_shows_status_criteria_values_reasons_and_missing(capsys):
    undetermined = ROOT / "examples" / "undetermined.json"
    assert main(["eval", "--format", "html", str(SEED), str(undetermined)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("<!DOCTYPE html>\n")
    page = Page(text)
    protocol = protocol_dsl.load(SEED)
    result = protocol.evaluate(json.loads(undetermined.read_text()))
    assert "NCT01844063: Undetermined" in page.text
    rows = page.table("criteria")
    assert [(r["criterion"], r["value"], r["reason"], r["missing inputs"]) for r in rows] == [
        (c.id, {True: "met", False: "not met", None: "unknown"}[c.value], c.reason, ", ".join(c.missing))
        for c in result.criteria.values()]
    assert f"Missing inputs: {', '.join(result.missing)}" in page.text
    assert f"Patient: {undetermined}" in page.text


def test_eval_html_refuses_bad_data_as_text_does(tmp_path, capsys):
    patient = tmp_path / "bad.json"
    patient.write_text('{"age": "old"}')
    assert main(["eval", "--format", "html", str(SEED), str(patient)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert main(["eval", str(SEED), str(patient)]) == 1
    assert capsys.readouterr().err == err


def test_a_result_in_a_notebook_is_a_fragment():
    result = protocol_dsl.load(SEED).evaluate({"age": 45})
    text = result._repr_html_()
    assert text.startswith('<div class="protocol-dsl-result">') and "<html" not in text
    assert "Undetermined" in Page(text).text


# ---------------------------------------------------------------- the attrition's columns
SMALL = """protocol S1 "Small"
input a: number range 0..10
input b: boolean
inclusion I1 "A is above two, a deliberately long criterion text that the terminal table must wrap at its words": a > 2
exclusion E1 "B": b
"""


def small_screening():
    table = pa.table({"a": pa.array([5.0, 1.0, None, 5.0, 5.0, None, 1.0]),
                      "b": pa.array([False, False, False, None, True, True, None])})
    return screen(protocol_dsl.loads(SMALL), table)


def test_remaining_is_met_plus_undetermined_and_each_criterion_says_who_it_leaves_undetermined():
    summary = small_screening().summary
    # rows: eligible; I1 fails; a unknown; b unknown; E1 true; a unknown and E1 true; I1 fails
    assert (summary["eligible"], summary["ineligible"], summary["undetermined"]) == (1, 4, 2)
    i1, e1 = summary["attrition"]
    assert {k: i1[k] for k in ("removed", "remaining", "remaining_met", "remaining_undetermined", "fails",
                               "unknown", "undetermined", "undetermined_for_lack_of")} == {
        "removed": 2, "remaining": 5, "remaining_met": 3, "remaining_undetermined": 2, "fails": 2, "unknown": 2,
        "undetermined": 1, "undetermined_for_lack_of": {"a": 1}}
    assert {k: e1[k] for k in ("removed", "remaining", "remaining_met", "remaining_undetermined", "fails",
                               "unknown", "undetermined", "undetermined_for_lack_of")} == {
        "removed": 2, "remaining": 3, "remaining_met": 1, "remaining_undetermined": 2, "fails": 2, "unknown": 2,
        "undetermined": 1, "undetermined_for_lack_of": {"b": 1}}
    assert summary["title"] == "Small"


def test_the_funnel_ends_in_the_eligible_and_the_undetermined(seed):
    summary = screen(seed, pa.Table.from_pylist(cohort(2000, seed=21))).summary
    for c in summary["attrition"]:
        assert c["remaining"] == c["remaining_met"] + c["remaining_undetermined"]
    last = summary["attrition"][-1]
    assert (last["remaining_met"], last["remaining_undetermined"]) == (summary["eligible"], summary["undetermined"])
    assert sum(c["undetermined"] > 0 for c in summary["attrition"]) > 3


def test_the_terminal_table_wraps_texts_at_words():
    assert attrition_text(small_screening().summary) == """\
S1: 7 patients, 0 rejected (invalid data), 7 screened
  eligible 1, ineligible 4, undetermined 2

  criterion    removes  remaining     = met + undetermined     fails   unknown  text
  I1                 2          5         3              2         2         2  A is above two, a deliberately long criterion text that the
                                                                                terminal table must wrap at its words
  E1                 2          3         1              2         2         2  B

  remaining after a criterion = met (every criterion so far met) + undetermined (one so far unknown, none failed)
  fails: all the patients who fail it; unknown: all for whom it is unknown

  undetermined for lack of:
    a                                    1
    b                                    1"""


def test_a_protocol_without_criteria_reports_an_empty_funnel():
    screening = screen(protocol_dsl.loads("input a: number\n"), pa.table({"a": [1.0]}))
    assert screening.summary["attrition"] == [] and screening.summary["eligible"] == 1
    page = Page(screening.report())
    assert list(page.steps) == ["cohort", "screened"]


# ---------------------------------------------------------------- the library and the command line
def test_screening_report_returns_the_page_and_writes_it(tmp_path, seed):
    screening = seed.screen(pa.Table.from_pylist(cohort(300, seed=2)))
    path = tmp_path / "r.html"
    text = screening.report(path)
    assert path.read_text(encoding="utf-8") == text
    page = Page(text)
    assert "a table given in memory" in page.text
    assert "Safety and Efficacy of Diverse Mesenchymal Stem Cells Transplantation for Liver Failure" in page.text
    assert page.cells["screened"] == "300"


def test_the_report_names_the_cohort_file_and_the_date(screened):
    text, _, path = screened
    page = Page(text)
    assert str(path) in page.text
    facts = page.text
    assert " UTC" in facts and "Screened" in facts


def test_a_report_that_cannot_be_written(tmp_path, capsys):
    path = tmp_path / "cohort.csv"
    path.write_text("age\n40\n")
    target = tmp_path / "no" / "r.html"
    assert main(["screen", str(SEED), str(path), "--report", str(target)]) == 2
    assert capsys.readouterr().err.endswith(f"protocol-dsl: error: {target}: cannot be written "
                                            "(No such file or directory)\n")


def test_rejects_on_the_terminal_name_the_id(tmp_path, capsys):
    path = tmp_path / "cohort.csv"
    path.write_text("age,pid\n40,A1\nforty,B2\n30,\n200,\n")
    assert main(["screen", str(SEED), str(path), "--id", "pid"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert f"{path}: row 2 (pid B2): age: not a number: forty" in err
    assert f"{path}: row 4 (pid missing): age: 200 is outside the plausible range 0..130 years" in err
    assert main(["screen", str(SEED), str(path)]) == 0
    assert f"{path}: row 2: age: not a number: forty" in capsys.readouterr().err.splitlines()


def test_help_mentions_the_report(capsys):
    assert main(["screen", "--help"]) == 0
    assert "--report FILE" in capsys.readouterr().out
    assert main(["eval", "--help"]) == 0
    assert "{text,json,html}" in capsys.readouterr().out


def test_importing_the_package_does_not_import_the_report():
    code = ("import sys, protocol_dsl; "
            "print('protocol_dsl.html_report' in sys.modules, 'protocol_dsl.screen' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ---------------------------------------------------------------- what a reader sees
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium); "
                                             "the rendered report is not checked")
def test_a_browser_renders_the_funnel_and_the_criteria(screened, tmp_path):
    text, summary, _ = screened
    report = tmp_path / "report.html"
    report.write_text(text, encoding="utf-8")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", report.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    page = Page(done.stdout)
    assert "Screening report: NCT01844063" in page.text
    assert [tag for tag, _ in page.tags if tag == "script"] == []
    for c in summary["attrition"]:
        assert page.steps[c["id"]][1] == (f"{c['remaining']} remaining = {c['remaining_met']} met + "
                                          f"{c['remaining_undetermined']} undetermined; removes {c['removed']}")
    assert [r["text"] for r in page.table("attrition")] == [c["text"] for c in summary["attrition"]]
    assert page.cells["eligible"] == str(summary["eligible"])


@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")
def test_spark_keeps_the_same_sample_and_writes_the_same_report(tmp_path, seed):
    pytest.importorskip("pyspark")
    path = tmp_path / "cohort.parquet"
    write(cohort(400, seed=17, bad=4), path)
    duck, spark = screen(seed, path), screen(seed, path, engine="spark")
    assert spark.sample == duck.sample and len(duck.sample) == 9
    assert Page(spark.report()).rows == Page(duck.report()).rows
