"""The process that writes a session's cassettes, so their files cost the calls no CPU.

    child = WriterProcess.start()
    failed = child.write([(path, {key: entry, ...}), ...])   # {path: error} of what failed
    child.close()

Formatting a cassette (pretty JSON, sorted) and writing it atomically takes about half a
millisecond of CPU per case; in the process making the calls that time is taken from them
under the GIL. The child is this interpreter running this module: it reads rounds from its
stdin (pickled lists of a path and the recordings to merge into it), writes each file as
`Cassette.flush` would (`merge_cassette`: the file's entries kept, written atomically) and
answers each round with one JSON line naming the files it could not write and why. A round
is answered once every file of it is on disk (or failed).

When the parent dies (even by SIGKILL) the child still writes the round it has, sees its
stdin end, and exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from promptkit.replay.cassette import Entry, merge_cassette

__all__ = ["WriterProcess"]

Round = list[tuple[str, dict[str, Entry]]]
"""The cassettes of one round: each path with the recordings to merge into its file."""


class WriterProcess:
    """The parent's end of one writer child: a round at a time (callers take turns)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        self._requests: IO[bytes] = process.stdin
        self._answers: IO[bytes] = process.stdout

    @classmethod
    def start(cls) -> WriterProcess:
        """A child running this module with this interpreter and this promptkit."""
        here = str(Path(__file__).resolve().parents[2])  # where this promptkit is imported from
        path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
        process = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path})  # fmt: skip
        return cls(process)

    def write(self, cassettes: Round) -> dict[str, str]:
        """Write `cassettes` and wait until they are on disk: {path: why} of those that are
        not. Raises OSError (a broken pipe, EOFError's kin) when the child is gone."""
        pickle.dump(cassettes, self._requests, protocol=pickle.HIGHEST_PROTOCOL)
        self._requests.flush()
        answer = self._answers.readline()
        if not answer:
            raise BrokenPipeError(f"the cassette writer process ended ({self._process.poll()})")
        failed: dict[str, str] = json.loads(answer)
        return failed

    def close(self, timeout: float = 10.0) -> None:
        """End the child once it has written what it was sent (idempotent)."""
        with contextlib.suppress(OSError):  # already gone
            self._requests.close()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._answers.close()


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The child: write every round read from `requests`, answer each on `answers`."""
    while True:
        try:
            cassettes: Round = pickle.load(requests)
        except EOFError:
            return
        failed = {path: why for path, recorded in cassettes
                  if (why := _written(Path(path), recorded)) is not None}
        answers.write(json.dumps(failed).encode() + b"\n")
        answers.flush()


def _written(path: Path, recorded: dict[str, Entry]) -> str | None:
    """None once `recorded` is in the file at `path`; otherwise why it is not."""
    try:
        merge_cassette(path, recorded)
    except Exception as exc:
        return repr(exc)
    return None


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the
    with contextlib.suppress(BrokenPipeError):    # parent ends the session; this writes on
        serve(sys.stdin.buffer, sys.stdout.buffer)
