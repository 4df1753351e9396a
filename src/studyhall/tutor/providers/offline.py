"""The built-in offline tutor: no network, no key, no model.

It answers from the retrieved passages only, so it can never invent: an extractive reader
(`tutor/reader.py`) scores every sentence of the passages against the question and picks those
that answer it; the answer quotes them word for word (whitespace collapsed), joined by short
connecting text, each cited as `[n]`, the passage's number in the prompt and in the message's
`sources`. What it does depends on the hint level:

1. guiding questions only: where to look (document, page, section) and what to look for;
2. guiding questions for up to two passages, and which ideas to connect;
3. a short answer: the best answering sentence and the one adding most to it, and a check
   question;
4. a fuller answer: up to three sentences, and a question on what was new;
5. a full explanation: up to five sentences in the material's order, step by step, each cited,
   and the sources.

When no sentence shares enough words with the question it says it found nothing in the course
material instead of guessing. When one of the two best passages is in another language than the
question (search finds those by meaning: an English question about an Arabic page), words cannot
be compared, so that passage's sentences are compared by meaning instead: the multilingual
embedding model that search uses embeds the question and each sentence, and the closest ones are
quoted in their own language and cited, the answer saying that the passage is in that language
and was matched by meaning. Without an embedding model (or when it fails) it names that passage
without citing it and says it cannot tell whether it answers. Token usage is the deterministic
estimate of `base.estimate_tokens`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

import numpy as np
import structlog

from studyhall.knowledge.embeddings import Embedder, EmbeddingError
from studyhall.knowledge.index import language_of
from studyhall.knowledge.language import Language, foreign
from studyhall.tutor.providers.base import (
    ChatRequest,
    Completion,
    Delta,
    Grounding,
    Provider,
    SourcePassage,
    StreamItem,
    estimate_prompt_tokens,
    estimate_tokens,
    truncate_to_tokens,
)
from studyhall.tutor.reader import Pick, body, choose, read
from studyhall.tutor.text import sentences, stem, term_set, words

log = structlog.get_logger(__name__)

NOT_FOUND = (
    "I could not find anything about this in the course material, so I will not guess. "
    "Try asking with the words your course uses, or ask your teacher."
)
NO_MATERIAL = (
    "There is no course material for me to answer from yet, so I will not guess. "
    "Ask your teacher to add the documents for this course."
)
# Said instead of NOT_FOUND when a top passage is in another language than the question (search
# finds such pages by meaning; this tutor can only check words, so it must not claim either way).
NOT_FOUND_OTHER_LANGUAGE = (
    "I could not find this in the course material in the language of your question, so I will "
    "not guess. The closest passage is written in {language}: {where}. I can only compare a "
    "passage's words with yours, so I cannot tell whether it answers you: have a look at it, "
    "or ask your teacher."
)
_LANGUAGE_NAMES = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "pt": "Portuguese",
}
# Only passages this high in the retrieved order are offered: lower ones are weaker matches.
_OTHER_LANGUAGE_RANKS = 2
# Sentences quoted per hint level (levels 1-2 quote none), and how weak a sentence may be next
# to the best one and still be quoted (a full explanation gives more of the context).
QUOTES_PER_LEVEL = {1: 0, 2: 0, 3: 2, 4: 3, 5: 5}
WEAKEST_PER_LEVEL = {3: 0.5, 4: 0.4, 5: 0.3}
POINTERS_PER_LEVEL = {1: 1, 2: 2}


def _where(passage: SourcePassage) -> str:
    where = f"*{passage.passage.document_title}*"
    if passage.page_citation:
        where = f"{passage.page_citation} of {where}"
    if passage.passage.heading:
        where += f" (section “{passage.passage.heading}”)"
    return where


def _question_words_in(question: str, text: str) -> list[str]:
    """The question's own words (surface forms) that the text also contains."""
    present = term_set(text)
    seen: list[str] = []
    for word in words(question):
        if stem(word) in present and word not in seen and len(word) > 2:
            seen.append(word)
    return seen


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def select(grounding: Grounding) -> list[Pick]:
    """Sentences that answer the question, best first (see `tutor/reader.py`).

    Only passages covering at least `min_coverage` of the question's topic words count: a slide
    on Newton's method shares "algorithm" and "find" with a question on the QR algorithm's
    eigenvalues, and citing it would be worse than saying nothing was found.
    """
    return read(grounding.question, grounding.passages, min_coverage=grounding.min_coverage)


def compose(grounding: Grounding, across: Sequence[Pick] = ()) -> tuple[str, bool]:
    """The answer text, and whether it rests on the material (False: nothing relevant found).

    `across`: sentences of a passage in another language, best first by meaning (see
    `across_languages`), answered from when the question's words found nothing.
    """
    if not grounding.passages:
        return NO_MATERIAL, False
    picks = select(grounding)
    level = 1 if grounding.refuse_answers else max(1, min(5, grounding.hint_level))
    if not picks:
        if across:
            return _across_answer(grounding, list(across), level), True
        return _not_found(grounding), False
    if level <= 2:
        return _guiding_questions(grounding, picks, POINTERS_PER_LEVEL[level]), True
    return _quoted_answer(picks, QUOTES_PER_LEVEL[level], level), True


def _foreign_passage(grounding: Grounding) -> tuple[int, SourcePassage, Language] | None:
    """The best-ranked of the top passages written in another language than the question."""
    asked = language_of(grounding.question)
    for rank, passage in enumerate(grounding.passages[:_OTHER_LANGUAGE_RANKS]):
        written = language_of(passage.passage.text)
        if foreign(asked, written):
            return rank, passage, written
    return None


async def across_languages(grounding: Grounding, embedder: Embedder) -> list[Pick]:
    """The sentences of a top passage in another language, closest in meaning first.

    Only when the question's words found nothing to quote (`select` is empty) and one of the two
    best passages is in another language: search ranked it there by meaning, so its sentences
    are compared with the question by meaning too (the multilingual model's cosine), not by
    words they cannot share. Empty when the model fails: the answer then says it cannot tell.
    """
    if not grounding.passages or select(grounding):
        return []
    found = _foreign_passage(grounding)
    if found is None:
        return []
    rank, passage, _written = found
    said = sentences(body(passage))
    if not said:
        return []
    try:
        query = np.asarray(await embedder.embed_query(grounding.question), dtype=np.float32)
        vectors = np.asarray(await embedder.embed_passages([s.text for s in said]), np.float32)
    except EmbeddingError as exc:
        log.warning("offline_tutor_embedding_failed", error=str(exc))
        return []
    query = query.reshape(-1)
    norms = np.linalg.norm(vectors, axis=1) * max(float(np.linalg.norm(query)), 1e-9)
    cosines = (vectors @ query) / np.maximum(norms, 1e-9)
    picks = [
        Pick(passage, sentence, float(cosine), rank, 0)
        for sentence, cosine in zip(said, cosines.tolist(), strict=True)
    ]
    picks.sort(key=lambda p: (-p.score, p.sentence.position))
    return picks


def _across_answer(grounding: Grounding, picks: list[Pick], level: int) -> str:
    """An answer from a passage in another language: its closest sentences, quoted and cited."""
    passage = picks[0].passage
    language = _language_name(language_of(passage.passage.text))
    where = f"{_where(passage)} [{passage.index}]"
    intro = (
        f"The closest passage in the course material is written in {language}: {where}. "
        "I compared its sentences with your question by meaning, not by words"
    )
    if level <= 2:
        return (
            f"{intro}. Let's work it out together instead of me giving you the answer.\n"
            f"- Read that passage: which of its sentences answers your question?\n"
            "- Before you read it: what do you already know about this?\n"
            "Tell me what you find, and I will help you check your reasoning."
        )
    # The closest sentences, in the passage's own order (as many as the level quotes).
    chosen = sorted(picks[: QUOTES_PER_LEVEL[level]], key=lambda p: p.sentence.position)
    quotes = " ".join(f"“{p.sentence.text}” [{passage.index}]" for p in chosen)
    said = "the sentence closest" if len(chosen) == 1 else "the sentences closest"
    return (
        f"{intro}; {said} to it:\n\n{quotes}\n\n"
        "Check it against the passage itself (a translation may help), and ask your teacher if "
        "it does not answer you."
    )


def _language_name(language: Language) -> str:
    if language.code in _LANGUAGE_NAMES:
        return _LANGUAGE_NAMES[language.code]
    return f"another language ({language.script} script)" if language.script else "another language"


def _not_found(grounding: Grounding) -> str:
    """NOT_FOUND, or a pointer (without citing it) to a top passage in another language."""
    found = _foreign_passage(grounding)
    if found is not None:
        _rank, passage, written = found
        return NOT_FOUND_OTHER_LANGUAGE.format(
            language=_language_name(written), where=_where(passage)
        )
    return NOT_FOUND


def _guiding_questions(grounding: Grounding, picks: list[Pick], pointers: int) -> str:
    lines = ["Let's work this out together instead of me giving you the answer."]
    used: list[SourcePassage] = []
    for pick in picks:
        if pick.passage in used:
            continue
        used.append(pick.passage)
        focus = _question_words_in(grounding.question, pick.sentence.text) or ["your question"]
        lines.append(
            f"- Look at {_where(pick.passage)} [{pick.passage.index}]: "
            f"what does it say about {_join(focus)}?"
        )
        if len(used) == pointers:
            break
    if len(used) > 1:
        lines.append("- How do those two passages fit together?")
    else:
        lines.append("- Before you read it: what do you already know about this?")
    lines.append("Tell me what you find, and I will help you check your reasoning.")
    return "\n".join(lines)


def _quoted_answer(picks: list[Pick], quotes: int, level: int) -> str:
    chosen = choose(picks, quotes, weakest=WEAKEST_PER_LEVEL[level])
    if level == 5:
        # A full explanation reads in the material's own order, step by step.
        chosen.sort(key=lambda p: (p.rank, p.sentence.position))
        return _explanation(chosen)
    first, rest = chosen[0], chosen[1:]
    opening = "In short" if level == 3 else "Here is a fuller answer"
    parts = [
        f"{opening}, as {_where(first.passage)} puts it: “{first.sentence.text}” "
        f"[{first.passage.index}]"
    ]
    previous = first
    for pick in rest:
        parts.append(f"{_connector(pick, previous)} “{pick.sentence.text}” [{pick.passage.index}]")
        previous = pick
    closing = (
        "Can you explain that back in your own words?"
        if level == 3
        else "Which of these points was new to you?"
    )
    return " ".join(parts) + "\n\n" + closing


_STEPS = ("First", "Then", "Next", "After that", "Finally")


def _explanation(chosen: list[Pick]) -> str:
    lines = ["Let's go through it step by step, in the order the course material explains it."]
    previous: Pick | None = None
    for number, pick in enumerate(chosen, start=1):
        step = _STEPS[min(number - 1, len(_STEPS) - 2)] if number < len(chosen) else _STEPS[-1]
        if len(chosen) == 1:
            step = "The material says it in one sentence"
        where = (
            "the same passage"
            if previous is not None and pick.passage is previous.passage
            else _where(pick.passage)
        )
        lines.append(f"{number}. {step}, {where}: “{pick.sentence.text}” [{pick.passage.index}]")
        previous = pick
    cited = sorted({p.passage.index for p in chosen})
    lines.append("Sources: " + ", ".join(f"[{i}]" for i in cited) + ".")
    return "\n".join(lines)


def _connector(pick: Pick, previous: Pick) -> str:
    """Short text joining a quote to the one before it: where it comes from, said once."""
    if pick.passage is previous.passage:
        if pick.sentence.position == previous.sentence.position + 1:
            return "It goes on:"
        return "The same passage also says:"
    return f"{_where(pick.passage)} adds:"


class OfflineProvider(Provider):
    """Grounded, cited answers composed from the passages; works with no network and no key."""

    def __init__(
        self,
        *,
        model: str = "studyhall-offline",
        name: str = "offline",
        embedder: Embedder | None = None,
    ) -> None:
        self.name = name
        self.model = model
        # The search's embedding model: reads passages in another language by meaning.
        self.embedder = embedder

    async def aclose(self) -> None:
        """Nothing to release."""

    async def _answer(self, request: ChatRequest) -> Completion:
        grounding = request.grounding
        if grounding is None:
            question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
            grounding = Grounding(question=question)
        across: list[Pick] = []
        if self.embedder is not None:
            across = await across_languages(grounding, self.embedder)
        text, grounded = compose(grounding, across)
        text = truncate_to_tokens(text, request.max_tokens)
        return Completion(
            text=text,
            prompt_tokens=estimate_prompt_tokens(request.messages),
            completion_tokens=estimate_tokens(text),
            finish_reason="stop",
            provider=self.name,
            model=self.model,
            usage_estimated=True,
            extra={"grounded": "true" if grounded else "false"},
        )

    async def answer(self, request: ChatRequest) -> Completion:
        """The whole answer."""
        return await self._answer(request)

    async def answer_stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        """The answer in pieces of a few words, then the completion."""
        completion = await self._answer(request)
        text = completion.text
        start = 0
        while start < len(text):
            # Cut after the 4th following space: pieces the size a model would stream.
            end = start
            for _ in range(4):
                nxt = text.find(" ", end + 1)
                if nxt == -1:
                    end = len(text)
                    break
                end = nxt
            yield Delta(text[start:end])
            start = end
        yield completion
