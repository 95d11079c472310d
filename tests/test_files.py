"""Reading a whole file in few system calls, whatever its size and however it grows."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from promptkit.files import read_bytes


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 3 * 1024 * 1024 + 7])
def test_a_file_is_read_whole(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    assert read_bytes(tmp_path / "f") == data


def test_a_file_longer_than_its_size_said_is_read_to_its_end(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"  # a pipe reports size 0 and then delivers megabytes
    os.mkfifo(fifo)
    data = os.urandom(3 * 1024 * 1024 + 11)

    def write() -> None:
        with fifo.open("wb") as out:
            out.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert read_bytes(fifo) == data
    finally:
        writer.join()


def test_what_cannot_be_read_raises_as_open_does(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bytes(tmp_path / "missing")
    with pytest.raises(IsADirectoryError):
        read_bytes(tmp_path)
