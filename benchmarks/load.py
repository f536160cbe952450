"""The service under load, as operators run it: a mix of every public kind of request from
32 keep-alive clients, alone, while a reindex publishes a new generation, and while events
are upserted.

    .venv/bin/python benchmarks/load.py [--events 1000000] [--seed 20220701]
        [--clients 32] [--duration 60] [--upsert-rate 50] [--out benchmarks/results]
    .venv/bin/python benchmarks/load.py --quick      # the bundled sample, 10 s per phase

The server is `eventsearch serve --workers 2 --no-access-log` on a free loopback port, with
EVENTSEARCH_API_KEY set, on a COPY of the search benchmark's index (`benchmarks/search.py
--build-only` builds it: OUT/search-work/seed{SEED}-events{EVENTS}-pool{POOL}/ours); the
copy (OUT/load-work/data: segment files hard-linked, since Tantivy never rewrites one, the
rest copied) is made afresh on every run, and the original is never written. --quick indexes
the bundled sample dump once into OUT/load-work/sample and copies that.

Three phases, each --duration seconds after 2 s of warm-up, the same clients and mix:
1. steady: the mix alone.
2. reindex: `eventsearch reindex DUMP --processes 2` of the corpus's own dump into the copy
   (warm: its enrichment cache holds every headline) starts with the phase; the phase lasts
   until the new generation has been published (CURRENT rewritten) and --swap-window
   seconds more, at least --duration. Latency is reported for the whole phase and for the
   swap window (from the publish on), when the servers reopen the index.
3. upsert: beside the mix, events arrive at --upsert-rate per second and one writer posts
   whatever has arrived since its last POST to `POST /api/events` (NDJSON, the API key in
   X-API-Key; one writer because the write API takes one at a time and answers a second
   concurrent POST with 409), so the stream keeps its rate however long a POST takes. Before
   the clock starts, a few small posts make each server worker load its spaCy pipeline.
   Another client polls `/api/search` every 100 ms for the accepted events not yet found
   (every 50 events share a word of their own); an event's visibility lag runs from its
   arrival to the first poll that finds it. Target: every event found within 2 s.

The mix (weights by --mix): `/api/search` and the `/search` HTML page, both with a distinct
query each (1 or 2 words from the corpus's headline vocabulary, alone, with a country, a
year, or both: every (words, country, year) combination is drawn at most once in a run,
so the server's facet-count cache, keyed by query and filters, never answers one);
`/api/facets/{facet}?prefix=` (distinct facet, prefix and word), `/api/suggest?q=`
(distinct prefixes while they last, then repeats, counted), `/api/events/{id}/related` and
the event's page `/news/YYYY/MM/DD/<slug>` (up to 300,000 of the index's ids, drawn without
replacement; past them, again, counted). The client
checks the distinctness itself and reports it; the server has no cache-hit counter.
Errors: every answer other than 200, and every broken connection. Target: 0.

The client is a minimal HTTP/1.1 client on asyncio streams under uvloop, one connection per
client (as search.py's raw client): it costs a fraction of a core (reported as
client_cpu_cores beside the servers' CPU, from /proc), where httpx would take most of one
of the machine's two cores. The servers' CPU is read from their processes. Each client
first asks /health on its connection (not counted) for the pid of the server worker that
accepted it: the report gives the connections each worker holds, since keep-alive
connections stay with the worker that accepted them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import fcntl
import gzip
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import psutil
import tantivy
import uvloop

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _search_stores import EVENTSEARCH  # noqa: E402
from search import DEFAULT_OUT, Server, code_version, others_running, summary  # noqa: E402

from indexer.index.storage import open_index  # noqa: E402
from indexer.writers import page_path  # noqa: E402
from service.search.render import stored_event  # noqa: E402

SAMPLE_DUMP = REPO / "samples" / "news"
API_KEY = "load-benchmark-key"
_POST_HEADERS = f"X-API-Key: {API_KEY}\r\nContent-Type: application/x-ndjson\r\n"
VISIBLE_WITHIN_S = 2.0
DEFAULT_MIX = "search=35,page=10,facets=10,suggest=25,related=10,event=10"
_WORD = re.compile(r"[A-Za-z]+")
_STOPWORDS = frozenset("""a about after again against all also amid an and any are as at be
been before being but by can could did do does for from had has have he her his how i if in
into is it its just more most new no not now of off on one only or our out over says said
she so some than that the their them then there these they this to too under up was we were
what when where which while who why will with would you your""".split())


# --- the workload: every request path, drawn once --------------------------------------------

class Workload:
    """Request paths by route, from the corpus's own headlines, labels and ids."""

    def __init__(self, events: list[dict], ids: list[tuple[str, str]], seed: int):
        self.rng = random.Random(f"load-{seed}")
        docs = [[w.lower() for w in _WORD.findall(e["headline"])] for e in events]
        df = Counter(w for words in docs for w in set(words))
        self.words = sorted(w for w, n in df.items()
                            if len(w) >= 4 and w not in _STOPWORDS and n >= 2)
        countries = Counter(c for e in events for c in e["countries"])
        self.countries = [c for c, _ in countries.most_common(30)]
        self.years = sorted({e["date"][:4] for e in events})
        self.entities = sorted({name for e in events for name in e["entities"]
                                if name[:1].isalpha()})
        self.all_ids = ids  # (id, date) of every event the pages and related may ask for
        self.ids = self._shuffled_ids()
        self.seen: dict[str, set] = {"search": set(), "facets": set(), "suggest": set()}
        self.repeats: Counter = Counter()
        self.drawn: Counter = Counter()

    def _distinct(self, kind: str, draw: Callable[[], tuple], tries: int = 200) -> tuple:
        for _ in range(tries):
            key = draw()
            if key not in self.seen[kind]:
                self.seen[kind].add(key)
                return key
        self.repeats[kind] += 1  # the space is used up: a repeat, counted and reported
        return key

    def _search_key(self) -> tuple:
        words = tuple(sorted(self.rng.sample(self.words, self.rng.choice((1, 1, 2)))))
        mode = self.rng.randrange(4)
        country = self.rng.choice(self.countries) if mode in (1, 3) and self.countries else None
        year = self.rng.choice(self.years) if mode in (2, 3) else None
        return words, country, year

    def _search_params(self) -> str:
        words, country, year = self._distinct("search", self._search_key)
        params = [("q", " ".join(words))]
        if country:
            params.append(("country", country))
        if year:
            params += [("from", f"{year}-01-01"), ("to", f"{year}-12-31")]
        return urlencode(params)

    def path(self, route: str) -> str:
        self.drawn[route] += 1
        if route == "search":
            return "/api/search?" + self._search_params()
        if route == "page":
            return "/search?" + self._search_params()
        if route == "facets":
            facet, prefix, word = self._distinct("facets", self._facet_key)
            return f"/api/facets/{facet}?" + urlencode(
                [("prefix", prefix)] + ([("q", word)] if word else []))
        if route == "suggest":
            (prefix,) = self._distinct("suggest", lambda: (self._prefix(),))
            return "/api/suggest?" + urlencode({"q": prefix})
        event_id, date = self._next_id()
        if route == "related":
            return f"/api/events/{quote(event_id, safe='')}/related?size=5"
        return page_path(dt.date.fromisoformat(date), event_id)

    def _facet_key(self) -> tuple:
        facet = self.rng.choice(("entity", "entity", "country", "source", "story"))
        word = self.rng.choice(self.words) if self.rng.random() < 0.5 else None
        return facet, self._prefix(), word

    def _prefix(self) -> str:
        source = (self.rng.choice(self.entities) if self.rng.random() < 0.5 and self.entities
                  else self.rng.choice(self.words))
        words = _WORD.findall(source) or [source]
        return self.rng.choice(words)[:self.rng.choice((2, 3, 4, 5))].lower()

    def _shuffled_ids(self) -> list[tuple[str, str]]:
        ids = list(self.all_ids)
        self.rng.shuffle(ids)
        return ids

    def _next_id(self) -> tuple[str, str]:
        if not self.ids:  # every id asked: again, counted (related and pages have no cache)
            self.repeats["event ids, all asked once"] += 1
            self.ids = self._shuffled_ids()
        return self.ids.pop()

    def distinctness(self) -> dict:
        return {"drawn": dict(self.drawn), "distinct_keys": {k: len(v) for k, v in
                                                             self.seen.items()},
                "repeats_after_space_used_up": dict(self.repeats)}


def parse_mix(text: str) -> dict[str, int]:
    mix = {name: int(weight) for name, weight in (part.split("=") for part in text.split(","))}
    unknown = set(mix) - {"search", "page", "facets", "suggest", "related", "event"}
    if unknown:
        raise SystemExit(f"--mix: unknown routes {sorted(unknown)}")
    return mix


def event_ids(data_dir: Path, limit: int = 300_000) -> list[tuple[str, str]]:
    """(id, date) of up to `limit` events of the index, for related and event pages."""
    searcher = open_index(data_dir).searcher()
    hits = searcher.search(tantivy.Query.all_query(), limit=min(limit, searcher.num_docs)).hits
    events = (stored_event(searcher.doc(address)) for _, address in hits)
    return [(e.id, e.date.isoformat()) for e in events]


def corpus_events(data_dir: Path, sample_json: Path | None, limit: int = 20_000) -> list[dict]:
    """The events the workload is drawn from: the search benchmark's random sample of the
    index's stored events when there is one, else the index's own stored events."""
    if sample_json and sample_json.exists():
        return json.loads(sample_json.read_text())
    searcher = open_index(data_dir).searcher()
    hits = searcher.search(tantivy.Query.all_query(), limit=min(limit, searcher.num_docs)).hits
    events = [stored_event(searcher.doc(address)) for _, address in hits]
    return [{"id": e.id, "headline": e.headline, "date": e.date.isoformat(),
             "countries": list(e.countries),
             "entities": [x.name for x in e.entities]} for e in events]


# --- a minimal keep-alive HTTP/1.1 client ------------------------------------------------------

class Connection:
    """One keep-alive connection; reads Content-Length and chunked bodies."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, method: str = "GET", body: bytes = b"",
                      headers: str = "") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\n"
                f"{headers}Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        try:
            return await self._response()
        except BaseException:
            self.close()
            raise

    async def _response(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        if length:
            body = await self.reader.readexactly(int(length.group(1)))
        elif re.search(rb"(?i)\r\ntransfer-encoding: *chunked", head):
            body = await self._chunked()
        else:
            body = b""
        if re.search(rb"(?i)\r\nconnection: *close", head):
            self.close()
        return status, body

    async def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return b"".join(parts)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# --- one phase of load --------------------------------------------------------------------------

@dataclass
class Record:
    """Each request's route, start (s from the phase's start), ms and outcome."""

    rows: list[tuple[str, float, float, str]] = field(default_factory=list)
    connections_by_worker: Counter = field(default_factory=Counter)  # server pid -> clients

    def add(self, route: str, started: float, origin: float, outcome: str) -> None:
        now = time.perf_counter()
        self.rows.append((route, started - origin, (now - started) * 1000, outcome))


async def _client(port: int, next_request: Callable[[], tuple[str, str]], keep_going,
                  record: Record | None, origin: float) -> None:
    connection = Connection(port)
    if record is not None:  # which server worker accepted this client's connection
        _, body = await connection.request("/health")
        record.connections_by_worker[json.loads(_gunzipped(body))["pid"]] += 1
    try:
        while keep_going():
            route, path = next_request()
            started = time.perf_counter()
            try:
                status, _ = await connection.request(path)
                outcome = "ok" if status == 200 else f"HTTP {status}"
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                outcome = type(error).__name__
            if record is not None:
                record.add(route, started, origin, outcome)
    finally:
        connection.close()


def _weighted_routes(mix: dict[str, int], seed: int) -> Callable[[], str]:
    rng = random.Random(f"mix-{seed}")
    names, weights = list(mix), list(mix.values())
    return lambda: rng.choices(names, weights)[0]


async def run_phase(port: int, workload: Workload, mix: dict[str, int], clients: int,
                    seconds: float, seed: int, until: Callable[[float], bool] | None = None,
                    side_tasks: Callable[[float, Callable[[], bool]], list] = lambda *_: []
                    ) -> tuple[Record, float, float]:
    """`clients` concurrent clients for 2 s of warm-up, then at least `seconds` (longer while
    `until(elapsed)` says so). Returns the record, the elapsed time and the client's CPU."""
    pick = _weighted_routes(mix, seed)

    def next_request() -> tuple[str, str]:
        route = pick()
        return route, workload.path(route)

    warm_end = time.perf_counter() + 2
    await asyncio.gather(*(_client(port, next_request, lambda: time.perf_counter() < warm_end,
                                   None, 0.0) for _ in range(clients)))
    record = Record()
    origin = time.perf_counter()

    def keep_going() -> bool:
        elapsed = time.perf_counter() - origin
        return elapsed < seconds or (until is not None and until(elapsed))

    cpu = time.process_time()
    extra = side_tasks(origin, keep_going)
    await asyncio.gather(*(_client(port, next_request, keep_going, record, origin)
                           for _ in range(clients)), *extra)
    return record, time.perf_counter() - origin, time.process_time() - cpu


def phase_report(record: Record, elapsed: float, client_cpu: float,
                 window: tuple[float, float] | None = None) -> dict:
    """Requests, errors, requests/s and latency per route (and for all routes)."""
    rows = [r for r in record.rows if window is None or window[0] <= r[1] < window[1]]
    span = (window[1] - window[0]) if window else elapsed
    by_route: dict[str, dict] = {}
    for route in sorted({r[0] for r in rows}) + ["all"]:
        mine = [r for r in rows if route in ("all", r[0])]
        ok = [r[2] for r in mine if r[3] == "ok"]
        errors = Counter(r[3] for r in mine if r[3] != "ok")
        by_route[route] = {"requests": len(mine), "errors": sum(errors.values()),
                           "error_kinds": dict(errors),
                           "requests_per_second": round(len(mine) / span, 1),
                           "latency_ms": summary(ok) if ok else None}
    return {"seconds": round(span, 2), "client_cpu_cores": round(client_cpu / elapsed, 3),
            "connections_per_server_worker": sorted(record.connections_by_worker.values(),
                                                    reverse=True),
            "routes": by_route}


# --- the server, its data copy, its CPU --------------------------------------------------------

def copy_data_dir(source: Path, target: Path) -> None:
    """A writable copy: Tantivy's segment files hard-linked (it never rewrites one; a new
    generation or an upsert writes new files), everything else (CURRENT, meta.json, the
    enrichment cache, locks) copied, so nothing written to the copy reaches the source."""
    if target.exists():
        shutil.rmtree(target)

    def link_or_copy(src: str, dst: str) -> None:
        name = Path(src).name
        segment_file = "/generations/" in src and not name.startswith(".") \
            and not name.endswith(".json")
        if segment_file:
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy,
                    ignore=shutil.ignore_patterns("built.json", "rejected.jsonl"))


def server_cpu_seconds(server: Server) -> float:
    """User + system CPU of the server's processes (the supervisor and its workers)."""
    total = 0.0
    for process in server.processes:
        parent = psutil.Process(process.pid)
        for proc in [parent, *parent.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total


def current_generation(data_dir: Path) -> str:
    return (data_dir / "CURRENT").read_text().strip()


# --- the phases ---------------------------------------------------------------------------------

def steady_phase(server: Server, workload: Workload, args) -> dict:
    cpu = server_cpu_seconds(server)
    record, elapsed, client_cpu = asyncio.run(run_phase(
        server.port, workload, args.mix, args.clients, args.duration, args.seed))
    report = phase_report(record, elapsed, client_cpu)
    report["server_cpu_cores"] = round((server_cpu_seconds(server) - cpu) / elapsed, 3)
    return report


def reindex_phase(server: Server, workload: Workload, data_dir: Path, dump: Path,
                  args) -> dict:
    """The mix while `eventsearch reindex` builds and publishes a generation into the copy."""
    before = current_generation(data_dir)
    state: dict = {}

    def side_tasks(origin: float, keep_going) -> list:
        state["reindex"] = subprocess.Popen(
            [str(EVENTSEARCH), "reindex", str(dump), "--data-dir", str(data_dir),
             "--processes", "2", "--json", "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        state["origin"] = origin
        return [_watch_publish(data_dir, before, origin, state, keep_going)]

    def until(elapsed: float) -> bool:
        published = state.get("published_at")
        if published is None:
            return elapsed < args.reindex_timeout
        return elapsed < published + args.swap_window

    cpu = server_cpu_seconds(server)
    record, elapsed, client_cpu = asyncio.run(run_phase(
        server.port, workload, args.mix, args.clients, args.duration, args.seed + 1,
        until=until, side_tasks=side_tasks))
    server_cpu = server_cpu_seconds(server) - cpu
    out, err = state["reindex"].communicate(timeout=600)
    report = phase_report(record, elapsed, client_cpu)
    report["server_cpu_cores"] = round(server_cpu / elapsed, 3)
    published = state.get("published_at")
    report["reindex"] = {
        "exit_code": state["reindex"].returncode,
        "summary": json.loads(out.strip().splitlines()[-1]) if out.strip() else None,
        "stderr_tail": err[-500:], "generation_before": before,
        "generation_after": current_generation(data_dir),
        "published_after_s": round(published, 2) if published is not None else None}
    if published is not None:
        window = (published, published + args.swap_window)
        report["swap_window"] = phase_report(record, elapsed, client_cpu, window)
        report["swap_window"]["from_s"] = round(published, 2)
    report["served_generation_after"] = httpx.get(f"{server.url}/health",
                                                  timeout=10).json().get("generation")
    return report


async def _watch_publish(data_dir: Path, before: str, origin: float, state: dict,
                         keep_going) -> None:
    while keep_going():
        if "published_at" not in state and current_generation(data_dir) != before:
            state["published_at"] = time.perf_counter() - origin
        await asyncio.sleep(0.05)


@dataclass
class Upserts:
    """The upsert stream: when each event arrived (was made), its batch's word, whether its
    POST was accepted, when a search first found it."""

    run_word: str
    arrived: dict[str, float] = field(default_factory=dict)    # id -> made at
    batch_of: dict[str, str] = field(default_factory=dict)     # id -> batch word
    accepted: set[str] = field(default_factory=set)
    seen: dict[str, float] = field(default_factory=dict)       # id -> first found at
    post_ms: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    post_errors: Counter = field(default_factory=Counter)
    polls: int = 0
    poll_errors: Counter = field(default_factory=Counter)
    stream_ended: bool = False

    def pending_words(self, most_events: int = 100) -> list[str]:
        """The oldest accepted batches not yet found, as many as one page of hits holds."""
        words: Counter = Counter(self.batch_of[i] for i in self.arrived
                                 if i in self.accepted and i not in self.seen)
        picked, events = [], 0
        for word, count in words.items():  # insertion order: oldest first
            if events + count > most_events and picked:
                break
            picked.append(word)
            events += count
        return picked


def _letters(number: int) -> str:
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = chr(97 + digit) + text
        if number == 0:
            return text


async def _post_stream(port: int, upserts: Upserts, rate: float, keep_going,
                       seed: int) -> None:
    """Events arrive at `rate` per second; one writer posts whatever has arrived since its
    last POST as one NDJSON batch (the write API takes one writer at a time: a second
    concurrent POST gets 409), so the stream keeps the rate however long a POST takes, and
    a slow server shows as larger batches and longer lags."""
    connection = Connection(port)
    origin = time.perf_counter()
    made = number = 0
    while keep_going():
        due = int((time.perf_counter() - origin) * rate)
        if due == made:
            await asyncio.sleep((made + 1) / rate - (time.perf_counter() - origin))
            continue
        events = []
        for k in range(made, due):
            # A word per 50 events: a poll finds up to 100 (one page of hits).
            word = f"{upserts.run_word}{_letters(number + (k - made) // 50)}"
            event_id = f"load-{seed}-{k}"
            upserts.arrived[event_id] = origin + k / rate
            upserts.batch_of[event_id] = word
            events.append({"id": event_id, "date": "2024-06-01",
                           "headline": f"Upserted {word} event {k}: parliament debates the "
                                       "budget"})
        number += (due - made + 49) // 50
        made = due
        if await _post(connection, events, upserts):
            upserts.accepted.update(e["id"] for e in events)
    connection.close()
    upserts.stream_ended = True


async def _post(connection: Connection, events: list[dict], upserts: Upserts) -> bool:
    body = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    started = time.perf_counter()
    try:
        status, answer = await connection.request("/api/events", "POST", body, _POST_HEADERS)
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        upserts.post_errors[type(error).__name__] += 1
        return False
    finally:
        upserts.post_ms.append((time.perf_counter() - started) * 1000)
        upserts.batch_sizes.append(len(events))
    if status != 200:
        upserts.post_errors[f"HTTP {status}: {_gunzipped(answer)[:200]!r}"] += 1
    return status == 200


async def _warm_writers(port: int, connections: int = 4) -> None:
    """Each server worker loads the spaCy pipeline on its first write (seconds): one small
    POST on each of a few new connections, in turn, before the clock starts, not counted."""
    for number in range(connections):
        connection = Connection(port)
        body = json.dumps({"id": f"load-warm-{number}", "date": "2024-06-01",
                           "headline": "Warm-up event for the write path"}).encode() + b"\n"
        await connection.request("/api/events", "POST", body, _POST_HEADERS)
        connection.close()


async def _poll_visibility(port: int, upserts: Upserts, keep_going, grace: float) -> None:
    """Every 100 ms, one search for the accepted batches not yet found; goes on `grace`
    seconds after the load ends so that the last batches get their chance."""
    connection = Connection(port)
    ended_at = None
    while True:
        if upserts.stream_ended:  # its last POST answered
            ended_at = ended_at or time.perf_counter()
            if (time.perf_counter() - ended_at > grace
                    or upserts.accepted <= upserts.seen.keys()):
                break
        words = upserts.pending_words()
        if words:
            path = "/api/search?" + urlencode({"q": " OR ".join(words), "size": 100,
                                               "correct": "false"})
            try:
                status, body = await connection.request(path)
                upserts.polls += 1
                if status == 200:
                    now = time.perf_counter()
                    for hit in json.loads(_gunzipped(body))["hits"]:
                        upserts.seen.setdefault(hit["id"], now)
                else:
                    upserts.poll_errors[f"HTTP {status}"] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                upserts.poll_errors[type(error).__name__] += 1
        await asyncio.sleep(0.1)
    connection.close()


def _gunzipped(body: bytes) -> bytes:
    return gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body


def upsert_phase(server: Server, workload: Workload, args) -> dict:
    upserts = Upserts(run_word=f"zqload{_letters(args.seed % 9973)}x")
    asyncio.run(_warm_writers(server.port))

    def side_tasks(origin: float, keep_going) -> list:
        return [_post_stream(server.port, upserts, args.upsert_rate, keep_going, args.seed),
                _poll_visibility(server.port, upserts, keep_going, grace=10.0)]

    cpu = server_cpu_seconds(server)
    record, elapsed, client_cpu = asyncio.run(run_phase(
        server.port, workload, args.mix, args.clients, args.duration, args.seed + 2,
        side_tasks=side_tasks))
    report = phase_report(record, elapsed, client_cpu)
    report["server_cpu_cores"] = round((server_cpu_seconds(server) - cpu) / elapsed, 3)
    lags = [(upserts.seen[i] - upserts.arrived[i]) * 1000 for i in upserts.accepted
            if i in upserts.seen]
    missing = sorted(upserts.accepted - upserts.seen.keys())
    report["upserts"] = {
        "events_made": len(upserts.arrived), "events_accepted": len(upserts.accepted),
        "events_per_second": round(len(upserts.arrived) / args.duration, 1),
        "posts": len(upserts.post_ms),
        "batch_size": summary([float(n) for n in upserts.batch_sizes])
        if upserts.batch_sizes else None,
        "post_errors": sum(upserts.post_errors.values()),
        "post_error_kinds": dict(upserts.post_errors),
        "post_latency_ms": summary(upserts.post_ms) if upserts.post_ms else None,
        "seen": len(lags), "never_seen": len(missing), "never_seen_ids": missing[:10],
        "visibility_lag_ms": summary(lags) if lags else None,
        "seen_within_2s": sum(lag <= VISIBLE_WITHIN_S * 1000 for lag in lags),
        "polls": upserts.polls, "poll_errors": dict(upserts.poll_errors)}
    return report


# --- corpus ---------------------------------------------------------------------------------

def corpus(args) -> tuple[Path, Path, Path | None, str]:
    """(index to copy, dump to reindex, sample.json or None, label) for the run."""
    if args.quick:
        source = args.out / "load-work" / "sample"
        if not (source / "CURRENT").exists():
            print(f"indexing the sample dump into {source} (once)", file=sys.stderr)
            subprocess.run([str(EVENTSEARCH), "reindex", str(SAMPLE_DUMP), "--data-dir",
                            str(source), "--no-progress"], check=True)
        return source, SAMPLE_DUMP, None, "bundled sample"
    root = args.work_dir / f"seed{args.seed}-events{args.events}-pool{args.pool}"
    if not (root / "ours" / "CURRENT").exists():
        raise SystemExit(f"no index in {root / 'ours'}: run benchmarks/search.py --build-only "
                         f"--events {args.events} --seed {args.seed} first")
    return root / "ours", root / "dump", root / "sample.json", f"synthetic, {args.events:,}"


# --- report -----------------------------------------------------------------------------------

def _route_table(phase: dict) -> list[str]:
    """A phase's (or window's) routes as a Markdown table, then a blank line."""
    rows = ["| route | requests | errors | req/s | p50 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|---|"]
    for route, row in phase["routes"].items():
        lat = row["latency_ms"] or {"p50": float("nan"), "p99": float("nan"),
                                    "max": float("nan")}
        rows.append(f"| {route} | {row['requests']:,} | {row['errors']} | "
                    f"{row['requests_per_second']:.1f} | {lat['p50']:.1f} | {lat['p99']:.1f} | "
                    f"{lat['max']:.1f} |")
    return [*rows, ""]


def report(results: dict) -> str:
    lines = [f"## Load: {results['corpus']} events ({results['events']:,} served), "
             f"{results['clients']} keep-alive clients, `{results['server']}`", "",
             f"Mix (weights): {results['mix']}. Distinct requests: {results['distinctness']}.",
             ""]
    names = {"steady": "Steady load", "reindex": "While a reindex publishes a generation",
             "upsert": f"While {results['upsert_rate']:g} events/s are upserted"}
    for name, phase in results["phases"].items():
        lines += [f"### {names[name]} ({phase['seconds']:.0f} s; client CPU "
                  f"{phase['client_cpu_cores']:.2f} cores, servers "
                  f"{phase['server_cpu_cores']:.2f} cores; the clients' connections by "
                  f"server worker: {phase['connections_per_server_worker']})", "",
                  *_route_table(phase)]
        if "reindex" in phase:
            r = phase["reindex"]
            summary_ = r["summary"] or {}
            lines += [f"Reindex: exit {r['exit_code']}, {summary_.get('indexed', '?'):,} events "
                      f"in {summary_.get('seconds', '?')} s, published "
                      f"{r['published_after_s']} s into the phase ({r['generation_before']} -> "
                      f"{r['generation_after']}; the server answered /health with "
                      f"{phase['served_generation_after']} afterwards).", ""]
        if "swap_window" in phase:
            window = phase["swap_window"]
            lines += [f"Swap window: the {window['seconds']:.0f} s from the publish on:", "",
                      *_route_table(window)]
        if "upserts" in phase:
            u = phase["upserts"]
            lag = u["visibility_lag_ms"] or {}
            lines += [f"Upserts: {u['events_made']:,} events made ({u['events_per_second']} "
                      f"events/s) in {u['posts']} posts (events per post: p50 "
                      f"{(u['batch_size'] or {}).get('p50')}, max "
                      f"{(u['batch_size'] or {}).get('max')}), {u['events_accepted']:,} "
                      f"accepted, {u['post_errors']} failed posts {u['post_error_kinds'] or ''};"
                      f" post p50 {(u['post_latency_ms'] or {}).get('p50')} ms, p99 "
                      f"{(u['post_latency_ms'] or {}).get('p99')} ms. Found by search: "
                      f"{u['seen']:,}, within 2 s of being made: {u['seen_within_2s']:,}, "
                      f"never: {u['never_seen']}; lag p50 {lag.get('p50')} ms, p99 "
                      f"{lag.get('p99')} ms, max {lag.get('max')} ms ({u['polls']} polls).", ""]
    lines += ["### Targets", "", "| measure | result | target | |", "|---|---|---|---|"]
    for measure, value, target, ok in results["checks"]:
        lines.append(f"| {measure} | {value} | {target} | {'PASS' if ok else 'FAIL'} |")
    if results["disturbed_by"]:
        lines += ["", "WARNING: other processes were running: " + "; ".join(
            results["disturbed_by"])]
    return "\n".join(lines)


def checks(phases: dict) -> list[tuple[str, str, str, bool]]:
    out = []
    for name, phase in phases.items():
        errors = phase["routes"]["all"]["errors"]
        out.append((f"{name}: errors", f"{errors} of {phase['routes']['all']['requests']:,}",
                    "0", errors == 0))
    if "reindex" in phases:
        r = phases["reindex"]["reindex"]
        out.append(("reindex published during the load", str(r["published_after_s"]),
                    "a time", r["published_after_s"] is not None and r["exit_code"] == 0))
    if "upsert" in phases:
        u = phases["upsert"]["upserts"]
        lag = (u["visibility_lag_ms"] or {}).get("max")
        out.append(("upserted events found by search within 2 s",
                    f"{u['seen_within_2s']:,} of {u['events_made']:,} (max lag {lag} ms)",
                    "all", u["seen_within_2s"] == u["events_made"] and u["post_errors"] == 0))
    return out


def _replica_of(primary: Server, args, work: Path):
    """With --replica, a replica following `primary` (its first copy made at its start);
    without, the primary itself."""
    if not args.replica:
        return contextlib.nullcontext(primary)
    shutil.rmtree(work / "replica", ignore_errors=True)
    follow = {"EVENTSEARCH_FOLLOW": primary.url, "EVENTSEARCH_FOLLOW_KEY": API_KEY}
    return Server("serve", work / "replica", args.workers, work / "replica.log", env=follow)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="The service under a mix of 32 keep-alive clients: alone, while a reindex "
                    "publishes, while events are upserted; requests, errors, p50/p99 per route.")
    parser.add_argument("--quick", action="store_true",
                        help="the bundled sample index, 10 s per phase (for development)")
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="the search benchmark's corpus size (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=20220701,
                        help="the corpus's seed; also fixes the workload (default: %(default)s)")
    parser.add_argument("--pool", type=int, default=100_000,
                        help="the corpus's distinct headlines (default: %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_OUT / "search-work",
                        help="where benchmarks/search.py built the corpus (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="results directory (default: %(default)s)")
    parser.add_argument("--data-source", type=Path, default=None, metavar="DIR",
                        help="copy this data directory instead of the corpus's index (e.g. one "
                             "whose enrichment cache matches the current code, so the reindex "
                             "phase is warm)")
    parser.add_argument("--clients", type=int, default=32,
                        help="concurrent keep-alive clients (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per phase (default: 60, --quick 10)")
    parser.add_argument("--workers", type=int, default=2,
                        help="eventsearch serve --workers (default: %(default)s)")
    parser.add_argument("--mix", type=parse_mix, default=parse_mix(DEFAULT_MIX),
                        help=f"route weights (default: {DEFAULT_MIX})")
    parser.add_argument("--phases", default="steady,reindex,upsert",
                        help="which phases, in order (default: %(default)s)")
    parser.add_argument("--swap-window", type=float, default=10.0,
                        help="seconds after the publish reported apart (default: %(default)s)")
    parser.add_argument("--reindex-timeout", type=float, default=1800.0,
                        help="longest the reindex phase waits for the publish "
                             "(default: %(default)s)")
    parser.add_argument("--upsert-rate", type=float, default=50.0,
                        help="events/s posted in the upsert phase (default: %(default)s)")
    parser.add_argument("--replica", action="store_true",
                        help="load a read replica instead: `serve --follow` of a primary on "
                             "the copy (--workers 1); the mix goes to the replica, a reindex "
                             "phase publishes on the primary (no upsert phase: a replica "
                             "refuses writes)")
    args = parser.parse_args(argv)
    args.duration = args.duration or (10.0 if args.quick else 60.0)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if args.replica and "upsert" in phases:
        parser.error("--replica: leave out the upsert phase (--phases steady,reindex)")

    source, dump, sample_json, label = corpus(args)
    source = args.data_source or source
    work = args.out / "load-work"
    work.mkdir(parents=True, exist_ok=True)
    # Two runs on one work directory would replace each other's copy under a running server.
    lock = (work / "run.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another load.py run is using {work}; give this one its own --out")
    data_dir = work / "data"
    print(f"copying {source} to {data_dir}", file=sys.stderr)
    copy_data_dir(source, data_dir)
    workload = Workload(corpus_events(data_dir, sample_json), event_ids(data_dir), args.seed)
    disturbed = others_running()
    code_at_start = code_version()
    env = {"EVENTSEARCH_API_KEY": API_KEY}
    results_phases: dict[str, dict] = {}
    with Server("serve", data_dir, 1 if args.replica else args.workers, work / "serve.log",
                env=env) as primary, _replica_of(primary, args, work) as server:
        events = httpx.get(f"{server.url}/health", timeout=10).json()["events"]
        for name in phases:
            print(f"phase {name}: {args.clients} clients, {args.duration:g} s", file=sys.stderr,
                  flush=True)
            if name == "steady":
                results_phases[name] = steady_phase(server, workload, args)
            elif name == "reindex":
                results_phases[name] = reindex_phase(server, workload, data_dir, dump, args)
            elif name == "upsert":
                results_phases[name] = upsert_phase(server, workload, args)
            else:
                raise SystemExit(f"unknown phase {name}")
            print(json.dumps(results_phases[name]["routes"]["all"]), file=sys.stderr)
        label_server = server.label.replace("(uvicorn)", "--no-access-log")
        if args.replica:
            label_server += " --follow (a read replica of a primary on the same machine)"
    disturbed += [d for d in others_running() if d not in disturbed]
    if code_version() != code_at_start:
        disturbed.append(f"the code changed during the run: {code_at_start} -> {code_version()}")
    results = {
        "benchmark": "load", "code": code_at_start, "corpus": label, "events": events,
        "seed": args.seed, "clients": args.clients, "duration": args.duration,
        "server": label_server, "mix": dict(args.mix), "upsert_rate": args.upsert_rate,
        "distinctness": workload.distinctness(), "phases": results_phases,
        "checks": checks(results_phases), "disturbed_by": disturbed,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "command": "cd /work/main && .venv/bin/python benchmarks/load.py "
                   + " ".join(sys.argv[1:] if argv is None else argv)}
    text = report(results)
    print(text)
    stem = ("load-quick" if args.quick else f"load-events{args.events}") \
        + ("-replica" if args.replica else "")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / f"{stem}.md").write_text(text + "\n")
    print(f"\nwrote {args.out / stem}.json and .md", file=sys.stderr)
    return 0 if all(ok for *_, ok in results["checks"]) else 1


if __name__ == "__main__":
    uvloop.install()
    raise SystemExit(main())
