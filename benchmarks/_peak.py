"""Peak RSS of one command, measured from outside: run as a fresh, small process that
forks the command and reads the child's `ru_maxrss` from `os.wait4`.

    python -S benchmarks/_peak.py CMD [ARGS...]   # prints {"peak_mb": ..., "wall_s": ...}

Why a launcher: on Linux a child's `ru_maxrss` starts from the memory of the process that
forked it (the copy made by `fork` counts until `exec`), so a benchmark driver that has
imported promptkit and forks a child reports its own peak when the child's is lower. This
launcher is a freshly exec'd interpreter of about 10 MB with only the standard library's
`os`, `sys`, `json` and `time` loaded, so the figure it reports is the command's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

__all__ = ["measure"]


def measure(command: list[str], cwd: str | None = None) -> dict[str, float]:
    """Run `command` under this launcher in a fresh interpreter: its peak RSS and wall."""
    done = subprocess.run([sys.executable, "-S", __file__, *command], cwd=cwd,
                          capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def _launch(command: list[str]) -> None:
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{command[0]} exited with {code}")
    print(json.dumps({"peak_mb": round(usage.ru_maxrss / 1024, 1), "wall_s": round(wall, 3)}))


if __name__ == "__main__":
    _launch(sys.argv[1:])
