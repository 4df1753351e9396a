"""Put back "fi", "ff", "fl", "ffi", "ffl" that a PDF's text layer lost, using a word list.

Ligature glyphs without a usable Unicode mapping come out of the text layer as control
characters (TeX's OT1 and T1 encodings: those are mapped back by position in `normalize`), as a
replacement character that cleaning turns into a space ("di erent", "a nite set"), or as
nothing at all ("xed-point", "dierent"). pdfium, which extracts our PDFs, does not expose glyph
names, so the last two forms are repaired with a dictionary: the word frequencies that ship
inside the `pyspellchecker` wheel (MIT; en, fr, es, de, pt, it and more, no download), plus the
document's own vocabulary (a word spelt whole anywhere in the document is a word).

It is careful on purpose, because most documents have nothing to repair:
- it runs only when the document shows the damage several times over (fragments that are not
  words but become common words with a ligature put back: "erent" in "di erent", "xed");
- a fragment that is itself a word changes only when the ligature word is far more frequent
  ("nite" -> "finite" yes, "at" -> "flat" no), and two words are joined only when the joined
  word is more frequent than the rarer of the two ("o ce" -> "office", "be it" stays).
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

__all__ = ["repair_lost_ligatures", "word_frequencies"]

LIGATURES = ("fi", "ff", "fl", "ffi", "ffl")
# The dictionaries used, by the stopwords that recognise a document's language.
_LANGUAGE_MARKERS = {
    "en": "the and of to is in that for with are this as be by",
    "fr": "le la les des et est une du dans pour que qui sur pas",
    "es": "el la los las de que y en es una por con para del",
    "de": "der die das und ist nicht mit den ein eine zu von",
    "pt": "o os as de que e em um uma para com do da não",
    "it": "il la le di che e è un una per con del della non",
}
# Damage needed before anything is changed: repairs that need no judgement ("di erent").
_MIN_EVIDENCE = 3
# A fragment that is a word itself becomes the ligature word only when that is this much more
# frequent ("nite" 255 vs "finite" 1213 in the English list; "at" vs "flat" never).
_KNOWN_FRAGMENT_RATIO = 3.0
# Frequency a repaired word needs in the list (the lists' long tail is noise).
_MIN_FREQUENCY = 20
# Whole words only: "bu2" or "uNx" in code and formulas are not words with a lost glyph.
_WORD = re.compile(r"(?<![\w])[^\W\d_]+(?![\w])")
# Only a repair into a common word counts as evidence of damage ("di erent" -> "different" does,
# "autos" -> "flautos" does not).
_EVIDENCE_FREQUENCY = 500
_SHORT_FRAGMENT_FREQUENCY = 100_000
# Repairs without judgement needed per word spelt whole with a ligature: a clean document has
# hundreds of those and a few names or typos that happen to look repairable.
_EVIDENCE_SHARE = 0.1


@lru_cache(maxsize=8)
def word_frequencies(language: str) -> dict[str, int]:
    """The word -> frequency list shipped in pyspellchecker for a language ({} if absent)."""
    try:
        resource = resources.files("spellchecker") / "resources" / f"{language}.json.gz"
        data: dict[str, int] = json.loads(gzip.decompress(resource.read_bytes()))
    except (ModuleNotFoundError, FileNotFoundError, OSError, ValueError):
        return {}
    return data


def _language(words: Sequence[str]) -> str:
    counts = Counter(words)
    scores = {
        lang: sum(counts[w] for w in markers.split()) for lang, markers in _LANGUAGE_MARKERS.items()
    }
    return max(scores, key=lambda lang: scores[lang])


class _Repairer:
    def __init__(self, frequencies: dict[str, int], own: Counter[str]) -> None:
        self.frequencies = frequencies
        self.own = own
        self.evidence = 0

    def freq(self, word: str) -> int:
        word = word.lower()
        # A word the document spells whole elsewhere counts as a common word.
        return max(self.frequencies.get(word, 0), 1000 * self.own.get(word, 0))

    def fill(self, fragment: str) -> str | None:
        """The most frequent word that fragment becomes with one ligature put back, if any.

        A fragment that is a word itself changes only when the result is far more frequent
        ("nite" -> "finite", "dene" -> "define"; "at" never becomes "flat"); a capitalised one
        (a name, a sentence start) only when the result is a common word ("Dierential").
        """
        lower = fragment.lower()
        own = self.freq(lower)
        if not fragment[1:].islower():  # "uNx", "McCall": code and names
            return None
        capitalised = fragment[0].isupper()
        best: tuple[int, str] | None = None
        for at in range(len(lower) + 1):
            for ligature in LIGATURES:
                candidate = lower[:at] + ligature + lower[at:]
                score = self.freq(candidate)
                if score >= _MIN_FREQUENCY and (best is None or score > best[0]):
                    best = (score, candidate)
        if best is None or (own and best[0] < _KNOWN_FRAGMENT_RATIO * own):
            return None
        # Two letters are as often a variable ("bu", "ue") as a damaged word: only the most
        # common words ("nd" -> "find") qualify.
        if len(lower) < 3 and best[0] < _SHORT_FRAGMENT_FREQUENCY:
            return None
        if capitalised and best[0] < _EVIDENCE_FREQUENCY:
            return None
        if not own and len(lower) >= 3 and best[0] >= _EVIDENCE_FREQUENCY:
            self.evidence += 1
        return _same_case(fragment, best[1])

    def join(self, left: str, right: str) -> str | None:
        """ "di erent" -> "different" when the joined word beats the rarer half."""
        a, b = self.freq(left), self.freq(right)
        best: tuple[int, str] | None = None
        for ligature in LIGATURES:
            candidate = left.lower() + ligature + right.lower()
            score = self.freq(candidate)
            if score >= _MIN_FREQUENCY and (best is None or score > best[0]):
                best = (score, candidate)
        if best is None or best[0] <= min(a, b):
            return None
        if (not a or not b) and best[0] >= _EVIDENCE_FREQUENCY:
            self.evidence += 1
        return _same_case(left, best[1])


def _same_case(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _repair_page(text: str, repairer: _Repairer) -> str:
    """Scan the words left to right: join "di erent", else fill "nite" and "xed" alone."""
    out: list[str] = []
    last = 0
    matches = list(_WORD.finditer(text))
    skip = False
    for index, match in enumerate(matches):
        if skip:
            skip = False
            continue
        word = match.group()
        out.append(text[last : match.start()])
        last = match.end()
        following = matches[index + 1] if index + 1 < len(matches) else None
        if following is not None and text[match.end() : following.start()] == " ":
            joined = repairer.join(word, following.group())
            if joined is not None:
                out.append(joined)
                last = following.end()
                skip = True
                continue
        out.append(_fill_word(word, repairer))
    out.append(text[last:])
    return "".join(out)


def _fill_word(word: str, repairer: _Repairer) -> str:
    if len(word) < 2 or word.isupper():  # a variable or an acronym
        return word
    return repairer.fill(word) or word


def repair_lost_ligatures(pages: Sequence[str]) -> list[str]:
    """Repair a document's page texts when they show lost ligatures; else return them as is."""
    words = [w.lower() for page in pages for w in _WORD.findall(page)]
    if len(words) < 20:
        return list(pages)
    frequencies = word_frequencies(_language(words))
    if not frequencies:
        return list(pages)
    own = Counter(w for w in words if any(lig in w for lig in LIGATURES))
    probe = _Repairer(frequencies, own)
    repaired = [_repair_page(page, probe) for page in pages]
    needed = max(_MIN_EVIDENCE, _EVIDENCE_SHARE * sum(own.values()))
    return repaired if probe.evidence >= needed else list(pages)
