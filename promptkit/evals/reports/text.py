"""The gate's verdict as plain lines for a terminal (the pytest plugin's summary section)."""

from __future__ import annotations

from promptkit.evals.figures import points
from promptkit.evals.gate import GateReport
from promptkit.evals.reports._format import evidence_lines, verdict_sentence

__all__ = ["text_summary"]


def text_summary(report: GateReport) -> list[str]:
    """A verdict line, the figures, failed checks and errors, the evidence, then one line
    per flip (noise flips marked)."""
    s = report.stats
    base_ok, cand_ok = report.pass_counts()
    n = len(report.cases)
    label = f" ({report.baseline.label})" if report.baseline.label else ""
    lines = [
        f"{report.verdict.upper()}: {report.candidate.ref} against {report.baseline.ref}{label}",
        f"  {verdict_sentence(report)}",
        f"  passed {base_ok}/{n} -> {cand_ok}/{n}; diff {points(s.diff)}, "
        f"{s.confidence:.0%} CI [{points(s.ci_low)}, {points(s.ci_high)}], "
        f"McNemar p = {s.p_value:.3g}",
    ]
    lines += [f"  {c.status} check {c.name}: {c.detail}" for c in report.failed_checks]
    lines += [f"  error: {e}" for e in report.errors]
    lines += [f"  {line}" for line in evidence_lines(report)]
    for case in report.flips:
        flip = case.flip or case.first_flip
        arrow = "pass -> fail" if flip == "regression" else "fail -> pass"
        mark = " [critical]" if case.critical else ""
        noise = "" if case.held or case.first_flip is None else " [noise: reversed]"
        lines.append(f"  {arrow}  {case.key}{mark}{noise} (baseline {case.baseline.tally()}, "
                     f"candidate {case.candidate.tally()}): {case.reason()}")
    return lines
