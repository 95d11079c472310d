"""`promptkit logs` and `promptkit logs stats` over a project's call log."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.cli.logs_cmd import parse_since
from promptkit.core import CallLogEntry, CallRecord, Usage
from promptkit.core.types import ModelConfig
from promptkit.errors import ModelAPIError, UsageError
from promptkit.registry.calllog_sink import DatabaseSink

CONFIG = ModelConfig(name="main", model="gpt-4o-mini", price_in=1.0, price_out=2.0)


def entry(i: int, prompt: str | None, version: str | None, *, latency: float, ago_s: float = 0,
          failed: bool = False) -> CallLogEntry:  # fmt: skip
    meta = {"prompt": prompt, "version": version} if prompt else {}
    record = CallRecord(
        config_name="main", messages=({"role": "user", "content": f"q{i}"},), attempts=(),
        usage=Usage(100, 10), latency_s=latency, started_at=time.time() - ago_s,
        metadata=meta, call_id=f"call{i:04d}" + "0" * 24, config=CONFIG,
        error=ModelAPIError("refused") if failed else None,
    )  # fmt: skip
    return CallLogEntry.from_record(record)


@pytest.fixture
def logged(project: Path) -> Path:
    sink = DatabaseSink(f"sqlite:///{project / '.promptkit' / 'promptkit.db'}")
    sink.write(
        [entry(i, "sentiment", "1.2.0", latency=0.1 * (i + 1)) for i in range(10)]
        + [entry(10, "sentiment", "1.2.0", latency=2.0, failed=True)]
        + [entry(20 + i, "sentiment", "1.3.0", latency=0.5, ago_s=3 * 3600) for i in range(4)]
        + [entry(30, None, None, latency=0.2)]
    )  # fmt: skip
    sink.close()
    return project


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_logs_lists_recent_calls_newest_first(logged: Path) -> None:
    code, out = run("logs", "--limit", "3")
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split()[:3] == ["time", "(UTC)", "id"] and len(rows) == 3
    newest, failed, ok = (row.split() for row in rows)
    assert newest[2:4] == ["call00300000", "-"]
    assert failed[2:6] == ["call00100000", "sentiment@1.2.0", "gpt-4o-mini", "ModelAPIError"]
    assert ok[2:6] == ["call00090000", "sentiment@1.2.0", "gpt-4o-mini", "ok"]
    assert ok[-1] == "$0.000120"


def test_logs_filters_by_prompt_version_and_since(logged: Path) -> None:
    code, out = run("logs", "--prompt", "sentiment@1.3.0", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 4 and {r["version"] for r in rows} == {"1.3.0"}
    assert {r["messages"][0]["content"] for r in rows} == {"q20", "q21", "q22", "q23"}
    code, out = run("logs", "--prompt", "sentiment", "--since", "1h", "--json", "--limit", "100")
    assert {r["version"] for r in json.loads(out)} == {"1.2.0"} and len(json.loads(out)) == 11
    code, out = run("logs", "--since", "yesterday")
    assert code == 2 and "--since 'yesterday'" in out


def test_logs_stats_per_prompt_version(logged: Path) -> None:
    code, out = run("logs", "stats", "--json")
    assert code == 0
    stats = {(s["prompt"], s["version"]): s for s in json.loads(out)}
    current = stats[("sentiment", "1.2.0")]
    assert current["calls"] == 11 and current["errors"] == 1
    assert current["error_rate"] == pytest.approx(1 / 11)
    assert current["p50_latency_s"] == pytest.approx(0.6)
    assert current["p95_latency_s"] == pytest.approx(1.5)
    assert current["input_tokens"] == 1100 and current["output_tokens"] == 110
    assert current["cost_usd"] == pytest.approx(11 * (100 * 1.0 + 10 * 2.0) / 1e6)
    assert stats[("(none)", "")]["calls"] == 1
    code, out = run("logs", "stats", "--since", "1h")
    assert code == 0 and "sentiment@1.2.0" in out and "1.3.0" not in out
    assert "9.1%" in out


def test_no_database_or_an_empty_log(project: Path) -> None:
    code, out = run("logs")
    assert code == 2 and "cannot be used" in out and "promptkit.db" in out
    sink = DatabaseSink(f"sqlite:///{project / '.promptkit' / 'promptkit.db'}")
    sink.migrate()
    sink.close()
    assert run("logs", "stats", "--json") == (0, "[]\n")
    assert run("logs") == (0, "no calls logged\n")


def test_since_takes_spans_and_iso_dates() -> None:
    now = datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2025-02-01") == datetime(2025, 2, 1, tzinfo=UTC)
    with pytest.raises(UsageError):
        parse_since("last tuesday")
