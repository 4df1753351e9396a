"""Every documented error case answers its documented status in the document's own error body.

The failures are read from the seed documents (tests/compat/seed_errors.py): 000's per-endpoint
`Errors:` lists, the token 003 and 004 name for each endpoint, 003's validation answer for its
request bodies, 004's common errors. Each is provoked from the endpoint's own example case
(tests/compat/cases_*.py), which builds the objects the call needs, with one thing made wrong
as the document describes it: no token, a lesser role's token, an unknown id, a body of the
wrong types, the same creation twice, or (for the few the document words specifically) a
changed body. The answer's status is checked, and its body against the document's own error
body for that status. Where StudyHall's rules answer otherwise (an object that is not the
caller's is not found rather than forbidden), the dialect's OpenAPI description says so, and
that is checked too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from studyhall.identity.models import Role
from tests.compat import (  # noqa: F401  (each registers its cases)
    cases_apranova,
    cases_bacmr,
    cases_chat_prompts,
    cases_elearning,
    cases_subject_tutor,
)
from tests.compat.example_checks import CASES, DOCUMENT, Trial, shape_problems
from tests.compat.seed_errors import DocumentedError, documented_errors, error_bodies
from tests.compat.seed_examples import all_examples
from tests.conftest import MakeUser

EXAMPLES = all_examples()
DOCUMENTED = documented_errors()
BODIES = error_bodies()

# What is tested is the dialects' translation of failures, the same on every database: with
# `make test` it runs once, in the PostgreSQL run (see tests/conftest.py).
pytestmark = [
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
    pytest.mark.once,
]

ST = "/compat/subject-tutor"
AP = "/compat/apranova/api"


@dataclass(frozen=True)
class Wrong:
    """What is made wrong in the example's call (all optional; nothing set: as the example)."""

    anonymous: bool = False
    role: Role | None = None  # the call is made by a new user of this role
    unknown_ids: bool = False
    wrong_types: bool = False  # every documented body field sent as a value of another type
    body: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    form: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    twice: bool = False  # the call is made a second time
    # StudyHall's rules answer another status: it, and words of the dialect's description
    # that say so.
    answers: int | None = None
    described: str = ""
    expect: Any = None  # a body the document shows for this very failure


def _without(*names: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda body: {k: v for k, v in body.items() if k not in names}


def _with(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda body: {**body, **changes}


# The failures a document words specifically (the rest follow from their words: see `_wrong`).
SPECIFIC: dict[tuple[str, int], Wrong] = {
    (f"POST {ST}/token", 401): Wrong(form=_with(password="wrong-password")),
    (f"POST {ST}/token", 422): Wrong(form=_without("password")),
    (f"POST {ST}/chat", 422): Wrong(body=_without("id")),
    (f"POST {ST}/sessions/{{}}/resume_chat", 400): Wrong(body=_with(current_question_index=99)),
    (f"POST {ST}/admin/users/{{}}/role", 400): Wrong(body=_with(role="WIZARD")),
    (f"POST {ST}/subjects", 403): Wrong(role=Role.teacher),
    (f"GET {ST}/professor/subjects/{{}}/analytics", 403): Wrong(role=Role.teacher),
    # StudyHall refuses a non-student's enrollment as forbidden (the dialect says so).
    (f"POST {ST}/subjects/{{}}/enroll", 400): Wrong(
        role=Role.teacher, answers=403, described="is 403 (not 400)"
    ),
    (f"POST {ST}/subjects/{{}}/enroll", 403): Wrong(twice=True),
    (f"POST {AP}/users/login/", 401): Wrong(
        body=_with(password="wrong-password"),
        expect=BODIES["004"]["Authentication Error"],
    ),
    (f"POST {AP}/users/login/", 403): Wrong(
        body=_with(role="trainer"), expect=BODIES["004"]["Permission Error"]
    ),
    # The document's example lists two fields; the one left out here must be listed alike.
    (f"POST {AP}/auth/registration/", 400): Wrong(
        body=_without("email"), expect={"email": BODIES["004"]["Validation Error"]["email"]}
    ),
    (f"POST {AP}/users/workspace/create/", 503): Wrong(
        expect=EXAMPLES[f"POST {AP}/users/workspace/create/"].others.get(503)
    ),
}
# A session that is not the caller's is not found (StudyHall's object-level rule).
for _key in (
    "GET {}/sessions/{{}}",
    "DELETE {}/sessions/{{}}",
    "POST {}/sessions/{{}}/resume_chat",
):
    SPECIFIC[(_key.format(ST), 403)] = Wrong(
        role=Role.student, answers=404, described="is not the caller's"
    )

# Failures a test here cannot provoke, and where they are tested instead.
ELSEWHERE = {
    # An LLM that fails or hangs: tests/tutor/test_llm_peer.py (the same orchestration).
    (f"POST {ST}/chat", 503): "tests/tutor/test_llm_peer.py",
    (f"POST {ST}/chat", 504): "tests/tutor/test_llm_peer.py",
    # A second user's address: tests/compat/test_subject_tutor.py::test_me_read_and_update.
    (f"PUT {ST}/users/me", 400): "tests/compat/test_subject_tutor.py",
}


def _wrong(error: DocumentedError) -> Wrong:
    """What to make wrong, from the document's words."""
    if (error.key, error.status) in SPECIFIC:
        return SPECIFIC[(error.key, error.status)]
    says = error.says.lower()
    if error.status == 401:
        return Wrong(anonymous=True)
    if error.status == 403:
        return Wrong(role=Role.teacher if "student_token" in says else Role.student)
    if error.status == 404:
        return Wrong(unknown_ids=True)
    if error.status == 400 and "already" in says:
        return Wrong(twice=True)
    if error.status == 422:
        return Wrong(wrong_types=True)
    raise AssertionError(f"{error}: no way to provoke it is known")


def _unknown(value: Any) -> str:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return f"ZZ{uuid.uuid4().hex[:6].upper()}"  # a code or a username nobody has
    return str(uuid.uuid4())


def _other_type(value: Any) -> Any:
    return {"not": "this"} if isinstance(value, list) else [value, value]


class Answered(Exception):
    """The wrong call was made: the case stops there (what it checks after is for success)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class WrongTrial(Trial):
    """The example case's trial, whose call (`send`) goes out with `wrong` applied."""

    wrong: Wrong = field(default_factory=Wrong)
    as_user: dict[str, str] | None = None

    async def send(
        self,
        *ids: Any,
        headers: dict[str, str] | None = None,
        json: Any = DOCUMENT,
        **kwargs: Any,
    ) -> httpx.Response:
        w = self.wrong
        if w.anonymous:
            headers = None
        if self.as_user is not None:
            headers = self.as_user
        if w.unknown_ids:
            ids = tuple(_unknown(i) for i in ids)
        if json is DOCUMENT and self.example.request is not None:
            json = self.body()
        if w.wrong_types:
            json = {k: _other_type(v) for k, v in json.items()}
        if w.body is not None:
            json = w.body(json)
        if w.form is not None:
            kwargs["data"] = w.form(kwargs["data"])
        response = await super().send(*ids, headers=headers, json=json, **kwargs)
        if w.twice:
            response = await super().send(*ids, headers=headers, json=json, **kwargs)
        raise Answered(response)


# The mount of each documented dialect -> its error bodies in BODIES.
DOCUMENTS = {"/compat/subject-tutor": "000", "/compat/elearning": "003", "/compat/apranova": "004"}


def _mount(key: str) -> str:
    return "/".join(key.split(" ", 1)[1].split("/")[:3])


def _document_body(error: DocumentedError, status: int) -> Any:
    bodies = BODIES[DOCUMENTS[_mount(error.key)]]
    return bodies.get(status, bodies["default"])


@pytest.mark.parametrize(
    "documented", sorted(set(DOCUMENTED) - set(ELSEWHERE)), ids=lambda k: f"{k[1]} {k[0]}"
)
async def test_documented_error(
    documented: tuple[str, int],
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth: Any,
) -> None:
    error = DOCUMENTED[documented]
    wrong = _wrong(error)
    trial = WrongTrial(app, client, make_user, auth, EXAMPLES[error.key], wrong=wrong)
    if wrong.role is not None:
        _, trial.as_user = await trial.user(wrong.role)
    try:
        await CASES[error.key].run(trial)
    except Answered as answered:
        response = answered.response
    else:
        raise AssertionError(f"{error.key}: the case made no call")
    status = wrong.answers or error.status
    assert response.status_code == status, f"{error}: {response.status_code} {response.text}"
    expected = wrong.expect if wrong.expect is not None else _document_body(error, status)
    problems = shape_problems(expected, response.json(), "body", frozenset())
    assert not problems, f"{error}: {problems} in {response.text}"
    if wrong.answers is not None:
        # The deviation is the dialect's documented one.
        spec = (await client.get(f"{_mount(error.key)}/openapi.json")).json()
        description = spec["info"]["description"]
        assert wrong.described in description, f"{error}: the deviation is not described"


def test_every_documented_error_is_tested() -> None:
    untested = sorted(set(DOCUMENTED) - set(ELSEWHERE) - {k for k in DOCUMENTED if k[0] in CASES})
    assert not untested, f"documented errors of endpoints without a case: {untested}"
    for key in DOCUMENTED:
        if key not in ELSEWHERE:
            _wrong(DOCUMENTED[key])  # each one has a way to be provoked
    print(f"documented error cases tested here: {len(DOCUMENTED) - len(ELSEWHERE)}")
    assert len(DOCUMENTED) >= 140
