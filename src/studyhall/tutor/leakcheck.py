"""Does a reply give away the answer of a quiz the student has not passed yet?

A key leaks when (1) its question is "in play" — at least half of the question's content words
appear in the student's message or in the reply — and (2) one of its accepted answers appears in
the reply as a whole phrase (case-, accent- and punctuation-insensitive). Citations such as
"[3]" and page numbers are removed first, so "page 4" never reveals the answer "4". True/false
questions leak when the question is in play and the reply says "true" or "false".

Matching is on a normal form (issue 11, finding 6): compatibility characters folded (the "ﬁ"
ligature is "fi"), an answer spelled out letter by letter with separators (`A-u-S-E-C-R-E-T`,
`g l u c o s e`) joined back into a word, and an answer whose ligatures a PDF extraction lost
(`xed-point` for "fixed-point") matched too. A choice question also leaks through the position
or letter of its right option ("the second option", "option B", "answer (b)").

The check is deliberately simple and deterministic and errs towards withholding rather than
revealing an answer. It is ONE guard: `guard_for` builds a student's `Guard` (the keys of the
course's quizzes they have not passed), and every path that shows course text to a student asks
it — course search results, tutor answers and their sources, and the tests inside the chat
(a generated practice test never draws on a passage, nor shows a question, that gives a key
away). Teachers, admins and chats outside a course get the open guard, which withholds nothing.
"""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import service as assessments
from studyhall.identity.models import Role, User
from studyhall.tutor.text import term_set

# Letter pairs a PDF's ligature glyphs stand for; extraction sometimes drops the glyph.
_LIGATURES = ("ffi", "ffl", "ff", "fi", "fl", "ft", "st")
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
_SINGLE_RUN = re.compile(r"(?:(?<= )\w ){3,}")
WITHHELD_EXCERPT = "(excerpt withheld: it gives away the answer to a quiz you have not passed yet)"
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
    # 0-based positions of the right options of a choice question.
    positions: Sequence[int] = ()


@dataclass(frozen=True)
class Leak:
    quiz_id: uuid.UUID
    quiz_title: str
    question_id: uuid.UUID


def _phrase_form(text: str) -> str:
    """' word word ' — ligatures folded, accents, case, punctuation and separators removed, and
    runs of three or more single characters (a word spelled out) joined into one word."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    spaced = " " + " ".join(_NON_WORD.sub(" ", stripped.replace("_", " ")).split()) + " "
    return _SINGLE_RUN.sub(lambda m: m.group(0).replace(" ", "") + " ", spaced)


def _answer_forms(answer: str) -> set[str]:
    """The answer's phrase form, and the forms a lost ligature glyph would leave of it."""
    forms = {_phrase_form(answer)}
    folded = unicodedata.normalize("NFKC", answer).casefold()
    for pair in _LIGATURES:
        if pair in folded:
            lost = _phrase_form(folded.replace(pair, ""))
            if len(lost.strip()) >= 4:
                forms.add(lost)
    return {form for form in forms if form.strip()}


def _position_phrases(position: int) -> list[str]:
    """How a reply names an option by its place or letter ("second option", "option b")."""
    phrases: list[str] = []
    if position < len(_ORDINALS):
        ordinal = _ORDINALS[position]
        phrases += [f" {ordinal} {noun} " for noun in ("option", "choice", "answer", "one")]
    letter, number = "abcdefgh"[position] if position < 8 else "", str(position + 1)
    for mark in (letter, number):
        if mark:
            phrases += [f" {noun} {mark} " for noun in ("option", "choice", "answer", "answer is")]
            phrases += [f" {mark} is correct ", f" {mark} is right ", f" pick {mark} "]
    return phrases


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
            hit = any(
                form in reply_phrase for answer in key.answers for form in _answer_forms(answer)
            ) or any(
                phrase in reply_phrase
                for position in key.positions
                for phrase in _position_phrases(position)
            )
        if hit:
            leaks.append(Leak(key.quiz_id, key.quiz_title, key.question_id))
    return leaks


def reveals(text: str, keys: Sequence[Key], *, question: str) -> bool:
    """Whether a text shown to a guarded student gives away one of the keys' answers."""
    return bool(find_leaks(text, keys, question=question))


def keys_from(answer_keys: Sequence[Any]) -> list[Key]:
    """Keys from assessments' AnswerKey rows (the one guard's input, wherever text is shown)."""
    return [
        Key(
            k.quiz_id,
            k.quiz_title,
            k.question_id,
            k.prompt,
            str(k.kind),
            k.answers,
            tuple(getattr(k, "positions", ())),
        )
        for k in answer_keys
    ]


def refusal(leaks: Sequence[Leak]) -> str:
    """The reply sent instead of one that keeps revealing a quiz answer."""
    titles = sorted({leak.quiz_title for leak in leaks})
    named = ", ".join(f"“{t}”" for t in titles) if titles else "your course"
    return (
        f"This looks like a question from the quiz {named}, which you have not passed yet, "
        "so I will not give you its answer. Let's work towards it together instead: which part "
        "of the course material do you think covers it, and what does it say?"
    )


@dataclass(frozen=True)
class Guard:
    """What of a course's text a reader may be shown: built once per request by `guard_for`."""

    keys: tuple[Key, ...] = ()

    @property
    def active(self) -> bool:
        """Whether anything can be withheld (a student with quizzes not yet passed)."""
        return bool(self.keys)

    def leaks(self, text: str, *, question: str) -> list[Leak]:
        """The keys the text gives away, `question` being what the reader asked for."""
        return find_leaks(text, self.keys, question=question)

    def reveals(self, text: str, *, question: str) -> bool:
        """Whether the text gives a key away."""
        return bool(self.keys) and reveals(text, self.keys, question=question)

    def shown(self, text: str, *, question: str) -> str:
        """The text, or the withheld notice in its place."""
        return WITHHELD_EXCERPT if self.reveals(text, question=question) else text


OPEN = Guard()


async def guard_for(session: AsyncSession, *, user: User, course_id: uuid.UUID | None) -> Guard:
    """The guard of a reader in a course: a student's unpassed quizzes; nobody else's."""
    if course_id is None or user.role != Role.student:
        return OPEN
    found = await assessments.answer_keys_for_student(
        session, course_id=course_id, student_id=user.id
    )
    return Guard(tuple(keys_from(found)))
