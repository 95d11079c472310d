"""Datasets of cases (JSONL, CSV, JSON) read into case mappings, each with where it came from.

Values stay as the file holds them (a CSV cell is text); `evals.case_variables` reads them
as the prompt version under test declares its inputs, and names the row and the column
when one cannot be read so.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RowOrigin", "load_dataset", "row_to_case"]

_CASE_KEYS = {"id", "vars", "expect", "critical", "assert"}


@dataclass(frozen=True)
class RowOrigin:
    """Where a case was read: the dataset file, the line its row starts on (None in a JSON
    list), its row number (1 for the first case), and the variables the row holds."""

    path: Path
    line: int | None
    number: int
    columns: frozenset[str] = frozenset()

    def at(self) -> dict[str, Any]:
        """The location of an error about this row, for a `PromptError`."""
        return {"path": self.path, "line": self.line}


def load_dataset(path: Path) -> list[tuple[RowOrigin, dict[str, Any]]]:
    """Rows as case mappings (`id`, `vars`, `expect`, `critical`, `assert`), each with its
    origin.

    A row either has those keys, or is flat: `expect.<key>` columns are expected values,
    `id` and `critical` keep their meaning, and every other column is a variable.
    """
    suffix = path.suffix.lower()
    readers = {".jsonl": _json_lines, ".json": _json_list, ".csv": _csv_rows}
    if suffix not in readers:
        raise ValueError(f"unsupported dataset format {suffix!r}: use .jsonl, .json or .csv")
    cases = []
    shared: dict[frozenset[str], frozenset[str]] = {}  # rows share their set of columns
    for number, (line, row) in enumerate(readers[suffix](path), 1):
        if not isinstance(row, dict):
            where = f"line {line}" if line else f"row {number}"
            raise ValueError(f"{path.name}: {where}: a row is an object, got {row!r}")
        case = row_to_case(row)
        variables = case.get("vars")
        columns = frozenset(variables) if isinstance(variables, dict) else frozenset()
        columns = shared.setdefault(columns, columns)
        cases.append((RowOrigin(path, line, number, columns), case))
    return cases


def _json_lines(path: Path) -> list[tuple[int | None, Any]]:
    rows: list[tuple[int | None, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name}:{number}: not valid JSON: {exc.msg}") from None
    return rows


def _json_list(path: Path) -> list[tuple[int | None, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path.name}: a .json dataset is a list of rows")
    return [(None, row) for row in data]


def _csv_rows(path: Path) -> list[tuple[int | None, Any]]:
    """Every row of a CSV file with a header line, as text, with the line it starts on (a
    quoted cell may span lines); blank lines are skipped."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows: list[tuple[int | None, Any]] = []
        start = reader.line_num + 1
        for cells in reader:
            if cells and len(cells) != len(header):
                raise ValueError(f"{path.name}:{start}: {len(cells)} cells, but the header "
                                 f"has {len(header)} columns")
            if cells:
                rows.append((start, dict(zip(header, cells, strict=True))))
            start = reader.line_num + 1
    return rows


def row_to_case(row: dict[str, Any]) -> dict[str, Any]:
    """A dataset row in case form (nested rows pass through unchanged)."""
    if "vars" in row or set(row) <= _CASE_KEYS:
        return {**row, "id": str(row["id"])} if "id" in row else dict(row)
    case: dict[str, Any] = {"vars": {}, "expect": {}}
    for key, value in row.items():
        if key.startswith("expect."):
            case["expect"][key.removeprefix("expect.")] = value
        elif key == "critical":
            case["critical"] = str(value).strip().lower() in ("1", "true", "yes")
        elif key == "id":
            case["id"] = str(value)
        else:
            case["vars"][key] = value
    return case
