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

# A statement added to the answer's path must win its place, or replace one. 27 before issue
# 12, then 23; now the session, its history and its system prompt are one read and the
# settlement's session lock is its UPDATE. PostgreSQL's wallet reserve and finalize are one
# statement each (billing's one-statement path), SQLite's five each.
STATEMENTS_PER_ANSWER = {"postgresql": 12, "sqlite": 20}


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
    budget = STATEMENTS_PER_ANSWER[app.state.db.engine.dialect.name]
    assert len(statements) <= budget, listing(statements)
    # Both messages in one INSERT batch, the session updated once (and not read to settle).
    assert sum(s.startswith("INSERT INTO chat_messages") for s in statements) == 1
    assert sum(s.startswith("UPDATE chat_sessions") for s in statements) == 1
    assert sum(s.startswith("SELECT chat_sessions") for s in statements) == 1
    detail = (await client.get(f"{API}/chat/sessions/{chat_id}", headers=me)).json()
    assert detail["message_count"] == 4
    assert detail["title"] == "How do green plants make glucose?"
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"] * 2
    assert (await wallet(client, me))["reserved"] == 0
