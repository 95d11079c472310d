"""Fixtures of the call log tests: a fake server, configs for it, and database URLs (SQLite
in a temporary folder; PostgreSQL and MariaDB at 127.0.0.1 when they run)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from promptkit.core import ModelConfig, RetryPolicy
from promptkit.testing import FakeOpenAIServer

POSTGRES_URL = os.environ.get(
    "PROMPTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("PROMPTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
FAST = RetryPolicy(max_attempts=5, backoff_base_s=0.01, backoff_cap_s=0.05)
ASK = [{"role": "user", "content": "Say something."}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as started:
        yield started


def config_for(server: FakeOpenAIServer, name: str = "main", **fields: Any) -> ModelConfig:
    values: dict[str, Any] = {"name": name, "model": "gpt-4o-mini", "base_url": server.base_url,
                              "api_key_env": "", "max_retries": 0, **fields}  # fmt: skip
    return ModelConfig.model_validate(values)


def _require(url: str, what: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as error:
        engine.dispose()
        reason = f"{what} not reachable at {make_url(url).render_as_string()}: {error.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the server is required)")
        pytest.skip(reason)
    return engine


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'calls.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    engine = _require(POSTGRES_URL, "PostgreSQL")
    schema = f"pk_{secrets.token_hex(6)}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    engine = _require(MYSQL_URL, "MariaDB/MySQL")
    database = f"pk_{secrets.token_hex(6)}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    try:
        yield make_url(MYSQL_URL).set(database=database).render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
        engine.dispose()


@pytest.fixture(params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
])  # fmt: skip
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))
