"""Who may call each route: the expected-role table of the function-level authorization test.

Every route of the app must be listed (the test fails on a route without an entry, and on an
entry without a route), so a new endpoint cannot ship without someone deciding who may call it.
Roles are the ones the route lets through with the world's own objects (the owner teacher, the
enrolled student); object-level checks for other users of the same role are the BOLA test's.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import TEST_PASSWORD
from tests.security.world import QUESTIONS, World

ANONYMOUS, STUDENT, TEACHER, ADMIN = "anonymous", "student", "teacher", "admin"
ROLES = (ANONYMOUS, STUDENT, TEACHER, ADMIN)

PUBLIC = frozenset(ROLES)
USER = frozenset({STUDENT, TEACHER, ADMIN})
STUDENTS = frozenset({STUDENT})
STAFF = frozenset({TEACHER, ADMIN})
ADMINS = frozenset({ADMIN})

ACCESS: dict[str, frozenset[str]] = {
    # system
    "GET /health": PUBLIC,
    "GET /health/ready": PUBLIC,
    "GET /metrics": PUBLIC,
    "GET /api/v1/system/info": PUBLIC,
    # auth
    "POST /api/v1/auth/register": PUBLIC,
    "POST /api/v1/auth/token": PUBLIC,
    "POST /api/v1/auth/login": PUBLIC,
    "POST /api/v1/auth/refresh": PUBLIC,
    "POST /api/v1/auth/logout": USER,
    "POST /api/v1/auth/verify-email": PUBLIC,
    "POST /api/v1/auth/verify-email/resend": USER,
    "POST /api/v1/auth/password/forgot": PUBLIC,
    "POST /api/v1/auth/password/reset": PUBLIC,
    "POST /api/v1/auth/password/change": USER,
    "POST /api/v1/auth/check-email": PUBLIC,
    # external sign-in ({provider} is a configured name, not an object)
    "GET /api/v1/auth/oauth/providers": PUBLIC,
    "GET /api/v1/auth/oauth/{provider}/authorize": PUBLIC,
    "POST /api/v1/auth/oauth/{provider}/callback": PUBLIC,
    "POST /api/v1/auth/oauth/{provider}/id-token": PUBLIC,
    "GET /api/v1/users/me/identities": USER,
    "DELETE /api/v1/users/me/identities/{identity_id}": USER,
    "GET /api/v1/admin/users/{user_id}/identities": ADMINS,
    "GET /api/v1/admin/sso-domains": ADMINS,
    "POST /api/v1/admin/sso-domains": ADMINS,
    "DELETE /api/v1/admin/sso-domains/{domain_id}": ADMINS,
    # users
    "GET /api/v1/users/me": USER,
    "PATCH /api/v1/users/me": USER,
    "DELETE /api/v1/users/me": USER,
    "GET /api/v1/users/me/prompts": USER,
    "POST /api/v1/users/me/prompts": USER,
    "GET /api/v1/users/me/prompts/{prompt_id}": USER,
    "PATCH /api/v1/users/me/prompts/{prompt_id}": USER,
    "DELETE /api/v1/users/me/prompts/{prompt_id}": USER,
    "POST /api/v1/users/me/audit-logs": USER,
    "GET /api/v1/users/me/audit-logs": USER,
    "GET /api/v1/users/me/audit-logs/{log_id}": USER,
    "GET /api/v1/users/{user_id}": STAFF,
    # admin: users, audit, keys, jobs, stats
    "GET /api/v1/admin/users": ADMINS,
    "POST /api/v1/admin/users": ADMINS,
    "GET /api/v1/admin/users/{user_id}": ADMINS,
    "PATCH /api/v1/admin/users/{user_id}": ADMINS,
    "DELETE /api/v1/admin/users/{user_id}": ADMINS,
    "POST /api/v1/admin/users/{user_id}/reset-password": ADMINS,
    "GET /api/v1/admin/audit-logs": ADMINS,
    "GET /api/v1/admin/audit-logs/{log_id}": ADMINS,
    "GET /api/v1/admin/api-keys": ADMINS,
    "POST /api/v1/admin/api-keys": ADMINS,
    "DELETE /api/v1/admin/api-keys/{key_id}": ADMINS,
    "GET /api/v1/admin/jobs": ADMINS,
    "GET /api/v1/admin/jobs/{job_id}": ADMINS,
    "POST /api/v1/admin/jobs/{job_id}/retry": ADMINS,
    "POST /api/v1/admin/jobs/dispatch": ADMINS,
    "GET /api/v1/admin/stats": ADMINS,
    # courses
    "GET /api/v1/catalog/courses": PUBLIC,
    "GET /api/v1/catalog/courses/{course_id}": PUBLIC,
    "GET /api/v1/courses": USER,
    "POST /api/v1/courses": STAFF,
    "GET /api/v1/courses/enrolled": STUDENTS,
    "GET /api/v1/courses/{course_id}": USER,
    "PATCH /api/v1/courses/{course_id}": STAFF,
    "DELETE /api/v1/courses/{course_id}": STAFF,
    "POST /api/v1/courses/{course_id}/enroll": STUDENTS,
    "DELETE /api/v1/courses/{course_id}/enroll": STUDENTS,
    "GET /api/v1/courses/{course_id}/students": STAFF,
    "POST /api/v1/courses/{course_id}/students": STAFF,
    "POST /api/v1/courses/{course_id}/students/import": STAFF,
    "DELETE /api/v1/courses/{course_id}/students/{student_id}": STAFF,
    "POST /api/v1/courses/{course_id}/join-code": STAFF,
    "POST /api/v1/courses/{course_id}/checkout": STUDENTS,
    "GET /api/v1/courses/{course_id}/token-budget": STAFF,
    "PUT /api/v1/courses/{course_id}/token-budget": ADMINS,
    "GET /api/v1/courses/{course_id}/progress": STUDENTS,
    "POST /api/v1/courses/{course_id}/modules": STAFF,
    "PATCH /api/v1/modules/{module_id}": STAFF,
    "DELETE /api/v1/modules/{module_id}": STAFF,
    "POST /api/v1/courses/{course_id}/lessons": STAFF,
    "GET /api/v1/lessons/{lesson_id}": USER,
    "PATCH /api/v1/lessons/{lesson_id}": STAFF,
    "DELETE /api/v1/lessons/{lesson_id}": STAFF,
    "PUT /api/v1/lessons/{lesson_id}/progress": STUDENTS,
    "GET /api/v1/lessons/{lesson_id}/video-analytics": STAFF,
    "GET /api/v1/lessons/{lesson_id}/quizzes": USER,
    "GET /api/v1/courses/{course_id}/teachers": STAFF,
    "POST /api/v1/courses/{course_id}/assistants": STAFF,
    "DELETE /api/v1/courses/{course_id}/assistants/{user_id}": STAFF,
    "GET /api/v1/teacher/students": STAFF,
    "GET /api/v1/courses/{course_id}/analytics": STAFF,
    # assessments
    "POST /api/v1/courses/{course_id}/quizzes": STAFF,
    "GET /api/v1/courses/{course_id}/quizzes": USER,
    "GET /api/v1/courses/{course_id}/gradebook": USER,
    "POST /api/v1/courses/{course_id}/quizzes/import": STAFF,
    "GET /api/v1/quizzes/{quiz_id}": USER,
    "PATCH /api/v1/quizzes/{quiz_id}": STAFF,
    "DELETE /api/v1/quizzes/{quiz_id}": STAFF,
    "POST /api/v1/quizzes/{quiz_id}/attempts/start": STUDENTS,
    "POST /api/v1/quizzes/{quiz_id}/attempts": STUDENTS,
    "GET /api/v1/quizzes/{quiz_id}/attempts": USER,
    "GET /api/v1/attempts/{attempt_id}": frozenset({STUDENT, TEACHER, ADMIN}),
    "POST /api/v1/courses/{course_id}/assignments": STAFF,
    "GET /api/v1/courses/{course_id}/assignments": USER,
    "GET /api/v1/assignments/{assignment_id}": USER,
    "PATCH /api/v1/assignments/{assignment_id}": STAFF,
    "DELETE /api/v1/assignments/{assignment_id}": STAFF,
    "POST /api/v1/assignments/{assignment_id}/submissions": STUDENTS,
    "GET /api/v1/assignments/{assignment_id}/submissions": USER,
    "GET /api/v1/submissions/{submission_id}": USER,
    "GET /api/v1/submissions/{submission_id}/file": USER,
    "PUT /api/v1/submissions/{submission_id}/grade": STAFF,
    # billing
    "GET /api/v1/wallet": USER,
    "GET /api/v1/wallet/reservations": USER,
    "GET /api/v1/wallet/reservations/{reservation_id}": USER,
    "GET /api/v1/wallet/transactions": USER,
    "GET /api/v1/admin/wallets/{user_id}": ADMINS,
    "PATCH /api/v1/admin/wallets/{user_id}": ADMINS,
    "POST /api/v1/admin/wallets/{user_id}/topup": ADMINS,
    "GET /api/v1/admin/wallets/{user_id}/reservations": ADMINS,
    "POST /api/v1/admin/wallets/{user_id}/reservations": ADMINS,
    "POST /api/v1/admin/reservations/{reservation_id}/finalize": ADMINS,
    "POST /api/v1/admin/reservations/{reservation_id}/release": ADMINS,
    "GET /api/v1/admin/transactions": ADMINS,
    "POST /api/v1/admin/expenses": ADMINS,
    "GET /api/v1/admin/expenses": ADMINS,
    "GET /api/v1/courses/{course_id}/token-cap": ADMINS,
    "PUT /api/v1/courses/{course_id}/token-cap": ADMINS,
    "GET /api/v1/payments/packages": USER,
    "POST /api/v1/payments/checkout": USER,
    "POST /api/v1/admin/bulk-topups": ADMINS,
    # Public, but only a correctly signed Stripe event is accepted (400 otherwise).
    "POST /api/v1/payments/webhook": PUBLIC,
    # knowledge
    "POST /api/v1/courses/{course_id}/documents": STAFF,
    "POST /api/v1/library/documents": ADMINS,
    "GET /api/v1/library/documents": ADMINS,
    "GET /api/v1/courses/{course_id}/documents": USER,
    "GET /api/v1/documents/{document_id}": USER,
    "PATCH /api/v1/documents/{document_id}": STAFF,
    "DELETE /api/v1/documents/{document_id}": STAFF,
    "POST /api/v1/documents/{document_id}/reingest": STAFF,
    "GET /api/v1/documents/{document_id}/chunks": STAFF,
    "GET /api/v1/documents/{document_id}/file": USER,
    "POST /api/v1/courses/{course_id}/search": USER,
    "GET /api/v1/courses/{course_id}/library": USER,
    "PUT /api/v1/courses/{course_id}/library": STAFF,
    "GET /api/v1/library/subjects": PUBLIC,
    "GET /api/v1/library/textbooks": PUBLIC,
    "GET /api/v1/library/textbooks/{document_id}": PUBLIC,
    "GET /api/v1/admin/sources": ADMINS,
    "POST /api/v1/admin/sources": ADMINS,
    "GET /api/v1/admin/sources/{source_id}": ADMINS,
    "POST /api/v1/admin/sources/{source_id}/sync": ADMINS,
    "GET /api/v1/admin/sources/{source_id}/runs": ADMINS,
    "GET /api/v1/admin/sync-runs": ADMINS,
    "GET /api/v1/sources": PUBLIC,
    "GET /api/v1/sources/{source_id}/runs": PUBLIC,
    "GET /api/v1/sources/{source_id}/references": PUBLIC,
    "GET /api/v1/admin/references": ADMINS,
    "POST /api/v1/admin/references/{reference_id}/ingest": ADMINS,
    # videos (the tus protocol routes are outside the schema: see test_api9)
    "POST /api/v1/courses/{course_id}/videos": STAFF,
    "GET /api/v1/courses/{course_id}/videos": USER,
    "GET /api/v1/videos/{video_id}": USER,
    "PATCH /api/v1/videos/{video_id}": STAFF,
    "DELETE /api/v1/videos/{video_id}": STAFF,
    "PUT /api/v1/lessons/{lesson_id}/video": STAFF,
    "GET /api/v1/videos/{video_id}/stream": USER,
    "POST /api/v1/videos/{video_id}/heartbeats": STUDENTS,
    "GET /api/v1/videos/{video_id}/analytics": STAFF,
}

TUTOR_ACCESS: dict[str, frozenset[str]] = {
    "POST /api/v1/chat/sessions": USER,
    "GET /api/v1/chat/sessions": USER,
    "GET /api/v1/chat/sessions/{session_id}": USER,
    "PATCH /api/v1/chat/sessions/{session_id}": USER,
    "DELETE /api/v1/chat/sessions/{session_id}": USER,
    "POST /api/v1/chat/sessions/{session_id}/messages": USER,
    "POST /api/v1/chat": USER,
    "POST /api/v1/chat/sessions/{session_id}/quiz": USER,
    "POST /api/v1/chat/sessions/{session_id}/answer": USER,
    "GET /api/v1/courses/{course_id}/chat-sessions": STAFF,
    "GET /api/v1/courses/{course_id}/chat-sessions/{session_id}": STAFF,
    "POST /api/v1/chat/sessions/{session_id}/prompts": USER,
    "GET /api/v1/chat/sessions/{session_id}/prompts": USER,
    "GET /api/v1/chat/prompts/{prompt_id}": USER,
    "PATCH /api/v1/chat/prompts/{prompt_id}": USER,
    "DELETE /api/v1/chat/prompts/{prompt_id}": USER,
    "GET /api/v1/admin/system-prompts": ADMINS,
    "POST /api/v1/admin/system-prompts": ADMINS,
    "GET /api/v1/admin/system-prompts/{prompt_id}": ADMINS,
    "PATCH /api/v1/admin/system-prompts/{prompt_id}": ADMINS,
    "DELETE /api/v1/admin/system-prompts/{prompt_id}": ADMINS,
}
ACCESS.update(TUTOR_ACCESS)

WORKSPACE_ACCESS: dict[str, frozenset[str]] = {
    "POST /api/v1/workspaces": USER,
    "GET /api/v1/workspaces/me": USER,
    "DELETE /api/v1/workspaces/me": USER,
    "GET /api/v1/courses/{course_id}/workspace-profile": STAFF,
    "PUT /api/v1/courses/{course_id}/workspace-profile": STAFF,
    "GET /api/v1/admin/workspaces": ADMINS,
    "POST /api/v1/admin/workspaces/{workspace_id}/stop": ADMINS,
}
ACCESS.update(WORKSPACE_ACCESS)

# Routes that need a peer the world does not run (a container engine): their documented 503
# (with this code) means the caller was let through.
UNAVAILABLE_PEER: dict[str, str] = {"POST /api/v1/workspaces": "workspace_backend_unavailable"}

# The workspace proxy (outside /api/v1 and the schema: it carries whatever a workspace serves).
# Only the workspace's owner gets through: anonymous 401, any other user 403 (admins too: a
# student's environment is theirs), an unknown id 404, a workspace that is not running 409.
PROXY_ROUTES = frozenset({"/workspaces/{workspace_id}/{path}"})
PROXY_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def path_ids(world: World, template: str, role: str) -> dict[str, str]:
    """The world's object for each path parameter of a route, as the role's own where it has one."""
    own = role if role in (STUDENT, TEACHER, ADMIN) else STUDENT
    course = world.published
    ids = {
        "course_id": course.course,
        "module_id": course.module,
        "lesson_id": course.lesson,
        "quiz_id": course.quiz,
        "assignment_id": course.assignment,
        "document_id": course.document,
        "attempt_id": world.attempt,
        "submission_id": world.submission,
        "user_id": str(world.student.id),
        # Not in the course: removing them is a 404 that leaves the world as it is.
        "student_id": str(world.other_student.id),
        "key_id": world.api_key,
        "job_id": world.published.job,
        "source_id": world.source,
        "reference_id": world.reference,
        "reservation_id": world.reservations[own],
        "prompt_id": world.prompts[own],
        "session_id": world.chat_sessions.get(own, ""),
        "provider": "school",
        "identity_id": world.identities.get(own, ""),
        "domain_id": world.sso_domain,
        "log_id": world.audit_logs.get(own, ""),
        "workspace_id": world.workspace,
        "video_id": course.video,
    }
    if template.startswith("/api/v1/chat/prompts/"):
        ids["prompt_id"] = world.prompt_records.get(own, "")
    if template.startswith("/api/v1/library/textbooks/"):
        ids["document_id"] = world.library_document
    if template.startswith("/api/v1/admin/system-prompts/"):
        ids["prompt_id"] = world.system_prompt or ""
    if template.startswith("/api/v1/admin/reservations/"):
        ids["reservation_id"] = world.reservations[STUDENT]
    if template.startswith("/api/v1/courses/{course_id}/chat-sessions/"):
        ids["session_id"] = world.chat_sessions.get(STUDENT, "")
    return ids


def fill(template: str, ids: dict[str, str]) -> str:
    """The concrete path of a template."""
    return template.format(**{k: v for k, v in ids.items() if "{" + k + "}" in template})


def request_body(world: World, key: str) -> dict[str, Any]:
    """A valid body for a write (so an allowed caller gets past validation), else {}."""
    published = world.published
    bodies: dict[str, dict[str, Any]] = {
        "POST /api/v1/auth/register": {
            "email": "new-user@example.org",
            "password": "Another-Long-Passphrase-9",
            "full_name": "New User",
        },
        "POST /api/v1/auth/login": {"email": world.other_student.email, "password": TEST_PASSWORD},
        "POST /api/v1/auth/token": {
            "username": world.other_student.email,
            "password": TEST_PASSWORD,
        },
        "POST /api/v1/auth/refresh": {"refresh_token": "not-a-token"},
        "POST /api/v1/auth/logout": {"refresh_token": "not-a-token"},
        "POST /api/v1/auth/verify-email": {"token": "not-a-token"},
        "POST /api/v1/auth/password/forgot": {"email": "nobody@example.org"},
        "POST /api/v1/auth/password/reset": {
            "token": "not-a-token",
            "new_password": "Another-Long-Passphrase-9",
        },
        "POST /api/v1/auth/password/change": {
            "current_password": "wrong-password",
            "new_password": "Another-Long-Passphrase-9",
        },
        "POST /api/v1/auth/check-email": {"email": "nobody@example.org"},
        "POST /api/v1/auth/oauth/{provider}/callback": {
            "code": "not-a-code",
            "state": "not-a-state",
            "redirect_uri": "https://app.example.org/sso/callback",
        },
        "POST /api/v1/auth/oauth/{provider}/id-token": {"id_token": "not.a.token"},
        "POST /api/v1/admin/sso-domains": {"domain": "another-sso.example.org"},
        "PATCH /api/v1/users/me": {"full_name": "Renamed"},
        "POST /api/v1/users/me/prompts": {"title": "t", "prompt_text": "p"},
        "PATCH /api/v1/users/me/prompts/{prompt_id}": {"title": "t2"},
        "POST /api/v1/users/me/audit-logs": {"action": "report.opened"},
        "POST /api/v1/chat/sessions/{session_id}/prompts": {"prompt_text": "p"},
        "PATCH /api/v1/chat/prompts/{prompt_id}": {"llm_responses": ["b"]},
        "POST /api/v1/admin/users": {
            "email": "made-by-admin@example.org",
            "password": "Another-Long-Passphrase-9",
            "full_name": "Made",
            "role": "teacher",
        },
        "PATCH /api/v1/admin/users/{user_id}": {"full_name": "Renamed"},
        "POST /api/v1/admin/users/{user_id}/reset-password": {
            "new_password": "Another-Long-Passphrase-9"
        },
        "POST /api/v1/admin/api-keys": {
            "name": "k",
            "scopes": ["read"],
            "acts_as_role": "student",
        },
        "POST /api/v1/courses": {"code": "NEW001", "title": "New"},
        "PATCH /api/v1/courses/{course_id}": {"description": "Updated"},
        "POST /api/v1/courses/{course_id}/students": {"email": "added-by-teacher@example.org"},
        "POST /api/v1/courses/{course_id}/assistants": {"email": "colleague@example.org"},
        "POST /api/v1/courses/{course_id}/modules": {"title": "M2"},
        "PATCH /api/v1/modules/{module_id}": {"title": "M1b"},
        "POST /api/v1/courses/{course_id}/lessons": {"title": "L2"},
        "PATCH /api/v1/lessons/{lesson_id}": {"title": "L1b"},
        "PUT /api/v1/lessons/{lesson_id}/progress": {"completed": True},
        "POST /api/v1/courses/{course_id}/quizzes": {"title": "Q2", "questions": QUESTIONS},
        "POST /api/v1/courses/{course_id}/quizzes/import": {
            "items": [
                {
                    "question": "Which gas do plants release?",
                    "correct_answer": "oxygen",
                    "distractor1": "helium",
                    "distractor2": "neon",
                    "distractor3": "argon",
                    "support": "Photosynthesis releases oxygen.",
                }
            ]
        },
        "PATCH /api/v1/quizzes/{quiz_id}": {"title": "Renamed"},
        "POST /api/v1/quizzes/{quiz_id}/attempts": {"answers": ["4", True]},
        "POST /api/v1/courses/{course_id}/assignments": {"title": "A2"},
        "PATCH /api/v1/assignments/{assignment_id}": {"title": "Renamed"},
        "POST /api/v1/assignments/{assignment_id}/submissions": {"content": "Again"},
        "PUT /api/v1/submissions/{submission_id}/grade": {"score": 8, "feedback": "Good"},
        "PATCH /api/v1/admin/wallets/{user_id}": {"tier": "basic"},
        "POST /api/v1/admin/wallets/{user_id}/topup": {"amount": 100, "reason": "gift"},
        "POST /api/v1/admin/wallets/{user_id}/reservations": {"amount": 5},
        "POST /api/v1/admin/reservations/{reservation_id}/finalize": {"actual": 3},
        "POST /api/v1/admin/expenses": {"category": "api", "amount": 100, "currency": "usd"},
        "PUT /api/v1/courses/{course_id}/token-cap": {"daily_cap": 1000},
        "PUT /api/v1/courses/{course_id}/token-budget": {"token_budget": 100000},
        "POST /api/v1/admin/bulk-topups": {
            "amount": 10,
            "reason": "gift",
            "course_id": published.course,
        },
        "POST /api/v1/payments/checkout": {"package_id": "small"},
        "PATCH /api/v1/documents/{document_id}": {"title": "Renamed"},
        "POST /api/v1/courses/{course_id}/search": {"query": "light"},
        "PUT /api/v1/courses/{course_id}/library": {"document_ids": [world.library_document]},
        "POST /api/v1/admin/sources": {"name": "s", "url": "https://portal.example.org/"},
        "POST /api/v1/chat/sessions": {"course_id": published.course},
        "PATCH /api/v1/chat/sessions/{session_id}": {"title": "Renamed"},
        "POST /api/v1/chat/sessions/{session_id}/messages": {"content": "What is light?"},
        "POST /api/v1/chat": {"course_id": published.course, "content": "What is light?"},
        "POST /api/v1/chat/sessions/{session_id}/quiz": {"quiz_id": published.quiz},
        "POST /api/v1/chat/sessions/{session_id}/answer": {"answer": "4", "question_index": 0},
        "POST /api/v1/admin/system-prompts": {"name": "v2", "content": "Be kind."},
        "PATCH /api/v1/admin/system-prompts/{prompt_id}": {"name": "v1b"},
        "PUT /api/v1/courses/{course_id}/workspace-profile": {"profile": "default"},
        "POST /api/v1/courses/{course_id}/videos": {"title": "Lecture 2", "size_bytes": 1000},
        "PATCH /api/v1/videos/{video_id}": {"title": "Renamed"},
        "PUT /api/v1/lessons/{lesson_id}/video": {"video_id": published.video},
        "POST /api/v1/videos/{video_id}/heartbeats": {"position_s": 1.5},
    }
    return bodies.get(key, {})
