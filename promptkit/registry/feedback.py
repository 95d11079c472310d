"""`promptkit.feedback(call_id, score)`: what an application learned about a logged call
(a thumbs up, a correction, a conversion), kept beside the call log, where the canary
monitor compares the arms' mean feedback. Reporting it never fails the application."""

from __future__ import annotations

import logging
import math
import warnings
from datetime import UTC, datetime

from promptkit.db.engine import unavailable_as_error, write_transaction
from promptkit.errors import RegistryError, UsageError
from promptkit.registry.calllog_sink import feedback as feedback_table
from promptkit.registry.store import Registry

__all__ = ["feedback"]

log = logging.getLogger("promptkit.registry")


def feedback(call_id: str, score: float, *, source: str | None = None,
             registry: Registry | None = None) -> bool:
    """Record `score` (a number: 1.0 for a thumbs up, 0.0 for down, or any scale the team
    keeps) for call `call_id` (`CallResult.call_id`). Returns False, with a warning, when
    the registry could not take it: feedback is never worth failing a request for."""
    if not call_id or not isinstance(score, int | float) or not math.isfinite(score):
        raise UsageError(f"feedback needs a call id and a finite number, not {call_id!r}, "
                         f"{score!r}")
    target = registry or _project_registry()
    try:
        target.migrate()
        with unavailable_as_error(target.url), write_transaction(target.engine) as conn:
            conn.execute(feedback_table.insert().values(
                call_id=call_id, score=float(score), at=datetime.now(UTC), source=source))
    except RegistryError as error:
        log.warning("promptkit: feedback on call %s was not stored: %s", call_id, error)
        warnings.warn(f"promptkit: feedback on call {call_id} was not stored: {error}",
                      RuntimeWarning, stacklevel=2)
        return False
    return True


def _project_registry() -> Registry:
    from promptkit.registry.default import default_resolver

    return default_resolver().registry
