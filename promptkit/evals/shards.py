"""One eval run split over several CI jobs or hosts: shard K of N takes the cases whose
(suite, case id) hash falls to it, every version of a case on the same shard (so a gate's
pairs stay whole), and stores its results tagged with the shard and a group shared by the
shards of one run; a gate merges a group's shards as if one run had stored them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from promptkit.errors import UsageError

__all__ = ["GROUP_VARIABLES", "Shard", "default_group", "parse_shard"]

GROUP_VARIABLES = ("PROMPTKIT_SHARD_GROUP", "GITHUB_RUN_ID", "CI_PIPELINE_ID",
                   "BUILDKITE_BUILD_ID", "CIRCLE_WORKFLOW_ID")
"""Where the shards of one CI run find the name they share, first found wins (GitHub's
run id is joined by its attempt, so a re-run is a group of its own)."""


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, suite: str, case_id: str) -> bool:
        """Whether this shard runs the case (all its versions, all its repeats)."""
        digest = hashlib.blake2b(f"{suite}\0{case_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index - 1


def parse_shard(text: str) -> Shard:
    """`K/N` (1 <= K <= N), or a UsageError saying so."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise UsageError(f"--prompt-shard {text!r}: expected K/N with 1 <= K <= N, like 2/4")
    return Shard(int(index), int(count))


def default_group(environ: Mapping[str, str] | None = None,
                  commit: str | None = None) -> str | None:
    """The name the shards of one run share: the first of GROUP_VARIABLES set, else the git
    commit (shards of the same commit evaluate the same content)."""
    env = os.environ if environ is None else environ
    for name in GROUP_VARIABLES:
        if env.get(name):
            attempt = env.get("GITHUB_RUN_ATTEMPT") if name == "GITHUB_RUN_ID" else None
            return f"{env[name]}.{attempt}" if attempt else env[name]
    return commit
