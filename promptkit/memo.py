"""Results computed from a JSON-like value that is used again and again: a prompt's output
schema on every call, its inputs' schemas on every render."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["ValueMemo"]

R = TypeVar("R")


class ValueMemo(Generic[R]):
    """`compute(value)`, remembered by the value's identity for as long as the value still
    equals a copy taken when it was remembered. Two equal values that are different objects
    are each computed once; a value changed in place is computed again. Keyed by identity
    because these values are dicts (not hashable), and a lookup by identity with a
    comparison costs far less than serialising the value to find it by content.

    Holds at most `size` values (and keeps each alive meanwhile, so no other object takes
    its identity). Safe across threads: at worst two threads compute the same value."""

    def __init__(self, compute: Callable[[Any], R], size: int = 256) -> None:
        self._compute = compute
        self._size = size
        self._known: dict[int, tuple[Any, Any, R]] = {}
        self._lock = threading.Lock()

    def __call__(self, value: Any) -> R:
        known = self._known.get(id(value))
        if known is not None and known[0] is value and known[1] == value:
            return known[2]
        result = self._compute(value)
        with self._lock:
            if len(self._known) >= self._size:
                del self._known[next(iter(self._known))]  # the oldest
            self._known[id(value)] = (value, copy.deepcopy(value), result)
        return result
