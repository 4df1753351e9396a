"""The tus probe of test_tus_conformance.py against the reference server (`@tus/server`):
the same steps pass there, so the probe tests the protocol, not our reading of it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from tests.peers.tus_server import TusPeer, require
from tests.video.tus_probe import probe

PIECE = 256 * 1024


@pytest.fixture
def tus_peer(database_url: str) -> Iterator[TusPeer]:
    if database_url.startswith("sqlite"):
        # It never touches our database: once per run is enough (on PostgreSQL).
        pytest.skip("the reference-server probe runs once, on PostgreSQL")
    require()
    peer = TusPeer()
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


async def test_the_probe_passes_against_the_reference_tus_server(tus_peer: TusPeer) -> None:
    data = os.urandom(5 * PIECE + 777)
    url, _ = await asyncio.to_thread(
        probe, tus_peer.endpoint, data, headers={}, metadata={"filename": "a.bin"}, piece=PIECE
    )
    assert tus_peer.stored(url) == data
