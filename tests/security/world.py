"""One object of every resource that has an id, built through the API, for the security tests.

`build_world` creates, for a teacher, a published course (a student enrolled) and a draft course,
each with a module, a lesson, a quiz, an assignment and a document; the student's attempt,
submission (with a file), lesson progress and saved prompt; a reservation in every user's wallet;
and, as the admin, an API key, a library document, a curriculum source with a discovered
reference, and (when the tutor is mounted) chat sessions and a system prompt. The OWASP module
and the Schemathesis run both use it: the first to check who may reach what, the second to fuzz
with ids that exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.identity.models import User
from studyhall.identity.oauth.models import OAuthAccount
from studyhall.knowledge.models import Reference

API = "/api/v1"
Headers = Callable[[User], dict[str, str]]
MakeUser = Callable[..., Awaitable[User]]

QUESTIONS = [
    {
        "prompt": "2 + 2 = ?",
        "kind": "single",
        "options": ["3", "4", "5"],
        "answer": "4",
        "explanation": "Basic addition",
    },
    {"prompt": "The sky is blue", "kind": "true_false", "answer": True},
]
TEXT_DOCUMENT = (
    b"# Photosynthesis\n\nPlants turn light, water and carbon dioxide into glucose and oxygen. "
    b"Chlorophyll in the chloroplasts absorbs mostly red and blue light.\n"
)


@dataclass
class CourseObjects:
    """A course and one object of each kind inside it (ids)."""

    course: str
    code: str
    module: str
    lesson: str
    quiz: str
    assignment: str
    document: str
    job: str
    video: str


@dataclass
class World:
    """The users and the ids of their objects."""

    admin: User
    teacher: User
    student: User
    other_teacher: User
    other_student: User
    published: CourseObjects
    draft: CourseObjects
    attempt: str
    submission: str
    prompts: dict[str, str]
    reservations: dict[str, str]
    api_key: str
    api_key_secret: str
    library_document: str
    library_job: str
    source: str
    reference: str
    chat_sessions: dict[str, str] = field(default_factory=dict)
    # Each user's prompt record (in their chat session) and client-written audit entry.
    prompt_records: dict[str, str] = field(default_factory=dict)
    audit_logs: dict[str, str] = field(default_factory=dict)
    system_prompt: str | None = None
    # Each user's external identity (made directly: linking one needs a provider's sign-in).
    identities: dict[str, str] = field(default_factory=dict)
    sso_domain: str = ""
    # The student's workspace (left `failed` by the default `off` backend).
    workspace: str = ""

    def user(self, role: str) -> User:
        """The main user of a role."""
        return {"admin": self.admin, "teacher": self.teacher, "student": self.student}[role]


async def _ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.request.url, response.text)
    return response.json() if response.content else None


async def _course(
    client: httpx.AsyncClient, headers: dict[str, str], *, published: bool
) -> CourseObjects:
    code = f"SEC{uuid.uuid4().hex[:8].upper()}"
    course = await _ok(
        await client.post(
            f"{API}/courses",
            json={
                "code": code,
                "title": f"Biology {'published' if published else 'draft'}",
                "description": "Cells and plants",
                "guide": "Teach with questions first.",
                "is_published": published,
            },
            headers=headers,
        ),
        201,
    )
    cid = course["id"]
    module = await _ok(
        await client.post(f"{API}/courses/{cid}/modules", json={"title": "M1"}, headers=headers),
        201,
    )
    lesson = await _ok(
        await client.post(
            f"{API}/courses/{cid}/lessons",
            json={
                "module_id": module["id"],
                "title": "Light",
                "content": "# Light\n\nPlants need light.",
                "video_url": "https://video.example.org/light.mp4",
                "duration_s": 100,
            },
            headers=headers,
        ),
        201,
    )
    quiz = await _ok(
        await client.post(
            f"{API}/courses/{cid}/quizzes",
            json={"title": "Check", "lesson_id": lesson["id"], "questions": QUESTIONS},
            headers=headers,
        ),
        201,
    )
    assignment = await _ok(
        await client.post(
            f"{API}/courses/{cid}/assignments",
            json={
                "title": "Essay",
                "description": "Write about light",
                "due_at": (utcnow() + timedelta(days=7)).isoformat(),
                "max_score": 10,
            },
            headers=headers,
        ),
        201,
    )
    upload = await _ok(
        await client.post(
            f"{API}/courses/{cid}/documents",
            files={"file": ("light.md", TEXT_DOCUMENT, "text/markdown")},
            data={"title": "Light notes"},
            headers=headers,
        ),
        202,
    )
    # A short lecture uploaded over tus (StudyHall's own endpoint), ready to stream.
    lecture = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00" + b"frames" * 100
    video = await _ok(
        await client.post(
            f"{API}/courses/{cid}/videos",
            json={"title": "Light, filmed", "size_bytes": len(lecture)},
            headers=headers,
        ),
        201,
    )
    await _ok(
        await client.patch(
            video["upload_link"],
            content=lecture,
            headers={
                **headers,
                "Tus-Resumable": "1.0.0",
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
            },
        ),
        204,
    )
    return CourseObjects(
        course=cid,
        code=code,
        module=module["id"],
        lesson=lesson["id"],
        quiz=quiz["id"],
        assignment=assignment["id"],
        document=upload["document"]["id"],
        job=upload["job"]["id"],
        video=video["video_id"],
    )


async def build_world(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers, db: Database
) -> World:
    """Create every object through the API (a crawled reference directly: it needs a crawl)."""
    admin = await make_user("admin")
    teacher = await make_user("teacher")
    student = await make_user("student")
    other_teacher = await make_user("teacher")
    other_student = await make_user("student")
    a, t, s = auth(admin), auth(teacher), auth(student)

    published = await _course(client, t, published=True)
    draft = await _course(client, t, published=False)

    await _ok(await client.post(f"{API}/courses/{published.course}/enroll", headers=s), 201)
    await _ok(
        await client.put(
            f"{API}/lessons/{published.lesson}/progress",
            json={"video_position_s": 30, "video_watched_s": 30},
            headers=s,
        ),
        200,
    )
    attempt = await _ok(
        await client.post(
            f"{API}/quizzes/{published.quiz}/attempts",
            json={"answers": ["4", False], "time_spent_s": 12},
            headers=s,
        ),
        200,
    )
    submission = await _ok(
        await client.post(
            f"{API}/assignments/{published.assignment}/submissions",
            files={"file": ("essay.txt", b"Light is energy.\n", "text/plain")},
            data={"content": "My essay"},
            headers=s,
        ),
        201,
    )

    prompts: dict[str, str] = {}
    reservations: dict[str, str] = {}
    for role, user in (("admin", admin), ("teacher", teacher), ("student", student)):
        prompt = await _ok(
            await client.post(
                f"{API}/users/me/prompts",
                json={"title": f"{role} prompt", "prompt_text": "Explain like I am ten"},
                headers=auth(user),
            ),
            201,
        )
        prompts[role] = prompt["id"]
        reservation = await _ok(
            await client.post(
                f"{API}/admin/wallets/{user.id}/reservations",
                json={"amount": 10, "purpose": "security test"},
                headers=a,
            ),
            201,
        )
        reservations[role] = reservation["id"]

    key = await _ok(
        await client.post(
            f"{API}/admin/api-keys",
            json={"name": "reporting", "scopes": ["read"], "acts_as_role": "teacher"},
            headers=a,
        ),
        201,
    )
    library = await _ok(
        await client.post(
            f"{API}/library/documents",
            files={"file": ("plants.md", TEXT_DOCUMENT, "text/markdown")},
            data={"title": "Plants", "subject": "biology", "language": "en", "level": "7"},
            headers=a,
        ),
        202,
    )
    source = await _ok(
        await client.post(
            f"{API}/admin/sources",
            json={"name": "Ministry portal", "url": "https://curriculum.example.org/books/"},
            headers=a,
        ),
        201,
    )
    async with db.session() as session:
        reference = Reference(
            source_id=uuid.UUID(source["id"]),
            url="https://curriculum.example.org/books/biology-7.pdf",
            title="Biology 7",
            subject="biology",
            language="en",
        )
        session.add(reference)
        await session.flush()
        reference_id = str(reference.id)

    world = World(
        admin=admin,
        teacher=teacher,
        student=student,
        other_teacher=other_teacher,
        other_student=other_student,
        published=published,
        draft=draft,
        attempt=attempt["id"],
        submission=submission["id"],
        prompts=prompts,
        reservations=reservations,
        api_key=key["id"],
        api_key_secret=key["key"],
        library_document=library["document"]["id"],
        library_job=library["job"]["id"],
        source=source["id"],
        reference=reference_id,
    )
    for role, user in (("admin", admin), ("teacher", teacher), ("student", student)):
        chat = await _ok(
            await client.post(
                f"{API}/chat/sessions",
                json={"course_id": published.course, "title": f"{role} chat"},
                headers=auth(user),
            ),
            201,
        )
        world.chat_sessions[role] = chat["id"]
        record = await _ok(
            await client.post(
                f"{API}/chat/sessions/{chat['id']}/prompts",
                json={"prompt_text": f"{role} prompt", "llm_responses": ["an answer"]},
                headers=auth(user),
            ),
            201,
        )
        world.prompt_records[role] = record["id"]
        entry = await _ok(
            await client.post(
                f"{API}/users/me/audit-logs",
                json={"action": "page.viewed", "details": {"page": role}},
                headers=auth(user),
            ),
            201,
        )
        world.audit_logs[role] = entry["id"]
    prompt = await _ok(
        await client.post(
            f"{API}/admin/system-prompts",
            json={"name": "v1", "content": "You are a patient tutor.", "activate": False},
            headers=a,
        ),
        201,
    )
    world.system_prompt = prompt["id"]
    async with db.session() as session:
        for role, user in (("admin", admin), ("teacher", teacher), ("student", student)):
            identity = OAuthAccount(
                provider="school",
                issuer="https://login.school.example",
                subject=f"{role}-{user.id}",
                user_id=user.id,
                email=user.email,
                created_at=utcnow(),
            )
            session.add(identity)
            await session.flush()
            world.identities[role] = str(identity.id)
    sso = await _ok(
        await client.post(
            f"{API}/admin/sso-domains", json={"domain": "sso-only.example.org"}, headers=a
        ),
        201,
    )
    world.sso_domain = sso["id"]
    # Without a container engine (the default `off` backend) a start is the documented 503 and
    # leaves the student's workspace `failed`: an object for the workspace routes.
    await _ok(await client.post(f"{API}/workspaces", json={}, headers=s), 503)
    workspace = await _ok(await client.get(f"{API}/workspaces/me", headers=s), 200)
    world.workspace = workspace["id"]
    return world
