"""Every page of `promptkit view` over the registry on SQLite, PostgreSQL and MariaDB: the
queries (keyset pages, side by side, charts' time buckets) run on each dialect."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptkit.config import Settings, load_settings

pytest.importorskip("starlette", reason="promptkit view needs the `view` extra")

from starlette.testclient import TestClient

PAGES = ("/prompts", "/prompts/sentiment", "/prompts/sentiment/diff?a=1.0.0&b=1.2.0",
         "/prompts/sentiment/v/1.2.0", "/envs", "/envs/production", "/runs", "/gates",
         "/calls", "/calls?prompt=sentiment&status=ok", "/charts?prompt=sentiment", "/queue")


@pytest.fixture
def settings(view_project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PROMPTKIT_DB_URL", db_url)
    return load_settings(view_project)


@pytest.mark.parametrize("path", PAGES)
def test_each_page_answers_on_each_database(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    assert "<script" not in page.text


def test_the_charts_bucket_calls_by_time_on_each_database(client: TestClient) -> None:
    page = client.get("/charts?prompt=sentiment")
    assert page.text.count("<svg") == 3 and page.text.count("<polyline") == 4
