"""Must show: 200 calls through the fault-injecting server with 20% faults leave exactly 200
rows in the call log (none lost, none doubled), with attempt counts that match what the
server saw, call by call."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

from promptkit.core import AsyncClient, CallLog, CircuitBreaker, JSONLSink
from promptkit.errors import ModelCallError
from promptkit.registry.calllog_sink import DatabaseSink, read_calls
from promptkit.testing import FakeOpenAIServer, Reply

from .conftest import FAST, config_for

CALLS = 200


def question(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"call {i}"}]


async def run_calls(client: AsyncClient) -> Counter[str]:
    gate = asyncio.Semaphore(20)

    async def one(i: int) -> str:
        async with gate:
            try:
                await client.call(question(i), config="main", metadata={"prompt": "p",
                                                                        "version": "1.0.0"})
            except ModelCallError as error:
                return type(error).__name__
            return "ok"

    return Counter(await asyncio.gather(*(one(i) for i in range(CALLS))))


def fault_kind(reply: Reply) -> str:
    return "reset" if reply.reset else "malformed" if reply.malformed else str(reply.status)


async def test_200_faulty_calls_leave_exactly_200_rows(tmp_path: Path) -> None:
    db = DatabaseSink(f"sqlite:///{tmp_path / 'calls.db'}")
    jsonl = JSONLSink(tmp_path / "calls.jsonl")
    log = CallLog([db, jsonl], handle_sigterm=False)
    with FakeOpenAIServer(default=Reply(content="fine", latency=0.002), fault_rate=0.2,
                          seed=7) as server:  # fmt: skip
        # promptkit retries every fault (the SDK never does), so each retry is a row's
        # attempt. The breaker stays out of the way (faults are not an outage).
        config = config_for(server)
        breaker = CircuitBreaker(failure_threshold=10_000)
        async with AsyncClient([config], hooks=[log], retry=FAST, breaker=breaker) as client:
            outcomes = await run_calls(client)
        log.close()
        seen = server.chat_requests
    faults = Counter(fault_kind(r.reply) for r in seen if r.fault and r.reply)
    per_call = Counter(r.body["messages"][0]["content"] for r in seen if r.body)
    rows = read_calls(db.engine)
    lines = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]

    assert sum(outcomes.values()) == CALLS and log.dropped == 0
    assert len(rows) == CALLS and rows["id"].is_unique
    assert len(lines) == CALLS and {line["id"] for line in lines} == set(rows["id"])
    asked = {row["messages"][0]["content"]: row for row in rows.to_dict("records")}
    assert set(asked) == {f"call {i}" for i in range(CALLS)}, "one row per call, each once"
    assert {text: row["attempt_count"] for text, row in asked.items()} == dict(per_call)
    assert int(rows["attempt_count"].sum()) == len(seen)
    assert sum(r.fault for r in seen) >= 0.15 * len(seen), "the server did inject faults"
    failed = rows[rows["error_type"].notna()]
    assert len(failed) == CALLS - outcomes["ok"]
    print(f"\n{len(seen)} requests for {CALLS} calls ({sum(r.fault for r in seen)} faults: "
          f"{dict(faults)}); outcomes {dict(outcomes)}; {len(rows)} rows")  # fmt: skip
