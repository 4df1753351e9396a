"""The embedder interface: every provider returns float32, L2-normalised row vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Embedder", "EmbeddingError", "Vectors", "l2_normalize"]

Vectors = npt.NDArray[np.float32]


class EmbeddingError(Exception):
    """The embedding provider failed or answered something unusable."""


@runtime_checkable
class Embedder(Protocol):
    """Turns passages and queries into vectors comparable by dot product (cosine)."""

    @property
    def name(self) -> str:
        """Stable identifier stored with every vector ("provider:model"); a change means re-index."""
        ...

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        ...

    async def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """Embed documents' chunks: shape (len(texts), dimension)."""
        ...

    async def embed_query(self, text: str) -> Vectors:
        """Embed a search query: shape (dimension,)."""
        ...


def l2_normalize(vectors: npt.ArrayLike) -> Vectors:
    """Return float32 rows scaled to unit length (zero rows stay zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    result: Vectors = np.ascontiguousarray(array / norms, dtype=np.float32)
    return result
