"""Idempotent HTTP writes declared on the route, for any domain.

    @router.post("/admin/expenses", status_code=201, response_model=ExpenseOut)
    @idempotent("POST /admin/expenses", status_code=201, caller="admin", request=lambda body: body)
    async def record_expense(body: ExpenseIn, session: SessionDep, admin: AdminUser) -> ExpenseOut:
        return ExpenseOut.model_validate(await service.record_expense(session, ...))

The route's body is the work. With an `Idempotency-Key` header it runs once per key, and its answer
is remembered in the route's unit of work (`core.idempotency`): a retry gets the first answer
again (same status and body, `Idempotent-Replayed: true`) without running it; the same key with
another request is 409. Without the header the route just runs. The route keeps its parameters;
the decorator adds the key's dependency beside them (a route that needs the key itself, to pass
it on, declares `IdempotencyDep` too and gets the same object).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi.responses import Response

from studyhall.core.idempotency import IdempotencyDep, Idempotent

T = TypeVar("T")

# The parameter the decorator adds to the route (a name no route uses for its own).
_KEY_PARAMETER = "idempotent_route_key"


def idempotent(
    operation: str,
    *,
    status_code: int,
    caller: str,
    request: Callable[..., Any],
) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T | Response]]]:
    """Make a route replay its first answer to a retried `Idempotency-Key`.

    `operation`: the stable name keys are scoped by (keep it when a path changes, or retries in
    flight would run twice); `status_code`: the route's own success status, replayed with the
    body; `caller`: the route parameter holding the authenticated user, whose keys they are;
    `request`: what a retry must repeat, built from the route's parameters it names (e.g.
    `lambda target, body: {"user_id": target.id, "body": body}`).
    """
    names = tuple(inspect.signature(request).parameters)

    def decorate(endpoint: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T | Response]]:
        signature = inspect.signature(endpoint, eval_str=True)
        missing = {caller, *names} - set(signature.parameters)
        if missing or _KEY_PARAMETER in signature.parameters:
            raise TypeError(f"{endpoint.__name__}: no parameter {sorted(missing)} to key on")

        async def route(**params: Any) -> T | Response:
            idem: Idempotent = params.pop(_KEY_PARAMETER)
            return await idem.run(
                functools.partial(endpoint, **params),
                user_id=params[caller].id,
                route=operation,
                request=request(**{name: params[name] for name in names}),
                status_code=status_code,
            )

        # FastAPI reads the route's name, docstring and parameters from the function it is given.
        functools.update_wrapper(route, endpoint)
        key = inspect.Parameter(
            _KEY_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=IdempotencyDep
        )
        route.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), key]
        )
        return route

    return decorate
