"""The gate's verdict as plain lines for a terminal (the pytest plugin's summary section)."""

from __future__ import annotations

from promptkit.evals.gate import GateReport
from promptkit.evals.reports._format import points

__all__ = ["text_summary"]


def text_summary(report: GateReport) -> list[str]:
    """A verdict line, the figures, failed checks and errors, then one line per flip."""
    s = report.stats
    base_ok, cand_ok = report.pass_counts()
    n = len(report.cases)
    label = f" ({report.baseline.label})" if report.baseline.label else ""
    lines = [
        f"{report.verdict.upper()}: {report.candidate.ref} against {report.baseline.ref}{label}",
        f"  passed {base_ok}/{n} -> {cand_ok}/{n}; diff {points(s.diff)}, "
        f"{s.confidence:.0%} CI [{points(s.ci_low)}, {points(s.ci_high)}], "
        f"McNemar p = {s.p_value:.3g}",
    ]
    lines += [f"  failed check {c.name}: {c.detail}" for c in report.failed_checks]
    lines += [f"  error: {e}" for e in report.errors]
    for case in report.cases:
        if case.flip:
            arrow = "pass -> fail" if case.flip == "regression" else "fail -> pass"
            mark = " [critical]" if case.critical else ""
            lines.append(f"  {arrow}  {case.key}{mark}: {case.reason()}")
    return lines
