"""Every documented endpoint answers its document's own example request as documented.

The examples are read from the seed documents (tests/compat/seed_examples.py); each endpoint's
case (tests/compat/cases_*.py) prepares what the example needs and sends it; the documented
status, every documented response field and its type, and the dialect's own declared response
schema are checked (tests/compat/example_checks.py). `test_coverage` records how many of the
documented endpoints have such a test.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.compat import (  # noqa: F401  (each registers its cases)
    cases_apranova,
    cases_bacmr,
    cases_chat_prompts,
    cases_elearning,
    cases_subject_tutor,
)
from tests.compat.example_checks import CASES, Trial, declared_schema, run_case, shape_problems
from tests.compat.seed_examples import all_examples
from tests.conftest import MakeUser

EXAMPLES = all_examples()

# The stripe library hands httpx raw bytes as `data=`, which httpx deprecates: not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.mark.parametrize("key", sorted(CASES))
async def test_documented_example(
    key: str, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    trial = Trial(app, client, make_user, auth, EXAMPLES[key])
    await run_case(trial, CASES[key])


def test_coverage() -> None:
    unknown = set(CASES) - set(EXAMPLES)
    assert not unknown, f"cases for endpoints no document names: {unknown}"
    covered = len(set(CASES) & set(EXAMPLES))
    print(f"documented endpoints with a field-checking example test: {covered}/{len(EXAMPLES)}")
    assert len(EXAMPLES) == 150
    assert covered >= 150


def test_the_shape_check_finds_a_missing_field_a_wrong_type_and_a_bad_item() -> None:
    doc = {"user": {"name": "x", "age": 1}, "items": [{"ok": True}]}
    assert (
        shape_problems(doc, {"user": {"name": "y", "age": 2}, "items": []}, "body", frozenset())
        == []
    )
    problems = shape_problems(
        doc, {"user": {"age": "2"}, "items": [{"ok": 1}]}, "body", frozenset()
    )
    assert problems == [
        "body.user.name: missing",
        "body.user.age: expected int, got '2'",
        "body.items[0].ok: expected bool, got 1",
    ]


def test_every_case_is_also_checked_against_its_declared_schema(app: FastAPI) -> None:
    # The dialects declare a JSON response schema for all but their non-JSON answers.
    undeclared = sorted(
        key
        for key, entry in CASES.items()
        if declared_schema(app, key, entry.status or EXAMPLES[key].status or 200) is None
    )
    print(f"cases without a declared response schema: {undeclared}")
    assert len(undeclared) < len(CASES) // 4
