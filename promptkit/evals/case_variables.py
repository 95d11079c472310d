"""A case's variables as one prompt version reads them: dataset text read as the inputs
are declared, and image paths found beside the suite.

Datasets hold text (a CSV cell always is, a JSONL value may be); the prompt version under
test says what each input is, so `3` becomes an integer for `count: integer` and stays
text for `code: string`. Versions may declare an input differently, so this happens per
version, and a value that cannot be read names the file, the row's line and the column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptkit.errors import InputValidationError
from promptkit.evals.dataset import RowOrigin
from promptkit.templates import Prompt
from promptkit.templates.inputs import declared_types, value_from_text

__all__ = ["case_variables"]

_URL_PREFIXES = ("http://", "https://", "data:")


def case_variables(variables: dict[str, Any], origin: RowOrigin | None, prompt: Prompt,
                   folder: Path) -> dict[str, Any]:
    """`variables` ready to render `prompt`: a dataset row's text values read by the types
    the prompt declares, and relative image paths taken from `folder` (the suite's)."""
    values = dict(variables)
    if origin is not None:
        for name in sorted(origin.columns & prompt.meta.inputs.keys()):
            _read_column(values, name, origin, prompt)
    for name in prompt.image_variables & values.keys():
        values[name] = _beside(values[name], folder)
    return values


def _read_column(values: dict[str, Any], name: str, origin: RowOrigin, prompt: Prompt) -> None:
    """Read one text value as its input declares; an empty one for an input that is not
    text is left out (so the input's default applies, or it is reported missing)."""
    text, spec = values[name], prompt.meta.inputs[name]
    types = declared_types(spec)
    if not isinstance(text, str) or not types or "string" in types:
        return
    if not text.strip() and "null" not in types:
        del values[name]
        return
    try:
        values[name] = value_from_text(text, spec)
    except ValueError as exc:
        row = "" if origin.line else f"row {origin.number}, "
        raise InputValidationError(
            f"{row}column {name!r}: {exc} (the input {name!r} is declared "
            f"{' or '.join(types)})", variable=name, prompt=prompt.name,
            version=prompt.version, **origin.at()) from None


def _beside(value: Any, folder: Path) -> Any:
    """A relative image path as a path from `folder`; URLs and absolute paths as given."""
    if not isinstance(value, str) or value.startswith(_URL_PREFIXES) or Path(value).is_absolute():
        return value
    return str(folder / value)
