"""HTML for people: a screening's report and one patient's result.

Every page is self-contained and static: inline CSS, the funnel as hand-made inline
SVG, no script, no font or image fetched, readable in print and without JavaScript.
Every text that comes from a user (criterion texts, ids, values, file names) goes
through `_e`, the one escaping function.
"""

from __future__ import annotations

from html import escape
from typing import Optional

STATUS_WORDS = {"eligible": "Eligible", "ineligible": "Ineligible", "undetermined": "Undetermined"}
REJECTS_SHOWN = 20  # reject rows listed in the report; the count is always the full one

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1b1b1b; background: #fff; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
.title { font-size: 1.1rem; margin-top: 0; color: #333; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.1rem 1rem; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
table { border-collapse: collapse; margin: 0.5rem 0; width: 100%; }
th, td { border: 1px solid #c8c8c8; padding: 0.25rem 0.5rem; vertical-align: top; text-align: left; }
th { background: #f0f0f0; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.n { white-space: nowrap; } td.text { white-space: pre-wrap; overflow-wrap: break-word; min-width: 12rem; }
table.narrow { width: auto; } td.list { overflow-wrap: anywhere; }
code { overflow-wrap: break-word; }
.status { font-weight: 700; padding: 0 0.35rem; border-radius: 0.2rem; }
.eligible { color: #0b5a1e; background: #e3f3e6; } .ineligible { color: #8a1010; background: #fbe5e5; }
.undetermined { color: #6b4b00; background: #fdf1d2; }
.mark { font-weight: 700; white-space: nowrap; } .note { color: #444; font-size: 0.92rem; }
svg.funnel { width: 100%; height: auto; max-width: 64rem; }
svg.funnel text { font-family: inherit; font-size: 13px; fill: #1b1b1b; }
@media print { body { margin: 0; max-width: none; font-size: 10pt; } tr, .patient, svg.funnel { break-inside: avoid; }
               th { background: #e8e8e8 !important; } }
"""


def _e(value) -> str:
    """Text for HTML: escaped, quotes included (ids and texts come from users)."""
    return escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str) -> str:
    from .report import version

    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<meta name=\"generator\" content=\"protocol-dsl {_e(version())}\">\n"
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _status(status: str) -> str:
    return f'<span class="status {_e(status)}">{_e(STATUS_WORDS.get(status, status))}</span>'


# ---------------------------------------------------------------- one patient
def result_table(result) -> str:
    """Each criterion of a result: mark, id, kind, text, value, reason, missing inputs."""
    source = result.protocol.source
    rows = []
    for c in result.criteria.values():
        mark = {True: "✓ passes", False: "✗ fails", None: "? unknown"}[c.passes]
        value = {True: "met", False: "not met", None: "unknown"}[c.value]
        text = c.text if c.text is not None else " ".join(source.slice(c.node.expr.span).split())
        rows.append(
            f"<tr><td class=\"mark\">{_e(mark)}</td><td><code>{_e(c.id)}</code></td><td>{_e(c.kind)}</td>"
            f"<td class=\"text\">{_e(text)}</td><td>{_e(value)}</td><td>{_e(c.reason)}</td>"
            f"<td>{_e(', '.join(c.missing))}</td></tr>"
        )
    return ("<table class=\"criteria\">\n<thead><tr><th></th><th>criterion</th><th>kind</th><th>text</th>"
            "<th>value</th><th>reason</th><th>missing inputs</th></tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody>\n</table>")


def result_body(result, heading: str = "h1", name: Optional[str] = None) -> str:
    """A result as HTML: heading with the status, the criteria, missing inputs, warnings."""
    protocol = result.protocol
    parts = [f"<{heading}>{_e(protocol.id or 'Protocol')}: {_status(result.status.value)}</{heading}>"]
    if protocol.title:
        parts.append(f"<p class=\"title\">{_e(protocol.title)}</p>")
    if name is not None:
        parts.append(f"<p class=\"note\">Patient: {_e(name)}</p>")
    parts.append(result_table(result))
    if result.missing:
        parts.append(f"<p><strong>Missing inputs:</strong> {_e(', '.join(result.missing))}</p>")
    else:
        parts.append("<p><strong>Missing inputs:</strong> none</p>")
    for warning in result.warnings:
        parts.append(f"<p class=\"note\">Warning: {_e(warning)}</p>")
    return "\n".join(parts)


def result_page(result, name: Optional[str] = None) -> str:
    """One patient's evaluation as a self-contained page (`protocol-dsl eval --format html`)."""
    title = f"{result.protocol.id or 'Protocol'}: {result.status.value}"
    return _page(title, result_body(result, "h1", name))


FRAGMENT_CSS = """
.protocol-dsl-result table { border-collapse: collapse; margin: 0.5rem 0; }
.protocol-dsl-result th, .protocol-dsl-result td { border: 1px solid #c8c8c8; padding: 0.2rem 0.45rem;
  vertical-align: top; text-align: left; }
.protocol-dsl-result td.text { white-space: pre-wrap; }
.protocol-dsl-result .status { font-weight: 700; padding: 0 0.35rem; border-radius: 0.2rem; }
.protocol-dsl-result .eligible { color: #0b5a1e; background: #e3f3e6; }
.protocol-dsl-result .ineligible { color: #8a1010; background: #fbe5e5; }
.protocol-dsl-result .undetermined { color: #6b4b00; background: #fdf1d2; }
.protocol-dsl-result .mark { font-weight: 700; white-space: nowrap; }
"""


def result_fragment(result) -> str:
    """A result for a notebook cell (`Result._repr_html_`): a fragment whose styles apply to it only."""
    return f"<div class=\"protocol-dsl-result\">\n<style>{FRAGMENT_CSS}</style>\n{result_body(result, 'h3')}\n</div>"


# ---------------------------------------------------------------- the screening
def funnel_svg(summary: dict) -> str:
    """The CONSORT-style funnel: one bar per step, met (solid) and undetermined (hatched) side by side."""
    steps = [("cohort", "cohort", summary["patients"], None, None, None),
             ("screened", "screened", summary["screened"], summary["screened"], 0, summary["rejected"])]
    for c in summary["attrition"]:
        steps.append((c["id"], c["id"], c["remaining"], c["remaining_met"], c["remaining_undetermined"],
                      c["removed"]))
    total = max(summary["patients"], 1)
    label_width, bar_width, row, top = 120, 300, 30, 34
    width = label_width + bar_width + 480
    height = top + row * len(steps) + 40
    out = [
        f"<svg class=\"funnel\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" "
        f"role=\"img\" aria-labelledby=\"funnel-title\">",
        "<title id=\"funnel-title\">Attrition funnel: patients remaining after each criterion, in protocol order"
        "</title>",
        "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
        "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fdf1d2\"/>"
        "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#b58500\" stroke-width=\"2\"/></pattern></defs>",
        f"<rect x=\"{label_width}\" y=\"8\" width=\"14\" height=\"14\" fill=\"#2f6f9f\"/>"
        f"<text x=\"{label_width + 20}\" y=\"20\">met every criterion so far</text>",
        f"<rect x=\"{label_width + 220}\" y=\"8\" width=\"14\" height=\"14\" fill=\"url(#hatch)\" stroke=\"#b58500\"/>"
        f"<text x=\"{label_width + 240}\" y=\"20\">undetermined so far (none failed)</text>",
    ]
    for index, (key, label, remaining, met, undetermined, removed) in enumerate(steps):
        y = top + index * row
        scale = bar_width / total
        out.append(f"<g class=\"step\" data-step=\"{_e(key)}\">")
        out.append(f"<text x=\"{label_width - 8}\" y=\"{y + 18}\" text-anchor=\"end\">{_e(label)}</text>")
        if met is None:
            out.append(f"<rect x=\"{label_width}\" y=\"{y + 4}\" width=\"{remaining * scale:.2f}\" height=\"20\" "
                       "fill=\"#9aa7b1\"/>")
            words = f"{remaining} patients in the cohort"
        else:
            out.append(f"<rect x=\"{label_width}\" y=\"{y + 4}\" width=\"{met * scale:.2f}\" height=\"20\" "
                       "fill=\"#2f6f9f\"/>")
            if undetermined:
                out.append(f"<rect x=\"{label_width + met * scale:.2f}\" y=\"{y + 4}\" "
                           f"width=\"{undetermined * scale:.2f}\" height=\"20\" fill=\"url(#hatch)\"/>")
            if index == 1:
                words = f"{remaining} screened, {removed} rejected (invalid data)"
            else:
                words = f"{remaining} remaining = {met} met + {undetermined} undetermined; removes {removed}"
        out.append(f"<text class=\"count\" x=\"{label_width + bar_width + 10}\" y=\"{y + 18}\">{_e(words)}</text>")
        out.append("</g>")
    y = top + len(steps) * row + 20
    out.append(f"<text class=\"outcome\" x=\"{label_width}\" y=\"{y}\">eligible {summary['eligible']}, "
               f"ineligible {summary['ineligible']}, undetermined {summary['undetermined']}</text>")
    out.append("</svg>")
    return "\n".join(line for line in out if line)


def _criterion_text(protocol, index: int, text: Optional[str]) -> str:
    if text is not None:
        return _e(text)
    if protocol is None:
        return ""
    node = protocol.checked.criteria[index]
    return f"<code>{_e(' '.join(protocol.source.slice(node.expr.span).split()))}</code>"


def attrition_table(summary: dict, protocol=None) -> str:
    """The criteria in protocol order with the full text and every count of the summary."""
    rows = []
    for index, c in enumerate(summary["attrition"]):
        lacking = ", ".join(f"{name} ({count})" for name, count in c["undetermined_for_lack_of"].items())
        rows.append(
            f"<tr data-criterion=\"{_e(c['id'])}\"><td><code>{_e(c['id'])}</code><br>{_e(c['kind'])}</td>"
            f"<td class=\"text\">{_criterion_text(protocol, index, c['text'])}</td>"
            f"<td class=\"n\">{c['removed']}</td><td class=\"n\">{c['remaining']}</td>"
            f"<td class=\"n\">{c['remaining_met']}</td><td class=\"n\">{c['remaining_undetermined']}</td>"
            f"<td class=\"n\">{c['fails']}</td><td class=\"n\">{c['unknown']}</td>"
            f"<td class=\"n\">{c['undetermined']}</td><td class=\"list\">{_e(lacking)}</td></tr>"
        )
    return (
        "<table id=\"attrition\">\n<thead><tr><th>criterion</th><th>text</th>"
        "<th class=\"n\">removes</th><th class=\"n\">remaining</th><th class=\"n\">met so far</th>"
        "<th class=\"n\">undetermined so far</th><th class=\"n\">fails</th><th class=\"n\">unknown</th>"
        "<th class=\"n\">leaves undetermined</th><th>lacking</th></tr></thead>\n<tbody>\n"
        + "\n".join(rows) + "\n</tbody>\n</table>\n"
        "<p class=\"note\"><strong>removes</strong>: patients for whom it is the first criterion failed; "
        "<strong>remaining</strong> after it = <strong>met so far</strong> (every criterion up to it met) + "
        "<strong>undetermined so far</strong> (one up to it unknown, none failed); <strong>fails</strong>: all "
        "the patients who fail it; <strong>unknown</strong>: all for whom it is unknown; <strong>leaves "
        "undetermined</strong>: the undetermined patients for whom it is unknown, <strong>lacking</strong> "
        "these inputs (how many lack each).</p>"
    )


def _totals(summary: dict) -> str:
    cells = [("patients", summary["patients"]), ("rejected", summary["rejected"]), ("screened", summary["screened"]),
             ("eligible", summary["eligible"]), ("ineligible", summary["ineligible"]),
             ("undetermined", summary["undetermined"])]
    return ("<table id=\"totals\">\n<thead><tr>" + "".join(f"<th class=\"n\">{k}</th>" for k, _ in cells)
            + "</tr></thead>\n<tbody><tr>" + "".join(f"<td class=\"n\" data-key=\"{k}\">{v}</td>" for k, v in cells)
            + "</tr></tbody>\n</table>")


def _rejects(screening) -> str:
    rejected = screening.summary["rejected"]
    if not rejected:
        return "<h2 id=\"rejects\">Rejected rows</h2>\n<p>No row was rejected: every value was valid.</p>"
    rows = screening.rejects.slice(0, REJECTS_SHOWN).to_pylist()
    id_column = screening.id_column
    head = "<th class=\"n\">row</th>" + (f"<th>{_e(id_column)}</th>" if id_column else "") + "<th>reason</th>"
    body = "\n".join(
        f"<tr><td class=\"n\">{r['_row']}</td>" + (f"<td>{_e(r.get(id_column))}</td>" if id_column else "")
        + f"<td>{_e(r['problem'])}</td></tr>" for r in rows
    )
    shown = (f"the first {len(rows)} (all of them are in the rejects file)" if rejected > len(rows)
             else "all of them")
    return (f"<h2 id=\"rejects\">Rejected rows</h2>\n<p><strong>{rejected}</strong> "
            f"{'row was' if rejected == 1 else 'rows were'} rejected for invalid values, never screened; "
            f"{shown}:</p>\n<table class=\"rejects\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n"
            "</tbody>\n</table>")


def _samples(screening) -> str:
    from .errors import DataError

    protocol = screening.protocol
    parts = ["<h2 id=\"sample\">Reasons for a sample of patients</h2>",
             "<p class=\"note\">The first patients of each status, in file order, evaluated one by one by the "
             "library with the values as screened (in each input's unit).</p>"]
    if protocol is None or not screening.sample:
        parts.append("<p>No sample was kept.</p>")
        return "\n".join(parts)
    for status in ("eligible", "ineligible", "undetermined"):
        chosen = [p for p in screening.sample if p["status"] == status]
        parts.append(f"<h3>{_status(status)} ({len(chosen)} shown of {screening.summary[status]})</h3>")
        if not chosen:
            parts.append("<p>None.</p>")
        for patient in chosen:
            who = f"Row {patient['_row']}"
            if screening.id_column:
                who += f", {screening.id_column} {patient['id'] if patient['id'] is not None else '(none)'}"
            parts.append(f"<div class=\"patient\" data-row=\"{patient['_row']}\">")
            try:
                result = protocol.evaluate(patient["values"])
            except DataError as problem:
                parts.append(f"<p><strong>{_e(who)}</strong>: not evaluated: {_e(problem)}</p></div>")
                continue
            parts.append(f"<p><strong>{_e(who)}</strong>: {_status(result.status.value)}"
                         + (f", missing {_e(', '.join(result.missing))}" if result.missing else "") + "</p>")
            if result.status.value != status:  # the engine and the library disagree: say so, loudly
                parts.append(f"<p><strong>The engine gave this patient the status {_e(status)}.</strong></p>")
            parts.append(result_table(result))
            parts.append("</div>")
    return "\n".join(parts)


def screening_page(screening) -> str:
    """The report of a screening: header, totals, funnel, criteria, rejects, sample reasons."""
    summary = screening.summary
    protocol = screening.protocol
    pid = summary.get("protocol") or "Protocol"
    title = summary.get("title")
    facts = [("Protocol", pid), ("Cohort", screening.cohort or "a table given in memory"),
             ("Screened", (screening.screened_at or "").replace("T", " ").replace("+00:00", " UTC"))]
    if screening.id_column:
        facts.append(("Patient id column", screening.id_column))
    body = [f"<h1>Screening report: {_e(pid)}</h1>"]
    if title:
        body.append(f"<p class=\"title\">{_e(title)}</p>")
    body.append("<dl class=\"facts\">" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>")
    body.append("<h2 id=\"totals-heading\">Patients</h2>")
    body.append(_totals(summary))
    body.append("<h2 id=\"funnel\">Attrition</h2>")
    body.append("<p class=\"note\">Criteria in protocol order; each bar is the patients no criterion up to it "
                "removed.</p>")
    body.append(funnel_svg(summary))
    body.append("<h2 id=\"criteria\">Criteria</h2>")
    body.append(attrition_table(summary, protocol))
    if summary["undetermined_for_lack_of"]:
        rows = "\n".join(f"<tr><td><code>{_e(name)}</code></td><td class=\"n\">{count}</td></tr>"
                         for name, count in summary["undetermined_for_lack_of"].items())
        body.append("<h3>Undetermined patients, by missing input</h3>\n<table id=\"lacking\" class=\"narrow\">"
                    "<thead><tr><th>input</th><th class=\"n\">undetermined patients lacking it</th></tr></thead>"
                    f"\n<tbody>\n{rows}\n</tbody>\n</table>")
    for warning in screening.warnings:
        body.append(f"<p class=\"note\">Warning: {_e(warning)}</p>")
    body.append(_rejects(screening))
    body.append(_samples(screening))
    return _page(f"Screening report: {pid}", "\n".join(body))
