"""YAML read with the line of every key and item, so errors can point at the file line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["YamlDoc", "YamlProblem", "load_yaml"]

Path_ = tuple[str | int, ...]


class YamlProblem(ValueError):
    """Text that is not the YAML expected; `line` is 1-based in the file, `field` dotted."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        self.message, self.line, self.field = message, line, field
        super().__init__(message)


@dataclass(frozen=True)
class YamlDoc:
    """Parsed data plus the file line of every mapping key and sequence item."""

    data: Any
    node: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def raw_scalar(self, key: str) -> str | None:
        """A top-level scalar's text exactly as written (`1.10` stays "1.10", not 1.1)."""
        if not isinstance(self.node, yaml.MappingNode):
            return None
        for key_node, value_node in self.node.value:
            if key_node.value == key and isinstance(value_node, yaml.ScalarNode):
                return str(value_node.value)
        return None


def load_yaml(text: str, first_line: int = 1) -> YamlDoc:
    """Parse `text` (which starts at file line `first_line`); duplicate keys are errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + first_line if mark is not None else None
        raise YamlProblem(f"not valid YAML: {exc}", line) from None
    return YamlDoc(data, node, _positions(node, first_line, ()))


def _positions(node: Any, first_line: int, prefix: Path_) -> dict[Path_, int]:
    lines: dict[Path_, int] = {}
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*prefix, index)] = item.start_mark.line + first_line
            lines.update(_positions(item, first_line, (*prefix, index)))
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, str(key.value))
            line = key.start_mark.line + first_line
            if path in lines:
                dotted = ".".join(str(p) for p in path)
                raise YamlProblem(f"duplicate key {dotted!r}", line, dotted)
            lines[path] = line
            lines.update(_positions(value, first_line, path))
    return lines
