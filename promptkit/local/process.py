"""A server process in its own process group: spawn it, wait until it answers, end it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptkit.errors import LocalServerError

__all__ = [
    "free_port",
    "is_alive",
    "log_tail",
    "port_in_use",
    "runs_command",
    "spawn",
    "terminate",
    "wait_ready",
]

_POLL_S = 0.1
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Talks to 127.0.0.1 directly, whatever HTTP_PROXY says."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Does something accept connections on 127.0.0.1:`port`?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def spawn(argv: Sequence[str], *, log_path: Path | None) -> subprocess.Popen[bytes]:
    """Start `argv` as the leader of a new session; output to `log_path` (or this terminal)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if log_path is None:
        return subprocess.Popen(list(argv), env=env, start_new_session=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )


def wait_ready(
    process: subprocess.Popen[bytes], url: str, *, timeout_s: float, log_path: Path | None
) -> Any:
    """Poll `url` until it answers 200 (its JSON is returned) or the process exits.

    On exit or timeout the process group is ended and `LocalServerError` quotes the log.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        code = process.poll()
        if code is not None:
            raise LocalServerError(
                f"the local server exited with code {code} before answering at {url}",
                log_path=log_path, log_tail=log_tail(log_path), returncode=code,
            )
        answer = _get_json(url)
        if answer is not None:
            return answer
        if time.monotonic() >= deadline:
            terminate(process.pid)
            raise LocalServerError(
                f"the local server did not answer at {url} within {timeout_s:g} s",
                log_path=log_path, log_tail=log_tail(log_path),
            )
        time.sleep(_POLL_S)


def _get_json(url: str) -> Any:
    try:
        with _DIRECT.open(url, timeout=2) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError, urllib.error.URLError):
        return None


def is_alive(pid: int) -> bool:
    """Is `pid` a running process (a zombie is not)?"""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our own child, just reaped
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def runs_command(pid: int, argv: Sequence[str]) -> bool:
    """Is `pid` still the process started with `argv` (not a reused pid)? True without /proc."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self/cmdline").exists():
        return True
    try:
        return cmdline.read_bytes().rstrip(b"\0").split(b"\0") == [a.encode() for a in argv]
    except OSError:
        return False


def terminate(pid: int, *, grace_s: float = 10.0) -> bool:
    """SIGTERM the process group led by `pid`, SIGKILL it after `grace_s`; False if gone."""
    if not is_alive(pid):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal_group(pid, sig)
        if _gone_within(pid, grace_s):
            break
    return True


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S / 2)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def log_tail(path: Path | None, lines: int = 20) -> str:
    """The last `lines` lines of a log file ("" when there is none)."""
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
