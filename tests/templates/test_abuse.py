"""Hostile prompt files: each case of this corpus, rendered (and shown, and linted) by the
real CLI in its own process, ends in under 2 s and under 200 MB with a one-line error and
exit 2, and `lint` over a folder holding all of them reports each and finishes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

FRONT = "---\nname: {name}\nversion: 1.0.0\n{extra}---\nuser:\n{body}\n"
LAUGHS = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10) if i else ', '.join(['x'] * 10)}]\n"
    for i in range(9))

CORPUS: dict[str, dict[str, str]] = {
    "repeat": {"body": "{{ 'x' * 100000000 }}"},
    "repeat-late": {"body": "{% set n = 10 ** 8 %}{{ 'x' * n }}"},
    "list-repeat": {"body": "{{ ([1] * 100000000) | length }}"},
    "power": {"body": "{{ 10 ** 100000000 }}"},
    "nested-ranges": {"body": "{% for i in range(100000) %}{% for j in range(100000) %}"
                              "{% endfor %}{% endfor %}done"},
    "output-flood": {"body": "{% for i in range(99999) %}{{ 'x' * 999 }}{% endfor %}"},
    "center": {"body": "{{ 'x' | center(100000000) }}"},
    "concat": {"body": "{% set x = 'y' * 900000 %}{{ (x ~ x ~ x ~ x ~ x ~ x ~ x ~ x) | length }}"},
    "plus": {"body": "{% set x = 'y' * 900000 %}{{ (x + x + x + x) | length }}"},
    "namespace-doubling": {"body": "{% set ns = namespace(x='yy') %}{% for i in range(60) %}"
                                   "{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x | length }}"},
    "append": {"body": "{% set l = [] %}{% for i in range(99999) %}{{ l.append('x' * 999) }}"
                       "{% endfor %}"},
    "deep-template": {"body": "{% if true %}" * 600 + "x" + "{% endif %}" * 600},
    "deep-expression": {"body": "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"},
    "format-attribute": {"body": "{{ '{0.__class__.__mro__}'.format(1) }}"},
    "yaml-laughs": {"extra": LAUGHS, "body": "hi"},
    "yaml-deep": {"extra": "x: " + "[" * 500 + "]" * 500 + "\n", "body": "hi"},
    "yaml-broken": {"extra": "x: [1, 2\ny: {a\n", "body": "hi"},
}
BIG_FILE = "big-file"


def _write_corpus(root: Path) -> list[str]:
    prompts = root / "prompts"
    for name, parts in CORPUS.items():
        (prompts / name).mkdir(parents=True)
        (prompts / name / "1.0.0.prompt").write_text(FRONT.format(
            name=name, extra=parts.get("extra", ""), body=parts["body"]))
    (prompts / BIG_FILE).mkdir()
    (prompts / BIG_FILE / "1.0.0.prompt").write_text(
        FRONT.format(name=BIG_FILE, extra="", body="x" * 2_000_000))
    (root / "pyproject.toml").write_text('[project]\nname = "abuse"\n')
    return [*CORPUS, BIG_FILE]


LAUNCHER = """
import resource, subprocess, sys
done = subprocess.run([sys.executable, "-c", "from promptkit.cli import main; main()",
                       *sys.argv[1:]])
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print("USED", used.ru_utime + used.ru_stime, used.ru_maxrss)
sys.exit(done.returncode)
"""
HANG_GUARD_S = 60.0
"""Wall time is only a guard against a hang: on a loaded machine it measures the load."""


def _promptkit(root: Path, *args: str) -> tuple[int, str, float, int]:
    """Exit code, output (stderr then stdout), CPU seconds and peak RSS in MB of one CLI run
    in its own process (measured by a parent that waits for it). CPU time, not wall time:
    what the file costs the machine, the same on an idle laptop and a loaded CI runner."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTKIT_")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", LAUNCHER, "--project", str(root), *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert time.monotonic() - started < HANG_GUARD_S, ("hung", args)
    out, _, used = done.stdout.rpartition("USED ")
    cpu, peak_kb = used.split()
    return done.returncode, done.stderr + out, float(cpu), int(peak_kb) // 1024


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("abuse")
    return root, _write_corpus(root)


@pytest.mark.slow
@pytest.mark.parametrize("name", [*CORPUS, BIG_FILE])
def test_each_abuse_case_is_refused_fast_small_and_in_one_line(
    corpus: tuple[Path, list[str]], name: str,
) -> None:
    root, _ = corpus
    for command in ("render", "show"):
        code, err, cpu_s, peak = _promptkit(root, command, name)
        if command == "show" and code == 0:
            continue  # the limit is the render's: showing the file is fine
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2, (command, name, err[-2000:])
        assert len(lines) == 1 and lines[0].startswith("error: "), (command, name, err[-2000:])
        assert cpu_s < 2.0 + _startup_allowance(), (command, name, cpu_s)
        assert peak < 200, (command, name, peak)


def _startup_allowance() -> float:
    """The CLI's own start (imports, about 0.3 s of CPU) is not the file's cost."""
    return 1.0


@pytest.mark.slow
def test_lint_reports_every_case_and_finishes(corpus: tuple[Path, list[str]]) -> None:
    root, names = corpus
    code, out, cpu_s, peak = _promptkit(root, "lint")
    assert code == 1, out[-3000:]
    reported = {line.split("/prompts/")[1].split("/")[0] for line in out.splitlines()
                if "/prompts/" in line}
    renders_only = {"repeat-late", "list-repeat", "nested-ranges", "output-flood", "concat",
                    "plus", "namespace-doubling", "append", "format-attribute"}
    assert set(names) - renders_only <= reported, sorted(set(names) - renders_only - reported)
    assert cpu_s < 10 and peak < 200
