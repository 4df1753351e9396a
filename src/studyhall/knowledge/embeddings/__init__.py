"""Embedding providers behind one interface (see base.Embedder)."""

from studyhall.knowledge.embeddings.base import Embedder, EmbeddingError, Vectors, l2_normalize
from studyhall.knowledge.embeddings.factory import make_embedder

__all__ = ["Embedder", "EmbeddingError", "Vectors", "l2_normalize", "make_embedder"]
