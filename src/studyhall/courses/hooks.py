"""Hooks for the domains built on courses.

They keep soft links to course and lesson ids, so they register their reactions here (from
`studyhall.wiring`) instead of courses importing them: imports only go one way. Registering the
same function again changes nothing (tests build many apps).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class CourseHook(Protocol):
    """A domain's clean-up when a course is deleted, run in the deleting unit of work."""

    def __call__(self, session: AsyncSession, *, course_id: uuid.UUID) -> Awaitable[None]: ...


class LessonHook(Protocol):
    """A domain's clean-up when a lesson is deleted, run in the deleting unit of work."""

    def __call__(self, session: AsyncSession, *, lesson_id: uuid.UUID) -> Awaitable[None]: ...


class LessonScores(Protocol):
    """Per-lesson scores of a student in a course: {lesson_id: percent}."""

    def __call__(
        self, session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
    ) -> Awaitable[dict[uuid.UUID, float]]: ...


_course_deleted_hooks: list[CourseHook] = []
_lesson_deleted_hooks: list[LessonHook] = []
_lesson_scores: list[LessonScores] = []


def on_course_deleted(hook: CourseHook) -> None:
    """Register clean-up that runs in the same unit of work when a course is deleted."""
    if hook not in _course_deleted_hooks:
        _course_deleted_hooks.append(hook)


def on_lesson_deleted(hook: LessonHook) -> None:
    """Register clean-up that runs in the same unit of work when a lesson is deleted."""
    if hook not in _lesson_deleted_hooks:
        _lesson_deleted_hooks.append(hook)


def lesson_scores_provider(provider: LessonScores) -> None:
    """Register where per-lesson quiz scores come from (quizzes live in assessments)."""
    if provider not in _lesson_scores:
        _lesson_scores.append(provider)


def course_deletion_hooks() -> tuple[CourseHook, ...]:
    """The registered reactions to a course's deletion, in the order they run."""
    return tuple(_course_deleted_hooks)


def lesson_deletion_hooks() -> tuple[LessonHook, ...]:
    """The registered reactions to a lesson's deletion, in the order they run."""
    return tuple(_lesson_deleted_hooks)


def lesson_scores_providers() -> tuple[LessonScores, ...]:
    """The registered sources of per-lesson scores."""
    return tuple(_lesson_scores)
