"""`promptkit run NAME@VERSION`: render, call the model through the core, print the output."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from promptkit.cli.app import Project, cli, pass_project, retries_option
from promptkit.cli.prompts import var_option, vars_file_option
from promptkit.cli.vars import collect_variables
from promptkit.core import (
    CallResult,
    Client,
    Restart,
    RetryPolicy,
    StreamEnd,
    StreamEvent,
    TextDelta,
)
from promptkit.registry import model_configs
from promptkit.registry.calllog_sink import project_call_log
from promptkit.templates import Prompt
from promptkit.templates.versions import LATEST, is_version, parse_ref


@cli.command("run")
@click.argument("ref")
@var_option
@vars_file_option
@click.option("--model", "config", metavar="CONFIG", default=None,
              help="Model config to call (default: the prompt's own, else the project default).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the output with the call record (attempts, tokens, latency).")
@click.option("--deadline", type=float, default=None, metavar="SECONDS",
              help="Overall deadline of the call, retries and re-asks included.")
@click.option("--stream", is_flag=True,
              help="Print the reply's text as it arrives (to stderr with --json).")
@retries_option
@pass_project
def run_command(project: Project, ref: str, pairs: tuple[str, ...], vars_file: Path | None,
                config: str | None, as_json: bool, deadline: float | None,
                stream: bool, retries: int | None) -> None:
    """Render NAME@VERSION (or NAME@LABEL), call the model, print the validated output.

    With --stream the text is printed token by token as the model writes it (a structured
    output shows its JSON as it comes) and the output is validated at the end.
    Exit 0 on success, 1 when the model call or validation fails after retries, 2 on a
    usage error.
    """
    prompt = project.prompt(ref)
    variables = collect_variables(pairs, vars_file, prompt.meta.inputs)
    settings = project.settings
    registry = project.registry
    options: dict[str, Any] = dict(config=config, default_config=settings.default_model,
                                   metadata={"label": _label(ref)}, deadline_s=deadline)
    log = project_call_log(registry)
    try:
        retry = RetryPolicy.from_settings(settings, retries=retries)
        with Client(model_configs(settings, registry), hooks=[log], retry=retry) as client:
            if stream:
                result = _print_stream(client.stream_prompt(prompt, variables, **options),
                                       err=as_json)
            else:
                result = client.call_prompt(prompt, variables, **options)
    finally:
        log.close()
    if stream and not as_json:
        return
    if as_json:
        click.echo(json.dumps(_report(prompt, result), indent=2, ensure_ascii=False))
    elif isinstance(result.output, str):
        click.echo(result.output)
    else:
        click.echo(json.dumps(result.output, indent=2, ensure_ascii=False))


def _print_stream(events: Iterable[StreamEvent], *, err: bool) -> CallResult:
    """Echo text deltas as they come; a re-ask starts a new line. The final result."""
    at_line_start = True
    try:
        for event in events:
            if isinstance(event, TextDelta) and event.text:
                click.echo(event.text, nl=False, err=err)
                at_line_start = event.text.endswith("\n")
            elif isinstance(event, Restart):
                click.echo("" if at_line_start else "\n", nl=False, err=err)
                click.echo(f"(re-asked: {'; '.join(event.errors)})", err=True)
                at_line_start = True
            elif isinstance(event, StreamEnd):
                if not at_line_start:
                    click.echo("", err=err)
                return event.result
    except BaseException:
        if not at_line_start:
            click.echo("", err=err)
        raise
    raise RuntimeError("the stream ended without its result")


def _label(ref: str) -> str | None:
    _, version = parse_ref(ref)
    return version if version and version != LATEST and not is_version(version) else None


def _report(prompt: Prompt, result: CallResult) -> dict[str, Any]:
    return {
        "prompt": prompt.ref, "content_hash": prompt.content_hash, "output": result.output,
        "model": result.model, "config": result.config_name, "cost_usd": result.cost_usd,
        "finish_reason": result.finish_reason, "latency_s": round(result.latency_s, 4),
        "usage": asdict(result.total_usage), "request_id": result.request_id,
        "attempts": [asdict(a) for a in result.attempts],
    }  # fmt: skip
