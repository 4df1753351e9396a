"""Citation renumbering: numbers in order of first use, the same on a stream as on the whole."""

from __future__ import annotations

from studyhall.tutor.citations import Renumbering, renumber

ANSWER = "Plants make glucose [3]. Oxygen is released [5], as [3] says. Not a source: [9]."


def test_numbers_follow_first_use_and_unknown_numbers_go() -> None:
    text, mapping = renumber(ANSWER, valid=range(1, 6))
    assert text == "Plants make glucose [1]. Oxygen is released [2], as [1] says. Not a source: ."
    assert mapping == {3: 1, 5: 2}


def test_a_citation_cut_between_stream_pieces_is_renumbered_alike() -> None:
    whole, _ = renumber(ANSWER, valid=range(1, 6))
    for size in (1, 2, 3, 5, 7):
        numbers = Renumbering(range(1, 6))
        pieces = [numbers.feed(ANSWER[i : i + size]) for i in range(0, len(ANSWER), size)]
        assert "".join(pieces) + numbers.flush() == whole, size
