"""Charts of one prompt's calls over time: mean latency, cost, calls per version (a
rollback shows as one version's line giving way to another's)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from promptkit.view.queries.charts import timeline
from promptkit.view.queries.names import prompt_names
from promptkit.view.state import view_state
from promptkit.view.svg import line_chart

__all__ = ["index"]


def index(request: Request) -> Response:
    state = view_state(request)
    names = prompt_names(state)
    prompt = request.query_params.get("prompt") or (names[0] if names else "")
    found = timeline(state.registry.engine, prompt) if prompt else None
    charts = {} if found is None else {
        "mean latency per bucket": line_chart({"latency": found.latency_s}, found.labels,
                                              unit=" s", title="latency"),
        "cost per bucket": line_chart({"cost (USD)": found.cost_usd}, found.labels,
                                      title="cost"),
        "calls per version": line_chart(found.calls, found.labels, title="calls per version"),
    }
    return state.render(request, "charts.html", names=names, prompt=prompt, charts=charts)
