"""Mounts every domain router under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from studyhall import system
from studyhall.analytics.platform_router import router as platform_stats_router
from studyhall.analytics.router import router as analytics_router
from studyhall.assessments.router import router as assessments_router
from studyhall.billing.router import router as billing_router
from studyhall.core.query_params import refuse_shadowed_methods, refuse_unknown_query
from studyhall.courses.router import router as courses_router
from studyhall.identity.oauth.router import identities_router, oauth_admin_router, oauth_router
from studyhall.identity.router import admin_router as identity_admin_router
from studyhall.identity.router import auth_router, users_router
from studyhall.jobs.router import router as jobs_router
from studyhall.knowledge.router import router as knowledge_router
from studyhall.tutor.router import router as tutor_router
from studyhall.video.router import router as video_router
from studyhall.video.tus_router import router as tus_router
from studyhall.workspaces.router import router as workspaces_router

system_router = system.router

api_router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(refuse_shadowed_methods), Depends(refuse_unknown_query)],
)
api_router.include_router(system.info_router)
api_router.include_router(auth_router)
api_router.include_router(oauth_router)
api_router.include_router(identities_router)
api_router.include_router(oauth_admin_router)
api_router.include_router(users_router)
api_router.include_router(identity_admin_router)
api_router.include_router(jobs_router)
api_router.include_router(courses_router)
api_router.include_router(assessments_router)
api_router.include_router(billing_router)
api_router.include_router(analytics_router)
api_router.include_router(knowledge_router)
api_router.include_router(platform_stats_router)
api_router.include_router(tutor_router)
api_router.include_router(workspaces_router)
# The tus protocol's routes first: `/videos/uploads` is not a video id.
api_router.include_router(tus_router)
api_router.include_router(video_router)
