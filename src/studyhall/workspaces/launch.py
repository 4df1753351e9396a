"""`python -m studyhall.workspaces.launch LIMITS_JSON -- ARGV...`: cap this process, become
the workspace user, then exec the workspace.

The process backend starts every workspace through this, so the limits apply to the workspace
and to everything it starts (kernels, terminals) without a `preexec_fn` in the server, which is
unsafe in a process that runs threads. The user is switched here, after the interpreter has
started, so the workspace user needs no access to the server's Python.
"""

from __future__ import annotations

import json
import os
import resource
import sys


def apply_limits(memory_mb: int, max_processes: int | None) -> None:
    """Cap the address space (each process), core dumps and, for a dedicated user, processes."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if max_processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))


def become(uid: int, gid: int) -> None:
    """Drop to the workspace user for good (groups first, the user id last)."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit("could not switch to the workspace user")


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: python -m studyhall.workspaces.launch LIMITS_JSON -- ARGV...")
    limits = json.loads(argv[0])
    apply_limits(int(limits["memory_mb"]), limits.get("max_processes"))
    if limits.get("uid") is not None:
        become(int(limits["uid"]), int(limits["gid"]))
    os.execvp(argv[2], argv[2:])  # noqa: S606 - the operator's configured command, no shell


if __name__ == "__main__":
    main(sys.argv[1:])
