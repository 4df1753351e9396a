"""Modules and lessons: dense ordering on insert, move and delete; who may read and write."""

from __future__ import annotations

import httpx

from tests.courses.helpers import API, Headers, World, add_lesson, add_module


async def _module_order(client: httpx.AsyncClient, headers: dict[str, str], cid: str) -> list[str]:
    detail = (await client.get(f"{API}/courses/{cid}", headers=headers)).json()
    positions = [m["position"] for m in detail["modules"]]
    assert positions == list(range(len(positions)))  # always dense
    return [m["title"] for m in detail["modules"]]


async def _lesson_order(
    client: httpx.AsyncClient, headers: dict[str, str], cid: str, module_id: str | None
) -> list[str]:
    detail = (await client.get(f"{API}/courses/{cid}", headers=headers)).json()
    lessons = [x for x in detail["lessons"] if x["module_id"] == module_id]
    assert [x["position"] for x in lessons] == list(range(len(lessons)))
    return [x["title"] for x in lessons]


async def test_module_positions_stay_dense(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    t = auth(world.teacher)
    cid = world.course_a["id"]
    a = await add_module(client, t, cid, title="a")
    b = await add_module(client, t, cid, title="b")
    c = await add_module(client, t, cid, title="c")
    await add_module(client, t, cid, title="x", position=1)
    assert await _module_order(client, t, cid) == ["a", "x", "b", "c"]
    await add_module(client, t, cid, title="end", position=99)  # clamped to the end
    assert await _module_order(client, t, cid) == ["a", "x", "b", "c", "end"]

    r = await client.patch(f"{API}/modules/{c['id']}", json={"position": 0}, headers=t)
    assert r.status_code == 200 and r.json()["position"] == 0
    assert await _module_order(client, t, cid) == ["c", "a", "x", "b", "end"]
    r = await client.patch(
        f"{API}/modules/{c['id']}", json={"position": 3, "title": "C"}, headers=t
    )
    assert r.status_code == 200
    assert await _module_order(client, t, cid) == ["a", "x", "b", "C", "end"]

    assert (await client.delete(f"{API}/modules/{a['id']}", headers=t)).status_code == 204
    assert await _module_order(client, t, cid) == ["x", "b", "C", "end"]

    # Only the owner (or an admin) changes modules.
    for user, status in (
        (world.student, 403),
        (world.other_teacher, 403),
        (world.other_student, 403),
        (world.admin, 200),
    ):
        r = await client.patch(f"{API}/modules/{b['id']}", json={"title": "z"}, headers=auth(user))
        assert r.status_code == status
    assert (await client.patch(f"{API}/modules/{b['id']}", json={"title": "z"})).status_code == 401
    r = await client.post(
        f"{API}/courses/{cid}/modules", json={"title": "no"}, headers=auth(world.other_teacher)
    )
    assert r.status_code == 403
    draft_module = await add_module(client, t, world.course_b["id"])
    r = await client.delete(
        f"{API}/modules/{draft_module['id']}", headers=auth(world.other_teacher)
    )
    assert r.status_code == 404


async def test_lesson_positions_and_moves_between_modules(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    t = auth(world.teacher)
    cid = world.course_a["id"]
    m1 = await add_module(client, t, cid, title="m1")
    m2 = await add_module(client, t, cid, title="m2")
    l1 = await add_lesson(client, t, cid, module_id=m1["id"], title="l1")
    l2 = await add_lesson(client, t, cid, module_id=m1["id"], title="l2")
    l3 = await add_lesson(client, t, cid, module_id=m1["id"], title="l3")
    await add_lesson(client, t, cid, module_id=m1["id"], title="l0", position=0)
    assert await _lesson_order(client, t, cid, m1["id"]) == ["l0", "l1", "l2", "l3"]

    r = await client.patch(f"{API}/lessons/{l3['id']}", json={"position": 1}, headers=t)
    assert r.status_code == 200 and r.json()["position"] == 1
    assert await _lesson_order(client, t, cid, m1["id"]) == ["l0", "l3", "l1", "l2"]

    # Move l1 to the start of m2: both orderings stay dense.
    k = await add_lesson(client, t, cid, module_id=m2["id"], title="k")
    r = await client.patch(
        f"{API}/lessons/{l1['id']}", json={"module_id": m2["id"], "position": 0}, headers=t
    )
    assert r.status_code == 200 and r.json()["module_id"] == m2["id"]
    assert await _lesson_order(client, t, cid, m1["id"]) == ["l0", "l3", "l2"]
    assert await _lesson_order(client, t, cid, m2["id"]) == ["l1", "k"]
    # Out of any module, to the end of the module-less lessons.
    r = await client.patch(f"{API}/lessons/{l2['id']}", json={"module_id": None}, headers=t)
    assert r.status_code == 200 and r.json()["module_id"] is None
    assert await _lesson_order(client, t, cid, None) == ["A1", "l2"]
    assert await _lesson_order(client, t, cid, m1["id"]) == ["l0", "l3"]

    assert (await client.delete(f"{API}/lessons/{l1['id']}", headers=t)).status_code == 204
    assert await _lesson_order(client, t, cid, m2["id"]) == ["k"]
    # Deleting a module deletes its lessons.
    assert (await client.delete(f"{API}/modules/{m1['id']}", headers=t)).status_code == 204
    detail = (await client.get(f"{API}/courses/{cid}", headers=t)).json()
    assert [x["title"] for x in detail["lessons"]] == ["A1", "l2", "k"]
    assert detail["modules"][0]["position"] == 0

    # A module of another course is refused.
    other_module = await add_module(client, t, world.course_b["id"])
    r = await client.post(
        f"{API}/courses/{cid}/lessons",
        json={"title": "x", "module_id": other_module["id"]},
        headers=t,
    )
    assert r.status_code == 422
    r = await client.patch(
        f"{API}/lessons/{k['id']}", json={"module_id": other_module["id"]}, headers=t
    )
    assert r.status_code == 422


async def test_lesson_read_and_write_permissions(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    a, b, c = world.lesson_a["id"], world.lesson_b["id"], world.lesson_c["id"]
    reads = [
        (world.student, a, 200),  # enrolled
        (world.student, b, 404),  # another course's unpublished lesson
        (world.student, c, 403),  # published course, not enrolled
        (world.other_student, a, 403),
        (world.other_teacher, a, 403),
        (world.other_teacher, b, 404),
        (world.teacher, a, 200),
        (world.teacher, b, 200),
        (world.admin, b, 200),
    ]
    for user, lesson_id, status in reads:
        r = await client.get(f"{API}/lessons/{lesson_id}", headers=auth(user))
        assert r.status_code == status, (user.role, lesson_id, r.text)
    body = (await client.get(f"{API}/lessons/{a}", headers=auth(world.student))).json()
    assert body["content"].startswith("# Lesson") and body["duration_s"] == 100
    assert (await client.get(f"{API}/lessons/{a}")).status_code == 401

    writes = [
        (world.student, a, 403),
        (world.other_student, b, 404),
        (world.other_teacher, a, 403),
        (world.other_teacher, b, 404),
        (world.teacher, a, 200),
        (world.admin, c, 200),
    ]
    for user, lesson_id, status in writes:
        r = await client.patch(
            f"{API}/lessons/{lesson_id}", json={"title": "T"}, headers=auth(user)
        )
        assert r.status_code == status, (user.role, lesson_id, r.text)
    r = await client.post(
        f"{API}/courses/{world.course_a['id']}/lessons",
        json={"title": "x"},
        headers=auth(world.student),
    )
    assert r.status_code == 403
    r = await client.delete(f"{API}/lessons/{a}", headers=auth(world.other_teacher))
    assert r.status_code == 403
    r = await client.post(
        f"{API}/courses/{world.course_a['id']}/lessons",
        json={"title": "v", "video_url": "javascript:alert(1)"},
        headers=auth(world.teacher),
    )
    assert r.status_code == 422
