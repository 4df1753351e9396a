"""Errors of the courses domain."""

from __future__ import annotations

from studyhall.core.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable


class CourseNotFound(NotFound):
    code = "course_not_found"

    def __init__(self, message: str = "Course not found") -> None:
        super().__init__(message)


class ModuleNotFound(NotFound):
    code = "module_not_found"

    def __init__(self, message: str = "Module not found") -> None:
        super().__init__(message)


class LessonNotFound(NotFound):
    code = "lesson_not_found"

    def __init__(self, message: str = "Lesson not found") -> None:
        super().__init__(message)


class CourseCodeTaken(Conflict):
    code = "course_code_taken"

    def __init__(self, message: str = "A course with this code already exists") -> None:
        super().__init__(message)


class AlreadyEnrolled(Conflict):
    code = "already_enrolled"

    def __init__(self, message: str = "You are already enrolled in this course") -> None:
        super().__init__(message)


class NotEnrolled(NotFound):
    code = "not_enrolled"

    def __init__(self, message: str = "You are not enrolled in this course") -> None:
        super().__init__(message)


class NotCourseOwner(Forbidden):
    code = "not_course_owner"

    def __init__(self, message: str = "Only the course's teacher or an admin may do this") -> None:
        super().__init__(message)


class InvalidTeacher(Unprocessable):
    code = "invalid_teacher"

    def __init__(self, message: str = "teacher_id must be an active teacher or admin") -> None:
        super().__init__(message)


class EnrollmentRequired(Forbidden):
    code = "enrollment_required"

    def __init__(self, message: str = "Enroll in this course first") -> None:
        super().__init__(message)


class LessonHasNoVideo(Unprocessable):
    code = "lesson_has_no_video"

    def __init__(self, message: str = "This lesson has no video to report progress on") -> None:
        super().__init__(message)


class JoinCodeRequired(Forbidden):
    code = "join_code_required"

    def __init__(self, message: str = "This course needs its join code: ask your teacher") -> None:
        super().__init__(message)


class EnrollmentClosed(Forbidden):
    code = "enrollment_closed"

    def __init__(
        self, message: str = "Students join this course only when its teacher adds them"
    ) -> None:
        super().__init__(message)


class PaymentRequired(AppError):
    status_code = 402
    code = "payment_required"

    def __init__(
        self,
        message: str = "This course has a price: start a checkout (POST /courses/{id}/checkout) to enroll",
    ) -> None:
        super().__init__(message)


class CourseIsFree(Unprocessable):
    code = "course_is_free"

    def __init__(
        self, message: str = "This course has no price: enroll with POST /courses/{id}/enroll"
    ) -> None:
        super().__init__(message)


class NotATeacher(Unprocessable):
    code = "not_a_teacher"

    def __init__(self, message: str = "No active teacher account has this email address") -> None:
        super().__init__(message)


class AlreadyTeaching(Conflict):
    code = "already_teaching"

    def __init__(self, message: str = "This teacher already teaches the course") -> None:
        super().__init__(message)


class AssistantNotFound(NotFound):
    code = "assistant_not_found"

    def __init__(self, message: str = "This user is not an assistant of the course") -> None:
        super().__init__(message)
