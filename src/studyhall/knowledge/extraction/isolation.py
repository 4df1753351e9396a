"""Run a parser module in a throwaway child process with memory, CPU and wall-clock limits.

Used for zip-based formats (DOCX); PDFs have their own lighter script (`_pdf_worker`). The child
is `python -m MODULE CONFIG_JSON` with the file on stdin and one JSON object on stdout; the module
applies RLIMIT_AS/RLIMIT_CPU to itself before reading the input (see `apply_limits`).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any

from studyhall.knowledge.extraction.base import ExtractionError, ExtractionLimits

__all__ = ["apply_limits", "run_isolated_worker"]

log = logging.getLogger(__name__)

# Time the child gets after its own deadline to report before it is killed.
_GRACE_S = 10.0


def apply_limits(memory_mb: int, cpu_s: int) -> None:
    """Cap this process's address space and CPU time (called first thing in the child)."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    # No core dumps of hostile input.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_isolated_worker(
    module: str, data: bytes, config: dict[str, Any], limits: ExtractionLimits, *, what: str
) -> dict[str, Any]:
    """Run `module` on `data` in a capped child; ExtractionError when the child fails."""
    params = {
        **config,
        "memory_mb": limits.max_memory_mb,
        "cpu_s": int(limits.time_budget_s) + 5,
    }
    command = [sys.executable, "-P", "-m", module, json.dumps(params)]
    try:
        proc = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
            command,
            input=data,
            capture_output=True,
            timeout=limits.time_budget_s + _GRACE_S,
            check=False,
            env=os.environ.copy(),
        )
    except subprocess.TimeoutExpired as exc:
        raise ExtractionError(
            f"the {what} took longer than its time budget ({limits.time_budget_s:.0f} s)"
        ) from exc
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace")[-500:]
        log.warning("%s worker exited with %s: %s", what, proc.returncode, stderr)
        if proc.returncode == -signal.SIGXCPU:
            raise ExtractionError(f"the {what} used more CPU time than its budget")
        if proc.returncode in (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGKILL, 134, 139):
            raise ExtractionError(
                f"the {what} parser ran out of its {limits.max_memory_mb} MB memory limit or"
                " crashed (decompression bomb or corrupt file)"
            )
        if "MemoryError" in stderr:
            raise ExtractionError(
                f"the {what} parser ran out of its {limits.max_memory_mb} MB memory limit"
            )
        raise ExtractionError(f"the {what} parser failed (exit status {proc.returncode})")
    try:
        result: dict[str, Any] = json.loads(proc.stdout)
    except ValueError as exc:
        raise ExtractionError(f"the {what} parser returned no result") from exc
    return result
