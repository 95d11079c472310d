"""The eval session runs its items in order with twice as many workers as calls: a long run
waits as a list, not as one suspended task per item, and one item's crash is that item's."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptkit.config import load_settings
from promptkit.evals import EvalOptions, EvalSession, load_suite
from promptkit.evals.results import CaseResult
from promptkit.evals.runner import EvalItem, EvalRunner


def test_items_run_in_order_by_at_most_twice_the_concurrency_of_workers(
        gate_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    running, most, started = 0, 0, []
    real = EvalRunner.run

    async def counted(self: EvalRunner, item: EvalItem) -> CaseResult:
        nonlocal running, most
        running += 1
        most = max(most, running)
        started.append(item.id)
        try:
            return await real(self, item)
        finally:
            running -= 1

    monkeypatch.setattr(EvalRunner, "run", counted)
    session = EvalSession(load_settings(gate_project), EvalOptions(version="all", concurrency=3))
    items = session.items(load_suite(gate_project / "evals" / "parity.yaml"))
    session.start(items)
    results = [session.result(item) for item in items]
    session.finish()
    assert len(items) == 200 and all(not r.runs[0].error for r in results)
    assert most == 6, "2 x concurrency workers, all of them busy"
    assert started == [item.id for item in items]


def test_an_item_that_crashes_fails_alone(gate_project: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real = EvalRunner.run

    async def crashing(self: EvalRunner, item: EvalItem) -> CaseResult:
        if item.case.id == "case-03":
            raise RuntimeError("a bug in an assertion plugin")
        return await real(self, item)

    monkeypatch.setattr(EvalRunner, "run", crashing)
    session = EvalSession(load_settings(gate_project), EvalOptions(version="1.0.0",
                                                                  concurrency=1))
    items = session.items(load_suite(gate_project / "evals" / "parity.yaml"))
    session.start(items)
    crashed = next(item for item in items if item.case.id == "case-03")
    with pytest.raises(RuntimeError, match="a bug in an assertion plugin"):
        session.result(crashed)
    others = [session.result(item) for item in items if item is not crashed]
    session.finish()
    assert len(others) == 39 and all(r.passed for r in others)
