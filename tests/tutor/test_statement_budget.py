"""What one tutor answer costs the database: statements, counted (issue 12).

A student's follow-up question in a course session, the model offline: authentication, the
reads of the answer (session, history, course and enrollment, system prompt, quiz guard,
retrieval), the hold, and the settlement (charge, both messages, the session, activity).
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.sql_statements import listing, recorded_statements
from tests.tutor.conftest import API, Course, Headers, new_session, wallet

# The count after issue 12's first batching (27 before): a statement added to the answer's
# path must win its place, or replace one.
STATEMENTS_PER_ANSWER = 23


async def test_a_follow_up_answer_stays_within_its_statement_budget(
    client: httpx.AsyncClient, app: Any, auth: Headers, course: Course
) -> None:
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    first = await client.post(
        f"{API}/chat/sessions/{chat_id}/messages",
        json={"content": "How do green plants make glucose?"},
        headers=me,
    )
    assert first.status_code == 200, first.text
    with recorded_statements(app.state.db.engine) as statements:
        response = await client.post(
            f"{API}/chat/sessions/{chat_id}/messages",
            json={"content": "Where does aerobic respiration happen?"},
            headers=me,
        )
    assert response.status_code == 200, response.text
    assert len(statements) <= STATEMENTS_PER_ANSWER, listing(statements)
    # Both messages in one INSERT batch, the session updated once.
    assert sum(s.startswith("INSERT INTO chat_messages") for s in statements) == 1
    assert sum(s.startswith("UPDATE chat_sessions") for s in statements) == 1
    detail = (await client.get(f"{API}/chat/sessions/{chat_id}", headers=me)).json()
    assert detail["message_count"] == 4
    assert detail["title"] == "How do green plants make glucose?"
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"] * 2
    assert (await wallet(client, me))["reserved"] == 0
