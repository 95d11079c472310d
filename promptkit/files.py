"""Writing files so that no reader ever sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


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
