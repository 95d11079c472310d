"""Rows for the view's tests and benchmark: eval results and logged calls."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from promptkit.registry import Registry

REPO = Path(__file__).resolve().parents[2]
START = datetime(2025, 1, 1, tzinfo=UTC)
SECRET = "sk-" + "abcdefghijklmnopqrstuvwx"


def result_row(version: str, content_hash: str, case: str, passed: bool,
               sentiment: str) -> dict[str, Any]:
    """One case result as `CaseResult.row()` gives it."""
    return {"suite": "sentiment", "suite_hash": "sha256:s", "prompt": "sentiment",
            "version": version, "content_hash": content_hash, "case_id": case,
            "critical": False, "passed": passed, "pass_rate": 1.0 if passed else 0.0,
            "repeats": 1, "cost_usd": 0.0001, "latency_s": 0.4, "input_tokens": 50,
            "output_tokens": 20, "output": {"sentiment": sentiment, "confidence": 0.9,
                                            "reasoning": f"{case} reads {sentiment}"},
            "text": None, "error": None, "failures": [] if passed else [
                {"kind": "equals", "message": "expected positive"}]}


def seed_results(registry: Registry) -> None:
    """sentiment 1.0.0 fails `mixed`, 1.1.0 fails `broken` (a flip each way)."""
    from promptkit.evals.store import ResultStore

    store = ResultStore(registry)
    for version, failing in (("1.0.0", "mixed"), ("1.1.0", "broken")):
        content_hash = registry.version("sentiment", version).content_hash
        rows = [result_row(version, content_hash, case, case != failing,
                           "negative" if case == "broken" else "positive")
                for case in ("love", "broken", "mixed")]
        store.save(rows, git_commit="abc123")


def call_row(index: int, version: str, *, when: datetime, rng: random.Random) -> dict[str, Any]:
    """One `promptkit_call_log` row of sentiment@version."""
    failed = index % 10 == 9
    text = f"review number {index}"
    return {
        "id": f"call{index:07d}", "started_at": when, "run_id": "run-1", "prompt": "sentiment",
        "version": version, "content_hash": "sha256:x", "label": "production",
        "config_name": "default", "model": "gpt-4o-mini" if index % 2 else "gpt-4o",
        "temperature_requested": 0.0, "temperature_effective": 0.0, "finish_reason": "stop",
        "input_tokens": 50 + index % 7, "output_tokens": 20, "cached_tokens": 0,
        "cost_usd": round(rng.uniform(0.00001, 0.001), 6), "cost_source": "prices",
        "latency_s": round(rng.uniform(0.05, 2.0), 3), "first_token_s": None,
        "attempt_count": 1, "request_id": f"req-{index}",
        "error_type": "ModelAPIError" if failed else None,
        "error": "HTTP 500" if failed else None, "stream": False,
        "raw_output": None if failed else '{"sentiment": "positive"}',
        "config": {"name": "default", "model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"},
        "request": {"temperature": 0.0, "headers": {"authorization": f"Bearer {SECRET}"}},
        "messages": [{"role": "system", "content": "You classify sentiment."},
                     {"role": "user", "content": text}],
        "parsed_output": None if failed else {"sentiment": "positive", "confidence": 0.9,
                                              "reasoning": "upbeat"},
        "attempts": [{"number": 1, "status": 500 if failed else 200}],
        "meta": {"prompt": "sentiment", "version": version,
                 "variables": {"text": text}},
    }


def seed_calls(registry: Registry, *, count: int, seed: int = 1) -> None:
    """`count` calls, one a minute from START, spread over sentiment's versions (1.0.0 in
    the first third, then 1.1.0, then 1.0.0 again: a rollback)."""
    from promptkit.db.engine import write_transaction
    from promptkit.registry.calllog_sink import DatabaseSink, call_log

    DatabaseSink(engine=registry.engine).migrate()
    rng = random.Random(seed)
    rows = [call_row(i, "1.1.0" if count // 3 <= i < 2 * count // 3 else "1.0.0",
                     when=START + timedelta(minutes=i), rng=rng) for i in range(count)]
    with write_transaction(registry.engine) as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(call_log.insert(), rows[start:start + 5000])
