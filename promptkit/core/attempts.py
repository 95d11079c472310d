"""The attempt loop of one model call: deadline, retries, re-asks, fallback, circuit breaker.

Written once, async; the sync client drives it on a private event loop thread.

    call ── deadline ──► for each config in [primary, *fallback]:
                            circuit open? ──────────────────────────► next config
                            one request through the config's provider adapter
                              (OpenAI Chat, OpenAI Responses, Anthropic Messages;
                               its SDK never retries: max_retries=0)
                              transient ──► Retry-After or backoff + jitter, retry
                                              ─► exhausted: next config
                              fatal ──────► ModelAPIError
                            refusal / finish_reason "length" ───────► RefusalError / Truncated
                            invalid output ──► re-ask with the errors (max_reasks)
                            a call of an offered tool ──► returned with its tool_calls
                              (the tool loop, `promptkit.core.tool_loop`, runs them)

A streamed call (`CallSpec.on_event` set) sends `stream=True` and hands each delta to
`on_event` as it arrives; its transient failures are retried only before the attempt's first
token, and a stream cut short is a `TruncatedOutputError` (see `promptkit.core.streaming`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from promptkit.core.breaker import CircuitBreaker
from promptkit.core.failures import Failure, body_failure
from promptkit.core.hooks import (
    CallHooks,
    CallRecord,
    CallStart,
    RoundContext,
    RoundOutcome,
    notify_after_call,
    notify_after_round,
    notify_before_call,
)
from promptkit.core.prices import price_call
from promptkit.core.providers import Provider, provider_of
from promptkit.core.results import AttemptKind, CallResult, ProviderReply, Usage
from promptkit.core.retry import RetryPolicy
from promptkit.core.streaming import (
    Restart,
    StreamCutError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from promptkit.core.structured import Extracted, OutputPlan, extract, plan_output
from promptkit.core.transport import CURRENT_LOG, AttemptLog
from promptkit.core.types import Message, ModelConfig, OutputSpec, ToolSpec
from promptkit.core.validation import reask_messages, validate
from promptkit.errors import (
    CircuitOpenError,
    DeadlineExceededError,
    ModelAPIError,
    ModelCallError,
    OutputValidationError,
    RefusalError,
    RetriesExhaustedError,
    TruncatedOutputError,
)

__all__ = ["AttemptLoop", "CallSpec"]

E = TypeVar("E", bound=ModelCallError)


@dataclass(frozen=True)
class CallSpec:
    """Everything one call needs, resolved: messages, the config chain, the output wanted."""

    messages: tuple[Message, ...]
    chain: tuple[ModelConfig, ...]
    output: OutputSpec = field(default_factory=OutputSpec)
    temperature: float | None = None
    max_tokens: int | None = None
    deadline_s: float | None = None
    max_reasks: int = 2
    metadata: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    on_event: Callable[[StreamEvent], None] | None = None
    tools: tuple[ToolSpec, ...] = ()
    """Tools the model is offered (it chooses); a reply calling one ends the call."""

    @property
    def stream(self) -> bool:
        return self.on_event is not None


def _new_call_id() -> str:
    """32 random hex digits, as `uuid4().hex` has, from the `random` module: no system call
    per call (`uuid4` reads the OS's random source each time), and reseeded in a forked
    child, so two processes never draw the same ids."""
    return f"{random.getrandbits(128):032x}"


@dataclass
class _Run:
    """The mutable state of one call in progress."""

    spec: CallSpec
    log: AttemptLog
    started: float
    last_output: str | None = None
    call_id: str = field(default_factory=_new_call_id)
    turn: _ConfigRun | None = None
    parsed: Any = None
    finish_reason: str | None = None
    first_token_s: float | None = None
    emitted: bool = False

    def emit_delta(self, delta: TextDelta | ToolCallDelta) -> None:
        """A provider's streamed delta, stamped with the index of the request it came in."""
        self.emit(replace(delta, attempt=len(self.log.attempts) - 1))

    def emit(self, event: StreamEvent) -> None:
        """Hand a streamed event to the caller, noting the time of the first token."""
        if isinstance(event, TextDelta | ToolCallDelta):
            if self.first_token_s is None:
                self.first_token_s = self.elapsed()
            self.emitted = True
        if self.spec.on_event is not None:
            self.spec.on_event(event)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float | None:
        deadline = self.spec.deadline_s
        return None if deadline is None else deadline - self.elapsed()

    def error(self, cls: type[E], message: str, **extra: Any) -> E:
        """An error of the call, carrying every attempt, the last output and the tokens spent."""
        return cls(
            message,
            attempts=tuple(self.log.attempts),
            last_output=self.last_output,
            usage=self.log.spent,
            **extra,
        )


@dataclass
class _ConfigRun:
    """One config's turn in the chain."""

    config: ModelConfig
    provider: Provider
    plan: OutputPlan
    request: dict[str, Any]
    messages: list[Message]
    key: Hashable
    kind: AttemptKind
    max_attempts: int
    failures: int = 0
    reasks: int = 0


class AttemptLoop:
    """Runs calls; holds what outlives one call (SDK clients, breaker, hooks)."""

    def __init__(
        self,
        *,
        sdk_for: Callable[[ModelConfig], Any],
        endpoint_of: Callable[[ModelConfig], Hashable],
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        hooks: Sequence[CallHooks] = (),
    ) -> None:
        self._sdk_for = sdk_for
        self._endpoint_of = endpoint_of
        self.retry = retry
        self.breaker = breaker
        self.hooks = tuple(hooks)

    async def run(self, spec: CallSpec) -> CallResult:
        """One call, start to end; the result or a `ModelCallError` with its evidence.

        Observers see every call, including one cancelled or failed by a bug."""
        run = _Run(spec, AttemptLog(), time.monotonic())
        wall_start = time.time()
        if self.hooks:
            start = CallStart(run.call_id, spec.chain[0] if spec.chain else None,
                              spec.metadata, spec.stream, wall_start)
            notify_before_call(self.hooks, start)
        token = CURRENT_LOG.set(run.log)
        try:
            result = await self._within_deadline(run)
        except BaseException as exc:
            if isinstance(exc, ModelCallError):
                _attach_evidence(exc, run)
            self._observe(run, wall_start, error=exc)
            raise
        finally:
            CURRENT_LOG.reset(token)
        self._observe(run, wall_start, result=result)
        return result

    def _observe(
        self,
        run: _Run,
        wall_start: float,
        *,
        result: CallResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        if not self.hooks:
            return
        turn, spec = run.turn, run.spec
        record = CallRecord(
            config_name=result.config_name if result else run.log.config_name,
            messages=result.messages if result else tuple(turn.messages if turn else spec.messages),
            attempts=tuple(run.log.attempts),
            usage=run.log.spent,
            latency_s=run.elapsed(),
            started_at=wall_start,
            result=result,
            error=error,
            metadata=spec.metadata,
            call_id=run.call_id,
            config=turn.config if turn else (spec.chain[0] if spec.chain else None),
            request=dict(turn.request) if turn else {},
            requested={"temperature": spec.temperature, "max_tokens": spec.max_tokens},
            raw_output=run.last_output,
            output=result.output if result else run.parsed,
            finish_reason=result.finish_reason if result else run.finish_reason,
            stream=spec.stream,
            first_token_s=run.first_token_s,
        )
        notify_after_call(self.hooks, record)

    async def _within_deadline(self, run: _Run) -> CallResult:
        deadline = run.spec.deadline_s
        if deadline is None:
            return await self._run_chain(run)
        timeout = asyncio.timeout(deadline)
        try:
            async with timeout:
                return await self._run_chain(run)
        except TimeoutError:
            if not timeout.expired():
                raise
        if run.log.attempts and run.log.attempts[-1].error_type == "Cancelled":
            run.log.amend_last(error_type="DeadlineExceeded", error="cut by the call's deadline")
        message = f"the deadline of {deadline:g} s passed ({len(run.log.attempts)} attempts)"
        raise run.error(DeadlineExceededError, message) from None

    async def _run_chain(self, run: _Run) -> CallResult:
        down: list[ModelCallError] = []
        for position, config in enumerate(run.spec.chain):
            try:
                return await self._run_config(run, self._start(run, config, position))
            except (RetriesExhaustedError, CircuitOpenError) as exc:
                down.append(exc)
        if len(down) == 1:
            raise down[0]
        names = ", ".join(c.name for c in run.spec.chain)
        if all(isinstance(exc, CircuitOpenError) for exc in down):
            raise run.error(CircuitOpenError, f"every endpoint's circuit is open ({names})")
        last = run.log.attempts[-1].describe() if run.log.attempts else "none"
        message = f"transient failures outlasted every attempt on {names}; last: {last}"
        raise run.error(RetriesExhaustedError, message)

    def _start(self, run: _Run, config: ModelConfig, position: int) -> _ConfigRun:
        provider = provider_of(config)
        plan = plan_output(run.spec.output, provider.technique(config.capability),
                           run.spec.tools)
        run.turn = _ConfigRun(
            config=config,
            provider=provider,
            plan=plan,
            request=self._request(run.spec, config, provider, plan),
            messages=plan.prepare(list(run.spec.messages)),
            key=self._endpoint_of(config),
            kind="first" if position == 0 else "fallback",
            max_attempts=self._max_attempts(config),
        )
        return run.turn

    def _max_attempts(self, config: ModelConfig) -> int:
        """The config's own `max_retries` when it sets one, else the policy's attempts."""
        if config.max_retries is None:
            return self.retry.max_attempts
        return config.max_retries + 1

    @staticmethod
    def _request(spec: CallSpec, config: ModelConfig, provider: Provider,
                 plan: OutputPlan) -> dict[str, Any]:
        """The request's parameters in the provider's terms (the messages go in later)."""
        temperature = spec.temperature if spec.temperature is not None else config.temperature
        max_tokens = spec.max_tokens if spec.max_tokens is not None else config.max_tokens
        return {**provider.params(config, plan, temperature, max_tokens), **spec.extra}

    async def _run_config(self, run: _Run, turn: _ConfigRun) -> CallResult:
        while True:
            context = self._admit(run, turn)
            first = len(run.log.attempts)
            try:
                reply = await self._attempt(run, turn)
                read = None if reply is None else self._read(run, turn, reply)
            finally:
                self._settle(run, context, first, self.hooks)
            if reply is None or read is None:
                await self._backoff(run, turn)
                turn.kind = "retry"
                continue
            got, errors = read
            if not errors:
                return self._result(run, turn, reply, got)
            if turn.reasks >= run.spec.max_reasks:
                message = (
                    f"the output broke its schema after {turn.reasks} re-ask(s) on "
                    f"{turn.config.name}: {'; '.join(errors)}"
                )
                raise run.error(OutputValidationError, message, errors=errors)
            turn.reasks += 1
            turn.messages = [*turn.messages, *reask_messages(turn.plan, got, errors)]
            turn.kind = "reask"
            if run.emitted:
                run.emit(Restart(len(run.log.attempts), "reask", tuple(errors)))

    @staticmethod
    def _settle(
        run: _Run, context: RoundContext, first: int, hooks: Sequence[CallHooks]
    ) -> None:
        """Tell the hooks what the attempt that started at request `first` spent."""
        requests = tuple(run.log.attempts[first:])
        usage = Usage()
        for request in requests:
            usage = usage + (request.usage or Usage())
        unreported = sum(1 for r in requests if r.status == 200 and r.usage is None)
        notify_after_round(hooks, context, RoundOutcome(requests, usage, unreported))

    def _admit(self, run: _Run, turn: _ConfigRun) -> RoundContext:
        """Check the circuit and ask the hooks, then name the next request in the log."""
        run.log.target(turn.config.name, turn.config.model, turn.kind)
        if not self.breaker.allow(turn.key):
            wait = self.breaker.retry_in(turn.key)
            detail = f"circuit open for {turn.config.name}; next probe in {wait:.1f} s"
            run.log.skip("CircuitOpenError", detail)
            raise run.error(CircuitOpenError, detail)
        context = RoundContext(
            config=turn.config,
            kind=turn.kind,
            number=len(run.log.attempts),
            messages=tuple(turn.messages),
            request=dict(turn.request),
            spent=run.log.spent,
            elapsed_s=run.elapsed(),
            metadata=run.spec.metadata,
            call_id=run.call_id,
        )
        admitted: list[CallHooks] = []
        try:
            for hook in self.hooks:
                hook.before_round(context)
                admitted.append(hook)
        except BaseException:
            self.breaker.release(turn.key)
            self._settle(run, context, len(run.log.attempts), admitted)
            raise
        return context

    async def _attempt(self, run: _Run, turn: _ConfigRun) -> ProviderReply | None:
        """One SDK call: the reply, or None after a transient failure worth a retry."""
        try:
            reply = await self._create(run, turn)
        except asyncio.CancelledError:
            self.breaker.release(turn.key)
            raise
        except Exception as exc:
            failure = _classify(exc, turn.provider)
            if failure is None:
                self.breaker.release(turn.key)
                raise
            self.breaker.record(turn.key, ok=not failure.transient)
            self._note(run, failure)
            if isinstance(exc, StreamCutError) and exc.emitted:
                run.last_output = exc.partial
                run.log.amend_last(error_type="TruncatedOutputError")
                message = f"{turn.config.name}: {exc}; tokens were already streamed, not retried"
                raise run.error(TruncatedOutputError, message) from exc
            if not failure.transient:
                what = f"{failure.error_type} ({failure.status})"
                message = f"{turn.config.name}: {what}: {failure.message}"
                raise run.error(
                    ModelAPIError,
                    message,
                    status_code=failure.status,
                    request_id=failure.request_id,
                ) from exc
            turn.failures += 1
            if turn.failures >= turn.max_attempts:
                last = run.log.attempts[-1].describe() if run.log.attempts else failure.message
                message = f"{turn.config.name}: {turn.failures} attempt(s) failed; last: {last}"
                raise run.error(RetriesExhaustedError, message) from exc
            return None
        self.breaker.record(turn.key, ok=True)
        return reply

    async def _create(self, run: _Run, turn: _ConfigRun) -> ProviderReply:
        """Send the request through the provider's SDK (its auth, errors and stream parsing;
        never its retries). A streamed attempt's duration covers its whole body."""
        body = {**turn.provider.payload(turn.messages), **turn.request}
        sdk = self._sdk_for(turn.config)
        if not run.spec.stream:
            return await turn.provider.send(sdk, turn.config, body, emit=None)
        started, first = time.monotonic(), len(run.log.attempts)
        try:
            return await turn.provider.send(sdk, turn.config, body, emit=run.emit_delta)
        finally:
            if len(run.log.attempts) > first:
                run.log.amend_last(duration_s=time.monotonic() - started)

    @staticmethod
    def _note(run: _Run, failure: Failure) -> None:
        """Put the SDK's verdict on the attempt the transport recorded last."""
        last = run.log.attempts[-1] if run.log.attempts else None
        if last is None or last.error_type is None or failure.error_type in _OWN_VERDICTS:
            run.log.amend_last(error_type=failure.error_type, error=failure.message)
        if failure.code and last is not None and last.error_code is None:
            run.log.amend_last(error_code=failure.code)

    async def _backoff(self, run: _Run, turn: _ConfigRun) -> None:
        """Wait before the next attempt: the server's Retry-After, else the policy's backoff;
        a wait the deadline cannot hold ends the call now instead of sleeping into it."""
        wait = self.retry.delay(turn.failures, run.log.retry_after)
        remaining = run.remaining()
        if remaining is not None and wait >= remaining:
            message = (
                f"the deadline of {run.spec.deadline_s:g} s leaves {remaining:.2f} s, "
                f"less than the {wait:.2f} s wait before the next attempt"
            )
            raise run.error(DeadlineExceededError, message)
        await asyncio.sleep(wait)

    def _read(
        self, run: _Run, turn: _ConfigRun, reply: ProviderReply
    ) -> tuple[Extracted, list[str]]:
        """Refusal and truncation end the call; otherwise the output and its errors."""
        run.log.add_usage(reply.usage or Usage())
        run.log.amend_last(usage=reply.usage, finish_reason=reply.finish_reason)
        run.finish_reason = reply.finish_reason
        if reply.refusal or reply.finish_reason == "content_filter":
            run.last_output = reply.refusal or reply.text
            reason = reply.refusal or "finish_reason content_filter"
            run.log.amend_last(error_type="RefusalError", error=reason)
            raise run.error(RefusalError, f"{turn.config.name}: the model refused: {reason}")
        got = extract(reply, turn.plan)
        run.last_output, run.parsed = got.raw, got.value
        if reply.finish_reason == "length":
            raise self._truncated(run, turn)
        errors = [got.error] if got.error else []
        if not errors and turn.plan.schema is not None and not got.tool_turn:
            errors = validate(got.value, turn.plan.schema)
        if errors:
            run.log.amend_last(error_type="OutputValidationError", error="; ".join(errors))
        return got, errors

    @staticmethod
    def _truncated(run: _Run, turn: _ConfigRun) -> TruncatedOutputError:
        limit = turn.request.get("max_tokens") or turn.request.get("max_output_tokens")
        advice = (
            f"raise max_tokens above {limit}"
            if limit
            else "set max_tokens higher than the endpoint's default"
        )
        run.log.amend_last(error_type="TruncatedOutputError", error="finish_reason length")
        message = f"{turn.config.name}: the output was cut at the token limit; {advice}"
        return run.error(TruncatedOutputError, message)

    def _result(
        self, run: _Run, turn: _ConfigRun, reply: ProviderReply, got: Extracted
    ) -> CallResult:
        last = run.log.attempts[-1] if run.log.attempts else None
        cost = price_call(turn.config, run.log.spent)
        return CallResult(
            output=got.value,
            text=got.raw,
            finish_reason=reply.finish_reason,
            usage=reply.usage or Usage(),
            total_usage=run.log.spent,
            attempts=tuple(run.log.attempts),
            model=reply.model or turn.config.model,
            config_name=turn.config.name,
            latency_s=run.elapsed(),
            request_id=last.request_id if last else None,
            response_id=reply.response_id,
            request=dict(turn.request),
            messages=tuple(turn.messages),
            metadata=dict(run.spec.metadata),
            call_id=run.call_id,
            first_token_s=run.first_token_s,
            config=turn.config,
            cost_usd=cost.usd,
            cost_source=cost.source,
            tool_calls=reply.tool_calls,
        )


_OWN_VERDICTS = frozenset({"MalformedResponse", "StreamCut"})
"""Failures promptkit finds in a 200 response: their name replaces the transport's."""


def _classify(exc: BaseException, provider: Provider) -> Failure | None:
    """The provider's verdict, naming a stream cut short as such (transient before its
    first token)."""
    if isinstance(exc, StreamCutError):
        return Failure(True, "StreamCut", str(exc))
    return provider.classify(exc) or body_failure(exc)


def _attach_evidence(exc: ModelCallError, run: _Run) -> None:
    """Errors raised by hooks get the call's evidence too."""
    if not exc.attempts:
        exc.attempts = list(run.log.attempts)
    if exc.usage is None:
        exc.usage = run.log.spent
    if exc.last_output is None:
        exc.last_output = run.last_output
