"""`promptkit view` as a process: it listens (on 127.0.0.1 only) fast, and serves pages."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from view_helpers import REPO

from promptkit.config import Settings
from promptkit.registry import Registry

WAIT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_view(root: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """The command in a subprocess, and the seconds until its port accepted a connection."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PROMPTKIT_VIEW_TOKEN", None)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", "from promptkit.cli import main; main()", "--project", str(root),
         "view", "--port", str(port), "--no-open"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    deadline = started + WAIT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, time.perf_counter() - started
        except OSError:
            assert process.poll() is None, process.communicate()
            assert time.perf_counter() < deadline, "promptkit view did not listen"
            time.sleep(0.005)


def listening_addresses(port: int) -> set[str]:
    """The local addresses listening on `port`, from /proc/net/tcp{,6} (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                found.add(address)
    return found


@pytest.mark.slow
def test_it_listens_on_loopback_only_and_serves_the_pages(settings: Settings,
                                                          registry: Registry) -> None:
    port = free_port()
    process, seconds = start_view(settings.root, port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/prompts", timeout=WAIT_S) as page:
            assert page.status == 200 and b"sentiment" in page.read()
        if not os.path.exists("/proc/net/tcp"):
            pytest.skip("no /proc/net/tcp to read the listening address from")
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
    finally:
        process.terminate()
        process.communicate(timeout=WAIT_S)
    # The figure is benchmarks/results/view_pages.json's (`startup_s`); here only a bound
    # that a loaded machine keeps too: the pages' imports wait for the first request.
    assert seconds < 10
