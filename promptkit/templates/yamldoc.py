"""YAML read with the line of every key and item, so errors can point at the file line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from promptkit.templates.limits import LIMITS, limit_message

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
    """Parse `text` (which starts at file line `first_line`); duplicate keys are errors, and
    so is a document nested deeper than `max_yaml_depth` or one whose aliases would expand
    past `max_yaml_nodes` (checked on the events, before anything is built)."""
    try:
        _check_shape(text, first_line)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + first_line if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        column = f", column {mark.column + 1}" if mark is not None else ""
        text = " ".join(f"{problem}{f' ({context})' if context else ''}".split())
        raise YamlProblem(f"not valid YAML: {text}{column}", line) from None
    return YamlDoc(data, node, _positions(node, first_line, ()))


def _check_shape(text: str, first_line: int) -> None:
    """Depth and expanded size from the parser's events: an alias counts as many nodes as
    the anchored node it repeats, so the 'billion laughs' is refused in microseconds."""
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[None, 0]]  # [anchor, nodes so far] per open collection
    total_limit, depth_limit = LIMITS.max_yaml_nodes, LIMITS.max_yaml_depth
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = (event.start_mark.line if event.start_mark else 0) + first_line
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1])
            if len(stack) - 1 > depth_limit:
                raise YamlProblem(limit_message("the YAML nests deeper than", "max_yaml_depth"),
                                  line)
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, count = stack.pop()
            if anchor:
                sizes[anchor] = count
            stack[-1][1] += count
        elif isinstance(event, yaml.AliasEvent):
            stack[-1][1] += sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            stack[-1][1] += 1
            if event.anchor:
                sizes[event.anchor] = 1
        else:
            continue
        if sum(entry[1] for entry in stack) > total_limit:
            raise YamlProblem(limit_message("the YAML (its aliases expanded) holds more nodes "
                                            "than", "max_yaml_nodes"), line)


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
