"""Datasets of cases (JSONL, CSV, JSON) read with pandas into case mappings."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["load_dataset", "row_to_case"]

_CASE_KEYS = {"id", "vars", "expect", "critical", "assert"}


def load_dataset(path: Path) -> list[dict[str, Any]]:
    """Rows as case mappings (`id`, `vars`, `expect`, `critical`, `assert`).

    A row either has those keys, or is flat: `expect.<key>` columns are expected values,
    `id` and `critical` keep their meaning, and every other column is a variable.
    """
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        frame = pd.DataFrame(_json_lines(path), dtype=object)
    elif suffix == ".json":
        frame = pd.DataFrame(json.loads(path.read_text(encoding="utf-8")), dtype=object)
    elif suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    else:
        raise ValueError(f"unsupported dataset format {suffix!r}: use .jsonl, .json or .csv")
    return [row_to_case(_clean(row)) for row in frame.to_dict(orient="records")]


def _json_lines(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name}:{number}: not valid JSON: {exc.msg}") from None
    return rows


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """Drop the NaN pandas puts in columns a JSONL row did not have."""
    return {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}


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
