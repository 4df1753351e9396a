"""An extractive reader: the sentences of retrieved passages that answer a question, best first.

No model: each sentence is scored against the question by
- the question's topic words it contains, each weighted by how rare it is among the candidate
  sentences (a word every sentence shares, such as the subject of the whole document, tells
  which sentence answers less than a word only one of them has);
- the question's word pairs it keeps together ("light energy", "carbon dioxide");
- whether it has the form of an answer to the kind of question asked: a definition for "what is",
  a reason for "why", a means for "how", a number for "how many" or "when".
Choosing several sentences, a sentence that repeats what a chosen one says counts less, and one
that continues a chosen one ("This ...", "It ...") counts more: a fuller answer says more, in
the material's own words.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from studyhall.tutor.providers.base import SourcePassage
from studyhall.tutor.text import Sentence, collapse_spaces, normalize, sentences, term_set, terms

# Words that say what kind of answer is wanted, not what it is about: a passage does not
# support an answer because it also says "find" or "state".
ASKING = term_set(
    "find state states mean means meaning describe define definition give tell show work works "
    "use used happen happens called name example examples main difference"
)

# The question's kind, from its first words, and the form of a sentence that answers it.
_KINDS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (
        re.compile(r"^(?:why\b|what (?:is|are) the (?:reason|cause)|pourquoi|por qu[eé])"),
        re.compile(
            r"\b(?:because|since|due to|so that|therefore|as a result|causes?d?|car|parce|porque)\b"
        ),
    ),
    (
        re.compile(r"^(?:how (?:many|much|long|far|old)|when\b|what year|combien|cu[aá]nt[oa]s?)"),
        re.compile(r"\d"),
    ),
    (
        re.compile(r"^(?:how\b|comment|c[oó]mo)"),
        re.compile(r"\b(?:by|through|using|uses?|steps?|first|then|par|en|mediante|con)\b"),
    ),
    (
        # A definition: a short subject, then the verb that says what it is.
        re.compile(r"^(?:what|which|who|define|qu[e']|qu[ée]|quel|cu[aá]l)"),
        re.compile(
            r"^(?:\S+ ){1,4}(?:is|are|was|were|means?|refers? to|is called|est|sont|es|son)\b"
        ),
    ),
)
# Weights of the parts of a score (the topic words' share is between 0 and 1).
_PAIR_WEIGHT = 0.15
_FORM_WEIGHT = 0.1
_CONTINUES_WEIGHT = 0.1
# A continuation that shares no word with the question is worth this share of the sentence it
# continues.
_CARRIED = 0.6
_REPEATS_WEIGHT = 0.6
# Beyond this length a sentence is likely two run together (PDF text): it answers less crisply.
_LONG_SENTENCE = 300
_LONG_PENALTY = 0.05
# A sentence that shares this share of its words with a chosen one says the same thing again.
_SAME_SAYING = 0.7
_CONTINUATION = re.compile(
    r"^(?:this|these|that|it|they|its|their|such|so|thus|hence|therefore|then|ceci|cela|il|elle|"
    r"ils|elles|esto|esta|este|ello)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Pick:
    """A sentence that answers, with the passage it comes from and its score."""

    passage: SourcePassage
    sentence: Sentence
    score: float
    rank: int  # the passage's place in the retrieved order
    shared: int  # topic words of the question the sentence contains
    # The passage's next sentence when it carries this one's subject on ("They close at
    # night"): it may share no word with the question and still belong to the answer.
    following: Sentence | None = None


def topic_terms(question: str) -> set[str]:
    """The question's content words that say what it is about."""
    return term_set(question) - ASKING


def coverage(question_terms: set[str], text: str) -> float:
    """Share of the question's topic words that a passage contains (1.0 when it has none)."""
    topic = question_terms - ASKING
    if not topic:
        return 1.0
    return len(topic & term_set(text)) / len(topic)


def body(passage: SourcePassage) -> str:
    """The passage's text without its heading's lines.

    A chunk starts with its section's title on a line of its own, and sentence splitting would
    glue it to the first sentence ("1.6 Picard iteration Picard iteration solves ..."): a quote
    that reads like a pasted slide title. The answer names the section anyway.
    """
    if not passage.passage.heading:
        return passage.passage.text
    heading = collapse_spaces(passage.passage.heading).casefold()
    kept = []
    for line in passage.passage.text.split("\n"):
        key = collapse_spaces(line).casefold()
        # A title wrapped over two lines is one heading: each line is a part of it.
        if key and key in heading and not key.endswith((".", "!", "?")):
            continue
        kept.append(line)
    return "\n".join(kept)


def _pairs(sequence: Sequence[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(sequence))


def _answer_form(question: str) -> re.Pattern[str] | None:
    asked = normalize(question)
    for kind, form in _KINDS:
        if kind.search(asked):
            return form
    return None


def read(
    question: str,
    passages: Sequence[SourcePassage],
    *,
    min_coverage: float = 0.0,
    min_shared: int | None = None,
) -> list[Pick]:
    """Sentences that answer the question, best first.

    Only passages covering at least min_coverage of the question's topic words are read, and
    only sentences sharing min_shared of the question's words (by default 1 for a question of
    one or two content words, else 2) count.
    """
    asked = term_set(question)
    topic = topic_terms(question) or asked
    if not topic:
        return []
    need = min_shared if min_shared is not None else (1 if len(asked) <= 2 else 2)
    candidates: list[tuple[int, SourcePassage, Sentence, list[str]]] = []
    following: dict[tuple[int, int], Sentence] = {}
    for rank, passage in enumerate(passages):
        if coverage(topic, passage.passage.text) < min_coverage:
            continue
        said = sentences(body(passage))
        for sentence, after in zip(said, [*said[1:], None], strict=True):
            candidates.append((rank, passage, sentence, terms(sentence.text)))
            carries_on = after is not None and after.position == sentence.position + 1
            if carries_on and after is not None and _CONTINUATION.match(after.text):
                following[rank, sentence.position] = after
    if not candidates:
        return []
    # How rare each topic word is among the candidates: rarer words tell more.
    rarity = {
        term: math.log(1 + len(candidates) / (1 + sum(term in set(t) for *_, t in candidates)))
        for term in topic
    }
    total = sum(rarity.values())
    question_pairs = _pairs(terms(question))
    form = _answer_form(question)
    picks: list[Pick] = []
    for rank, passage, sentence, sentence_terms in candidates:
        if len(asked & set(sentence_terms)) < need:
            continue
        shared = topic & set(sentence_terms)
        score = sum(rarity[term] for term in shared) / total
        score += _PAIR_WEIGHT * len(question_pairs & _pairs(sentence_terms))
        if form is not None and form.search(normalize(sentence.text)):
            score += _FORM_WEIGHT
        if len(sentence.text) > _LONG_SENTENCE:
            score -= _LONG_PENALTY
        picks.append(
            Pick(
                passage,
                sentence,
                score,
                rank,
                len(shared),
                following.get((rank, sentence.position)),
            )
        )
    picks.sort(key=lambda p: (-p.score, p.rank, p.sentence.position))
    return picks


def choose(picks: Sequence[Pick], count: int, *, weakest: float = 0.5) -> list[Pick]:
    """Up to count sentences for an answer: the best, then those adding the most to it.

    A sentence scoring under `weakest` times the best one's score shares a word or two with the
    question but does not answer it: it is left out however many sentences were asked for.
    """
    if not picks:
        return []
    floor = picks[0].score * weakest
    chosen: list[Pick] = []
    left = [pick for pick in picks if pick.score >= floor]
    while left and len(chosen) < count:
        best: tuple[float, Pick] | None = None
        for pick in left:
            value = pick.score - _REPEATS_WEIGHT * max(
                (_alike(pick, other) for other in chosen), default=0.0
            )
            if any(_continues(pick, other) for other in chosen):
                value += _CONTINUES_WEIGHT
            if best is None or value > best[0]:
                best = (value, pick)
        assert best is not None
        pick = best[1]
        left.remove(pick)
        if any(_alike(pick, other) >= _SAME_SAYING for other in chosen):
            continue
        chosen.append(pick)
        if pick.following is not None and pick.score * _CARRIED >= floor:
            # Its continuation competes too, worth a share of it.
            carried = Pick(pick.passage, pick.following, pick.score * _CARRIED, pick.rank, 0)
            if not any(_same(carried, other) for other in [*left, *chosen]):
                left.append(carried)
    return chosen


def _same(one: Pick, other: Pick) -> bool:
    return one.passage is other.passage and one.sentence.position == other.sentence.position


def _alike(one: Pick, other: Pick) -> float:
    mine, theirs = term_set(one.sentence.text), term_set(other.sentence.text)
    if not mine or not theirs:
        return 0.0
    return len(mine & theirs) / min(len(mine), len(theirs))


def _continues(one: Pick, other: Pick) -> bool:
    """one is the sentence right after other in its passage and carries its subject on."""
    return (
        one.passage is other.passage
        and one.sentence.position == other.sentence.position + 1
        and bool(_CONTINUATION.match(one.sentence.text))
    )
