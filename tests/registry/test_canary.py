"""Canary pins on SQLite, PostgreSQL and MariaDB: a share of requests gets the candidate,
the same key always the same arm (in any process), the share matches within binomial
error, every step is a chained ledger row, the call log records the arm, and promote and
abort pass the environment's rules."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from promptkit.core import Client
from promptkit.core.calllog import CallLog
from promptkit.errors import ApprovalPendingError, ProtectedEnvironmentError, UsageError
from promptkit.registry import Registry, Resolver
from promptkit.registry.arms import arm_of
from promptkit.registry.calllog_sink import DatabaseSink, call_log
from promptkit.registry.feedback import feedback
from promptkit.registry.records import EnvRules
from promptkit.registry.schema import ledger
from promptkit.templates.library import PromptLibrary
from promptkit.testing import FakeOpenAIServer
from promptkit.testing.replies import Reply
from tests.support import server_config

KEYS = [f"user-{i}" for i in range(10_000)]


@pytest.fixture
def live(registry: Registry, library: PromptLibrary) -> Registry:
    registry.publish_library(library)
    registry.pin("sentiment", "1.1.0", env="production", reason="stable", actor="alice")
    return registry


def arms(registry: Registry, keys: list[str]) -> dict[str, str]:
    """The version each key is served by a resolver that starts now."""
    resolver = Resolver(registry)
    return {k: resolver.get("sentiment", "production", key=k).version for k in keys}


def test_a_canary_serves_its_share_stickily_and_is_in_the_ledger(live: Registry) -> None:
    entry = live.canary("sentiment", "1.2.0", env="production", percent=10, reason="try it",
                        actor="alice")
    assert (entry.action, entry.from_version, entry.to_version) == ("canary", "1.1.0", "1.2.0")
    assert entry.reason == "try it (10% of requests)"
    assert live.current("sentiment", "production").version == "1.1.0"  # type: ignore[union-attr]
    served = arms(live, KEYS)
    share = Counter(served.values())["1.2.0"]
    assert 880 <= share <= 1120  # 10% of 10,000 within 4 standard deviations (30)
    assert arms(live, KEYS) == served  # another resolver: the same arms
    found = Resolver(live).get("sentiment", "production", key="user-1")
    assert found.arm == ("canary" if served["user-1"] == "1.2.0" else "stable")
    assert found.call_metadata == {"label": "production", "arm": found.arm}

    live.canary("sentiment", "1.2.0", env="production", percent=25, reason="widen")
    wider = arms(live, KEYS)
    assert {k for k, v in served.items() if v == "1.2.0"} <= {
        k for k, v in wider.items() if v == "1.2.0"}  # a widened canary keeps its users
    assert 2380 <= Counter(wider.values())["1.2.0"] <= 2620
    assert live.verify_ledger().ok


def test_the_same_key_gets_the_same_arm_in_another_process() -> None:
    keys = KEYS[:200]
    code = ("import json, sys; from promptkit.registry.arms import arm_of; "
            "print(json.dumps([arm_of('sentiment', 'production', k, 10) for k in "
            "json.loads(sys.argv[1])]))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(keys)], capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout) == [arm_of("sentiment", "production", k, 10) for k in keys]
    assert {arm_of("sentiment", "production", None, 50) for _ in range(200)} == {
        "canary", "stable"}  # without a key, each request draws


def test_abort_and_promote(live: Registry) -> None:
    live.canary("sentiment", "1.2.0", env="production", percent=50, reason="try")
    # Asks the registry at every call, and waits for the answer: with the default 50 ms a
    # loaded machine's check may still be on its way, and the resolver rightly serves the
    # pin it has meanwhile (what this test looks at is that it follows the abort).
    resolver = Resolver(live, ttl=0, wait_s=30)
    assert {resolver.get("sentiment", "production", key=k).version for k in KEYS[:50]} == {
        "1.1.0", "1.2.0"}
    aborted = live.abort_canary("sentiment", env="production", reason="errors up")
    assert (aborted.action, aborted.from_version, aborted.to_version) == (
        "abort", "1.2.0", "1.1.0")
    assert {resolver.get("sentiment", "production", key=k).version for k in KEYS[:50]} == {
        "1.1.0"}  # the running resolver follows the abort
    assert resolver.get("sentiment", "production", key="k").arm is None
    with pytest.raises(UsageError, match="no canary running"):
        live.abort_canary("sentiment", env="production", reason="again")

    live.canary("sentiment", "1.2.0", env="production", percent=5, reason="again")
    promoted = live.promote_canary("sentiment", env="production", reason="held up")
    assert (promoted.action, promoted.to_version) == ("promote", "1.2.0")
    assert set(arms(live, KEYS[:50]).values()) == {"1.2.0"} and live.canaries() == []
    # a rollback goes back to the version pinned before, not to a canary's rows
    back = live.rollback("sentiment", env="production", reason="incident")
    assert back.to_version == "1.1.0"
    actions = [e.action for e in live.history("sentiment", "production")]
    assert actions == ["pin", "canary", "abort", "canary", "promote", "rollback"]
    assert live.verify_ledger().ok


def test_a_canary_passes_the_rules_and_its_promotion_the_approvals(live: Registry) -> None:
    live.protect(EnvRules("production", require_gate=True, approvers=("bob",), approvals=1),
                 reason="policy")
    with pytest.raises(ProtectedEnvironmentError, match="require_gate"):
        live.canary("sentiment", "1.2.0", env="production", percent=5, reason="try")
    cand, base = live.version("sentiment", "1.2.0"), live.version("sentiment", "1.1.0")
    live.record_gate({"name": "sentiment", "candidate_version": "1.2.0",
                      "candidate_hash": cand.content_hash, "baseline_version": "1.1.0",
                      "baseline_hash": base.content_hash, "baseline_label": "production",
                      "passed": True, "summary": {}, "at": datetime.now(UTC), "actor": "ci"})
    live.canary("sentiment", "1.2.0", env="production", percent=5, reason="try")
    with pytest.raises(ApprovalPendingError) as pending:
        live.promote_canary("sentiment", env="production", reason="held up", actor="alice")
    assert live.canaries()[0].version == "1.2.0"  # still running while it waits
    live.approve(pending.value.request_id, actor="bob")
    assert live.current("sentiment", "production").version == "1.2.0"  # type: ignore[union-attr]


def test_a_canary_needs_a_pin_and_another_version(live: Registry) -> None:
    with pytest.raises(UsageError, match=r"serves 1\.1\.0's content already"):
        live.canary("sentiment", "1.1.0", env="production", percent=5, reason="x")
    with pytest.raises(UsageError, match="between 0 and 100"):
        live.canary("sentiment", "1.2.0", env="production", percent=100, reason="x")
    live.canary("sentiment", "1.2.0", env="production", percent=5, reason="x")
    with pytest.raises(UsageError, match=r"has a canary of 1\.2\.0 running"):
        live.canary("sentiment", "1.0.0", env="production", percent=5, reason="x")


def test_the_call_log_records_the_arm_and_feedback_is_kept(live: Registry) -> None:
    live.canary("sentiment", "1.2.0", env="production", percent=50, reason="try")
    resolver = Resolver(live)
    sink = DatabaseSink(engine=live.engine)
    log = CallLog([sink], handle_sigterm=False)
    reply = Reply(content={"sentiment": "positive", "confidence": 0.9, "reasoning": "r"})
    with FakeOpenAIServer(handler=lambda body, index: reply) as server:
        config = server_config(server, "default", model="gpt-4o-mini")
        with Client([config], hooks=[log]) as client:
            served = {k: resolver.get("sentiment", "production", key=k) for k in KEYS[:20]}
            results = {k: client.call_prompt(r, {"text": "I love it"})
                       for k, r in served.items()}
    log.close()
    with live.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(call_log))}
    for key, result in results.items():
        row = rows[result.call_id]
        assert (row.label, row.arm, row.version) == (
            "production", served[key].arm, served[key].version)
    assert {row.arm for row in rows.values()} == {"canary", "stable"}
    assert feedback(results["user-1"].call_id, 1.0, registry=live)
    with live.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT call_id, score FROM promptkit_feedback")).all()
    assert [tuple(r) for r in stored] == [(results["user-1"].call_id, 1.0)]
    with pytest.raises(UsageError):
        feedback("", float("nan"), registry=live)


def test_the_registry_lists_its_prompt_names(live: Registry) -> None:
    assert live.names() == ["extract_contact", "sentiment", "support_assistant"]


def test_canary_rows_are_not_pins(live: Registry) -> None:
    live.canary("sentiment", "1.2.0", env="production", percent=5, reason="x")
    pin = live.current("sentiment", "production")
    assert pin is not None and pin.version == "1.1.0" and live.check_pin(pin) is None
    with live.engine.connect() as conn:
        last = conn.execute(sa.select(ledger.c.action).order_by(ledger.c.id.desc())).scalar()
    assert last == "canary"
