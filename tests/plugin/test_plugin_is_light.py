"""pytest loads the plugin in every run of every project with promptkit installed: a run
with no eval items must not pay for the SDK, pandas or SQLAlchemy."""

from __future__ import annotations

import pytest

HEAVY = ("openai", "httpx2", "pandas", "sqlalchemy", "jinja2", "jsonschema", "git")

PLAIN_TEST = f"""
import sys

def test_the_plugin_is_loaded_and_nothing_heavy_with_it():
    assert "promptkit.pytest_plugin" in sys.modules
    assert [m for m in {HEAVY!r} if m in sys.modules] == []
"""


def test_a_run_without_evals_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(PLAIN_TEST)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert "promptkit evals" not in result.stdout.str()
