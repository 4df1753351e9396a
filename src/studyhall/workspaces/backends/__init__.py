"""Choosing the backend from settings; one instance per configuration per process."""

from __future__ import annotations

import asyncio

from studyhall.config import Settings
from studyhall.workspaces.backends.base import WorkspaceBackend
from studyhall.workspaces.backends.off import OffBackend
from studyhall.workspaces.backends.process import ProcessBackend

# The process backend remembers the children it started and the docker backend keeps a
# connection pool, so the requests and the worker of one event loop share the instance.
_INSTANCES: dict[str, WorkspaceBackend] = {}


def backend_for(settings: Settings) -> WorkspaceBackend:
    """The configured backend (docker, process or off)."""
    config = settings.workspaces
    key = f"{id(asyncio.get_running_loop())}|{settings.data_dir}|{config.model_dump_json()}"
    backend = _INSTANCES.get(key)
    if backend is None:
        backend = _make(settings)
        _INSTANCES[key] = backend
    return backend


def _make(settings: Settings) -> WorkspaceBackend:
    config = settings.workspaces
    if config.backend == "process":
        return ProcessBackend(config, settings.data_dir)
    if config.backend == "docker":
        from studyhall.workspaces.backends.docker import DockerBackend

        return DockerBackend(config)
    return OffBackend()
