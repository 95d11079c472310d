"""A typo in a lazily imported name is a type error, not `Any`: the packages' module
`__getattr__` is hidden from type checkers, which see the real imports instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_mypy_flags_a_misspelled_promptkit_name(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text("import promptkit\nimport promptkit.testing\n\n"
                      "promptkit.Clinet\npromptkit.testing.FakeOpenAIServr\npromptkit.get\n")
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", str(script)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stdout
    assert 'Module has no attribute "Clinet"; maybe "Client"?' in done.stdout
    assert 'has no attribute "FakeOpenAIServr"' in done.stdout
    assert "promptkit.get" not in done.stdout.split("error:")[-1]
    assert done.stdout.count("error:") == 2
