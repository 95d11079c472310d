"""Database URLs for registry tests: SQLite in a temporary folder, and a fresh schema on the
PostgreSQL and MariaDB servers at 127.0.0.1 (skipped when absent, failed when CI=true)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from promptkit.registry import Registry
from promptkit.templates.library import PromptLibrary

POSTGRES_URL = os.environ.get(
    "PROMPTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("PROMPTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REPO = Path(__file__).resolve().parents[2]
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
def library(tmp_path: Path) -> PromptLibrary:
    """A copy of the example prompts (sentiment, support_assistant, extract_contact)."""
    shutil.copytree(REPO / "prompts", tmp_path / "lib" / "prompts")
    return PromptLibrary(tmp_path / "lib" / "prompts")


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    registry = Registry(db_url)
    yield registry
    registry.close()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a server; `stop()` cuts every connection and refuses
    new ones, as a stopped database would; `start()` serves again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # shutdown wakes the thread in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._sockets.clear()


@pytest.fixture
def postgres_proxy_url(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """The per-test PostgreSQL schema reached through a proxy the test can stop."""
    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield url.set(port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        proxy.stop()
