"""The call log: a filtered list paged by keyset; one call with its messages, output,
attempts, tokens and cost (all scrubbed), its reviews, and "add to dataset"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from promptkit.errors import PromptkitError
from promptkit.evals.dataset_append import add_to_dataset as append_call
from promptkit.evals.reviews import reviews_of
from promptkit.evals.suite import load_suite
from promptkit.view.forms import posted, redirect_with
from promptkit.view.queries.calls import CallFilter, call_page, one_call
from promptkit.view.queries.examples import suites_of
from promptkit.view.state import ViewState, view_state

__all__ = ["add_to_dataset", "call", "index"]


def index(request: Request) -> Response:
    state = view_state(request)
    where = CallFilter.from_query(dict(request.query_params))
    page = call_page(state.registry.engine, where, request.query_params.get("after"))
    return state.render(request, "calls.html", where=where, page=page,
                        next_query={**where.query(), "after": page.next_cursor})


def call(request: Request, error: str | None = None, status: int = 200) -> Response:
    state = view_state(request)
    call_id = request.path_params["call_id"]
    row = one_call(state.registry.engine, call_id)
    if row is None:
        return state.render(request, "message.html", status=404, error=f"no call {call_id!r}")
    return state.render(request, "call.html", row=row, error=error, status=status,
                        reviews=reviews_of(state.registry, "call", call_id),
                        suites=_suites(state, row.prompt), expected=_expected(row))


async def add_to_dataset(request: Request) -> Response:
    """The reviewed call as a regression case of the chosen suite."""
    fields = await posted(request)
    call_id = request.path_params["call_id"]

    def act(state: ViewState) -> str:
        path = _suite_path(state, fields.get("suite", ""))
        added = append_call(state.registry, call_id, load_suite(path), _expect(fields),
                            case_id=fields.get("case_id") or None,
                            critical=fields.get("critical") == "on")
        return f"case {added.case_id} added to {added.path.name}: `pytest evals` runs it next"
    try:
        message = await run_in_threadpool(act, view_state(request))
    except PromptkitError as exc:
        return await run_in_threadpool(call, request, f"not added: {exc}", 400)
    return redirect_with(request, f"/calls/{call_id}", message)


def _suites(state: ViewState, prompt: str | None) -> list[str]:
    return [p.name for p in suites_of(state.settings.evals_path, prompt)] if prompt else []


def _suite_path(state: ViewState, name: str) -> Path:
    """A suite file of `evals/`, by its file name only (never a path from the form)."""
    known = {p.name: p for p in sorted(state.settings.evals_path.glob("*.y*ml"))}
    if name not in known:
        from promptkit.errors import UsageError

        raise UsageError(f"no suite {name!r} in {state.settings.evals_dir}/")
    return known[name]


def _expected(row: Any) -> str:
    """The form's first guess at the expected answer: the call's own output."""
    if isinstance(row.parsed_output, dict):
        return json.dumps(row.parsed_output, ensure_ascii=False)
    return row.raw_output or ""


def _expect(fields: dict[str, str]) -> dict[str, Any]:
    """A JSON object is the expected values by key; any other text the whole answer."""
    text = fields.get("expected", "").strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"$": text}
