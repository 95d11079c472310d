"""Many concurrent calls into one session: each task keeps its cassette; files are never torn."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from replay_helpers import ask, read, sdk

from promptkit.replay import ReplaySession
from promptkit.replay.cassette import read_cassette, write_cassette


async def test_concurrent_recording_into_one_cassette(server, fixtures: Path) -> None:
    session = ReplaySession(fixtures, "new")
    with session.cassette("s/p@1/shared.json"):
        client = sdk(session, server.base_url)
        answers = await asyncio.gather(*(ask(client, f"q{i}") for i in range(40)))
    assert answers == [f"echo: q{i}" for i in range(40)]
    entries = read(fixtures / "s/p@1/shared.json")["entries"]
    assert len(entries) == 40 and session.stats.recorded == 40
    assert not list(fixtures.rglob("*.tmp"))


async def test_concurrent_tasks_each_use_their_own_cassette(server, fixtures: Path) -> None:
    session = ReplaySession(fixtures, "once")
    client = sdk(session, server.base_url)

    async def case(i: int) -> str:
        with session.cassette(f"s/p@1/case-{i}.json"):
            await asyncio.sleep(0)  # interleave the tasks
            return await ask(client, f"q{i}")

    await asyncio.gather(*(case(i) for i in range(25)))
    server.stop()
    for i in range(25):
        (entry,) = read(fixtures / f"s/p@1/case-{i}.json")["entries"].values()
        assert entry["request"]["body"]["messages"][1]["content"] == f"q{i}"

    replayer = ReplaySession(fixtures)
    offline = sdk(replayer)

    async def again(i: int) -> str:
        with replayer.cassette(f"s/p@1/case-{i}.json"):
            return await ask(offline, f"q{i}")

    assert await asyncio.gather(*(again(i) for i in range(25))) == [f"echo: q{i}" for i in range(25)]


def _writer(path: str, worker: int, rounds: int) -> None:
    for i in range(rounds):
        entry = {"request": {"worker": worker, "i": i, "pad": "x" * 5000},
                 "response": {"status": 200, "body": None}}  # fmt: skip
        write_cassette(Path(path), {f"k{worker}-{i}": entry})


def test_writers_racing_on_one_file_never_tear_it(tmp_path: Path) -> None:
    """Like pytest-xdist workers (the guarantee is the file system's, threads show it as well
    as processes): temp file + os.replace, so a reader only ever sees whole files."""
    path = tmp_path / "shared.json"
    write_cassette(path, {})
    workers = [threading.Thread(target=_writer, args=(str(path), w, 60)) for w in range(3)]
    for worker in workers:
        worker.start()
    reads = 0
    while any(w.is_alive() for w in workers) or reads == 0:
        entries = read_cassette(path)  # raises ConfigError on a torn file
        assert entries is not None and len(entries) <= 1
        reads += 1
    for worker in workers:
        worker.join(timeout=30)
    assert json.loads(path.read_text())["format"] == "promptkit-cassette/1"
    assert not list(tmp_path.glob("*.tmp"))
