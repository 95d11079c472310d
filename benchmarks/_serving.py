"""What the registry's benchmarks share: a fresh PostgreSQL schema for their tables, a
serving loop that reports each switch of version, and a percentile."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from promptkit.registry import Resolver


@contextmanager
def fresh_schema(url: str, prefix: str) -> Iterator[str]:
    """`url` with its search_path on a new schema named `prefix_<random>`, dropped after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield make_url(url).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def follow(resolver: Resolver, name: str, env: str, events: Any, stop: Any,
           pause_s: float = 0.0) -> None:
    """Resolve `name@env` in a loop (a `get()`, then `pause_s`) until `stop` is set; put
    ("ready", version, time) on `events`, then ("seen", version, time) at each switch."""
    last = resolver.get(name, env=env).version
    events.put(("ready", last, time.monotonic()))
    while not stop.is_set():
        version = resolver.get(name, env=env).version
        if version != last:
            events.put(("seen", version, time.monotonic()))
            last = version
        if pause_s:
            time.sleep(pause_s)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
