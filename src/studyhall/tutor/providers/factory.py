"""Build the configured provider (with its fallback) from settings."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import structlog

from studyhall.config import LLMSettings
from studyhall.knowledge.embeddings import Embedder
from studyhall.tutor.providers.base import (
    ChatRequest,
    Completion,
    Delta,
    Provider,
    ProviderFailure,
    StreamItem,
)
from studyhall.tutor.providers.offline import OfflineProvider
from studyhall.tutor.providers.openai_compat import OpenAICompatProvider

log = structlog.get_logger(__name__)


class FallbackProvider(Provider):
    """The primary provider; when it fails (503/504/502) before any text, the fallback answers.

    A stream that already sent text cannot be spliced with another model's answer, so a failure
    after the first delta is raised as is.
    """

    def __init__(self, primary: Provider, fallback: Provider) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self.model = primary.model

    async def aclose(self) -> None:
        """Close both."""
        await self.primary.aclose()
        await self.fallback.aclose()

    async def answer(self, request: ChatRequest) -> Completion:
        """Primary first, fallback on failure."""
        try:
            return await self.primary.answer(request)
        except ProviderFailure as exc:
            log.warning("llm_fallback", primary=self.primary.name, error=exc.code)
            return await self.fallback.answer(request)

    async def answer_stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        """Primary's stream; the fallback's when the primary fails before its first delta."""
        sent = False
        primary = self.primary.answer_stream(request)
        try:
            async for item in primary:
                if isinstance(item, Delta):
                    sent = True
                yield item
            return
        except ProviderFailure as exc:
            if sent:
                raise
            log.warning("llm_fallback", primary=self.primary.name, error=exc.code)
        finally:
            await primary.aclose()
        fallback = self.fallback.answer_stream(request)
        try:
            async for item in fallback:
                yield item
        finally:
            await fallback.aclose()


def _single(
    llm: LLMSettings,
    kind: str,
    *,
    base_url: str | None,
    model: str | None,
    api_key: str | None,
    name: str,
    embedder: Embedder | None = None,
) -> Provider:
    """One model of kind `kind` at its endpoint; the call limits (`timeout_s`, `max_retries`)
    are the settings' own, the same for the primary and the fallback."""
    if kind == "offline":
        return OfflineProvider(model=model or "studyhall-offline", name=name, embedder=embedder)
    return OpenAICompatProvider(
        base_url=base_url,
        model=model or "gpt-4o-mini",
        api_key=api_key,
        timeout_s=llm.timeout_s,
        max_retries=llm.max_retries,
        name=name,
    )


def build_provider(llm: LLMSettings, *, embedder: Embedder | None = None) -> Provider:
    """The provider the settings choose, wrapped with its fallback when one is configured.

    `embedder` (search's model) lets the offline provider read passages in another language.
    """
    primary = _single(
        llm,
        llm.provider,
        base_url=llm.base_url,
        model=llm.model,
        api_key=llm.api_key,
        name=llm.provider,
        embedder=embedder,
    )
    if llm.fallback_provider is None:
        return primary
    fallback = _single(
        llm,
        llm.fallback_provider,
        base_url=llm.fallback_base_url or llm.base_url,
        model=llm.fallback_model,
        api_key=llm.fallback_api_key,
        name=f"{llm.fallback_provider}-fallback",
        embedder=embedder,
    )
    return FallbackProvider(primary, fallback)


def provider_for(app: Any) -> Provider:
    """The app's provider, built once from its settings (it holds the HTTP connection pool)."""
    provider: Provider | None = getattr(app.state, "tutor_provider", None)
    if provider is None:
        # Imported here: retrieval pulls the whole knowledge package in, which the tutor's
        # provider module need not load before an app asks for its provider.
        from studyhall.knowledge.retrieval import embedder_for

        settings = app.state.settings
        provider = build_provider(settings.llm, embedder=embedder_for(settings.embeddings))
        app.state.tutor_provider = provider
    return provider


async def aclose_provider(app: Any) -> None:
    """Close the app's provider, if one was built (call at shutdown)."""
    provider: Provider | None = getattr(app.state, "tutor_provider", None)
    if provider is not None:
        app.state.tutor_provider = None
        await provider.aclose()
