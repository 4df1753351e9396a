"""Citation renumbering: numbers in order of first use, the same on a stream as on the whole."""

from __future__ import annotations

import re
import uuid

from studyhall.knowledge.retrieval import Passage
from studyhall.tutor.citations import Renumbering, renumber, renumbered_passages
from studyhall.tutor.orchestration import distinct_passages
from studyhall.tutor.providers.base import ChatMessage, Grounding
from studyhall.tutor.providers.offline import OfflineProvider

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


async def test_the_same_passage_found_twice_is_one_source_cited_once() -> None:
    # The same text in two documents (a course copy and a linked library copy of one file):
    # search returns both chunks; the tutor numbers the text once and cites it once.
    text = "Osmosis is the movement of water across a membrane toward the higher solute side."
    course_copy, library_copy, other = (uuid.uuid4() for _ in range(3))
    found = [
        Passage(uuid.uuid4(), course_copy, "Cells", 3, None, "Osmosis", text, 2.0),
        Passage(
            uuid.uuid4(), library_copy, "Cells (library)", 3, None, "Osmosis", f" {text}\n", 1.9
        ),
        Passage(uuid.uuid4(), other, "Water", 1, None, None, "Water is a polar molecule.", 1.0),
    ]
    passages = distinct_passages(found)
    assert [p.passage.document_id for p in passages] == [course_copy, other]
    assert [p.index for p in passages] == [1, 2]
    grounding = Grounding(question="What is osmosis?", passages=passages, hint_level=5)
    result = await OfflineProvider().complete(
        [ChatMessage("user", "What is osmosis?")], max_tokens=2000, grounding=grounding
    )
    renumbered, mapping = renumber(result.text, valid=[p.index for p in passages])
    sources = renumbered_passages(passages, mapping)
    assert len({s.passage.chunk_id for s in sources}) == len(sources) == 1
    assert renumbered.count("“Osmosis is the movement") == 1
    assert sorted(set(re.findall(r"\[(\d+)\]", renumbered))) == ["1"]
