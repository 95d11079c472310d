"""Published versions: store a prompt once (immutable, idempotent), read it back verified."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from promptkit.db.engine import write_transaction
from promptkit.errors import (
    ImmutableVersionError,
    IntegrityError,
    NotPublishedError,
    PromptError,
)
from promptkit.registry.records import GitInfo, PublishedVersion, PublishOutcome
from promptkit.registry.schema import prompts, versions
from promptkit.templates.parse import parse_prompt
from promptkit.templates.prompt import Prompt
from promptkit.templates.versions import sort_versions

__all__ = ["load_verified", "publish", "read_names", "read_version", "read_versions"]

_RACE_ATTEMPTS = 3


def publish(engine: Engine, prompt: Prompt, *, actor: str, provenance: GitInfo) -> PublishOutcome:
    """Store `prompt` unless stored already. Raises ImmutableVersionError when the stored
    content of that version differs."""
    for _ in range(_RACE_ATTEMPTS):
        with engine.connect() as conn:
            stored = _stored_hash(conn, prompt.name, prompt.version)
        if stored is not None:
            return _compare(prompt, stored)
        try:
            with write_transaction(engine) as conn:
                _insert(conn, prompt, actor, provenance)
            return PublishOutcome(prompt.name, prompt.version, "published", prompt.content_hash)
        except exc.IntegrityError:
            continue  # another process published this name or version first: look again
    raise ImmutableVersionError(f"{prompt.ref}: could not publish after {_RACE_ATTEMPTS} races")


def _compare(prompt: Prompt, stored: str) -> PublishOutcome:
    if stored == prompt.content_hash:
        return PublishOutcome(prompt.name, prompt.version, "present", stored)
    raise ImmutableVersionError(
        f"{prompt.ref} is published with different content (stored {stored}, file "
        f"{prompt.content_hash}): released versions are immutable, publish a new version"
    )


def _stored_hash(conn: Connection, name: str, version: str) -> str | None:
    query = sa.select(versions.c.content_hash).where(
        versions.c.name == name, versions.c.version == version
    )
    return conn.execute(query).scalar_one_or_none()


def _insert(conn: Connection, prompt: Prompt, actor: str, provenance: GitInfo) -> None:
    now = datetime.now(UTC)
    known = conn.execute(sa.select(prompts.c.name).where(prompts.c.name == prompt.name)).first()
    if known is None:
        conn.execute(prompts.insert().values(name=prompt.name, created_at=now, created_by=actor))
    conn.execute(versions.insert().values(
        name=prompt.name, version=prompt.version, content_hash=prompt.content_hash,
        source=prompt.source, meta=prompt.meta.model_dump(mode="json", by_alias=True),
        git_commit=provenance.commit, git_author=provenance.author,
        published_at=now, published_by=actor,
    ))


def read_version(conn: Connection, name: str, version: str) -> PublishedVersion:
    row = conn.execute(
        sa.select(versions).where(versions.c.name == name, versions.c.version == version)
    ).first()
    if row is None:
        known = _known_versions(conn, name)
        if not known:
            raise NotPublishedError(f"nothing is published under the name {name!r}; run "
                                    f"`promptkit publish {name}`")
        raise NotPublishedError(
            f"{name}@{version} is not published (published: {', '.join(known)}); "
            f"run `promptkit publish {name}`"
        )
    return _record(row._mapping)


def read_names(conn: Connection) -> list[str]:
    return list(conn.scalars(sa.select(prompts.c.name).order_by(prompts.c.name)))


def read_versions(conn: Connection, name: str) -> list[PublishedVersion]:
    """Every published version of `name`, oldest version first (semantic order)."""
    rows = conn.execute(sa.select(versions).where(versions.c.name == name)).all()
    found = {r.version: _record(r._mapping) for r in rows}
    return [found[v] for v in sort_versions(found)]


def _known_versions(conn: Connection, name: str) -> list[str]:
    rows = conn.execute(sa.select(versions.c.version).where(versions.c.name == name))
    return sort_versions(r.version for r in rows)


def _record(row: Any) -> PublishedVersion:
    return PublishedVersion(
        name=row["name"], version=row["version"], content_hash=row["content_hash"],
        source=row["source"], meta=row["meta"], git_commit=row["git_commit"],
        git_author=row["git_author"], published_at=row["published_at"],
        published_by=row["published_by"],
    )


def load_verified(name: str, version: str, source: str, content_hash: str) -> Prompt:
    """Parse published content and check it against the hash it was published under."""
    try:
        prompt = parse_prompt(source, name=name, version=version)
    except PromptError as error:
        raise IntegrityError(
            f"{name}@{version}: published content no longer parses: {error}"
        ) from error
    if prompt.content_hash != content_hash:
        raise IntegrityError(
            f"{name}@{version}: content hashes to {prompt.content_hash}, "
            f"but was published as {content_hash}"
        )
    return prompt
