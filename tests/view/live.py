"""A real uvicorn server for an app on 127.0.0.1 and a free port, in a thread; Playwright's
Chromium (Debian's, with --no-sandbox), skipped where absent and required in CI."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support import chromium_path, require

WAIT_S = 30.0


@contextmanager
def served(app: Any) -> Iterator[str]:
    """`app` served by uvicorn on 127.0.0.1 and a free port; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()

    def wait() -> None:
        while not server.started and thread.is_alive():
            started.wait(0.01)
    waiter = threading.Thread(target=wait)
    waiter.start()
    waiter.join(WAIT_S)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        sock.close()


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium page."""
    import importlib.util

    require("playwright", importlib.util.find_spec("playwright") is not None,
            "pip install playwright (its browser download is not needed: Debian's chromium)")
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"],
                                              headless=True)
        try:
            page = chromium.new_page()
            page.set_default_timeout(WAIT_S * 1000)
            yield page
        finally:
            chromium.close()
