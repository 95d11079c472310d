"""How the interpreter is set while eval calls run, and set back when they end.

An eval run is a batch job inside one interpreter: a loop thread making the calls beside the
main thread reporting items (pytest), and a heap of items, results and recent recordings
that lives as long as the run. Three of Python's defaults suit neither.
"""

from __future__ import annotations

import atexit
import gc
import sys
from dataclasses import dataclass

__all__ = ["FULL_COLLECTION_THRESHOLD", "SWITCH_INTERVAL_S", "RunInterpreter", "freeze_at_exit"]

SWITCH_INTERVAL_S = 0.0005
"""The GIL switch interval while eval calls run. At Python's default 5 ms a response that
has arrived can wait that long before the loop thread may parse it, which stretches every
call."""

FULL_COLLECTION_THRESHOLD = 100
"""Young collections between two chances of a full one (Python's default: 10). A full
collection walks every live object, and Python starts one each time the objects that
outlived the young collections have grown by a quarter. A run's heap grows by its results
from start to end, so by default a run of 10,000 replayed cases walked its heap ten times:
1.7 s of its 4.7 s of calls. Garbage that dies young is collected exactly as before."""


def freeze_at_exit() -> None:
    """At interpreter exit, move every object left to the permanent generation, which the
    exit's last collection does not walk. Without it that collection freed a run's whole
    heap object by object: 1.5 s after a 10,000-case replay of 9 s. Python does not promise
    to finalize objects that still exist at exit; memory goes back to the system as the
    process ends."""
    gc.freeze()


@dataclass(frozen=True)
class RunInterpreter:
    """The settings found when a run began, to put back when it ends."""

    switch_interval: float
    thresholds: tuple[int, int, int]

    @classmethod
    def enter(cls) -> RunInterpreter:
        """Set the interpreter for a run; returns what to restore."""
        found = cls(sys.getswitchinterval(), gc.get_threshold())
        atexit.unregister(freeze_at_exit)  # registered once, however many runs
        atexit.register(freeze_at_exit)
        sys.setswitchinterval(min(found.switch_interval, SWITCH_INTERVAL_S))
        young, middle, full = found.thresholds
        gc.set_threshold(young, middle, max(full, FULL_COLLECTION_THRESHOLD))
        return found

    def restore(self) -> None:
        sys.setswitchinterval(self.switch_interval)
        gc.set_threshold(*self.thresholds)
