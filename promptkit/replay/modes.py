"""The record modes, in one enum: what a recording session may replay and what it may record."""

from __future__ import annotations

from enum import StrEnum

from promptkit.errors import UsageError

__all__ = ["RecordMode"]


class RecordMode(StrEnum):
    """How a session treats the model endpoint (vcrpy / pytest-recording semantics).

    ``none``     replay only; a request with no recording fails (the default: CI never calls out)
    ``once``     a cassette file that does not exist yet is recorded whole; an existing one is
                 replayed only, as in ``none``
    ``new``      replay what is recorded; record requests that have no recording yet
    ``all``      always call the endpoint and overwrite the recordings it answers
    ``rewrite``  like ``all``, then drop every recording the session did not use (whole
                 cassette files and entries inside used cassettes)
    """

    NONE = "none"
    ONCE = "once"
    NEW = "new"
    ALL = "all"
    REWRITE = "rewrite"

    @classmethod
    def parse(cls, value: RecordMode | str) -> RecordMode:
        """The mode named by `value` (case-insensitive); a UsageError lists the valid names."""
        if isinstance(value, RecordMode):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = " | ".join(m.value for m in cls)
            raise UsageError(f"unknown record mode {value!r}; use one of: {names}") from None

    @property
    def replays(self) -> bool:
        """Whether a recorded answer is returned instead of calling the endpoint."""
        return self not in (RecordMode.ALL, RecordMode.REWRITE)

    def records(self, cassette_existed: bool) -> bool:
        """Whether a request without a (usable) recording may call the endpoint and be recorded."""
        if self is RecordMode.NONE:
            return False
        if self is RecordMode.ONCE:
            return not cassette_existed
        return True
