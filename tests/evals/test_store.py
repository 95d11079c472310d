"""Stored eval runs: written in one transaction, read back as DataFrames, reused by hash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from promptkit.evals.assertions import Outcome
from promptkit.evals.results import CaseResult, RunResult
from promptkit.evals.store import ResultStore
from promptkit.evals.summary import summarize
from promptkit.registry import Registry


def result(case: str, passed: bool, version: str = "1.0.0", digest: str = "sha256:a",
           text: str = '{"label": "y"}') -> CaseResult:
    outcome = Outcome("equals", passed, "" if passed else "expected 'x', got 'y'")
    run = RunResult(0, passed, (outcome,), output={"label": "y"}, text=text, latency_s=0.2,
                    cost_usd=0.001, input_tokens=10, output_tokens=5, attempts=1)
    return CaseResult(f"p@{version}::{case}", "suite", "p", version, digest, case, False, 1.0, (run,))


def test_runs_round_trip_as_a_dataframe(tmp_path: Path) -> None:
    store = ResultStore(Registry(f"sqlite:///{tmp_path}/r.db"))
    info = store.save([result("a", True), result("b", False)], git_commit="abc123",
                      options={"version": "all"})
    frame = store.frame(run_id=info.run_id)
    assert list(frame["case_id"]) == ["a", "b"]
    assert list(frame["passed"]) == [True, False]
    assert frame.loc[1, "failures"][0]["message"] == "expected 'x', got 'y'"
    assert frame.loc[0, "output"] == {"label": "y"} and frame.loc[0, "git_commit"] == "abc123"
    assert [r.run_id for r in store.runs()] == [info.run_id]



def test_a_credential_in_a_result_is_never_stored_and_the_other_rows_are_kept_as_they_are(
    tmp_path: Path,
) -> None:
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
    store = ResultStore(Registry(f"sqlite:///{tmp_path}/r.db"))
    info = store.save([result("a", True, text=f"the key is {key}"),
                       result("b", True, text="naïve café ✓")])
    frame = store.frame(run_id=info.run_id)
    assert key not in frame.to_json(date_format="iso")
    assert "[REDACTED" in frame.loc[0, "output_text"]
    assert frame.loc[1, "output_text"] == "naïve café ✓"
    clean = store.save([result("c", True), result("d", True)])  # nothing to hide: one look
    assert list(store.frame(run_id=clean.run_id)["output_text"]) == ['{"label": "y"}'] * 2


def test_latest_for_reuses_only_a_run_that_covered_every_case(tmp_path: Path) -> None:
    store = ResultStore(Registry(f"sqlite:///{tmp_path}/r.db"))
    store.save([result("a", True), result("b", True)])
    partial = store.save([result("a", False)])
    reused = store.latest_for("sha256:a", ["a", "b"])
    assert reused is not None and partial.run_id not in set(reused["run_id"])
    assert list(reused["passed"]) == [True, True]
    assert store.latest_for("sha256:other", ["a"]) is None


def test_the_text_of_a_result_is_stored_and_an_older_database_gains_the_column(
    db_url: str,
) -> None:
    url = db_url
    ResultStore(Registry(url)).save([result("a", True, text="Hello! How can I help?")])
    with sa.create_engine(url).begin() as conn:  # the database as m001 made it before m002 existed
        conn.execute(sa.text("ALTER TABLE promptkit_eval_results DROP COLUMN output_text"))
        conn.execute(sa.text("DELETE FROM promptkit_migrations WHERE name = 'm002_result_text'"))
    store = ResultStore(Registry(url))
    info = store.save([result("b", True, text="Sure.")])
    frame = store.frame()
    texts = frame.set_index("case_id")["output_text"]
    assert pd.isna(texts["a"]) and texts["b"] == "Sure."  # a row from before has no text
    assert list(store.frame(run_id=info.run_id)["output_text"]) == ["Sure."]


def test_the_run_summary_matches_pandas_and_needs_no_pandas() -> None:
    rows = [_row(version, i, latency) for version, latencies in
            (("1.0.0", [0.3, 0.1, 0.2, 0.9]), ("2.0.0", [0.05, 0.4, 0.2, 0.7, 0.11]))
            for i, latency in enumerate(latencies)]
    frame = pd.DataFrame(rows)
    summaries = {s.version: s for s in summarize(rows)}
    for version, group in frame.groupby("version"):
        summary = summaries[str(version)]
        assert summary.cases == len(group) and summary.passed == int(group["passed"].sum())
        assert summary.cost_usd == pytest.approx(float(group["cost_usd"].sum()))
        for q, got in ((0.5, summary.p50_latency_s), (0.95, summary.p95_latency_s)):
            assert got == pytest.approx(float(group["latency_s"].quantile(q)))
    script = ("import sys; from promptkit.evals.summary import summarize; "
              "summarize([{'prompt': 'p', 'version': '1', 'passed': True, 'cost_usd': 0.0, "
              "'latency_s': 0.1}]); print('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "False"


def _row(version: str, index: int, latency: float) -> dict[str, object]:
    return {"prompt": "p", "version": version, "passed": index % 3 != 0,
            "cost_usd": 0.001 * index, "latency_s": latency}
