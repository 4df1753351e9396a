"""Curriculum crawler: find PDF links on a portal's index pages, safely.

Safety rules, applied to every request including each redirect hop (redirects are followed by
hand, never by the HTTP client):
- only http and https;
- the host is resolved first and every address it resolves to must be public: loopback, private,
  link-local, multicast, reserved, unspecified and other non-global addresses are refused unless
  `crawl_allow_private` is set (or the address is inside `crawl_allowed_networks`);
- the connection then goes to the address that was checked (the URL's host is replaced by it,
  with the Host header and TLS SNI kept), so a second DNS answer cannot point elsewhere;
- robots.txt of each origin is honoured (RFC 9309: a 4xx robots.txt allows everything, a 5xx or
  an unreachable one disallows everything);
- bounded depth, pages, bytes (per response and in total) and wall-clock time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
import unicodedata
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx
from selectolax.lexbor import LexborHTMLParser

if TYPE_CHECKING:
    from studyhall.config import KnowledgeSettings

USER_AGENT = "StudyHallBot/1.0"
ROBOTS_AGENT = "StudyHallBot"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_ROBOTS_MAX_BYTES = 512 * 1024
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class CrawlError(Exception):
    """A fetch failed (network error, bad status, too large, too slow)."""


class CrawlRefused(CrawlError):
    """A URL was refused before any connection: scheme, address or robots.txt."""


# ---------------------------------------------------------------------------- address policy


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses the crawler may connect to."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, allow_private: bool, allowed_networks: Iterable[str]) -> NetworkPolicy:
        """Build from settings values (CIDR strings)."""
        return cls(
            allow_private=allow_private,
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks),
        )

    def check_address(self, address: IPAddress) -> None:
        """Raise CrawlRefused unless the crawler may connect to this address."""
        if isinstance(address, ipaddress.IPv6Address):
            # ::ffff:10.0.0.1 and friends are the IPv4 address in disguise.
            mapped = address.ipv4_mapped or address.sixtofour
            if mapped is not None:
                self.check_address(mapped)
                return
        if self.allow_private or any(address in net for net in self.allowed_networks):
            return
        if not is_public(address):
            raise CrawlRefused(f"refused non-public address {address}")


def is_public(address: IPAddress) -> bool:
    """Whether an address is globally routable unicast (what a crawler may reach by default)."""
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
    )


def check_scheme(url: str) -> tuple[str, str, int]:
    """Return (scheme, host, port) of an http(s) URL, or raise CrawlRefused."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise CrawlRefused(f"refused scheme {scheme or '(none)'!r}: only http and https")
    if parts.username or parts.password:
        raise CrawlRefused("refused URL with credentials")
    host = parts.hostname
    if not host:
        raise CrawlRefused("refused URL without a host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise CrawlRefused("refused URL with an invalid port") from exc
    return scheme, host, port


async def resolve(host: str, port: int, policy: NetworkPolicy) -> IPAddress:
    """Resolve a host and check every address it has; return the one to connect to."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        policy.check_address(literal)
        return literal
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CrawlError(f"cannot resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        # Strip an IPv6 zone id ("fe80::1%eth0") before parsing.
        raw = str(info[4][0]).split("%", 1)[0]
        addresses.append(ipaddress.ip_address(raw))
    if not addresses:
        raise CrawlError(f"cannot resolve {host}")
    # Every answer must pass: a host with one public and one private address is refused.
    for address in addresses:
        policy.check_address(address)
    # IPv4 first: many hosts (and CI runners) publish AAAA records without IPv6 routes.
    return sorted(addresses, key=lambda a: a.version)[0]


# ---------------------------------------------------------------------------- fetching


@dataclass
class FetchResult:
    url: str
    status: int
    content_type: str
    content: bytes


@dataclass
class Fetcher:
    """HTTP GET with the address policy applied to each hop and a byte limit while reading."""

    policy: NetworkPolicy
    timeout_s: float = 30.0
    user_agent: str = USER_AGENT
    bytes_read: int = 0
    _client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Fetcher:
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: it would bypass the address check
            timeout=self.timeout_s,
            # No connection reuse: connections are keyed by the pinned address, not the host.
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(self, url: str, *, max_bytes: int, timeout_s: float | None = None) -> FetchResult:
        """Fetch a URL following up to 5 redirects, each one re-checked; raise CrawlError."""
        assert self._client is not None, "use `async with Fetcher(...)`"
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            scheme, host, port = check_scheme(current)
            address = await resolve(host, port, self.policy)
            response_or_location = await self._get_once(
                current, scheme, host, port, address, max_bytes, timeout_s
            )
            if isinstance(response_or_location, FetchResult):
                return response_or_location
            current = urljoin(current, response_or_location)
        raise CrawlError(f"too many redirects from {url}")

    async def _get_once(
        self,
        url: str,
        scheme: str,
        host: str,
        port: int,
        address: IPAddress,
        max_bytes: int,
        timeout_s: float | None,
    ) -> FetchResult | str:
        assert self._client is not None
        parts = urlsplit(url)
        ip_host = f"[{address}]" if address.version == 6 else str(address)
        default_port = 443 if scheme == "https" else 80
        netloc = ip_host if port == default_port else f"{ip_host}:{port}"
        pinned = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = host if port == default_port else f"{host}:{port}"
        if ":" in host and not host.startswith("["):
            host_header = f"[{host}]" if port == default_port else f"[{host}]:{port}"
        extensions: dict[str, Any] = {}
        if scheme == "https":
            extensions["sni_hostname"] = host
        request = self._client.build_request(
            "GET",
            pinned,
            headers={"Host": host_header, "User-Agent": self.user_agent, "Accept": "*/*"},
            extensions=extensions,
            timeout=timeout_s if timeout_s is not None else self.timeout_s,
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise CrawlError(f"cannot fetch {url}: {type(exc).__name__}") from exc
        try:
            if response.status_code in _REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise CrawlError(f"redirect without a location from {url}")
                return location
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise CrawlError(f"{url} is larger than {max_bytes} bytes")
            body = bytearray()
            try:
                async for piece in response.aiter_raw():
                    body += piece
                    self.bytes_read += len(piece)
                    if len(body) > max_bytes:
                        raise CrawlError(f"{url} is larger than {max_bytes} bytes")
            except httpx.HTTPError as exc:
                raise CrawlError(f"cannot read {url}: {type(exc).__name__}") from exc
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            return FetchResult(url, response.status_code, content_type, bytes(body))
        finally:
            await response.aclose()


# ---------------------------------------------------------------------------- robots.txt


class Robots:
    """robots.txt per origin, fetched once per crawl through the same safe fetcher."""

    def __init__(self, fetcher: Fetcher) -> None:
        self._fetcher = fetcher
        self._parsers: dict[str, RobotFileParser | bool] = {}

    async def allowed(self, url: str) -> bool:
        """Whether robots.txt lets StudyHallBot fetch this URL."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        rules = self._parsers.get(origin)
        if rules is None:
            rules = await self._load(origin)
            self._parsers[origin] = rules
        if isinstance(rules, bool):
            return rules
        return rules.can_fetch(ROBOTS_AGENT, url)

    async def _load(self, origin: str) -> RobotFileParser | bool:
        try:
            result = await self._fetcher.get(f"{origin}/robots.txt", max_bytes=_ROBOTS_MAX_BYTES)
        except CrawlError:
            return False  # unreachable or refused: assume everything is disallowed
        if 400 <= result.status < 500:
            return True  # no robots.txt: everything is allowed
        if result.status >= 500:
            return False
        parser = RobotFileParser()
        parser.parse(result.content.decode("utf-8", "replace").splitlines())
        return parser


# ---------------------------------------------------------------------------- metadata


_SUBJECTS: dict[str, tuple[str, ...]] = {
    "mathematics": ("math", "maths", "mathematics", "matematicas", "matematica", "mathematiques"),
    "physics": ("physics", "fisica", "physique"),
    "chemistry": ("chemistry", "quimica", "chimie"),
    "biology": ("biology", "biologia", "biologie"),
    "science": ("science", "sciences", "ciencias", "ciencia"),
    "history": ("history", "historia", "histoire"),
    "geography": ("geography", "geografia", "geographie"),
    "computer science": ("informatics", "informatica", "informatique", "computing", "nsi"),
    "language": ("lengua", "literature", "literatura", "litterature", "grammar", "gramatica"),
    "english": ("english", "ingles", "anglais"),
    "economics": ("economics", "economia", "economie"),
}
_SUBJECT_WORDS = {word: name for name, words in _SUBJECTS.items() for word in words}
_LANGUAGES = frozenset(
    [
        "en",
        "es",
        "fr",
        "de",
        "it",
        "pt",
        "ca",
        "eu",
        "gl",
        "nl",
        "ar",
        "zh",
        "ja",
        "ko",
        "ru",
        "pl",
        "sv",
        "da",
        "fi",
        "no",
        "tr",
        "el",
        "he",
        "hi",
    ]
)
_LEVEL_PATTERNS = (
    re.compile(r"\b(?:grade|grado|year|level|nivel|class|classe|curso)[\s_-]*(\d{1,2})\b", re.I),
    re.compile(r"\b(\d{1,2})\s*(?:st|nd|rd|th|º|°|o|er|e|eme|ème)?[\s_-]*(?:grade|grado)\b", re.I),
)


@dataclass(frozen=True)
class Metadata:
    level: str | None = None
    subject: str | None = None
    language: str | None = None


def _fold(text: str) -> str:
    """Lower-case ASCII folding: 'Matemáticas' -> 'matematicas'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def guess_metadata(url: str, text: str = "") -> Metadata:
    """Level, subject and language suggested by a URL (path, query) and a link's text."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    query = parse_qs(parts.query)
    haystack = _fold(f"{path} {text}")
    words = re.findall(r"[a-z]+", haystack)
    subject = next((_SUBJECT_WORDS[w] for w in words if w in _SUBJECT_WORDS), None)
    language: str | None = None
    for key in ("lang", "language", "hl", "idioma", "langue"):
        if query.get(key):
            candidate = query[key][0].lower()[:2]
            if candidate in _LANGUAGES:
                language = candidate
                break
    if language is None:
        segments = [s.lower() for s in path.split("/") if s]
        language = next((s for s in segments[:-1] if s in _LANGUAGES), None)
    level: str | None = None
    for pattern in _LEVEL_PATTERNS:
        match = pattern.search(haystack.replace("/", " "))
        if match:
            level = f"grade {int(match.group(1))}"
            break
    return Metadata(level=level, subject=subject, language=language)


def title_from_url(url: str) -> str:
    """A readable title from a file name: '/x/algebra-basica_2.pdf' -> 'Algebra basica 2'."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    stem = re.sub(r"\.pdf$", "", name, flags=re.I)
    words = re.sub(r"[\s_\-.+]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else "Untitled document"


# ---------------------------------------------------------------------------- crawling


@dataclass(frozen=True)
class CrawlLimits:
    """How far a crawl may go; the values (and their defaults) are the crawl_* settings."""

    max_depth: int
    max_pages: int
    max_bytes: int
    max_page_bytes: int
    timeout_s: float
    request_timeout_s: float

    @classmethod
    def from_settings(
        cls, knowledge: KnowledgeSettings, *, depth: int | None = None
    ) -> CrawlLimits:
        """The configured limits; a source's own `depth` may lower the configured one."""
        max_depth = knowledge.crawl_max_depth
        return cls(
            max_depth=max_depth if depth is None else min(depth, max_depth),
            max_pages=knowledge.crawl_max_pages,
            max_bytes=knowledge.crawl_max_bytes,
            max_page_bytes=knowledge.crawl_max_page_bytes,
            timeout_s=knowledge.crawl_timeout_s,
            request_timeout_s=knowledge.crawl_request_timeout_s,
        )


@dataclass(frozen=True)
class DiscoveredPdf:
    url: str
    title: str
    found_on: str
    level: str | None
    subject: str | None
    language: str | None


@dataclass
class CrawlResult:
    found: list[DiscoveredPdf] = field(default_factory=list)
    pages_visited: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    stopped_by: str | None = None


_PAGE_SUFFIXES = ("", ".html", ".htm", ".php", ".asp", ".aspx", ".jsp", ".shtml", ".xhtml")
_IGNORED_SCHEMES = frozenset({"mailto", "javascript", "tel", "data"})
_MAX_SKIPPED = 200


def _is_pdf_link(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(".pdf")


def _looks_like_page(url: str) -> bool:
    last = urlsplit(url).path.rsplit("/", 1)[-1].lower()
    suffix = "." + last.rsplit(".", 1)[1] if "." in last else ""
    return suffix in _PAGE_SUFFIXES


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _clean(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


async def crawl(
    start_url: str,
    *,
    policy: NetworkPolicy,
    limits: CrawlLimits,
    defaults: Metadata | None = None,
    user_agent: str = USER_AGENT,
) -> CrawlResult:
    """Crawl an index page (and same-site pages up to max_depth) for PDF links.

    Raises CrawlRefused/CrawlError when the start page itself is refused or cannot be fetched;
    problems with later pages and links are recorded in `skipped`.
    """
    check_scheme(start_url)
    async with Fetcher(policy, timeout_s=limits.request_timeout_s, user_agent=user_agent) as fetch:
        run = _Crawl(fetch, policy=policy, limits=limits, defaults=defaults or Metadata())
        return await run.walk(_clean(start_url))


class _Crawl:
    """One crawl's state: the pages queued breadth-first, the PDFs found, the limits' clock."""

    def __init__(
        self, fetch: Fetcher, *, policy: NetworkPolicy, limits: CrawlLimits, defaults: Metadata
    ) -> None:
        self.fetch = fetch
        self.robots = Robots(fetch)
        self.policy = policy
        self.limits = limits
        self.defaults = defaults
        self.result = CrawlResult()
        self.found: dict[str, DiscoveredPdf] = {}
        self.deadline = time.monotonic() + limits.timeout_s
        self.queue: deque[tuple[str, int]] = deque()
        self.queued: set[str] = set()
        self.site: str | None = None

    def skip(self, url: str, reason: str) -> None:
        if len(self.result.skipped) < _MAX_SKIPPED:
            self.result.skipped.append({"url": url[:500], "reason": reason[:300]})

    def _enqueue(self, url: str, depth: int) -> None:
        self.queued.add(url)
        self.queue.append((url, depth))

    def _stopped_by(self) -> str | None:
        """Which limit ends the crawl before the next page, if any."""
        if self.deadline - time.monotonic() <= 0:
            return "time limit"
        if self.result.pages_visited >= self.limits.max_pages:
            return "page limit"
        if self.fetch.bytes_read >= self.limits.max_bytes:
            return "byte limit"
        return None

    async def walk(self, start_url: str) -> CrawlResult:
        self._enqueue(start_url, 0)
        while self.queue:
            page_url, depth = self.queue.popleft()
            self.result.stopped_by = self._stopped_by()
            if self.result.stopped_by is not None:
                break
            page = await self._visit(page_url, depth)
            if page is not None:
                for href, text in _links(page.content):
                    await self._follow(page, href, text, depth)
        self.result.found = list(self.found.values())
        return self.result

    async def _visit(self, page_url: str, depth: int) -> FetchResult | None:
        """The HTML page at `page_url`, or None (skipped) when it cannot be read; a start page
        that cannot be read fails the crawl."""
        remaining = self.deadline - time.monotonic()
        try:
            # The address first: a refused host is reported as such, not as a robots failure.
            _, host, port = check_scheme(page_url)
            await resolve(host, port, self.policy)
            # robots.txt and the page both count against the crawl's time limit.
            page = await asyncio.wait_for(
                _fetch_page(self.fetch, self.robots, page_url, self.limits, remaining), remaining
            )
            if page.status != 200:
                raise CrawlError(f"HTTP {page.status}")
        except (CrawlError, TimeoutError) as exc:
            if depth == 0:
                if isinstance(exc, TimeoutError):
                    raise CrawlError(f"{page_url}: time limit reached") from exc
                raise
            self.skip(page_url, str(exc) or "time limit reached")
            return None
        self.result.pages_visited += 1
        if self.site is None:
            self.site = _origin(page.url)  # after redirects: the portal's real home
        if "html" not in page.content_type and page.content.lstrip()[:1] != b"<":
            self.skip(page_url, f"not an HTML page ({page.content_type or 'unknown type'})")
            return None
        return page

    async def _follow(self, page: FetchResult, href: str, text: str, depth: int) -> None:
        """One link of a page: a PDF is recorded, a same-site page within the depth queued."""
        target = urljoin(page.url, href.strip())
        scheme = urlsplit(target).scheme.lower()
        if scheme in _IGNORED_SCHEMES:
            return
        if scheme not in ("http", "https"):
            self.skip(target, f"refused scheme {scheme!r}: only http and https")
            return
        target = _clean(target)
        if _is_pdf_link(target):
            await self._found_pdf(target, text, found_on=page.url)
        elif (
            depth < self.limits.max_depth
            and _origin(target) == self.site
            and _looks_like_page(target)
            and target not in self.queued
        ):
            self._enqueue(target, depth + 1)

    async def _found_pdf(self, target: str, text: str, *, found_on: str) -> None:
        if target in self.found:
            return
        reason = await _pdf_refusal(target, self.robots, self.policy)
        if reason:
            self.skip(target, reason)
            return
        guessed = guess_metadata(target, text)
        self.found[target] = DiscoveredPdf(
            url=target,
            title=(text or title_from_url(target))[:300],
            found_on=found_on,
            level=self.defaults.level or guessed.level,
            subject=self.defaults.subject or guessed.subject,
            language=self.defaults.language or guessed.language,
        )


async def _fetch_page(
    fetch: Fetcher, robots: Robots, url: str, limits: CrawlLimits, remaining: float
) -> FetchResult:
    if not await robots.allowed(url):
        raise CrawlRefused("disallowed by robots.txt")
    return await fetch.get(
        url,
        max_bytes=min(limits.max_page_bytes, limits.max_bytes - fetch.bytes_read),
        timeout_s=min(limits.request_timeout_s, remaining),
    )


async def _pdf_refusal(url: str, robots: Robots, policy: NetworkPolicy) -> str | None:
    """Why a discovered PDF link may not be recorded, or None."""
    try:
        _, host, port = check_scheme(url)
        await resolve(host, port, policy)
        if not await robots.allowed(url):
            return "disallowed by robots.txt"
    except CrawlError as exc:
        return str(exc)
    return None


def _links(content: bytes) -> list[tuple[str, str]]:
    try:
        html = content.decode("utf-8")
    except UnicodeDecodeError:
        html = content.decode("cp1252", "replace")  # old portals: Windows-1252 pages
    tree = LexborHTMLParser(html)
    links: list[tuple[str, str]] = []
    for anchor in tree.css("a[href]"):
        href = anchor.attributes.get("href") or ""
        if not href:
            continue
        text = " ".join(anchor.text(strip=True, separator=" ").split())
        if not text:
            text = (anchor.attributes.get("title") or "").strip()
        links.append((href, text))
    return links


async def download(
    url: str, *, policy: NetworkPolicy, max_bytes: int, timeout_s: float, robots: bool = True
) -> FetchResult:
    """Fetch one file (a discovered PDF) under the same rules as the crawl."""
    _, host, port = check_scheme(url)
    await resolve(host, port, policy)
    async with Fetcher(policy, timeout_s=timeout_s) as fetch:
        if robots and not await Robots(fetch).allowed(url):
            raise CrawlRefused("disallowed by robots.txt")
        try:
            result = await asyncio.wait_for(fetch.get(url, max_bytes=max_bytes), timeout_s)
        except TimeoutError as exc:
            raise CrawlError(f"{url}: time limit reached") from exc
    if result.status != 200:
        raise CrawlError(f"{url}: HTTP {result.status}")
    return result
