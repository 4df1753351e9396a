"""Text normalisation: ligatures, detached accents, hyphens, controls, whitespace, RTL order."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studyhall.knowledge.extraction.normalize import (
    collapse_whitespace,
    dehyphenate,
    fix_rtl_order,
    is_visually_reversed,
    normalize_text,
    repair_detached_accents,
    replace_control_ligatures,
)

# --- ligatures -------------------------------------------------------------------------------


def test_unicode_ligatures_become_letters() -> None:
    assert normalize_text("ﬁnd ﬀ ﬂow oﬃce baﬄe ﬅ ﬆ") == "find ff flow office baffle st st"


def test_ligatures_emitted_as_control_characters() -> None:
    # TeX OT1 fonts without a ToUnicode map: 0x0B ff, 0x0C fi, 0x0D fl, 0x0E ffi, 0x0F ffl.
    pdf = {"pdf_repairs": True}
    assert normalize_text("de\x0cne the e\x0bect of \x0crst re\rection", **pdf) == (
        "define the effect of first reflection"
    )
    assert normalize_text("an o\x0ece wa\x0fe", **pdf) == "an office waffle"
    assert replace_control_ligatures("sta\x0b") == "staff"
    # Not between letters: a math glyph or a page break, removed.
    assert normalize_text("tan(x) =\n\x0c\n\x0c\ndr", **pdf) == "tan(x) =\n\ndr"
    assert normalize_text("tolerance \x0fr = 0.1", **pdf) == "tolerance r = 0.1"
    # Outside PDFs a lone CR is an old line ending, not a ligature.
    assert normalize_text("line\rnext") == "line\nnext"


def test_pdfium_hyphen_marker() -> None:
    pdf = {"pdf_repairs": True}
    assert normalize_text("nonlinear differ\x02ential equations", **pdf) == (
        "nonlinear differential equations"
    )
    assert normalize_text("the differ\x02\r\nential", **pdf) == "the differential"
    assert normalize_text("Runge\x02Kutta methods", **pdf) == "Runge-Kutta methods"


# --- detached accents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fixed"),
    [
        ("F´ısica para Mates", "Física para Mates"),  # pdfTeX OT1, accent before the letter
        ("Fı´sica para Mates", "Física para Mates"),  # accent after the letter
        ("Cinem´atica: una colisi´on", "Cinemática: una colisión"),
        ("cinema´tica y colisio´n", "cinemática y colisión"),
        ("un peque˜no ca˜n´on", "un pequeño cañón"),
        ("ping¨uino", "pingüino"),
        ("`a la fa¸con d'ˆetre", "à la façon d'être"),
        ("´Epoca ´Unica", "Época Única"),
        ("na¨ıve", "naïve"),
        ("ˇcesky", "česky"),
    ],
)
def test_detached_accents_are_recombined(raw: str, fixed: str) -> None:
    assert normalize_text(raw, pdf_repairs=True) == fixed
    assert unicodedata.is_normalized("NFC", normalize_text(raw, pdf_repairs=True))


def test_ambiguous_accents_follow_the_page_majority() -> None:
    # "cr´ıa": between two vowels the accent could go either way; the page's other accents sit
    # before their letter, so this one does too.
    before = "Mam´a y pap´a cr´ıan a la ni˜na; la cr´ıa es peque˜na."
    assert repair_detached_accents(before) == "Mamá y papá crían a la niña; la cría es pequeña."
    after = "Mama´ y papa´ crı´an; la crı´a"
    assert repair_detached_accents(after) == "Mamá y papá crían; la cría"


def test_accents_that_are_not_accents_are_left_alone() -> None:
    assert repair_detached_accents("Fˆ(u) = 0 and {q`}") == "Fˆ(u) = 0 and {q`}"
    assert repair_detached_accents("it´s Newton´s law") == "it’s Newton’s law"
    assert repair_detached_accents("no accents here") == "no accents here"
    # Off by default: markdown backticks are code, not grave accents.
    assert normalize_text("`a` is code") == "`a` is code"


# --- hyphens, controls, whitespace -----------------------------------------------------------


def test_dehyphenation() -> None:
    assert dehyphenate("the differ-\nential equation") == "the differential equation"
    assert dehyphenate("Runge-\nKutta") == "Runge-Kutta"
    assert dehyphenate("COVID-\n19") == "COVID-19"
    assert dehyphenate("a list -\nitem") == "a list -\nitem"
    assert normalize_text("soft\u00ad\nhyphen") == "softhyphen"


def test_control_and_invisible_characters_are_removed() -> None:
    assert normalize_text("a\x00b\x07c\u200bd\ufeffe\u202ef") == "a b c d e f"
    # Zero-width joiners change Persian and Indic words: they stay.
    assert "\u200c" in normalize_text("می\u200cخواهم")


def test_whitespace_is_collapsed() -> None:
    assert collapse_whitespace("  a \t b\u3000c  \n\n\n\n d  ") == "a b c\n\nd"
    assert normalize_text("x\u00a0\u2009y\r\nz\rw") == "x y\nz\nw"


@given(st.text())
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    once = normalize_text(text, pdf_repairs=True)
    assert normalize_text(once, pdf_repairs=True) == once
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", once)
    assert "\n\n\n" not in once and once == once.strip()


# --- right-to-left ---------------------------------------------------------------------------

ARABIC = "ذهب الطالب إلى المدرسة الكبيرة في الصباح"
ARABIC_2 = "قرأت الطالبة الكتاب في المكتبة العامة"
HEBREW = "הילדים הלכו לבית הספר עם המורה שלהם"


def to_visual(line: str) -> str:
    """What a visual-order extractor produces: the line read left to right as displayed."""
    reversed_line = line[::-1]
    # Latin words and numbers are displayed left to right inside the reversed line.
    return re.sub(
        r"[A-Za-z0-9][A-Za-z0-9 .,:/-]*[A-Za-z0-9]|[A-Za-z0-9]",
        lambda m: m.group()[::-1],
        reversed_line,
    )


# Arabic letters that only connect to the previous letter.
_RIGHT_JOINING = set("اأإآدذرزوؤة")


def shape(word: str) -> str:
    """Arabic presentation forms for a word (initial/medial/final/isolated), as PDFs store them."""
    out = []
    for i, ch in enumerate(word):
        joins_prev = i > 0 and word[i - 1] not in _RIGHT_JOINING
        joins_next = i + 1 < len(word) and ch not in _RIGHT_JOINING
        form = {
            (False, False): "ISOLATED",
            (False, True): "INITIAL",
            (True, True): "MEDIAL",
            (True, False): "FINAL",
        }[(joins_prev, joins_next)]
        name = unicodedata.name(ch)
        try:
            out.append(unicodedata.lookup(f"{name} {form} FORM"))
        except KeyError:
            out.append(unicodedata.lookup(f"{name} ISOLATED FORM"))
    return "".join(out)


def test_logical_rtl_text_is_left_alone() -> None:
    for text in (ARABIC, HEBREW, f"{ARABIC}\n{ARABIC_2}", "Chapter 3: " + ARABIC):
        assert not is_visually_reversed(text)
        assert normalize_text(text) == text


def test_visually_reversed_rtl_lines_are_restored() -> None:
    for logical in (ARABIC, HEBREW, f"{ARABIC}\n{ARABIC_2}"):
        visual = "\n".join(to_visual(line) for line in logical.split("\n"))
        assert visual != logical
        assert is_visually_reversed(visual)
        assert normalize_text(visual) == logical


def test_reversed_lines_keep_numbers_and_latin_words_readable() -> None:
    logical = "الفصل 12 من كتاب Python للمبتدئين في المدرسة"
    visual = to_visual(logical)
    assert visual != logical and "12" in visual and "Python" in visual
    assert fix_rtl_order(visual) == logical
    mixed = "See (الطالب في المدرسة) page 4"
    visual_island = "See (" + "الطالب في المدرسة"[::-1] + ") page 4"
    assert is_visually_reversed(visual_island + "\n" + to_visual(ARABIC))
    assert fix_rtl_order(visual_island) == mixed


def test_presentation_forms_fold_to_letters_in_logical_order() -> None:
    shaped = " ".join(shape(word) for word in ARABIC.split())
    assert re.fullmatch(r"[\ufb50-\ufdff\ufe70-\ufeff ]+", shaped)
    # Stored in logical order: only NFKC is needed.
    assert normalize_text(shaped) == unicodedata.normalize("NFKC", ARABIC)
    # Stored in visual order: the positional forms prove it (initial forms end the "words").
    visual = shaped[::-1]
    assert is_visually_reversed(visual)
    assert normalize_text(visual) == unicodedata.normalize("NFKC", ARABIC)


def test_lam_alef_ligature_stays_in_logical_order() -> None:
    # U+FEFB is one glyph for lam + alef: reversing must happen before NFKC splits it.
    words = ["الطالب", "لا", "يذهب", "إلى", "المدرسة", "الكبيرة"]
    shaped = [shape(w) for w in words]
    shaped[1] = "\ufefb"
    visual = " ".join(shaped)[::-1]
    assert normalize_text(visual) == unicodedata.normalize("NFKC", " ".join(words))
