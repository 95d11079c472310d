"""Evals across machines: `pytest evals --prompt-shard K/N` runs each case (every version of
it) on exactly one shard, the shards store their results in the shared database tagged with
their group, and a gate over the merged shards equals the gate over one unsharded run, on
SQLite and on the shared PostgreSQL store."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gate_helpers import CASES, ENV_NAMES, Invoke, gate_json

from promptkit.errors import UsageError
from promptkit.evals.shards import Shard, default_group, parse_shard

BIN = str(Path(sys.executable).parent)
DECIDES = ("verdict", "cases", "baseline_passed", "candidate_passed", "flips", "stats")


def pytest_evals(root: Path, db_url: str | None, *args: str,
                 group: str | None = None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES and k != "CI"}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env.pop("PROMPTKIT_SHARD_GROUP", None)
    if db_url:
        env["PROMPTKIT_DB_URL"] = db_url
    if group:
        env["PROMPTKIT_SHARD_GROUP"] = group
    done = subprocess.run([sys.executable, "-m", "pytest", "evals", "-q", "-p", "no:cacheprovider",
                           "--prompt-version=1.0.0,1.1.0", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr


def counts(output: str) -> dict[str, int]:
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|deselected)", output)}


def decisive(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in DECIDES}


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_gate_over_two_shards_equals_the_gate_over_one_run(
    store: str, gate_project: Path, promptkit: Invoke, recorded: Path, tmp_path: Path,
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
) -> None:
    db_url = request.getfixturevalue("postgres_url") if store == "postgres" else None
    ran = []
    for shard in ("1/2", "2/2"):
        code, output = pytest_evals(gate_project, db_url, f"--prompt-shard={shard}", group="g7")
        assert code in (0, 1), output  # 1.1.0 fails three cases: exit 1 is the eval's verdict
        ran.append(counts(output))
    assert sum(c.get("passed", 0) + c.get("failed", 0) for c in ran) == 2 * CASES
    assert all(c["deselected"] > 0 for c in ran)  # each shard ran a part, none ran all
    for path in (gate_project / "fixtures").rglob("*.json"):
        path.unlink()  # nothing left to replay: only the merged shards can answer
    if db_url:
        monkeypatch.setenv("PROMPTKIT_DB_URL", db_url)
    code, sharded, err = gate_json(promptkit, "--candidate", "1.1.0", "--baseline", "1.0.0",
                                   "--reuse")
    assert code == 1, err
    assert sharded["baseline"]["source"].startswith("stored shards 1/2, 2/2 of group g7 (runs ")

    monkeypatch.delenv("PROMPTKIT_DB_URL", raising=False)
    whole = tmp_path / "whole"  # the same project, one unsharded run, its own SQLite
    shutil.copytree(recorded, whole, ignore=shutil.ignore_patterns(".promptkit"))
    assert pytest_evals(whole, None)[0] == 1
    code, one, _ = gate_json(lambda *a: promptkit("--project", str(whole), *a),
                             "--candidate", "1.1.0", "--baseline", "1.0.0", "--reuse")
    assert one["baseline"]["source"].startswith("stored run ")
    assert decisive(sharded) == decisive(one)


def test_shards_split_every_case_once_and_keep_its_versions_together() -> None:
    shards = [Shard(k, 3) for k in (1, 2, 3)]
    owners = [[s for s in shards if s.holds("parity", f"case-{n}")] for n in range(300)]
    assert all(len(o) == 1 for o in owners)
    sizes = [sum(o[0] is s for o in owners) for s in shards]
    assert min(sizes) > 70  # about a third each
    assert parse_shard("2/3") == Shard(2, 3)
    for bad in ("0/2", "3/2", "a/b", "2"):
        with pytest.raises(UsageError, match="expected K/N"):
            parse_shard(bad)


def test_the_group_comes_from_the_ci_run_else_the_commit() -> None:
    assert default_group({"GITHUB_RUN_ID": "99", "GITHUB_RUN_ATTEMPT": "2"}, "abc") == "99.2"
    assert default_group({"PROMPTKIT_SHARD_GROUP": "x", "CI_PIPELINE_ID": "5"}, "abc") == "x"
    assert default_group({}, "abc") == "abc"
    assert default_group({}, None) is None


def test_the_sharded_ci_example_uses_options_that_exist(pytestconfig: pytest.Config) -> None:
    import click
    import yaml

    from promptkit.cli import cli

    workflow = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "ci"
                               / "sharded-evals.yml").read_text())
    runs = "\n".join(step.get("run", "") for job in workflow["jobs"].values()
                     for step in job["steps"])
    assert workflow["jobs"]["evals"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    assert "--prompt-shard=${{ matrix.shard }}/4" in runs and "--reuse" in runs
    assert workflow["env"]["PROMPTKIT_SHARD_GROUP"].startswith("${{ github.run_id }}")
    used = set(re.findall(r"(--prompt-[a-z-]+)", runs))
    known = {opt for action in pytestconfig._parser._anonymous.options
             for opt in action.names()} | {
        opt for group in pytestconfig._parser._groups for action in group.options
        for opt in action.names()}
    assert used <= known, used - known
    gate = cli.get_command(click.Context(cli), "gate")
    assert gate is not None
    gate_options = {o for p in gate.params for o in getattr(p, "opts", [])}
    assert {"--reuse", "--record", "--report", "--candidate", "--baseline"} <= gate_options
