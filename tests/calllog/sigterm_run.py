"""A run of many calls logging to a database, for the SIGTERM and SIGKILL tests: prints
`done <call id> <monotonic time>` (flushed) after each call returns, so the test knows which
calls completed and when (the monotonic clock is the machine's, shared with the test).

    python sigterm_run.py BASE_URL DB_URL CALLS
"""

from __future__ import annotations

import asyncio
import sys
import time

from promptkit.core import AsyncClient, CallLog, ModelConfig
from promptkit.registry.calllog_sink import DatabaseSink


async def main(base_url: str, db_url: str, calls: int) -> None:
    config = ModelConfig(name="main", model="gpt-4o-mini", base_url=base_url, api_key_env="")
    log = CallLog([DatabaseSink(db_url)])  # handles SIGTERM: flush, then the default action
    gate = asyncio.Semaphore(8)
    async with AsyncClient([config], hooks=[log]) as client:

        async def one(i: int) -> None:
            async with gate:
                result = await client.call([{"role": "user", "content": f"call {i}"}],
                                           config="main")  # fmt: skip
            print(f"done {result.call_id} {time.monotonic()}", flush=True)

        print("started", flush=True)
        await asyncio.gather(*(one(i) for i in range(calls)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
