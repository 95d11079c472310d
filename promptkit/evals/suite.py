"""Eval suites: `evals/<name>.yaml` naming a prompt, its cases (inline or a dataset) and
the assertions every case must pass; for a prompt with tools, the Python functions that
implement them (`tools: {lookup_order: "shop.tools:lookup_order"}`), which make each case a
tool run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from promptkit.config import find_project_root
from promptkit.errors import SuiteFormatError
from promptkit.evals.assertions import Assertion, Equals, Similar, build_assertion
from promptkit.evals.dataset import RowOrigin, load_dataset
from promptkit.evals.imports import import_object
from promptkit.hashing import content_hash
from promptkit.templates.yamldoc import YamlDoc, YamlProblem, load_yaml

__all__ = ["Case", "Suite", "load_suite", "load_suites"]


class _CaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    expect: dict[str, Any] = Field(default_factory=dict)
    critical: bool = False
    assert_: list[Any] = Field(default_factory=list, alias="assert")


class _SuiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt: str
    description: str = ""
    model: str | None = None
    dataset: str | None = None
    cases: list[_CaseSpec] = Field(default_factory=list)
    assert_: list[Any] = Field(default_factory=list, alias="assert")
    repeat: int = Field(default=1, ge=1)
    threshold: float = Field(default=1.0, ge=0, le=1)
    vars: dict[str, Any] = Field(default_factory=dict)
    tools: dict[str, str] = Field(default_factory=dict)
    max_steps: int = Field(default=10, ge=0)


_ROWS = TypeAdapter(list[_CaseSpec])
"""A dataset's rows validated in one call (per-row calls cost a third of collection)."""


@dataclass(frozen=True)
class Case:
    """One case: variables, the assertions it must pass, and whether it is critical.
    `origin` is the dataset row it was read from (None for a case written in the suite)."""

    id: str
    variables: dict[str, Any]
    assertions: tuple[Assertion, ...]
    critical: bool = False
    expect: dict[str, Any] = field(default_factory=dict)
    origin: RowOrigin | None = None


@dataclass(frozen=True)
class Suite:
    """A prompt's eval suite. A case passes when at least `threshold` of its `repeat`
    runs pass every assertion. `model` names the model config its recordings come from
    (`--prompt-model` overrides it). `tools` maps each tool of the prompt to its Python
    function: with tools, each case is a tool run of at most `max_steps` tool calls."""

    name: str
    path: Path
    prompt: str
    cases: tuple[Case, ...]
    repeat: int = 1
    threshold: float = 1.0
    description: str = ""
    model: str | None = None
    content_hash: str = ""
    tools: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    max_steps: int = 10


def load_suites(folder: Path) -> list[Suite]:
    """Every `*.yaml` / `*.yml` suite directly in `folder`, by name."""
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    return [load_suite(path) for path in files]


def load_suite(path: Path, root: Path | None = None) -> Suite:
    """Parse and check a suite file; every error names the file, line and field. Tool
    functions are imported with the project's `root` importable (default: the folder
    holding the suite's project, found from the suite's folder up)."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = load_yaml(text)
    except YamlProblem as exc:
        raise SuiteFormatError(exc.message, path=path, line=exc.line, field=exc.field) from None
    spec = _validate(doc, path)
    suite_assertions = _assertions(spec.assert_, doc, ("assert",), path)
    rows: list[tuple[_CaseSpec, tuple[str | int, ...], RowOrigin | None]] = [
        (c, ("cases", i), None) for i, c in enumerate(spec.cases)
    ]
    if spec.dataset:
        rows += [(c, ("dataset",), o) for o, c in _dataset_cases(path, spec.dataset, doc)]
    if not rows:
        raise SuiteFormatError("the suite has no cases: add `cases:` or a `dataset:`",
                               path=path, line=1, field="cases")
    shared = _Shared(suite_assertions, _compared(suite_assertions))
    cases = tuple(
        _case(case, index, loc, origin, spec, shared, doc, path)
        for index, (case, loc, origin) in enumerate(rows, 1)
    )
    _unique_ids(cases, path)
    tools = _tools(spec.tools, root or find_project_root(path.parent), doc, path)
    return Suite(name=path.stem, path=path, prompt=spec.prompt, cases=cases,
                 repeat=spec.repeat, threshold=spec.threshold, description=spec.description,
                 model=spec.model, content_hash=_hash(text, path, spec.dataset), tools=tools,
                 max_steps=spec.max_steps)


def _tools(references: dict[str, str], root: Path, doc: YamlDoc,
           path: Path) -> dict[str, Callable[..., Any]]:
    """Each tool's function, imported; a missing one is an error at its line."""
    functions = {}
    for name, reference in references.items():
        try:
            function = import_object(reference, root)
            if not callable(function):
                raise ValueError(f"{reference} is not callable")
        except (ValueError, ImportError) as exc:
            raise SuiteFormatError(f"tools.{name}: {exc}", path=path,
                                   line=doc.line_of(("tools", name)),
                                   field=f"tools.{name}") from None
        functions[name] = function
    return functions


def _hash(text: str, path: Path, dataset: str | None) -> str:
    """The suite's content: its file and its dataset's bytes (a changed case, assertion or
    dataset row gives another hash, so stored results of the old suite are not reused)."""
    data = (path.parent / dataset).read_bytes().hex() if dataset else None
    return content_hash({"suite": text, "dataset": data})


def _validate(doc: YamlDoc, path: Path) -> _SuiteSpec:
    if not isinstance(doc.data, dict):
        raise SuiteFormatError("a suite is a YAML mapping", path=path, line=1)
    try:
        return _SuiteSpec.model_validate(doc.data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        dotted = ".".join(str(p) for p in loc)
        if error["type"] == "extra_forbidden":
            parent = _CaseSpec if "cases" in loc else _SuiteSpec
            allowed = sorted(f.alias or n for n, f in parent.model_fields.items())
            message = f"unknown key {loc[-1]!r}; allowed keys: {', '.join(allowed)}"
        else:
            message = f"{dotted}: {error['msg']}"
        raise SuiteFormatError(message, path=path, line=doc.line_of(loc), field=dotted) from None


def _dataset_cases(path: Path, dataset: str, doc: YamlDoc
                   ) -> list[tuple[RowOrigin, _CaseSpec]]:
    try:
        rows = load_dataset(path.parent / dataset)
        specs = _ROWS.validate_python([row for _, row in rows])
        return [(origin, spec) for (origin, _), spec in zip(rows, specs, strict=True)]
    except (OSError, ValueError, ValidationError) as exc:
        raise SuiteFormatError(f"dataset {dataset}: {exc}", path=path,
                               line=doc.line_of(("dataset",)), field="dataset") from None


def _assertions(specs: list[Any], doc: YamlDoc, loc: tuple, path: Path) -> list[Assertion]:
    """The assertions of `specs`; a `python` one imports its module from the project root."""
    built = []
    for index, spec in enumerate(specs):
        try:
            built.append(build_assertion(spec, root=find_project_root(path.parent)))
        except (ValueError, ImportError) as exc:
            where = (*loc, index)
            raise SuiteFormatError(str(exc), path=path, line=doc.line_of(where),
                                   field=".".join(map(str, where))) from None
    return built


@dataclass
class _Shared:
    """What every case of a suite shares, worked out once: the suite's assertions, the
    expected keys its `similar` ones compare, one `Equals` per expected key and value."""

    assertions: list[Assertion]
    compared: set[str | None]
    equals: dict[tuple[str, str], Equals] = field(default_factory=dict)


def _compared(assertions: list[Assertion]) -> set[str | None]:
    return {a.expect_key for a in assertions if isinstance(a, Similar)}


def _case(case: _CaseSpec, index: int, loc: tuple, origin: RowOrigin | None, spec: _SuiteSpec,
          suite: _Shared, doc: YamlDoc, path: Path) -> Case:
    case_id = case.id or f"case-{index}"
    own = _assertions(case.assert_, doc, (*loc, "assert"), path) if case.assert_ else []
    compared = suite.compared | _compared(own) if own else suite.compared
    try:
        shared = [_expecting(a, case.expect, case_id) for a in suite.assertions]
        own = [_expecting(a, case.expect, case_id) for a in own]
    except ValueError as exc:
        raise SuiteFormatError(str(exc), path=path, line=doc.line_of(loc),
                               field=".".join(map(str, (*loc, "expect")))) from None
    expected = [_equals(key, value, suite.equals) for key, value in case.expect.items()
                if key not in compared]
    return Case(
        id=case_id,
        variables={**spec.vars, **case.vars},
        assertions=(*shared, *expected, *own),
        critical=case.critical,
        expect=dict(case.expect),
        origin=origin,
    )


def _equals(key: str, value: Any, shared: dict[tuple[str, str], Equals]) -> Equals:
    """One `Equals` per expected key and value in a suite: 100,000 cases expecting one of
    three labels hold three objects, not 100,000."""
    marker = (key, f"{type(value).__name__}:{value!r}")
    if marker not in shared:
        shared[marker] = Equals(value, path=key)
    return shared[marker]


def _expecting(assertion: Assertion, expect: dict[str, Any], case_id: str) -> Assertion:
    """A `similar` without a `value` takes its expected text from the case's `expect`
    (which then checks that entry with it instead of an `equals`)."""
    if not isinstance(assertion, Similar) or assertion.expect_key is None:
        return assertion
    key = assertion.expect_key
    if key not in expect:
        raise ValueError(f"case {case_id!r}: `similar` has no `value` and the case no "
                         f"`expect: {{{key}: ...}}` to compare with")
    return assertion.expecting(str(expect[key]))


def _unique_ids(cases: tuple[Case, ...], path: Path) -> None:
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise SuiteFormatError(f"two cases share the id {case.id!r}", path=path, field="id")
        seen.add(case.id)
