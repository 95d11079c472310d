"""What an eval produces: one result per repeat, aggregated per case × version."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from promptkit.evals.assertions import Outcome

__all__ = ["CaseResult", "RunResult"]


@dataclass(frozen=True)
class RunResult:
    """One model call of a case (one repeat) and how its assertions went."""

    repeat: int
    passed: bool
    outcomes: tuple[Outcome, ...]
    output: Any = None
    text: str | None = None
    error: str | None = None
    error_type: str | None = None
    latency_s: float = 0.0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    attempts: int = 0

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]

    def explain(self) -> str:
        """Why this run failed, one line per failing assertion."""
        lines = [f"model call failed: {self.error}"] if self.error else []
        return "\n".join(lines + [f"{o.kind}: {o.message}" for o in self.failures])


@dataclass(frozen=True)
class CaseResult:
    """A case run against one prompt version, over its repeats."""

    item_id: str
    suite: str
    prompt: str
    version: str
    content_hash: str
    case_id: str
    critical: bool
    threshold: float
    runs: tuple[RunResult, ...]
    variables: dict[str, Any] = field(default_factory=dict)
    suite_hash: str = ""

    @property
    def pass_rate(self) -> float:
        return sum(r.passed for r in self.runs) / len(self.runs) if self.runs else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.runs) and self.pass_rate >= self.threshold

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.runs)

    @property
    def latency_s(self) -> float:
        """Mean latency over the repeats."""
        return sum(r.latency_s for r in self.runs) / len(self.runs) if self.runs else 0.0

    def explain(self) -> str:
        """A failure report: each failing repeat and its reasons."""
        head = (f"{self.item_id}: {sum(r.passed for r in self.runs)}/{len(self.runs)} "
                f"runs passed, threshold {self.threshold:.0%}")
        body = [f"  repeat {r.repeat}: " + r.explain().replace("\n", "\n    ")
                for r in self.runs if not r.passed]
        return "\n".join([head, *body])

    def row(self) -> dict[str, Any]:
        """A flat record for tables and storage."""
        last = self.runs[-1] if self.runs else None
        return {
            "item_id": self.item_id, "suite": self.suite, "suite_hash": self.suite_hash,
            "prompt": self.prompt,
            "version": self.version, "content_hash": self.content_hash, "case_id": self.case_id,
            "critical": self.critical, "passed": self.passed, "pass_rate": self.pass_rate,
            "repeats": len(self.runs), "cost_usd": self.cost_usd, "latency_s": self.latency_s,
            "input_tokens": sum(r.input_tokens for r in self.runs),
            "output_tokens": sum(r.output_tokens for r in self.runs),
            "output": last.output if last else None, "text": last.text if last else None,
            "error": last.error if last else None,
            "failures": [asdict(o) for r in self.runs for o in r.failures],
        }
