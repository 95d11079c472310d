"""`promptkit view` in a real headless Chromium against a real uvicorn server: the diff, a
rollback (and its refusal without a reason) seen by `promptkit history`, a review, "add to
dataset" collected by the next `pytest evals`, and a cross-site form refused."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from live import browser, served
from view_helpers import REPO

from promptkit.config import Settings
from promptkit.evals.reviews import reviews_of
from promptkit.registry import Registry
from promptkit.view import create_app


@pytest.fixture
def site(settings: Settings, registry: Registry) -> Iterator[str]:
    with served(create_app(settings, actor="browser-user")) as url:
        yield url


@pytest.fixture
def page(site: str) -> Iterator[Any]:
    with browser() as opened:
        yield opened


def test_the_diff_shows_the_changed_lines(page: Any, site: str, registry: Registry) -> None:
    page.goto(f"{site}/prompts/sentiment")
    page.select_option("select[name=a]", "1.1.0")
    page.select_option("select[name=b]", "1.2.0")
    page.click("text=Show the diff")
    page.wait_for_url("**/prompts/sentiment/diff?a=1.1.0&b=1.2.0")
    rows = page.locator("table.diff tr").evaluate_all(
        "rows => rows.map(r => [r.className, r.cells[2].textContent])")
    new = registry.version("sentiment", "1.2.0").source.splitlines()
    old = registry.version("sentiment", "1.1.0").source.splitlines()
    assert [text for kind, text in rows if kind in ("same", "del")] == old
    assert [text for kind, text in rows if kind in ("same", "ins")] == new
    added = page.locator("tr.ins ins").all_inner_texts()
    removed = page.locator("tr.del del").all_inner_texts()
    assert set(new) - set(old) <= set(added) and set(old) - set(new) <= set(removed)
    assert "It was delivered in a brown box." in added
    assert page.locator("tr.ins").first.evaluate(
        "e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"


def history(settings: Settings) -> str:
    from promptkit.cli import cli

    result = CliRunner().invoke(cli, ["--project", str(settings.root), "history", "sentiment",
                                      "--env", "production"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_rollback_needs_a_reason_and_shows_in_promptkit_history(
        page: Any, site: str, settings: Settings, registry: Registry) -> None:
    page.goto(f"{site}/envs/production")
    form = page.locator("#rollback-form")
    form.locator("button").click()  # no reason: the browser does not even send it
    assert page.url == f"{site}/envs/production"
    form.locator("input[name=reason]").fill("   ")  # blank: the server refuses it
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        form.locator("button").click()
    assert posted.value.status == 400
    assert "a reason is required" in page.locator(".error").inner_text()
    assert registry.current("sentiment", "production").version == "1.1.0"  # type: ignore[union-attr]
    assert "rollback" not in history(settings)
    page.locator("#rollback-form input[name=reason]").fill("errors spiked after 1.1.0")
    page.locator("#rollback-form button").click()
    page.wait_for_selector(".flash")
    assert "1.1.0 → 1.0.0" in page.locator(".flash").inner_text()
    last = history(settings).strip().splitlines()[-1]
    assert "rollback" in last and "1.1.0 -> 1.0.0" in last
    assert "browser-user" in last and "errors spiked after 1.1.0" in last
    assert "errors spiked after 1.1.0" in page.locator("ol.timeline").inner_text()


def test_a_review_saved_in_the_page_is_in_the_database(page: Any, site: str,
                                                       registry: Registry) -> None:
    page.goto(f"{site}/calls/call0000007")
    form = page.locator("form.review-form")
    form.locator("select[name=verdict]").select_option("fail")
    form.locator("input[name=score]").fill("2")
    form.locator("textarea[name=comment]").fill("calls a complaint positive")
    form.locator("button").click()
    page.wait_for_selector(".flash")
    [review] = reviews_of(registry, "call", "call0000007")
    assert (review.verdict, review.score, review.comment, review.reviewer) == (
        "fail", 2.0, "calls a complaint positive", "browser-user")
    assert "calls a complaint positive" in page.locator("table.reviews").inner_text()


def test_add_to_dataset_appends_a_case_the_next_pytest_evals_collects(
        page: Any, site: str, settings: Settings) -> None:
    page.goto(f"{site}/calls/call0000008")
    page.locator("form.review-form button").click()  # reviewed: pass
    page.wait_for_selector(".flash")
    form = page.locator("#dataset-form")
    form.locator("select[name=suite]").select_option("sentiment.yaml")
    form.locator("input[name=case_id]").fill("prod-call-8")
    form.locator("textarea[name=expected]").fill('{"sentiment": "neutral"}')
    form.locator("button").click()
    page.wait_for_selector(".flash")
    assert "case prod-call-8 added to sentiment.jsonl" in page.locator(".flash").inner_text()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PROMPTKIT_DB_URL", None)
    run = subprocess.run([sys.executable, "-m", "pytest", "evals", "--collect-only", "-q",
                          "-p", "no:cacheprovider", "--prompt-version=1.2.0"],
                         cwd=settings.root, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "evals/sentiment.yaml::sentiment@1.2.0::prod-call-8" in run.stdout.splitlines()


ATTACK = """<!doctype html><html><body>
<form id="f" method="post" action="{target}">
<input name="name" value="sentiment"><input name="reason" value="pwned">
<input name="csrf" value="{csrf}"></form>
<script>document.getElementById("f").submit()</script></body></html>"""


def test_a_form_auto_submitted_from_another_origin_is_refused(
        page: Any, site: str, registry: Registry, settings: Settings, tmp_path: Path) -> None:
    """The attacking page even knows the CSRF token: the origin check alone refuses it."""
    import re

    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    token = re.search(r'name="csrf" value="([^"]+)"', page.goto(f"{site}/envs/production")
                      .text()).group(1)  # type: ignore[union-attr]
    evil = Starlette(routes=[Route("/", lambda r: HTMLResponse(ATTACK.format(
        target=f"{site}/envs/production/rollback", csrf=token)))])
    before = registry.history("sentiment", "production")
    with served(evil) as attacker, page.expect_response(
            lambda r: r.url.endswith("/rollback")) as answer:
        page.goto(attacker)
    assert answer.value.status == 403
    assert "cross-site" in answer.value.text()
    assert registry.history("sentiment", "production") == before
    assert "pwned" not in history(settings)
