"""What the core adds to one model call: sequential calls at zero latency through
`promptkit.AsyncClient` and through the raw `openai.AsyncOpenAI` to the same server,
alternating in blocks; reports the median microseconds added per call. The raw calls use
the SDK method the core uses (`post("/chat/completions")`), so the figure is promptkit's
own work; `throughput.py` compares with `chat.completions.create`.

    python benchmarks/overhead.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import openai
from _common import config, items, reply, server_process
from openai.types.chat import ChatCompletion

from promptkit.core import AsyncClient, OutputSpec
from promptkit.core.calllog import CallLog
from promptkit.registry.calllog_sink import DatabaseSink

BLOCK = 50


async def _timed(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def _measure(base_url: str, calls: int, hooks: tuple[Any, ...] = ()) -> dict[str, Any]:
    item = items(1)[0]
    messages = item.prompt.render(item.case.variables)
    output: OutputSpec = item.prompt.meta.output
    client = AsyncClient([config(base_url)], hooks=hooks)
    sdk = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)

    async def ours() -> Any:
        return await client.call(messages, config="bench", output=output, temperature=0.0)

    async def raw() -> Any:
        response = await sdk.post(
            "/chat/completions", cast_to=ChatCompletion,
            options={"security": {"bearer_auth": True}},
            body={"model": "bench-model", "messages": messages, "temperature": 0.0,
                  "response_format": {"type": "json_object"}})
        return json.loads(response.choices[0].message.content or "")

    await _timed(ours, 20)
    await _timed(raw, 20)
    promptkit_s: list[float] = []
    sdk_s: list[float] = []
    for _ in range(max(1, calls // (2 * BLOCK))):  # alternate so drift hits both alike
        promptkit_s += await _timed(ours, BLOCK)
        sdk_s += await _timed(raw, BLOCK)
    await client.aclose()
    await sdk.close()
    added = statistics.median(promptkit_s) - statistics.median(sdk_s)
    return {"calls_each": len(sdk_s), "sdk_median_us": round(statistics.median(sdk_s) * 1e6, 1),
            "promptkit_median_us": round(statistics.median(promptkit_s) * 1e6, 1),
            "added_us": round(added * 1e6, 1)}


def run(calls: int = 2000) -> dict[str, Any]:
    """Without hooks, then with the call log writing to SQLite on disk."""
    with server_process(reply(0.0)) as base_url, tempfile.TemporaryDirectory() as folder:
        bare = asyncio.run(_measure(base_url, calls))
        log = CallLog([DatabaseSink(f"sqlite:///{folder}/calls.db")], handle_sigterm=False)
        logged = asyncio.run(_measure(base_url, calls, (log,)))
        log.close()
    return {"without_log": bare, "with_call_log": logged}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    print(json.dumps(run(parser.parse_args().calls), indent=2))
