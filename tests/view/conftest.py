"""A project with the example prompts published and pinned, eval results and call-log rows,
and `promptkit view` over it (TestClient, or a real uvicorn server on a free port)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from view_helpers import REPO, seed_calls, seed_results

from promptkit.config import Settings, load_settings
from promptkit.registry import Registry

pytest.importorskip("starlette", reason="promptkit view needs the `view` extra")

from starlette.testclient import TestClient

from promptkit.view import create_app
from promptkit.view.state import ViewState

ORIGIN = "http://127.0.0.1"


@pytest.fixture
def view_project(project: Path) -> Path:
    """The example project with its evals (suites and datasets) copied in too."""
    shutil.copytree(REPO / "evals", project / "evals")
    return project


@pytest.fixture
def settings(view_project: Path) -> Settings:
    return load_settings(view_project)


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    """Every example prompt published; sentiment pinned 1.0.0 then 1.1.0 in production,
    1.2.0 in staging; eval results of the sentiment versions; a few logged calls."""
    from promptkit.templates.library import PromptLibrary

    registry = Registry(settings.database_url)
    registry.publish_library(PromptLibrary(settings.prompts_path), actor="ci")
    registry.pin("sentiment", "1.0.0", env="production", reason="first", actor="ana")
    registry.pin("sentiment", "1.1.0", env="production", reason="better wording", actor="ana")
    registry.pin("sentiment", "1.2.0", env="staging", reason="try it", actor="ana")
    seed_results(registry)
    seed_calls(registry, count=30)
    yield registry
    registry.close()


@pytest.fixture
def client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    app = create_app(settings, actor="tester")
    with TestClient(app, base_url=ORIGIN, headers={"origin": ORIGIN}) as test_client:
        yield test_client


def csrf_of(client: TestClient) -> str:
    state: ViewState = client.app.state.view  # type: ignore[attr-defined]
    return state.csrf
