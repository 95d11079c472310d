"""Database URLs for registry tests: SQLite in a temporary folder, and a fresh schema on the
PostgreSQL and MariaDB servers at 127.0.0.1 (skipped when absent, failed when CI=true)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from promptkit.registry import Registry
from promptkit.templates.library import PromptLibrary

REPO = Path(__file__).resolve().parents[2]


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
