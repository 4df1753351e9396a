"""The default tier covers a study session: 30 answers of the default offline tutor in one chat.

The same session as bench/tutor_tokens.py (SciQ test questions against their own support
passages, the history growing answer after answer), with the shipped billing defaults: the signup
bonus and the default tier's daily limit. If answers grow costlier (longer prompts, more history,
bigger holds), this fails before students run dry mid-session; the bench prints the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studyhall.config import BillingSettings, Settings
from studyhall.identity.models import Role
from studyhall.jobs.worker import Worker
from tests.conftest import MakeUser
from tests.tutor.conftest import (
    API,
    Headers,
    MakeClient,
    add_document,
    create_course,
    new_session,
    wallet,
)

SESSION_ANSWERS = 30

# About 20 s of CPU; on a loaded machine (2 shared cores) over a minute of wall time.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def test_the_default_wallet_covers_a_30_answer_session(
    make_client: MakeClient,
    make_user: MakeUser,
    auth: Headers,
    settings: Settings,
    shared_data: Path,
    worker: Worker,
) -> None:
    # The shipped defaults, not a test's: the bonus and the default tier's limit.
    defaults = BillingSettings()
    assert settings.billing.signup_bonus == defaults.signup_bonus
    assert settings.billing.tiers == defaults.tiers
    records = json.loads((shared_data / "sciq" / "test.json").read_text())
    asked = [r for r in records if r["support"].strip()][:SESSION_ANSWERS]
    material = "\n\n".join(
        f"## Passage {i + 1}\n\n{r['support'].strip()}" for i, r in enumerate(asked)
    )
    # Only the per-minute rate limit is lifted: 30 questions in a test arrive within seconds.
    client = await make_client(rate_limits={"tutor_per_user": "1000/minute"})
    teacher, student = await make_user(Role.teacher), await make_user(Role.student)
    course_id = await create_course(client, auth, teacher, students=(student,))
    await add_document(client, auth, teacher, worker, course_id, material.encode())
    me = auth(student)
    start = await wallet(client, me)
    assert start["balance"] == defaults.signup_bonus
    assert start["daily_limit"] == defaults.tiers[defaults.default_tier]

    chat_id = await new_session(client, me, course_id)
    charged: list[int] = []
    for record in asked:
        response = await client.post(
            f"{API}/chat/sessions/{chat_id}/messages",
            json={"content": record["question"]},
            headers=me,
        )
        assert response.status_code == 200, (len(charged), response.text)
        charged.append(response.json()["usage"]["charged_tokens"])

    # A real session: most questions were answered and paid for, not refused for free.
    answered = [c for c in charged if c > 0]
    assert len(answered) >= SESSION_ANSWERS * 3 // 4, charged
    end = await wallet(client, me)
    assert end["balance"] == start["balance"] - sum(charged) >= 0
    assert end["used_today"] == sum(charged) <= end["daily_limit"]
    # Every answer was held before the model ran, and no hold went past what was left.
    response = await client.get(f"{API}/wallet/reservations", params={"limit": 100}, headers=me)
    holds = response.json()["items"]
    assert len(holds) == SESSION_ANSWERS
    assert all(h["status"] == "finalized" and h["actual"] <= h["amount"] for h in holds)
