"""JSON Schema `format` checks: the schema's draft's own, plus stdlib checks for the common
formats jsonschema leaves unchecked unless optional packages are installed.

jsonschema checks `email`, `ipv4`, `ipv6`, `date`, `uuid`, `regex`, `idn-email` and
`idn-hostname` by itself; `date-time`, `time`, `duration`, `hostname` and `uri` need
packages promptkit does not depend on, and without them a malformed value would pass in
silence. The checks below fill those gaps (an installed package's check is kept).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from jsonschema import FormatChecker

__all__ = ["format_checker"]

_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DURATION = re.compile(
    r"^P(?!$)(\d+W|(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?)$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")


def _iso(text: str) -> str:
    """RFC 3339 text in the shape `fromisoformat` reads (upper-case T, `+00:00` for Z)."""
    return re.sub(r"[Zz]$", "+00:00", text.replace("t", "T"))


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_DATE_TIME.match(value)) and bool(datetime.datetime.fromisoformat(_iso(value)))


def _time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_TIME.match(value)) and bool(datetime.time.fromisoformat(_iso(value)))


def _pattern(regex: re.Pattern[str]) -> Callable[[object], bool]:
    return lambda value: not isinstance(value, str) or bool(regex.match(value))


def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    scheme = urlsplit(value).scheme
    return bool(scheme) and bool(_SCHEME.match(scheme)) and not re.search(r"\s", value)


_FALLBACKS: dict[str, Callable[[object], bool]] = {
    "date-time": _date_time,
    "time": _time,
    "duration": _pattern(_DURATION),
    "hostname": _pattern(_HOSTNAME),
    "uri": _uri,
}


def format_checker(validator_class: Any) -> FormatChecker:
    """The format checker for a draft's validator class: its own checks, and the fallbacks
    above for the formats it cannot check here."""
    checker = FormatChecker(formats=())
    checker.checkers = dict(validator_class.FORMAT_CHECKER.checkers)
    for name, check in _FALLBACKS.items():
        if name not in checker.checkers:
            checker.checks(name, raises=ValueError)(check)
    return checker
