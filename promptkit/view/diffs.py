"""Line diffs of two prompt sources (difflib), as rows a template shows."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

__all__ = ["DiffLine", "line_diff"]


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff: kept (`same`), removed (`del`) or added (`ins`), with its line
    numbers in the old and the new text."""

    kind: Literal["same", "del", "ins"]
    old: int | None
    new: int | None
    text: str


def line_diff(old: str, new: str) -> list[DiffLine]:
    """Every line of both texts in order, each marked kept, removed or added."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[DiffLine] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [DiffLine("same", i + 1, j + 1, a[i]) for i, j in
                     zip(range(i1, i2), range(j1, j2), strict=True)]
            continue
        rows += [DiffLine("del", i + 1, None, a[i]) for i in range(i1, i2)]
        rows += [DiffLine("ins", None, j + 1, b[j]) for j in range(j1, j2)]
    return rows
