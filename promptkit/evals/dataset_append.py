"""A reviewed call becomes a regression case: its inputs and the reviewer's expected answer
appended to the suite's dataset (JSONL, JSON or CSV), or to the suite's own `cases:`.

    add_to_dataset(registry, call_id, suite, {"sentiment": "negative"})

The inputs are the variables the call was made with (`call_prompt` keeps them in the call's
metadata, which the call log stores). The suite is read again afterwards: the new case is
what the next `pytest evals` collects, or the file is put back as it was.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from promptkit.errors import SuiteFormatError, UsageError
from promptkit.evals.reviews import reviews_of
from promptkit.evals.suite import Suite, load_suite
from promptkit.files import write_atomically
from promptkit.registry import Registry
from promptkit.registry.calllog_sink import call_log

__all__ = ["AddedCase", "add_to_dataset", "append_case"]

_CASES_KEY = re.compile(r"^cases:\s*$", re.MULTILINE)
_TOP_KEY = re.compile(r"^[A-Za-z_][\w-]*:", re.MULTILINE)


@dataclass(frozen=True)
class AddedCase:
    """The case appended, and the file that holds it now."""

    case_id: str
    path: Path
    case: dict[str, Any]


def add_to_dataset(registry: Registry, call_id: str, suite: Suite, expect: dict[str, Any], *,
                   case_id: str | None = None, critical: bool = False) -> AddedCase:
    """Append logged call `call_id` to `suite` as a case expecting `expect` (`{"$": text}`
    for a text answer). The call must be of the suite's prompt, reviewed, and have its
    inputs in the log."""
    row = _call(registry, call_id)
    if row.prompt != suite.prompt:
        raise UsageError(f"call {call_id} is of prompt {row.prompt!r}, suite {suite.name} "
                         f"tests {suite.prompt!r}")
    if not reviews_of(registry, "call", call_id):
        raise UsageError(f"call {call_id} has no review yet: review it first")
    variables = (row.meta or {}).get("variables")
    if not isinstance(variables, dict):
        raise UsageError(f"call {call_id} has no stored inputs (logged before promptkit kept "
                         f"a call's variables in its metadata)")
    case: dict[str, Any] = {"id": case_id or f"call-{call_id[:12]}", "vars": variables,
                            "expect": expect}
    if critical:
        case["critical"] = True
    return append_case(suite, case)


def _call(registry: Registry, call_id: str) -> Any:
    registry.migrate()
    with registry.engine.connect() as conn:
        row = conn.execute(sa.select(call_log.c.prompt, call_log.c.meta)
                           .where(call_log.c.id == call_id)).first()
    if row is None:
        raise UsageError(f"no logged call {call_id!r}")
    return row


def append_case(suite: Suite, case: dict[str, Any]) -> AddedCase:
    """Append `case` (`id`, `vars`, `expect`, optional `critical`) to `suite`'s dataset file,
    or to its `cases:` when it has none; refused if the id is taken or the suite would not
    load with it (the file is then left as it was)."""
    if case["id"] in {c.id for c in suite.cases}:
        raise UsageError(f"suite {suite.name} has a case {case['id']!r} already")
    dataset = suite.cases[-1].origin.path if suite.cases and suite.cases[-1].origin else None
    path = dataset or suite.path
    before = path.read_bytes()
    write_atomically(path, _with_case(path, before.decode("utf-8"), case, dataset is None))
    try:
        reloaded = load_suite(suite.path)
    except SuiteFormatError:
        write_atomically(path, before)
        raise
    if case["id"] not in {c.id for c in reloaded.cases}:
        write_atomically(path, before)
        raise UsageError(f"{path}: the appended case was not read back; file left unchanged")
    return AddedCase(case["id"], path, case)


def _with_case(path: Path, text: str, case: dict[str, Any], inline: bool) -> str:
    if not inline and path.suffix.lower() == ".json":
        return json.dumps([*json.loads(text), case], indent=2, ensure_ascii=False) + "\n"
    return text + _appended(path, text, case, inline)


def _appended(path: Path, text: str, case: dict[str, Any], inline: bool) -> str:
    """The text to add at the end of `path` (after a newline if it lacks one)."""
    gap = "\n" if text and not text.endswith("\n") else ""
    if inline:
        return gap + _yaml_item(text, case)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return gap + json.dumps(case, ensure_ascii=False) + "\n"
    if suffix == ".csv":
        return gap + _csv_row(text, case)
    raise UsageError(f"{path.name}: appending to a {suffix} dataset is not supported "
                     f"(use .jsonl, .json or .csv)")


def _yaml_item(text: str, case: dict[str, Any]) -> str:
    """A flow-style item (JSON is YAML) for a suite whose last top-level key is `cases:`."""
    keys = _TOP_KEY.findall(text)
    found = _CASES_KEY.search(text)
    if found is None or keys[-1:] != ["cases:"]:
        raise UsageError("the suite has no dataset file and `cases:` is not its last key: "
                         "add the case by hand, or give the suite a `dataset:`")
    items = re.findall(r"^([ \t]*)- ", text[found.end():], re.MULTILINE)
    indent = items[0] if items else "  "
    return f"{indent}- {json.dumps(case, ensure_ascii=False)}\n"


def _csv_row(text: str, case: dict[str, Any]) -> str:
    """A flat row under the file's header (`expect.KEY` columns, variables by name)."""
    header = next(csv.reader(io.StringIO(text)), [])
    flat = {"id": case["id"], "critical": "true" if case.get("critical") else "",
            **{k: v for k, v in case["vars"].items()},
            **{f"expect.{k}": v for k, v in case["expect"].items()}}
    missing = [k for k, v in flat.items() if k not in header and v != ""]
    if missing:
        raise UsageError(f"the CSV dataset has no column for {', '.join(missing)}")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([_cell(flat.get(k, "")) for k in header])
    return out.getvalue()


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
