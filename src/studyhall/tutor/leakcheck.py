"""Does a reply give away the answer of a quiz the student has not passed yet?

A key leaks when (1) its question is "in play" — at least half of the question's content words
appear in the student's message or in the reply — and (2) one of its accepted answers appears in
the reply as a whole phrase (case-, accent- and punctuation-insensitive). Citations such as
"[3]" and page numbers are removed first, so "page 4" never reveals the answer "4". True/false
questions leak when the question is in play and the reply says "true" or "false".

The check is deliberately simple and deterministic: it runs on every reply of a guarded student
before anything is sent, and errs towards regenerating an answer rather than revealing one.
"""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from studyhall.tutor.text import term_set

_CITATIONS = re.compile(r"\[\d+\]|\b(?:pages?|p\.|pp\.)\s*\d+(?:\s*[-–]\s*\d+)?", re.IGNORECASE)
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


@dataclass(frozen=True)
class Key:
    """One quiz question's accepted answers."""

    quiz_id: uuid.UUID
    quiz_title: str
    question_id: uuid.UUID
    prompt: str
    kind: str
    answers: Sequence[str]


@dataclass(frozen=True)
class Leak:
    quiz_id: uuid.UUID
    quiz_title: str
    question_id: uuid.UUID


def _phrase_form(text: str) -> str:
    """' word word ' — accents, case and punctuation removed, for whole-phrase matching."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " " + " ".join(_NON_WORD.sub(" ", stripped).split()) + " "


def _in_play(prompt: str, context_terms: set[str]) -> bool:
    prompt_terms = term_set(prompt)
    if not prompt_terms:
        return True
    need = max(1, math.ceil(len(prompt_terms) * 0.5))
    return len(prompt_terms & context_terms) >= need


def find_leaks(reply: str, keys: Sequence[Key], *, question: str) -> list[Leak]:
    """The keys whose answers the reply reveals."""
    if not keys or not reply.strip():
        return []
    cleaned = _CITATIONS.sub(" ", reply)
    reply_phrase = _phrase_form(cleaned)
    context = term_set(question) | term_set(cleaned)
    leaks: list[Leak] = []
    for key in keys:
        if not _in_play(key.prompt, context):
            continue
        if key.kind == "true_false":
            hit = " true " in reply_phrase or " false " in reply_phrase
        else:
            hit = False
            for answer in key.answers:
                phrase = _phrase_form(answer)
                if phrase.strip() and phrase in reply_phrase:
                    hit = True
                    break
        if hit:
            leaks.append(Leak(key.quiz_id, key.quiz_title, key.question_id))
    return leaks


def refusal(leaks: Sequence[Leak]) -> str:
    """The reply sent instead of one that keeps revealing a quiz answer."""
    titles = sorted({leak.quiz_title for leak in leaks})
    named = ", ".join(f"“{t}”" for t in titles) if titles else "your course"
    return (
        f"This looks like a question from the quiz {named}, which you have not passed yet, "
        "so I will not give you its answer. Let's work towards it together instead: which part "
        "of the course material do you think covers it, and what does it say?"
    )
