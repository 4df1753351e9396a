"""A student's progress through a course's lessons and videos, and a video's analytics."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.clock import utcnow
from studyhall.courses import repository
from studyhall.courses.enrollment import percent_of
from studyhall.courses.errors import LessonHasNoVideo
from studyhall.courses.hooks import lesson_scores_providers
from studyhall.courses.models import Course, Lesson, VideoWatchEvent
from studyhall.courses.schemas import (
    CourseProgressOut,
    DropOffBucket,
    LessonProgressOut,
    LessonProgressRow,
    ProgressUpdate,
    ProgressUpdateOut,
    VideoAnalyticsOut,
)
from studyhall.identity.models import User

# Watching this share of a video marks the lesson completed.
VIDEO_COMPLETION_RATIO = 0.9


async def update_progress(
    session: AsyncSession, *, student: User, lesson: Lesson, data: ProgressUpdate
) -> ProgressUpdateOut:
    """Record a lesson report: completion and/or a video watch event; course % follows."""
    now = utcnow()
    row = await repository.ensure_progress(
        session, lesson_id=lesson.id, course_id=lesson.course_id, student_id=student.id, now=now
    )
    if data.completed is True and not row.completed:
        row.completed, row.completed_at = True, now
    elif data.completed is False:
        row.completed, row.completed_at = False, None
    if data.video_position_s is not None or data.video_watched_s is not None:
        if lesson.video_url is None:
            raise LessonHasNoVideo()
        duration = lesson.duration_s or 0

        def within(seconds: float) -> float:
            # A player can report past the end (or a client can make figures up): a lesson's
            # figures never exceed its length, so analytics averages stay meaningful.
            return min(seconds, float(duration)) if duration > 0 else seconds

        if data.video_position_s is not None:
            row.video_position_s = within(data.video_position_s)
        if data.video_watched_s is not None:
            # Cumulative counter from the player: a retried or reordered report never lowers it.
            row.video_watched_s = max(row.video_watched_s, within(data.video_watched_s))
        reached_end = duration > 0 and row.video_position_s >= VIDEO_COMPLETION_RATIO * duration
        if reached_end and not row.completed and data.completed is not False:
            row.completed, row.completed_at = True, now
        await repository.add_watch_event(
            session,
            VideoWatchEvent(
                lesson_id=lesson.id,
                course_id=lesson.course_id,
                student_id=student.id,
                position_s=row.video_position_s,
                watched_s=row.video_watched_s,
                created_at=now,
            ),
        )
    row.updated_at = now
    await repository.touch_activity(
        session, course_id=lesson.course_id, student_id=student.id, at=now
    )
    await session.flush()
    done = await repository.completed_lessons(
        session, course_id=lesson.course_id, student_id=student.id
    )
    total = await repository.count_lessons(session, lesson.course_id)
    return ProgressUpdateOut(
        **LessonProgressOut.model_validate(row).model_dump(),
        course_progress_percent=percent_of(done, total),
    )


async def course_progress(
    session: AsyncSession, *, student: User, course: Course
) -> CourseProgressOut:
    """The student's per-lesson progress in a course, derived from the progress rows."""
    rows = await repository.course_progress_rows(
        session, course_id=course.id, student_id=student.id
    )
    best: dict[uuid.UUID, float] = {}
    for provider in lesson_scores_providers():
        for lesson_id, percent in (
            await provider(session, course_id=course.id, student_id=student.id)
        ).items():
            best[lesson_id] = max(percent, best.get(lesson_id, percent))
    lessons = [
        LessonProgressRow(
            lesson_id=lesson.id,
            module_id=lesson.module_id,
            title=lesson.title,
            position=lesson.position,
            completed=bool(progress and progress.completed),
            completed_at=progress.completed_at if progress else None,
            video_position_s=progress.video_position_s if progress else 0.0,
            video_watched_s=progress.video_watched_s if progress else 0.0,
            updated_at=progress.updated_at if progress else None,
            best_quiz_percent=best.get(lesson.id),
        )
        for lesson, progress in rows
    ]
    done = sum(1 for row in lessons if row.completed)
    return CourseProgressOut(
        course_id=course.id,
        lessons_total=len(lessons),
        lessons_completed=done,
        progress_percent=percent_of(done, len(lessons)),
        lessons=lessons,
    )


async def video_analytics(session: AsyncSession, *, lesson: Lesson) -> VideoAnalyticsOut:
    """Views, viewers, completion, watch time and drop-off of a lesson's video."""
    figures = await repository.video_figures(session, lesson.id)
    duration = float(lesson.duration_s or 0) or figures.furthest_position_s
    histogram = await repository.drop_off_histogram(session, lesson.id, duration_s=duration or 1.0)
    viewers = figures.unique_viewers
    return VideoAnalyticsOut(
        lesson_id=lesson.id,
        duration_s=duration or None,
        views=figures.views,
        unique_viewers=viewers,
        watch_events=figures.watch_events,
        completions=figures.completions,
        completion_rate=round(figures.completions / viewers, 4) if viewers else 0.0,
        average_watch_time_s=round(figures.average_watch_time_s, 2),
        drop_off=[
            DropOffBucket(from_percent=i * 10, to_percent=(i + 1) * 10, viewers=histogram.get(i, 0))
            for i in range(10)
        ],
    )
