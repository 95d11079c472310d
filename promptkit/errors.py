"""Every exception promptkit raises, in one tree.

    PromptkitError
    ├── UsageError                  a command or API called the wrong way (CLI exit 2)
    ├── ConfigError                 a bad setting or model config
    │   └── LocalExtraMissingError  the [local] extra or its model is not installed: .command
    ├── PromptError                 a prompt file: .prompt, .version, .path, .line
    │   ├── PromptNotFoundError     no such prompt or version
    │   ├── PromptFormatError       front matter: YAML, unknown key, wrong type (.field)
    │   ├── TemplateSyntaxError     the Jinja body does not parse
    │   ├── InputValidationError    variables missing, undeclared or of the wrong type
    │   ├── TemplateSecurityError   the template reached outside the sandbox
    │   └── ResourceLimitError      too big, too deep or too slow (templates.limits)
    ├── ModelCallError              one model call failed: .attempts, .last_output, .usage
    │   ├── ModelAPIError           the endpoint refused (not retried: 400, 401, 404, ...)
    │   ├── RetriesExhaustedError   transient failures outlasted every attempt
    │   ├── DeadlineExceededError   the call's overall deadline passed
    │   ├── CircuitOpenError        the endpoint's breaker is open; failing fast
    │   ├── OutputValidationError   the output broke its schema after every re-ask
    │   ├── TruncatedOutputError    finish_reason "length", or a stream cut short
    │   ├── RefusalError            the model refused to answer
    │   └── BudgetExceededError     the cost breaker stopped a call before it spent
    ├── ToolLoopError               a tool run stopped before its answer: .trajectory
    │   ├── StepLimitError          the model asked for more tool calls than max_steps
    │   ├── ToolDeadlineError       the run's overall deadline passed
    │   └── ToolFailedError         a tool raised, and the run was told to raise
    ├── ContextBudgetError          messages cannot fit the context window
    ├── ReplayMissError             no recording matches: .nearest, .differences
    ├── EmbeddingError              an embedding could not be computed: .embedder
    ├── LocalServerError            the local model server did not start: .log_tail
    ├── RegistryError               the prompt registry
    │   ├── NotPublishedError       a version or label the registry does not hold
    │   ├── ImmutableVersionError   a released version's content would change
    │   ├── IntegrityError          stored content does not match its hash
    │   ├── RegistryUnavailableError the database cannot be reached
    │   ├── RegistryPermissionError  the database refused the connected user: .user, .table
    │   ├── PinMovedError           the pin moved between a check and a move relying on it
    │   └── ProtectedEnvironmentError a rule of the environment refused a move: .env, .rule
    │       └── ApprovalPendingError the move waits for approvals: .request_id (exit 1)
    └── EvalError                   an eval suite or run
        ├── SuiteFormatError        a suite file: .path, .line, .field
        └── PromotionRefusedError   no passing gate for that content: .env, .command (exit 1)

Errors carry their evidence as attributes, not only in the message, so callers
and reports can use it without parsing text. A `ModelCallError` raised by a turn of a tool
run also carries that run's `.trajectory` so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ApprovalPendingError",
    "BudgetExceededError",
    "CircuitOpenError",
    "ConfigError",
    "ContextBudgetError",
    "DeadlineExceededError",
    "EmbeddingError",
    "EvalError",
    "ImmutableVersionError",
    "InputValidationError",
    "IntegrityError",
    "LocalExtraMissingError",
    "LocalServerError",
    "ModelAPIError",
    "ModelCallError",
    "NotPublishedError",
    "OutputValidationError",
    "PinMovedError",
    "PromotionRefusedError",
    "PromptError",
    "PromptFormatError",
    "PromptNotFoundError",
    "PromptkitError",
    "ProtectedEnvironmentError",
    "RefusalError",
    "RegistryError",
    "RegistryPermissionError",
    "RegistryUnavailableError",
    "ReplayMissError",
    "ResourceLimitError",
    "RetriesExhaustedError",
    "StaleRegistryWarning",
    "StepLimitError",
    "SuiteFormatError",
    "TemplateSecurityError",
    "TemplateSyntaxError",
    "ToolDeadlineError",
    "ToolFailedError",
    "ToolLoopError",
    "TruncatedOutputError",
    "UsageError",
]


class StaleRegistryWarning(UserWarning):
    """A last-known version or model config is served because the registry could not be
    asked."""


class PromptkitError(Exception):
    """The root of every error promptkit raises. Its message never shows a credential:
    anything `promptkit.redact` recognises is replaced when the error is printed."""

    def __str__(self) -> str:
        from promptkit.redact import scrub_text

        return scrub_text(super().__str__())


class UsageError(PromptkitError):
    """A command or function was called the wrong way."""


class ConfigError(PromptkitError):
    """A setting or a model config is missing or invalid."""


class LocalExtraMissingError(ConfigError):
    """What the local server needs is not installed; `.command` installs it."""

    def __init__(self, missing: Sequence[str], command: str) -> None:
        self.missing = list(missing)
        self.command = command
        super().__init__(
            f"the local model server needs {' and '.join(self.missing)}, which "
            f"{'is' if len(self.missing) == 1 else 'are'} not installed; install with:\n"
            f"    {command}"
        )


class LocalServerError(PromptkitError):
    """The local server exited or did not answer in time; carries the end of its log."""

    def __init__(
        self,
        message: str,
        *,
        log_path: Path | None = None,
        log_tail: str = "",
        returncode: int | None = None,
    ) -> None:
        self.log_path = log_path
        self.log_tail = log_tail
        self.returncode = returncode
        where = f"\nlast lines of {log_path}:\n{log_tail}" if log_tail else ""
        super().__init__(f"{message}{where}")


class PromptError(PromptkitError):
    """A problem with one prompt file, located as precisely as known."""

    def __init__(
        self,
        message: str,
        *,
        prompt: str | None = None,
        version: str | None = None,
        path: Path | str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.prompt = prompt
        self.version = version
        self.path = Path(path) if path is not None else None
        self.line = line
        super().__init__(self._format())

    @property
    def ref(self) -> str | None:
        """`name@version` of the prompt, when known."""
        if self.prompt is None:
            return None
        return f"{self.prompt}@{self.version}" if self.version else self.prompt

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        ref = f"{self.ref}: " if self.ref else ""
        return f"{where}{ref}{self.message}"


class PromptNotFoundError(PromptError):
    """No prompt or version by that name."""


class PromptFormatError(PromptError):
    """The front matter is not valid: bad YAML, an unknown key, a wrong type."""

    def __init__(self, message: str, *, field: str | None = None, **where: Any) -> None:
        self.field = field
        super().__init__(message, **where)


class TemplateSyntaxError(PromptError):
    """The Jinja template body does not parse."""


class InputValidationError(PromptError):
    """The variables given to a render do not match the declared inputs."""

    def __init__(self, message: str, *, variable: str | None = None, **where: Any) -> None:
        self.variable = variable
        super().__init__(message, **where)


class TemplateSecurityError(PromptError):
    """The template tried to reach Python internals the sandbox forbids."""


class ResourceLimitError(PromptError):
    """A prompt file, its front matter or its rendering went past a limit
    (`promptkit.templates.limits`): too big, too deep, too long to render."""


class ModelCallError(PromptkitError):
    """A model call failed; carries the evidence of every attempt."""

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[Any] = (),
        last_output: str | None = None,
        usage: Any = None,
        cost_usd: float = 0.0,
    ) -> None:
        self.attempts = list(attempts)
        self.last_output = last_output
        self.usage = usage
        self.cost_usd = cost_usd
        self.trajectory: Any = None
        """In a tool run, the steps and turns before this call failed (a `Trajectory`)."""
        super().__init__(message)


class ModelAPIError(ModelCallError):
    """The endpoint answered with an error that retrying cannot fix."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        **evidence: Any,
    ) -> None:
        self.status_code = status_code
        self.request_id = request_id
        super().__init__(message, **evidence)


class RetriesExhaustedError(ModelCallError):
    """Transient failures (429, 5xx, resets, malformed bodies) outlasted every attempt."""


class DeadlineExceededError(ModelCallError):
    """The overall deadline of the call passed."""


class CircuitOpenError(ModelCallError):
    """The endpoint failed too often in a row; calls fail fast until a probe succeeds."""


class OutputValidationError(ModelCallError):
    """The output did not validate against its schema after every re-ask."""

    def __init__(self, message: str, *, errors: Sequence[str] = (), **evidence: Any) -> None:
        self.errors = list(errors)
        super().__init__(message, **evidence)


class TruncatedOutputError(ModelCallError):
    """The output was cut short: finish_reason "length" or a stream that ended early."""


class RefusalError(ModelCallError):
    """The model refused to answer."""


class BudgetExceededError(ModelCallError):
    """The cost circuit breaker refused a call that could spend past its budget.

    `budget` names the budget (`call`, `run`, `day <config>`), `limit_usd` its limit,
    `spent_usd` what it had spent, `reserved_usd` what attempts in flight held, and
    `estimate_usd` the worst case of the attempt refused.
    """

    def __init__(
        self,
        message: str,
        *,
        budget: str | None = None,
        limit_usd: float | None = None,
        spent_usd: float | None = None,
        reserved_usd: float | None = None,
        estimate_usd: float | None = None,
        **evidence: Any,
    ) -> None:
        self.budget = budget
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.reserved_usd = reserved_usd
        self.estimate_usd = estimate_usd
        super().__init__(message, **evidence)


class ToolLoopError(PromptkitError):
    """A tool run ended without a final answer; `trajectory` holds what it did until then
    (a `promptkit.core.Trajectory`: the steps, the model turns, the messages, the cost)."""

    def __init__(self, message: str, *, trajectory: Any = None) -> None:
        self.trajectory = trajectory
        super().__init__(message)


class StepLimitError(ToolLoopError):
    """The model asked for another tool call after `max_steps` of them."""


class ToolDeadlineError(ToolLoopError):
    """The tool run's overall deadline passed (during a model turn or a tool)."""


class ToolFailedError(ToolLoopError):
    """A tool raised and the run was told to raise (`tool_errors="raise"`); the tool's own
    exception is the `__cause__`, and `step` the step it failed in."""

    def __init__(self, message: str, *, step: Any = None, **evidence: Any) -> None:
        self.step = step
        super().__init__(message, **evidence)


class ContextBudgetError(PromptkitError):
    """The messages cannot be made to fit the model's context window."""


class ReplayMissError(PromptkitError):
    """No recording matches a request in a mode that may not call the model."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        nearest: str | None = None,
        differences: Sequence[str] = (),
    ) -> None:
        self.key = key
        self.nearest = nearest
        self.differences = list(differences)
        super().__init__(message)


class EmbeddingError(PromptkitError):
    """An embedder could not embed: its package is missing, its endpoint failed, or a run
    that may not call out has no cached vector. `.embedder` names it."""

    def __init__(self, message: str, *, embedder: str) -> None:
        self.embedder = embedder
        super().__init__(message)


class RegistryError(PromptkitError):
    """A problem with the prompt registry."""


class NotPublishedError(RegistryError):
    """The registry holds no such version, label or model config."""


class ImmutableVersionError(RegistryError):
    """Publishing would change the content of a released version."""


class IntegrityError(RegistryError):
    """Content does not match the hash that names it."""


class RegistryUnavailableError(RegistryError):
    """The registry database cannot be reached."""


class RegistryPermissionError(RegistryError):
    """The database refused a statement to the user the registry connects as (a role that
    may not do this; see `promptkit db roles`). `.user` is that user, `.statement` the kind
    of statement refused (`INSERT`, `SELECT … FOR UPDATE`) and `.table` the table, each
    None when the database did not say."""

    def __init__(self, message: str, *, user: str | None = None,
                 statement: str | None = None, table: str | None = None) -> None:
        self.user = user
        self.statement = statement
        self.table = table
        super().__init__(message)


class PinMovedError(RegistryError):
    """A pin moved by someone else between a check of it and a move that relied on it."""


class ProtectedEnvironmentError(RegistryError):
    """A rule of a protected environment refused a pin move (CLI exit 1). `.rule` names it;
    `.command`, when set, is what would satisfy it."""

    def __init__(self, message: str, *, env: str, rule: str, command: str | None = None) -> None:
        self.env = env
        self.rule = rule
        self.command = command
        super().__init__(message)


class ApprovalPendingError(ProtectedEnvironmentError):
    """The move was recorded as request `.request_id` and waits for approvals: the pin has
    not moved yet."""

    def __init__(self, message: str, *, env: str, request_id: int) -> None:
        self.request_id = request_id
        super().__init__(message, env=env, rule="approvals",
                         command=f"promptkit approve {request_id}")


class EvalError(PromptkitError):
    """A problem with an eval suite or an eval run."""


class SuiteFormatError(EvalError):
    """A suite file is invalid, located by file, line and field."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.field = field
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")


class PromotionRefusedError(EvalError):
    """A promotion without a passing gate for that exact content against the current pin."""

    def __init__(
        self,
        message: str,
        *,
        name: str,
        version: str,
        env: str,
        command: str | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.env = env
        self.command = command
        super().__init__(message)
