"""Imports every domain's models so Base.metadata knows all tables (Alembic, tests)."""

from __future__ import annotations

import importlib
import pkgutil

import studyhall
from studyhall.core.models import Base

# Core modules that define tables shared by every domain.
_CORE_TABLES = ("studyhall.core.idempotency",)


def load_all_models() -> type[Base]:
    """Import `studyhall.<domain>.models` for every domain package, and core's tables, and
    return the Base."""
    for name in _CORE_TABLES:
        importlib.import_module(name)
    for module in pkgutil.iter_modules(studyhall.__path__):
        if module.ispkg and module.name not in ("core", "migrations"):
            try:
                importlib.import_module(f"studyhall.{module.name}.models")
            except ModuleNotFoundError as exc:
                if exc.name != f"studyhall.{module.name}.models":
                    raise
    return Base
