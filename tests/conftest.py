"""Fixtures shared by every test folder."""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas  # noqa: F401  (see below)
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

# pytester's in-process runs unload the modules a run imported, and the next run imports
# them anew: numpy refuses that, and httpx2 classes seen by modules imported before stop
# matching (a connection error then escapes the SDK as httpx2's own ReadError). The plugin
# imports the eval stack only when a run has eval items, and httpx2 imports its connection
# layer (httpcore2, h11, truststore) on its first request; so the eval stack is imported
# here once, and one real call of each provider is made, before any pytester run. pandas
# (numpy) is imported by the eval stack only where results are read or written as tables,
# which may first happen inside a pytester run: so it is imported above too.
from promptkit.evals import gate_run, reports, session  # noqa: F401
from promptkit.testing import FakeOpenAIServer, TcpProxy


def _warm_up() -> None:
    from promptkit.core import Client, ModelConfig

    with FakeOpenAIServer() as server:
        configs = [ModelConfig(name="chat", model="m", base_url=server.base_url, api_key_env=""),
                   ModelConfig(name="responses", model="m", provider="openai-responses",
                               base_url=server.base_url, api_key_env="")]
        if importlib.util.find_spec("anthropic") is not None:
            configs.append(ModelConfig(name="anthropic", model="m", provider="anthropic",
                                       base_url=server.anthropic_base_url, api_key_env=""))
        with Client(configs) as client:
            for config in configs:
                client.call([{"role": "user", "content": "hi"}], config=config.name)
                list(client.stream([{"role": "user", "content": "hi"}], config=config.name))


_warm_up()

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example project (prompts/ and a pyproject.toml) in a temporary folder,
    made the working directory."""
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.promptkit.models.default]\nmodel = "gpt-4o-mini"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    for name in ("PROMPTKIT_ROOT", "PROMPTKIT_PROMPTS_DIR", "PROMPTKIT_DB_URL",
                 "PROMPTKIT_RETRY_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible server on 127.0.0.1 for one test."""
    with FakeOpenAIServer() as started:
        yield started


@pytest.fixture
def repo_root() -> Path:
    """The promptkit repository itself (its example prompts, evals and fixtures)."""
    return REPO


@pytest.fixture
def write_prompt() -> Callable[[Path, str, str, str], Path]:
    """A function writing `prompts/<name>/<version>.prompt` under a root folder."""

    def write(root: Path, name: str, version: str, text: str) -> Path:
        path = root / "prompts" / name / f"{version}.prompt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


# -- database servers: SQLite in a temporary folder, PostgreSQL and MariaDB on 127.0.0.1 --

POSTGRES_URL = os.environ.get(
    "PROMPTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("PROMPTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


def require_server(url: str, what: str) -> sa.Engine:
    """An engine on a test server, or skip (fail when CI=true) with the reason."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as error:
        engine.dispose()
        reason = f"{what} server not reachable at {make_url(url).render_as_string()}: {error.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the server is required)")
        pytest.skip(reason)
    return engine


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema of the `test` database, dropped after."""
    engine = require_server(POSTGRES_URL, "PostgreSQL")
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
    """A URL on a fresh database of the MariaDB/MySQL server, dropped after."""
    engine = require_server(MYSQL_URL, "MariaDB/MySQL")
    database = f"pk_{secrets.token_hex(6)}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    try:
        yield make_url(MYSQL_URL).set(database=database).render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite, PostgreSQL and MariaDB."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def postgres_proxy_url(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """The per-test PostgreSQL schema reached through a proxy the test can stop."""
    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield url.set(port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        proxy.stop()
