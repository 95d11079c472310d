"""Records many cases with a write-behind replay session, for the SIGKILL test: prints
`done <case> <monotonic time>` (flushed) after each case's cassette block ends.

    python write_behind_run.py BASE_URL FIXTURES CASES
"""

from __future__ import annotations

import asyncio
import sys
import time

from replay_helpers import ask, sdk

from promptkit.replay import ReplaySession


async def main(base_url: str, fixtures: str, cases: int) -> None:
    session = ReplaySession(fixtures, "all", write_behind=True)
    client = sdk(session, base_url)
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with gate:
            with session.cassette(f"s/p@1/case-{i}.json"):
                await ask(client, f"question {i}")
        print(f"done {i} {time.monotonic()}", flush=True)

    await asyncio.gather(*(one(i) for i in range(cases)))
    session.finish()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
