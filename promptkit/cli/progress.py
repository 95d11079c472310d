"""The progress line of long commands (gates, red-team runs, calibrations): redrawn in
place on a terminal's stderr, and nothing at all in CI logs, pipes or with --quiet."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from promptkit.evals.progress import Progress
from promptkit.evals.session import EvalSession

__all__ = ["REDRAW_S", "progress_line", "shows_progress", "watching"]

REDRAW_S = 0.2


def shows_progress(stream: TextIO, *, quiet: bool, environ: dict[str, str] | None = None) -> bool:
    """A progress line goes only to a terminal, never under CI (`CI` set) or --quiet."""
    env = os.environ if environ is None else environ
    return not quiet and not env.get("CI") and stream.isatty() and env.get("TERM") != "dumb"


@contextmanager
def progress_line(progress: Progress, *, enabled: bool,
                  stream: TextIO | None = None) -> Iterator[Progress]:
    """While the block runs, redraw `progress` on one line every REDRAW_S (dim unless
    NO_COLOR is set); the line is cleared when the block ends."""
    out = stream or sys.stderr
    if not enabled:
        yield progress
        return
    stop = threading.Event()
    thread = threading.Thread(target=_redraw, args=(progress, out, stop),
                              name="promptkit-progress", daemon=True)
    thread.start()
    try:
        yield progress
    finally:
        stop.set()
        thread.join()
        out.write("\r\x1b[2K")
        out.flush()


@contextmanager
def watching(session: EvalSession, title: str, *, quiet: bool) -> Iterator[Progress]:
    """Count `session`'s results under `title`, shown as a progress line on a terminal."""
    session.progress = Progress(title)
    with progress_line(session.progress, enabled=shows_progress(sys.stderr, quiet=quiet)):
        yield session.progress


def _redraw(progress: Progress, out: TextIO, stop: threading.Event) -> None:
    dim = not os.environ.get("NO_COLOR")
    while not stop.wait(REDRAW_S):
        width = shutil.get_terminal_size((100, 20)).columns - 1
        text = progress.snapshot().line()[:width]
        out.write("\r\x1b[2K" + (f"\x1b[2m{text}\x1b[0m" if dim else text))
        out.flush()
