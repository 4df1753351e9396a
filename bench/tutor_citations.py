"""The offline tutor's citation accuracy on question–passage sets, through the real service.

Starts a real StudyHall server (`studyhall serve`, SQLite or PostgreSQL, the offline tutor, the
bundled embedding model, the in-process worker), and for each set of bench/retrieval_quality.py
(a sample of its questions over a sample of its passages, the same draw) creates a course,
uploads every passage as a plain-text document, waits for ingestion, and asks each question in
a tutor session (POST /chat/sessions/{id}/messages). Per set it reports, over the questions:

- answered: the tutor answered from the material (it cited something) instead of refusing;
- gold@1: the first source the answer cites is the question's own passage (its document);
- gold cited: some cited source is the question's own passage;
- quotes held: of the quoted sentences (“…” [n]), the share found word for word in the chunk
  that [n] names (the cited chunk contains the quoted words);
- answer cited: extractive sets only (SciQ): a cited chunk contains the answer;
- answer quoted: extractive sets only: the answer is in the quoted sentences themselves;
- numbering ok: the answer's citation numbers are exactly 1..n, the sources list is 1..n in the
  same order, no number names a missing source and no chunk is listed twice.

"answered", "gold@1", "gold cited" and the answer shares count every question asked (a refusal
cites nothing); "quotes held" counts quotes and "numbering ok" the answered questions. The sample and the hint level (3, a short answer, is every new user's)
are options; ingestion embeds every passage with the bundled model, so keep the sample small on
a loaded machine.

    .venv/bin/python bench/tutor_citations.py [--sets sciq,numpy-docs,python-docs,mixed-languages]
        [--limit 30] [--passages 60] [--seed 13] [--hint-level 3] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _harness import BIN, database, postgres_available, server
from retrieval_quality import DATA_CANDIDATES, SETS, DataSet, sample

API = "/api/v1"
PASSWORD = "bench-password-123"
EMAIL = "citations@example.org"
QUOTE = re.compile(r"“([^”]+)” \[(\d+)\]")
CITATION = re.compile(r"\[(\d+)\]")


def _plain(text: str) -> str:
    """Whitespace collapsed and case folded: how a quote is compared with its chunk."""
    return " ".join(text.split()).casefold()


@dataclass
class Tally:
    asked: int = 0
    answered: int = 0
    gold_first: int = 0
    gold_cited: int = 0
    quotes: int = 0
    quotes_held: int = 0
    extractive: int = 0
    answer_cited: int = 0
    answer_quoted: int = 0
    numbering_ok: int = 0
    failures: list[str] = field(default_factory=list)

    def row(self, name: str) -> str:
        def share(part: int, whole: int) -> str:
            return f"{part / whole:6.3f}" if whole else "     -"

        return (
            f"{name:16} {self.asked:5} {share(self.answered, self.asked)} "
            f"{share(self.gold_first, self.asked)} {share(self.gold_cited, self.asked)} "
            f"{share(self.quotes_held, self.quotes)} {share(self.answer_cited, self.extractive)} "
            f"{share(self.answer_quoted, self.extractive)} "
            f"{share(self.numbering_ok, self.answered)}"
        )


HEADER = (
    f"{'set':16} {'asked':>5} {'answrd':>6} {'gold@1':>6} {'gold':>6} {'quotes':>6} "
    f"{'ans.ct':>6} {'ans.qt':>6} {'numbrs':>6}"
)


async def _login(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(f"{API}/auth/login", json={"email": EMAIL, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _set_hint_level(client: httpx.AsyncClient, headers: dict[str, str], level: int) -> None:
    me = await client.get(f"{API}/users/me", headers=headers)
    me.raise_for_status()
    changed = await client.patch(
        f"{API}/admin/users/{me.json()['id']}", json={"hint_level": level}, headers=headers
    )
    changed.raise_for_status()


async def _course(client: httpx.AsyncClient, headers: dict[str, str], data: DataSet) -> str:
    code = re.sub(r"[^A-Z0-9]", "", data.name.upper())[:10] + "CIT"
    response = await client.post(
        f"{API}/courses",
        json={"code": code, "title": f"Citations: {data.name}", "is_published": True},
        headers=headers,
    )
    response.raise_for_status()
    return str(response.json()["id"])


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, data: DataSet
) -> dict[str, int]:
    """Every passage as one document; returns document id -> passage row once all are ready."""
    rows: dict[str, int] = {}
    for row, passage in enumerate(data.passages):
        response = await client.post(
            f"{API}/courses/{course_id}/documents",
            files={"file": (f"passage-{row}.txt", passage.encode("utf-8"), "text/plain")},
            data={"title": f"{data.name} passage {row}"},
            headers=headers,
        )
        response.raise_for_status()
        rows[str(response.json()["document"]["id"])] = row
    pending = set(rows)
    while pending:
        for document_id in list(pending):
            status = (await client.get(f"{API}/documents/{document_id}", headers=headers)).json()
            if status["status"] == "failed":
                raise RuntimeError(f"ingestion failed: {status}")
            if status["status"] == "ready":
                pending.discard(document_id)
        if pending:
            await asyncio.sleep(1.0)
    return rows


async def _chunks(
    client: httpx.AsyncClient, headers: dict[str, str], documents: dict[str, int]
) -> dict[str, str]:
    """Chunk id -> text, for every document of the course."""
    texts: dict[str, str] = {}
    for document_id in documents:
        offset = 0
        while True:
            response = await client.get(
                f"{API}/documents/{document_id}/chunks",
                params={"limit": 100, "offset": offset},
                headers=headers,
            )
            response.raise_for_status()
            body = response.json()
            texts.update({c["id"]: c["text"] for c in body["items"]})
            offset += len(body["items"])
            if not body["items"] or offset >= body["total"]:
                break
    return texts


def _numbering_ok(content: str, sources: list[dict[str, object]]) -> bool:
    cited = [int(n) for n in CITATION.findall(content)]
    first_use = list(dict.fromkeys(cited))
    indexes = [int(str(s["index"])) for s in sources]
    chunks = [s["chunk_id"] for s in sources]
    return (
        first_use == list(range(1, len(first_use) + 1))
        and indexes == first_use
        and len(set(chunks)) == len(chunks)
    )


async def measure(client: httpx.AsyncClient, headers: dict[str, str], data: DataSet) -> Tally:
    course_id = await _course(client, headers, data)
    documents = await _upload(client, headers, course_id, data)
    chunk_texts = await _chunks(client, headers, documents)
    tally = Tally()
    for question in data.questions:
        tally.asked += 1
        created = await client.post(
            f"{API}/chat/sessions", json={"course_id": course_id}, headers=headers
        )
        created.raise_for_status()
        reply = await client.post(
            f"{API}/chat/sessions/{created.json()['id']}/messages",
            json={"content": question.text},
            headers=headers,
        )
        reply.raise_for_status()
        answer = reply.json()
        content: str = answer["content"]
        sources: list[dict[str, object]] = answer["sources"]
        tally.extractive += bool(question.answer)
        if not sources:
            continue
        tally.answered += 1
        by_number = {int(str(s["index"])): s for s in sources}
        cited_numbers = list(dict.fromkeys(int(n) for n in CITATION.findall(content)))
        cited = [by_number[n] for n in cited_numbers if n in by_number]
        gold_docs = [documents.get(str(s["document_id"])) == question.gold for s in cited]
        tally.gold_first += bool(gold_docs and gold_docs[0])
        tally.gold_cited += any(gold_docs)
        quoted: list[str] = []
        for quote, number in QUOTE.findall(content):
            tally.quotes += 1
            source = by_number.get(int(number))
            chunk = chunk_texts.get(str(source["chunk_id"]), "") if source else ""
            held = _plain(quote) in _plain(chunk)
            tally.quotes_held += held
            quoted.append(quote)
            if not held and len(tally.failures) < 3:
                tally.failures.append(f"“{quote[:80]}” not in the chunk cited [{number}]")
        if question.answer:
            wanted = _plain(question.answer)
            tally.answer_cited += any(
                wanted in _plain(chunk_texts.get(str(s["chunk_id"]), "")) for s in cited
            )
            tally.answer_quoted += any(wanted in _plain(q) for q in quoted)
        tally.numbering_ok += _numbering_ok(content, sources)
    return tally


async def run(base: str, sets: list[DataSet], hint_level: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        headers = await _login(client)
        await _set_hint_level(client, headers, hint_level)
        lines = [HEADER]
        notes: list[str] = []
        for data in sets:
            print(f"{data.name}: {len(data.passages)} passages, {len(data.questions)} questions")
            tally = await measure(client, headers, data)
            lines.append(tally.row(data.name))
            notes.extend(f"  {data.name}: {failure}" for failure in tally.failures)
        return lines + (["", "quotes not found in their cited chunk:", *notes] if notes else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    parser.add_argument("--limit", type=int, default=30, help="questions per set (0: all)")
    parser.add_argument("--passages", type=int, default=60, help="passages per set (0: all)")
    parser.add_argument("--seed", type=int, default=13, help="seed of the samples")
    parser.add_argument("--hint-level", type=int, default=3, choices=range(1, 6))
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--data",
        type=Path,
        default=next((d for d in DATA_CANDIDATES if d.is_dir()), DATA_CANDIDATES[0]),
    )
    args = parser.parse_args()
    if args.db == "postgres" and not postgres_available():
        raise SystemExit("PostgreSQL is not reachable")
    sets = [
        sample(SETS[name](args.data), args.limit, args.passages, args.seed)
        for name in args.sets.split(",")
    ]
    extra_env = {
        "STUDYHALL_JOBS__IN_PROCESS_WORKER": "true",
        "STUDYHALL_JOBS__POLL_INTERVAL_S": "0.2",
        "STUDYHALL_LLM__PROVIDER": "offline",
        "STUDYHALL_RATE_LIMITS__TUTOR_PER_USER": "1000000/minute",
        "STUDYHALL_BILLING__SIGNUP_BONUS": "100000000000",
    }
    with database(args.db) as url, server(url, extra_env=extra_env, start_timeout_s=180) as live:
        subprocess.run(
            [str(BIN / "studyhall"), "create-admin", "--email", EMAIL, "--password", PASSWORD],
            env=live.env,
            check=True,
            capture_output=True,
        )
        lines = asyncio.run(run(live.base_url, sets, args.hint_level))
    print(
        f"\noffline tutor, hint level {args.hint_level}, {args.db}; questions <= "
        f"{args.limit or 'all'}, passages <= {args.passages or 'all'}, seed {args.seed}"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
