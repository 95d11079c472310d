"""Many processes opening, publishing, pinning and rolling back at once lose nothing."""

from __future__ import annotations

import itertools
import multiprocessing
import random
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from promptkit.db.migrations import MIGRATIONS_TABLE, registered
from promptkit.errors import NotPublishedError
from promptkit.registry import Registry
from promptkit.registry.schema import ledger, versions
from promptkit.templates.library import PromptLibrary

PROCESSES, OPERATIONS = 8, 50
TARGETS = [("sentiment", "production"), ("sentiment", "staging"), ("support_assistant", "production")]
VERSIONS = ["1.0.0", "1.1.0", "1.2.0"]


def worker(url: str, prompts: str, seed: int, start: Any, results: Any) -> None:
    """Open a fresh registry (migrating and publishing race with the other workers), then
    make OPERATIONS random pin/rollback moves; report the ledger ids it created."""
    try:
        registry = Registry(url)
        registry.publish_library(PromptLibrary(Path(prompts)), ["sentiment", "support_assistant"])
        start.wait(timeout=60)
        rng, ids = random.Random(seed), []
        for i in range(OPERATIONS):
            ids.append(_random_move(registry, rng, f"w{seed} op{i}").id)
        registry.close()
        results.put((seed, ids, None))
    except BaseException as error:  # reported to the test, which fails with it
        results.put((seed, [], repr(error)))


def _random_move(registry: Registry, rng: random.Random, reason: str) -> Any:
    name, env = rng.choice(TARGETS)
    kind = rng.random()
    if kind < 0.3:
        try:
            return registry.rollback(name, env=env, reason=reason)
        except NotPublishedError:  # no pin yet, or nothing earlier: pin instead
            pass
    elif kind < 0.5 and registry.current(name, env) is not None:
        return registry.rollback(name, env=env, to=rng.choice(VERSIONS), reason=reason)
    return registry.pin(name, rng.choice(VERSIONS), env=env, reason=reason)


@pytest.mark.slow
def test_eight_processes_fifty_moves_each_lose_no_ledger_row(
    db_url: str, library: PromptLibrary
) -> None:
    # Real OS processes, forked from a clean server that imported promptkit once (spawn
    # would import it 8 times, ~2 s of CPU each); no connection is shared with the parent.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["promptkit.registry", __name__])
    start, results = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=worker, args=(db_url, str(library.root), n, start, results))
        for n in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert [error for _, _, error in reports if error] == []

    registry = Registry(db_url)
    with registry.engine.connect() as conn:
        rows = conn.execute(sa.select(ledger).order_by(ledger.c.id)).all()
        published = conn.execute(sa.select(sa.func.count()).select_from(versions)).scalar()
        migrations = conn.execute(sa.select(MIGRATIONS_TABLE.c.name).where(
            MIGRATIONS_TABLE.c.component == "registry")).scalars().all()
    created = sorted(i for _, ids, _ in reports for i in ids)
    assert len(rows) == PROCESSES * OPERATIONS == len(created) == len(set(created))
    assert created == [r.id for r in rows]
    assert published == 6 and sorted(migrations) == sorted(m.name for m in registered(["registry"]))
    for name, env in TARGETS:
        moves = [r for r in rows if (r.name, r.env) == (name, env)]
        pin = registry.current(name, env)
        assert pin is not None and (pin.version, pin.ledger_id) == (
            moves[-1].to_version, moves[-1].id)
        chained = [(a.to_version, b.from_version) for a, b in itertools.pairwise(moves)]
        assert all(to == after_from for to, after_from in chained), "a move read a stale pin"
    registry.close()


def opener(url: str, start: Any, results: Any) -> None:
    """Open (and so migrate) a registry at the same instant as the others."""
    try:
        start.wait(timeout=60)
        registry = Registry(url)
        registry.migrate()
        registry.close()
        results.put(None)
    except BaseException as error:
        results.put(repr(error))


@pytest.mark.slow
def test_eight_processes_opening_a_new_sqlite_file_together_never_find_it_locked(
    tmp_path: Path,
) -> None:
    """Switching a new file to WAL needs it alone, and SQLite refuses at once instead of
    waiting: this failed 5 rounds in 80 (1 run of this test in 3) before the switch was
    retried."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["promptkit.registry", __name__])
    errors = []
    for round_ in range(25):
        url = f"sqlite:///{tmp_path / f'r{round_}.db'}"
        start, results = context.Barrier(PROCESSES), context.Queue()
        processes = [context.Process(target=opener, args=(url, start, results))
                     for _ in range(PROCESSES)]
        for process in processes:
            process.start()
        errors += [e for e in (results.get(timeout=120) for _ in processes) if e]
        for process in processes:
            process.join(timeout=30)
    assert errors == []
