"""Reading a file in few system calls; writing files so that no reader ever sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["read_bytes", "write_atomically"]


def read_bytes(path: Path) -> bytes:
    """The whole file at `path`, in four system calls where `Path.read_bytes` makes nine.
    Each releases the GIL and must take it back: a replay reads a recording per case on
    the loop thread while pytest's thread holds the GIL in turn. Raises as `open` does."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size + 1
        data = os.read(fd, size)
        if len(data) < size:  # the end reached: the usual case
            return data
        chunks = [data]  # the file grew since fstat: read on to its end
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


_CHUNK = 1 << 20


def write_atomically(path: Path, data: str | bytes, *, durable: bool = True) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then `os.replace` it into
    place: readers see the old file or the new one, never a torn one. With `durable=False`
    the fsync is left to the caller (one `os.sync()` after many files instead of one each);
    a crashed process still leaves a whole file, only a lost machine may not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
