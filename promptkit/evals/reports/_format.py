"""Figures as every report shows them."""

from __future__ import annotations

from promptkit.evals.figures import signed_percent
from promptkit.evals.gate import Change, GateReport

__all__ = ["evidence_lines", "relative", "verdict_sentence"]


def relative(change: Change) -> str:
    """The candidate's change relative to the baseline: `+12.0%` (`+inf` from zero)."""
    return signed_percent(change.relative)


def verdict_sentence(report: GateReport) -> str:
    """What the verdict means, in words a reviewer reads once."""
    margin = f"{report.thresholds.margin * 100:g} points"
    failed = [c.name for c in report.checks if c.status == "fail"]
    return {
        "pass": f"Non-inferiority shown: the candidate is within {margin} of the baseline.",
        "regression": ("The candidate is shown to be worse than the baseline."
                       if failed == ["non-inferiority"] or "non-inferiority" in failed
                       else f"The candidate fails: {', '.join(failed)}."),
        "inconclusive": (f"Inconclusive: not shown to be within {margin}, and not shown "
                         f"worse either; the budget ran out first. This is not a regression."),
        "error": "The comparison is not valid (see the errors).",
    }[report.verdict]


def evidence_lines(report: GateReport) -> list[str]:
    """How the gate sampled, the noise it saw, and what it could have detected."""
    s, p = report.stats, report.power
    lines = [
        f"Sampled {s.cases} cases once per version; {s.resampled} that flipped and "
        f"{s.audited} of the others (a random audit) again, up to {s.stages} more time(s): "
        f"{s.calls:,} calls of a {s.budget:,}-call budget "
        f"({s.calls / s.first_pass_calls if s.first_pass_calls else 0:.2f}× one pass)."
    ]
    if s.exact:
        lines.append(f"{s.exact} re-sampled case(s) replayed a recording that holds one answer, "
                     f"which cannot vary: their noise is unknown (re-sample for real with "
                     f"--record new against the model).")
    if p.noise_baseline is not None or p.noise_candidate is not None:
        lines.append(f"Noise: two answers to the same case disagreed in "
                     f"{_share(p.noise_baseline)} of pairs (baseline) and "
                     f"{_share(p.noise_candidate)} (candidate).")
    lines += _power_lines(report)
    lines += [judge.line() for judge in report.judges]
    return lines


def _power_lines(report: GateReport) -> list[str]:
    p, margin = report.power, report.thresholds.margin
    out = []
    if p.detectable is not None:
        out.append(f"This run could detect a drop of {abs(p.detectable) * 100:.1f} pts or more "
                   f"in the cases it sampled again ({p.power:.0%} power).")
    if p.stages_for_margin is not None and p.detectable is not None and p.detectable > margin:
        out.append(f"To detect {margin * 100:g} pts: about {p.stages_for_margin} samples per "
                   f"re-sampled case (raise --max-calls).")
    if p.drift_samples is not None:
        out.append(f"A drop of {margin * 100:g} pts spread thinly over every case looks like "
                   f"noise: seeing it needs about {p.drift_samples} samples of every case "
                   f"(--repeat).")
    return out


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
