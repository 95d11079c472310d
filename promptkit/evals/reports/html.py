"""The gate's HTML report: one self-contained file (inline CSS and JS, nothing fetched), the
summary on top, every case's outputs side by side with the differences marked, and filters
for flips, failures and changed outputs. Outputs are untrusted: everything is escaped."""

from __future__ import annotations

import difflib
import re
from html import escape

from promptkit.evals.figures import points as _pts
from promptkit.evals.gate import CaseComparison, GateReport
from promptkit.evals.reports._format import evidence_lines, verdict_sentence
from promptkit.evals.reports._format import relative as _relative

__all__ = ["html_report"]

MAX_DIFF_TOKENS = 4000
"""Longer outputs are shown whole, marked changed or not, without a token diff."""

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1f2328}
h1{font-size:1.3rem}.verdict-pass{color:#1a7f37}.verdict-regression{color:#cf222e}
.verdict-error{color:#9a6700}
.verdict-inconclusive{color:#6e7781}.open{color:#6e7781}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}#summary{width:auto}pre{white-space:pre-wrap;word-break:break-word;
margin:0;font:12px/1.4 ui-monospace,monospace}del{background:#ffebe9;text-decoration:none}
ins{background:#dafbe1;text-decoration:none}.ok{color:#1a7f37}.bad{color:#cf222e}
.badge{font-size:11px;border-radius:8px;padding:0 .4rem;background:#eaeef2}
.regression td:first-child{border-left:4px solid #cf222e}
.improvement td:first-child{border-left:4px solid #1a7f37}
#filters button{margin-right:.4rem;padding:.25rem .7rem;border:1px solid #d0d7de;
border-radius:6px;background:#f6f8fa;cursor:pointer}
#filters button[aria-pressed=true]{background:#0969da;color:#fff;border-color:#0969da}
.reason{font-size:12px;color:#57606a}
"""

_JS = """
(function () {
  var buttons = document.querySelectorAll('#filters button');
  var rows = document.querySelectorAll('#cases tbody tr.case');
  function keep(row, filter) {
    if (filter === 'flips') return row.dataset.flip !== '';
    if (filter === 'failures') return row.dataset.failed === 'true';
    if (filter === 'changed') return row.dataset.changed === 'true';
    return true;
  }
  function apply(filter) {
    var shown = 0;
    rows.forEach(function (row) {
      row.hidden = !keep(row, filter);
      if (!row.hidden) shown += 1;
    });
    buttons.forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.dataset.filter === filter));
    });
    document.getElementById('shown').textContent = String(shown);
  }
  buttons.forEach(function (b) {
    b.addEventListener('click', function () { apply(b.dataset.filter); });
  });
  apply('all');
})();
"""


def html_report(report: GateReport) -> str:
    """The whole report as one HTML document."""
    title = f"promptkit gate: {report.candidate.ref} vs {report.baseline.ref}"
    body = "\n".join([
        f'<h1 class="verdict-{report.verdict}" id="verdict">{escape(_headline(report))}</h1>',
        _summary(report), _checks(report), _filters(report), _cases(report),
    ])  # fmt: skip
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n"
            f"<script>{_JS}</script>\n</body></html>\n")


def _headline(report: GateReport) -> str:
    base = report.baseline.ref + (f" ({report.baseline.label})" if report.baseline.label else "")
    word = {"pass": "PASS", "regression": "REGRESSION", "inconclusive": "INCONCLUSIVE",
            "error": "ERROR"}[report.verdict]
    return f"{word}: {report.candidate.ref} against {base}"


def _summary(report: GateReport) -> str:
    s = report.stats
    base_ok, cand_ok = report.pass_counts()
    n = len(report.cases)
    rows = [
        ("cases passed", f"{base_ok}/{n}", f"{cand_ok}/{n}",
         f"{s.regressions} pass→fail, {s.improvements} fail→pass"),
        ("pass rate", f"{s.baseline_rate:.1%}", f"{s.candidate_rate:.1%}",
         f"{_pts(s.diff)}, {s.confidence:.0%} CI [{_pts(s.ci_low)}, {_pts(s.ci_high)}], "
         f"McNemar p = {s.p_value:.3g}"),
        ("cost", f"${report.cost_usd.baseline:.4f}", f"${report.cost_usd.candidate:.4f}",
         _relative(report.cost_usd)),
        ("latency p50", f"{report.latency_p50_s.baseline * 1000:.0f} ms",
         f"{report.latency_p50_s.candidate * 1000:.0f} ms", _relative(report.latency_p50_s)),
        ("results from", report.baseline.source, report.candidate.source, ""),
    ]
    head = (f"<tr><th></th><th>baseline {escape(report.baseline.version)}</th>"
            f"<th>candidate {escape(report.candidate.version)}</th><th>change</th></tr>")
    body = "".join(f"<tr><th>{escape(a)}</th><td>{escape(b)}</td><td>{escape(c)}</td>"
                   f"<td>{escape(d)}</td></tr>" for a, b, c, d in rows)
    return f'<table id="summary"><thead>{head}</thead><tbody>{body}</tbody></table>'


def _checks(report: GateReport) -> str:
    marks = {"pass": ("ok", "✔"), "fail": ("bad", "✘"), "inconclusive": ("open", "?")}
    items = [f'<li class="{marks[c.status][0]}">{marks[c.status][1]} '
             f"<b>{escape(c.name)}</b>: {escape(c.detail)}</li>" for c in report.checks]
    items += [f'<li class="bad">error: {escape(e)}</li>' for e in report.errors]
    evidence = "".join(f"<li>{escape(line)}</li>" for line in evidence_lines(report))
    return (f'<p id="meaning">{escape(verdict_sentence(report))}</p>'
            f'<ul id="checks">{"".join(items)}</ul><ul id="evidence">{evidence}</ul>')


def _filters(report: GateReport) -> str:
    counts = {
        "all": len(report.cases),
        "flips": sum(c.flip is not None for c in report.cases),
        "failures": sum(not c.candidate.passed for c in report.cases),
        "changed": sum(c.changed for c in report.cases),
    }
    labels = {"all": "All", "flips": "Flips", "failures": "Candidate failures",
              "changed": "Changed outputs"}
    buttons = "".join(f'<button type="button" data-filter="{k}" aria-pressed="false">'
                      f"{labels[k]} ({n})</button>" for k, n in counts.items())
    return (f'<div id="filters">{buttons} <span>showing <b id="shown">{counts["all"]}</b> '
            f"of {counts['all']}</span></div>")


def _cases(report: GateReport) -> str:
    head = ("<tr><th>case</th><th>baseline</th><th>candidate</th>"
            "<th>baseline output</th><th>candidate output</th></tr>")
    rows = "\n".join(_case_row(c) for c in report.cases)
    return f'<table id="cases"><thead>{head}</thead><tbody>\n{rows}\n</tbody></table>'


def _case_row(case: CaseComparison) -> str:
    before, after = _marked(case.baseline.shown(), case.candidate.shown())
    critical = ' <span class="badge">critical</span>' if case.critical else ""
    flip = case.flip or ""
    flip_note = (f'<div class="badge">{"pass → fail" if flip == "regression" else "fail → pass"}'
                 f"</div>") if flip else ""
    if case.first_flip and not case.held:
        flip_note = '<div class="badge">noise: reversed when sampled again</div>'
    return (
        f'<tr class="case {flip}" data-key="{escape(case.key)}" data-flip="{flip}" '
        f'data-failed="{str(not case.candidate.passed).lower()}" '
        f'data-changed="{str(case.changed).lower()}">'
        f"<td><code>{escape(case.case_id)}</code>{critical}<div class=\"reason\">"
        f"{escape(case.suite)}</div>{flip_note}</td>"
        f"<td>{_verdict(case, 'baseline')}</td><td>{_verdict(case, 'candidate')}</td>"
        f"<td><pre>{before}</pre></td><td><pre>{after}</pre></td></tr>"
    )  # fmt: skip


def _verdict(case: CaseComparison, side: str) -> str:
    result = case.baseline if side == "baseline" else case.candidate
    word = "pass" if result.passed else "fail"
    rate = f" ({result.tally()})" if result.samples > 1 else ""
    reason = "" if result.passed else f'<div class="reason">{escape(result.reason())}</div>'
    return f'<span class="{"ok" if result.passed else "bad"}">{word}{rate}</span>{reason}'


def _marked(before: str, after: str) -> tuple[str, str]:
    """Both texts escaped, with the tokens that differ wrapped in <del> (before) and <ins>
    (after)."""
    if before == after:
        return escape(before), escape(after)
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    if len(a) + len(b) > MAX_DIFF_TOKENS:
        return f"<del>{escape(before)}</del>", f"<ins>{escape(after)}</ins>"
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old, new = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if op == "equal":
            left.append(old)
            right.append(new)
            continue
        if old:
            left.append(f"<del>{old}</del>")
        if new:
            right.append(f"<ins>{new}</ins>")
    return "".join(left), "".join(right)
