"""Peak memory of a 2,000-call eval run (1,000 cases × 2 versions) through promptkit's eval
runner (`promptkit.evals.runner`, no pytest), beside the same 2,000 requests through a bare
`openai.AsyncOpenAI` loop; each in a fresh process, its peak RSS measured from outside.

    python benchmarks/memory.py [--cases 1000]

The peak is the child's `ru_maxrss` read by a small launcher (`_peak.py`) that forked it,
never `getrusage(RUSAGE_SELF)` inside the child: on Linux that starts from the peak of the
process that forked it, and reported this driver's 149 MB for both runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Only the standard library at the top: a child process measures its own imports.


def _child(kind: str, base_url: str, cases: int) -> None:
    if kind == "promptkit":
        from throughput import _promptkit

        asyncio.run(_promptkit(base_url, cases, 16))
    else:  # only the SDK is imported: the requests were rendered by the parent
        asyncio.run(_bare(base_url, json.loads(Path(sys.argv[5]).read_text()), 16))


async def _bare(base_url: str, requests: list[Any], concurrency: int) -> None:
    import openai

    sdk = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
    gate = asyncio.Semaphore(concurrency)

    async def one(messages: Any) -> None:
        async with gate:
            response = await sdk.chat.completions.create(
                model="bench-model", messages=messages, response_format={"type": "json_object"})
            json.loads(response.choices[0].message.content or "")

    await asyncio.gather(*(one(m) for m in requests))
    await sdk.close()


def _peak(kind: str, base_url: str, cases: int) -> float:
    from _common import items
    from _peak import measure

    requests = [i.prompt.render(i.case.variables) for i in items(cases)] if kind == "bare" else []
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(requests, handle)
        handle.flush()
        done = measure([sys.executable, __file__, "--child", kind, base_url, str(cases),
                        handle.name], cwd=str(HERE))
    return float(done["peak_mb"])


def run(cases: int = 1000) -> dict[str, Any]:
    # Imported here: the children must not load promptkit before they are measured.
    from _common import reply, server_process

    with server_process(reply(0.0)) as base_url:
        ours = _peak("promptkit", base_url, cases)
        bare = _peak("bare", base_url, cases)
    return {"path": "eval runner (promptkit.evals.runner, no pytest) vs bare openai loop",
            "measured": "peak RSS of each child, from outside (wait4 in _peak.py)",
            "calls": cases * 2, "promptkit_peak_mb": ours, "bare_sdk_peak_mb": bare,
            "ratio": round(ours / bare, 2)}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--cases", type=int, default=1000)
        print(json.dumps(run(parser.parse_args().cases), indent=2))
