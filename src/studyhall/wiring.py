"""Every domain's job kinds and reactions to deletions, registered in one place.

`create_app` and the worker entry (`studyhall worker`) call `wire()`. Nothing registers itself
when a module is imported, so what a process runs does not depend on which routers it happened
to import: a worker that imports none still knows every kind and every reaction. Calling
`wire()` again changes nothing.

Like `main.py` and `cli.py`, this is an entry module: it may import every domain, and no domain
imports it.
"""

from __future__ import annotations

from studyhall.assessments import service as assessments
from studyhall.billing import jobs as billing_jobs
from studyhall.billing import payments
from studyhall.billing import service as billing
from studyhall.courses import checkout
from studyhall.courses import service as courses
from studyhall.identity import jobs as identity_jobs
from studyhall.identity import service as identity
from studyhall.jobs import files
from studyhall.jobs.registry import register_kind
from studyhall.knowledge import jobs as knowledge_jobs
from studyhall.knowledge import service as knowledge
from studyhall.tutor import service as tutor
from studyhall.video import jobs as video_jobs
from studyhall.video import service as video
from studyhall.workspaces import jobs as workspaces_jobs


def wire() -> None:
    """Register every job kind, every reaction to a user's, course's or lesson's deletion, and to
    a paid course seat."""
    _job_kinds()
    _user_deletion()
    _course_deletion()
    _lesson_deletion()
    # Progress per lesson shows quiz scores, which live in assessments (built on courses).
    courses.lesson_scores_provider(assessments.best_lesson_scores)
    # A paid course seat: billing's webhook enrolls the payer, a full refund ends the seat.
    payments.on_course_paid(checkout.enroll_payer)
    payments.on_course_refunded(checkout.end_paid_seat)


def _job_kinds() -> None:
    # identity: mail goes through the queue so a down SMTP server is retried; 12 attempts with
    # capped exponential backoff ride out about half an hour of outage.
    register_kind(identity.SEND_EMAIL_JOB, identity_jobs.send_email, max_attempts=12)
    register_kind(identity.PASSWORD_RESET_JOB, identity_jobs.password_reset_request, max_attempts=5)
    # Stored files of deleted rows, each domain under its own kind (queued jobs keep theirs).
    register_kind(assessments.DELETE_FILES, files.delete_stored_files, max_attempts=5)
    # knowledge
    register_kind(knowledge.INGEST, knowledge_jobs.ingest, max_attempts=3)
    register_kind(
        knowledge.REINDEX,
        knowledge_jobs.reindex,
        max_attempts=3,
        every_s=knowledge_jobs.REINDEX_EVERY_S,
    )
    register_kind(knowledge.CRAWL, knowledge_jobs.crawl_source, max_attempts=2)
    register_kind(knowledge.INGEST_REFERENCE, knowledge_jobs.ingest_reference, max_attempts=3)
    register_kind(knowledge.DELETE_FILES, files.delete_stored_files, max_attempts=5)
    # billing: reservations expire within a minute of their deadline.
    register_kind(
        billing_jobs.EXPIRE_KIND, billing_jobs.expire_reservations, max_attempts=3, every_s=60
    )
    # video: unfinished uploads expire in days, a sweep every 5 minutes is plenty.
    register_kind(video_jobs.EXPIRE_KIND, video_jobs.expire_uploads, max_attempts=3, every_s=300)
    register_kind(video.DELETE_BYTES_KIND, files.delete_stored_files, max_attempts=5)
    # workspaces: one attempt; the next sweep a minute later is the retry.
    register_kind(workspaces_jobs.CULL_KIND, workspaces_jobs.cull_idle, max_attempts=1, every_s=60)


def _user_deletion() -> None:
    # Each domain removes or anonymises its own personal data in the deleting unit of work.
    identity.on_user_deleted(courses.delete_user_data)
    identity.on_user_deleted(assessments.delete_user_data)
    identity.on_user_deleted(billing.forget_user)
    identity.on_user_deleted(tutor.forget_user)
    identity.on_user_deleted(video.forget_viewer)


def _course_deletion() -> None:
    courses.on_course_deleted(assessments.delete_course_content)
    courses.on_course_deleted(knowledge.delete_course_data)
    courses.on_course_deleted(tutor.forget_course)
    courses.on_course_deleted(video.delete_course_videos)


def _lesson_deletion() -> None:
    courses.on_lesson_deleted(assessments.detach_lesson)
    courses.on_lesson_deleted(video.detach_lesson_videos)
