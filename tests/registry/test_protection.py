"""Protected environments on SQLite, PostgreSQL and MariaDB: a passing gate required for a
pin, approvals by a second actor, allowed actors, what an incident rollback may skip; every
refusal names its rule, every override is in the ledger, every rule change and approval is
in the hash chain with the database user that wrote it."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.errors import (
    ApprovalPendingError,
    PinMovedError,
    ProtectedEnvironmentError,
    UsageError,
)
from promptkit.registry import Registry, Resolver
from promptkit.registry.records import EnvRules
from promptkit.registry.schema import env_rule_history, ledger, move_requests, pins
from promptkit.templates.library import PromptLibrary


@pytest.fixture
def live(registry: Registry, library: PromptLibrary) -> Registry:
    """sentiment 1.0.0 serves production; production is not protected yet."""
    registry.publish_library(library)
    registry.pin("sentiment", "1.0.0", env="production", reason="first", actor="alice")
    return registry


def passing_gate(registry: Registry, candidate: str, baseline: str, passed: bool = True) -> None:
    cand, base = registry.version("sentiment", candidate), registry.version("sentiment", baseline)
    registry.record_gate({
        "name": "sentiment", "candidate_version": candidate,
        "candidate_hash": cand.content_hash, "baseline_version": baseline,
        "baseline_hash": base.content_hash, "baseline_label": "production", "passed": passed,
        "summary": {"verdict": "pass" if passed else "regression"},
        "at": datetime.now(UTC), "actor": "ci",
    })


def serving(registry: Registry) -> str:
    pin = registry.current("sentiment", "production")
    assert pin is not None
    return pin.version


def test_a_required_gate_refuses_a_pin_until_one_passes(live: Registry) -> None:
    live.protect(EnvRules("production", require_gate=True), reason="release policy")
    with pytest.raises(ProtectedEnvironmentError) as refused:
        live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    assert refused.value.rule == "require_gate"
    assert str(refused.value).startswith(
        "refused by production's rule require_gate: pin of sentiment@1.1.0: no passing gate")
    assert "promptkit gate sentiment --candidate 1.1.0 --baseline production" in str(
        refused.value)
    passing_gate(live, "1.1.0", "1.0.0", passed=False)  # a failed gate is no gate
    with pytest.raises(ProtectedEnvironmentError):
        live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    assert serving(live) == "1.0.0"
    passing_gate(live, "1.1.0", "1.0.0")
    entry = live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    assert (entry.to_version, serving(live)) == ("1.1.0", "1.1.0")
    live.pin("sentiment", "1.0.0", env="staging", reason="unprotected", actor="alice")


def test_force_overrides_the_gate_and_the_ledger_says_so(live: Registry) -> None:
    live.protect(EnvRules("production", require_gate=True), reason="release policy")
    entry = live.pin("sentiment", "1.2.0", env="production", reason="hotfix, gate later",
                     actor="alice", action="force")
    assert entry.action == "force"
    assert entry.reason == "hotfix, gate later (overrides production's rule require_gate)"
    assert live.history("sentiment", "production")[-1].reason == entry.reason


def test_an_approval_by_a_second_actor_completes_a_pending_move(live: Registry) -> None:
    live.protect(EnvRules("production", approvers=("alice", "bob"), approvals=1),
                 reason="two people", actor="admin")
    with pytest.raises(ApprovalPendingError) as pending:
        live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    request_id = pending.value.request_id
    assert f"waiting as request #{request_id}; the pin has not moved" in str(pending.value)
    assert serving(live) == "1.0.0"
    assert [r.id for r in live.requests()] == [request_id]
    with pytest.raises(ProtectedEnvironmentError, match="cannot approve it too"):
        live.approve(request_id, actor="alice")
    with pytest.raises(ProtectedEnvironmentError, match="'mallory' is not one of its approvers"):
        live.approve(request_id, actor="mallory")
    request, entry = live.approve(request_id, actor="bob", reason="looks right")
    assert entry is not None and request.state == "done"
    assert serving(live) == "1.1.0"
    assert entry.actor == "alice"
    assert entry.reason == f"ship; approved by bob (request #{request_id})"
    assert live.requests() == []
    with pytest.raises(UsageError, match="is done already"):
        live.approve(request_id, actor="bob")
    assert live.verify_ledger().ok


def test_two_approvals_are_two_distinct_approvers(live: Registry) -> None:
    live.protect(EnvRules("production", approvers=("bob", "carol", "dave"), approvals=2),
                 reason="two approvals")
    with pytest.raises(ApprovalPendingError) as pending:
        live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    request_id = pending.value.request_id
    request, entry = live.approve(request_id, actor="bob")
    assert (entry, request.approved_by, request.state) == (None, ("bob",), "pending")
    with pytest.raises(UsageError, match="bob approved request"):
        live.approve(request_id, actor="bob")
    request, entry = live.approve(request_id, actor="carol")
    assert entry is not None and "approved by bob, carol" in entry.reason
    assert serving(live) == "1.1.0"


def test_a_rejected_or_overtaken_request_does_not_land(live: Registry) -> None:
    live.protect(EnvRules("production", approvers=("bob",), approvals=1), reason="review")
    with pytest.raises(ApprovalPendingError) as first:
        live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    request, entry = live.approve(first.value.request_id, actor="bob", reject=True)
    assert (request.state, entry) == ("rejected", None)
    with pytest.raises(ApprovalPendingError) as second:
        live.pin("sentiment", "1.2.0", env="production", reason="ship", actor="alice")
    with pytest.raises(ApprovalPendingError) as third:
        live.pin("sentiment", "1.1.0", env="production", reason="other", actor="alice")
    live.approve(third.value.request_id, actor="bob")
    assert serving(live) == "1.1.0"
    with pytest.raises(PinMovedError, match="moved since request"):
        live.approve(second.value.request_id, actor="bob")
    assert serving(live) == "1.1.0"


def test_only_allowed_actors_move_the_pins(live: Registry) -> None:
    live.protect(EnvRules("production", allowed_actors=("release-bot",)), reason="bot only")
    with pytest.raises(ProtectedEnvironmentError) as refused:
        live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    assert refused.value.rule == "allowed_actors"
    assert "'alice' is not one of release-bot" in str(refused.value)
    with pytest.raises(ProtectedEnvironmentError, match="allowed_actors"):
        live.rollback("sentiment", env="production", reason="incident", actor="alice",
                      to="1.0.0")
    live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="release-bot")


def test_an_incident_rollback_to_a_served_version_needs_only_a_reason(live: Registry) -> None:
    passing_gate(live, "1.1.0", "1.0.0")
    live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    live.protect(EnvRules("production", require_gate=True, approvers=("bob",), approvals=1),
                 reason="lock it down")
    entry = live.rollback("sentiment", env="production", reason="incident", actor="alice")
    assert (entry.to_version, serving(live)) == ("1.0.0", "1.0.0")
    assert entry.reason == ("incident (a rollback to a version production served before: "
                            "skips its rule require_gate, approvals)")
    # a "rollback" to a version production never served is a release: every rule applies
    with pytest.raises(ProtectedEnvironmentError, match="require_gate"):
        live.rollback("sentiment", env="production", reason="sneak", actor="alice", to="1.2.0")


def test_a_rollback_skips_only_what_the_rules_let_it(live: Registry) -> None:
    live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    live.protect(EnvRules("production", approvers=("bob",), approvals=1, rollback_skips=()),
                 reason="even rollbacks are reviewed")
    with pytest.raises(ApprovalPendingError):
        live.rollback("sentiment", env="production", reason="incident", actor="alice")
    assert serving(live) == "1.1.0"


def test_rules_are_checked_when_set() -> None:
    with pytest.raises(UsageError, match="2 approvals needed but 1 approver"):
        EnvRules("production", approvers=("bob",), approvals=2)
    with pytest.raises(UsageError, match="rollback may skip gate and approval, not tests"):
        EnvRules("production", rollback_skips=("tests",))


def test_rule_changes_and_approvals_are_chained(live: Registry) -> None:
    live.protect(EnvRules("production", approvers=("bob",), approvals=1), reason="review")
    with pytest.raises(ApprovalPendingError) as pending:
        live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    live.approve(pending.value.request_id, actor="bob")
    assert live.rules("production").revision == 1
    check = live.verify_ledger()
    assert check.ok and check.rows == 6  # 2 pins, 1 rule change, request + approve + done
    with live.engine.begin() as conn:  # weaken the recorded rules after the fact
        conn.execute(env_rule_history.update().values(rules={"approvals": 0}))
    check = live.verify_ledger()
    assert (check.kind, check.problem) == ("rules", "rule change 1 was changed after it was "
                                                    "written")


def test_an_approval_forged_by_hand_is_found(live: Registry) -> None:
    live.protect(EnvRules("production", approvers=("bob",), approvals=1), reason="review")
    with pytest.raises(ApprovalPendingError) as pending:
        live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    request = live.requests()[0]
    with live.engine.begin() as conn:
        conn.execute(move_requests.insert().values(
            request_id=request.id, event="approve", name="sentiment", env="production",
            version="1.1.0", content_hash=request.content_hash, action="pin",
            actor="bob", at=datetime.now(UTC), reason="approved"))
    check = live.verify_ledger()
    assert not check.ok and check.kind == "approval"
    assert check.problem == f"approval event {check.row} has no hash: it was inserted by hand"
    assert pending.value.request_id == request.id


def test_the_database_user_is_recorded_next_to_the_claimed_actor(live: Registry) -> None:
    entry = live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="bob")
    with live.engine.connect() as conn:
        who: Any = (None if conn.dialect.name == "sqlite"
                    else conn.execute(sa.select(sa.func.current_user())).scalar())
        stored = conn.execute(sa.select(ledger.c.db_user).where(ledger.c.id == entry.id)).scalar()
    assert entry.db_user == stored == who
    if who is not None:
        assert live.history("sentiment")[-1].db_user == who
        with live.engine.begin() as conn:  # claiming another database user is found
            conn.execute(ledger.update().where(ledger.c.id == entry.id).values(db_user="admin"))
        assert live.verify_ledger().problem == (
            f"pin ledger row {entry.id} was changed after it was written")


# -- through the CLI, as a release engineer and an approver would --------------------------

@pytest.fixture
def run(project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setenv("PROMPTKIT_DB_URL", db_url)

    def invoke(actor: str, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, list(args), env={"PROMPTKIT_ACTOR": actor})
        return result.exit_code, result.stdout, result.stderr

    assert invoke("admin", "publish")[0] == 0
    assert invoke("alice", "pin", "sentiment", "1.0.0", "--env", "production",
                  "--reason", "first")[0] == 0
    return invoke


Invoke = Callable[..., tuple[int, str, str]]


def test_a_refusal_is_one_line_naming_the_rule_exit_1(run: Invoke) -> None:
    code, out, _ = run("admin", "env", "protect", "production", "--require-gate",
                       "--reason", "release policy")
    assert code == 0
    assert out.splitlines() == [
        "production (rules revision 1):",
        "  a move needs a passing gate against what it serves now",
        "  a rollback to a version it served before skips gate and approval"]
    code, out, err = run("alice", "pin", "sentiment", "1.1.0", "--env", "production",
                         "--reason", "ship")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith(
        "error: refused by production's rule require_gate: pin of sentiment@1.1.0")


def test_a_pending_move_is_approved_from_the_command_line(run: Invoke) -> None:
    run("admin", "env", "protect", "production", "--approver", "bob", "--reason", "review")
    code, _, err = run("alice", "pin", "sentiment", "1.1.0", "--env", "production",
                       "--reason", "ship")
    assert code == 1 and "waiting as request #" in err and "promptkit approve" in err
    code, out, _ = run("bob", "approve")
    assert code == 0 and out.startswith("#") and "pending  pin sentiment@1.1.0 to production " in out
    request_id = out.split()[0][1:]
    assert "by alice" in out
    assert run("alice", "approve", request_id)[0] == 1  # the requester cannot approve
    code, out, _ = run("bob", "approve", request_id, "--reason", "checked")
    assert code == 0
    assert out.startswith("sentiment@production: 1.0.0 -> 1.1.0  (pin #")
    assert f"approved by bob (request #{request_id})" in out
    code, out, _ = run("bob", "history", "--verify")
    assert code == 0 and out.startswith("history verified: 6 entries")
    code, out, _ = run("bob", "env", "show")
    assert "a move needs 1 approval(s) from bob (never the requester)" in out


def test_the_resolver_warns_when_the_ledger_under_its_pin_is_not_what_was_written(
    live: Registry,
) -> None:
    live.pin("sentiment", "1.1.0", env="production", reason="ship", actor="alice")
    assert _served(live) == ("1.1.0", [])
    target = live.version("sentiment", "1.2.0")
    with live.engine.begin() as conn:  # point production elsewhere, around the ledger
        conn.execute(pins.update().where(pins.c.env == "production").values(
            version="1.2.0", content_hash=target.content_hash))
    version, warned = _served(live)
    assert version == "1.2.0"
    assert warned == ["promptkit: sentiment@production serves 1.2.0, but pin ledger row 2 "
                      "moved it to 1.1.0: the pin was set by hand; run `promptkit history "
                      "--verify`"]
    with live.engine.begin() as conn:
        conn.execute(ledger.update().where(ledger.c.id == 2).values(to_version="1.2.0",
                                                                      reason="shh"))
    assert "pin ledger row 2, which put the pin there, was changed" in _served(live)[1][0]


def _served(registry: Registry) -> tuple[str, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolver = Resolver(registry, cache_dir=None)
        version = resolver.get("sentiment", "production").prompt.version
    return version, [str(w.message) for w in caught]
