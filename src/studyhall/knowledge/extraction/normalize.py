"""Text clean-up shared by the extractors.

PDF text extractors hand back text as the file's fonts encode it, not as a reader sees it. This
module repairs what real course documents produce: detached TeX accents ("F´ısica"), ligatures
emitted as compatibility code points or as control characters, hyphenated line breaks, stray
control characters, and right-to-left text stored in visual instead of logical order.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

__all__ = [
    "collapse_whitespace",
    "dehyphenate",
    "fix_rtl_order",
    "is_visually_reversed",
    "normalize_text",
    "repair_detached_accents",
    "replace_control_ligatures",
    "strip_control_chars",
]

# --- ligatures emitted as control characters ------------------------------------------------
# TeX's OT1 text encoding puts the ligatures at 0x0B-0x0F and its T1 (Cork) encoding, which beamer
# decks with \usepackage[T1]{fontenc} use, at 0x1B-0x1F; a PDF without a ToUnicode map for such a
# font comes out with those bytes as text. 0x0D is also a carriage return, so it is only read as
# "fl" between two letters, after line endings were normalised.
_CTRL_LIGATURES = {
    "\x0b": "ff",
    "\x0c": "fi",
    "\r": "fl",
    "\x0e": "ffi",
    "\x0f": "ffl",
    "\x1b": "ff",
    "\x1c": "fi",
    "\x1d": "fl",
    "\x1e": "ffi",
    "\x1f": "ffl",
}
# Words rarely start with ff/ffi/ffl, so those need a letter before them; fi/fl may start a word.
_LIGATURE_NEEDS_PREV = {"\x0b", "\x0e", "\x0f", "\x1b", "\x1e", "\x1f"}
_CTRL_LIGATURE_RE = re.compile(r"[\x0b\x0c\r\x0e\x0f\x1b-\x1f]")

# pdfium marks a hyphen it removed at a line end with U+0002 and drops the line break.
_PDFIUM_HYPHEN_RE = re.compile(r"\x02[ \t]*\n?")

# --- detached accents -----------------------------------------------------------------------
# Spacing accent -> combining accent. ASCII "~" and "^" are left out on purpose: they are far more
# often math or code than an accent.
_SPACING_ACCENTS = {
    "\u00b4": "\u0301",  # ´ acute
    "\u02ca": "\u0301",  # ˊ modifier acute
    "\u0060": "\u0300",  # ` grave
    "\u02cb": "\u0300",  # ˋ modifier grave
    "\u00a8": "\u0308",  # ¨ diaeresis
    "\u02dc": "\u0303",  # ˜ small tilde
    "\u02c6": "\u0302",  # ˆ modifier circumflex
    "\u00b8": "\u0327",  # ¸ cedilla
    "\u02c7": "\u030c",  # ˇ caron
    "\u02d8": "\u0306",  # ˘ breve
    "\u02d9": "\u0307",  # ˙ dot above
    "\u02da": "\u030a",  # ˚ ring above
    "\u02dd": "\u030b",  # ˝ double acute
    "\u02db": "\u0328",  # ˛ ogonek
    "\u00af": "\u0304",  # ¯ macron
}
_VOWELS = frozenset("aeiouyAEIOUY")
# Letters each accent commonly sits on in European languages. A precomposed character existing is
# not enough ("m´as" could make ḿ): we only combine with letters that really take that accent.
_ACCENT_BASES = {
    "\u0301": _VOWELS | frozenset("cnszrlgkCNSZRLGK"),
    "\u0300": _VOWELS,
    "\u0308": _VOWELS,
    "\u0303": frozenset("nNaoAO") | frozenset("eiuEIU"),
    "\u0302": _VOWELS | frozenset("cghjswzCGHJSWZ"),
    "\u0327": frozenset("cstgklnCSTGKLN"),
    "\u030c": frozenset("cszrnedtlCSZRNEDTL"),
    "\u0306": frozenset("aguiAGUI"),
    "\u0307": frozenset("zegcZEGCI"),
    "\u030a": frozenset("auAU"),
    "\u030b": frozenset("ouOU"),
    "\u0328": frozenset("aeiuAEIU"),
    "\u0304": _VOWELS,
}
_DOTLESS = {"\u0131": "i", "\u0237": "j"}
_APOSTROPHE_TAIL = re.compile(r"(?:s|t|d|m|ll|re|ve)\b")
_ACCENT_RE = re.compile("[" + "".join(_SPACING_ACCENTS) + "]")

# --- right-to-left ---------------------------------------------------------------------------
_RTL_LETTER_RE = re.compile(
    r"[\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]"
)
_RTL_WORD_RE = re.compile(
    r"[\u0590-\u05ff\u0600-\u065f\u066e-\u06d3\u06d5-\u06ff\u0750-\u077f\u08a0-\u08ff"
    r"\ufb1d-\ufdff\ufe70-\ufefc]+"
)
_HEBREW_FINALS = frozenset("ךםןףץ")
# Letters that only ever end an Arabic word: ta marbuta and alef maqsura.
_ARABIC_WORD_FINAL = frozenset("ةى")
_MIRROR = str.maketrans("()[]{}<>«»", ")(][}{><»«")

# --- control characters ------------------------------------------------------------------------
# Everything in Cc except tab and newline, plus format characters that only disturb matching
# (zero-width space, BOM, bidi embedding controls). ZWJ/ZWNJ stay: they change Persian/Indic words.
_CONTROL_RE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff"
    r"\ufff9-\ufffb\ufffe\uffff\ufffd]"
)
_SPACES_RE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")
_HYPHEN_BREAK_RE = re.compile(r"(\w)[-\u2010\u00ad][ \t]*\n[ \t]*(\w)")


def normalize_text(
    text: str,
    *,
    pdf_repairs: bool = False,
    dehyphenate_lines: bool = True,
    fix_rtl: bool = True,
) -> str:
    """Return clean NFKC text: ligatures, accents, hyphens, controls, whitespace and RTL fixed.

    pdf_repairs=True also undoes PDF text-layer artefacts that would be wrong to "fix" in other
    files: ligatures emitted as control bytes (a lone CR is a line break in a text file), the
    pdfium hyphen marker, and detached TeX accents (a backtick is code in markdown).
    """
    # Order matters: control ligatures and spacing accents must be read before NFKC (which turns
    # "´" into " ́" and would hide it), and visual RTL runs are reversed before NFKC expands
    # lam-alef ligatures into two letters that must stay in logical order.
    text = text.replace("\r\n", "\n")
    if pdf_repairs:
        if "\x02" in text:
            text = _PDFIUM_HYPHEN_RE.sub(_pdfium_hyphen, text)
        text = replace_control_ligatures(text)
    text = text.replace("\r", "\n")
    if pdf_repairs:
        text = repair_detached_accents(text)
    if fix_rtl and _RTL_LETTER_RE.search(text) and is_visually_reversed(text):
        text = fix_rtl_order(text)
    text = unicodedata.normalize("NFKC", text)
    text = strip_control_chars(text)
    if dehyphenate_lines:
        text = dehyphenate(text)
    return collapse_whitespace(text)


def _pdfium_hyphen(match: re.Match[str]) -> str:
    # The hyphen pdfium removed may have been part of a compound ("Runge-Kutta"): keep it when the
    # next word starts with a capital, drop it otherwise.
    following = match.string[match.end() : match.end() + 1]
    return "-" if following.isupper() else ""


def replace_control_ligatures(text: str) -> str:
    """Turn OT1/T1 ligature control bytes found next to letters into ff/fi/fl/ffi/ffl."""
    if not _CTRL_LIGATURE_RE.search(text):
        return text

    def repl(m: re.Match[str]) -> str:
        ch = m.group()
        s, i = m.string, m.start()
        prev_letter = i > 0 and s[i - 1].isalpha()
        next_letter = i + 1 < len(s) and s[i + 1].isalpha()
        if ch == "\r":
            return "fl" if prev_letter and next_letter else ch
        if prev_letter or (next_letter and ch not in _LIGATURE_NEEDS_PREV):
            return _CTRL_LIGATURES[ch]
        return ch

    return _CTRL_LIGATURE_RE.sub(repl, text)


@lru_cache(maxsize=4096)
def _compose(base: str, combining: str) -> str | None:
    """The precomposed letter for base+accent if the pair is a usual one, else None."""
    plain = _DOTLESS.get(base, base)
    if plain not in _ACCENT_BASES[combining]:
        return None
    composed = unicodedata.normalize("NFC", plain + combining)
    return composed if len(composed) == 1 else None


def repair_detached_accents(text: str) -> str:
    """Recombine spacing accents with their letter: "F´ısica" or "Fı´sica" -> "Física"."""
    if not _ACCENT_RE.search(text):
        return text
    chars = list(text)
    n = len(chars)
    # First pass: which side each accent attaches to when only one side is possible. The page's
    # majority then decides the ambiguous cases (an accent between two vowels), because one
    # extractor puts every accent on the same side of its letter.
    decisions: list[tuple[int, str | None, str | None]] = []
    before = after = 0
    for i, ch in enumerate(chars):
        combining = _SPACING_ACCENTS.get(ch)
        if combining is None:
            continue
        if (
            ch == "\u00b4"
            and i > 0
            and chars[i - 1].isalpha()
            and _APOSTROPHE_TAIL.match(text, i + 1)
        ):
            chars[i] = "\u2019"  # "it´s", "don´t": an acute typed as an apostrophe
            continue
        nxt = _compose(chars[i + 1], combining) if i + 1 < n else None
        prv = _compose(chars[i - 1], combining) if i > 0 else None
        # A dotless i only exists in these documents because an accent was removed from it.
        if i + 1 < n and chars[i + 1] in _DOTLESS and nxt:
            prv = None
        elif i > 0 and chars[i - 1] in _DOTLESS and prv:
            nxt = None
        if nxt and not prv:
            before += 1
        elif prv and not nxt:
            after += 1
        decisions.append((i, prv, nxt))
    prefer_next = before >= after
    for i, prv, nxt in decisions:
        if nxt and (prefer_next or not prv):
            chars[i + 1] = nxt
            chars[i] = ""
        elif prv:
            chars[i - 1] = prv
            chars[i] = ""
        elif chars[i] == "\u00b4" and i > 0 and chars[i - 1].isalpha():
            # "it´s": an acute used as an apostrophe.
            chars[i] = "\u2019"
    return "".join(chars)


def strip_control_chars(text: str) -> str:
    """Remove NUL, C0/C1 controls (but tab and newline) and invisible format characters."""
    return _CONTROL_RE.sub(" ", text)


def dehyphenate(text: str) -> str:
    """Join words split by a hyphen at a line end ("differ-\\nential" -> "differential")."""

    def repl(m: re.Match[str]) -> str:
        left, right = m.group(1), m.group(2)
        # "Runge-\nKutta" or "COVID-\n19" keep their hyphen; lowercase continuations are joined.
        if right.islower():
            return left + right
        return f"{left}-{right}"

    return _HYPHEN_BREAK_RE.sub(repl, text)


def collapse_whitespace(text: str) -> str:
    """Collapse runs of spaces, strip line ends and keep at most one blank line in a row."""
    text = _SPACES_RE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_NEWLINES_RE.sub("\n\n", text).strip()


@lru_cache(maxsize=2048)
def _form(ch: str) -> str | None:
    """'initial', 'medial', 'final' or 'isolated' for an Arabic presentation form, else None."""
    if not ("\ufb50" <= ch <= "\ufdff" or "\ufe70" <= ch <= "\ufeff"):
        return None
    name = unicodedata.name(ch, "")
    for form in ("INITIAL", "MEDIAL", "FINAL", "ISOLATED"):
        if f"{form} FORM" in name:
            return form.lower()
    return None


def _rtl_order_evidence(text: str) -> tuple[int, int]:
    """(logical, reversed) vote counts from letters whose place in a word is fixed."""
    logical = reversed_ = 0
    for word in _RTL_WORD_RE.findall(text):
        first, last = word[0], word[-1]
        if len(word) == 1:
            continue
        # Presentation forms spell out each letter's position in its word.
        f_first, f_last = _form(first), _form(last)
        if f_first == "initial" or f_last == "final":
            logical += 1
        if f_first == "final" or f_last == "initial":
            reversed_ += 1
        base = unicodedata.normalize("NFKC", word)
        if len(base) < 2:
            continue
        b_first, b_last = base[0], base[-1]
        if b_last in _HEBREW_FINALS or b_last in _ARABIC_WORD_FINAL:
            logical += 1
        if b_first in _HEBREW_FINALS or b_first in _ARABIC_WORD_FINAL:
            reversed_ += 1
        # The Arabic article "ال" starts words; reversed it ends them.
        if len(base) > 3 and base.startswith("ال"):
            logical += 1
        if len(base) > 3 and base.endswith("لا"):
            reversed_ += 1
    return logical, reversed_


def is_visually_reversed(text: str) -> bool:
    """Guess whether the right-to-left words in text were stored in visual (reversed) order."""
    logical, reversed_ = _rtl_order_evidence(text)
    return reversed_ >= 2 and reversed_ > 2 * logical


def _is_rtl(ch: str) -> bool:
    return unicodedata.bidirectional(ch) in ("R", "AL")


def _is_ltr(ch: str) -> bool:
    return unicodedata.bidirectional(ch) == "L"


def _reverse_keeping(run: str, keep: Callable[[str], bool]) -> str:
    """Reverse run, then put back in reading order every sub-run whose chars satisfy keep."""
    rev = run[::-1].translate(_MIRROR)
    out: list[str] = []
    i = 0
    while i < len(rev):
        if keep(rev[i]):
            j = i
            while j < len(rev) and (
                keep(rev[j]) or (rev[j] in " .,:/-" and j + 1 < len(rev) and keep(rev[j + 1]))
            ):
                j += 1
            out.append(rev[i:j][::-1].translate(_MIRROR))
            i = j
        else:
            out.append(rev[i])
            i += 1
    return "".join(out)


def _keeps_ltr(ch: str) -> bool:
    return _is_ltr(ch) or ch.isdigit()


def _visual_to_logical_line(line: str) -> str:
    """Rewrite one visually ordered line in logical order (digits and Latin words keep theirs)."""
    strong = [c for c in line if _is_rtl(c) or _is_ltr(c)]
    rtl = sum(1 for c in strong if _is_rtl(c))
    if not rtl:
        return line
    # The paragraph's direction: an RTL paragraph begins (logically) at its right end and an LTR
    # one at its left end, so when both ends agree they decide; otherwise the majority does.
    first, last = _is_rtl(strong[0]), _is_rtl(strong[-1])
    rtl_paragraph = first if first == last else rtl >= len(strong) - rtl
    if rtl_paragraph:
        # A right-to-left line: the whole line was laid out from its right end.
        return _reverse_keeping(line, _keeps_ltr)
    # A left-to-right line with right-to-left islands: only the islands are reversed.
    out: list[str] = []
    i = 0
    while i < len(line):
        if _is_rtl(line[i]):
            j = i
            last_rtl = i
            while j < len(line) and not _keeps_ltr(line[j]):
                if _is_rtl(line[j]):
                    last_rtl = j
                j += 1
            out.append(_reverse_keeping(line[i : last_rtl + 1], str.isdigit))
            i = last_rtl + 1
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def fix_rtl_order(text: str) -> str:
    """Put visually ordered right-to-left lines back into logical order."""
    return "\n".join(_visual_to_logical_line(line) for line in text.split("\n"))
