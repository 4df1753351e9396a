"""Who may call each compatibility-dialect route: its canonical twin's entry in access.py.

Every dialect route must be listed (the test fails on a route without an entry, and on an entry
without a route). A dialect route is a translation of a canonical route, so it names that twin
and is expected to let exactly the twin's roles through; a route with no canonical twin (an
outside engine that is absent) gives its role set itself.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Mount

from studyhall.core.routes import api_routes
from tests.security.access import ACCESS, ADMINS, PUBLIC, STAFF, USER

ST = "/compat/subject-tutor"
CP = "/compat/chat-prompts/api/v1"
EL = "/compat/elearning/api/v1"

# Dialect route -> canonical twin route (or the role set when there is no twin).
TWINS: dict[str, str | frozenset[str]] = {
    # subject-tutor (000)
    f"POST {ST}/register": "POST /api/v1/auth/register",
    f"POST {ST}/token": "POST /api/v1/auth/token",
    f"GET {ST}/users/me": "GET /api/v1/users/me",
    f"PUT {ST}/users/me": "PATCH /api/v1/users/me",
    f"GET {ST}/users/{{username}}": "GET /api/v1/users/{user_id}",
    # The document lists subjects for signed-in users only (401 without a token).
    f"GET {ST}/subjects": USER,
    # The document creates subjects by admins only (stricter than the canonical route).
    f"POST {ST}/subjects": ADMINS,
    f"PUT {ST}/subjects/{{subject_id}}": "PATCH /api/v1/courses/{course_id}",
    f"DELETE {ST}/subjects/{{subject_id}}": "DELETE /api/v1/courses/{course_id}",
    f"GET {ST}/subjects/enrolled": "GET /api/v1/courses/enrolled",
    f"POST {ST}/subjects/{{subject_id}}/enroll": "POST /api/v1/courses/{course_id}/enroll",
    f"GET {ST}/professor/students": "GET /api/v1/teacher/students",
    f"GET {ST}/professor/subjects/{{subject_id}}/analytics": (
        "GET /api/v1/courses/{course_id}/analytics"
    ),
    f"POST {ST}/chat": "POST /api/v1/chat",
    f"GET {ST}/sessions": "GET /api/v1/chat/sessions",
    f"GET {ST}/sessions/{{session_id}}": "GET /api/v1/chat/sessions/{session_id}",
    f"DELETE {ST}/sessions/{{session_id}}": "DELETE /api/v1/chat/sessions/{session_id}",
    f"POST {ST}/sessions/{{session_id}}/resume_chat": (
        "POST /api/v1/chat/sessions/{session_id}/answer"
    ),
    f"GET {ST}/admin/users": "GET /api/v1/admin/users",
    f"POST {ST}/admin/users/{{username}}/role": "PATCH /api/v1/admin/users/{user_id}",
    f"GET {ST}/health": "GET /health",
    f"GET {ST}/system/info": "GET /api/v1/system/info",
    f"GET {ST}/metrics": "GET /metrics",
    # bacmr (001)
    "GET /compat/bacmr/health": "GET /health",
    "POST /compat/bacmr/auth/signup": "POST /api/v1/auth/register",
    "POST /compat/bacmr/auth/signin": "POST /api/v1/auth/login",
    # Client-side logout: nothing to authorize (it changes nothing on the server).
    "POST /compat/bacmr/auth/logout": PUBLIC,
    "POST /compat/bacmr/auth/reset-password": "POST /api/v1/auth/password/forgot",
    "GET /compat/bacmr/me": "GET /api/v1/users/me",
    "PATCH /compat/bacmr/me": "PATCH /api/v1/users/me",
    "GET /compat/bacmr/wallet/balance": "GET /api/v1/wallet",
    "GET /compat/bacmr/wallet/reservations": "GET /api/v1/wallet/reservations",
    "POST /compat/bacmr/wallet/topup": "POST /api/v1/admin/wallets/{user_id}/topup",
    "POST /compat/bacmr/wallet/transactions/expense": "POST /api/v1/admin/expenses",
    "GET /compat/bacmr/wallet/transactions": "GET /api/v1/admin/transactions",
    "POST /compat/bacmr/wallet/internal/reserve": "POST /api/v1/admin/wallets/{user_id}/reservations",
    "POST /compat/bacmr/wallet/internal/finalize": (
        "POST /api/v1/admin/reservations/{reservation_id}/finalize"
    ),
    # Only an administrator gets through: the answer is that check.
    "GET /compat/bacmr/admin/test-role": ADMINS,
    "GET /compat/bacmr/admin/users": "GET /api/v1/admin/users",
    "POST /compat/bacmr/admin/users": "POST /api/v1/admin/users",
    "PATCH /compat/bacmr/admin/users/{user_id}/role": "PATCH /api/v1/admin/users/{user_id}",
    "PATCH /compat/bacmr/admin/users/{user_id}/hint-level": "PATCH /api/v1/admin/users/{user_id}",
    "DELETE /compat/bacmr/admin/users/{user_id}": "DELETE /api/v1/admin/users/{user_id}",
    "POST /compat/bacmr/admin/users/{user_id}/reset-password": (
        "POST /api/v1/admin/users/{user_id}/reset-password"
    ),
    "GET /compat/bacmr/admin/stats": "GET /api/v1/admin/stats",
    "GET /compat/bacmr/admin/jobs": "GET /api/v1/admin/jobs",
    "GET /compat/bacmr/admin/jobs/{job_id}": "GET /api/v1/admin/jobs/{job_id}",
    "POST /compat/bacmr/admin/jobs/{job_id}/requeue": "POST /api/v1/admin/jobs/{job_id}/retry",
    "GET /compat/bacmr/curriculum/subjects": "GET /api/v1/library/subjects",
    "GET /compat/bacmr/curriculum/textbooks": "GET /api/v1/library/textbooks",
    "GET /compat/bacmr/curriculum/textbooks/{textbook_id}": (
        "GET /api/v1/library/textbooks/{document_id}"
    ),
    # The document's document routes are administrators' (stricter than the canonical twin).
    "PATCH /compat/bacmr/admin/documents/{document_id}": ADMINS,
    "DELETE /compat/bacmr/admin/documents/{document_id}": ADMINS,
    "GET /compat/bacmr/admin/references": "GET /api/v1/admin/references",
    "POST /compat/bacmr/admin/ingest/{reference_id}": (
        "POST /api/v1/admin/references/{reference_id}/ingest"
    ),
    "POST /compat/bacmr/chat": "POST /api/v1/chat",
    "GET /compat/bacmr/admin/scrape-runs": "GET /api/v1/admin/sync-runs",
    "POST /compat/bacmr/admin/upload-curriculum": "POST /api/v1/library/documents",
    "POST /compat/bacmr/admin/jobs/dispatch": "POST /api/v1/admin/jobs/dispatch",
    "POST /compat/bacmr/admin/vector-embedding": (
        "POST /api/v1/admin/references/{reference_id}/ingest"
    ),
    "GET /compat/bacmr/scraping/sources": "GET /api/v1/sources",
    "POST /compat/bacmr/scraping/{source}/sync": "POST /api/v1/admin/sources/{source_id}/sync",
    "GET /compat/bacmr/scraping/{source}/runs": "GET /api/v1/sources/{source_id}/runs",
    "GET /compat/bacmr/scraping/{source}/references": (
        "GET /api/v1/sources/{source_id}/references"
    ),
    # chat-prompts (002)
    f"POST {CP}/auth/register": "POST /api/v1/auth/register",
    f"POST {CP}/auth/login": "POST /api/v1/auth/token",
    f"POST {CP}/users/": "POST /api/v1/admin/users",
    # One's own account (an admin: anyone's).
    f"GET {CP}/users/{{user_id}}": "GET /api/v1/users/me",
    f"PUT {CP}/users/{{user_id}}": "PATCH /api/v1/users/me",
    f"DELETE {CP}/users/{{user_id}}": "DELETE /api/v1/users/me",
    f"GET {CP}/users/{{user_id}}/quota": "GET /api/v1/wallet",
    f"PUT {CP}/users/{{user_id}}/quota": "PATCH /api/v1/admin/wallets/{user_id}",
    f"POST {CP}/chat_sessions/": "POST /api/v1/chat/sessions",
    f"GET {CP}/chat_sessions/{{session_id}}": "GET /api/v1/chat/sessions/{session_id}",
    f"GET {CP}/chat_sessions/user/{{user_id}}": "GET /api/v1/chat/sessions",
    f"PUT {CP}/chat_sessions/{{session_id}}": "PATCH /api/v1/chat/sessions/{session_id}",
    f"DELETE {CP}/chat_sessions/{{session_id}}": "DELETE /api/v1/chat/sessions/{session_id}",
    f"POST {CP}/prompts/": "POST /api/v1/chat/sessions/{session_id}/prompts",
    f"GET {CP}/prompts/{{prompt_id}}": "GET /api/v1/chat/prompts/{prompt_id}",
    f"GET {CP}/prompts/session/{{session_id}}": "GET /api/v1/chat/sessions/{session_id}/prompts",
    f"PUT {CP}/prompts/{{prompt_id}}": "PATCH /api/v1/chat/prompts/{prompt_id}",
    f"DELETE {CP}/prompts/{{prompt_id}}": "DELETE /api/v1/chat/prompts/{prompt_id}",
    f"POST {CP}/system_prompts/": "POST /api/v1/admin/system-prompts",
    f"GET {CP}/system_prompts/": "GET /api/v1/admin/system-prompts",
    # A new text is the prompt's next version.
    f"PUT {CP}/system_prompts/{{prompt_id}}": "POST /api/v1/admin/system-prompts",
    f"DELETE {CP}/system_prompts/{{prompt_id}}": "DELETE /api/v1/admin/system-prompts/{prompt_id}",
    f"POST {CP}/user_prompts/": "POST /api/v1/users/me/prompts",
    f"GET {CP}/user_prompts/user/{{user_id}}": "GET /api/v1/users/me/prompts",
    f"PUT {CP}/user_prompts/{{prompt_id}}": "PATCH /api/v1/users/me/prompts/{prompt_id}",
    f"DELETE {CP}/user_prompts/{{prompt_id}}": "DELETE /api/v1/users/me/prompts/{prompt_id}",
    f"POST {CP}/audit_logs/": "POST /api/v1/users/me/audit-logs",
    f"GET {CP}/audit_logs/{{log_id}}": "GET /api/v1/users/me/audit-logs/{log_id}",
    f"GET {CP}/audit_logs/user/{{user_id}}": "GET /api/v1/users/me/audit-logs",
    # elearning (003)
    f"POST {EL}/login": "POST /api/v1/auth/login",
    f"POST {EL}/register": "POST /api/v1/auth/register",
    f"POST {EL}/oauth-login": "POST /api/v1/auth/oauth/{provider}/id-token",
    f"POST {EL}/refresh": "POST /api/v1/auth/refresh",
    f"POST {EL}/verify-email": "POST /api/v1/auth/verify-email",
    f"POST {EL}/logout": "POST /api/v1/auth/logout",
    f"GET {EL}/users/me": "GET /api/v1/users/me",
    f"PUT {EL}/users/me": "PATCH /api/v1/users/me",
    f"PUT {EL}/change-password": "POST /api/v1/auth/password/change",
    f"GET {EL}/admin/users": "GET /api/v1/admin/users",
    f"GET {EL}/admin/users/{{user_id}}": "GET /api/v1/admin/users/{user_id}",
    f"PUT {EL}/admin/users/{{user_id}}/role": "PATCH /api/v1/admin/users/{user_id}",
    f"DELETE {EL}/admin/users/{{user_id}}": "DELETE /api/v1/admin/users/{user_id}",
    f"POST {EL}/admin/users/{{user_id}}/block": "PATCH /api/v1/admin/users/{user_id}",
    f"POST {EL}/admin/users/{{user_id}}/unblock": "PATCH /api/v1/admin/users/{user_id}",
    f"GET {EL}/content/modules": "GET /api/v1/catalog/courses",
    f"GET {EL}/content/modules/{{course_id}}": "GET /api/v1/catalog/courses/{course_id}",
    f"POST {EL}/content/admin/courses": "POST /api/v1/courses",
    f"PUT {EL}/content/admin/courses/{{course_id}}": "PATCH /api/v1/courses/{course_id}",
    f"DELETE {EL}/content/admin/courses/{{course_id}}": "DELETE /api/v1/courses/{course_id}",
    f"POST {EL}/content/lessons": "POST /api/v1/courses/{course_id}/lessons",
    f"PUT {EL}/content/lessons/{{lesson_id}}": "PATCH /api/v1/lessons/{lesson_id}",
    f"DELETE {EL}/content/lessons/{{lesson_id}}": "DELETE /api/v1/lessons/{lesson_id}",
    f"POST {EL}/content/courses/{{course_id}}/enroll": "POST /api/v1/courses/{course_id}/enroll",
    f"GET {EL}/content/courses/my-courses": "GET /api/v1/courses/enrolled",
    f"DELETE {EL}/content/courses/{{course_id}}/unenroll": (
        "DELETE /api/v1/courses/{course_id}/enroll"
    ),
    f"GET {EL}/content/users_progress/course/{{course_id}}": (
        "GET /api/v1/courses/{course_id}/progress"
    ),
    f"PUT {EL}/content/users_progress/": "PUT /api/v1/lessons/{lesson_id}/progress",
    f"GET {EL}/content/quiz/{{lesson_id}}": "GET /api/v1/lessons/{lesson_id}/quizzes",
    f"POST {EL}/content/quiz/{{lesson_id}}/submit": "POST /api/v1/quizzes/{quiz_id}/attempts",
    f"GET {EL}/content/lessons": "GET /api/v1/lessons/{lesson_id}",
    f"GET {EL}/content/users_progress": "GET /api/v1/courses/{course_id}/progress",
    f"POST {EL}/content/vimeo/upload": "POST /api/v1/courses/{course_id}/videos",
    f"PUT {EL}/content/vimeo/update-metadata/{{video_id}}": "PATCH /api/v1/videos/{video_id}",
    f"DELETE {EL}/content/vimeo/delete/{{video_id}}": "DELETE /api/v1/videos/{video_id}",
    f"GET {EL}/content/videos/course/{{course_id}}": "GET /api/v1/courses/{course_id}/videos",
    f"GET {EL}/content/videos/{{video_id}}/analytics": "GET /api/v1/videos/{video_id}/analytics",
    f"POST {EL}/content/videos/{{video_id}}/watch-progress": (
        "POST /api/v1/videos/{video_id}/heartbeats"
    ),
    # The document's teacher list across one's courses (students read them course by course).
    f"GET {EL}/content/teacher/assignments": STAFF,
    f"POST {EL}/content/teacher/assignments": "POST /api/v1/courses/{course_id}/assignments",
    f"GET {EL}/content/teacher/students": "GET /api/v1/teacher/students",
    f"GET {EL}/content/admin/stats": "GET /api/v1/admin/stats",
    f"GET {EL}/content/admin/stats/courses": "GET /api/v1/admin/stats",
    f"GET {EL}/content/admin/stats/students": "GET /api/v1/admin/stats",
    f"GET {EL}/content/admin/stats/videos": "GET /api/v1/admin/stats",
    f"GET {EL}/content/admin/stats/revenue": "GET /api/v1/admin/stats",
    # apranova (004)
    "POST /compat/apranova/api/auth/registration/": "POST /api/v1/auth/register",
    "POST /compat/apranova/api/users/login/": "POST /api/v1/auth/login",
    "POST /compat/apranova/api/auth/token/refresh/": "POST /api/v1/auth/refresh",
    "POST /compat/apranova/api/users/logout/": "POST /api/v1/auth/logout",
    "POST /compat/apranova/api/users/check-email/": "POST /api/v1/auth/check-email",
    "GET /compat/apranova/api/users/profile/": "GET /api/v1/users/me",
    "POST /compat/apranova/api/users/update-role/": "PATCH /api/v1/admin/users/{user_id}",
    "POST /compat/apranova/api/users/workspace/create/": "POST /api/v1/workspaces",
    "POST /compat/apranova/api/payments/create-payment/": "POST /api/v1/payments/checkout",
    "POST /compat/apranova/api/auth/google/": PUBLIC,
    "POST /compat/apranova/api/auth/github/": PUBLIC,
}

# Routes whose engine is absent in the test run: an allowed caller gets the document's 503.
ENGINE_ABSENT = frozenset(
    {
        "POST /compat/apranova/api/users/workspace/create/",
        "POST /compat/apranova/api/auth/google/",
        "POST /compat/apranova/api/auth/github/",
        # No Google provider is configured in the test run.
        f"POST {EL}/oauth-login",
    }
)

# A refresh token in the body is the credential: its 401 is about the token, not the caller.
BODY_CREDENTIAL = frozenset(
    {
        "POST /compat/apranova/api/auth/token/refresh/",
        # The refresh token is the bearer token here: an access token in its place is a 401.
        f"POST {EL}/refresh",
    }
)


def expected_roles(key: str) -> frozenset[str]:
    """The roles a dialect route lets through: its twin's."""
    twin = TWINS[key]
    return ACCESS[twin] if isinstance(twin, str) else twin


def dialect_route_keys(app: FastAPI) -> list[str]:
    """`METHOD /compat/<name>/path` of every route of every mounted dialect."""
    keys = []
    for mount in app.routes:
        if isinstance(mount, Mount) and mount.path.startswith("/compat/"):
            sub = mount.app
            assert isinstance(sub, FastAPI)
            keys += [
                f"{m} {mount.path}{r.path}"
                for r in api_routes(sub)
                for m in r.methods
                if m != "HEAD"
            ]
    return sorted(keys)
