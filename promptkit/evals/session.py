"""An eval session: what `pytest evals` (or a script) runs, from options to stored results.

The pytest plugin is a thin adapter over this: it turns options into `EvalOptions`,
suites into items, and items into reported tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from promptkit.config import Settings
from promptkit.core import AsyncClient, Budget, CallHooks, CallResult, CostBreaker, RetryPolicy
from promptkit.core.calllog import CallLog
from promptkit.core.embeddings import EmbeddingCache, Embeddings
from promptkit.core.loop_thread import LoopThread
from promptkit.errors import PromptkitError
from promptkit.evals.assertions import Outcome
from promptkit.evals.interpreter import RunInterpreter
from promptkit.evals.judges import JudgeScore, JudgeSpec
from promptkit.evals.progress import Progress
from promptkit.evals.results import CaseResult, RunResult
from promptkit.evals.runner import EvalItem, EvalRunner
from promptkit.evals.selection import select_versions
from promptkit.evals.shards import default_group
from promptkit.evals.store import ResultStore, RunInfo
from promptkit.evals.suite import Suite
from promptkit.evals.summary import VersionSummary, results_frame, summarize, write_frame
from promptkit.registry import ModelConfigs, Registry, model_configs
from promptkit.registry.calllog_sink import project_call_log
from promptkit.registry.references import References
from promptkit.replay import RecordMode, ReplaySession, Unused, repeat_index
from promptkit.templates import Prompt, PromptLibrary
from promptkit.templates.provenance import find_repo

__all__ = ["EvalOptions", "EvalSession"]

@dataclass(frozen=True)
class EvalOptions:
    """What to run and how; each field is a `--prompt-*` option of the pytest plugin."""

    version: str = "latest"
    base: str | None = None
    record: RecordMode = RecordMode.NONE
    repeat: int | None = None
    concurrency: int = 8
    budget_usd: float | None = None
    model: str | None = None
    results: Path | None = None
    retries: int | None = None
    """Retries of a transient failure (`--prompt-retries`); None: the project's policy."""
    shard: str | None = None
    """`K/N` when this run is one shard of a run split over machines (`--prompt-shard`)."""
    shard_group: str | None = None
    """The name the shards of one run share, so a gate merges them (`--prompt-shard-group`)."""


class _Settled:
    """A future whose result was read: the result without the future's lock and condition
    (a kilobyte an item, in a run of 100,000 items)."""

    __slots__ = ("value",)

    def __init__(self, value: CaseResult) -> None:
        self.value = value

    def result(self) -> CaseResult:
        return self.value

    def cancel(self) -> bool:
        return False


@dataclass
class EvalSession:
    """Suites → items → concurrent calls (replayed or recorded) → results and summary."""

    settings: Settings
    options: EvalOptions = field(default_factory=EvalOptions)
    results: list[CaseResult] = field(default_factory=list)
    _futures: dict[str, concurrent.futures.Future[CaseResult] | _Settled] = field(
        default_factory=dict)
    _batches: list[concurrent.futures.Future[None]] = field(default_factory=list)
    _loop: LoopThread = field(default_factory=lambda: LoopThread("promptkit-evals"))
    _rows: list[dict[str, Any]] = field(default_factory=list)
    _worker_rows: list[dict[str, Any]] = field(default_factory=list)
    _worker_timings: list[dict[str, Any]] = field(default_factory=list)
    _call_log: CallLog | None = None
    _interpreter: RunInterpreter | None = None
    _started: float | None = None
    _last_result: float | None = None
    progress: Progress | None = None
    """Counts items, calls and cost as results come in, for a progress line."""

    @cached_property
    def library(self) -> PromptLibrary:
        return PromptLibrary(self.settings.prompts_path)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.settings.database_url)

    @cached_property
    def references(self) -> References:
        """The one reference resolver (`NAME`, `NAME@VERSION`, `NAME@LABEL`)."""
        return References(self.library, self.registry)

    @cached_property
    def replay(self) -> ReplaySession:
        return ReplaySession.from_settings(self.settings, self.options.record,
                                           write_behind=True)

    @cached_property
    def configs(self) -> ModelConfigs:
        return model_configs(self.settings, self.registry)

    @cached_property
    def embeddings(self) -> Embeddings:
        """The run's embedders, built once on first use, over the project's vector cache; in
        mode none an endpoint is not asked for a vector the cache lacks."""
        return Embeddings(self.configs, EmbeddingCache(self.settings.embeddings_path),
                          offline=self.options.record is RecordMode.NONE)

    @cached_property
    def runner(self) -> EvalRunner:
        client = AsyncClient(
            self.configs,
            transport=self.replay.transport(),
            hooks=self._hooks(),
            retry=RetryPolicy.from_settings(self.settings, retries=self.options.retries),
        )
        return EvalRunner(client, concurrency=self.options.concurrency, model=self.options.model,
                          default_model=self.settings.default_model, replay=self.replay,
                          embeddings=self.embeddings)

    def _hooks(self) -> list[CallHooks]:
        """A run budget when one is set; the call log when calls really go out."""
        hooks: list[CallHooks] = []
        if self.options.budget_usd is not None:
            hooks.append(CostBreaker(run=Budget(self.options.budget_usd, name="eval run")))
        if self.options.record is not RecordMode.NONE:
            self._call_log = project_call_log(self.registry, handle_sigterm=False)
            hooks.append(self._call_log)
        return hooks

    def versions(self, name: str) -> list[str]:
        """The versions of `name` the options select (`--prompt-version`)."""
        return select_versions(self.library, name, self.options.version,
                               resolve_label=self._pinned, base=self.options.base)

    def items(self, suite: Suite) -> list[EvalItem]:
        """The suite's cases × the selected versions of its prompt."""
        if self.options.repeat is not None:
            suite = replace(suite, repeat=self.options.repeat)
        prompts = [self.references.resolve(suite.prompt, v).prompt
                   for v in self.versions(suite.prompt)]
        return [EvalItem(suite, case, prompt) for prompt in prompts for case in suite.cases]

    def _pinned(self, name: str, label: str) -> str:
        return self.references.version_of(name, label)

    def start(self, items: Sequence[EvalItem]) -> None:
        """Begin the calls of every item now, in one hop to the loop thread; their results
        are awaited one by one."""
        fresh = [item for item in items if item.id not in self._futures]
        if not fresh:
            return
        if self._interpreter is None:
            self._started = time.time()  # wall clock: comparable with xdist workers' stamps
            self._interpreter = RunInterpreter.enter()
        if self.progress is not None:
            self.progress.started(len(fresh))
        futures = [concurrent.futures.Future[CaseResult]() for _ in fresh]
        self._futures.update(zip((item.id for item in fresh), futures, strict=True))
        self._batches.append(self._loop.submit(self._run_all(fresh, futures)))

    def result(self, item: EvalItem) -> CaseResult:
        """The item's result (its calls start now unless `start` began them)."""
        result = self._awaited(item)
        self.results.append(result)
        return result

    def run(self, items: Sequence[EvalItem]) -> list[CaseResult]:
        """Run `items` together and return their results without adding them to `results`
        (the gate's runs: a baseline is compared, not reported as tests)."""
        self.start(items)
        return [self._awaited(item) for item in items]

    def call(self, prompt: Prompt, variables: dict[str, Any], *, cassette: str,
             repeat: int = 0, model: str | None = None) -> CallResult:
        """One call of `prompt` (render, call, validate), replayed from or recorded to
        `cassette`: what the `prompt` fixture of Python-written tests does."""

        async def call() -> CallResult:
            with self.replay.cassette(cassette), repeat_index(repeat):
                return await self.runner.call(prompt, prompt.render(variables), model=model)

        try:
            return self._loop.run(call())
        finally:
            self.replay.open(cassette).flush()  # a test's calls are written as it ends

    def judge_scores(self, spec: JudgeSpec, *, output: Any, variables: dict[str, Any],
                     expected: dict[str, Any] | None, cassette: str) -> list[JudgeScore]:
        """A judge's scores of one output (every model, every sample), replayed from or
        recorded to `cassette`: what judge calibration does with each labelled output."""

        async def score() -> list[JudgeScore]:
            with self.replay.cassette(cassette):
                return await self.runner.judge_scores(spec, output=output, variables=variables,
                                                      expected=expected)

        try:
            return self._loop.run(score())
        finally:
            self.replay.open(cassette).flush()

    def add_test_result(self, prompt: Prompt, *, suite: str, test: str, passed: bool,
                        message: str, calls: Sequence[CallResult]) -> CaseResult:
        """Count a Python-written test of `prompt` like a suite case: pass or fail as pytest
        judged it, with the output, latency, tokens and cost of the calls it made."""
        last = calls[-1] if calls else None
        run = RunResult(
            repeat=0, passed=passed, outcomes=(Outcome("pytest", passed, message),),
            output=last.output if last else None, text=last.text if last else None,
            latency_s=sum(c.latency_s for c in calls),
            cost_usd=sum(c.cost_usd for c in calls),
            input_tokens=sum(c.total_usage.input_tokens for c in calls),
            output_tokens=sum(c.total_usage.output_tokens for c in calls),
            attempts=sum(len(c.attempts) for c in calls),
        )  # fmt: skip
        result = CaseResult(f"{prompt.ref}::{test}", suite, prompt.name, prompt.version,
                            prompt.content_hash, test, critical=False, threshold=1.0,
                            runs=(run,))
        self.results.append(result)
        return result

    def _awaited(self, item: EvalItem) -> CaseResult:
        """The item's result, once it is known (its calls start now unless they began)."""
        if item.id not in self._futures:
            self.start([item])
        result = self._futures[item.id].result()
        self._futures[item.id] = _Settled(result)
        return result

    async def _run_all(self, items: Sequence[EvalItem],
                       futures: Sequence[concurrent.futures.Future[CaseResult]]) -> None:
        """Run `items` in order by a few workers (the runner bounds the calls), each result
        handed to its future as soon as it is known. Twice as many workers as calls keep the
        calls busy while others check assertions, and 100,000 items wait as list entries,
        not as 100,000 suspended tasks."""
        queue = iter(zip(items, futures, strict=True))

        async def worker() -> None:
            for item, future in queue:
                if future.set_running_or_notify_cancel():
                    await self._run_into(item, future)

        workers = min(len(items), 2 * self.options.concurrency)
        await asyncio.gather(*(worker() for _ in range(workers)))

    async def _run_into(self, item: EvalItem,
                        future: concurrent.futures.Future[CaseResult]) -> None:
        """Run one item into its future; an error is the item's, not the run's (its test
        reports it), unless it ends the run (Ctrl-C, cancellation)."""
        try:
            result = await self.runner.run(item)
        except BaseException as exc:
            future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        if self.progress is not None:
            self.progress.finished(result)
        future.set_result(result)
        self._last_result = time.time()

    def finish(self, within: Iterable[str] | None = None) -> Unused:
        """Cancel what is still running, write recordings, and report the unused ones."""
        for batch in self._batches:
            batch.cancel()
        for future in self._futures.values():
            future.cancel()
        if "runner" in self.__dict__:
            self._loop.close(self._close_connections())
        if self._call_log is not None:
            self._call_log.close()
        if self._interpreter is not None:
            self._interpreter.restore()
            self._interpreter = None
        return self.replay.finish(within)

    async def _close_connections(self) -> None:
        await self.embeddings.aclose()
        await self.runner.client.aclose()

    def timing(self) -> dict[str, Any] | None:
        """When this process's calls started and the last result came, and how many items,
        calls and embeddings there were: what a pytest-xdist worker sends its controller."""
        if self._started is None or self._last_result is None:
            return None
        stats = self.replay.stats
        return {"started": self._started, "last": self._last_result,
                "items": len(self._futures), "recorded": stats.recorded,
                "replayed": stats.replayed, "embedded": self.embeddings.computed,
                "embeddings_cached": self.embeddings.cached}

    def timing_line(self) -> str | None:
        """`2000 items in 7.42 s at concurrency 16 (2000 calls recorded, 0 replayed)`: from
        the first call to the last result, over this process and its xdist workers; the
        figure to hold against calls × latency ÷ concurrency. `similar` assertions add
        `; 8 texts embedded, 4 from cache`."""
        spans = [t for t in (self.timing(), *self._worker_timings) if t is not None]
        if not spans:
            return None
        wall = max(t["last"] for t in spans) - min(t["started"] for t in spans)
        items, recorded, replayed, embedded, cached = (
            sum(t.get(k, 0) for t in spans)
            for k in ("items", "recorded", "replayed", "embedded", "embeddings_cached"))
        vectors = f"; {embedded} texts embedded, {cached} from cache" if embedded + cached else ""
        return (f"{items} items in {wall:.2f} s at concurrency {self.options.concurrency} "
                f"({recorded} calls recorded, {replayed} replayed{vectors})")

    def rows(self) -> list[dict[str, Any]]:
        """This process's results as rows, plus those pytest-xdist workers sent. Each row is
        made once (the summary, the store, the gate and the results file all read them);
        results are only ever added, and rows only read."""
        made = self._rows
        made.extend(r.row() for r in self.results[len(made):])
        return made + self._worker_rows

    def add_worker_results(self, rows: Sequence[dict[str, Any]],
                           timing: dict[str, Any] | None) -> None:
        """What a pytest-xdist worker ran: its rows and its timing, for the controller."""
        self._worker_rows.extend(rows)
        if timing:
            self._worker_timings.append(timing)

    def summary(self) -> list[VersionSummary]:
        return summarize(self.rows())

    def save_results(self) -> RunInfo | None:
        """Store this run's results in the project database; a failure only warns."""
        rows = self.rows()
        if not rows:
            return None
        repo = find_repo(self.settings.root)
        commit = repo.head.commit.hexsha if repo is not None and repo.head.is_valid() else None
        options = asdict(self.options)
        if self.options.shard and not self.options.shard_group:
            options["shard_group"] = default_group(commit=commit)
        try:
            return ResultStore(self.registry).save(rows, git_commit=commit, options=options)
        except PromptkitError as exc:
            warnings.warn(f"promptkit: eval results were not stored: {exc}", stacklevel=2)
            return None

    def write_results(self, path: Path) -> None:
        """The results table as CSV, JSON or JSONL (by the file's suffix)."""
        write_frame(results_frame(self.rows()), path)

