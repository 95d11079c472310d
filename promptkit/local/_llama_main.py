"""The server process: `llama_cpp.server`, with every request's prompt evaluated afresh.

llama-cpp-python keeps the KV cache of the previous request and re-evaluates only what
follows the longest shared prefix. The logits of that path differ slightly from a fresh
evaluation, enough to change temperature-0 answers: observed with SmolLM2-135M, the same
request answered two different sentences depending on whether it had just been asked.
Resetting before each generation makes every answer a function of its request alone, so
recordings do not depend on the order (or concurrency) of the requests that made them.
The cost is re-reading the prompt each time (a few hundred tokens: well under a second).

Run as `python -m promptkit.local._llama_main ARGS`, with the arguments of
`python -m llama_cpp.server`.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from typing import Any


def fresh(generate: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap `Llama.generate` so that it never reuses the previous request's KV cache."""

    def generate_afresh(self: Any, tokens: Any, *args: Any, **kwargs: Any) -> Any:
        self.reset()  # n_tokens = 0: no prefix match; eval() then clears the whole KV cache
        return generate(self, tokens, *args, **kwargs)

    generate_afresh.__wrapped__ = generate  # type: ignore[attr-defined]
    return generate_afresh


def main() -> None:
    import llama_cpp

    llama_cpp.Llama.generate = fresh(llama_cpp.Llama.generate)  # type: ignore[method-assign]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
