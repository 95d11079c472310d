"""The pytest plugin: eval suites in `evals/` become test items, one per case × version.

A thin adapter over `promptkit.evals.EvalSession`: options in one `promptkit` group, suites
collected as files, calls started together after collection (so they overlap while pytest
reports items one by one), recordings flushed and unused ones reported at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from promptkit.config import load_settings
from promptkit.errors import PromptkitError
from promptkit.replay.modes import RecordMode

if TYPE_CHECKING:
    from promptkit.core import CallResult, Message
    from promptkit.evals import EvalItem, EvalSession
    from promptkit.evals.gate import Thresholds
    from promptkit.evals.results import CaseResult
    from promptkit.evals.run_end import RunEnd
    from promptkit.evals.sequential import Design
    from promptkit.templates import Prompt

__all__ = ["EvalFailure", "EvalsPlugin", "PromptUnderTest", "SuiteFile", "SuiteItem"]

# pytest loads this module in every run of every project that has promptkit installed, so it
# imports nothing heavy: the eval session (and the SDK, pandas, SQLAlchemy behind it) is
# made on first use, by a run that has eval items or uses the `prompt` fixture.
PLUGIN = pytest.StashKey["EvalsPlugin"]()
WORKER_KEY = "promptkit_evals"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("promptkit", "promptkit: prompt eval suites")
    group.addoption("--prompt-version", default="latest", metavar="SPEC",
                    help="versions to evaluate: latest (default), all, changed, an exact "
                         "version, a registry label such as production, or a comma list")
    group.addoption("--prompt-base", default=None, metavar="REF",
                    help="git revision that --prompt-version=changed compares against")
    group.addoption("--prompt-record", default="none", metavar="MODE",
                    choices=[m.value for m in RecordMode],
                    help="none (default: replay only) | once | new | all | rewrite")
    group.addoption("--prompt-repeat", type=int, default=None, metavar="N",
                    help="run every case N times (overrides the suites' repeat)")
    group.addoption("--prompt-concurrency", type=int, default=8, metavar="N",
                    help="model calls in flight at once (default 8); under pytest-xdist "
                         "the workers share them")
    group.addoption("--prompt-budget-usd", type=float, default=None, metavar="X",
                    help="stop calling models once the run has spent X dollars")
    group.addoption("--prompt-model", default=None, metavar="CONFIG",
                    help="model config to run every prompt with")
    group.addoption("--prompt-retries", type=_retries, default=None, metavar="N",
                    help="retry a transient failure up to N times per model config "
                         "(default: [tool.promptkit.retry] max_attempts - 1)")
    group.addoption("--prompt-shard", default=None, metavar="K/N",
                    help="Run shard K of N: the cases whose (suite, case) hash falls to it, "
                         "every version of each; a gate merges the shards' stored results.")
    group.addoption("--prompt-shard-group", default=None, metavar="NAME",
                    help="The name the shards of one run share [default: "
                         "PROMPTKIT_SHARD_GROUP, the CI run's id, else the git commit].")
    group.addoption("--prompt-results", default=None, metavar="PATH",
                    help="also write the results table to PATH (.csv, .json or .jsonl)")
    group.addoption("--prompt-baseline", default=None, metavar="VERSION|LABEL",
                    help="after the run, gate every version run against this one case by "
                         "case (a version, or a label such as production): the session's exit "
                         "status is the gate's verdict (0 pass, 1 regression, 2 error, "
                         "3 inconclusive)")
    group.addoption("--prompt-margin", type=float, default=0.02, metavar="M",
                    help="the gate's non-inferiority margin (default 0.02: 2 points)")
    group.addoption("--prompt-confidence", type=float, default=0.95, metavar="C",
                    help="the gate's confidence (default 0.95)")
    group.addoption("--prompt-max-calls", type=int, default=None, metavar="N",
                    help="the gate's call budget, first pass included (default: 3 passes)")
    group.addoption("--prompt-max-cost", type=float, default=None, metavar="USD",
                    help="the gate's cost budget (default: none)")
    group.addoption("--prompt-on-inconclusive", default=None, choices=["pass", "fail"],
                    help="exit 0 (pass) or 1 (fail) when the gate's budget runs out undecided "
                         "(default: exit 3)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the markers and the plugin. First, so that the plugin's cleanup is the
    first added and so the last run (see `EvalsPlugin.unfreeze`)."""
    config.addinivalue_line("markers", "prompt_eval: an item generated from an eval suite")
    config.addinivalue_line("markers", "critical: an eval case that must never regress")
    config.addinivalue_line("markers", "prompt(name, model=None): the prompt the `prompt` "
                            "fixture loads at each version --prompt-version selects, and the "
                            "model config its calls use")
    plugin = EvalsPlugin(config)
    config.stash[PLUGIN] = plugin
    config.pluginmanager.register(plugin, "promptkit-evals")
    config.add_cleanup(plugin.unfreeze)


class EvalsPlugin:
    """The plugin's state for one pytest run, on one object (as pytest's cacheprovider keeps
    LFPlugin): the settings, the eval session (made on first use, so a run without eval
    items imports nothing heavy), the xdist workers' parts, the deselected count, and what
    the run's end reports. The hooks are its methods; the work is the library's."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = load_settings(config.rootpath)
        self.workers: list[dict[str, Any]] = []
        self.deselected = 0
        self.queued: set[int] = set()
        self.ended: RunEnd | None = None
        self.frozen = False
        self._session: EvalSession | None = None

    @property
    def started(self) -> bool:
        return self._session is not None

    @property
    def session(self) -> EvalSession:
        """The run's eval session, made on first use."""
        if self._session is None:
            from promptkit.evals import EvalOptions, EvalSession

            config = self.config
            options = EvalOptions(
                version=config.getoption("prompt_version"), base=config.getoption("prompt_base"),
                record=RecordMode(config.getoption("prompt_record")),
                repeat=config.getoption("prompt_repeat"), concurrency=_concurrency_share(config),
                budget_usd=config.getoption("prompt_budget_usd"),
                model=config.getoption("prompt_model"),
                retries=config.getoption("prompt_retries"),
                results=Path(p) if (p := config.getoption("prompt_results")) else None,
                shard=config.getoption("prompt_shard"),
                shard_group=config.getoption("prompt_shard_group"),
            )  # fmt: skip
            self._session = EvalSession(self.settings, options)
        return self._session

    # -- collection ---------------------------------------------------------------------

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector
                            ) -> pytest.Collector | None:
        if (file_path.suffix in (".yaml", ".yml") and file_path.parent == self.settings.evals_path
                and _is_suite(file_path)):
            return SuiteFile.from_parent(parent, path=file_path)
        return None

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """A test using the `prompt` fixture runs once per selected version of the prompt
        named by its `@pytest.mark.prompt("name")` marker."""
        marker = metafunc.definition.get_closest_marker("prompt")
        if "prompt" not in metafunc.fixturenames or marker is None:
            return  # a `prompt` fixture of the user's own is left alone
        if not marker.args:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: write @pytest.mark.prompt(\"NAME\")")
        name = str(marker.args[0])
        try:
            versions = self.session.versions(name)
        except PromptkitError as exc:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: {exc}") from None
        metafunc.parametrize("prompt", versions, indirect=True,
                             ids=[f"{name}@{v}" for v in versions])

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """With --prompt-shard K/N, keep only this shard's items: eval cases by suite and case
        (all their versions together), other tests by their id without parameters (so the
        versions of a `prompt`-fixture test stay together too)."""
        spec = self.config.getoption("prompt_shard")
        if not spec:
            return
        from promptkit.evals.shards import parse_shard

        try:
            shard = parse_shard(spec)
        except PromptkitError as exc:
            raise pytest.UsageError(str(exc)) from None
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            if isinstance(item, SuiteItem):
                mine = shard.holds(item.eval_item.suite.name, item.eval_item.case.id)
            else:
                mine = shard.holds("", item.nodeid.split("[", 1)[0])
            (kept if mine else dropped).append(item)
        if dropped:
            self.config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    # -- running --------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """When the items are about to run (after -k/-m deselection, and only if collection
        went through): start the calls of every selected eval item at once. Not in a
        pytest-xdist worker (which starts those it is handed, below), and never when nothing
        will run: --collect-only, a collection error that interrupts the session, or Ctrl-C
        during collection must not call, let alone pay for, a model."""
        config = self.config
        if hasattr(config, "workerinput") or config.option.collectonly:
            return
        if session.testsfailed and not config.option.continue_on_collection_errors:
            return  # pytest interrupts the session right after this hook
        evals = [i.eval_item for i in session.items if isinstance(i, SuiteItem)]
        if evals:
            gc.freeze()  # see pytest_unconfigure
            self.frozen = True
            self.session.start(evals)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """In a pytest-xdist worker, start the calls of every eval item queued for it so
        far, so a worker's calls overlap as they do without xdist."""
        if isinstance(item, SuiteItem) and hasattr(self.config, "workerinput"):
            queued = [item, *([nextitem] if nextitem else []), *self._newly_queued(item)]
            self.session.start([i.eval_item for i in queued if isinstance(i, SuiteItem)])

    def _newly_queued(self, item: pytest.Item) -> list[pytest.Item]:
        """The items the xdist controller sent this worker since the last look. New ones are
        appended to the queue, so the look back stops at the first index already seen."""
        new: list[int] = []
        for index in reversed(_xdist_queue(self.config)):
            if index in self.queued:
                break
            new.append(index)
        self.queued.update(new)
        return [item.session.items[i] for i in reversed(new)]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """A Python-written test of a prompt counts in the summary, the stored results and
        the gate like a suite case: one per test × version, as pytest judged it."""
        report = yield
        under_test = getattr(item, "funcargs", {}).get("prompt")
        if (report.when == "call" and not report.skipped
                and isinstance(under_test, PromptUnderTest)):
            test = getattr(item, "originalname", None) or item.name
            self.session.add_test_result(
                under_test.prompt, suite=item.nodeid.split("::")[0], test=test,
                passed=report.passed,
                message=call.excinfo.exconly()[:500] if call.excinfo else "",
                calls=under_test.calls)
        return report

    # -- the end --------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: keep what a finished worker used and produced."""
        data = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if data:
            self.workers.append(json.loads(data))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """The run's end (`promptkit.evals.run_end`): recordings flushed, unused ones found
        only in the folders of the versions that ran and only when every selected case ran,
        the gate's verdict as the exit status, results stored. A pytest-xdist worker hands
        its part to the controller, which decides for all of them."""
        if (not self.started and not self.workers) or self.config.option.collectonly:
            return  # no eval item, no `prompt` fixture, nothing run: nothing to finish
        if self.frozen:
            gc.freeze()  # what the run made lives to its end as well: see `unfreeze`
        from promptkit.evals.run_end import RunScope, end_run, worker_payload

        ran = [i for i in session.items if isinstance(i, SuiteItem)]
        whole = self._whole_run(session, ran)
        within = sorted({str(Path(i.eval_item.cassette).parent) for i in ran}) if whole else []
        if hasattr(self.config, "workerinput"):
            self.config.workeroutput[WORKER_KEY] = worker_payload(  # type: ignore[attr-defined]
                self.session, within)
            return
        if not ran and not self.workers:
            return
        self.ended = end_run(self.session, RunScope(within, self.workers, partial=not whole),
                             baseline=self.config.getoption("prompt_baseline"),
                             thresholds=self._thresholds(), design=self._design(),
                             tests_failed=session.testsfailed)
        if self.ended.exit_code is not None:
            session.exitstatus = self.ended.exit_code

    def _whole_run(self, session: pytest.Session, items: list[SuiteItem]) -> bool:
        """Whether every selected case ran, so that a recording no case used is truly unused
        (reported, and deleted in mode rewrite). Not after deselection (`-k`, `-m`), nor a
        stop (`-x`, `--maxfail`, Ctrl-C) before the last case; in a pytest-xdist worker,
        which runs only the cases it is handed, when its session was not stopped."""
        if (self.deselected or session.shouldstop or session.shouldfail
                or session.exitstatus == pytest.ExitCode.INTERRUPTED):  # xdist's stop, Ctrl-C
            return False
        if hasattr(self.config, "workerinput"):
            return True
        return all(item.ran for item in items)

    def _thresholds(self) -> Thresholds | None:
        from promptkit.evals.gate import Thresholds

        option = self.config.getoption
        try:
            return Thresholds(margin=option("prompt_margin"),
                              confidence=option("prompt_confidence"),
                              on_inconclusive=option("prompt_on_inconclusive"))
        except PromptkitError as exc:
            raise pytest.UsageError(str(exc)) from None

    def _design(self) -> Design:
        from promptkit.evals.sequential import Design

        return Design(max_calls=self.config.getoption("prompt_max_calls"),
                      max_cost=self.config.getoption("prompt_max_cost"))

    def unfreeze(self) -> None:
        """Hand the objects frozen when the calls started back to the garbage collector, as
        the run's very last cleanup.

        Everything that exists when the calls start (modules, the collected items, the
        dataset) lives as long as the run; frozen (`gc.freeze`), a full collection does not
        walk all of it again and again while the calls allocate, nor in the collections
        pytest itself makes at the end (in `pytest_unconfigure` and in its cleanups). What
        the calls made (results, reports, recordings) is frozen too as the session ends."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = False

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self._session is not None and (summaries := self._session.summary()):
            terminalreporter.section("promptkit evals")
            for summary in summaries:
                terminalreporter.write_line(summary.line())
            ended = self.ended
            lines = [] if ended is None else [ended.timing or "", *ended.unused]
            for line in filter(None, lines):
                terminalreporter.write_line(line)
            if ended is not None and ended.stored is not None:
                terminalreporter.write_line(f"results stored as run {ended.stored.run_id} "
                                            f"in {self._session.registry.url}")
        if self.ended is not None and self.ended.gate:
            terminalreporter.section("promptkit gate")
            for line in self.ended.gate:
                terminalreporter.write_line(line)

    @pytest.fixture
    def prompt(self, request: pytest.FixtureRequest) -> PromptUnderTest:
        """The prompt at the version under test (see `--prompt-version`)."""
        marker = request.node.get_closest_marker("prompt")
        if marker is None:
            raise pytest.UsageError(f"{request.node.nodeid}: the `prompt` fixture needs "
                                    "@pytest.mark.prompt(\"NAME\") to know which prompt to load")
        name = str(marker.args[0])
        loaded = self.session.library.load(name, request.param)
        test = request.node.originalname or request.node.name
        cassette = f"tests/{request.node.path.stem}/{test}/{loaded.ref}.json"
        return PromptUnderTest(loaded, self.session, cassette,
                               model=marker.kwargs.get("model"))


def _plugin(config: pytest.Config) -> EvalsPlugin:
    return config.stash[PLUGIN]


def _session(config: pytest.Config) -> EvalSession:
    return _plugin(config).session


def _concurrency_share(config: pytest.Config) -> int:
    """--prompt-concurrency bounds the whole run: a pytest-xdist worker takes its share."""
    total = int(config.getoption("prompt_concurrency"))
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    return max(1, total // workers)


def _retries(text: str) -> int:
    """--prompt-retries N: a count of retries, 0 or more (pytest reports a bad one as usage)."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected an integer, 0 or more; got {text!r}")
    return int(text)


def _is_suite(path: Path) -> bool:
    """A promptkit suite, not some other tool's YAML that happens to sit in `evals/` (a
    promptfoo config has `prompts:` and `tests:`): a top-level `prompt:` key. A suite with
    a mistake in it (an unknown prompt, a bad key) still collects, and fails with its file
    and line."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:65536]
    except OSError:
        return False
    return _PROMPT_KEY.search(head) is not None


_PROMPT_KEY = re.compile(r"^prompt:", re.M)


class SuiteFile(pytest.File):
    """An eval suite: one item per case × selected version."""

    def collect(self) -> Iterator[SuiteItem]:
        from promptkit.evals import load_suite
        from promptkit.evals.selection import NothingSelected

        session = _session(self.config)
        try:
            items = session.items(load_suite(self.path, root=session.settings.root))
        except NothingSelected as exc:
            pytest.skip(f"--prompt-version={self.config.getoption('prompt_version')}: {exc}")
        except PromptkitError as exc:
            raise self.CollectError(str(exc)) from None
        for item in items:
            yield SuiteItem.from_parent(self, name=item.id, eval_item=item)


# Made once: `add_marker("name")` builds (and checks) a new mark per item, a third of the
# time of collecting a large suite.
_PROMPT_EVAL = pytest.mark.prompt_eval
_CRITICAL = pytest.mark.critical


class SuiteItem(pytest.Item):
    """One case against one prompt version (its repeats included)."""

    def __init__(self, *, eval_item: EvalItem, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eval_item = eval_item
        self.ran = False
        self.add_marker(_PROMPT_EVAL)
        if eval_item.case.critical:
            self.add_marker(_CRITICAL)

    def runtest(self) -> None:
        self.ran = True
        result = _session(self.config).result(self.eval_item)
        if not result.passed:
            raise EvalFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, EvalFailure):
            return excinfo.value.result.explain()
        return super().repr_failure(excinfo)


    def reportinfo(self) -> tuple[Path, int | None, str]:
        # The trailing space keeps pytest from rewriting the versions' dots into '::' (it
        # does that to a domain that ends the node id) while failures are headed by the id.
        return self.path, None, f"{self.name} "


class EvalFailure(Exception):
    """An eval item whose case did not reach its pass threshold."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.item_id)
        self.result = result


class PromptUnderTest:
    """What the `prompt` fixture hands a test: one version of a prompt, ready to render and
    to call (through the core, replayed from or recorded to the test's own cassette)."""

    def __init__(self, prompt: Prompt, session: EvalSession, cassette: str,
                 model: str | None = None) -> None:
        self.prompt, self._session, self._cassette = prompt, session, cassette
        self._model = model
        self.calls: list[CallResult] = []
        """The calls this test made, in order: counted in the run's results."""

    @property
    def version(self) -> str:
        return self.prompt.version

    @property
    def ref(self) -> str:
        return self.prompt.ref

    def render(self, variables: dict[str, Any] | None = None, /, **more: Any) -> list[Message]:
        return self.prompt.render(variables, **more)

    def call(self, variables: dict[str, Any] | None = None, /, **more: Any) -> CallResult:
        """Render with the variables and call; the validated `CallResult`."""
        result = self._session.call(self.prompt, {**(variables or {}), **more},
                                    cassette=self._cassette, repeat=len(self.calls),
                                    model=self._model)
        self.calls.append(result)
        return result


def _xdist_queue(config: pytest.Config) -> list[int]:
    """The indices of the items queued in this xdist worker, read from xdist's worker plugin
    (its `torun` queue); empty if that is not there or not as expected, and the worker's
    items then run one by one, as xdist itself would."""
    worker = next((p for p in config.pluginmanager.get_plugins() if hasattr(p, "torun")), None)
    try:
        with worker.torun.lock() as pending:  # type: ignore[union-attr]
            return [i for i in pending if isinstance(i, int)]
    except (AttributeError, TypeError):
        return []


# Fixtures offered to users' own tests.
from promptkit.local.fixtures import local_extra, local_model  # noqa: E402, F401
from promptkit.testing.fixtures import fake_openai  # noqa: E402, F401
