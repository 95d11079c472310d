"""Git provenance of prompt files (gitpython): who added each version, and what changed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import git

from promptkit.errors import UsageError

__all__ = [
    "Introduction", "added_since", "find_repo", "introductions", "published_commit", "read_at",
]


@dataclass(frozen=True)
class Introduction:
    """The commit that added a file, and how many commits changed it afterwards."""

    commit: str
    author: str
    email: str
    date: str
    summary: str
    later_changes: int


def find_repo(path: Path) -> git.Repo | None:
    """The git repository containing `path`, or None outside one."""
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def _relative(repo: git.Repo, path: Path) -> str:
    return Path(path).resolve().relative_to(Path(repo.working_tree_dir or ".").resolve()).as_posix()


def introductions(repo: git.Repo, path: Path) -> Introduction | None:
    """Who introduced `path`, or None when it is not committed yet."""
    # No --follow: a version copied from an older one would look like a rename of it.
    fmt = "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s"
    try:
        rows = repo.git.log(fmt, "--", _relative(repo, path)).splitlines()
    except git.GitCommandError:
        return None
    if not rows:
        return None
    commit, author, email, date, summary = rows[-1].split("\x1f", 4)
    return Introduction(commit, author, email, date, summary, later_changes=len(rows) - 1)


def read_at(repo: git.Repo, ref: str, path: Path) -> str | None:
    """The text of `path` at `ref`, or None when it did not exist there."""
    try:
        blob = _commit(repo, ref).tree / _relative(repo, path)
    except KeyError:
        return None
    return bytes(blob.data_stream.read()).decode("utf-8")


def added_since(repo: git.Repo, ref: str, folder: Path) -> list[Path]:
    """Files under `folder` that did not exist at `ref` (new versions, for example)."""
    _commit(repo, ref)
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and read_at(repo, ref, p) is None]


def _commit(repo: git.Repo, ref: str) -> git.Commit:
    try:
        return repo.commit(ref)
    except (git.BadName, ValueError) as exc:
        raise UsageError(f"git does not know the revision {ref!r}") from exc


def published_commit(repo: git.Repo | None, path: Path | None, source: str
                     ) -> Introduction | None:
    """The commit that introduced a file, when HEAD holds exactly `source` (None: no repo,
    uncommitted, or edited since: no commit holds this content)."""
    if repo is None or path is None:
        return None
    try:
        if read_at(repo, "HEAD", path) != source:
            return None
    except (UsageError, git.GitError, ValueError):  # e.g. an empty repository has no HEAD
        return None
    return introductions(repo, path)
