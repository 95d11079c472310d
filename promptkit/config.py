"""Project settings: `[tool.promptkit]` in pyproject.toml, overridden by PROMPTKIT_* variables."""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from promptkit.errors import ConfigError

__all__ = ["RETRY_SETTINGS", "Settings", "check_retry_setting", "find_project_root",
           "load_settings"]

RETRY_SETTINGS: Mapping[str, tuple[type[int] | type[float], float, str]] = {
    "max_attempts": (int, 1, "an integer of at least 1"),
    "backoff_base_s": (float, 0, "a number of seconds, 0 or more"),
    "backoff_factor": (float, 1, "a number of at least 1"),
    "backoff_cap_s": (float, 0, "a number of seconds, 0 or more"),
}
"""The keys of `[tool.promptkit.retry]` (and `RetryPolicy`'s fields): type, least value, and
what an error message says was expected. `RetryPolicy` checks its fields by the same rules."""


@dataclass(frozen=True)
class Settings:
    """Where a project keeps its prompts, evals, recordings and registry."""

    root: Path
    prompts_dir: str = "prompts"
    evals_dir: str = "evals"
    fixtures_dir: str = "fixtures"
    embeddings_dir: str = ".promptkit/embeddings"
    """Where `similar` caches vectors, by content hash (a folder under the project, or an
    absolute path; a committed folder lets CI replay compute none)."""
    db_url: str = ""
    default_model: str = "default"
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Model configs from `[tool.promptkit.models.NAME]`: defaults for a fresh checkout;
    the registry's configs of the same name take precedence."""
    environments: str = "production,staging"
    """The environments a pin may name (comma-separated; `environments = [...]` in
    pyproject.toml): a typo in `--env` is refused instead of creating a new one."""
    retry: Mapping[str, int | float] = field(default_factory=dict)
    """promptkit's retry policy from `[tool.promptkit.retry]`, overridden key by key by
    `PROMPTKIT_RETRY_<KEY>` variables; checked here, turned into a policy by
    `RetryPolicy.from_settings`. Keys left out keep `RetryPolicy`'s defaults."""

    registry_wait_s: str = "0.05"
    """The longest `promptkit.get()` waits on the registry when it has a version to serve
    meanwhile (from memory, or the last-known copy on disk)."""
    registry_timeout_s: str = "2"
    """How long a registry query may go unanswered before it counts as an outage (last-known
    versions served, marked stale) and the longest a first `get()` with nothing known waits."""
    registry_push: str = "true"
    """Whether resolvers learn of pin moves as they commit (PostgreSQL's LISTEN/NOTIFY,
    SQLite's data_version) instead of only at their ttl check."""
    registry_heartbeat_s: str = "10"
    """How often a serving process reports what it serves (`promptkit fleet`); 0: never."""

    canary_confidence: str = "0.95"
    """The canary monitor's confidence: an equally good canary is aborted with a chance
    under (1 - confidence) / 2, however often it looks (`promptkit.evals.canary`)."""
    canary_min_calls: str = "100"
    """Canary calls before the monitor's first look."""
    canary_max_calls: str = "2000"
    """Canary calls by which the monitor has spent its error rate: undecided then, it holds
    and says so."""
    canary_margin: str = "0.02"
    """How far a canary's failure, schema-failure and re-ask rates may be above stable's
    for it to be promoted (and how far its feedback may be below)."""
    canary_max_latency_increase: str = "0.25"
    """A canary whose mean latency is shown above stable's by more than this share is
    aborted (and must be shown below it to be promoted)."""
    canary_max_cost_increase: str = "0.25"
    """The same for the cost per call."""
    canary_on_success: str = "promote"
    """What the monitor does with a canary shown as good: promote it, or hold it for a
    person to promote."""

    def seconds(self, name: str) -> float:
        """A duration setting as a number, or a one-line `ConfigError` naming it."""
        text = str(getattr(self, name))
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0 or value == float("inf"):
            raise ConfigError(f"setting {name} (PROMPTKIT_{name.upper()} or [tool.promptkit] "
                              f"{name}) is {text!r}: expected a number of seconds above 0")
        return value

    def seconds_or_off(self, name: str) -> float | None:
        """A duration setting that 0 (or `off`) turns off: None then."""
        return None if str(getattr(self, name)).strip().lower() in _OFF else self.seconds(name)

    def flag(self, name: str) -> bool:
        """A yes/no setting (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`)."""
        text = str(getattr(self, name)).strip().lower()
        if text in _ON or text in _OFF:
            return text in _ON
        raise ConfigError(f"setting {name} (PROMPTKIT_{name.upper()} or [tool.promptkit] "
                          f"{name}) is {text!r}: expected true or false")

    @property
    def environment_names(self) -> tuple[str, ...]:
        return tuple(e.strip() for e in self.environments.split(",") if e.strip())

    @property
    def prompts_path(self) -> Path:
        return self.root / self.prompts_dir

    @property
    def evals_path(self) -> Path:
        return self.root / self.evals_dir

    @property
    def fixtures_path(self) -> Path:
        return self.root / self.fixtures_dir

    @property
    def embeddings_path(self) -> Path:
        return self.root / self.embeddings_dir

    @property
    def database_url(self) -> str:
        """The registry URL: the setting, or SQLite under `.promptkit/` beside the project."""
        return self.db_url or f"sqlite:///{self.root / '.promptkit' / 'promptkit.db'}"

    def key_values(self) -> list[str]:
        """The values of the environment variables this project's model configs name as
        their keys (`api_key_env`): secrets whatever the variables are called."""
        names = {str(m.get("api_key_env")) for m in self.models.values() if m.get("api_key_env")}
        return [os.environ[n] for n in sorted(names) if os.environ.get(n)]


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding pyproject.toml or prompts/."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() or (folder / "prompts").is_dir():
            return folder
    return here


def load_settings(root: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the settings once: defaults < pyproject.toml < PROMPTKIT_* environment variables."""
    env = os.environ if environ is None else environ
    base = Path(env["PROMPTKIT_ROOT"]) if "PROMPTKIT_ROOT" in env else None
    project = find_project_root(root or base)
    settings = Settings(root=project)
    settings = replace(settings, **_from_pyproject(project / "pyproject.toml"))
    overrides: dict[str, Any] = {
        f.name: env[f"PROMPTKIT_{f.name.upper()}"]
        for f in fields(Settings)
        if f.name not in _TABLES and f"PROMPTKIT_{f.name.upper()}" in env
    }
    return replace(settings, retry={**settings.retry, **_retry_from_env(env)}, **overrides)


_ON, _OFF = ("true", "1", "yes", "on"), ("false", "0", "0.0", "no", "off")

_TABLES = ("root", "models", "retry")
"""Settings no single PROMPTKIT_<NAME> variable overrides (retry's keys have their own)."""


def check_retry_setting(key: str, value: object) -> int | float:
    """`value` as the type `RETRY_SETTINGS` gives `key`, or ValueError saying what was
    expected. Booleans, strings, NaN and infinities are refused."""
    kind, least, expected = RETRY_SETTINGS[key]
    if isinstance(value, bool) or not isinstance(value, kind | int):
        raise ValueError(expected)
    if not math.isfinite(value) or value < least:
        raise ValueError(expected)
    return kind(value)


def _retry_from_env(env: Mapping[str, str]) -> dict[str, int | float]:
    checked: dict[str, int | float] = {}
    for key, (kind, _, expected) in RETRY_SETTINGS.items():
        name = f"PROMPTKIT_RETRY_{key.upper()}"
        if name in env:
            try:
                checked[key] = check_retry_setting(key, kind(env[name]))
            except ValueError:
                raise ConfigError(f"{name}={env[name]!r}: expected {expected}") from None
    return checked


def _retry_table(path: Path, table: object) -> dict[str, int | float]:
    where = f"{path}: [tool.promptkit.retry]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of settings")
    unknown = sorted(set(table) - set(RETRY_SETTINGS))
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(RETRY_SETTINGS)}")
    checked: dict[str, int | float] = {}
    for key, value in table.items():
        try:
            checked[key] = check_retry_setting(key, value)
        except ValueError as exc:
            raise ConfigError(f"{where} {key} = {value!r}: expected {exc}") from None
    return checked


def _from_pyproject(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("promptkit", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    allowed = {f.name for f in fields(Settings)} - {"root"}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{path}: [tool.promptkit] has unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    models = table.pop("models", {})
    if not isinstance(models, dict) or not all(isinstance(m, dict) for m in models.values()):
        raise ConfigError(f"{path}: [tool.promptkit.models.NAME] must be tables of settings")
    retry = _retry_table(path, table.pop("retry", {}))
    if isinstance(table.get("environments"), list):
        table["environments"] = ",".join(map(str, table["environments"]))
    return {**{k: str(v) for k, v in table.items()}, "models": models, "retry": retry}
