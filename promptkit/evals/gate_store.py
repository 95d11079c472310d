"""Gate verdicts into the registry (which keeps them, chained, so a pin can ask whether this
exact content passed a gate against the content the environment serves now)."""

from __future__ import annotations

import warnings

from promptkit.errors import PromptkitError
from promptkit.evals.gate import GateReport
from promptkit.registry import Registry, default_actor
from promptkit.registry.records import GateRecord

__all__ = ["save_verdict", "store_verdict"]


def save_verdict(registry: Registry, report: GateReport, *,
                 actor: str | None = None) -> GateRecord:
    """Store a verdict. Only a shown pass counts as passed for a pin: an inconclusive gate
    (whatever `--on-inconclusive` made it exit with) and an error do not."""
    return registry.record_gate({
        "name": report.name, "candidate_version": report.candidate.version,
        "candidate_hash": report.candidate.content_hash,
        "baseline_version": report.baseline.version,
        "baseline_hash": report.baseline.content_hash,
        "baseline_label": report.baseline.label, "passed": report.verdict == "pass",
        "summary": report.as_dict(cases=False), "at": report.created_at,
        "actor": actor or default_actor(),
    })


def store_verdict(registry: Registry, report: GateReport) -> GateRecord | None:
    """Store a verdict; a database failure only warns (the verdict itself stands)."""
    try:
        return save_verdict(registry, report)
    except PromptkitError as exc:
        warnings.warn(f"promptkit: the gate's verdict was not stored: {exc}", stacklevel=2)
        return None
