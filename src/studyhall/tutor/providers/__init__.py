"""Tutor language models behind one interface: OpenAI-compatible endpoints and the offline tutor."""

from studyhall.tutor.providers.base import (
    ChatMessage,
    ChatRequest,
    Completion,
    Delta,
    Grounding,
    Provider,
    ProviderBadResponse,
    ProviderFailure,
    ProviderTimeout,
    ProviderUnavailable,
    SourcePassage,
    StreamItem,
    estimate_prompt_tokens,
    estimate_tokens,
)
from studyhall.tutor.providers.factory import FallbackProvider, build_provider
from studyhall.tutor.providers.offline import OfflineProvider
from studyhall.tutor.providers.openai_compat import OpenAICompatProvider

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "Completion",
    "Delta",
    "FallbackProvider",
    "Grounding",
    "OfflineProvider",
    "OpenAICompatProvider",
    "Provider",
    "ProviderBadResponse",
    "ProviderFailure",
    "ProviderTimeout",
    "ProviderUnavailable",
    "SourcePassage",
    "StreamItem",
    "build_provider",
    "estimate_prompt_tokens",
    "estimate_tokens",
]
