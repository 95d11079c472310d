"""The gate's inputs: each side's results, reused from the store for the exact content hash
when a stored run covered the same cases, else run now through the `EvalSession` (replayed
from recordings unless its record mode says otherwise).

    gate = Gate(EvalSession(settings), Thresholds(margin=0.02))
    report = gate.run("sentiment", candidate="1.2.0", baseline="production")
    report.exit_code  # 0 pass, 1 regression, 2 error
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from promptkit.errors import EvalError, UsageError
from promptkit.evals.gate import GateReport, Thresholds, VersionRef, compare
from promptkit.evals.gate_store import store_verdict
from promptkit.evals.results import CaseResult
from promptkit.evals.runner import EvalItem
from promptkit.evals.session import EvalSession
from promptkit.evals.store import RUNS, ResultStore
from promptkit.evals.suite import Suite, load_suites
from promptkit.registry.engine import unavailable_as_error
from promptkit.templates import Prompt
from promptkit.templates.versions import LATEST, is_version

__all__ = ["Gate", "gate_against"]

Rows = list[dict[str, Any]]


@dataclass
class Gate:
    """Compares versions of a prompt over its suites, through one eval session.

    `reuse`: take a side's results from the newest stored run of the same content hash that
    covered every case of the suite with the same repeat count and model (its verdicts are
    recomputed with the suite's current threshold and critical marks). Results run here are
    kept in `ran`, for the caller to store.
    """

    session: EvalSession
    thresholds: Thresholds = field(default_factory=Thresholds)
    reuse: bool = True
    ran: list[CaseResult] = field(default_factory=list)

    def run(self, name: str, *, candidate: str, baseline: str,
            suites: Sequence[str] = ()) -> GateReport:
        """Compare `candidate` with `baseline` (versions, `latest`, or a registry label such
        as production) over the suites of `name` (all of them, or those named)."""
        chosen = self.suites(name, suites)
        cand = self._ref(name, candidate)
        base = self._ref(name, baseline)
        cand_rows, cand_source = self.results(cand[0], chosen)
        if base[0].ref == cand[0].ref:  # a version against itself: the same items
            base_rows, base_source = cand_rows, cand_source
        else:
            base_rows, base_source = self.results(base[0], chosen)
        return compare(_version_ref(base[0], base[1], base_source),
                       _version_ref(cand[0], cand[1], cand_source),
                       base_rows, cand_rows, self.thresholds)

    def against(self, baseline: str) -> list[GateReport]:
        """Every version the session ran, against `baseline`, over the cases it ran (the
        pytest plugin's `--prompt-baseline`; under pytest-xdist, the workers' rows too)."""
        reports = []
        by_prompt: dict[str, Rows] = {}
        for row in self.session.rows():
            by_prompt.setdefault(row["prompt"], []).append(row)
        for name, rows in by_prompt.items():
            base_prompt, label = self._ref(name, baseline)
            ran_base = [r for r in rows if r["version"] == base_prompt.version]
            if ran_base:
                base_rows, source = ran_base, "ran"
            else:  # Python-written tests (no suite file) compare only with a baseline run alongside
                suites = self._ran_suites(rows)
                rows = [r for r in rows if r["suite"] in {s.name for s in suites}]
                if not rows:
                    continue
                base_rows, source = self.results(base_prompt, suites)
            base_ref = _version_ref(base_prompt, label, source)
            for version in dict.fromkeys(r["version"] for r in rows):
                if version == base_prompt.version:
                    continue
                cand_rows = [r for r in rows if r["version"] == version]
                cand_ref = VersionRef(name, version, cand_rows[0]["content_hash"], None, "ran")
                reports.append(compare(base_ref, cand_ref, base_rows, cand_rows,
                                       self.thresholds))
        return reports

    # -- which suites and versions ------------------------------------------------------

    def suites(self, name: str, names: Sequence[str] = ()) -> list[Suite]:
        """The suites in `evals/` that evaluate `name` (only those in `names`, if given)."""
        found = [s for s in load_suites(self.session.settings.evals_path) if s.prompt == name]
        if names:
            unknown = sorted(set(names) - {s.name for s in found})
            if unknown:
                raise UsageError(f"no suite {', '.join(unknown)} for {name} in "
                                 f"{self.session.settings.evals_path} (have: "
                                 f"{', '.join(s.name for s in found) or 'none'})")
            found = [s for s in found if s.name in names]
        if not found:
            raise UsageError(f"no suite in {self.session.settings.evals_path} evaluates {name}")
        return [self._repeat(s) for s in found]

    def _repeat(self, suite: Suite) -> Suite:
        repeat = self.session.options.repeat
        return replace(suite, repeat=repeat) if repeat is not None else suite

    def _ran_suites(self, rows: Iterable[dict[str, Any]]) -> list[Suite]:
        ran: dict[str, set[str]] = {}
        for r in rows:
            ran.setdefault(r["suite"], set()).add(r["case_id"])
        suites = {s.name: s for s in load_suites(self.session.settings.evals_path)}
        return [self._repeat(replace(suites[name], cases=tuple(
            c for c in suites[name].cases if c.id in ids))) for name, ids in ran.items()
            if name in suites]

    def _ref(self, name: str, spec: str) -> tuple[Prompt, str | None]:
        """A version, `latest`, or a label pinned in the registry → the prompt file (its
        content must be the pinned content) and the label."""
        library = self.session.library
        if spec == LATEST or is_version(spec):
            return library.load(name, spec), None
        registry = self.session.registry
        pin = registry.current(name, spec)
        if pin is None:
            raise UsageError(f"{name} has no version pinned to {spec!r} in {registry.url}: "
                             f"give a version, or pin one first")
        prompt = library.load(name, pin.version)
        if prompt.content_hash != pin.content_hash:
            raise EvalError(f"{name}@{pin.version} is pinned to {spec} as {pin.content_hash}, "
                            f"but {prompt.path} holds {prompt.content_hash}: the file changed "
                            f"after it was published")
        return prompt, spec

    # -- results ------------------------------------------------------------------------

    def results(self, prompt: Prompt, suites: Sequence[Suite]) -> tuple[Rows, str]:
        """Rows for `prompt` over `suites`, and where they came from."""
        rows: Rows = []
        sources: list[str] = []
        to_run: list[EvalItem] = []
        for suite in suites:
            stored = self._stored(prompt, suite) if self.reuse else None
            if stored is not None:
                rows += stored[0]
                sources.append(f"stored run {stored[1]}")
            else:
                to_run += [EvalItem(suite, case, prompt) for case in suite.cases]
        if to_run:
            results = self.session.run(to_run)
            self.ran += results
            rows += [r.row() for r in results]
            sources.append(f"ran ({self.session.options.record.value})")
        return rows, "; ".join(dict.fromkeys(sources))

    def _stored(self, prompt: Prompt, suite: Suite) -> tuple[Rows, str] | None:
        """The newest stored run of this exact content that covered every case of `suite`
        with the same repeat count and model, with no replay miss."""
        store = ResultStore(self.session.registry)
        frame = store.frame(content_hash=prompt.content_hash, prompt=prompt.name)
        frame = frame[frame["suite"] == suite.name]
        if frame.empty:
            return None
        cases = {c.id: c for c in suite.cases}
        models = self._run_models(list(frame["run_id"].drop_duplicates()))
        for run_id in frame["run_id"].drop_duplicates():
            rows = frame[(frame["run_id"] == run_id) & frame["case_id"].isin(list(cases))]
            if (set(rows["case_id"]) != set(cases) or len(rows) != len(cases)
                    or (rows["repeats"] != suite.repeat).any()
                    or models.get(run_id) != self.session.options.model
                    or rows["error"].fillna("").str.startswith("ReplayMissError").any()):
                continue
            return [_refresh(row, suite, cases) for row in rows.to_dict("records")], run_id
        return None

    def _run_models(self, run_ids: list[str]) -> dict[str, str | None]:
        """The `--prompt-model` override each stored run used (None: the prompts' own)."""
        registry = self.session.registry
        query = sa.select(RUNS.c.run_id, RUNS.c.options).where(RUNS.c.run_id.in_(run_ids))
        with unavailable_as_error(registry.url), registry.engine.connect() as conn:
            return {r.run_id: json.loads(r.options or "{}").get("model")
                    for r in conn.execute(query)}


def _refresh(row: dict[str, Any], suite: Suite, cases: dict[str, Any]) -> dict[str, Any]:
    """A stored row judged by the suite as it is now: its threshold and critical marks."""
    rate = float(row["pass_rate"])
    return {**row, "critical": cases[row["case_id"]].critical,
            "passed": int(row["repeats"]) > 0 and rate >= suite.threshold}


def _version_ref(prompt: Prompt, label: str | None, source: str) -> VersionRef:
    return VersionRef(prompt.name, prompt.version, prompt.content_hash, label, source)


def gate_against(session: EvalSession, baseline: str,
                 thresholds: Thresholds | None = None) -> list[GateReport]:
    """`--prompt-baseline`: every version the session ran against `baseline`, each verdict
    stored for `promote`."""
    reports = Gate(session, thresholds or Thresholds()).against(baseline)
    for report in reports:
        store_verdict(session.registry, report)
    return reports
