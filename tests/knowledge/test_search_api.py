"""Hybrid search through the API: ranking sanity, result shape, access, cache versions."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from studyhall.config import EmbeddingSettings
from studyhall.core.db import Database
from studyhall.identity.models import Role
from studyhall.jobs.worker import Worker
from studyhall.knowledge.models import Chunk
from studyhall.knowledge.retrieval import index_cache
from tests.conftest import MakeUser
from tests.knowledge._fixtures import (
    API,
    CourseSetup,
    Headers,
    course,
    knowledge_routes,
    search,
    upload,
    worker,
)
from tests.peers.openai_embeddings import serve_embeddings

__all__ = ["course", "knowledge_routes", "worker"]

DOCS = {
    "tides.md": (
        "# Tides\n\nThe gravitational pull of the Moon raises two bulges of ocean water, so most "
        "coasts see two high tides a day. Spring tides happen when the Sun and Moon align.\n"
    ),
    "enzymes.md": (
        "# Enzymes\n\nEnzymes are proteins that lower the activation energy of a reaction. The "
        "active site binds the substrate; high temperature denatures the enzyme.\n"
    ),
    "romans.md": (
        "# Roman aqueducts\n\nRoman engineers built aqueducts with a constant gentle gradient so "
        "that water flowed by gravity into the cities, crossing valleys on arched bridges.\n"
    ),
    "inflation.txt": (
        "Inflation is a general rise in prices. Central banks raise interest rates to cool "
        "demand when inflation runs above their target.\n"
    ),
}


async def _corpus(
    client: httpx.AsyncClient, worker: Worker, owner: dict[str, str], course_id: str
) -> dict[str, str]:
    ids = {}
    for name, text in DOCS.items():
        body = await upload(client, owner, course_id, text.encode(), name)
        ids[name] = body["document"]["id"]
    await worker.run_until_idle()
    return ids


async def test_distinctive_phrases_rank_their_document_first(
    client: httpx.AsyncClient, auth: Headers, course: CourseSetup, worker: Worker
) -> None:
    ids = await _corpus(client, worker, auth(course.teacher), course.id)
    reader = auth(course.student)
    queries = {
        "two high tides a day": "tides.md",
        "activation energy of a reaction": "enzymes.md",
        "constant gentle gradient": "romans.md",
        "central banks raise interest rates": "inflation.txt",
        # Paraphrases: the vector half carries these.
        "why does the ocean go up and down on beaches": "tides.md",
        "how did ancient cities get their drinking supply": "romans.md",
    }
    for query, expected in queries.items():
        hits = await search(client, reader, course.id, query, k=4)
        assert hits[0]["document_id"] == ids[expected], (query, hits[0])
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True)

    hit = (await search(client, reader, course.id, "Spring tides Sun and Moon align", k=1))[0]
    assert set(hit) == {
        "chunk_id",
        "document_id",
        "document_title",
        "page",
        "page_label",
        "heading",
        "text",
        "excerpt",
        "score",
    }
    assert hit["document_title"] == "tides" and hit["page"] == 1 and hit["heading"] == "Tides"
    assert hit["text"].endswith("Spring tides happen when the Sun and Moon align.")
    assert "The gravitational pull of the Moon" in hit["text"] and hit["score"] > 0
    assert "**Spring** **tides**" in hit["excerpt"]
    assert len(await search(client, reader, course.id, "water", k=2)) == 2


async def test_search_validation_and_access(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    make_user: MakeUser,
) -> None:
    url = f"{API}/courses/{course.id}/search"
    owner = auth(course.teacher)
    assert (await client.post(url, json={"query": "x"}, headers=owner)).json() == []  # empty course
    await _corpus(client, worker, owner, course.id)
    for body in ({"query": ""}, {"query": "x", "k": 0}, {"query": "x", "k": 51}, {"q": "x"}):
        assert (await client.post(url, json=body, headers=owner)).status_code == 422
    assert (await client.post(url, json={"query": "tides"})).status_code == 401
    admin = await make_user(Role.admin)
    assert (await client.post(url, json={"query": "tides"}, headers=auth(admin))).status_code == 200
    outsider = await make_user(Role.student)
    other_teacher = await make_user(Role.teacher)
    for user, code in ((outsider, "enrollment_required"), (other_teacher, "not_course_owner")):
        refused = await client.post(url, json={"query": "tides"}, headers=auth(user))
        assert refused.status_code == 403 and refused.json()["code"] == code
    missing = f"{API}/courses/{uuid.uuid4()}/search"
    assert (
        await client.post(missing, json={"query": "tides"}, headers=auth(admin))
    ).status_code == 404


async def test_index_is_rebuilt_only_when_the_collection_changes(
    client: httpx.AsyncClient, auth: Headers, course: CourseSetup, worker: Worker, app: Any
) -> None:
    owner = auth(course.teacher)
    ids = await _corpus(client, worker, owner, course.id)
    cache = index_cache(app.state.settings)
    await search(client, owner, course.id, "tides")
    builds = cache.builds
    for query in ("enzymes", "aqueducts", "inflation"):
        await search(client, owner, course.id, query)
    assert cache.builds == builds  # same version: served from memory

    # An upload bumps the version: the next search rebuilds and sees the new document.
    extra = await upload(
        client, owner, course.id, b"Photosynthesis happens in chloroplasts.", "p.txt"
    )
    assert (await search(client, owner, course.id, "chloroplasts", k=1))[0]["document_id"] != extra[
        "document"
    ]["id"]  # not ingested yet
    await worker.run_until_idle()
    hits = await search(client, owner, course.id, "chloroplasts", k=1)
    assert hits[0]["document_id"] == extra["document"]["id"]
    assert cache.builds == builds + 1

    # A delete bumps it too; a fresh process (empty cache) answers the same as a warm one.
    await client.delete(f"{API}/documents/{ids['tides.md']}", headers=owner)
    warm = await search(client, owner, course.id, "two high tides a day", k=5)
    cache.clear()
    cold = await search(client, owner, course.id, "two high tides a day", k=5)
    assert warm == cold
    assert ids["tides.md"] not in {h["document_id"] for h in warm}


async def test_pipeline_with_an_openai_compatible_embeddings_endpoint(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    db: Database,
    app: Any,
) -> None:
    owner = auth(course.teacher)
    with serve_embeddings(dimension=16) as peer:
        app.state.settings.embeddings = EmbeddingSettings(
            provider="openai", model="peer-embed", base_url=peer.base_url, api_key="k-test"
        )
        body = await upload(client, owner, course.id, DOCS["enzymes.md"].encode(), "enzymes.md")
        await worker.run_until_idle()
        doc = (await client.get(f"{API}/documents/{body['document']['id']}", headers=owner)).json()
        assert doc["status"] == "ready" and doc["embedding_model"] == "openai_compat:peer-embed"
        async with db.session(write=False) as session:
            dims = set(await session.scalars(select(Chunk.embedding_dim)))
        assert dims == {16}
        assert peer.requests and peer.headers[0]["authorization"] == "Bearer k-test"
        hits = await search(client, owner, course.id, "activation energy")
        assert hits[0]["document_id"] == body["document"]["id"]
        queried = len(peer.requests)
        await search(client, owner, course.id, "active site substrate")
        assert len(peer.requests) == queried + 1  # the query is embedded by the endpoint

        # The endpoint fails: ingestion is retried (the document says so), search falls back
        # to its lexical half instead of failing.
        app.state.settings.embeddings = EmbeddingSettings(
            provider="openai", model="fail-500", base_url=peer.base_url, dimension=16
        )
        retry = await upload(client, owner, course.id, b"Denatured proteins unfold.", "d.txt")
        await worker.run_until_idle()
        waiting = (
            await client.get(f"{API}/documents/{retry['document']['id']}", headers=owner)
        ).json()
        assert waiting["status"] == "queued" and "(will retry)" in waiting["error"]
        hits = await search(client, owner, course.id, "activation energy")
        assert hits and hits[0]["document_id"] == body["document"]["id"]
