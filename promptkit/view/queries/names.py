"""Which prompts the app lists: those in the project's files, published, called or
evaluated."""

from __future__ import annotations

import sqlalchemy as sa

from promptkit.evals.store import RESULTS
from promptkit.registry.calllog_sink import call_log
from promptkit.view.state import ViewState

__all__ = ["prompt_names"]


def prompt_names(state: ViewState) -> list[str]:
    """Every prompt name the project's files, the registry, the call log or eval results
    know."""
    names = set(_file_names(state))
    names |= set(state.registry.names())
    with state.registry.engine.connect() as conn:
        for column in (call_log.c.prompt, RESULTS.c.prompt):
            if sa.inspect(conn).has_table(column.table.name):
                names |= {n for n in conn.scalars(sa.select(column).distinct()) if n}
    return sorted(names)


def _file_names(state: ViewState) -> list[str]:
    from promptkit.templates.library import PromptLibrary

    try:
        return PromptLibrary(state.settings.prompts_path).names()
    except OSError:
        return []
