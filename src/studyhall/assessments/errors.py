"""Errors of the assessments domain."""

from __future__ import annotations

from studyhall.core.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)


class QuizNotFound(NotFound):
    code = "quiz_not_found"

    def __init__(self, message: str = "Quiz not found") -> None:
        super().__init__(message)


class AttemptNotFound(NotFound):
    code = "attempt_not_found"

    def __init__(self, message: str = "Attempt not found") -> None:
        super().__init__(message)


class AssignmentNotFound(NotFound):
    code = "assignment_not_found"

    def __init__(self, message: str = "Assignment not found") -> None:
        super().__init__(message)


class SubmissionNotFound(NotFound):
    code = "submission_not_found"

    def __init__(self, message: str = "Submission not found") -> None:
        super().__init__(message)


class MaxAttemptsReached(Conflict):
    code = "max_attempts_reached"

    def __init__(self, message: str = "No attempts left for this quiz") -> None:
        super().__init__(message)


class AttemptConflict(Conflict):
    code = "attempt_conflict"

    def __init__(self, message: str = "Another attempt was started at the same time") -> None:
        super().__init__(message)


class TimeLimitExceeded(Unprocessable):
    code = "time_limit_exceeded"

    def __init__(
        self, message: str = "The time limit of this attempt has passed; start a new attempt"
    ) -> None:
        super().__init__(message)


class AttemptNotStarted(Unprocessable):
    code = "attempt_not_started"

    def __init__(
        self,
        message: str = "This quiz is timed: start an attempt with POST /quizzes/{id}/attempts/start",
    ) -> None:
        super().__init__(message)


class TooManyAnswers(Unprocessable):
    code = "too_many_answers"

    def __init__(self, message: str = "More answers than the quiz has questions") -> None:
        super().__init__(message)


class AnswersMismatch(Unprocessable):
    """The answer list does not fit the quiz: refused before an attempt is used up."""

    code = "answers_mismatch"


class ScoreAboveMax(Unprocessable):
    code = "score_above_max"

    def __init__(self, message: str = "The score is above the assignment's max_score") -> None:
        super().__init__(message)


class EmptySubmission(Unprocessable):
    code = "empty_submission"

    def __init__(self, message: str = "A submission needs content or a file") -> None:
        super().__init__(message)


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"


class UnsupportedFileType(UnsupportedMediaType):
    code = "unsupported_file_type"
