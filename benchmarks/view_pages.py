"""Server time of every page of `promptkit view` over a big project database, and the time
`promptkit view` takes to listen.

    python benchmarks/view_pages.py [--calls 100000] [--results 10000] [--requests 50]

Builds a SQLite registry (the example prompts published and pinned, `results` eval case
results in three runs, `calls` call-log rows, bulk inserted), then asks each page
`requests` times through Starlette's TestClient (the whole ASGI app: middleware, queries,
templates, scrubbing). Target: every page's p95 under 200 ms. Startup is measured from
process start to the port accepting a connection, in a fresh interpreter, 5 times. Prints
one JSON object; `run()` returns it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET_P95_S = 0.2
START = datetime(2025, 1, 1, tzinfo=UTC)
VERSIONS = ("1.0.0", "1.1.0", "1.2.0")


def _project(root: Path) -> Any:
    shutil.copytree(REPO / "prompts", root / "prompts")
    shutil.copytree(REPO / "evals", root / "evals")
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\n', encoding="utf-8")
    from promptkit.config import load_settings
    from promptkit.registry import Registry
    from promptkit.templates.library import PromptLibrary

    settings = load_settings(root)
    registry = Registry(settings.database_url)
    registry.publish_library(PromptLibrary(settings.prompts_path), actor="bench")
    for version in VERSIONS:
        registry.pin("sentiment", version, env="production", reason="bench", actor="bench")
    registry.rollback("sentiment", env="production", reason="bench", actor="bench")
    return settings, registry


def _results(registry: Any, count: int) -> None:
    from promptkit.evals.store import ResultStore

    store, rng = ResultStore(registry), random.Random(2)
    per_version = count // len(VERSIONS)
    for version in VERSIONS:
        content_hash = registry.version("sentiment", version).content_hash
        store.save([{
            "suite": "sentiment", "suite_hash": "sha256:s", "prompt": "sentiment",
            "version": version, "content_hash": content_hash, "case_id": f"case-{i:05d}",
            "critical": False, "passed": rng.random() < 0.9, "pass_rate": 1.0, "repeats": 1,
            "cost_usd": 0.0001, "latency_s": rng.uniform(0.1, 1), "input_tokens": 50,
            "output_tokens": 20, "output": {"sentiment": rng.choice(["positive", "negative"])},
            "text": None, "error": None, "failures": []} for i in range(per_version)])


def _calls(registry: Any, count: int) -> None:
    from promptkit.db.engine import write_transaction
    from promptkit.registry.calllog_sink import DatabaseSink, call_log

    DatabaseSink(engine=registry.engine).migrate()
    rng = random.Random(1)
    prompts = (("sentiment", VERSIONS), ("support_assistant", ("1.1.0", "1.2.0")),
               ("extract_contact", ("1.0.0",)))
    rows = []
    for i in range(count):
        name, versions = prompts[0] if i % 4 else prompts[1 + i % 8 // 4]
        failed = rng.random() < 0.03
        rows.append({
            "id": f"c{i:08d}", "started_at": START + timedelta(seconds=30 * i), "run_id": "r",
            "prompt": name, "version": versions[i * len(versions) // count],
            "content_hash": "sha256:x", "label": "production", "config_name": "default",
            "model": rng.choice(["gpt-4o-mini", "gpt-4o"]), "input_tokens": 60,
            "output_tokens": 25, "cached_tokens": 0, "cost_usd": rng.uniform(1e-5, 1e-3),
            "cost_source": "prices", "latency_s": rng.uniform(0.05, 3), "attempt_count": 1,
            "error_type": "ModelAPIError" if failed else None, "stream": False,
            "messages": [{"role": "user", "content": f"text {i}"}],
            "parsed_output": {"sentiment": "positive"}, "request": {"temperature": 0},
            "config": {"name": "default"}, "attempts": [],
            "meta": {"variables": {"text": f"text {i}"}}})
    with write_transaction(registry.engine) as conn:
        for start in range(0, len(rows), 10_000):
            conn.execute(call_log.insert(), rows[start:start + 10_000])


def _pages(client: Any) -> dict[str, str]:
    calls = client.get("/calls").text
    cursor_page = client.get("/calls?prompt=sentiment")
    deep = cursor_page.text.split('id="next-page" href="')[1].split('"')[0].replace("&amp;", "&")
    return {
        "prompts": "/prompts", "versions": "/prompts/sentiment",
        "version": "/prompts/sentiment/v/1.2.0",
        "diff": "/prompts/sentiment/diff?a=1.0.0&b=1.2.0",
        "environments": "/envs", "environment": "/envs/production",
        "runs": "/runs", "compare": "/runs/sentiment/sentiment",
        "compare_flips": "/runs/sentiment/sentiment?show=flips",
        "compare_search": "/runs/sentiment/sentiment?q=case-0333",
        "result": "/results/1", "gates": "/gates",
        "calls": "/calls", "calls_next_page": deep,
        "calls_errors": "/calls?status=error",
        "calls_filtered": "/calls?prompt=sentiment&version=1.1.0&model=gpt-4o&min_latency=2.5",
        "calls_min_cost": "/calls?min_cost=0.00099",
        "calls_window": "/calls?since=2025-01-20T00:00&until=2025-01-21T00:00",
        "call": "/calls/" + calls.split('href="/calls/')[1].split('"')[0],
        "charts": "/charts?prompt=sentiment", "queue": "/queue",
    }


def _timed(client: Any, url: str, requests: int) -> dict[str, float]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
    times.sort()
    return {"p50_ms": round(1000 * statistics.median(times), 1),
            "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 1)}


def _startup(root: Path, runs: int = 5) -> list[float]:
    """Seconds from process start to `promptkit view` accepting a connection."""
    found = []
    for _ in range(runs):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", "from promptkit.cli import main; main()", "--project",
             str(root), "view", "--port", str(port)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.002)
        found.append(round(time.perf_counter() - started, 3))
        process.terminate()
        process.wait()
    return found


def run(calls: int = 100_000, results: int = 10_000, requests: int = 50) -> dict[str, Any]:
    from starlette.testclient import TestClient

    from promptkit.view import create_app

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings, registry = _project(root)
        _results(registry, results)
        _calls(registry, calls)
        client = TestClient(create_app(settings), base_url="http://127.0.0.1")
        pages = _pages(client)
        timings = {name: _timed(client, url, requests) for name, url in pages.items()}
        startup = _startup(root)
        registry.close()
    slow = sorted(n for n, t in timings.items() if t["p95_ms"] > 1000 * TARGET_P95_S)
    return {"benchmark": "view_pages", "calls": calls, "results": results,
            "requests_per_page": requests, "pages": timings,
            "target_p95_ms": 1000 * TARGET_P95_S, "over_target": slow,
            "startup_s": {"median": statistics.median(startup), "runs": startup},
            "python": sys.version.split()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(run(args.calls, args.results, args.requests), indent=2))


if __name__ == "__main__":
    main()
