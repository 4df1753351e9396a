"""The built-in offline tutor: no network, no key, no model.

It answers from the retrieved passages only, so it can never invent: it picks the sentences that
share the most content words with the question, quotes them word for word (whitespace collapsed)
and cites them as `[n]`, the passage's number in the prompt and in the message's `sources`.
What it does depends on the hint level:

1. guiding questions only: where to look (document, page, section) and what to look for;
2. guiding questions for up to two passages, and which ideas to connect;
3. a short answer: the two best sentences, quoted and cited, and a check question;
4. a fuller answer: up to three quoted sentences;
5. a full explanation: up to five quoted sentences in order, each cited.

When no sentence shares enough words with the question it says it found nothing in the course
material instead of guessing; when one of the best passages is in another language (search finds
those by meaning), it names that passage without citing it and says it cannot tell whether it
answers. Token usage is the deterministic estimate of `base.estimate_tokens`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from studyhall.knowledge.index import language_of
from studyhall.knowledge.language import Language, foreign
from studyhall.tutor.providers.base import (
    ChatMessage,
    Completion,
    Delta,
    Grounding,
    SourcePassage,
    StreamItem,
    estimate_prompt_tokens,
    estimate_tokens,
    truncate_to_tokens,
)
from studyhall.tutor.text import Sentence, collapse_spaces, sentences, stem, term_set, words

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
# Sentences quoted per hint level (levels 1-2 quote none).
QUOTES_PER_LEVEL = {1: 0, 2: 0, 3: 2, 4: 3, 5: 5}
POINTERS_PER_LEVEL = {1: 1, 2: 2}


@dataclass(frozen=True)
class _Pick:
    passage: SourcePassage
    sentence: Sentence
    score: int
    rank: int


def _needed_overlap(question_terms: set[str]) -> int:
    """Shared content words a sentence needs to count as relevant."""
    return 1 if len(question_terms) <= 2 else 2


def _where(passage: SourcePassage) -> str:
    where = f"*{passage.document_title}*"
    if passage.page_citation:
        where = f"{passage.page_citation} of {where}"
    if passage.heading:
        where += f" (section “{passage.heading}”)"
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


# Words that say what kind of answer is wanted, not what it is about: a passage does not
# support an answer because it also says "find" or "state".
_ASKING = term_set(
    "find state states mean means meaning describe define definition give tell show work works "
    "use used happen happens called name example examples main difference"
)


def coverage(question_terms: set[str], text: str) -> float:
    """Share of the question's topic words that a passage contains (1.0 when it has none)."""
    topic = question_terms - _ASKING
    if not topic:
        return 1.0
    return len(topic & term_set(text)) / len(topic)


def select(grounding: Grounding) -> list[_Pick]:
    """Relevant sentences, best first (most shared words, then passage rank, then position).

    Only passages covering at least `min_coverage` of the question's topic words count: a slide
    on Newton's method shares "algorithm" and "find" with a question on the QR algorithm's
    eigenvalues, and citing it would be worse than saying nothing was found.
    """
    question_terms = term_set(grounding.question)
    if not question_terms:
        return []
    need = _needed_overlap(question_terms)
    picks: list[_Pick] = []
    for rank, passage in enumerate(grounding.passages):
        if coverage(question_terms, passage.text) < grounding.min_coverage:
            continue
        for sentence in sentences(_body(passage)):
            score = len(question_terms & term_set(sentence.text))
            if score >= need:
                picks.append(_Pick(passage, sentence, score, rank))
    picks.sort(key=lambda p: (-p.score, p.rank, p.sentence.position))
    return picks


def _body(passage: SourcePassage) -> str:
    """The passage's text without its heading's lines.

    A chunk starts with its section's title on a line of its own, and sentence splitting would
    glue it to the first sentence ("1.6 Picard iteration Picard iteration solves ..."): a quote
    that reads like a pasted slide title. The answer names the section anyway.
    """
    if not passage.heading:
        return passage.text
    heading = collapse_spaces(passage.heading).casefold()
    kept = []
    for line in passage.text.split("\n"):
        key = collapse_spaces(line).casefold()
        # A title wrapped over two lines is one heading: each line is a part of it.
        if key and key in heading and not key.endswith((".", "!", "?")):
            continue
        kept.append(line)
    return "\n".join(kept)


def compose(grounding: Grounding) -> tuple[str, bool]:
    """The answer text, and whether it rests on the material (False: nothing relevant found)."""
    if not grounding.passages:
        return NO_MATERIAL, False
    picks = select(grounding)
    if not picks:
        return _not_found(grounding), False
    level = 1 if grounding.refuse_answers else max(1, min(5, grounding.hint_level))
    if level <= 2:
        return _guiding_questions(grounding, picks, POINTERS_PER_LEVEL[level]), True
    return _quoted_answer(grounding, picks, QUOTES_PER_LEVEL[level], level), True


def _language_name(language: Language) -> str:
    if language.code in _LANGUAGE_NAMES:
        return _LANGUAGE_NAMES[language.code]
    return f"another language ({language.script} script)" if language.script else "another language"


def _not_found(grounding: Grounding) -> str:
    """NOT_FOUND, or a pointer (without citing it) to a top passage in another language."""
    asked = language_of(grounding.question)
    for passage in grounding.passages[:_OTHER_LANGUAGE_RANKS]:
        written = language_of(passage.text)
        if foreign(asked, written):
            return NOT_FOUND_OTHER_LANGUAGE.format(
                language=_language_name(written), where=_where(passage)
            )
    return NOT_FOUND


def _guiding_questions(grounding: Grounding, picks: list[_Pick], pointers: int) -> str:
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


def _quoted_answer(grounding: Grounding, picks: list[_Pick], quotes: int, level: int) -> str:
    chosen = picks[:quotes]
    if level == 5:
        # A full explanation reads in the material's own order.
        chosen.sort(key=lambda p: (p.rank, p.sentence.position))
    lines = ["Here is what the course material says:"]
    for number, pick in enumerate(chosen, start=1):
        bullet = f"{number}." if level == 5 else "-"
        lines.append(
            f"{bullet} On {_where(pick.passage)}: “{pick.sentence.text}” [{pick.passage.index}]"
        )
    if level == 3:
        lines.append("Can you explain that back in your own words?")
    elif level == 4:
        lines.append("Which of these points was new to you?")
    else:
        cited = sorted({p.passage.index for p in chosen})
        lines.append("Sources: " + ", ".join(f"[{i}]" for i in cited) + ".")
    return "\n".join(lines)


class OfflineProvider:
    """Grounded, cited answers composed from the passages; works with no network and no key."""

    def __init__(self, *, model: str = "studyhall-offline", name: str = "offline") -> None:
        self.name = name
        self.model = model

    async def aclose(self) -> None:
        """Nothing to release."""

    def _answer(
        self, messages: Sequence[ChatMessage], max_tokens: int, grounding: Grounding | None
    ) -> Completion:
        if grounding is None:
            question = next((m.content for m in reversed(messages) if m.role == "user"), "")
            grounding = Grounding(question=question)
        text, grounded = compose(grounding)
        text = truncate_to_tokens(text, max_tokens)
        return Completion(
            text=text,
            prompt_tokens=estimate_prompt_tokens(messages),
            completion_tokens=estimate_tokens(text),
            finish_reason="stop",
            provider=self.name,
            model=self.model,
            usage_estimated=True,
            extra={"grounded": "true" if grounded else "false"},
        )

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        grounding: Grounding | None = None,
    ) -> Completion:
        """The whole answer."""
        return self._answer(messages, max_tokens, grounding)

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        grounding: Grounding | None = None,
    ) -> AsyncGenerator[StreamItem, None]:
        """The answer in pieces of a few words, then the completion."""
        completion = self._answer(messages, max_tokens, grounding)
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
