"""Issue 11, finding 6: one quiz-answer guard on every path that shows course text to a student.

The course holds a teacher's answer key with the answer spelled out with separators
(`A-u-S-E-C-R-E-T`), which a literal check misses. While the student has not passed the vault
quiz, none of search results, tutor answers, the tutor's sources or the tests inside the chat
shows it; the teacher (and the student once the quiz is passed) still reads the material.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from studyhall.jobs.worker import Worker
from tests.peers.openai_llm import LLMPeer
from tests.tutor.conftest import (
    API,
    Course,
    Headers,
    MakeClient,
    add_document,
    new_session,
    peer_llm,
)
from tests.tutor.test_quiz_leaks import make_quiz

VAULT_QUESTION = "What is the password of the vault?"
ANSWER_KEY = b"""# The vault

Answer key for the vault quiz. The password of the vault is A-u-S-E-C-R-E-T, as the teacher
wrote on the card given to the class.
"""


def shows_secret(text: str) -> bool:
    """Whether a text carries the answer, however it is spelled (letters only, any case)."""
    return "ausecret" in re.sub(r"[^a-z]", "", text.lower())


@pytest.fixture
async def vault(client: httpx.AsyncClient, auth: Headers, course: Course, worker: Worker) -> str:
    """The answer key ingested into the course and the quiz it answers; returns the quiz id."""
    await add_document(
        client,
        auth,
        course.teacher,
        worker,
        course.id,
        ANSWER_KEY,
        title="Vault answer key",
        filename="vault.md",
    )
    response = await client.post(
        f"{API}/courses/{course.id}/quizzes",
        json={
            "title": "Vault quiz",
            "pass_percent": 100,
            "questions": [{"prompt": VAULT_QUESTION, "kind": "short", "answer": "AuSecret"}],
        },
        headers=auth(course.teacher),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def pass_vault_quiz(
    client: httpx.AsyncClient, auth: Headers, course: Course, quiz_id: str
) -> None:
    passed = await client.post(
        f"{API}/quizzes/{quiz_id}/attempts",
        json={"answers": ["AuSecret"], "time_spent_s": 20},
        headers=auth(course.student),
    )
    assert passed.status_code in (200, 201) and passed.json()["passed"] is True, passed.text


async def test_finding_06_search_withholds_an_answer_spelled_out_with_separators(
    client: httpx.AsyncClient, auth: Headers, course: Course, vault: str
) -> None:
    """Before: a literal check let `A-u-S-E-C-R-E-T` through in the student's search results;
    after: the chunk keeps its pointer and its text is withheld, until the quiz is passed."""

    async def search(headers: dict[str, str]) -> list[dict[str, Any]]:
        r = await client.post(
            f"{API}/courses/{course.id}/search", json={"query": VAULT_QUESTION}, headers=headers
        )
        assert r.status_code == 200, r.text
        hits: list[dict[str, Any]] = r.json()
        return hits

    hits = await search(auth(course.student))
    assert any(h["document_title"] == "Vault answer key" for h in hits)
    assert not any(shows_secret(h["text"] + h["excerpt"]) for h in hits)
    assert any(shows_secret(h["text"]) for h in await search(auth(course.teacher)))
    await pass_vault_quiz(client, auth, course, vault)
    assert any(shows_secret(h["text"]) for h in await search(auth(course.student)))


async def test_finding_06_tutor_sources_withhold_an_excerpt_that_gives_the_answer_away(
    make_client: MakeClient, auth: Headers, course: Course, vault: str, llm: LLMPeer
) -> None:
    """Before the guard reached the sources, a harmless answer could still cite the answer key's
    excerpt; after: the source keeps document and page, its excerpt is withheld."""
    llm.reply = "Look at what the teacher wrote on the card [1] [2] [3]."
    client = await make_client(llm=peer_llm(llm))

    async def ask(headers: dict[str, str]) -> dict[str, Any]:
        chat_id = await new_session(client, headers, course.id)
        r = await client.post(
            f"{API}/chat/sessions/{chat_id}/messages",
            json={"content": VAULT_QUESTION},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    answer = await ask(auth(course.student))
    vault_sources = [s for s in answer["sources"] if s["document_title"] == "Vault answer key"]
    assert vault_sources, answer["sources"]
    assert all(s["excerpt"].startswith("(excerpt withheld") for s in vault_sources)
    assert not shows_secret(str(answer))
    taught = await ask(auth(course.teacher))
    assert any(shows_secret(s["excerpt"]) for s in taught["sources"])


@pytest.mark.parametrize(
    ("reply", "question"),
    [
        ("The password of the vault is A-u-S-E-C-R-E-T [1].", VAULT_QUESTION),
        ("Plants release a gas in photosynthesis: pick option B.", "Which gas is it?"),
        ("It is the second option: plants release it in photosynthesis.", "Which gas is it?"),
    ],
)
async def test_finding_06_tutor_answer_spelled_out_or_by_option_letter_is_refused(
    make_client: MakeClient,
    auth: Headers,
    course: Course,
    vault: str,
    llm: LLMPeer,
    reply: str,
    question: str,
) -> None:
    """Before: only a literal answer was caught, so these replies reached the student; after:
    each is regenerated and, still leaking, replaced by a refusal."""
    llm.reply = reply
    client = await make_client(llm=peer_llm(llm))
    await make_quiz(client, auth, course)  # the gas question: Oxygen, the second option
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    r = await client.post(
        f"{API}/chat/sessions/{chat_id}/messages", json={"content": question}, headers=me
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["finish_reason"] == "refused" and body["content"] != reply
    assert llm.request_count == 3


async def test_finding_06_a_practice_test_in_the_chat_never_shows_an_unpassed_quiz_answer(
    client: httpx.AsyncClient, auth: Headers, course: Course, vault: str
) -> None:
    """Before: the practice test drew a cloze question from the answer key ("The _____ of the
    vault is A-u-S-E-C-R-E-T ..."), showing the answer in the question and its feedback;
    after: no question, option, feedback or transcript line carries it while the quiz is not
    passed, and the same request draws on the key once it is."""
    me = auth(course.student)

    async def run_test() -> str:
        """Every text of a whole practice test, answered through to its result."""
        chat_id = await new_session(client, me, course.id)
        started = await client.post(
            f"{API}/chat/sessions/{chat_id}/quiz",
            json={"generate": {"questions": 5, "topic": "the password of the vault"}},
            headers=me,
        )
        assert started.status_code == 200, started.text
        shown = [started.text]
        question: dict[str, Any] | None = started.json()["question"]
        while question is not None:
            answered = await client.post(
                f"{API}/chat/sessions/{chat_id}/answer",
                json={"answer": 0, "question_index": question["question_index"]},
                headers=me,
            )
            assert answered.status_code == 200, answered.text
            shown.append(answered.text)
            question = answered.json()["next_question"]
        transcript = await client.get(f"{API}/chat/sessions/{chat_id}", headers=me)
        return "\n".join([*shown, transcript.text])

    assert not shows_secret(await run_test())
    await pass_vault_quiz(client, auth, course, vault)
    assert shows_secret(await run_test())
