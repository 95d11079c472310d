"""The safety model: loopback names only without a token; the token once by query, then a
cookie; every write same-origin and with the CSRF token; security headers; no secrets."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from conftest import ORIGIN, csrf_of
from promptkit.config import Settings
from promptkit.errors import UsageError
from promptkit.registry import Registry
from promptkit.view import check_bind, create_app
from promptkit.view.app import PAGES
from promptkit.view.security import COOKIE

WRITES = [path for path, _, methods in PAGES if "POST" in methods]
ROLLBACK = {"name": "sentiment", "reason": "attack"}


def concrete(path: str) -> str:
    return (path.replace("{env}", "production").replace("{request_id:int}", "1")
            .replace("{suite}", "sentiment").replace("{call_id}", "call0000001"))


def test_every_page_sends_the_security_headers(client: TestClient) -> None:
    page = client.get("/prompts")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in page.text and 'href="/static/view.css"' in page.text
    css = client.get("/static/view.css")
    assert css.status_code == 200 and css.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", WRITES)
def test_every_write_without_the_csrf_token_is_refused(client: TestClient,
                                                      registry: Registry, path: str) -> None:
    before = registry.verify_ledger().rows, registry.history("sentiment")
    refused = client.post(concrete(path), data={**ROLLBACK, "csrf": "wrong"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert client.post(concrete(path), data=ROLLBACK).status_code == 403
    assert (registry.verify_ledger().rows, registry.history("sentiment")) == before


@pytest.mark.parametrize("headers", [
    {"origin": "http://evil.example"}, {"origin": "http://127.0.0.1:9999"},
    {"origin": "null"}, {"origin": "", "referer": "http://evil.example/x"}, {"origin": ""},
])
@pytest.mark.parametrize("path", WRITES)
def test_a_cross_site_write_is_refused_even_with_the_token(
        client: TestClient, registry: Registry, path: str, headers: dict[str, str]) -> None:
    before = registry.history("sentiment")
    if headers.get("origin") == "":
        client.headers.pop("origin")
        headers = {k: v for k, v in headers.items() if k != "origin"}
    refused = client.post(concrete(path), data={**ROLLBACK, "csrf": csrf_of(client)},
                          headers=headers)
    assert refused.status_code == 403 and "cross-site" in refused.text
    assert registry.history("sentiment") == before


def test_a_same_origin_referer_is_enough_without_origin(client: TestClient,
                                                       registry: Registry) -> None:
    client.headers.pop("origin")
    done = client.post("/envs/production/rollback", follow_redirects=False,
                       data={**ROLLBACK, "csrf": csrf_of(client)},
                       headers={"referer": f"{ORIGIN}/envs/production"})
    assert done.status_code == 303
    assert registry.current("sentiment", "production").version == "1.0.0"  # type: ignore[union-attr]


def test_get_changes_nothing(client: TestClient, registry: Registry) -> None:
    before = registry.history("sentiment")
    assert client.get("/envs/production/rollback", params=ROLLBACK).status_code == 405
    assert registry.history("sentiment") == before


def test_without_a_token_only_loopback_host_names_are_served(settings: Settings,
                                                            registry: Registry) -> None:
    app = create_app(settings)
    for host in ("127.0.0.1", "localhost"):
        assert TestClient(app, base_url=f"http://{host}:8765").get("/prompts").status_code == 200
    rebound = TestClient(app, base_url="http://attacker.example:8765").get("/prompts")
    assert rebound.status_code == 421


def test_with_a_token_every_request_needs_it_and_the_query_sets_a_strict_cookie(
        settings: Settings, registry: Registry) -> None:
    app = create_app(settings, token="s3cret-token")
    anonymous = TestClient(app, base_url="http://192.0.2.7:8765")
    assert anonymous.get("/prompts").status_code == 401
    assert anonymous.get("/static/view.css").status_code == 401
    assert anonymous.get("/prompts?token=wrong").status_code == 401
    login = anonymous.get("/prompts?token=s3cret-token&x=1", follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/prompts?x=1"
    cookie = login.headers["set-cookie"]
    assert f"{COOKIE}=s3cret-token" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert anonymous.get("/prompts").status_code == 200  # the cookie now
    assert "s3cret-token" not in anonymous.get("/prompts").text


def test_binding_beyond_loopback_needs_a_token() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_bind(host, None)
    check_bind("0.0.0.0", "token")
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.com"):
        with pytest.raises(UsageError, match="without a token"):
            check_bind(host, None)


def test_the_command_refuses_a_public_address_without_a_token(view_project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from promptkit.cli import cli

    monkeypatch.delenv("PROMPTKIT_VIEW_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["view", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "without a token" in result.output
