"""Providers against the real local OpenAI-compatible server, and the offline provider."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid

import pytest

from studyhall.config import LLMSettings
from studyhall.knowledge.retrieval import Passage
from studyhall.tutor.prompts import material_block
from studyhall.tutor.providers import (
    ChatMessage,
    Completion,
    Delta,
    Grounding,
    OfflineProvider,
    OpenAICompatProvider,
    ProviderBadResponse,
    ProviderTimeout,
    ProviderUnavailable,
    SourcePassage,
    build_provider,
    estimate_prompt_tokens,
    estimate_tokens,
)
from studyhall.tutor.providers.offline import NOT_FOUND
from studyhall.tutor.text import collapse_spaces
from tests.peers.openai_llm import LLMPeer

MESSAGES = [
    ChatMessage("system", "You are a tutor."),
    ChatMessage("user", "What does photosynthesis do?"),
]


def _provider(
    llm: LLMPeer, *, timeout_s: float = 5.0, max_retries: int = 2
) -> OpenAICompatProvider:
    return OpenAICompatProvider(
        base_url=llm.base_url,
        model="peer-model",
        api_key="sk-test",
        timeout_s=timeout_s,
        max_retries=max_retries,
    )


async def _collect(provider: object, **kwargs: object) -> tuple[list[str], Completion]:
    deltas: list[str] = []
    final: Completion | None = None
    async for item in provider.stream(MESSAGES, max_tokens=100, **kwargs):  # type: ignore[attr-defined]
        if isinstance(item, Delta):
            deltas.append(item.text)
        else:
            final = item
    assert final is not None
    return deltas, final


async def test_complete_reports_server_usage(llm: LLMPeer) -> None:
    provider = _provider(llm)
    try:
        result = await provider.complete(MESSAGES, max_tokens=100)
    finally:
        await provider.aclose()
    assert result.text == llm.reply
    assert (result.prompt_tokens, result.completion_tokens) == (
        llm.usages[0]["prompt_tokens"],
        llm.usages[0]["completion_tokens"],
    )
    assert not result.usage_estimated
    sent = llm.requests[0]
    assert sent["max_tokens"] == 100 and sent["model"] == "peer-model"
    assert sent["messages"][1] == {"role": "user", "content": "What does photosynthesis do?"}
    assert sent["_headers"]["authorization"] == "Bearer sk-test"


async def test_stream_yields_pieces_then_usage_from_last_chunk(llm: LLMPeer) -> None:
    provider = _provider(llm)
    try:
        deltas, final = await _collect(provider)
    finally:
        await provider.aclose()
    assert len(deltas) > 3 and "".join(deltas) == llm.reply == final.text
    assert llm.requests[0]["stream_options"] == {"include_usage": True}
    assert final.completion_tokens == llm.usages[0]["completion_tokens"] == len(deltas)
    assert final.prompt_tokens == llm.usages[0]["prompt_tokens"]
    assert not final.usage_estimated


async def test_stream_without_usage_is_estimated(llm: LLMPeer) -> None:
    llm.script("no_usage")
    provider = _provider(llm)
    try:
        _, final = await _collect(provider)
    finally:
        await provider.aclose()
    assert final.usage_estimated
    assert final.prompt_tokens == estimate_prompt_tokens(MESSAGES)
    assert final.completion_tokens == estimate_tokens(llm.reply)


async def test_500_is_retried_then_503(llm: LLMPeer) -> None:
    llm.default = "error_500"
    provider = _provider(llm, max_retries=1)
    try:
        with pytest.raises(ProviderUnavailable) as err:
            await provider.complete(MESSAGES, max_tokens=50)
    finally:
        await provider.aclose()
    assert err.value.status_code == 503 and "500" in err.value.message
    assert llm.request_count == 2  # the first try and one retry


async def test_429_then_success_is_retried(llm: LLMPeer) -> None:
    llm.script("error_429", "error_429")
    provider = _provider(llm)
    try:
        deltas, _final = await _collect(provider)
    finally:
        await provider.aclose()
    assert "".join(deltas) == llm.reply
    assert [r["_behaviour"] for r in llm.requests] == ["error_429", "error_429", "normal"]


async def test_hang_is_504(llm: LLMPeer) -> None:
    llm.default = "hang"
    provider = _provider(llm, timeout_s=0.3, max_retries=0)
    try:
        with pytest.raises(ProviderTimeout) as err:
            await provider.complete(MESSAGES, max_tokens=50)
        with pytest.raises(ProviderTimeout):
            await _collect(provider)
    finally:
        await provider.aclose()
    assert err.value.status_code == 504 and "0.3 s" in err.value.message


async def test_silence_in_the_middle_of_a_stream_is_504(llm: LLMPeer) -> None:
    llm.script("hang_mid_stream")
    provider = _provider(llm, timeout_s=0.3, max_retries=0)
    try:
        with pytest.raises(ProviderTimeout):
            await _collect(provider)
    finally:
        await provider.aclose()


async def test_cut_stream_is_503(llm: LLMPeer) -> None:
    llm.script("cut")
    provider = _provider(llm)
    try:
        with pytest.raises(ProviderUnavailable):
            await _collect(provider)
    finally:
        await provider.aclose()


async def test_malformed_chunk_is_502(llm: LLMPeer) -> None:
    llm.script("malformed")
    provider = _provider(llm)
    try:
        with pytest.raises(ProviderBadResponse) as err:
            await _collect(provider)
    finally:
        await provider.aclose()
    assert err.value.status_code == 502


async def test_unreachable_server_is_503() -> None:
    provider = OpenAICompatProvider(
        base_url="http://127.0.0.1:9/v1", model="m", api_key=None, timeout_s=1, max_retries=0
    )
    try:
        with pytest.raises(ProviderUnavailable) as err:
            await provider.complete(MESSAGES, max_tokens=10)
    finally:
        await provider.aclose()
    assert "unreachable" in err.value.message


async def test_closing_the_stream_stops_the_server(llm: LLMPeer) -> None:
    llm.script("slow")
    provider = _provider(llm)
    try:
        stream = provider.stream(MESSAGES, max_tokens=500)
        received = 0
        async for item in stream:
            if isinstance(item, Delta):
                received += 1
                if received == 3:
                    break
        await stream.aclose()
        for _ in range(200):
            if llm.disconnects:
                break
            await asyncio.sleep(0.01)
    finally:
        await provider.aclose()
    assert llm.disconnects == 1 and llm.completed_streams == 0


async def test_fallback_answers_when_primary_is_down(llm: LLMPeer) -> None:
    llm.default = "error_500"
    settings = LLMSettings(
        provider="openai",
        base_url=llm.base_url,
        model="peer-model",
        max_retries=0,
        fallback_provider="offline",
    )
    provider = build_provider(settings)
    try:
        result = await provider.complete(MESSAGES, max_tokens=50)
        deltas, final = await _collect(provider)
    finally:
        await provider.aclose()
    assert result.provider == "offline-fallback"
    assert final.provider == "offline-fallback" and "".join(deltas) == final.text


async def test_fallback_is_not_spliced_after_text(llm: LLMPeer) -> None:
    llm.default = "cut"
    settings = LLMSettings(
        provider="openai",
        base_url=llm.base_url,
        model="m",
        max_retries=0,
        fallback_provider="offline",
    )
    provider = build_provider(settings)
    try:
        with pytest.raises(ProviderUnavailable):
            await _collect(provider)
    finally:
        await provider.aclose()


# ---------------------------------------------------------------- offline provider


def _passage(
    index: int, text: str, *, page: int = 12, title: str = "Biology for Schools"
) -> SourcePassage:
    return SourcePassage(
        index=index,
        passage=Passage(
            chunk_id=uuid.uuid4(),
            document_id=uuid.uuid4(),
            document_title=title,
            page=page,
            page_label=None,
            heading="Plants",
            text=text,
            score=1.0,
        ),
    )


PASSAGES = [
    _passage(
        1,
        "Plants are living things. Photosynthesis is the process by which green plants\n"
        "use light energy to make glucose from carbon dioxide and water. Oxygen is released "
        "as a by-product of photosynthesis.",
    ),
    _passage(
        2,
        "The mitochondria release energy from glucose during respiration. Respiration happens "
        "in every living cell.",
        page=30,
    ),
]


@pytest.mark.parametrize("level", [3, 4, 5])
async def test_offline_quotes_sentences_that_are_in_the_cited_passage(level: int) -> None:
    provider = OfflineProvider()
    grounding = Grounding(
        question="How do plants make glucose with light energy?",
        passages=PASSAGES,
        hint_level=level,
    )
    result = await provider.complete(MESSAGES, max_tokens=500, grounding=grounding)
    import re

    quotes = re.findall(r"“([^”]+)” \[(\d+)\]", result.text)
    assert quotes, result.text
    for quote, index in quotes:
        passage = PASSAGES[int(index) - 1]
        assert quote in collapse_spaces(passage.passage.text)
    assert "light energy to make glucose" in result.text
    assert result.extra["grounded"] == "true"
    assert result.completion_tokens == estimate_tokens(result.text)
    assert result.prompt_tokens == estimate_prompt_tokens(MESSAGES)


@pytest.mark.parametrize("level", [1, 2])
async def test_offline_low_hint_levels_ask_guiding_questions(level: int) -> None:
    grounding = Grounding(
        question="How do plants make glucose with light energy?",
        passages=PASSAGES,
        hint_level=level,
    )
    result = await OfflineProvider().complete(MESSAGES, max_tokens=500, grounding=grounding)
    assert "Look at p. 12 of *Biology for Schools*" in result.text
    assert "[1]" in result.text and "?" in result.text
    assert "carbon dioxide and water" not in result.text  # no answer given away


async def test_offline_says_so_when_nothing_is_relevant() -> None:
    grounding = Grounding(
        question="Who won the football world cup in 1998?", passages=PASSAGES, hint_level=5
    )
    result = await OfflineProvider().complete(MESSAGES, max_tokens=500, grounding=grounding)
    assert result.text == NOT_FOUND and result.extra["grounded"] == "false"


async def test_offline_stream_is_the_same_text_in_pieces() -> None:
    grounding = Grounding(
        question="What is released by photosynthesis?", passages=PASSAGES, hint_level=4
    )
    provider = OfflineProvider()
    deltas, final = await _collect(provider, grounding=grounding)
    assert len(deltas) > 2 and "".join(deltas) == final.text
    assert (
        final.text == (await provider.complete(MESSAGES, max_tokens=100, grounding=grounding)).text
    )


async def test_offline_respects_max_tokens() -> None:
    grounding = Grounding(question="photosynthesis glucose energy", passages=PASSAGES, hint_level=5)
    result = await OfflineProvider().complete(MESSAGES, max_tokens=20, grounding=grounding)
    assert result.completion_tokens <= 20


def test_token_estimate_is_deterministic() -> None:
    assert estimate_tokens("Hello, world!") == 4
    assert estimate_tokens("photosynthesis") == 3
    assert estimate_tokens("") == 0


def _estimate_by_the_rule(text: str) -> int:
    """The documented rule, written out: a run of letters, digits or underscores costs one token
    per started 5 characters, every other visible character one, spaces nothing."""
    total, run = 0, 0
    for char in text + " ":
        if char.isalnum() or char == "_":
            run += 1
            continue
        total += -(-run // 5)
        run = 0
        if not char.isspace():
            total += 1
    return total


def test_token_estimate_follows_its_rule_in_every_script() -> None:
    samples = [
        "Photosynthèse : l'énergie lumineuse (½ x²) — 3,14 × r_2!",
        "光合作用是植物利用光能的过程。",
        "مرحبا بالعالم ٣٤٥ ـ تطويل",
        "e\u0301tude\u200bword\tnext\nline __init__ ... ???",
        "x" * 23 + " " + "9" * 5 + "-" * 3,
    ]
    alphabet = "ab_Z9 é漢字\t\n.,;!?-²½٣ـ\u0301'\"()"
    generator = random.Random(12)
    samples += [
        "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 40)))
        for _ in range(2000)
    ]
    for text in samples:
        assert estimate_tokens(text) == _estimate_by_the_rule(text), text


async def test_citations_name_the_printed_page_and_the_page_of_the_file() -> None:
    handbook = SourcePassage(
        index=1,
        passage=Passage(
            chunk_id=uuid.uuid4(),
            document_id=uuid.uuid4(),
            document_title="Handbook of Numerical Methods",
            page=1,
            page_label="7-45",
            heading=None,
            text="Newton's method converges quadratically near a simple root of the function.",
            score=1.0,
        ),
    )
    assert handbook.page_citation == "p. 7-45 (page 1 of the file)"
    plain = dataclasses.replace(
        handbook, passage=dataclasses.replace(handbook.passage, page=15, page_label=None)
    )
    assert plain.page_citation == "p. 15"
    grounding = Grounding(
        question="How fast does Newton's method converge near a root?",
        passages=[handbook],
        hint_level=1,
    )
    result = await OfflineProvider().complete(MESSAGES, max_tokens=500, grounding=grounding)
    assert "p. 7-45 (page 1 of the file) of *Handbook of Numerical Methods*" in result.text
    assert "p. 7-45 (page 1 of the file)" in material_block([handbook], "n0nce")


async def test_offline_points_to_a_passage_in_another_language_without_claiming_it() -> None:
    arabic = _passage(
        1,
        "متباينة تشيبيشيف: احتمال ابتعاد المتغير العشوائي عن توقعه بأكثر من k انحرافات "
        "معيارية لا يزيد على واحد مقسوماً على مربع k.",
        page=3,
        title="Statistics (Arabic notes)",
    )
    english = _passage(2, "The triangle inequality bounds the norm of a sum of two vectors.")
    question = "What does Chebyshev's inequality state?"
    for passages in ([arabic, english], [english, arabic]):
        result = await OfflineProvider().complete(
            MESSAGES, max_tokens=500, grounding=Grounding(question=question, passages=passages)
        )
        assert result.extra["grounded"] == "false"  # nothing is cited as support
        assert "written in Arabic: p. 3 of *Statistics (Arabic notes)*" in result.text
        assert "[1]" not in result.text and "[2]" not in result.text
    # Lower in the list it is a weak match: the plain refusal stands.
    far = [english, _passage(2, "Cells divide by mitosis."), arabic]
    result = await OfflineProvider().complete(
        MESSAGES, max_tokens=500, grounding=Grounding(question=question, passages=far)
    )
    assert result.text == NOT_FOUND
    # A French passage for a French question is read as usual, not pointed at.
    french = _passage(
        1, "La photosynthèse transforme la lumière en énergie chimique dans les feuilles."
    )
    result = await OfflineProvider().complete(
        MESSAGES,
        max_tokens=500,
        grounding=Grounding(question="Que transforme la photosynthèse ?", passages=[french]),
    )
    assert result.extra["grounded"] == "true" and "[1]" in result.text


async def test_offline_quotes_sentences_not_the_section_title_glued_to_them() -> None:
    passage = SourcePassage(
        index=1,
        passage=Passage(
            chunk_id=uuid.uuid4(),
            document_id=uuid.uuid4(),
            document_title="Nonlinear ODEs",
            page=9,
            page_label=None,
            heading="1.6 Picard iteration for nonlinear problems",
            text=(
                "1.6 Picard iteration for\nnonlinear problems\nPicard iteration solves a nonlinear "
                "equation by freezing the nonlinear coefficient at the previous iterate. Each step "
                "then solves a linear problem."
            ),
            score=1.0,
        ),
    )
    grounding = Grounding(question="What is Picard iteration?", passages=[passage], hint_level=3)
    result = await OfflineProvider().complete(MESSAGES, max_tokens=500, grounding=grounding)
    assert "“Picard iteration solves a nonlinear equation by freezing" in result.text
    assert ": “1.6" not in result.text and "problems Picard" not in result.text
    assert "(section “1.6 Picard iteration for nonlinear problems”)" in result.text
