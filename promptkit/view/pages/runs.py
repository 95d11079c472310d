"""Eval runs: per-version summaries (pass rate, cost, latency) with a chart; several
versions' cases side by side (failures, flips, search); one case result with its reviews;
scored reviews exported as the suite's judge-calibration labels."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from promptkit.evals.reviews import export_labels as export
from promptkit.evals.reviews import reviews_of
from promptkit.evals.suite import load_suite
from promptkit.view.forms import posted, redirect_with
from promptkit.view.queries.runs import Summary, compare_cases, one_result, summaries
from promptkit.view.state import ViewState, view_state
from promptkit.view.svg import bar_chart

__all__ = ["SHOWN", "compare", "export_labels", "index", "result"]

SHOWN = 100
"""Cases shown side by side at most (filters and the search find the others)."""


def index(request: Request) -> Response:
    state = view_state(request)
    found = summaries(state.registry.engine)
    groups: dict[tuple[str, str], list[Summary]] = {}
    for summary in found:
        groups.setdefault((summary.prompt, summary.suite), []).append(summary)
    charts = {key: bar_chart([(s.version, round(100 * s.pass_rate, 1)) for s in rows],
                             top=100, unit="%", title=f"pass rate of {key[0]} ({key[1]})")
              for key, rows in groups.items()}
    return state.render(request, "runs.html", groups=groups, charts=charts)


def compare(request: Request) -> Response:
    state = view_state(request)
    prompt, suite = request.path_params["prompt"], request.path_params["suite"]
    known = [s for s in summaries(state.registry.engine, prompt) if s.suite == suite]
    wanted = request.query_params.getlist("v") or [s.version for s in known]
    chosen = [s for s in known if s.version in wanted]
    show, search = request.query_params.get("show", "all"), request.query_params.get("q", "")
    rows, total = compare_cases(state.registry.engine, chosen, show=show, search=search,
                                limit=SHOWN)
    return state.render(request, "compare.html", prompt=prompt, suite=suite, known=known,
                        chosen=chosen, rows=rows, total=total, show=show, q=search)


def result(request: Request) -> Response:
    state = view_state(request)
    result_id = request.path_params["result_id"]
    row = one_result(state.registry.engine, result_id)
    if row is None:
        return state.render(request, "message.html", status=404,
                            error=f"no case result #{result_id}")
    return state.render(request, "result.html", row=row,
                        reviews=reviews_of(state.registry, "case", str(result_id)))


async def export_labels(request: Request) -> Response:
    await posted(request)
    suite = request.path_params["suite"]

    def act(state: ViewState) -> str:
        from promptkit.errors import UsageError

        path = state.settings.evals_path / f"{suite}.yaml"
        if "/" in suite or not path.is_file():
            raise UsageError(f"no suite {suite!r} in {state.settings.evals_dir}/")
        added = export(state.registry, load_suite(path))
        return f"{added} label(s) added to {suite}.labels.jsonl"
    message = await run_in_threadpool(act, view_state(request))
    return redirect_with(request, "/runs", message)
