"""Progress of long commands: a line redrawn in place on a terminal (cases, calls, cost, time
left), nothing in CI logs, pipes or under --quiet; --quiet also drops the notes."""

from __future__ import annotations

import io
import time

import pytest
from gate_helpers import Invoke

import promptkit.cli.progress as progress_module
from promptkit.cli.progress import progress_line, shows_progress
from promptkit.evals.assertions import Outcome
from promptkit.evals.progress import Progress, ProgressSnapshot
from promptkit.evals.results import CaseResult, RunResult


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def result(cost: float, attempts: int) -> CaseResult:
    run = RunResult(repeat=0, passed=True, outcomes=(Outcome("exact", True, ""),),
                    cost_usd=cost, attempts=attempts)
    return CaseResult("p@1::c", "s", "p", "1", "sha256:x", "c", critical=False, threshold=1.0,
                      runs=(run,))


def test_the_snapshot_counts_and_estimates_the_time_left() -> None:
    progress = Progress("gate parity")
    progress.started(4)
    progress.finished(result(0.01, 2))
    progress.finished(result(0.02, 1))
    snap = progress.snapshot()
    assert (snap.total, snap.done, snap.calls) == (4, 2, 3)
    assert snap.cost_usd == pytest.approx(0.03)
    line = ProgressSnapshot("gate parity", 4, 2, 3, 0.03, 10.0).line()
    assert line == "gate parity: 2/4 cases · 3 calls · $0.0300 · 10 s left"
    assert ProgressSnapshot("", 4, 0, 0, 0.0, 75.0).line() == "0/4 cases · 0 calls · $0.0000 · 1 min 15 s"


def test_a_line_is_shown_only_on_a_terminal_outside_ci_and_without_quiet() -> None:
    tty, pipe = Terminal(), io.StringIO()
    assert shows_progress(tty, quiet=False, environ={})
    assert not shows_progress(pipe, quiet=False, environ={})
    assert not shows_progress(tty, quiet=True, environ={})
    assert not shows_progress(tty, quiet=False, environ={"CI": "true"})
    assert not shows_progress(tty, quiet=False, environ={"TERM": "dumb"})


def test_the_line_is_redrawn_in_place_and_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "REDRAW_S", 0.005)
    monkeypatch.setenv("NO_COLOR", "1")
    out, progress = Terminal(), Progress("redteam p@1")
    with progress_line(progress, enabled=True, stream=out):
        progress.started(2)
        progress.finished(result(0.5, 1))
        deadline = time.monotonic() + 10
        while "1/2 cases" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.005)
    text = out.getvalue()
    assert "\r\x1b[2Kredteam p@1: 1/2 cases · 1 calls · $0.5000 · " in text
    assert text.endswith("\r\x1b[2K") and "\x1b[2m" not in text  # cleared; NO_COLOR: no dim
    quiet = Terminal()
    with progress_line(progress, enabled=False, stream=quiet):
        time.sleep(0.02)
    assert quiet.getvalue() == ""


def test_a_gate_on_a_terminal_shows_its_progress(promptkit: Invoke,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "REDRAW_S", 0.001)
    monkeypatch.setattr(progress_module, "shows_progress", lambda *a, **k: True)
    code, out, err = promptkit("gate", "parity", "--candidate", "1.1.0", "--baseline", "1.0.0")
    assert code == 1 and out.startswith("### ❌ promptkit gate")
    assert "gate parity@1.1.0 vs 1.0.0: " in err and "/80 cases · " in err
    assert err.count("\r\x1b[2K") >= 2


def test_quiet_and_ci_leave_only_results_and_errors(promptkit: Invoke,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    code, out, err = promptkit("gate", "parity", "--candidate", "1.2.0", "--baseline", "1.0.0")
    assert code == 0 and "\x1b" not in err and "stored in" in err
    code, out, err = promptkit("--quiet", "gate", "parity", "--candidate", "1.2.0",
                               "--baseline", "1.0.0")
    assert (code, err) == (0, "") and out.startswith("### ✅ promptkit gate")
    code, _, err = promptkit("--quiet", "--verbose", "pins")
    assert code == 2 and "contradict" in err
