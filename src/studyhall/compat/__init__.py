"""Compatibility dialects: the five original APIs, served as documented under /compat/<name>.

Each dialect is a thin translation (parse the document's shape, call the domain services the
canonical API uses, render the document's shape) mounted as its own sub-app, with its own
OpenAPI and docs, so the canonical /docs stays clean.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from studyhall.config import Settings

# Dialect name -> module holding `build() -> FastAPI`.
MODULES = {
    "subject-tutor": "studyhall.compat.subject_tutor",
    "bacmr": "studyhall.compat.bacmr",
    "chat-prompts": "studyhall.compat.chat_prompts",
    "elearning": "studyhall.compat.elearning",
    "apranova": "studyhall.compat.apranova",
}


def mount_dialects(app: FastAPI, settings: Settings) -> list[str]:
    """Mount every enabled dialect at /compat/<name>; the names mounted."""
    mounted = []
    for name in settings.compat.enabled_names():
        module_name = MODULES.get(name)
        if module_name is None:
            continue  # not served yet
        sub: FastAPI = importlib.import_module(module_name).build()
        # One state: the dialect uses the app's settings, database, limiter, storage, providers.
        sub.state = app.state
        app.mount(f"/compat/{name}", sub, name=f"compat-{name}")
        mounted.append(name)
    return mounted
