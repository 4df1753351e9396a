"""The provider interface every tutor language model implements, its data and its errors.

A provider turns chat messages into text, either at once (`complete`) or piece by piece
(`stream`: `Delta` items, then exactly one final `Completion` with the usage). Providers never
touch the database or the wallet; they raise the three errors below, which the API renders as
503 (unreachable, 5xx, rate-limited after retries), 504 (too slow) and 502 (unreadable answer).
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from studyhall.core.errors import AppError, GatewayTimeout, ServiceUnavailable
from studyhall.knowledge.service import Passage

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation sent to the model."""

    role: Role
    content: str


@dataclass(frozen=True)
class SourcePassage:
    """A retrieved passage as the tutor cites it: `[index]` in the answer text."""

    index: int
    passage: Passage

    @property
    def page_name(self) -> str | None:
        """The page as printed in the book when known, else the physical page number."""
        page, label = self.passage.page, self.passage.page_label
        if label:
            return label
        return str(page) if page is not None else None

    @property
    def page_citation(self) -> str | None:
        """ "p. 7-45 (page 1 of the file)" when the printed label differs, else "p. 15"."""
        page, label = self.passage.page, self.passage.page_label
        if label and page is not None and label != str(page):
            return f"p. {label} (page {page} of the file)"
        name = self.page_name
        return f"p. {name}" if name else None


@dataclass(frozen=True)
class Grounding:
    """What the answer must rest on: the question, the passages and the hint level (1-5).

    Remote models read all of it from the prompt; the offline provider composes its answer from
    these structured fields directly, so both see the same material.
    """

    question: str
    passages: Sequence[SourcePassage] = ()
    hint_level: int = 3
    refuse_answers: bool = False
    # Share of the question's content words a passage must contain to be answered from
    # (`llm.min_coverage`); below it on every passage, the answer says nothing was found.
    min_coverage: float = 0.0


@dataclass(frozen=True)
class Delta:
    """A piece of answer text, in order."""

    text: str


@dataclass(frozen=True)
class Completion:
    """A finished answer and its token usage (from the server, or estimated when it gave none)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"
    provider: str = ""
    model: str = ""
    usage_estimated: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens: what the wallet is charged."""
        return self.prompt_tokens + self.completion_tokens


StreamItem = Delta | Completion


class ProviderUnavailable(ServiceUnavailable):
    """The model service cannot be reached, keeps failing (5xx) or keeps refusing (429)."""

    code = "llm_unavailable"


class ProviderTimeout(GatewayTimeout):
    """The model service did not answer in time."""

    code = "llm_timeout"


class ProviderBadResponse(AppError):
    """The model service answered with something that is not a readable completion."""

    status_code = 502
    code = "llm_bad_response"


ProviderFailure = (ProviderUnavailable, ProviderTimeout, ProviderBadResponse)


@dataclass(frozen=True)
class ChatRequest:
    """One call to a model: the messages, the answer's token budget and what it rests on."""

    messages: Sequence[ChatMessage]
    max_tokens: int
    grounding: Grounding | None = None


class Provider(ABC):
    """A chat model.

    `complete` and `stream` are its callers' interface; each model implements `answer` and
    `answer_stream`, which receive the call as one `ChatRequest`.
    """

    name: str
    model: str

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        grounding: Grounding | None = None,
    ) -> Completion:
        """The whole answer at once."""
        return await self.answer(ChatRequest(messages, max_tokens, grounding))

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        grounding: Grounding | None = None,
    ) -> AsyncGenerator[StreamItem, None]:
        """`Delta` pieces in order, then one `Completion` (closing the iterator stops the call)."""
        return self.answer_stream(ChatRequest(messages, max_tokens, grounding))

    @abstractmethod
    async def answer(self, request: ChatRequest) -> Completion:
        """The whole answer at once."""

    @abstractmethod
    def answer_stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        """`Delta` pieces in order, then one `Completion` (closing the iterator stops the call)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections."""


# Token estimates, used where a server reports no usage and to size reservations before a call.
# A word-piece rule close to BPE tokenizers on English and other Latin-script text: every run of
# letters/digits costs one token per started 5 characters, every other visible character one
# token. Deterministic, so tests and reservations agree with what is charged.
_PIECES = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# Chat formats wrap each message in a few framing tokens, and the reply is primed with 3.
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3


_WORD_RUNS = re.compile(r"\w+")
_SYMBOLS = re.compile(r"[^\w\s]")


def estimate_tokens(text: str) -> int:
    """Deterministic token estimate of a text (see the rule above).

    Runs of word characters and the other visible characters are counted by two scans instead
    of one Python step per piece: ~30% fewer instructions, and it runs on every passage,
    history item and prompt of every answer.
    """
    runs = sum([(len(run) + 4) // 5 for run in _WORD_RUNS.findall(text)])
    return runs + len(_SYMBOLS.findall(text))


def estimate_prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    """Token estimate of a whole prompt, framing included."""
    return REPLY_PRIMING_TOKENS + sum(
        MESSAGE_OVERHEAD_TOKENS + estimate_tokens(m.content) for m in messages
    )


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` (cut between pieces) whose estimate fits in `max_tokens`."""
    if estimate_tokens(text) <= max_tokens:
        return text
    used = 0
    end = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        cost = math.ceil(len(piece) / 5) if piece[0].isalnum() or piece[0] == "_" else 1
        if used + cost > max_tokens:
            break
        used += cost
        end = match.end()
    return text[:end]
