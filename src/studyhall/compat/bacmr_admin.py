"""BacMR dialect (document 001): the administrators' wallet, user and job routes.

Every route is an admin's (an admin token or `X-Admin-Key`, like its canonical twin under
`/api/v1/admin`). The document shows few bodies here: where it shows a response (`topup`) it is
kept; other writes answer the document's envelope `{"success": true, "data": …}` and reads the
object itself, as its profile and wallet routes do.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from studyhall.analytics.platform import platform_stats
from studyhall.billing import service as billing
from studyhall.billing.ledger_filter import LedgerFilter
from studyhall.billing.models import Direction, EntryType
from studyhall.billing.schemas import (
    ExpenseIn,
    ExpenseOut,
    FinalizeIn,
    ReservationOut,
    ReserveIn,
    TopupIn,
    TransactionOut,
)
from studyhall.compat.bacmr import WindowDep, dump, errors, ok, profile
from studyhall.compat.base import DialectIn, admin_change, iso, parse
from studyhall.core.db import SessionDep
from studyhall.identity import service as identity
from studyhall.identity.dependencies import AdminUser, SettingsDep
from studyhall.identity.models import Role, User
from studyhall.identity.schemas import AdminUserCreate
from studyhall.jobs import service as jobs
from studyhall.jobs.models import JobStatus
from studyhall.jobs.schemas import JobOut

router = APIRouter()


# Wallet (admin)


class TopupBody(DialectIn):
    user_id: uuid.UUID
    amount: int = Field(description="Tokens to credit; a negative amount debits (adjustment)")
    reason: Annotated[str, Field(min_length=1, max_length=500)] = "Top-up"
    reference: Annotated[str, Field(max_length=200)] | None = None


class ExpenseBody(DialectIn):
    category: Annotated[str, Field(min_length=1, max_length=64)]
    amount: int = Field(description="In the currency's minor unit (cents)")
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "usd"
    description: Annotated[str, Field(max_length=1000)] = ""


class ReserveBody(DialectIn):
    user_id: uuid.UUID
    amount: int
    purpose: Annotated[str, Field(min_length=1, max_length=200)] = "manual"
    course_id: uuid.UUID | None = None
    ttl_s: int | None = None


class FinalizeBody(DialectIn):
    reservation_id: uuid.UUID
    actual: int


@router.post("/wallet/topup", responses=errors(401, 403, 404, 422), summary="Top up a wallet")
async def topup(
    body: TopupBody, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    target = await identity.admin_get_user(session, user_id=body.user_id)
    # The canonical schema checks the amount and texts (0 is refused, sizes are bounded).
    checked = parse(TopupIn, body.model_dump(exclude={"user_id"}))
    entry, wallet = await billing.topup(
        session,
        user_id=target.id,
        **checked.model_dump(),
        actor_id=admin.id,
        settings=settings.billing,
    )
    return {
        "transaction_id": str(entry.id),
        "new_balance": wallet.balance,
        "user_id": str(target.id),
        "amount": checked.amount,
    }


@router.post(
    "/wallet/transactions/expense",
    responses=errors(401, 403, 422),
    summary="Record a platform expense",
)
async def record_expense(
    body: ExpenseBody, admin: AdminUser, session: SessionDep
) -> dict[str, Any]:
    checked = parse(ExpenseIn, body.model_dump())
    expense = await billing.record_expense(session, request=checked, actor_id=admin.id)
    return ok(dump(ExpenseOut, expense))


@router.get(
    "/wallet/transactions",
    responses=errors(401, 403, 422),
    summary="The ledger across users (filters)",
)
async def transactions(
    admin: AdminUser,
    session: SessionDep,
    window: WindowDep,
    direction: Annotated[Direction | None, Query()] = None,
    type: Annotated[EntryType | None, Query()] = None,
    user_id: Annotated[uuid.UUID | None, Query()] = None,
) -> dict[str, Any]:
    where = LedgerFilter(user_id=user_id, direction=direction, entry_type=type)
    page = await billing.transactions(session, where, limit=window.limit, offset=window.offset)
    return window.listing(
        "transactions",
        [dump(TransactionOut, e) for e in page.entries],
        page.totals.count,
        credits=page.totals.credits,
        debits=page.totals.debits,
    )


@router.post(
    "/wallet/internal/reserve",
    responses=errors(401, 402, 403, 404, 422, 429),
    summary="Hold tokens for a user (testing)",
)
async def reserve(
    body: ReserveBody, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    target = await identity.admin_get_user(session, user_id=body.user_id)
    checked = parse(ReserveIn, body.model_dump(exclude={"user_id"}))
    reservation = await billing.reserve(
        session,
        user_id=target.id,
        **checked.model_dump(),
        actor_id=admin.id,
        settings=settings.billing,
    )
    return ok(dump(ReservationOut, reservation))


@router.post(
    "/wallet/internal/finalize",
    responses=errors(401, 403, 404, 422),
    summary="Charge a reservation (testing)",
)
async def finalize(
    body: FinalizeBody, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    checked = parse(FinalizeIn, body.model_dump(exclude={"reservation_id"}))
    reservation = await billing.finalize(
        session,
        reservation_id=body.reservation_id,
        **checked.model_dump(),
        actor_id=admin.id,
        settings=settings.billing,
    )
    return ok(dump(ReservationOut, reservation))


# Admin: users


def _admin_user(user: User) -> dict[str, Any]:
    return {
        **profile(user),
        "is_active": user.is_active,
        "hint_level": user.hint_level,
        "created_at": iso(user.created_at),
    }


@router.get("/admin/test-role", responses=errors(401, 403), summary="Am I an administrator")
async def test_role(admin: AdminUser) -> dict[str, Any]:
    # Reaching here is the check: the dependency let only administrators (and the admin key) in.
    return {"ok": True, "role": str(admin.role), "user_id": str(admin.id)}


@router.get("/admin/users", responses=errors(401, 403, 422), summary="Accounts")
async def list_users(admin: AdminUser, session: SessionDep, window: WindowDep) -> dict[str, Any]:
    users, total = await identity.admin_list_users(
        session, role=None, search=None, is_active=None, limit=window.limit, offset=window.offset
    )
    return window.listing("users", [_admin_user(u) for u in users], total)


class RoleBody(DialectIn):
    role: Role


@router.patch(
    "/admin/users/{user_id}/role",
    responses=errors(401, 403, 404, 409, 422),
    summary="Change an account's role",
)
async def set_role(
    user_id: uuid.UUID, body: RoleBody, admin: AdminUser, session: SessionDep
) -> dict[str, Any]:
    user = await admin_change(session, admin=admin, user_id=user_id, role=body.role)
    return ok(_admin_user(user))


@router.patch(
    "/admin/users/{user_id}/hint-level",
    responses=errors(401, 403, 404, 422),
    summary="Change an account's hint level (1-5)",
)
async def set_hint_level(
    user_id: uuid.UUID,
    admin: AdminUser,
    session: SessionDep,
    hint_level: Annotated[int, Query(ge=1, le=5)],
) -> dict[str, Any]:
    user = await admin_change(session, admin=admin, user_id=user_id, hint_level=hint_level)
    return ok(_admin_user(user))


class NewUserBody(DialectIn):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    full_name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role = Role.student


@router.post(
    "/admin/users",
    responses=errors(401, 403, 409, 422),
    summary="Create an account of any role",
)
async def create_user(
    body: NewUserBody, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    data = parse(AdminUserCreate, body.model_dump())
    user = await identity.admin_create_user(session, settings=settings, actor=admin, data=data)
    return ok(_admin_user(user))


@router.delete("/admin/users/{user_id}", responses=errors(401, 403, 404, 409), summary="Delete")
async def delete_user(user_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    await identity.admin_delete_user(session, actor=admin, user_id=user_id)
    return ok({"user_id": str(user_id)})


class PasswordBody(DialectIn):
    new_password: Annotated[str, Field(min_length=1, max_length=1024)]


@router.post(
    "/admin/users/{user_id}/reset-password",
    responses=errors(401, 403, 404, 422),
    summary="Set an account's password (its sessions end)",
)
async def reset_password(
    user_id: uuid.UUID,
    body: PasswordBody,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    await identity.admin_reset_password(
        session, settings=settings, actor=admin, user_id=user_id, new_password=body.new_password
    )
    return ok({"user_id": str(user_id)})


@router.get("/admin/stats", responses=errors(401, 403), summary="Dashboard figures")
async def stats(admin: AdminUser, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    figures = await platform_stats(session, settings=settings)
    return figures.model_dump(mode="json")


# Admin: jobs


@router.get("/admin/jobs", responses=errors(401, 403, 422), summary="Jobs")
async def list_jobs(
    admin: AdminUser,
    session: SessionDep,
    window: WindowDep,
    status: Annotated[JobStatus | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    # Every kind, as the canonical GET /admin/jobs lists them: BacMR's back office watches the
    # platform's queue, and a job of its (ingestion) is one kind among others (`kind` filters).
    rows, total = await jobs.list_jobs(
        session, status=status, kind=kind, limit=window.limit, offset=window.offset
    )
    return window.listing("jobs", [dump(JobOut, j) for j in rows], total)


@router.get("/admin/jobs/{job_id}", responses=errors(401, 403, 404), summary="A job")
async def get_job(job_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    return dump(JobOut, await jobs.get_job(session, job_id=job_id))


@router.post(
    "/admin/jobs/{job_id}/requeue",
    responses=errors(401, 403, 404, 409),
    summary="Requeue a failed job",
)
async def requeue_job(job_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    job = await jobs.retry_job(session, job_id=job_id)
    return {"status": str(job.status), "job_id": str(job.id)}
