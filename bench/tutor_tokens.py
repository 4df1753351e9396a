"""Tokens one study session costs with the default offline tutor: the basis of the default
tier's signup bonus and daily limit in `.env.example`.

In-process, on a temporary SQLite database: a course whose material is the SciQ support
passages (real textbook text, `../shared/data/sciq/`), one student with the default hint level,
one chat session of N questions (SciQ test questions, so the history grows as in a real
session). For each answer it records the tokens held before the model is called and the tokens
charged after, then prints the mean and percentiles per answer and what a wallet needs so that
N answers in a row never stop: the largest "already spent + next hold" over the session.

    .venv/bin/python bench/tutor_tokens.py [--questions 30] [--passages 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
from pathlib import Path

import httpx
from _harness import ROOT, percentile, table

from studyhall.config import Settings
from studyhall.demo import ensure_user
from studyhall.identity.models import Role
from studyhall.identity.tokens import issue_access_token
from studyhall.jobs.worker import Worker
from studyhall.main import create_app
from studyhall.migrate import upgrade

SCIQ = ROOT.parent / "shared" / "data" / "sciq"
API = "/api/v1"
PASSWORD = "bench-password-123"


async def measure(questions: int, passages: int, tmp: str) -> None:
    records = json.loads((SCIQ / "test.json").read_text())
    with_support = [r for r in records if r["support"].strip()][: max(passages, questions)]
    material = "\n\n".join(
        f"## Passage {i + 1}\n\n{r['support'].strip()}" for i, r in enumerate(with_support)
    )
    asked = [r["question"] for r in with_support[:questions]]
    if True:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        # Defaults everywhere (offline tutor, default answer length and budgets), except what a
        # benchmark needs: no rate limit in the way, and wallets large enough to see every hold.
        settings = Settings(
            environment="test",
            data_dir=Path(tmp) / "data",
            database_url=url,
            secret_key="bench-secret-key-not-for-production-0123456789",
            log_level="WARNING",
            jobs={"in_process_worker": False},  # type: ignore[arg-type]
            rate_limits={"tutor_per_user": "1000/minute"},  # type: ignore[arg-type]
            billing={"signup_bonus": 10_000_000, "tiers": {"free": 10_000_000}},  # type: ignore[arg-type]
        )
        app = create_app(settings, run_worker=False)
        db = app.state.db
        async with db.session() as session:
            teacher, _ = await ensure_user(
                session,
                email="t@bench.example",
                password=PASSWORD,
                full_name="T",
                role=Role.teacher,
            )
            student, _ = await ensure_user(
                session,
                email="s@bench.example",
                password=PASSWORD,
                full_name="S",
                role=Role.student,
            )
        t = {"Authorization": f"Bearer {issue_access_token(settings, teacher)}"}
        s = {"Authorization": f"Bearer {issue_access_token(settings, student)}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            r = await client.post(
                f"{API}/courses",
                json={"code": "SCI100", "title": "Science", "is_published": True},
                headers=t,
            )
            course_id = r.json()["id"]
            r = await client.post(
                f"{API}/courses/{course_id}/documents",
                files={"file": ("science.md", material.encode(), "text/markdown")},
                headers=t,
            )
            assert r.status_code == 202, r.text
            await Worker(db, settings, app.state.storage, name="bench").run_until_idle()
            assert (await client.post(f"{API}/courses/{course_id}/enroll", headers=s)).is_success
            r = await client.post(f"{API}/chat/sessions", json={"course_id": course_id}, headers=s)
            chat = r.json()["id"]
            held: list[int] = []
            charged: list[int] = []
            refusals = 0
            for question in asked:
                r = await client.post(
                    f"{API}/chat/sessions/{chat}/messages", json={"content": question}, headers=s
                )
                assert r.status_code in (200, 201), r.text
                usage = r.json()["usage"]
                charged.append(usage["charged_tokens"])
                refusals += usage["charged_tokens"] == 0
                holds = await client.get(
                    f"{API}/wallet/reservations", params={"limit": 1}, headers=s
                )
                held.append(holds.json()["items"][0]["amount"])
        await db.dispose()
    spent, need = 0, 0
    for hold, charge in zip(held, charged, strict=True):
        need = max(need, spent + hold)
        spent += charge
    answered = [c for c in charged if c]
    print(f"{len(asked)} questions in one chat session, offline tutor, default settings")
    print(
        table(
            [
                ["per answer", "mean", "p50", "p95", "max"],
                ["charged", *_figures(answered)],
                ["held before the call", *_figures(held)],
            ]
        )
    )
    print(f"refusals (charged 0): {refusals}")
    print(f"total charged for the session: {spent}")
    print(f"wallet needed so that no answer is refused (spent so far + next hold): {need}")
    print(f"rounded up to the next 5,000: {5000 * math.ceil(need / 5000)}")


def _figures(values: list[int]) -> list[str]:
    if not values:
        return ["-"] * 4
    floats = [float(v) for v in values]
    return [
        f"{statistics.mean(floats):.0f}",
        f"{percentile(floats, 0.5):.0f}",
        f"{percentile(floats, 0.95):.0f}",
        str(max(values)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--passages", type=int, default=400)
    args = parser.parse_args()
    if not SCIQ.exists():
        raise SystemExit(f"needs the SciQ data in {SCIQ}")
    with tempfile.TemporaryDirectory() as tmp:
        upgrade(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")  # alembic runs its own loop
        asyncio.run(measure(args.questions, args.passages, tmp))


if __name__ == "__main__":
    main()
