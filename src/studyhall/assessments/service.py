"""Business rules of quizzes, attempts, assignments and submissions.

Timing decisions (documented in the OpenAPI descriptions too):
- time is measured by the server: POST /quizzes/{id}/attempts/start records started_at and a
  deadline; the client's time_spent_s is stored but never used for the limit;
- a submission after deadline + ATTEMPT_GRACE_S is rejected with 422 `time_limit_exceeded`; the
  attempt stays used (it counts toward max_attempts) and is closed as `expired`;
- an untimed quiz may be submitted without a start (started and submitted at once); a timed quiz
  needs a start (422 `attempt_not_started`), and its questions are shown only once started.
"""

from __future__ import annotations

from studyhall.assessments.assignments import (
    assignment_for_viewer as assignment_for_viewer,
)
from studyhall.assessments.assignments import (
    assignment_view as assignment_view,
)
from studyhall.assessments.assignments import (
    assignments_for_viewer as assignments_for_viewer,
)
from studyhall.assessments.assignments import (
    create_assignment as create_assignment,
)
from studyhall.assessments.assignments import (
    delete_assignment as delete_assignment,
)
from studyhall.assessments.assignments import (
    get_assignment as get_assignment,
)
from studyhall.assessments.assignments import (
    list_assignments as list_assignments,
)
from studyhall.assessments.assignments import (
    update_assignment as update_assignment,
)
from studyhall.assessments.attempts import (
    ATTEMPTS_LOCK as ATTEMPTS_LOCK,
)
from studyhall.assessments.attempts import (
    attempt_detail as attempt_detail,
)
from studyhall.assessments.attempts import (
    attempt_for_viewer as attempt_for_viewer,
)
from studyhall.assessments.attempts import (
    attempts_for_viewer as attempts_for_viewer,
)
from studyhall.assessments.attempts import (
    get_attempt as get_attempt,
)
from studyhall.assessments.attempts import (
    list_attempts as list_attempts,
)
from studyhall.assessments.attempts import (
    record_external_attempt as record_external_attempt,
)
from studyhall.assessments.attempts import (
    record_practice_attempt as record_practice_attempt,
)
from studyhall.assessments.attempts import (
    start_attempt as start_attempt,
)
from studyhall.assessments.attempts import (
    submit_attempt as submit_attempt,
)
from studyhall.assessments.quizzes import (
    add_quiz as add_quiz,
)
from studyhall.assessments.quizzes import (
    answer_keys_for_student as answer_keys_for_student,
)
from studyhall.assessments.quizzes import (
    create_quiz as create_quiz,
)
from studyhall.assessments.quizzes import (
    delete_quiz as delete_quiz,
)
from studyhall.assessments.quizzes import (
    get_quiz as get_quiz,
)
from studyhall.assessments.quizzes import (
    import_quiz as import_quiz,
)
from studyhall.assessments.quizzes import (
    list_quizzes as list_quizzes,
)
from studyhall.assessments.quizzes import (
    question_rows as question_rows,
)
from studyhall.assessments.quizzes import (
    quiz_for_owner as quiz_for_owner,
)
from studyhall.assessments.quizzes import (
    quiz_for_student as quiz_for_student,
)
from studyhall.assessments.quizzes import (
    quiz_for_viewer as quiz_for_viewer,
)
from studyhall.assessments.quizzes import (
    update_quiz as update_quiz,
)
from studyhall.assessments.reactions import (
    DELETE_FILES as DELETE_FILES,
)
from studyhall.assessments.reactions import (
    best_lesson_scores as best_lesson_scores,
)
from studyhall.assessments.reactions import (
    delete_course_content as delete_course_content,
)
from studyhall.assessments.reactions import (
    delete_user_data as delete_user_data,
)
from studyhall.assessments.reactions import (
    detach_lesson as detach_lesson,
)
from studyhall.assessments.scoring import (
    Graded as Graded,
)
from studyhall.assessments.scoring import (
    answer_texts as answer_texts,
)
from studyhall.assessments.scoring import (
    check_answers as check_answers,
)
from studyhall.assessments.scoring import (
    expected_value as expected_value,
)
from studyhall.assessments.scoring import (
    grade as grade,
)
from studyhall.assessments.scoring import (
    is_correct as is_correct,
)
from studyhall.assessments.scoring import (
    normalize_text as normalize_text,
)
from studyhall.assessments.scoring import (
    question_from_row as question_from_row,
)
from studyhall.assessments.scoring import (
    question_row as question_row,
)
from studyhall.assessments.scoring import (
    reveal as reveal,
)
from studyhall.assessments.scoring import (
    right_positions as right_positions,
)
from studyhall.assessments.submissions import (
    SUBMISSION_FILE_TYPES as SUBMISSION_FILE_TYPES,
)
from studyhall.assessments.submissions import (
    StoredFile as StoredFile,
)
from studyhall.assessments.submissions import (
    SubmissionsQuery as SubmissionsQuery,
)
from studyhall.assessments.submissions import (
    detect_file_type as detect_file_type,
)
from studyhall.assessments.submissions import (
    get_submission as get_submission,
)
from studyhall.assessments.submissions import (
    grade_submission as grade_submission,
)
from studyhall.assessments.submissions import (
    list_submissions as list_submissions,
)
from studyhall.assessments.submissions import (
    submission_file as submission_file,
)
from studyhall.assessments.submissions import (
    submissions_for_viewer as submissions_for_viewer,
)
from studyhall.assessments.submissions import (
    submit as submit,
)
from studyhall.assessments.timing import (
    ATTEMPT_GRACE_S as ATTEMPT_GRACE_S,
)
from studyhall.assessments.timing import (
    attempts_left as attempts_left,
)
from studyhall.assessments.timing import (
    open_unexpired as open_unexpired,
)
from studyhall.assessments.timing import (
    past_deadline as past_deadline,
)

# The use cases live in one module each; this module keeps their public names in one place:
# reactions, scoring, timing, quizzes, attempts, assignments, submissions (and uploads).
from studyhall.assessments.uploads import (
    MAX_SUBMISSION_FILE_BYTES as MAX_SUBMISSION_FILE_BYTES,
)
from studyhall.assessments.uploads import UploadedFile as UploadedFile
