"""promptkit's one retry schedule: how many attempts a call makes and how long it waits between.

Light on purpose (stdlib and `promptkit.config` only), so settings can become a policy
without loading the SDK. Which failures are retried at all is `promptkit.core.failures`'.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace

from promptkit.config import Settings, check_retry_setting

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """The attempts of one model config in a call, and the waits between them.

    The SDK never retries (promptkit builds every SDK client with `max_retries=0`), so this
    is the only schedule: each attempt is one HTTP request. After a transient failure
    (408, 409, 429, 5xx, a connection error or timeout, a malformed 200 body) promptkit
    waits with exponential backoff and full jitter,
    `uniform(0, min(backoff_cap_s, backoff_base_s * backoff_factor ** (failures - 1)))`,
    or exactly the server's `Retry-After` / `retry-after-ms` when it sent one. The call's
    deadline bounds every wait: one that would outlast it ends the call at once.

    Why these defaults. `max_attempts` 12: at a 30 % per-request fault rate a call fails
    all n attempts with probability 0.3^n, and a batch of 400 calls must all succeed in
    practically every run: 400 · 0.3^12 ≈ 2e-4 (0.3^10 would leave about 1 run in 400
    failing). A healthy provider never gets near it, and the deadline (120 s by default)
    and the circuit breaker stop a dead one first. `backoff_base_s` 0.05 s: most faults
    are one-offs, and a first retry after 25 ms on average costs little beside a model
    call; in a batch at concurrency C a waiting call holds one of the C slots, so short
    first waits are what keeps 400 calls through 30 % faults within twice their clean wall
    time (benchmarks/faults.py: 1.8× at 0.05 s, 1.9× at 0.1 s; doubling from 0.1 s lets the
    unluckiest call, about five faults in a row, wait ~1.5 s and stretch the batch).
    `backoff_factor` 1.5 (Google's generated Cloud clients start at 0.1 s, growing ×1.3)
    still spreads a crowd of clients apart: the ceilings run 0.05 s … 2.9 s, 8.6 s over the
    11 waits (about 4 s on average), close to the ~5 s the SDK's retries stacked under
    three attempts used to spend, so a dead endpoint is given up for the fallback no later
    than before. `backoff_cap_s` 10 s bounds one wait when `max_attempts` is raised.
    A 429 usually carries Retry-After, which is used instead: the server paces rate limits.
    """

    max_attempts: int = 12
    backoff_base_s: float = 0.05
    backoff_factor: float = 1.5
    backoff_cap_s: float = 10.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            try:
                check_retry_setting(field.name, value)
            except ValueError as exc:
                raise ValueError(f"RetryPolicy.{field.name} must be {exc}, got {value!r}") from None

    @classmethod
    def from_settings(cls, settings: Settings, *, retries: int | None = None) -> RetryPolicy:
        """The project's policy: `[tool.promptkit.retry]` < PROMPTKIT_RETRY_* (both read by
        `load_settings`) < `retries`, an explicit count of retries after the first attempt
        (the CLI's `--retries`, pytest's `--prompt-retries`)."""
        policy = cls(**settings.retry)  # type: ignore[arg-type]
        return policy if retries is None else policy.with_retries(retries)

    def with_retries(self, retries: int) -> RetryPolicy:
        """This policy allowing `retries` retries after the first attempt."""
        return replace(self, max_attempts=retries + 1)

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """The wait before the next attempt, after `failures` (>= 1) failed ones."""
        if retry_after is not None and retry_after >= 0:
            return retry_after
        grown = self.backoff_base_s * self.backoff_factor ** (failures - 1)
        ceiling = min(self.backoff_cap_s, grown)
        return random.uniform(0, ceiling)
