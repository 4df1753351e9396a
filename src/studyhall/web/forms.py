"""Form helpers: read a posted form, validate it with the API's schemas, turn refusals into text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from studyhall.core.errors import AppError, Unprocessable
from studyhall.web.session import CSRF_FIELD


async def form_data(request: Request) -> dict[str, str]:
    """The posted text fields (files and the CSRF token left out)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}


def problems(exc: Exception, t: Callable[..., str]) -> list[str]:
    """What went wrong, in words a person reads next to the form."""
    if isinstance(exc, AppError):
        return [t(exc.message)]
    if isinstance(exc, ValidationError | RequestValidationError):
        out: list[str] = []
        for error in exc.errors():
            field = next((str(p) for p in reversed(error.get("loc", ())) if isinstance(p, str)), "")
            message = str(error.get("msg", "invalid"))
            out.append(
                f"{t(field.replace('_', ' ').capitalize())}: {t(message)}" if field else t(message)
            )
        return out
    raise exc


def status_of(exc: Exception) -> int:
    """The HTTP status a refused form comes back with: the service's own, 422 for bad input."""
    return exc.status_code if isinstance(exc, AppError) else 422


def number(data: dict[str, str], name: str, kind: type[int] | type[float] = int) -> Any:
    """A number typed in a form, as the JSON number the API's schemas expect (blank: None;
    a decimal comma as typed in much of the world); anything else is refused."""
    value = data.get(name, "").strip().replace(",", ".")
    if not value:
        return None
    try:
        return int(value) if kind is int else float(value)
    except ValueError:
        raise Unprocessable("Enter a number", code="not_a_number") from None


def validate(schema: Any, data: dict[str, Any]) -> Any:
    """The API's own input schema checks the form (same rules, same limits)."""
    return schema.model_validate(data)
