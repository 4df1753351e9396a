"""File storage behind one small interface; a local directory by default."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
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

    async def create_empty(self, key: str) -> None:
        """Create an empty blob that `write_at` fills piece by piece (a resumable upload)."""
        path = self._path(key)

        def _create() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

        await asyncio.to_thread(_create)

    async def write_at(
        self, key: str, offset: int, chunks: AsyncIterator[bytes], *, flush_bytes: int = 1 << 20
    ) -> int:
        """Write the chunks into an existing blob from `offset` on, as they arrive, and return
        how many bytes were written. Chunks are gathered up to `flush_bytes` per write (never
        the whole body in memory); what was written is on disk (fsync) before this returns,
        also when the chunk source fails part way (its error is raised after)."""
        path = self._path(key)
        handle = await asyncio.to_thread(open, path, "r+b")
        written = 0
        pending: list[bytes] = []
        pending_size = 0

        def _write(data: bytes, at: int) -> None:
            handle.seek(at)
            handle.write(data)

        def _sync() -> None:
            handle.flush()
            os.fsync(handle.fileno())

        try:
            try:
                async for chunk in chunks:
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size >= flush_bytes:
                        await asyncio.to_thread(_write, b"".join(pending), offset + written)
                        written += pending_size
                        pending, pending_size = [], 0
            finally:
                if pending:
                    await asyncio.to_thread(_write, b"".join(pending), offset + written)
                    written += pending_size
                await asyncio.to_thread(_sync)
        finally:
            await asyncio.to_thread(handle.close)
        return written

    async def truncate(self, key: str, size: int) -> None:
        """Cut a blob to `size` bytes."""
        await asyncio.to_thread(os.truncate, self._path(key), size)

    async def size(self, key: str) -> int:
        """A blob's size in bytes."""
        return (await asyncio.to_thread(self._path(key).stat)).st_size

    async def delete(self, key: str) -> None:
        """Remove a blob; missing is fine."""
        await asyncio.to_thread(self._path(key).unlink, True)
