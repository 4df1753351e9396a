"""Curriculum sources: crawling a real local portal, metadata, robots.txt, limits and SSRF refusals."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from studyhall.config import KnowledgeSettings
from studyhall.identity.models import User
from studyhall.jobs.worker import Worker
from studyhall.knowledge.crawler import (
    CrawlError,
    CrawlLimits,
    CrawlRefused,
    Metadata,
    NetworkPolicy,
    crawl,
    download,
    guess_metadata,
)
from tests.knowledge._fixtures import API, Headers, knowledge_routes, worker
from tests.peers.http_site import HTTPSite, serve_site

__all__ = ["knowledge_routes", "worker"]

OPEN = NetworkPolicy(allow_private=True)
# The local portal by explicit exception: everything else private stays refused.
LOCAL = NetworkPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
CLOSED = NetworkPolicy()
LIMITS = CrawlLimits.from_settings(
    KnowledgeSettings(
        crawl_max_depth=2, crawl_max_pages=20, crawl_timeout_s=20, crawl_request_timeout_s=5
    )
)

INDEX = """<!doctype html><html><head><title>Portal curricular</title></head><body>
<h1>Recursos</h1>
<ul>
 <li><a href="/recursos/es/primaria/grado-5/matematicas/fracciones.pdf">Fracciones para 5º grado</a></li>
 <li><a href="/recursos/es/fisica/cinematica.pdf"><b>Cinemática</b> básica</a></li>
 <li><a href="docs/sin-titulo_2.PDF"></a></li>
 <li><a href="/private/answers.pdf">Answer keys</a></li>
 <li><a href="/moved.pdf">A moved file</a></li>
 <li><a href="http://10.20.30.40/intranet.pdf">Intranet copy</a></li>
 <li><a href="ftp://files.example.org/old.pdf">FTP archive</a></li>
 <li><a href="mailto:info@example.org">Contact</a></li>
 <li><a href="/nivel2.html">More resources</a></li>
 <li><a href="/recursos/es/primaria/grado-5/matematicas/fracciones.pdf#page=2">Same file</a></li>
</ul></body></html>"""

LEVEL2 = """<html><body><p>Second level</p>
<a href="/recursos/en/biology/grade-7/cells.pdf?lang=en">Cells and tissues</a>
<a href="/nivel3.html">Deeper</a></body></html>"""

LEVEL3 = """<html><body><a href="/nivel4.html">Even deeper</a></body></html>"""

LEVEL4 = """<html><body><a href="/too-deep.pdf">Too deep</a></body></html>"""

ROBOTS = "User-agent: *\nDisallow: /private/\n"


def portal(site: HTTPSite, pdf: bytes = b"%PDF-1.4 placeholder", *, intranet: bool = True) -> None:
    """The local curriculum portal every positive test crawls (optionally without the link to
    a private address, for crawls that allow private addresses)."""
    index = INDEX if intranet else INDEX.replace("http://10.20.30.40/intranet.pdf", "/intranet.pdf")
    site.page("/index.html", index)
    site.page("/nivel4.html", LEVEL4)
    site.page("/nivel2.html", LEVEL2)
    site.page("/nivel3.html", LEVEL3)
    site.add("/robots.txt", body=ROBOTS.encode(), content_type="text/plain")
    for path in (
        "/recursos/es/primaria/grado-5/matematicas/fracciones.pdf",
        "/recursos/es/fisica/cinematica.pdf",
        "/docs/sin-titulo_2.PDF",
        "/private/answers.pdf",
        "/recursos/en/biology/grade-7/cells.pdf",
        "/too-deep.pdf",
        "/real.pdf",
        "/intranet.pdf",
    ):
        site.pdf(path, pdf)
    site.redirect("/moved.pdf", "/real.pdf", status=301)


@pytest.fixture
def site() -> Iterator[HTTPSite]:
    with serve_site(portal) as running:
        yield running


# ---------------------------------------------------------------------------- the crawler itself


async def test_crawl_finds_pdfs_with_metadata_and_respects_robots(site: HTTPSite) -> None:
    result = await crawl(site.url("/index.html"), policy=LOCAL, limits=LIMITS)
    found = {f.url.removeprefix(site.base): f for f in result.found}
    assert set(found) == {
        "/recursos/es/primaria/grado-5/matematicas/fracciones.pdf",
        "/recursos/es/fisica/cinematica.pdf",
        "/docs/sin-titulo_2.PDF",
        "/moved.pdf",
        "/recursos/en/biology/grade-7/cells.pdf?lang=en",
    }
    fractions = found["/recursos/es/primaria/grado-5/matematicas/fracciones.pdf"]
    assert fractions.title == "Fracciones para 5º grado"
    assert (fractions.language, fractions.subject, fractions.level) == (
        "es",
        "mathematics",
        "grade 5",
    )
    assert found["/recursos/es/fisica/cinematica.pdf"].title == "Cinemática básica"
    assert found["/recursos/es/fisica/cinematica.pdf"].subject == "physics"
    assert found["/docs/sin-titulo_2.PDF"].title == "Sin titulo 2"  # from the file name
    cells = found["/recursos/en/biology/grade-7/cells.pdf?lang=en"]
    assert (cells.language, cells.subject, cells.level) == ("en", "biology", "grade 7")
    assert cells.found_on == site.url("/nivel2.html")
    assert result.pages_visited == 3  # index, level 2, level 3 (depth 2)
    reasons = {s["url"].removeprefix(site.base): s["reason"] for s in result.skipped}
    assert reasons["/private/answers.pdf"] == "disallowed by robots.txt"
    assert reasons["http://10.20.30.40/intranet.pdf"] == "refused non-public address 10.20.30.40"
    assert any(s["url"].startswith("ftp://") and "scheme" in s["reason"] for s in result.skipped)
    # Discovered PDFs are not downloaded during the crawl; robots-disallowed ones never are.
    assert site.hits["/private/answers.pdf"] == 0
    assert site.hits["/recursos/es/fisica/cinematica.pdf"] == 0
    assert site.hits["/robots.txt"] == 1


async def test_crawl_depth_and_source_metadata_override(site: HTTPSite) -> None:
    shallow = await crawl(
        site.url("/index.html"),
        policy=OPEN,
        limits=CrawlLimits.from_settings(
            KnowledgeSettings(crawl_max_pages=20, crawl_timeout_s=20), depth=0
        ),
        defaults=Metadata(level="secondary", subject="science", language="es"),
    )
    assert shallow.pages_visited == 1
    assert all(f.subject == "science" and f.level == "secondary" for f in shallow.found)
    assert site.hits["/nivel2.html"] == 0


async def test_robots_txt_rules_per_rfc(site: HTTPSite) -> None:
    # A failing robots.txt (5xx) means "disallow everything" (RFC 9309)...
    site.add("/robots.txt", status=503, body=b"down")
    with pytest.raises(CrawlRefused, match="robots"):
        await crawl(site.url("/index.html"), policy=OPEN, limits=LIMITS)
    assert site.hits["/index.html"] == 0
    # ...a missing one (4xx) means "allow everything".
    with serve_site(portal) as fresh:
        fresh.add("/robots.txt", status=404, body=b"none")
        result = await crawl(fresh.url("/index.html"), policy=OPEN, limits=LIMITS)
        assert any(f.url.endswith("/private/answers.pdf") for f in result.found)
    # Rules for our agent by name apply too.
    with serve_site(portal) as named:
        named.add(
            "/robots.txt",
            body=b"User-agent: StudyHallBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
            content_type="text/plain",
        )
        with pytest.raises(CrawlRefused, match="robots"):
            await crawl(named.url("/index.html"), policy=OPEN, limits=LIMITS)


async def test_size_and_time_limits(site: HTTPSite) -> None:
    site.add("/huge.html", endless=True)
    site.add("/slow.html", body=b"<a href='/x.pdf'>x</a>", delay_s=3)
    small = CrawlLimits.from_settings(
        KnowledgeSettings(
            crawl_max_page_bytes=256 * 1024, crawl_timeout_s=10, crawl_request_timeout_s=5
        )
    )
    with pytest.raises(CrawlError, match="larger than"):
        await crawl(site.url("/huge.html"), policy=OPEN, limits=small)
    with pytest.raises(CrawlError, match=r"time limit|ReadTimeout"):
        await crawl(
            site.url("/slow.html"),
            policy=OPEN,
            # The crawl's own limit (1 s) ends it, whether robots.txt or the 3-second page is
            # still on its way when it runs out on a busy machine.
            limits=CrawlLimits.from_settings(
                KnowledgeSettings(crawl_timeout_s=1.0, crawl_request_timeout_s=10)
            ),
        )
    with pytest.raises(CrawlError, match="larger than"):
        await download(site.url("/huge.html"), policy=OPEN, max_bytes=100_000, timeout_s=10)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/index.html",
        "http://localhost:{port}/index.html",  # refused after DNS resolution
        "http://[::1]:{port}/index.html",
        "http://[::ffff:127.0.0.1]:{port}/index.html",  # IPv4-mapped IPv6
        "http://2130706433:{port}/index.html",  # 127.0.0.1 written as one number
        "http://0.0.0.0:{port}/index.html",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://224.0.0.1/",  # multicast
        "http://240.0.0.1/",  # reserved
        "http://[fe80::1]/",
        "http://[fc00::1]/",
    ],
)
async def test_non_public_addresses_are_refused(site: HTTPSite, url: str) -> None:
    with pytest.raises(CrawlRefused, match="non-public address"):
        await crawl(url.format(port=site.port), policy=CLOSED, limits=LIMITS)
    assert sum(site.hits.values()) == 0


@pytest.mark.parametrize(
    "url", ["ftp://example.org/a.pdf", "file:///etc/passwd", "gopher://x/", "javascript:alert(1)"]
)
async def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(CrawlRefused, match="scheme"):
        await crawl(url, policy=OPEN, limits=LIMITS)
    with pytest.raises(CrawlRefused, match="scheme"):
        await download(url, policy=OPEN, max_bytes=1000, timeout_s=1)


async def test_redirects_are_rechecked_at_each_hop(site: HTTPSite) -> None:
    # The local portal is reachable by explicit exception; what it redirects to is checked again.
    local_only = LOCAL
    site.redirect("/to-metadata", "http://169.254.169.254/latest/meta-data/")
    site.redirect("/to-private", "http://10.0.0.7/admin")
    site.redirect("/to-localhost-v6", f"http://[::1]:{site.port}/index.html")
    site.redirect("/to-ftp", "ftp://example.org/file.pdf")
    site.redirect("/loop", "/loop")
    for path, reason in [
        ("/to-metadata", "non-public address 169.254.169.254"),
        ("/to-private", "non-public address 10.0.0.7"),
        ("/to-localhost-v6", "non-public address ::1"),
        ("/to-ftp", "scheme"),
    ]:
        with pytest.raises(CrawlRefused, match=reason):
            await crawl(site.url(path), policy=local_only, limits=LIMITS)
        with pytest.raises(CrawlRefused, match=reason):
            await download(site.url(path), policy=local_only, max_bytes=1000, timeout_s=5)
    with pytest.raises(CrawlError, match="too many redirects"):
        await download(site.url("/loop"), policy=local_only, max_bytes=1000, timeout_s=5)
    # The allowed exception works, and the Host header names the host, not the pinned address.
    result = await crawl(site.url("/index.html"), policy=local_only, limits=LIMITS)
    assert result.found
    assert all(h == f"127.0.0.1:{site.port}" for h in site.host_headers)
    followed = await download(
        site.url("/moved.pdf"), policy=local_only, max_bytes=10_000, timeout_s=5
    )
    assert followed.url == site.url("/real.pdf") and followed.content.startswith(b"%PDF")


def test_metadata_guesses() -> None:
    assert guess_metadata("https://x.org/fr/mathematiques/niveau/classe-3/algebre.pdf") == Metadata(
        level="grade 3", subject="mathematics", language="fr"
    )
    assert guess_metadata("https://x.org/docs/file.pdf?lang=pt") == Metadata(language="pt")
    assert guess_metadata("https://x.org/a.pdf", "Historia de 3er grado").subject == "history"


# ---------------------------------------------------------------------------- through the API


@pytest.fixture
def allow_private(app: Any) -> None:
    """Positive API tests crawl the local portal, so private addresses are allowed there."""
    app.state.settings.knowledge.crawl_allow_private = True


async def test_sources_sync_runs_and_reference_ingestion(
    client: httpx.AsyncClient,
    auth: Headers,
    admin: User,
    teacher: User,
    worker: Worker,
    allow_private: None,
    shared_data: Path,
) -> None:
    fr_pdf = (shared_data / "pdfs" / "fr-exercises.pdf").read_bytes()
    with serve_site(lambda s: portal(s, fr_pdf, intranet=False)) as portal_site:
        headers = auth(admin)
        assert (await client.get(f"{API}/admin/sources", headers=auth(teacher))).status_code == 403
        created = await client.post(
            f"{API}/admin/sources",
            json={"name": "Portal", "url": portal_site.url("/index.html"), "language": "es"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        source = created.json()
        sync = await client.post(f"{API}/admin/sources/{source['id']}/sync", headers=headers)
        assert sync.status_code == 202
        run = sync.json()
        assert run["status"] == "queued" and run["job_id"]
        again = await client.post(f"{API}/admin/sources/{source['id']}/sync", headers=headers)
        assert again.status_code == 409  # one pending sync per source
        await worker.run_until_idle()

        runs = (
            await client.get(f"{API}/admin/sources/{source['id']}/runs", headers=headers)
        ).json()
        assert runs["total"] == 1
        first = runs["items"][0]
        assert first["status"] == "succeeded", first
        assert (first["found_count"], first["new_count"], first["pages_visited"]) == (6, 6, 3)
        assert any(s["reason"] == "disallowed by robots.txt" for s in first["skipped"])

        refs = (await client.get(f"{API}/admin/references", headers=headers)).json()
        assert refs["total"] == 6
        by_path = {r["url"].removeprefix(portal_site.base): r for r in refs["items"]}
        fractions = by_path["/recursos/es/primaria/grado-5/matematicas/fracciones.pdf"]
        assert fractions["title"] == "Fracciones para 5º grado"
        assert (fractions["language"], fractions["subject"], fractions["level"]) == (
            "es",
            "mathematics",
            "grade 5",
        )
        # The source's language wins over what the URL suggests.
        assert by_path["/recursos/en/biology/grade-7/cells.pdf?lang=en"]["language"] == "es"
        assert all(r["status"] == "new" for r in refs["items"])

        # A second sync finds the same links and nothing new.
        await client.post(f"{API}/admin/sources/{source['id']}/sync", headers=headers)
        await worker.run_until_idle()
        runs = (
            await client.get(f"{API}/admin/sources/{source['id']}/runs", headers=headers)
        ).json()
        assert runs["total"] == 2
        assert (runs["items"][0]["found_count"], runs["items"][0]["new_count"]) == (6, 0)

        # Ingest one reference: download (same rules), library document, ingestion job.
        ingest = await client.post(
            f"{API}/admin/references/{fractions['id']}/ingest", headers=headers
        )
        assert ingest.status_code == 202
        assert ingest.json()["job"]["kind"] == "knowledge.ingest_reference"
        assert ingest.json()["reference"]["status"] == "queued"
        await worker.run_until_idle()
        ref = (
            await client.get(
                f"{API}/admin/references", params={"status": "ingested"}, headers=headers
            )
        ).json()["items"][0]
        assert ref["id"] == fractions["id"] and ref["document_id"]
        doc = (await client.get(f"{API}/documents/{ref['document_id']}", headers=headers)).json()
        assert doc["status"] == "ready" and doc["is_library"] and doc["page_count"] == 3
        assert (doc["title"], doc["subject"], doc["level"], doc["language"]) == (
            "Fracciones para 5º grado",
            "mathematics",
            "grade 5",
            "es",
        )
        textbooks = (
            await client.get(f"{API}/library/textbooks", params={"subject": "mathematics"})
        ).json()
        assert [t["id"] for t in textbooks["items"]] == [doc["id"]]

        # A reference whose file is not a document fails with a clear error.
        portal_site.pdf("/recursos/es/fisica/cinematica.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 99)
        bad = by_path["/recursos/es/fisica/cinematica.pdf"]
        await client.post(f"{API}/admin/references/{bad['id']}/ingest", headers=headers)
        await worker.run_until_idle()
        failed = (
            await client.get(
                f"{API}/admin/references", params={"status": "failed"}, headers=headers
            )
        ).json()["items"]
        assert [r["id"] for r in failed] == [bad["id"]] and "PNG" in failed[0]["error"]
        unknown = await client.post(
            f"{API}/admin/references/{source['id']}/ingest", headers=headers
        )
        assert unknown.status_code == 404

        # A PDF that downloads but cannot be read: the reference follows its failed document
        # instead of claiming to be ingested.
        path, broken = next(
            (p, r) for p, r in by_path.items() if r["id"] not in (fractions["id"], bad["id"])
        )
        portal_site.pdf(path.split("?")[0], b"%PDF-1.7\n" + b"not really a pdf " * 40)
        await client.post(f"{API}/admin/references/{broken['id']}/ingest", headers=headers)
        await worker.run_until_idle()
        failed = (
            await client.get(
                f"{API}/admin/references", params={"status": "failed"}, headers=headers
            )
        ).json()["items"]
        assert broken["id"] in [r["id"] for r in failed]
        broken_doc = next(r for r in failed if r["id"] == broken["id"])["document_id"]
        status = (await client.get(f"{API}/documents/{broken_doc}", headers=headers)).json()
        assert status["status"] == "failed"

        # Deleting the ingested document makes its reference new again, pointing at nothing.
        deleted = await client.delete(f"{API}/documents/{ref['document_id']}", headers=headers)
        assert deleted.status_code == 204
        again = (
            await client.get(f"{API}/admin/references", params={"status": "new"}, headers=headers)
        ).json()["items"]
        [back] = [r for r in again if r["id"] == fractions["id"]]
        assert back["document_id"] is None and back["error"] is None


async def test_sync_of_a_private_source_is_refused_by_default(
    client: httpx.AsyncClient, auth: Headers, admin: User, worker: Worker, site: HTTPSite, app: Any
) -> None:
    headers = auth(admin)
    for url in (site.url("/index.html"), f"http://localhost:{site.port}/index.html"):
        source = (
            await client.post(
                f"{API}/admin/sources", json={"name": "Local", "url": url}, headers=headers
            )
        ).json()
        await client.post(f"{API}/admin/sources/{source['id']}/sync", headers=headers)
        await worker.run_until_idle()
        runs = await client.get(f"{API}/admin/sources/{source['id']}/runs", headers=headers)
        run = runs.json()["items"][0]
        assert run["status"] == "failed"
        assert "non-public address" in run["error"]
    assert sum(site.hits.values()) == 0
    # Refused for good: the crawl jobs fail at once with the reason, without retries.
    crawls = (
        await client.get(f"{API}/admin/jobs", params={"kind": "knowledge.crawl"}, headers=headers)
    ).json()["items"]
    assert [(j["status"], j["attempts"]) for j in crawls] == [("failed", 1)] * 2
    assert all("non-public address" in j["error"] for j in crawls)
    for bad in ("ftp://example.org/", "file:///etc/passwd", "not a url"):
        refused = await client.post(
            f"{API}/admin/sources", json={"name": "x", "url": bad}, headers=headers
        )
        assert refused.status_code == 422

    # References recorded while private addresses were allowed are refused at download time
    # once the setting is back to its default: the rule is applied to every request.
    app.state.settings.knowledge.crawl_allow_private = True
    await client.post(f"{API}/admin/sources/{source['id']}/sync", headers=headers)
    await worker.run_until_idle()
    refs = (await client.get(f"{API}/admin/references", headers=headers)).json()["items"]
    assert refs
    app.state.settings.knowledge.crawl_allow_private = False
    hits_before = sum(site.hits.values())
    await client.post(f"{API}/admin/references/{refs[0]['id']}/ingest", headers=headers)
    await worker.run_until_idle()
    failed = (
        await client.get(f"{API}/admin/references", params={"status": "failed"}, headers=headers)
    ).json()["items"]
    assert [r["id"] for r in failed] == [refs[0]["id"]]
    assert "non-public address" in failed[0]["error"]
    assert sum(site.hits.values()) == hits_before
