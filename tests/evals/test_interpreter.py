"""How an eval run sets the interpreter: a short switch interval and rare full collections
while its calls run, both put back at its end, and its heap left unwalked at exit."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

from promptkit.evals.interpreter import FULL_COLLECTION_THRESHOLD, SWITCH_INTERVAL_S, RunInterpreter


def test_a_run_shortens_the_switch_interval_and_spaces_full_collections_then_restores() -> None:
    before_interval, before_thresholds = sys.getswitchinterval(), gc.get_threshold()
    try:
        sys.setswitchinterval(0.005)
        gc.set_threshold(700, 10, 10)
        found = RunInterpreter.enter()
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S
        assert gc.get_threshold() == (700, 10, FULL_COLLECTION_THRESHOLD)
        found.restore()
        assert (sys.getswitchinterval(), gc.get_threshold()) == (0.005, (700, 10, 10))
    finally:
        sys.setswitchinterval(before_interval)
        gc.set_threshold(*before_thresholds)


def test_what_is_left_at_exit_is_frozen_once_however_many_runs() -> None:
    script = textwrap.dedent("""
        import atexit, gc
        from promptkit.evals.interpreter import RunInterpreter

        freezes, freeze = [], gc.freeze
        gc.freeze = lambda: freezes.append(1) or freeze()
        # registered first, so it runs last: after the handler the runs registered
        atexit.register(lambda: print(f"at exit: {len(freezes)} freeze,",
                                      f"frozen {gc.get_freeze_count() > 0}"))
        for _ in range(3):
            RunInterpreter.enter().restore()
        print(f"before exit: frozen {gc.get_freeze_count() > 0}")
        """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["before exit: frozen False", "at exit: 1 freeze, frozen True"]
