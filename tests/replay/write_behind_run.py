"""Records many cases with a write-behind replay session, for the SIGKILL test: prints
`done <case> <monotonic time>` (flushed) after each case's cassette block ends, and
`wrote <monotonic time>` after each round of the writer, the time being when that round
took its cassettes from the queue: every case done before it is on disk.

    python write_behind_run.py BASE_URL FIXTURES CASES
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any

from replay_helpers import ask, sdk

from promptkit.replay import ReplaySession
from promptkit.replay.writer import CassetteWriter


def say(line: str) -> None:
    """One whole line (one write, so two threads' lines never interleave)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def report_rounds(writer: CassetteWriter) -> None:
    """Print each round's take time once its files are written."""
    taken_at = threading.local()
    take, write = writer._take, writer._write

    def timed_take() -> list[Any]:
        taken_at.value = time.monotonic()  # before the queue is read: a lower bound
        return take()

    def reported_write(cassettes: list[Any]) -> None:
        write(cassettes)
        if cassettes:
            say(f"wrote {taken_at.value}")

    writer._take, writer._write = timed_take, reported_write  # type: ignore[method-assign]


async def main(base_url: str, fixtures: str, cases: int) -> None:
    session = ReplaySession(fixtures, "all", write_behind=True)
    assert session._writer is not None
    report_rounds(session._writer)
    client = sdk(session, base_url)
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with gate:
            with session.cassette(f"s/p@1/case-{i}.json"):
                await ask(client, f"question {i}")
        say(f"done {i} {time.monotonic()}")

    await asyncio.gather(*(one(i) for i in range(cases)))
    session.finish()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
