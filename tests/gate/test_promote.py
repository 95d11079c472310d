"""`promptkit promote`: refused without a passing gate for the exact content against the
current pin, done after one, `--force --reason` recorded as such; the ledger shows each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_helpers import Invoke

from promptkit.config import load_settings
from promptkit.errors import PromotionRefusedError, UsageError
from promptkit.evals.promotion import promote
from promptkit.registry import Registry


@pytest.fixture
def pinned(promptkit: Invoke) -> Invoke:
    """Every version published; production serves 1.0.0."""
    assert promptkit("publish", "parity")[0] == 0
    code, _, err = promptkit("pin", "parity", "1.0.0", "--env", "production", "--reason", "first")
    assert code == 0, err
    return promptkit


def ledger(invoke: Invoke) -> list[tuple[str, str | None, str, str]]:
    entries = json.loads(invoke("history", "parity", "--env", "production", "--json")[1])
    return [(e["action"], e["from_version"], e["to_version"], e["reason"]) for e in entries]


def test_promote_refuses_without_a_passing_gate_and_succeeds_after_one(pinned: Invoke) -> None:
    code, out, err = pinned("promote", "parity", "1.2.0", "--env", "production")
    assert code == 1 and out == ""
    assert "refusing to promote parity@1.2.0 to production: no passing gate" in err
    assert "Run `promptkit gate parity --candidate 1.2.0 --baseline production`" in err
    assert ledger(pinned) == [("pin", None, "1.0.0", "first")]  # nothing moved

    code, _, _ = pinned("gate", "parity", "--candidate", "1.2.0", "--baseline", "production")
    assert code == 0
    code, out, err = pinned("promote", "parity", "1.2.0", "--env", "production",
                            "--reason", "reworded")
    assert code == 0, err
    assert out.startswith("parity@production: 1.0.0 -> 1.2.0  (promote #2 by alice@ci; "
                          "reworded; gate #1 passed against 1.0.0)")
    assert ledger(pinned) == [("pin", None, "1.0.0", "first"),
                              ("promote", "1.0.0", "1.2.0", "reworded; gate #1 passed against 1.0.0")]

    assert pinned("promote", "parity", "1.1.0", "--env", "production")[0] == 1  # never gated
    code, _, _ = pinned("promote", "parity", "1.1.0", "--env", "production", "--force",
                        "--reason", "incident 42: revert the wording")
    assert code == 0
    assert [row[0] for row in ledger(pinned)] == ["pin", "promote", "force"]


def test_a_failing_gate_does_not_open_the_way_and_is_named(pinned: Invoke) -> None:
    assert pinned("gate", "parity", "--candidate", "1.1.0", "--baseline", "production")[0] == 1
    code, _, err = pinned("promote", "parity", "1.1.0", "--env", "production")
    assert code == 1
    assert "The last one, gate #1 failed: parity@1.1.0 against 1.0.0 (production)" in err


def test_force_needs_a_reason_and_the_ledger_records_it(pinned: Invoke) -> None:
    code, _, err = pinned("promote", "parity", "1.1.0", "--env", "production", "--force")
    assert code == 2 and "--force needs --reason" in err
    code, out, err = pinned("promote", "parity", "1.1.0", "--env", "production", "--force",
                            "--reason", "hotfix: legal asked for the new wording")
    assert code == 0, err
    assert "(force #2 by alice@ci; forced: hotfix: legal asked for the new wording)" in out
    assert ledger(pinned)[-1] == ("force", "1.0.0", "1.1.0",
                                  "hotfix: legal asked for the new wording")


def test_a_gate_against_another_baseline_does_not_count(pinned: Invoke) -> None:
    """The gate must be against the content production serves now, not any version."""
    assert pinned("gate", "parity", "--candidate", "1.2.0", "--baseline", "0.9.0")[0] == 0
    assert pinned("promote", "parity", "1.2.0", "--env", "production")[0] == 1
    pinned("pin", "parity", "0.9.0", "--env", "production", "--reason", "back to the old one")
    assert pinned("promote", "parity", "1.2.0", "--env", "production")[0] == 0


def test_the_library_function(pinned: Invoke, gate_project: Path) -> None:
    registry = Registry(load_settings(gate_project).database_url)
    with pytest.raises(PromotionRefusedError) as refused:
        promote(registry, "parity", "1.2.0", env="production")
    assert (refused.value.env, refused.value.command) == (
        "production", "promptkit gate parity --candidate 1.2.0 --baseline production")
    with pytest.raises(PromotionRefusedError, match="has no pin in staging"):
        promote(registry, "parity", "1.2.0", env="staging")
    with pytest.raises(UsageError):
        promote(registry, "parity", "1.2.0", env="production", force=True, reason=" ")
    same = promote(registry, "parity", "1.0.0", env="production")
    assert same.entry is None  # already served: no ledger row
    registry.close()


def test_a_pin_moved_between_the_gate_check_and_the_move_refuses_the_promotion(
    pinned: Invoke, gate_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone rolls production to 0.9.0 while promote checks 1.2.0's gate against 1.0.0:
    the promotion must not land on 0.9.0, which 1.2.0 was never gated against."""
    assert pinned("gate", "parity", "--candidate", "1.2.0", "--baseline", "production")[0] == 0
    registry = Registry(load_settings(gate_project).database_url)
    passing = Registry.passing_gate

    def check_then_race(self: Registry, *args: str) -> object:
        found = passing(self, *args)
        Registry(load_settings(gate_project).database_url).pin(
            "parity", "0.9.0", env="production", reason="incident: roll back", actor="bob")
        return found

    monkeypatch.setattr(Registry, "passing_gate", check_then_race)
    with pytest.raises(PromotionRefusedError, match=r"gate passed against 1\.0\.0, but parity "
                       r"in production moved .* serves 0\.9\.0"):
        promote(registry, "parity", "1.2.0", env="production")
    registry.close()
    assert ledger(pinned)[-1][:3] == ("pin", "1.0.0", "0.9.0")  # bob's move stands alone
