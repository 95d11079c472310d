"""Prompts: the list, one prompt's versions, one version (front matter, source, a rendered
example, provenance) and the diff of any two versions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from promptkit.errors import NotPublishedError
from promptkit.registry.records import Pin, PublishedVersion
from promptkit.view.diffs import line_diff
from promptkit.view.queries.examples import example_of
from promptkit.view.queries.names import prompt_names
from promptkit.view.state import ViewState, view_state

__all__ = ["diff", "index", "version", "versions"]


def index(request: Request) -> Response:
    state = view_state(request)
    pins = state.registry.pins()
    rows = [(name, state.registry.versions(name), [p for p in pins if p.name == name])
            for name in prompt_names(state)]
    return state.render(request, "prompts.html", rows=rows)


def versions(request: Request) -> Response:
    state = view_state(request)
    name = request.path_params["name"]
    found = state.registry.versions(name)
    return state.render(request, "versions.html", name=name, versions=found,
                        pins=state.registry.pins([name]))


def version(request: Request) -> Response:
    state = view_state(request)
    name, number = request.path_params["name"], request.path_params["version"]
    try:
        row = state.registry.version(name, number)
    except NotPublishedError as exc:
        return state.render(request, "message.html", status=404, error=str(exc))
    example = example_of(state.settings.evals_path, state.registry.load(name, number))
    return state.render(request, "version.html", row=row, example=example,
                        serving=_serving(state, row))


def diff(request: Request) -> Response:
    state = view_state(request)
    name = request.path_params["name"]
    known = state.registry.versions(name)
    numbers = [v.version for v in known]
    old = request.query_params.get("a") or (numbers[-2] if len(numbers) > 1 else "")
    new = request.query_params.get("b") or (numbers[-1] if numbers else "")
    by_number = {v.version: v for v in known}
    if old not in by_number or new not in by_number:
        return state.render(request, "message.html", status=404,
                            error=f"{name} has no published versions {old!r} and {new!r}")
    lines = line_diff(by_number[old].source, by_number[new].source)
    return state.render(request, "diff.html", name=name, numbers=numbers, old=by_number[old],
                        new=by_number[new], lines=lines)


def _serving(state: ViewState, row: PublishedVersion) -> list[Pin]:
    return [p for p in state.registry.pins([row.name]) if p.content_hash == row.content_hash]
