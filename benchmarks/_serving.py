"""A fresh PostgreSQL schema for a benchmark's tables (only the standard library and
SQLAlchemy: a benchmark's child processes import it cheaply)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url


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
