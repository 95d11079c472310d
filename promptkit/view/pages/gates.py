"""Gates: the stored verdicts (`Registry.gates`) of every prompt, and one with its summary."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from promptkit.view.queries.names import prompt_names
from promptkit.view.state import view_state

__all__ = ["gate", "index"]


def index(request: Request) -> Response:
    state = view_state(request)
    wanted = request.query_params.get("name")
    names = [wanted] if wanted else prompt_names(state)
    found = [g for name in names for g in state.registry.gates(name)]
    found.sort(key=lambda g: g.at, reverse=True)
    return state.render(request, "gates.html", gates=found, name=wanted or "")


def gate(request: Request) -> Response:
    state = view_state(request)
    name, gate_id = request.path_params["name"], request.path_params["gate_id"]
    found = [g for g in state.registry.gates(name) if g.id == gate_id]
    if not found:
        return state.render(request, "message.html", status=404,
                            error=f"no gate #{gate_id} of {name}")
    return state.render(request, "gate.html", gate=found[0])
