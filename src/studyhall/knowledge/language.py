"""Which language a chunk or a query is written in, told cheaply from its script and stopwords.

Retrieval needs this for one decision only: whether BM25 can reach a chunk at all. An English
question shares no words with an Arabic page (or, apart from names, a French one), so for such
pairs the multilingual vectors are the only evidence and must not be drowned by English pages
that merely share a word (see `index.search_many`). A wrong guess costs little: an unknown
language (formulas, code, a two-word query) is never called foreign.

Scripts other than Latin tell the language group by themselves; Latin text is told apart by its
most frequent function words (en, fr, es, de, pt, it), each word counted in proportion to how many
of these languages share it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["STOPWORDS_BY_LANGUAGE", "Language", "detect", "foreign"]

# Accent-free (the form `index.tokenize` folds words into), lowercase, one list per language.
STOPWORDS_BY_LANGUAGE: dict[str, frozenset[str]] = {
    code: frozenset(text.split())
    for code, text in {
        "en": """a an and are as at be been but by can could did do does for from had has have he
            her his how i if in into is it its me my no not of on or our she so than that the
            their them then there these they this those to was we were what when where which who
            whom why will with would you your""",
        "fr": """au aux avec ce ces dans de des du elle en est et il ils je la le les leur lui
            mais me meme ne nous on ou par pas pour qu que qui sa se ses son sont sur ta te toi
            ton tu un une vos votre vous""",
        "es": """al como con de del el ella ellos en es esta este fue ha hay la las lo los mas mi no
            nos o para pero por que se si sin sobre su sus tambien un una uno unos y ya""",
        "de": """auf aus bei das dem den der des die ein eine einem einen einer es fur im ist mit
            nicht noch oder sich sie sind und von war wie zu zum zur""",
        "pt": """ao aos as com da das de do dos e em na nas no nos o os ou pela pelo por se sua
            seu um uma""",
        "it": """ai alla che chi con dei della delle di gli il nel nella non per piu sono tra
            una uno""",
        "ar": "في من على الى عن ان او ما لا هذا هذه ذلك التي الذي هو هي كان مع بين كل قد ثم",
    }.items()
}
_SHARED_BY: dict[str, int] = {}
for _words in STOPWORDS_BY_LANGUAGE.values():
    for _word in _words:
        _SHARED_BY[_word] = _SHARED_BY.get(_word, 0) + 1

# Letters by script: a text's script is the one most of its letters belong to.
_SCRIPTS = (
    ("arabic", re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")),
    ("hebrew", re.compile(r"[\u0590-\u05ff]")),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("greek", re.compile(r"[\u0370-\u03ff]")),
    ("cjk", re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")),
    ("devanagari", re.compile(r"[\u0900-\u097f]")),
    ("latin", re.compile(r"[a-zA-Z\u00c0-\u024f]")),
)
# Below this many letters a text (a formula, a page number) has no language worth telling.
_MIN_LETTERS = 3


@dataclass(frozen=True, slots=True)
class Language:
    """A text's script and, when its words tell, its language (ISO 639-1)."""

    script: str | None
    code: str | None

    @property
    def label(self) -> str | None:
        """The most precise name known: the language, else the script."""
        return self.code or self.script


UNKNOWN = Language(None, None)


def _script(text: str) -> str | None:
    best, best_count = None, 0
    for name, pattern in _SCRIPTS:
        count = len(pattern.findall(text))
        if count > best_count:
            best, best_count = name, count
    return best if best_count >= _MIN_LETTERS else None


def detect(text: str, words: Sequence[str]) -> Language:
    """The language of a text, given its words casefolded and accent-free (as the index folds).

    A Latin-script text is credited to the language whose distinct function words it uses most
    (a word several languages share counts for each in part, one-letter words not at all); a tie
    or no function word leaves the language unknown, and a single word only decides a text of at
    most eight words (a query).
    """
    script = _script(text)
    if script == "arabic":
        return Language(script, "ar")
    if script != "latin":
        return Language(script, None)
    votes: dict[str, float] = {}
    # Distinct words vote: an identifier repeated in code ("si_code, si_pid") is one vote.
    for word in set(words):
        shared = _SHARED_BY.get(word)
        # One-letter words ("a", "y", "e") are as often variables in a formula as words.
        if not shared or len(word) < 2:
            continue
        for code, stopwords in STOPWORDS_BY_LANGUAGE.items():
            if word in stopwords:
                votes[code] = votes.get(code, 0.0) + 1.0 / shared
    if not votes:
        return Language(script, None)
    ranked = sorted(votes.values(), reverse=True)
    best = max(votes, key=lambda code: votes[code])
    enough = 1.0 if len(words) <= 8 else 2.0
    if ranked[0] < enough or (len(ranked) > 1 and ranked[1] >= ranked[0]):
        return Language(script, None)
    return Language(script, best)


def foreign(query: Language, chunk: Language) -> bool:
    """Whether BM25 cannot be expected to match the query's words in the chunk.

    True when both scripts are known and differ, or both languages are known and differ; never
    when either side is unknown (then BM25 may well match, and the usual fusion applies).
    """
    if query.script is None or chunk.script is None:
        return False
    if query.script != chunk.script:
        return True
    return query.code is not None and chunk.code is not None and query.code != chunk.code
