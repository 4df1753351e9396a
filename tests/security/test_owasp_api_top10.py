import time

from tests.security.world import build_world


async def test_world(client, make_user, auth, db) -> None:
    for _ in range(3):
        t = time.perf_counter()
        await build_world(client, make_user, auth, db)
        print("world", time.perf_counter() - t)
