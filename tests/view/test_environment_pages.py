"""Environment pages: what each serves, the ledger, rules and requests; rollback, promote,
pin and approve through the library, refused with the rule named, nothing changed then."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from conftest import ORIGIN, csrf_of
from promptkit.registry import Registry
from promptkit.registry.records import EnvRules


def post(client: TestClient, path: str, **fields: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf": csrf_of(client), **fields}, follow_redirects=False)


def test_an_environment_shows_its_pins_ledger_and_rules(client: TestClient) -> None:
    page = client.get("/envs/production")
    assert page.status_code == 200
    assert "better wording" in page.text and "1.0.0 → 1.1.0" in page.text
    assert "not protected" in page.text
    assert client.get("/envs").status_code == 200


def test_a_rollback_moves_the_pin_with_the_reason_in_the_ledger(client: TestClient,
                                                               registry: Registry) -> None:
    done = post(client, "/envs/production/rollback", name="sentiment", reason="spike in errors")
    assert done.status_code == 303
    assert registry.current("sentiment", "production").version == "1.0.0"  # type: ignore[union-attr]
    last = registry.history("sentiment", "production")[-1]
    assert (last.action, last.actor, last.reason) == ("rollback", "tester", "spike in errors")
    shown = client.get(done.headers["location"])
    assert "sentiment in production: 1.1.0 → 1.0.0" in shown.text


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_rollback_without_a_reason_is_refused_and_moves_nothing(
        client: TestClient, registry: Registry, reason: str) -> None:
    before = registry.history("sentiment", "production")
    refused = post(client, "/envs/production/rollback", name="sentiment", reason=reason)
    assert refused.status_code == 400
    assert "a reason is required" in refused.text
    assert registry.history("sentiment", "production") == before


def test_a_promotion_without_a_passing_gate_is_refused_naming_the_gate(
        client: TestClient, registry: Registry) -> None:
    refused = post(client, "/envs/production/move", name="sentiment", version="1.2.0",
                   mode="promote", reason="ship it")
    assert refused.status_code == 409
    assert "no passing gate" in refused.text
    assert "promptkit gate sentiment --candidate 1.2.0 --baseline production" in refused.text
    assert registry.current("sentiment", "production").version == "1.1.0"  # type: ignore[union-attr]


def test_force_pins_and_says_so(client: TestClient, registry: Registry) -> None:
    done = post(client, "/envs/production/move", name="sentiment", version="1.2.0",
                mode="force", reason="incident 42")
    assert done.status_code == 303
    last = registry.history("sentiment", "production")[-1]
    assert (last.to_version, last.action, last.reason) == ("1.2.0", "force", "incident 42")


def test_a_protected_environment_refuses_naming_its_rule(client: TestClient,
                                                         registry: Registry) -> None:
    registry.protect(EnvRules("production", allowed_actors=("release-bot",)),
                     reason="only the bot", actor="admin")
    refused = post(client, "/envs/production/move", name="sentiment", version="1.2.0",
                   mode="pin", reason="try")
    assert refused.status_code == 409
    assert "rule: allowed_actors" in refused.text and "release-bot" in refused.text
    assert registry.current("sentiment", "production").version == "1.1.0"  # type: ignore[union-attr]


def test_a_move_needing_approval_waits_and_an_approver_completes_it(
        client: TestClient, registry: Registry) -> None:
    registry.protect(EnvRules("staging", approvers=("tester",), approvals=1),
                     reason="two people", actor="admin")
    waiting = post(client, "/envs/staging/move", name="sentiment", version="1.1.0", mode="pin",
                   reason="please")  # the view acts as `tester`, who cannot approve itself
    assert waiting.status_code == 303
    pending = registry.requests()
    assert [(r.env, r.version, r.actor) for r in pending] == [("staging", "1.1.0", "tester")]
    page = client.get(waiting.headers["location"])
    assert "waiting for approval" in page.text and f'action="/requests/{pending[0].id}"' in page.text
    own = post(client, f"/requests/{pending[0].id}", env="staging", decision="approve")
    assert own.status_code == 409 and "rule: approvals" in own.text
    from promptkit.view import create_app

    other = TestClient(create_app(registry, actor="bea"), base_url=ORIGIN,
                       headers={"origin": ORIGIN})
    other.app.state.view.settings = client.app.state.view.settings  # type: ignore[attr-defined]
    registry.protect(EnvRules("staging", approvers=("bea",), approvals=1),
                     reason="bea approves", actor="admin")
    done = post(other, f"/requests/{pending[0].id}", env="staging", decision="approve",
                reason="looks right")
    assert done.status_code == 303
    assert registry.current("sentiment", "staging").version == "1.1.0"  # type: ignore[union-attr]
    assert registry.requests() == []


def test_an_unknown_environment_name_is_refused(client: TestClient) -> None:
    page = client.get("/envs/bad name")
    assert page.status_code == 400 and "is not an environment name" in page.text
