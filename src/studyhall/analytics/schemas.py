"""Response shapes of course analytics."""

from __future__ import annotations

import uuid

from pydantic import Field

from studyhall.core.schemas import Page, Schema, UTCTimestamp


class StudentAnalyticsRow(Schema):
    student_id: uuid.UUID
    full_name: str
    email: str
    enrolled_at: UTCTimestamp
    lessons_completed: int
    progress_percent: float
    quiz_attempts: int = Field(description="Submitted quiz attempts in this course")
    average_score: float | None = Field(description="Mean percent of those attempts")
    tutor_messages: int = Field(description="Messages this student sent to the course's tutor")
    last_activity_at: UTCTimestamp


class TopQuestion(Schema):
    question: str
    count: int


class CourseAnalytics(Schema):
    course_id: uuid.UUID
    generated_at: UTCTimestamp
    active_window_days: int
    total_students: int
    active_students: int = Field(description="Students with activity in the last 7 days")
    lessons: int
    quizzes: int
    completion_rate: float = Field(
        description="Share of students who completed every lesson (0..1)"
    )
    average_progress_percent: float
    quiz_attempts: int
    average_quiz_score: float | None = Field(
        description="Mean percent over the submitted attempts of enrolled students"
    )
    tutor_messages: int = Field(description="Questions asked to the course's tutor (all users)")
    students: Page[StudentAnalyticsRow] = Field(description="Per-student rows (?limit, ?offset)")
    top_questions: list[TopQuestion] = Field(
        description="What students ask the course's tutor most (empty when nobody asked yet)"
    )
