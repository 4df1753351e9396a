"""File storage behind one small interface; a local directory by default."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from studyhall.core.ids import new_id


class LocalStorage:
    """Stores blobs under a root directory with generated names (never the client's)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("storage key escapes the root")
        return path

    def new_key(self, prefix: str, suffix: str = "") -> str:
        """A fresh, unguessable key under a prefix."""
        return f"{prefix}/{new_id().hex}{suffix}"

    async def put(self, key: str, data: bytes) -> None:
        """Write atomically (temp file + rename)."""
        path = self._path(key)

        def _write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)

        await asyncio.to_thread(_write)

    async def get(self, key: str) -> bytes:
        """Read a blob."""
        return await asyncio.to_thread(self._path(key).read_bytes)

    def local_path(self, key: str) -> Path:
        """Filesystem path of a blob (for extractors that need a file)."""
        return self._path(key)

    async def delete(self, key: str) -> None:
        """Remove a blob; missing is fine."""
        await asyncio.to_thread(self._path(key).unlink, True)
