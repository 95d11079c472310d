"""The gate's markdown summary, short enough for a pull-request comment."""

from __future__ import annotations

from promptkit.evals.figures import points as _pts
from promptkit.evals.gate import CaseComparison, GateReport, VersionRef
from promptkit.evals.reports._format import evidence_lines, verdict_sentence
from promptkit.evals.reports._format import relative as _relative

__all__ = ["markdown_summary"]

MAX_FLIPS = 50
"""Flips listed in full; the rest are counted (the HTML report has them all)."""

_ICONS = {"pass": "✅", "regression": "❌", "inconclusive": "❔", "error": "⚠️"}
_CHECK_ICONS = {"pass": "✅", "fail": "❌", "inconclusive": "❔"}


def markdown_summary(report: GateReport) -> str:
    """Verdict, the figures side by side, the checks, and every flip with its reason."""
    parts = [_title(report), "", verdict_sentence(report), "", *_table(report), "",
             "**Checks**", "",
             *(f"- {_CHECK_ICONS[c.status]} {c.name}: {c.detail}" for c in report.checks),
             "", "**Evidence**", "", *(f"- {line}" for line in evidence_lines(report))]
    if report.errors:
        parts += ["", "**Errors** (the comparison is not valid)", "",
                  *(f"- {_cell(e)}" for e in report.errors)]
    parts += ["", *_flips(report), "", _sources(report)]
    return "\n".join(parts) + "\n"


def _title(report: GateReport) -> str:
    cand, base = report.candidate, report.baseline
    verb = {"pass": "passes against", "regression": "regresses against",
            "inconclusive": "is inconclusive against",
            "error": "could not be compared with"}[report.verdict]
    return (f"### {_ICONS[report.verdict]} promptkit gate: `{cand.ref}` {verb} "
            f"{_side_name(base)}")


def _side_name(ref: VersionRef) -> str:
    return f"`{ref.ref}`" + (f" ({ref.label})" if ref.label else "")


def _table(report: GateReport) -> list[str]:
    stats = report.stats
    base_ok, cand_ok = report.pass_counts()
    n = len(report.cases)
    conf = f"{stats.confidence:.0%}"
    return [
        f"| | baseline `{report.baseline.version}` | candidate `{report.candidate.version}` "
        "| change |",
        "|---|---|---|---|",
        f"| cases passed | {base_ok}/{n} ({_rate(base_ok, n)}) | {cand_ok}/{n} "
        f"({_rate(cand_ok, n)}) | {stats.regressions} pass→fail, {stats.improvements} fail→pass |",
        f"| pass rate | {stats.baseline_rate:.1%} | {stats.candidate_rate:.1%} | "
        f"{_pts(stats.diff)}, {conf} CI [{_pts(stats.ci_low)}, {_pts(stats.ci_high)}], "
        f"McNemar p = {stats.p_value:.3g} |",
        f"| cost | ${report.cost_usd.baseline:.4f} | ${report.cost_usd.candidate:.4f} | "
        f"{_relative(report.cost_usd)} |",
        f"| latency p50 | {report.latency_p50_s.baseline * 1000:.0f} ms | "
        f"{report.latency_p50_s.candidate * 1000:.0f} ms | {_relative(report.latency_p50_s)} |",
    ]


def _flips(report: GateReport) -> list[str]:
    flipped = report.flips
    if not flipped:
        return ["No case changed its verdict."]
    held = [c for c in flipped if c.held or c.first_flip is None]
    noise = [c for c in flipped if not (c.held or c.first_flip is None)]
    lines = [f"**Flips ({len(held)})**", ""]
    lines += _flip_table(held) if held else ["None held up under re-sampling."]
    if noise:
        lines += ["", f"**Noise ({len(noise)})**: flipped on the first answer, reversed when "
                  "sampled again", "", *_flip_table(noise)]
    return lines


def _flip_table(cases: list[CaseComparison]) -> list[str]:
    lines = ["| case | flip | answers passed | reason |", "|---|---|---|---|"]
    for case in cases[:MAX_FLIPS]:
        flip = case.flip or case.first_flip
        arrow = "pass → fail" if flip == "regression" else "fail → pass"
        mark = " (critical)" if case.critical else ""
        lines.append(f"| `{_cell(case.key)}`{mark} | {arrow} | baseline "
                     f"{case.baseline.tally()}, candidate {case.candidate.tally()} | "
                     f"{_cell(case.reason())} |")
    if len(cases) > MAX_FLIPS:
        lines.append(f"| … | | | {len(cases) - MAX_FLIPS} more in the HTML report |")
    return lines


def _sources(report: GateReport) -> str:
    return (f"<sub>{len(report.cases)} cases in {', '.join(report.suites) or 'no suite'}; "
            f"baseline results: {report.baseline.source}; candidate results: "
            f"{report.candidate.source}; margin {report.thresholds.margin * 100:g} pts.</sub>")


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _cell(text: str) -> str:
    """Safe inside a table cell: one line, pipes escaped, no stray HTML."""
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat.replace("<", "&lt;").replace(">", "&gt;")
