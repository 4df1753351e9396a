"""Loaders for the video routes: the video in the path, checked against the caller."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from studyhall.core.db import SessionDep
from studyhall.core.errors import Forbidden
from studyhall.core.openapi import answers
from studyhall.core.storage import LocalStorage
from studyhall.identity.dependencies import CallerInOwnSession, CurrentUser
from studyhall.identity.models import Role
from studyhall.video import service
from studyhall.video.models import Video


@answers(404)
async def video_for_reader(video_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Video:
    """A video the caller may watch (404 for anyone else: its existence is not revealed)."""
    return await service.readable_video(session, user=user, video_id=video_id)


ReadableVideo = Annotated[Video, Depends(video_for_reader)]


def _staff_only(video: Video, allowed: bool, refusal: str) -> Video:
    """The video when the caller may have it; its course's other readers get 403."""
    if not allowed:
        raise Forbidden(refusal, code="not_course_owner")
    return video


@answers(403)
async def video_for_owner(video: ReadableVideo, user: CurrentUser, session: SessionDep) -> Video:
    """A video of a course the caller manages (its students get 403)."""
    managed = await service.managed(session, user=user, video=video)
    return _staff_only(video, managed, "Only the course's teacher or an admin may do this")


OwnedVideo = Annotated[Video, Depends(video_for_owner)]


@answers(403)
async def video_for_teacher(video: ReadableVideo, user: CurrentUser, session: SessionDep) -> Video:
    """A video of a course the caller teaches (owner, assistant, admin): its figures."""
    taught = await service.taught(session, user=user, video=video)
    return _staff_only(video, taught, "Only the course's teachers or an admin may see this")


TaughtVideo = Annotated[Video, Depends(video_for_teacher)]


@answers(403)
async def video_for_student(video: ReadableVideo, user: CurrentUser) -> Video:
    """A video the calling student watches (heartbeats come from students only)."""
    if user.role != Role.student:
        raise Forbidden("Only students report watching", code="students_only")
    return video


StudentVideo = Annotated[Video, Depends(video_for_student)]


async def get_storage(request: Request) -> LocalStorage:
    """The app's file storage."""
    storage: LocalStorage = request.app.state.storage
    return storage


StorageDep = Annotated[LocalStorage, Depends(get_storage)]


# The caller of a tus request, read in a short read-only unit of work of its own: a PATCH
# streams its body for a long time and must not hold a database transaction (SQLite's write
# lock) open.
Uploader = CallerInOwnSession
