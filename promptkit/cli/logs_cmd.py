"""`promptkit logs` (recent calls) and `promptkit logs stats` (per prompt@version), from the
call log in the project database."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import pandas as pd

from promptkit.cli.app import Project, cli, pass_project
from promptkit.db.engine import create_registry_engine, redact, unavailable_as_error
from promptkit.errors import UsageError
from promptkit.registry.calllog_sink import call_stats, read_calls

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `2h`, `7d`, `1w` ago, or an ISO date or time (UTC unless it says otherwise)."""
    found = _SPAN.match(text.strip().lower())
    if found:
        amount, unit = float(found.group(1)), found.group(2)
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r}: give a span such as 30m, 2h, 7d, 1w, or an ISO date or time"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _split_ref(ref: str | None) -> tuple[str | None, str | None]:
    if not ref:
        return None, None
    name, _, version = ref.partition("@")
    return name, version or None


def _calls(project: Project, prompt: str | None, since: str | None,
           limit: int | None) -> pd.DataFrame:  # fmt: skip
    url = project.settings.database_url
    name, version = _split_ref(prompt)
    start = parse_since(since) if since else None
    engine = create_registry_engine(url, create=False)
    try:
        with unavailable_as_error(redact(url)):
            return read_calls(engine, prompt=name, version=version, since=start, limit=limit)
    finally:
        engine.dispose()


def _filters(command: Any) -> Any:
    """The options both commands take: --prompt, --since, --json."""
    options = [
        click.option("--prompt", default=None, metavar="NAME[@VERSION]",
                     help="Only calls of this prompt (and version)."),
        click.option("--since", default=None, metavar="WHEN",
                     help="Only calls since then: 30m, 2h, 7d, 1w, or an ISO date."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts, missing values as None (pandas reads a missing string as NaN)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _ref(row: dict[str, Any]) -> str:
    if not row.get("prompt"):
        return "-"
    return f"{row['prompt']}@{row['version']}" if row.get("version") else str(row["prompt"])


def _line(row: dict[str, Any]) -> str:
    started = pd.Timestamp(row["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
    status = row["error_type"] or "ok"
    tokens = f"{row['input_tokens']}/{row['output_tokens']}"
    return (f"{started}  {row['id'][:12]}  {_ref(row):<28} {row['model'] or '-':<20} "
            f"{status:<22} {row['attempt_count']:>3}  {row['latency_s'] * 1000:>7.0f} ms  "
            f"{tokens:>11}  ${row['cost_usd']:.6f}")  # fmt: skip


@cli.group("logs", invoke_without_command=True)
@_filters
@click.option("--limit", type=int, default=20, show_default=True, help="How many calls.")
@click.pass_context
def logs_group(ctx: click.Context, prompt: str | None, since: str | None, as_json: bool,
               limit: int) -> None:  # fmt: skip
    """Recent model calls, newest first: time, id, prompt@version, model, outcome, attempts,
    latency, tokens in/out and cost (`--json`: every logged field)."""
    if ctx.invoked_subcommand is not None:
        return
    project = ctx.find_object(Project) or Project()
    rows = _records(_calls(project, prompt, since, limit))
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("no calls logged", err=True)
    header = (f"{'time (UTC)':<19}  {'id':<12}  {'prompt':<28} {'model':<20} {'outcome':<22} "
              f"{'try':>3}  {'latency':>10}  {'tokens':>11}  cost")  # fmt: skip
    for line in [header] * bool(rows) + [_line(r) for r in rows]:
        click.echo(line)


@logs_group.command("stats")
@_filters
@pass_project
def stats_command(project: Project, prompt: str | None, since: str | None,
                  as_json: bool) -> None:  # fmt: skip
    """Per prompt@version: calls, error rate, p50/p95 latency, tokens and total cost."""
    stats = call_stats(_calls(project, prompt, since, None))
    if as_json:
        _echo_json(_records(stats))
        return
    if stats.empty:
        click.echo("no calls logged", err=True)
        return
    shown = pd.DataFrame({
        "prompt": [f"{p}@{v}" if v else p for p, v in zip(stats["prompt"], stats["version"],
                                                           strict=True)],
        "calls": stats["calls"],
        "errors": stats["error_rate"].map(lambda r: f"{r:.1%}"),
        "p50 ms": (stats["p50_latency_s"] * 1000).round().astype(int),
        "p95 ms": (stats["p95_latency_s"] * 1000).round().astype(int),
        "tokens in": stats["input_tokens"],
        "tokens out": stats["output_tokens"],
        "cost": stats["cost_usd"].map(lambda c: f"${c:.6f}"),
    })  # fmt: skip
    click.echo(shown.to_string(index=False))
