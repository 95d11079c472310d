"""The call log: what an entry holds, redaction, batching off the call path, sink failures."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from promptkit.core import (
    CallLog,
    CallLogEntry,
    CallRecord,
    Client,
    JSONLSink,
    OutputSpec,
    Usage,
)
from promptkit.core.calllog import REDACTED, redact_patterns
from promptkit.errors import ModelAPIError
from promptkit.registry.calllog_sink import DatabaseSink, call_stats, read_calls
from promptkit.testing import FakeOpenAIServer, Reply

from .conftest import ASK, config_for

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
META = {"prompt": "extract", "version": "1.2.0", "content_hash": "sha256:abc",
        "label": "production", "run_id": "run-7", "case": "ada"}  # fmt: skip


def log_to(path: Path, **options: Any) -> CallLog:
    return CallLog([JSONLSink(path)], handle_sigterm=False, **options)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_entry_holds_the_whole_call(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.enqueue(Reply(content={"name": "Ada"}, usage={"prompt_tokens": 30,
                                                          "completion_tokens": 5}),
                   Reply(content={"name": "Ada", "age": 36},
                         usage={"prompt_tokens": 60, "completion_tokens": 9,
                                "cached_tokens": 20}))  # fmt: skip
    config = config_for(server, temperature=0.7, price_in=1.0, price_out=4.0)
    log = log_to(tmp_path / "calls.jsonl")
    with Client([config], hooks=[log]) as client:
        result = client.call(ASK, config="main", temperature=0.2, metadata=META,
                             output=OutputSpec(mode="json_schema", schema=PERSON))  # fmt: skip
    log.close()
    (row,) = lines(tmp_path / "calls.jsonl")
    assert row["id"] == result.call_id and row["started_at"].endswith("+00:00")
    assert (row["prompt"], row["version"], row["content_hash"], row["label"], row["run_id"]) == (
        "extract", "1.2.0", "sha256:abc", "production", "run-7")  # fmt: skip
    assert row["metadata"]["case"] == "ada"
    assert row["config_name"] == "main" and row["model"] == "gpt-4o-mini"
    assert row["config"]["temperature"] == 0.7 and row["config"]["api_key_env"] == ""
    assert row["temperature_requested"] == 0.2 and row["temperature_effective"] == 0.2
    assert row["request"]["response_format"]["type"] == "json_schema"
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user"]
    assert row["raw_output"] == '{"name": "Ada", "age": 36}'
    assert row["parsed_output"] == {"name": "Ada", "age": 36}
    assert row["finish_reason"] == "stop" and row["error_type"] is None
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (90, 14, 20)
    assert row["cost_usd"] == pytest.approx((90 * 1.0 + 14 * 4.0) / 1e6)
    assert row["cost_source"] == "config" and row["stream"] is False
    assert row["latency_s"] > 0 and row["first_token_s"] is None
    assert row["attempt_count"] == 2 and row["request_id"] == "req_000001"
    assert [a["error_type"] for a in row["attempts"]] == ["OutputValidationError", None]
    assert row["attempts"][1]["usage"] == {"input_tokens": 60, "output_tokens": 9,
                                           "cached_tokens": 20}  # fmt: skip


def test_failed_calls_are_logged_with_their_error(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.default = Reply(status=401, error_code="invalid_api_key")
    log = log_to(tmp_path / "calls.jsonl")
    with Client([config_for(server)], hooks=[log]) as client, pytest.raises(ModelAPIError):
        client.call(ASK, config="main")
    log.close()
    (row,) = lines(tmp_path / "calls.jsonl")
    assert row["error_type"] == "ModelAPIError" and "401" in row["error"]
    assert row["attempt_count"] == 1 and row["attempts"][0]["status"] == 401
    assert row["raw_output"] is None and row["cost_usd"] == 0.0


def test_api_keys_and_secrets_never_reach_a_sink(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-proj-" + "Zq8" * 12
    monkeypatch.setenv("PROMPTKIT_TEST_API_KEY", key)
    monkeypatch.setenv("BILLING_SERVICE_TOKEN", "tok_live_91c7f2d0e4")
    server.api_key = key
    server.enqueue(Reply(content=f"I saw {key} and tok_live_91c7f2d0e4 and sk-other1234567890abcdef"))
    db = DatabaseSink(f"sqlite:///{tmp_path / 'calls.db'}")
    log = CallLog([JSONLSink(tmp_path / "calls.jsonl"), db], handle_sigterm=False)
    config = config_for(server, api_key_env="PROMPTKIT_TEST_API_KEY")
    asks = [{"role": "user", "content": f"my key is {key}, header Bearer {key}"}]
    with Client([config], hooks=[log]) as client:
        client.call(asks, config="main", metadata={"note": key})
        server.api_key = "something-else"
        with pytest.raises(ModelAPIError):
            client.call(asks, config="main")
    log.close()
    db.close()
    written = (tmp_path / "calls.jsonl").read_text()
    dumped = "\n".join(sqlite3.connect(tmp_path / "calls.db").iterdump())
    for text in (written, dumped):
        assert key not in text and "tok_live_91c7f2d0e4" not in text
        assert "sk-other1234567890abcdef" not in text
        assert REDACTED in text
    first = lines(tmp_path / "calls.jsonl")[0]
    assert first["raw_output"] == f"I saw {REDACTED} and {REDACTED} and {REDACTED}"
    assert first["config"]["api_key_env"] == "PROMPTKIT_TEST_API_KEY", "the name is no secret"


def test_redactors_hide_personal_data_before_any_sink(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.enqueue(Reply(content="Write to ada@example.org or call +44 20 7946 0958."))
    hide = redact_patterns({"email": r"[\w.+-]+@[\w-]+\.[\w.]+", "phone": r"\+\d[\d ]{7,}\d"})
    log = log_to(tmp_path / "calls.jsonl", redactors=[hide])
    with Client([config_for(server)], hooks=[log]) as client:
        result = client.call([{"role": "user", "content": "Reach grace@example.com"}],
                             config="main")  # fmt: skip
    log.close()
    (row,) = lines(tmp_path / "calls.jsonl")
    assert row["raw_output"] == "Write to [email] or call [phone]."
    assert row["messages"][0]["content"] == "Reach [email]"
    assert "ada@example.org" in result.output, "the caller's result is untouched"


def record(i: int = 0, **fields: Any) -> CallRecord:
    values: dict[str, Any] = {"config_name": "main", "messages": ({"role": "user",
                              "content": f"call {i}"},), "attempts": (), "usage": Usage(),
                              "latency_s": 0.01, "started_at": time.time(), "call_id": f"c{i}"}  # fmt: skip
    return CallRecord(**{**values, **fields})


class FlakySink:
    """Fails its first `failures` writes, then stores what it gets."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.stored: list[str] = []
        self.calls = 0

    def write(self, entries: Sequence[CallLogEntry]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("database is restarting")
        self.stored += [e.id for e in entries]

    def close(self) -> None:
        return None


def test_a_failing_sink_warns_once_keeps_its_rows_and_never_fails_a_call(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    flaky = FlakySink(failures=3)
    log = CallLog([flaky, JSONLSink(tmp_path / "calls.jsonl")], handle_sigterm=False,
                  flush_interval_s=0.01, retry_interval_s=0.01)  # fmt: skip
    with pytest.warns(RuntimeWarning, match="database is restarting") as caught, \
            Client([config_for(server)], hooks=[log]) as client:  # fmt: skip
        ids = []
        for _ in range(5):
            ids.append(client.call(ASK, config="main").call_id)
            assert log.flush(10)
        log.close()
    assert len([w for w in caught if "database is restarting" in str(w.message)]) == 1
    assert flaky.stored == ids and log.dropped == 0
    assert [row["id"] for row in lines(tmp_path / "calls.jsonl")] == ids, "others unaffected"


def test_a_sink_still_down_at_close_reports_the_rows_lost() -> None:
    down = FlakySink(failures=10**9)
    log = CallLog([down], handle_sigterm=False, flush_interval_s=0.01, retry_interval_s=0.01)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3):
            log.after_call(record(i))
        log.close()
    assert log.dropped == 3
    assert any("3 row(s) lost" in str(w.message) for w in caught)


class BlockingSink:
    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.stored: list[str] = []

    def write(self, entries: Sequence[CallLogEntry]) -> None:
        self.entered.set()
        self.release.wait(10)
        self.stored += [e.id for e in entries]

    def close(self) -> None:
        return None


def test_a_full_queue_drops_rows_counts_them_and_never_blocks() -> None:
    slow = BlockingSink()
    log = CallLog([slow], handle_sigterm=False, max_queue=2, batch_size=1)
    log.after_call(record(0))
    assert slow.entered.wait(5)
    started = time.monotonic()
    with pytest.warns(RuntimeWarning, match="queue of 2 is full"):
        for i in range(1, 10):
            log.after_call(record(i))
    assert time.monotonic() - started < 1.0
    slow.release.set()
    log.close()
    assert slow.stored == ["c0", "c1", "c2"] and log.dropped == 7


def test_flush_waits_and_a_closed_log_writes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    log = log_to(path, flush_interval_s=5.0)
    log.after_call(record(0))
    assert log.flush(10) and [r["id"] for r in lines(path)] == ["c0"]
    log.close()
    log.after_call(record(1))
    assert [r["id"] for r in lines(path)] == ["c0", "c1"]


def test_sigterm_flushes_then_calls_the_previous_handler(tmp_path: Path) -> None:
    called: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: called.append(signum))
    try:
        log = CallLog([JSONLSink(tmp_path / "calls.jsonl")], flush_interval_s=30.0)
        log.after_call(record(0))
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0)  # the handler runs on the main thread at the next bytecode
        assert called == [signal.SIGTERM]
        assert [r["id"] for r in lines(tmp_path / "calls.jsonl")] == ["c0"]
        assert signal.getsignal(signal.SIGTERM) is not log._on_sigterm, "handler removed"
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_database_sink_on_every_backend(db_url: str) -> None:
    sink = DatabaseSink(db_url)
    entries = [CallLogEntry.from_record(record(i, usage=Usage(10 * i, i), metadata={
        "prompt": "p", "version": "1.0.0" if i % 2 else "2.0.0"},
        error=ModelAPIError("down") if i == 3 else None)) for i in range(6)]  # fmt: skip
    sink.write(entries[:4])
    sink.write(entries[2:])  # a batch retried after an uncertain failure: no row twice
    calls = read_calls(sink.engine)
    assert sorted(calls["id"]) == [f"c{i}" for i in range(6)]
    assert calls.set_index("id").loc["c3", "error_type"] == "ModelAPIError"
    assert calls.set_index("id").loc["c2", "messages"] == [{"role": "user", "content": "call 2"}]
    assert len(read_calls(sink.engine, prompt="p", version="1.0.0")) == 3
    stats = call_stats(calls).set_index("version")
    assert stats.loc["1.0.0", "calls"] == 3 and stats.loc["1.0.0", "errors"] == 1
    assert stats.loc["2.0.0", "input_tokens"] == 0 + 20 + 40
    assert sink.spent_on("main") == 0.0
    sink.close()
