"""publish → pin → rollback → history through the CLI, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.registry import Registry


@pytest.fixture
def run(project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROMPTKIT_DB_URL", db_url)
    monkeypatch.setenv("PROMPTKIT_ACTOR", "alice@ops")

    def invoke(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, list(args))
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_publish_pin_rollback_history_cycle(run, project: Path, db_url: str) -> None:
    code, out, err = run("publish")
    assert code == 0, err
    assert "7 published, 0 present, 0 refused" in err
    assert out.splitlines()[1].split()[:2] == ["published", "sentiment@1.0.0"]

    code, out, err = run("publish", "sentiment")  # idempotent
    assert (code, err.strip()) == (0, "0 published, 3 present, 0 refused")

    for version, reason in (("1.0.0", "first"), ("1.1.0", "mixed texts"), ("1.2.0", "examples")):
        code, out, err = run("pin", "sentiment", version, "--env", "production", "--reason", reason)
        assert code == 0, err
    assert out.strip().startswith("sentiment@production: 1.1.0 -> 1.2.0  (pin #3 by alice@ops)")

    code, out, err = run("rollback", "sentiment", "--env", "production", "--reason", "bad")
    assert (code, out.split("  ")[0]) == (0, "sentiment@production: 1.2.0 -> 1.1.0"), err
    code, out, err = run("rollback", "sentiment", "--env", "production", "--reason", "worse")
    assert out.split("  ")[0] == "sentiment@production: 1.1.0 -> 1.0.0"  # walks back, no toggle
    code, out, err = run("rollback", "sentiment", "--env", "production", "--to", "1.2.0",
                         "--reason", "fixed upstream")
    assert out.split("  ")[0] == "sentiment@production: 1.0.0 -> 1.2.0"

    code, out, err = run("history", "sentiment", "--env", "production", "--json")
    rows = json.loads(out)
    assert [(r["action"], r["from_version"], r["to_version"]) for r in rows] == [
        ("pin", None, "1.0.0"), ("pin", "1.0.0", "1.1.0"), ("pin", "1.1.0", "1.2.0"),
        ("rollback", "1.2.0", "1.1.0"), ("rollback", "1.1.0", "1.0.0"),
        ("rollback", "1.0.0", "1.2.0"),
    ]
    assert {r["actor"] for r in rows} == {"alice@ops"}
    assert [r["reason"] for r in rows][-1] == "fixed upstream"
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)

    code, out, err = run("history", "sentiment")
    assert len(out.splitlines()) == 6 and "fixed upstream" in out.splitlines()[-1]

    registry = Registry(db_url)
    pin = registry.current("sentiment", "production")
    assert pin is not None and (pin.version, pin.ledger_id) == ("1.2.0", rows[-1]["id"])
    published = registry.version("sentiment", "1.2.0")
    source = (project / "prompts" / "sentiment" / "1.2.0.prompt").read_text(encoding="utf-8")
    assert (published.source, published.published_by) == (source, "alice@ops")
    assert published.meta["output"]["mode"] == "json_schema"
    registry.close()


def test_released_versions_are_immutable(run, project: Path) -> None:
    run("publish", "sentiment")
    path = project / "prompts" / "sentiment" / "1.1.0.prompt"
    path.write_text(path.read_text(encoding="utf-8").replace("careful", "sloppy"), "utf-8")
    code, out, err = run("publish", "sentiment")
    assert code == 2
    refused = next(line for line in out.splitlines() if line.startswith("refused"))
    assert "sentiment@1.1.0 is published with different content" in refused
    assert "released versions are immutable" in refused
    assert "0 published, 2 present, 1 refused" in err


def test_only_published_versions_can_be_pinned(run) -> None:
    code, _, err = run("pin", "sentiment", "1.0.0", "--env", "production", "--reason", "x")
    assert code == 2 and "nothing is published under the name 'sentiment'" in err
    run("publish", "sentiment")
    code, _, err = run("pin", "sentiment", "9.9.9", "--env", "production", "--reason", "x")
    assert code == 2
    assert "sentiment@9.9.9 is not published (published: 1.0.0, 1.1.0, 1.2.0)" in err
    code, _, err = run("rollback", "sentiment", "--env", "staging", "--reason", "x")
    assert code == 2 and "no pin in staging" in err
    code, _, err = run("pin", "sentiment", "1.0.0", "--env", "production", "--reason", " ")
    assert code == 2 and "a reason is required" in err
    code, _, err = run("pin", "sentiment", "1.0.0", "--env", "production")
    assert code == 2 and "Missing option '--reason'" in err
