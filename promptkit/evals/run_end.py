"""The end of an eval run, as the pytest plugin (or a script) reaches it: recordings flushed,
unused ones found (and removed in rewrite mode), the gate run against a baseline, results
stored. Under pytest-xdist each worker hands its part to the controller, which decides for
all of them.

    payload = worker_payload(session, within)               # in a worker
    ended = end_run(session, RunScope(within, workers), baseline="production", ...)
    ended.exit_code, ended.lines()                           # in the controller
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptkit.evals.gate import Thresholds
from promptkit.evals.sequential import Design
from promptkit.evals.session import EvalSession
from promptkit.evals.store import RunInfo
from promptkit.replay import RecordMode, Unused, find_unused, remove_unused

__all__ = ["RunEnd", "RunScope", "end_run", "worker_payload"]


@dataclass(frozen=True)
class RunScope:
    """Which cassette folders the run covered, what pytest-xdist workers sent
    (`worker_payload`, parsed), and whether some selected case did not run (`partial`: a
    stopped run, so nothing counts as unused and rewrite mode deletes nothing)."""

    within: Sequence[str] = ()
    workers: Sequence[Mapping[str, Any]] = ()
    partial: bool = False


@dataclass
class RunEnd:
    """What the run's end reports: the timing line, unused recordings, where the results
    were stored, the gate's lines, and the exit status the gate decides (None: pytest's
    own)."""

    timing: str | None = None
    unused: list[str] = field(default_factory=list)
    stored: RunInfo | None = None
    gate: list[str] = field(default_factory=list)
    exit_code: int | None = None


def worker_payload(session: EvalSession, within: Sequence[str]) -> str:
    """A worker's part, for its controller: recordings flushed, what it used, its rows."""
    session.finish(within=[])  # flush only: the controller decides what is unused
    return json.dumps({"used": session.replay.used(), "rows": session.rows(),
                       "within": list(within), "timing": session.timing()}, default=str)


def end_run(session: EvalSession, scope: RunScope, *, baseline: str | None = None,
            thresholds: Thresholds | None = None, design: Design | None = None,
            tests_failed: int = 0) -> RunEnd:
    """Finish the run: merge the workers' parts, gate against `baseline` (the exit status
    is the gate's verdict; a failure the gate did not weigh still fails the run), flush and
    find unused recordings, and store the results."""
    for worker in scope.workers:
        session.add_worker_results(worker["rows"], worker.get("timing"))
    ended = RunEnd(timing=session.timing_line())  # before the gate may run a baseline
    if baseline and session.rows():
        ended.gate, code, judged = _gate(session, baseline, thresholds, design)
        others = tests_failed - judged
        ended.exit_code = code if code or others <= 0 else 1
    if scope.workers:
        unused = _unused(session, scope)
    else:
        unused = session.finish([] if scope.partial else scope.within)
    ended.unused = unused.lines(session.replay.root.parent)
    ended.stored = session.save_results()
    if session.options.results is not None:
        session.write_results(session.options.results)
    return ended


def _unused(session: EvalSession, scope: RunScope) -> Unused:
    session.finish(within=[])
    used: dict[str, set[str]] = {}
    for worker in scope.workers:
        for path, keys in worker["used"].items():
            used.setdefault(path, set()).update(keys)
    within = sorted({w for worker in scope.workers for w in worker["within"]})
    if scope.partial or not within or not all(worker["within"] for worker in scope.workers):
        return Unused()
    unused = find_unused(session.replay.root, used, within)
    if session.replay.mode is RecordMode.REWRITE:
        remove_unused(unused)
    return unused


def _gate(session: EvalSession, baseline: str, thresholds: Thresholds | None,
          design: Design | None) -> tuple[list[str], int, int]:
    """The gate's lines, its exit status (the worst verdict), and how many failed items it
    judged (their single failures decide nothing)."""
    from promptkit.errors import PromptkitError
    from promptkit.evals.gate_run import gate_against
    from promptkit.evals.reports import text_summary

    try:
        reports = gate_against(session, baseline, thresholds, design)
    except PromptkitError as exc:
        return [f"ERROR: {exc}"], 2, 0
    if not reports:
        return [f"nothing to compare: only the baseline {baseline} ran"], 0, 0
    gated = {(r.name, v) for r in reports for v in (r.baseline.version, r.candidate.version)}
    judged = sum(not row["passed"] for row in session.rows()
                 if (row["prompt"], row["version"]) in gated)
    codes = [r.exit_code for r in reports]
    code = next((c for c in (2, 1, 3) if c in codes), 0)
    return [line for r in reports for line in text_summary(r)], code, judged
