"""StudyHall as an institution runs it: two api processes and two workers started from the CLI,
on PostgreSQL and Redis, used through both api processes at once, with faults in the middle.

Everything goes through real processes and real HTTP: `studyhall serve --port P` ×2,
`studyhall worker` ×2, `studyhall create-admin`; the embeddings and the tutor's model are the
local OpenAI-compatible peers (tests/peers/). After the run and after every fault the same end
checks hold (tests/system/_cluster.py `end_checks`): no 5xx outside the fault's own window,
every job succeeded, every wallet equals the sum of its ledger with nothing negative, every
reservation resolved at most once, no chunk stored twice, and each process's /metrics is sane.

PostgreSQL only (SQLite is one process's embedded database): skipped with the reason on SQLite
runs, and Redis is required whenever STUDYHALL_TEST_DATABASE_URL is set. The PostgreSQL restart
runs on a private PostgreSQL server started for it (same binaries), so stopping it disturbs no
other test using the machine's server. STUDYHALL_SYSTEM_USERS sets the number of students
(default 200, as in the benchmark).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.peers.openai_llm import LLMPeer
from tests.system._cluster import (
    AddressPlan,
    Cluster,
    EmbeddingServer,
    Proc,
    Recorder,
    Replicas,
    SystemDB,
    World,
    ask,
    big_document,
    bootstrap,
    chat_all,
    document_text,
    end_checks,
    expect,
    fund_and_spend,
    login,
    make_documents,
    metrics_problems,
    onboard_students,
    open_chat,
    private_postgres,
    search,
    search_all,
    upload,
    upload_documents,
)

USERS = int(os.environ.get("STUDYHALL_SYSTEM_USERS", "200"))
LOGIN_LIMIT = 8  # per IP and minute, counted in Redis across both api processes
LEASE_S = 3
RESERVATION_TTL_S = 5

pytestmark = [pytest.mark.xdist_group("system-multiprocess"), pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def services(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The run's PostgreSQL database and Redis, or a skip on SQLite runs."""
    if not os.environ.get("STUDYHALL_TEST_DATABASE_URL"):
        pytest.skip(
            "multi-process system test: needs PostgreSQL and Redis (set "
            "STUDYHALL_TEST_DATABASE_URL and STUDYHALL_TEST_REDIS_URL); SQLite is single-process"
        )
    return request.getfixturevalue("database_url"), request.getfixturevalue("redis_url")


def cluster_env(embeddings: EmbeddingServer, llm: LLMPeer | None) -> dict[str, str]:
    """Settings of every process of the cluster (short leases and TTLs so faults heal fast);
    without `llm` the processes use the offline tutor."""
    env = {
        "STUDYHALL_JOBS__LEASE_S": str(LEASE_S),
        "STUDYHALL_JOBS__HEARTBEAT_S": "1",
        "STUDYHALL_JOBS__POLL_INTERVAL_S": "0.2",
        "STUDYHALL_BILLING__RESERVATION_TTL_S": str(RESERVATION_TTL_S),
        "STUDYHALL_RATE_LIMITS__LOGIN_PER_IP": f"{LOGIN_LIMIT}/minute",
        "STUDYHALL_RATE_LIMITS__TUTOR_PER_USER": "30/minute",
        # The machine's PostgreSQL is shared with the rest of the suite: small pools.
        "STUDYHALL_DB_POOL_SIZE": "5",
        **embeddings.env(),
    }
    if llm is not None:
        env.update(
            {
                "STUDYHALL_LLM__PROVIDER": "openai",
                "STUDYHALL_LLM__BASE_URL": llm.base_url,
                "STUDYHALL_LLM__MODEL": "peer-model",
                "STUDYHALL_LLM__API_KEY": "system-test-key",
                "STUDYHALL_LLM__MAX_RETRIES": "1",
                "STUDYHALL_LLM__TIMEOUT_S": "10",
            }
        )
    return env


@dataclass
class System:
    cluster: Cluster
    api: Replicas
    db: SystemDB
    embeddings: EmbeddingServer
    llm: LLMPeer
    addresses: AddressPlan
    apis: list[Proc]
    workers: list[Proc]
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    @property
    def recorder(self) -> Recorder:
        return self.api.recorder

    def fail(self, problems: list[str]) -> str:
        return "\n".join(problems[:40]) + "\n\nprocess logs:\n" + self.cluster.diagnostics()


def start(cluster: Cluster, apis: int, workers: int) -> tuple[list[Proc], list[Proc]]:
    """Start api processes and workers at once, then wait for all of them."""
    api_procs = [cluster.start_api(f"api-{i}", wait=False) for i in range(apis)]
    worker_procs = [cluster.start_worker(f"worker-{i}", wait=False) for i in range(workers)]
    for p in api_procs:
        cluster.wait_ready(p)
    for p in worker_procs:
        cluster.wait_worker(p)
    return api_procs, worker_procs


@pytest.fixture(scope="module")
async def system(
    services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    """Two api processes and two workers on the run's PostgreSQL database and Redis."""
    database_url, redis_url = services
    llm = LLMPeer().start()
    embeddings = EmbeddingServer().start()
    db = SystemDB(database_url)
    await db.empty()
    cluster = Cluster(
        database_url=database_url,
        redis_url=redis_url,
        workdir=tmp_path_factory.mktemp("cluster"),
        env=cluster_env(embeddings, llm),
    )
    api: Replicas | None = None
    try:
        apis, workers = start(cluster, apis=2, workers=2)
        api = Replicas([p.base_url for p in apis], Recorder())
        yield System(cluster, api, db, embeddings, llm, AddressPlan(), apis, workers)
    finally:
        if api is not None:
            await api.aclose()
        cluster.stop()
        # The harness empties the database only after tests that used `app`.
        await db.empty()
        await db.dispose()
        embeddings.stop()
        llm.stop()


@pytest.fixture(scope="module")
async def world(system: System) -> World:
    """The run: students register, log in, enroll; the teacher uploads documents; the admin tops
    up wallets; students spend, search and (with the tutor) chat — through both replicas."""
    system.recorder.phase = "run"
    try:
        world = await bootstrap(system.api, system.cluster, system.addresses, system.tag)
        await onboard_students(system.api, world, system.addresses, USERS)
        documents = make_documents(6, system.tag)
        await upload_documents(system.api, world, documents)
        await fund_and_spend(system.api, world)
        await system.db.wait_for_jobs()
        await search_all(system.api, world, [marker for _, _, marker in documents])
        await chat_all(system.api, world)
    except (AssertionError, httpx.HTTPError) as exc:
        raise AssertionError(system.fail([f"the run failed: {exc!r}"])) from exc
    return world


async def test_the_whole_system_through_two_replicas(system: System, world: World) -> None:
    problems = await end_checks(system.api, system.db, phases=["run"])
    assert not problems, system.fail(problems)

    assert len(world.students) == USERS
    calls = [c for c in system.recorder.calls if c.phase == "run"]
    per_replica = [sum(1 for c in calls if c.replica == i) for i in (0, 1)]
    assert min(per_replica) >= 0.4 * len(calls), per_replica
    # Each process counted at least the requests this test sent it.
    for index, client in enumerate(system.api.clients):
        body = (await client.get("/metrics")).text
        problems = metrics_problems(body, at_least=per_replica[index], allow_5xx=False)
        assert not problems, problems

    counts = await system.db.job_counts()
    kinds = dict(await system.db.rows("SELECT kind, count(*) FROM jobs GROUP BY kind"))
    assert kinds.get("knowledge.ingest") == 6, kinds
    assert counts.get("succeeded", 0) >= 6 and not counts.get("failed"), counts
    # Top-ups were sent twice with one Idempotency-Key: credited once per student.
    # (The signup bonus is a top-up without an actor, once per wallet.)
    topups = await system.db.rows(
        "SELECT user_id, count(actor_id) AS by_admin, count(*) - count(actor_id) AS bonus "
        "FROM ledger_entries WHERE type = 'topup' GROUP BY user_id"
    )
    by_admin = [r for r in topups if r.by_admin]
    assert len(by_admin) == USERS and all(r.by_admin == 1 for r in by_admin), topups[:5]
    assert all(r.bonus <= 1 for r in topups), topups[:5]
    assert world.answers == USERS
    usage = await system.db.scalar("SELECT count(*) FROM ledger_entries WHERE type = 'usage'")
    assert usage >= 2 * USERS  # the spend round plus one answer each


async def test_login_rate_limit_is_counted_across_both_replicas(
    system: System, world: World
) -> None:
    system.recorder.phase = "rate-limit"
    student = world.students[0]
    address = system.addresses.next()
    statuses = []
    for i in range(LOGIN_LIMIT + 2):
        response = await system.api.request(
            "POST",
            "/api/v1/auth/login",
            family="auth",
            replica=i,  # alternating: each process alone sees at most half of them
            ip=address,
            json={"email": student.email, "password": student.password},
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["code"] == "rate_limited"
    assert statuses == [200] * LOGIN_LIMIT + [429, 429], statuses
    # Another address is not affected.
    await login(system.api, student, replica=1)

    problems = await end_checks(system.api, system.db, phases=["run", "rate-limit"])
    assert not problems, system.fail(problems)


async def test_an_upload_through_one_replica_is_searchable_through_the_other_at_once(
    system: System, world: World
) -> None:
    system.recorder.phase = "cross-replica"
    student = world.students[1]
    # Both replicas have the course's index cached already (the run searched it).
    for replica in (0, 1):
        await search(system.api, student, world.course_id, "photosynthesis", replica=replica)
    for uploaded_via, searched_via in ((0, 1), (1, 0)):
        marker = f"crossq{system.tag}{uploaded_via}w"
        body = await upload(
            system.api,
            world,
            f"cross-{uploaded_via}.md",
            document_text(uploaded_via, marker).encode(),
            replica=uploaded_via,
        )
        job = await system.db.wait_for_job(body["job"]["id"], timeout=60)
        assert job.status == "succeeded", job
        hits = await search(system.api, student, world.course_id, marker, replica=searched_via)
        # Within the first two hits, as below: the embeddings peer's vectors are hash noise.
        assert any(h["document_id"] == body["document"]["id"] for h in hits[:2]), hits[:2]
        document = expect(
            await system.api.request(
                "GET",
                f"/api/v1/documents/{body['document']['id']}",
                family="documents",
                replica=searched_via,
                token=world.teacher.token,
            ),
            200,
        )
        assert document["status"] == "ready" and document["chunk_count"] > 0

    problems = await end_checks(system.api, system.db, phases=["run", "cross-replica"])
    assert not problems, system.fail(problems)


async def test_a_worker_killed_mid_ingestion_is_replaced_after_its_lease(
    system: System, world: World
) -> None:
    system.recorder.phase = "worker-kill"
    marker = f"bigq{system.tag}w"
    # ~250 chunks embedded 8 at a time, each batch slowed down: several seconds of ingestion.
    system.embeddings.delay_s = 0.12
    try:
        body = await upload(system.api, world, "big-reader.md", big_document(marker, 200))
        job_id = uuid.UUID(body["job"]["id"])
        # Wait until a worker is embedding (progress past extraction and chunking).
        deadline = time.monotonic() + 60
        while True:
            row = (
                await system.db.rows(
                    "SELECT status, locked_by, progress FROM jobs WHERE id = :id", id=job_id
                )
            )[0]
            if row.status == "running" and row.locked_by and 0.4 <= row.progress <= 0.8:
                break
            assert row.status in ("queued", "running"), row
            assert time.monotonic() < deadline, f"ingestion never reached embedding: {row}"
            await asyncio.sleep(0.02)
        pid = int(row.locked_by.split(":")[1])
        victim = next(p for p in system.cluster.live("worker") if p.pid == pid)
        system.cluster.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        # An operator's supervisor would start a new one; the survivor must take over first.
        replacement = system.cluster.start_worker("worker-replacement", wait=False)
        job = await system.db.wait_for_job(str(job_id), timeout=90)
        took = time.monotonic() - killed_at
    finally:
        system.embeddings.delay_s = 0.0
    system.cluster.wait_worker(replacement)
    assert job.status == "succeeded", job
    assert job.attempts == 2, job  # the killed attempt, then the one after the lease ran out
    assert took >= LEASE_S * 0.5, took  # not before the dead worker's lease could expire

    for replica in (0, 1):
        hits = await search(system.api, world.students[2], world.course_id, marker, replica=replica)
        # Found by its marker, as search_all asks: within the first two hits (the test peer's
        # embeddings are hashes, so the semantic half may put another document first).
        assert any(h["document_id"] == body["document"]["id"] for h in hits[:2]), hits[:2]
    problems = await end_checks(system.api, system.db, phases=["run", "worker-kill"])
    assert not problems, system.fail(problems)


async def wallet_of(system: System, student: Any, replica: int) -> dict[str, Any]:
    return expect(  # type: ignore[no-any-return]
        await system.api.request(
            "GET", "/api/v1/wallet", family="wallet", replica=replica, token=student.token
        ),
        200,
    )


async def test_an_api_killed_mid_stream_leaves_a_reservation_that_expires(
    system: System, world: World
) -> None:
    llm = system.llm
    system.recorder.phase = "api-kill"
    student = world.students[3]
    chat_id = await open_chat(system.api, world, student, replica=0)
    before = await wallet_of(system, student, 1)
    victim = system.apis[0]

    llm.script("slow")  # 200 pieces, 20 ms apart: the stream stays open for seconds
    deltas = 0
    with contextlib.suppress(httpx.TransportError):
        async with system.api.clients[0].stream(
            "POST",
            f"/api/v1/chat/sessions/{chat_id}/messages",
            json={"content": "Explain photosynthesis slowly."},
            headers={"Authorization": f"Bearer {student.token}", "Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("event:") and "delta" in line:
                    deltas += 1
                    if deltas == 5:
                        system.cluster.kill(victim, signal.SIGKILL)
    assert deltas >= 5

    held = await system.db.rows(
        "SELECT id, status, amount FROM reservations WHERE user_id = :u AND status = 'reserved'",
        u=uuid.UUID(student.id),
    )
    assert len(held) == 1, held  # the dead process never finalized nor released it
    during = await wallet_of(system, student, 1)
    assert during["reserved"] == held[0].amount and during["balance"] == before["balance"]

    # Past the TTL the workers' expiry sweep releases it (it runs every minute; due now).
    await asyncio.sleep(RESERVATION_TTL_S + 0.5)
    await system.db.execute(
        "UPDATE periodic_schedules SET next_run_at = now() WHERE name = 'billing.expire_reservations'"
    )
    deadline = time.monotonic() + 30
    while (
        status := await system.db.scalar(
            "SELECT status FROM reservations WHERE id = :id", id=held[0].id
        )
    ) == "reserved":
        assert time.monotonic() < deadline, "the reservation never expired"
        await asyncio.sleep(0.2)
    assert status == "expired"
    after = await wallet_of(system, student, 1)
    assert after["balance"] == before["balance"] and after["reserved"] == 0  # nothing charged

    # The replica comes back on its port; the student asks again through it, charged once.
    system.apis[0] = system.cluster.restart_api(victim)
    await system.api.reset(0)
    system.recorder.phase = "api-kill-after"
    answer = expect(await ask(system.api, student, chat_id, "And respiration?", replica=0), 200)
    assert answer["content"]
    final = await wallet_of(system, student, 0)
    charged = before["balance"] - final["balance"]
    usage = answer["usage"]
    assert 0 < charged <= usage["prompt_tokens"] + usage["completion_tokens"] + 1000, (
        charged,
        usage,
    )
    problems = await end_checks(
        system.api,
        system.db,
        phases=["run", "api-kill", "api-kill-after"],
        allow_5xx_in_metrics=True,
    )
    assert not problems, system.fail(problems)


async def test_the_llm_server_down_gives_clear_503s_then_answers_again(
    system: System, world: World
) -> None:
    llm = system.llm
    student = world.students[4]
    chat_id = await open_chat(system.api, world, student, replica=1)
    before = await wallet_of(system, student, 0)
    port = llm.port

    system.recorder.phase = "llm-down"
    llm.stop()
    try:
        for replica in (0, 1):
            response = await ask(
                system.api, student, chat_id, "What is chlorophyll?", replica=replica
            )
            assert response.status_code == 503, response.text
            body = response.json()
            assert body["code"] and len(body["detail"]) > 10, body
            status, events = await system.api.stream_chat(
                f"/api/v1/chat/sessions/{chat_id}/messages",
                {"content": "What is chlorophyll?"},
                token=student.token,
                replica=replica,
            )
            if status == 200:
                kinds = [e for e, _ in events]
                assert "error" in kinds and "done" not in kinds, events
                error = dict(events)["error"]
                assert error.get("status") == 503 and error.get("detail"), error
            else:
                assert status == 503, events
    finally:
        llm.start(port)
    after_outage = await wallet_of(system, student, 1)
    assert after_outage["balance"] == before["balance"] and after_outage["reserved"] == 0

    system.recorder.phase = "llm-back"
    for replica in (0, 1):
        answer = expect(
            await ask(system.api, student, chat_id, "What is chlorophyll?", replica=replica), 200
        )
        assert answer["content"]
    problems = await end_checks(
        system.api, system.db, phases=["run", "llm-back"], allow_5xx_in_metrics=True
    )
    assert not problems, system.fail(problems)


async def test_postgresql_restart_fails_cleanly_and_recovers_without_restarting_studyhall(
    services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    _, redis_url = services
    embeddings = EmbeddingServer().start()
    recorder = Recorder(phase="before")
    with private_postgres() as pg:
        cluster = Cluster(
            database_url=pg.url,
            redis_url=redis_url,
            workdir=tmp_path_factory.mktemp("pg-restart"),
            env=cluster_env(embeddings, None),
        )
        migrated = cluster.cli("migrate")
        assert migrated.returncode == 0, migrated.stderr
        db = SystemDB(pg.url)
        api: Replicas | None = None
        try:
            apis, _ = start(cluster, apis=2, workers=2)
            api = Replicas([p.base_url for p in apis], recorder, timeout=30)
            addresses = AddressPlan()
            world = await bootstrap(api, cluster, addresses, uuid.uuid4().hex[:6])
            await onboard_students(api, world, addresses, 6)
            await fund_and_spend(api, world)

            # uvicorn closes the connection after a 500 that came from an unhandled exception
            # (Starlette re-raises it after the handler answered), so a keep-alive client's next
            # request on that connection fails with a read error: the traffic during the outage
            # uses one connection per request to see each answer StudyHall gives.
            outage_api = Replicas(api.base_urls, recorder, timeout=30, keepalive=False)
            try:
                seen = await restart_under_traffic(outage_api, world, addresses, pg)
            finally:
                await outage_api.aclose()

            recorder.phase = "after"
            await onboard_students(api, world, addresses, 6)
            await fund_and_spend(api, world)
            body = await upload(api, world, "after.md", document_text(0, "afterpgw").encode())
            job = await db.wait_for_job(body["job"]["id"], timeout=60)
            assert job.status == "succeeded", job
            problems = await end_checks(
                api, db, phases=["before", "after"], allow_5xx_in_metrics=True
            )
            assert not problems, "\n".join(problems) + cluster.diagnostics()
            assert all(p.alive() for p in cluster.procs), cluster.diagnostics()
            assert seen["failed"] and seen["ok_after"], seen
        finally:
            if api is not None:
                await api.aclose()
            cluster.stop()
            await db.dispose()
            embeddings.stop()


async def restart_under_traffic(
    api: Replicas, world: World, addresses: AddressPlan, pg: Any
) -> dict[str, int]:
    """Traffic through both replicas (reads, logins, top-ups) while PostgreSQL stops, stays
    down 2 s and starts again. Every request answers within seconds, with success or a JSON
    500/503 (never a hang, never a stack trace); liveness stays up meanwhile; both replicas are
    ready again by themselves."""
    running = True
    seen: dict[str, int] = {"ok": 0, "failed": 0, "ok_after": 0}
    restarted = False

    async def traffic(lane: int) -> None:
        i = lane
        while running:
            i += 3
            student = world.students[i % len(world.students)]
            kind = (i // 3) % 3
            start = time.perf_counter()
            if kind == 0:
                response = await api.request(
                    "GET", "/api/v1/wallet", family="wallet", replica=i, token=student.token
                )
            elif kind == 1:
                response = await api.request(
                    "POST",
                    "/api/v1/auth/login",
                    family="auth",
                    replica=i,
                    ip=addresses.next(),
                    json={"email": student.email, "password": student.password},
                )
            else:
                response = await api.request(
                    "POST",
                    f"/api/v1/admin/wallets/{student.id}/topup",
                    family="wallet",
                    replica=i,
                    token=world.admin.token,
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                    json={"amount": 10, "reason": "during the restart"},
                )
            elapsed = time.perf_counter() - start
            assert elapsed < 15, (response.request.url.path, elapsed)
            if response.status_code < 300:
                seen["ok"] += 1
                seen["ok_after"] += restarted
                continue
            assert response.status_code in (500, 503), (response.status_code, response.text)
            body = response.json()  # JSON, with the usual error shape
            assert body["detail"] and body["code"], body
            assert "Traceback" not in response.text
            seen["failed"] += 1
            await asyncio.sleep(0.05)

    lanes = [asyncio.create_task(traffic(n)) for n in range(3)]
    try:
        await asyncio.sleep(0.5)
        api.recorder.phase = "outage"
        await asyncio.to_thread(pg.stop, "fast")
        await asyncio.sleep(2)
        for client in api.clients:
            assert (await client.get("/health")).status_code == 200
            ready = await client.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["database"] is False
        await asyncio.to_thread(pg.start)
        # Both replicas find the database again by themselves.
        deadline = time.monotonic() + 30
        for client in api.clients:
            while (await client.get("/health/ready")).status_code != 200:
                assert time.monotonic() < deadline, "not ready again after the restart"
                await asyncio.sleep(0.2)
        restarted = True
        await asyncio.sleep(1)
    finally:
        running = False
        results = await asyncio.gather(*lanes, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    return seen
