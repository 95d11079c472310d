"""The gate's inputs: a first pass of both versions through the `EvalSession` (replayed from
recordings unless its record mode says otherwise), then the sequential design's re-samples
(`sequential.decide`) until the evidence decides or the budget runs out.

    gate = Gate(EvalSession(settings), Thresholds(margin=0.02))
    report = gate.run("sentiment", candidate="1.2.0", baseline="production")
    report.exit_code  # 0 pass, 1 regression, 2 error, 3 inconclusive

Stored results are reused for a first pass only when asked (`reuse=True`), never under
`--record all`, and only from a run of the same prompt content and the same suite content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from promptkit.db.engine import unavailable_as_error
from promptkit.errors import UsageError
from promptkit.evals.calibration_run import judge_verdicts
from promptkit.evals.gate import GateReport, Thresholds, VersionRef, compare, evidence_from_rows
from promptkit.evals.gate_store import store_verdict
from promptkit.evals.results import CaseResult
from promptkit.evals.runner import EvalItem
from promptkit.evals.sequential import CaseEvidence, Design, Outcome, Sampler, decide
from promptkit.evals.session import EvalSession
from promptkit.evals.store import RUNS, ResultStore
from promptkit.evals.suite import Suite, load_suites
from promptkit.replay import RecordMode
from promptkit.templates import Prompt

__all__ = ["Gate", "gate_against"]

Rows = list[dict[str, Any]]
_MISS = "ReplayMissError"


@dataclass
class Gate:
    """Compares versions of a prompt over its suites, through one eval session.

    `reuse`: take a side's first pass from the newest stored run of the same content hash
    and suite hash that covered every case with the same repeat count and model (announced
    in the report as its source). Results run here are kept in `ran`, for the caller to
    store.
    """

    session: EvalSession
    thresholds: Thresholds = field(default_factory=Thresholds)
    design: Design = field(default_factory=Design)
    reuse: bool = False
    ran: list[CaseResult] = field(default_factory=list)

    def run(self, name: str, *, candidate: str, baseline: str,
            suites: Sequence[str] = ()) -> GateReport:
        """Compare `candidate` with `baseline` (versions, `latest`, or a registry label such
        as production) over the suites of `name` (all of them, or those named)."""
        chosen = self.suites(name, suites)
        cand, cand_label = self.resolve(name, candidate)
        base, base_label = self.resolve(name, baseline)
        if base.ref == cand.ref:  # a version against itself: the same answers on both sides
            rows, source = self.results(cand, chosen)
            return compare(_version_ref(base, base_label, source),
                           _version_ref(cand, cand_label, source), rows, rows, self.thresholds)
        (base_rows, base_source), (cand_rows, cand_source) = self.first_answers([base, cand],
                                                                                chosen)
        return self.compare(_version_ref(base, base_label, base_source),
                            _version_ref(cand, cand_label, cand_source), base_rows, cand_rows,
                            {"baseline": base, "candidate": cand}, chosen)

    def compare(self, base_ref: VersionRef, cand_ref: VersionRef, base_rows: Rows,
                cand_rows: Rows, prompts: dict[str, Prompt], suites: Sequence[Suite]
                ) -> GateReport:
        """Sample again where the first pass leaves doubt, then report."""
        evidence, _, _ = evidence_from_rows(base_rows, cand_rows)
        items = _item_pairs(suites, prompts["baseline"], prompts["candidate"])
        for case in evidence:
            if case.key not in items:  # a Python-written test: its answer is all there is
                case.fresh, case.exact = [case.first], True
        outcome = self._decide(evidence, items, base_rows + cand_rows)
        report = compare(base_ref, cand_ref, base_rows, cand_rows, self.thresholds,
                         sampled=(evidence, outcome))
        return replace(report, judges=judge_verdicts(suites, base_rows, cand_rows))

    def against(self, baseline: str) -> list[GateReport]:
        """Every version the session ran, against `baseline`, over the cases it ran (the
        pytest plugin's `--prompt-baseline`; under pytest-xdist, the workers' rows too)."""
        reports = []
        by_prompt: dict[str, Rows] = {}
        for row in self.session.rows():
            by_prompt.setdefault(row["prompt"], []).append(row)
        for name, rows in by_prompt.items():
            base_prompt, label = self.resolve(name, baseline)
            suites = self._ran_suites(rows)
            ran_base = [r for r in rows if r["version"] == base_prompt.version]
            if ran_base:
                base_rows, source = ran_base, "ran"
            else:  # Python-written tests compare only with a baseline run alongside
                rows = [r for r in rows if r["suite"] in {s.name for s in suites}]
                if not rows:
                    continue
                base_rows, source = self.results(base_prompt, suites)
            base_ref = _version_ref(base_prompt, label, source)
            for version in dict.fromkeys(r["version"] for r in rows):
                if version == base_prompt.version:
                    continue
                cand_rows = [r for r in rows if r["version"] == version]
                cand_prompt = self.session.library.load(name, version)
                cand_ref = VersionRef(name, version, cand_rows[0]["content_hash"], None, "ran")
                reports.append(self.compare(base_ref, cand_ref, base_rows, cand_rows,
                                            {"baseline": base_prompt, "candidate": cand_prompt},
                                            suites))
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

    def resolve(self, name: str, spec: str) -> tuple[Prompt, str | None]:
        """A version, `latest`, or a label pinned in the registry → the prompt (a published
        version's file must still hold its published content) and the label."""
        found = self.session.references.resolve(name, spec)
        return found.prompt, found.label

    def stored_rates(self, prompt: Prompt, suites: Sequence[Suite]) -> list[tuple[int, int]]:
        """Each case's stored (passes, answers) for `prompt`, over every stored run of its
        content and of the suite's current content: what `--plan` simulates from."""
        frame = ResultStore(self.session.registry).frame(content_hash=prompt.content_hash,
                                                         prompt=prompt.name)
        rates = []
        for suite in suites:
            rows = frame[(frame["suite"] == suite.name)
                         & (frame["suite_hash"].fillna("") == suite.content_hash)
                         & ~frame["error"].fillna("").str.startswith(_MISS)]
            for case in suite.cases:
                mine = rows[rows["case_id"] == case.id]
                answers = int(mine["repeats"].sum())
                if answers:
                    passes = round(float((mine["pass_rate"] * mine["repeats"]).sum()))
                    rates.append((passes, answers))
        return rates

    # -- the first pass -----------------------------------------------------------------

    def results(self, prompt: Prompt, suites: Sequence[Suite]) -> tuple[Rows, str]:
        """One version's first answers over `suites`, and where they came from."""
        return self.first_answers([prompt], suites)[0]

    def first_answers(self, prompts: Sequence[Prompt], suites: Sequence[Suite]
                      ) -> list[tuple[Rows, str]]:
        """Each version's first answers over `suites` (stored ones when `reuse` finds them,
        else run now, all versions' calls together), and where they came from."""
        stored = [self._stored_all(p, suites) for p in prompts]
        items = [EvalItem(s, c, p) for p, (reused, _) in zip(prompts, stored, strict=True)
                 for s in suites if s.name not in reused for c in s.cases]
        results = self.session.run(items) if items else []
        self.ran += results
        out = []
        for prompt, (reused, runs) in zip(prompts, stored, strict=True):
            ran = [r.row() for r in results if (r.prompt, r.version) == (prompt.name,
                                                                          prompt.version)]
            sources = [f"stored {r} (reused)" for r in runs]
            if ran:
                sources.append(f"ran ({self.session.options.record.value})")
            rows = [row for suite_rows in reused.values() for row in suite_rows]
            out.append((rows + ran, "; ".join(dict.fromkeys(sources))))
        return out

    def _stored_all(self, prompt: Prompt, suites: Sequence[Suite]
                    ) -> tuple[dict[str, Rows], list[str]]:
        if not self.reuse or self.session.options.record in (RecordMode.ALL, RecordMode.REWRITE):
            return {}, []
        found = {s.name: self._stored(prompt, s) for s in suites}
        hits = {name: hit for name, hit in found.items() if hit is not None}
        return ({name: rows for name, (rows, _) in hits.items()},
                list(dict.fromkeys(run for _, run in hits.values())))

    def _stored(self, prompt: Prompt, suite: Suite) -> tuple[Rows, str] | None:
        """The newest stored answers of this exact content and suite content that cover
        every case of `suite` once, with the same repeat count and model and no replay
        miss: one run's, or the shards' of one group (`--prompt-shard`) together."""
        store = ResultStore(self.session.registry)
        frame = store.frame(content_hash=prompt.content_hash, prompt=prompt.name)
        frame = frame[(frame["suite"] == suite.name)
                      & (frame["suite_hash"].fillna("") == suite.content_hash)]
        if frame.empty:
            return None
        cases = {c.id: c for c in suite.cases}
        options = self._run_options(list(frame["run_id"].drop_duplicates()))
        for runs, source in _candidates(list(frame["run_id"].drop_duplicates()), options):
            rows = frame[frame["run_id"].isin(runs) & frame["case_id"].isin(list(cases))]
            if (set(rows["case_id"]) != set(cases) or len(rows) != len(cases)
                    or (rows["repeats"] != suite.repeat).any()
                    or any(options[r].get("model") != self.session.options.model for r in runs)
                    or rows["error"].fillna("").str.startswith(_MISS).any()):
                continue
            order = {case_id: i for i, case_id in enumerate(cases)}  # the suite's, not storage's
            found = sorted(rows.to_dict("records"), key=lambda row: order[row["case_id"]])
            return [_refresh(row, suite, cases) for row in found], source
        return None

    def _run_options(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The options each stored run was made with (its `--prompt-model`, its shard)."""
        registry = self.session.registry
        query = sa.select(RUNS.c.run_id, RUNS.c.options).where(RUNS.c.run_id.in_(run_ids))
        with unavailable_as_error(registry.url), registry.engine.connect() as conn:
            return {r.run_id: json.loads(r.options or "{}") for r in conn.execute(query)}

    # -- sampling again -----------------------------------------------------------------

    def _decide(self, evidence: list[CaseEvidence], items: dict[str, tuple[EvalItem, EvalItem]],
                first_rows: Rows) -> Outcome:
        cost = sum(float(r.get("cost_usd") or 0.0) for r in first_rows)
        return decide(evidence, self.design, self._sampler(items),
                      margin=self.thresholds.margin, confidence=self.thresholds.confidence,
                      first_pass_calls=sum(e.pair_calls for e in evidence),
                      first_pass_cost=cost)

    def _sampler(self, items: dict[str, tuple[EvalItem, EvalItem]]) -> Sampler:
        """Fresh pairs through the session. A re-sample that replay holds no answer for
        (a recording of one answer) gives the first answers back: that case is exact."""

        def sample(todo: Sequence[CaseEvidence], stage: int) -> tuple[int, float]:
            batch = [replace(item, sample=stage) for case in todo for item in items[case.key]]
            results = self.session.run(batch)
            calls, cost = 0, 0.0
            for i, case in enumerate(todo):
                base, cand = results[2 * i], results[2 * i + 1]
                if _missed(base) or _missed(cand):
                    case.fresh.append(case.first)
                    case.exact = True
                    continue
                case.fresh.append((float(base.passed), float(cand.passed)))
                calls += case.pair_calls
                cost += base.cost_usd + cand.cost_usd
            return calls, cost

        return sample


def _candidates(run_ids: list[str], options: dict[str, dict[str, Any]]
                ) -> list[tuple[list[str], str]]:
    """Newest first: each run alone, then the shards of each group together (the newest
    shard of each index, so a re-run shard replaces its first try)."""
    found: list[tuple[list[str], str]] = [([r], f"run {r}") for r in run_ids]
    groups: dict[str, dict[str, str]] = {}
    for run in run_ids:  # newest first
        opts = options.get(run, {})
        if opts.get("shard") and opts.get("shard_group"):
            groups.setdefault(opts["shard_group"], {}).setdefault(opts["shard"], run)
    for group, shards in groups.items():
        runs = [shards[k] for k in sorted(shards)]
        found.append((runs, f"shards {', '.join(sorted(shards))} of group {group} (runs "
                            f"{', '.join(runs)})"))
    return found


def _item_pairs(suites: Sequence[Suite], base: Prompt, cand: Prompt
                ) -> dict[str, tuple[EvalItem, EvalItem]]:
    return {f"{s.name}::{c.id}": (EvalItem(s, c, base), EvalItem(s, c, cand))
            for s in suites for c in s.cases}


def _missed(result: CaseResult) -> bool:
    return any((run.error or "").startswith(_MISS) for run in result.runs)


def _refresh(row: dict[str, Any], suite: Suite, cases: dict[str, Any]) -> dict[str, Any]:
    """A stored row judged by the suite as it is now: its threshold and critical marks."""
    rate = float(row["pass_rate"])
    return {**row, "critical": cases[row["case_id"]].critical,
            "passed": int(row["repeats"]) > 0 and rate >= suite.threshold}


def _version_ref(prompt: Prompt, label: str | None, source: str) -> VersionRef:
    return VersionRef(prompt.name, prompt.version, prompt.content_hash, label, source)


def gate_against(session: EvalSession, baseline: str, thresholds: Thresholds | None = None,
                 design: Design | None = None) -> list[GateReport]:
    """`--prompt-baseline`: every version the session ran against `baseline`, each verdict
    stored for `promote`."""
    gate = Gate(session, thresholds or Thresholds(), design or Design())
    reports = gate.against(baseline)
    for report in reports:
        store_verdict(session.registry, report)
    return reports
