"""HTTP routes of the billing domain: the caller's wallet, admin money operations, payments.

Every /wallet route is about the caller's own wallet (no id of another user is accepted);
/admin routes are admin-only. Writes that move tokens or money accept an Idempotency-Key.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, status
from pydantic import BaseModel

from studyhall.billing import bulk, payments, service, wallets
from studyhall.billing.ledger_filter import LedgerFilter
from studyhall.billing.models import Direction, EntryType, ReservationStatus
from studyhall.billing.schemas import (
    BulkTopupIn,
    BulkTopupOut,
    CheckoutIn,
    CheckoutOut,
    CourseCapIn,
    CourseCapOut,
    ExpenseIn,
    ExpenseOut,
    FinalizeIn,
    PackageOut,
    ReservationOut,
    ReserveIn,
    TopupIn,
    TopupOut,
    TransactionOut,
    TransactionPage,
    TransactionTotalsOut,
    WalletLimitsIn,
    WalletOut,
    WebhookOut,
)
from studyhall.core.db import Database, SessionDep
from studyhall.core.errors import Unprocessable
from studyhall.core.idempotency import IdempotencyDep
from studyhall.core.idempotent_routes import idempotent
from studyhall.core.openapi import DocumentedRoute, errors
from studyhall.core.pagination import PageParams, Pagination, listed, slice_page
from studyhall.core.schemas import IsoDatetime, Page
from studyhall.identity import service as identity_service
from studyhall.identity.dependencies import AdminUser, CurrentUser, SettingsDep
from studyhall.identity.models import User

router = APIRouter(tags=["billing"], route_class=DocumentedRoute)


_NOT_FOUND = {404: "Unknown user or reservation"}
_KEY_REUSED = {409: "Idempotency-Key reused with a different request"}
_RESERVE_ERRORS = errors(
    described={
        402: "Not enough tokens (`insufficient_tokens`)",
        429: "Daily limit (`daily_limit_reached`) or course cap (`course_cap_reached`) reached; "
        "`Retry-After` says when it resets",
        **_NOT_FOUND,
        **_KEY_REUSED,
    }
)
_PAYMENT_ERRORS = errors(
    described={
        503: "Payments are not configured (`payments_not_configured`)",
        502: "The payment provider failed (`payment_provider_error`)",
        404: "Unknown package",
        **_KEY_REUSED,
    }
)


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _target_user(session: SessionDep, user_id: uuid.UUID, _admin: AdminUser) -> User:
    """The user an admin route acts on (404 when unknown)."""
    return await identity_service.admin_get_user(session, user_id=user_id)


TargetUser = Annotated[User, Depends(_target_user)]


# Bodies refused before their Idempotency-Key is claimed (a parameter after the caller's, so
# a stranger is answered 401/403 first, as with any other body).


async def _named_targets(body: BulkTopupIn) -> BulkTopupIn:
    """422 `no_targets` when a bulk top-up names no wallet."""
    if body.course_id is None and not body.user_ids and not body.emails and not body.csv:
        raise Unprocessable(
            "Name the wallets: course_id, user_ids, emails or csv", code="no_targets"
        )
    return body


async def _payable(body: CheckoutIn, settings: SettingsDep) -> CheckoutIn:
    """503 when payments are not configured (a body that is not valid is a 422 first)."""
    payments.require_configured(settings.billing)
    return body


NamedTargets = Annotated[BulkTopupIn, Depends(_named_targets)]
PayableCheckout = Annotated[CheckoutIn, Depends(_payable)]


# What a retried write must repeat (`idempotent`'s `request`): the body, with the user acted on.
def _body(body: BaseModel) -> BaseModel:
    return body


def _target_and_body(target: User, body: BaseModel) -> dict[str, object]:
    return {"user_id": target.id, "body": body}


async def _ledger_filter(
    direction: Direction | None = None,
    type_: Annotated[EntryType | None, Query(alias="type")] = None,
    since: IsoDatetime | None = None,
    until: IsoDatetime | None = None,
) -> LedgerFilter:
    """The ledger listings' query filters (the user is the route's to choose)."""
    return LedgerFilter(direction=direction, entry_type=type_, since=since, until=until)


LedgerFilterParams = Annotated[LedgerFilter, Depends(_ledger_filter)]


StatusFilter = Annotated[ReservationStatus | None, Query(alias="status")]


async def _reservations_page(
    session: SessionDep, page: Pagination, user_id: uuid.UUID, status_: ReservationStatus | None
) -> Page[ReservationOut]:
    """A page of one user's reservations (of one status when given), newest first."""
    return await listed(
        page,
        ReservationOut.model_validate,
        service.list_reservations,
        session,
        user_id=user_id,
        status=status_,
    )


def _transactions_page(page: service.TransactionsPage, p: Pagination) -> TransactionPage:
    return TransactionPage(
        items=[TransactionOut.model_validate(e) for e in page.entries],
        total=page.totals.count,
        limit=p.limit,
        offset=p.offset,
        totals=TransactionTotalsOut.model_validate(page.totals),
    )


# The caller's wallet


@router.get("/wallet")
async def get_wallet(
    request: Request, session: SessionDep, user: CurrentUser, settings: SettingsDep
) -> WalletOut:
    """My wallet: balance, reserved, available, tier, daily limit, used today, next reset."""
    return await wallets.own_wallet(
        _db(request), session, user_id=user.id, settings=settings.billing
    )


@router.get("/wallet/reservations")
async def my_reservations(
    session: SessionDep, user: CurrentUser, page: PageParams, status_: StatusFilter = None
) -> Page[ReservationOut]:
    """My reservations, newest first; filter by status."""
    return await _reservations_page(session, page, user.id, status_)


@router.get("/wallet/reservations/{reservation_id}")
async def my_reservation(
    reservation_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> ReservationOut:
    """One of my reservations (404 for anyone else's)."""
    return ReservationOut.model_validate(
        await service.get_reservation(session, reservation_id=reservation_id, user_id=user.id)
    )


@router.get("/wallet/transactions")
async def my_transactions(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    page: PageParams,
    where: LedgerFilterParams,
) -> TransactionPage:
    """My ledger entries, newest first, with totals."""
    entries = await wallets.own_transactions(
        _db(request),
        session,
        user_id=user.id,
        settings=settings.billing,
        where=where,
        limit=page.limit,
        offset=page.offset,
    )
    return _transactions_page(entries, page)


# Admin: wallets


@router.get("/admin/wallets/{user_id}")
async def admin_get_wallet(
    target: TargetUser, session: SessionDep, settings: SettingsDep
) -> WalletOut:
    """Any user's wallet (created on first use)."""
    return await service.get_wallet(session, user_id=target.id, settings=settings.billing)


@router.post(
    "/admin/wallets/{user_id}/topup",
    status_code=status.HTTP_201_CREATED,
    response_model=TopupOut,
    responses=errors(described=_NOT_FOUND | _KEY_REUSED),
)
@idempotent(
    "POST /admin/wallets/{user_id}/topup",
    status_code=status.HTTP_201_CREATED,
    caller="admin",
    request=_target_and_body,
)
async def admin_topup(
    target: TargetUser, body: TopupIn, session: SessionDep, admin: AdminUser, settings: SettingsDep
) -> TopupOut:
    """Credit tokens (or debit with a negative amount: an adjustment); audited."""
    entry, wallet = await service.topup(
        session, user_id=target.id, request=body, actor_id=admin.id, settings=settings.billing
    )
    return TopupOut(transaction_id=entry.id, new_balance=wallet.balance)


@router.patch("/admin/wallets/{user_id}")
async def admin_set_limits(
    target: TargetUser,
    body: WalletLimitsIn,
    session: SessionDep,
    admin: AdminUser,
    settings: SettingsDep,
) -> WalletOut:
    """Change a wallet's tier and/or daily limit (null: the tier's); audited."""
    return await service.set_limits(
        session,
        user_id=target.id,
        actor_id=admin.id,
        tier=body.tier,
        daily_limit=body.daily_limit,
        change_daily_limit="daily_limit" in body.model_fields_set,
        settings=settings.billing,
    )


@router.get("/admin/wallets/{user_id}/reservations")
async def admin_list_reservations(
    target: TargetUser, session: SessionDep, page: PageParams, status_: StatusFilter = None
) -> Page[ReservationOut]:
    """A user's reservations, newest first."""
    return await _reservations_page(session, page, target.id, status_)


@router.post(
    "/admin/wallets/{user_id}/reservations",
    status_code=status.HTTP_201_CREATED,
    response_model=ReservationOut,
    responses=_RESERVE_ERRORS,
)
@idempotent(
    "POST /admin/wallets/{user_id}/reservations",
    status_code=status.HTTP_201_CREATED,
    caller="admin",
    request=_target_and_body,
)
async def admin_reserve(
    target: TargetUser,
    body: ReserveIn,
    session: SessionDep,
    admin: AdminUser,
    settings: SettingsDep,
) -> ReservationOut:
    """Hold tokens for a user (402 not enough, 429 daily limit or course cap)."""
    reservation = await service.reserve(
        session, user_id=target.id, request=body, actor_id=admin.id, settings=settings.billing
    )
    return ReservationOut.model_validate(reservation)


@router.post(
    "/admin/reservations/{reservation_id}/finalize",
    response_model=ReservationOut,
    responses=errors(
        described={
            **_NOT_FOUND,
            **_KEY_REUSED,
            422: "`actual` above the reserved amount (`exceeds_reservation`)",
        }
    ),
)
@idempotent(
    "POST /admin/reservations/{id}/finalize",
    status_code=status.HTTP_200_OK,
    caller="admin",
    request=lambda reservation_id, body: {"reservation_id": reservation_id, "body": body},
)
async def admin_finalize(
    reservation_id: uuid.UUID,
    body: FinalizeIn,
    session: SessionDep,
    admin: AdminUser,
    settings: SettingsDep,
) -> ReservationOut:
    """Charge `actual` and release the rest; above the hold is refused; a resolved one is kept."""
    reservation = await service.finalize(
        session,
        reservation_id=reservation_id,
        actual=body.actual,
        actor_id=admin.id,
        settings=settings.billing,
    )
    return ReservationOut.model_validate(reservation)


@router.post(
    "/admin/reservations/{reservation_id}/release",
    response_model=ReservationOut,
    responses=errors(described=_NOT_FOUND | _KEY_REUSED),
)
@idempotent(
    "POST /admin/reservations/{id}/release",
    status_code=status.HTTP_200_OK,
    caller="admin",
    request=lambda reservation_id: {"reservation_id": reservation_id},
)
async def admin_release(
    reservation_id: uuid.UUID, session: SessionDep, admin: AdminUser, settings: SettingsDep
) -> ReservationOut:
    """Give all held tokens back; a resolved reservation is returned as is."""
    reservation = await service.release(
        session, reservation_id=reservation_id, actor_id=admin.id, settings=settings.billing
    )
    return ReservationOut.model_validate(reservation)


@router.post(
    "/admin/bulk-topups",
    response_model=BulkTopupOut,
    responses=errors(described={404: "Unknown course (`course_not_found`)", **_KEY_REUSED}),
)
@idempotent(
    "POST /admin/bulk-topups", status_code=status.HTTP_200_OK, caller="admin", request=_body
)
async def admin_bulk_topup(
    session: SessionDep, admin: AdminUser, settings: SettingsDep, body: NamedTargets
) -> BulkTopupOut:
    """Credit many wallets: all students of a course, user ids, emails and/or a CSV text.

    One ledger entry (and one audit row) per wallet, a report row per target: `credited`,
    `duplicate` (the same user listed again), `not_found` or `invalid`; at most 5,000 rows, all
    credited in one unit of work. With an `Idempotency-Key`, a retry replays the first report and
    credits nothing more. 422 `no_targets` when the body names nobody.
    """
    rows = await bulk.resolve(session, body)
    report = await bulk.bulk_topup(
        session, rows=rows, request=body, actor_id=admin.id, settings=settings.billing
    )
    return BulkTopupOut.model_validate(report)


# Admin: reports and expenses


@router.get("/admin/transactions")
async def admin_transactions(
    session: SessionDep,
    _admin: AdminUser,
    page: PageParams,
    where: LedgerFilterParams,
    user_id: uuid.UUID | None = None,
) -> TransactionPage:
    """The ledger across users, newest first, filtered, with credit/debit totals."""
    result = await service.transactions(
        session, replace(where, user_id=user_id), limit=page.limit, offset=page.offset
    )
    return _transactions_page(result, page)


@router.post(
    "/admin/expenses",
    status_code=status.HTTP_201_CREATED,
    response_model=ExpenseOut,
    responses=errors(described=_KEY_REUSED),
)
@idempotent(
    "POST /admin/expenses", status_code=status.HTTP_201_CREATED, caller="admin", request=_body
)
async def admin_record_expense(
    body: ExpenseIn, session: SessionDep, admin: AdminUser
) -> ExpenseOut:
    """Record a platform cost (API or servers), in the currency's minor unit; audited."""
    expense = await service.record_expense(session, request=body, actor_id=admin.id)
    return ExpenseOut.model_validate(expense)


@router.get("/admin/expenses")
async def admin_list_expenses(
    session: SessionDep,
    _admin: AdminUser,
    page: PageParams,
    category: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[ExpenseOut]:
    """Recorded expenses, newest first."""
    return await listed(
        page, ExpenseOut.model_validate, service.list_expenses, session, category=category
    )


# Course caps


@router.get("/courses/{course_id}/token-cap")
async def get_course_cap(
    course_id: uuid.UUID, session: SessionDep, _admin: AdminUser, settings: SettingsDep
) -> CourseCapOut:
    """A course's daily token cap (null when none) and today's usage."""
    return CourseCapOut.model_validate(
        await service.get_course_cap(session, course_id=course_id, settings=settings.billing)
    )


@router.put("/courses/{course_id}/token-cap")
async def set_course_cap(
    course_id: uuid.UUID,
    body: CourseCapIn,
    session: SessionDep,
    admin: AdminUser,
    settings: SettingsDep,
) -> CourseCapOut:
    """Set a course's daily token cap for all its users together (null removes it); audited."""
    view = await service.set_course_cap(
        session,
        course_id=course_id,
        daily_cap=body.daily_cap,
        actor_id=admin.id,
        settings=settings.billing,
    )
    return CourseCapOut.model_validate(view)


# Payments


@router.get("/payments/packages", responses=errors(described={503: "Payments are not configured"}))
async def list_packages(
    _user: CurrentUser, settings: SettingsDep, page: PageParams
) -> Page[PackageOut]:
    """The token packages on sale (503 when payments are not configured)."""
    payments.require_configured(settings.billing)
    items = [PackageOut.model_validate(p) for p in payments.packages(settings.billing)]
    return slice_page(items, page)


@router.post(
    "/payments/checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckoutOut,
    responses=_PAYMENT_ERRORS,
)
@idempotent(
    "POST /payments/checkout", status_code=status.HTTP_201_CREATED, caller="user", request=_body
)
async def checkout(
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    body: PayableCheckout,
    idem: IdempotencyDep,
) -> CheckoutOut:
    """Start buying a package: a Stripe PaymentIntent → {client_secret, publishable_key}."""
    result = await payments.start_checkout(
        session,
        user_id=user.id,
        package_id=body.package_id,
        settings=settings.billing,
        # The provider is asked once per key too (its own idempotency, across our retries).
        idempotency_key=idem.key,
    )
    return CheckoutOut.model_validate(result)


@router.post(
    "/payments/webhook",
    responses=errors(
        described={
            400: "Bad or missing signature (`invalid_webhook_signature`) or payload",
            503: "No webhook secret configured",
        }
    ),
)
async def payment_webhook(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookOut:
    """Stripe's signed events: a succeeded payment credits once; a refund debits."""
    event = payments.verify_webhook(settings.billing, await request.body(), stripe_signature)
    outcome = await payments.handle_event(session, event=event, settings=settings.billing)
    return WebhookOut(received=True, outcome=outcome)
