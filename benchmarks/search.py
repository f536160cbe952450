"""Search latency and throughput at scale: our index against bare Tantivy and SQLite FTS5.

    .venv/bin/python benchmarks/search.py [--events 1000000] [--seed 20220701]
        [--work-dir DIR] [--out benchmarks/results] [--skip-build] [--repeat 5]
        [--workers 1,2] [--load-seconds 20] [--seed-cache FILE]
    .venv/bin/python benchmarks/search.py --corpus portal [--portal PATH] [...]

One run does everything:
1. Builds (or reuses, keyed by seed and size under --work-dir) the corpus: an NDJSON dump from
   benchmarks/generate_dump.py, our index via `eventsearch reindex` (enrichment included; an
   enrichment cache already in the work dir, or one given by --seed-cache, is reused), a bare
   Tantivy index (headline en_stem, country and topic raw fast fields, date: the floor) and
   an SQLite FTS5 database (porter tokenizer, events + labels tables). The last two are fed
   from our index's stored events, so all three hold the same text, dates and labels.
2. Draws a workload of search-box queries from the corpus vocabulary, fixed by the seed:
   single words, several words, phrases, broad words matching about a third of the corpus,
   with and without country and date filters.
3. In-process: ours = EventIndex.search(search_request(...)) (the whole page: all facets,
   snippets, stored fields of 10 hits); bare = top 10 + country/topic terms aggregations;
   FTS5 = top 10 by bm25 + total + country/topic/entity GROUP BY. p50/p95/p99 over
   --repeat passes, ratios ours/bare; related (50 ids) and suggest (50 prefixes) p50; and a
   breakdown of our search page by part.
4. HTTP: `eventsearch serve --workers W --no-access-log` on a free loopback port for each W
   of --workers; a keep-alive httpx client for latency, then 16 concurrent clients
   (asyncio, httpx.AsyncClient) for --load-seconds to measure requests/s and errors. Every
   request of a load run, warm-up included, is distinct (the workload's queries again and
   again, each time with other facet sizes that change the server's facet-cache key but
   hardly the work), so no cache answers one; the "repeated" figures ask the same queries
   as they are, to time cache hits.
5. Prints Markdown tables with the targets (PASS/FAIL) and writes JSON and Markdown to --out.

Develop at small scale (--events 20000); the targets are set for 1,000,000 events.

--corpus portal runs the same measurements on the real archive (--portal PATH, default
/work/shared/corpora/portal-2002-2025.ndjson.gz; it stops if the file is missing) instead
of the generated corpus. Step 1 reuses the index `benchmarks/reindex.py --portal` left in
OUT/portal-work/ours (or builds it there with `eventsearch reindex` of the whole file) and
adds the bare and FTS5 copies beside it. Step 2 draws the workload by the rule in
benchmarks/_portal.py's portal_workload, fixed by the seed: from the 50 most frequent
entity names and story names (the index's facet values), headline words (4+ letters, not a
stop word below) and adjacent headline word pairs (asked as phrases), --queries / 8 of each
kind, each asked alone and filtered by a country drawn from the three with the most events
among its matches; the count of each kind is printed. It writes search-portal.json and .md,
and the report ends with a table of the archive's figures beside the synthetic run's last
OUT/search-events{--events}.json (not repeated here).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import json
import math
import os
import platform
import pstats
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _portal import (  # noqa: E402
    DEFAULT_PORTAL,
    ensure_portal_index,
    portal_headlines,
    portal_root,
    portal_workload,
    require_portal,
)
from _search_stores import (  # noqa: E402
    EVENTSEARCH,
    BareTantivy,
    Fts5,
    Query,
    build_bare_and_fts,
    build_dump,
    build_ours,
)

from service.search.engine import EventIndex  # noqa: E402
from service.search.facets import FACETS, _merged, facet_counts  # noqa: E402
from service.search.paging import fetch_page  # noqa: E402
from service.search.query import filter_queries, must_all, parse_text, search_request  # noqa: E402
from service.search.related import CANDIDATES, MEANING_DEPTH, candidate_queries, rank  # noqa: E402
from service.search.render import stored_event  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results"
TARGETS = {
    "ours_p50_over_bare": 3.0,
    "ours_p99_over_bare": 4.0,
    "http_p50_ms": 5.0,
    "http_p99_ms": 30.0,
    "related_p50_ms": 15.0,
    "suggest_p50_ms": 3.0,
    "requests_per_second": 400.0,
}
CONCURRENCY = 16
_STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers him his how i if in into is it its just me more most my
no nor not now of off on once only or other our out over own same she should so some such
than that the their them then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your says
said say new after over amid into near""".split())
_WORD = re.compile(r"[A-Za-z]+")
_OTHERS = re.compile(r"reindex\.py|generate_dump|eventsearch reindex")


# --- the workload ---------------------------------------------------------------------------

def build_workload(sample: list[dict], seed: int, size: int) -> tuple[list[Query], dict]:
    """`size` queries (at least 50) of four kinds, drawn from the sample's vocabulary."""
    rng = random.Random(f"workload-{seed}")
    docs = [[w.lower() for w in _WORD.findall(e["headline"])] for e in sample]
    df = Counter(w for words in docs for w in set(words))
    share = {w: n / len(docs) for w, n in df.items()}
    content = sorted(w for w, s in share.items()
                     if len(w) >= 4 and w not in _STOPWORDS and 0.0005 <= s <= 0.02)
    bigrams = Counter((a, b) for words in docs for a, b in zip(words, words[1:])
                      if len(a) >= 3 and len(b) >= 3
                      and not (a in _STOPWORDS and b in _STOPWORDS))
    phrases = sorted(p for p, n in bigrams.items()
                     if n >= max(3, len(docs) // 5000) and p[0] not in _STOPWORDS
                     and p[1] not in _STOPWORDS)
    # Broad: the words closest to matching a third of the corpus (in news headlines these
    # are function words such as "to" or "in": what a search box gets for "the").
    broad = sorted(share, key=lambda w: abs(share[w] - 1 / 3))[:3]
    countries = Counter(c for e in sample for c in e["countries"])
    common_countries = [c for c, _ in countries.most_common(15)]

    def several() -> tuple[str, ...]:
        while True:
            words = [w for w in dict.fromkeys(rng.choice(docs)) if w in share
                     and len(w) >= 4 and w not in _STOPWORDS and share[w] >= 0.0005]
            if len(words) >= 2:
                n = min(len(words), rng.choice((2, 2, 3)))
                picked = sorted(rng.sample(range(len(words)), n))
                return tuple(words[i] for i in picked)

    def filtered(kind: str, words: tuple[str, ...], slot: int) -> Query:
        mode = ("none", "country", "none", "date", "country+date")[slot % 5]
        country = rng.choice(common_countries) if "country" in mode else None
        if "date" in mode:
            start = rng.randrange(2000, 2024)
            span = rng.choice((1, 2, 3))
            return Query(kind, words, country, dt.date(start, 1, 1),
                         dt.date(min(start + span - 1, 2025), 12, 31))
        return Query(kind, words, country)

    counts = {"single": round(size * 0.32), "several": round(size * 0.29),
              "phrase": round(size * 0.23)}
    counts["broad"] = size - sum(counts.values())
    queries: list[Query] = []
    for slot in range(counts["single"]):
        queries.append(filtered("single", (rng.choice(content),), slot))
    for slot in range(counts["several"]):
        queries.append(filtered("several", several(), slot))
    for slot in range(counts["phrase"]):
        queries.append(filtered("phrase", rng.choice(phrases), slot))
    for slot in range(counts["broad"]):
        queries.append(filtered("broad", (broad[slot % len(broad)],), slot))
    info = {"sample_events": len(docs),
            "broad_words": {w: round(share[w], 3) for w in broad},
            "counts": counts}
    return queries, info


def prefixes_for_suggest(sample: list[dict], queries: list[Query], seed: int) -> list[str]:
    rng = random.Random(f"suggest-{seed}")
    words = [q.words[0] for q in queries if q.kind != "broad"]
    entities = [name for e in sample for name in e["entities"] if name[:1].isalpha()]
    prefixes = []
    for number in range(50):
        source = rng.choice(words) if number % 2 else rng.choice(entities)
        prefixes.append(source[:rng.choice((2, 3, 4))].lower())
    return prefixes


# --- timing helpers -------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(values_ms: list[float]) -> dict:
    return {"n": len(values_ms), "p50": round(percentile(values_ms, 50), 3),
            "p95": round(percentile(values_ms, 95), 3), "p99": round(percentile(values_ms, 99), 3),
            "max": round(max(values_ms), 3), "mean": round(sum(values_ms) / len(values_ms), 3)}


def timed(call, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = call(*args)
    return (time.perf_counter() - started) * 1000, result


def forget_cached_facets(ours: EventIndex) -> None:
    """Empty EventIndex's facet-count cache (if it has one), so the next search computes its
    facets: a workload repeated in a loop would otherwise time cache hits."""
    if hasattr(ours, "_facets"):
        ours._facets = type(ours._facets)()


def ours_request(query: Query, exact_facets: bool = False):
    return search_request(q=query.text, country=[query.country] if query.country else None,
                          date_from=query.date_from, date_to=query.date_to,
                          exact_facets=exact_facets)


VARIANTS = 90 * 91  # distinct non-zero variants of a query that http_params makes


def http_params(query: Query, variant: int = 0) -> list[tuple[str, str]]:
    """The query's parameters; a non-zero `variant` (1 to VARIANTS) adds facet_size=source:N
    (11-100) and, from 91 on, facet_size=story:M too (12-100, then 11): sizes that change the
    server's facet-cache key but hardly the work, so the page is computed."""
    params = [("q", query.text)]
    if variant:
        params.append(("facet_size", f"source:{11 + variant % 90}"))
        if variant > 90:
            params.append(("facet_size", f"story:{11 + (variant - 1) // 90 % 90}"))
    if query.country:
        params.append(("country", query.country))
    if query.date_from:
        params += [("from", query.date_from.isoformat()), ("to", query.date_to.isoformat())]
    return params


# --- in-process -----------------------------------------------------------------------------

def run_in_process(ours: EventIndex, bare: BareTantivy, fts: Fts5, queries: list[Query],
                   repeat: int) -> dict:
    def ours_uncached(query: Query):
        return ours.search(ours_request(query))

    def ours_exact(query: Query):
        return ours.search(ours_request(query, exact_facets=True))

    systems = {"ours": ours_uncached, "ours_exact": ours_exact,
               "ours_cached": lambda q: ours.search(ours_request(q)),
               "bare": bare.search, "fts5": fts.search}
    per_query: list[dict] = []
    for query in queries:  # warm-up pass, and the totals each store reports
        forget_cached_facets(ours)
        totals = {"ours": ours.search(ours_request(query)).total,
                  "bare": bare.search(query)[0], "fts5": fts.search(query)[0]}
        per_query.append({**query.as_dict(), "totals": totals,
                          "ms": {name: [] for name in systems}})
    samples: dict[str, list[float]] = {name: [] for name in systems}
    # A query runs faster right after another store ran it (caches are warm): each pass
    # and query takes the stores in another order.
    shuffle = random.Random("store-order")
    for rep in range(repeat):
        for number, query in enumerate(queries):
            order = list(systems.items())
            shuffle.shuffle(order)
            for name, call in order:
                if name in ("ours", "ours_exact"):
                    forget_cached_facets(ours)
                elif name == "ours_cached":
                    ours.search(ours_request(query))  # make sure this one is a repeat
                ms, _ = timed(call, query)
                samples[name].append(ms)
                per_query[number]["ms"][name].append(round(ms, 3))
        print(f"  in-process pass {rep + 1}/{repeat} done", file=sys.stderr, flush=True)
    by_kind = _grouped(per_query, systems, lambda row: row["kind"])
    by_filter = _grouped(per_query, systems, lambda row: f"{row['kind']}, " + (
        "filtered" if row["country"] or row["from"] else "alone"))
    stats = {name: summary(values) for name, values in samples.items()}
    ratios = {f"{name}_over_bare": {p: round(stats[name][p] / stats["bare"][p], 2)
                                    for p in ("p50", "p95", "p99")}
              for name in ("ours", "ours_exact", "ours_cached", "fts5")}
    agree = sum(row["totals"]["bare"] == row["totals"]["fts5"] for row in per_query)
    return {"stats": stats, "ratios": ratios, "by_kind": by_kind,
            "by_kind_and_filter": by_filter, "queries": per_query,
            "bare_fts5_same_total": f"{agree}/{len(per_query)}"}


def _grouped(per_query: list[dict], systems: dict, group) -> dict:
    """Each store's latency summary per group of queries (`group` names a query's row)."""
    names = sorted({group(row) for row in per_query})
    return {name: {system: summary([ms for row in per_query if group(row) == name
                                    for ms in row["ms"][system]]) for system in systems}
            for name in names}


def sampled_facet_accuracy(ours: EventIndex, queries: list[Query]) -> dict:
    """How close sampled facet counts come to exact ones, over the queries whose counts were
    sampled: per facet (country, topic, entity), the share of the exact top 10 that the
    sampled top 10 holds, and the median and 90th percentile relative error of the sampled
    count of each exact top-10 value (0 when a value is missing from the sampled list)."""
    errors: dict[str, list[float]] = {f: [] for f in ("country", "topic", "entity")}
    overlap: dict[str, list[float]] = {f: [] for f in errors}
    shares = []
    for query in queries:
        forget_cached_facets(ours)
        sampled = ours.search(ours_request(query))
        if sampled.facet_sample == 1.0:
            continue
        shares.append(sampled.facet_sample)
        forget_cached_facets(ours)
        exact = ours.search(ours_request(query, exact_facets=True))
        for facet in errors:
            true = {v.value: v.count for v in getattr(exact.facets, facet)}
            estimate = {v.value: v.count for v in getattr(sampled.facets, facet)}
            overlap[facet].append(len(true.keys() & estimate.keys()) / max(1, len(true)))
            errors[facet] += [abs(estimate.get(value, 0) - count) / count
                              for value, count in true.items()]
    forget_cached_facets(ours)
    return {"queries_sampled": len(shares), "queries": len(queries),
            "share_counted": summary(shares) if shares else None,
            "facets": {facet: {"top10_overlap": round(statistics.mean(overlap[facet]), 3)
                               if overlap[facet] else None,
                               "relative_error_p50": _rounded_percentile(errors[facet], 50),
                               "relative_error_p90": _rounded_percentile(errors[facet], 90)}
                       for facet in errors}}


def _rounded_percentile(values: list[float], q: int) -> float | None:
    return round(percentile(values, q), 4) if values else None


def run_related(ours: EventIndex, sample: list[dict], seed: int, repeat: int = 2) -> dict:
    ids = [e["id"] for e in random.Random(f"related-{seed}").sample(sample, 50)]
    for event_id in ids[:3]:
        ours.related(event_id, 5)
    values = [timed(ours.related, event_id, 5)[0] for _ in range(repeat) for event_id in ids]
    return summary(values)


def related_breakdown(ours: EventIndex, sample: list[dict], seed: int) -> dict:
    """EventIndex.related's steps timed apart (the same 50 ids): finding the event, each
    candidate query (top CANDIDATES), then fetching, decoding and scoring the candidates."""
    ids = [e["id"] for e in random.Random(f"related-{seed}").sample(sample, 50)]
    parts: dict[str, list[float]] = {}
    for event_id in ids:
        searcher = ours.index.searcher()
        ms, address = timed(ours._address, searcher, event_id)
        parts.setdefault("find the event by id", []).append(ms)
        event = stored_event(searcher.doc(address))
        candidates = {}
        for number, query in enumerate(candidate_queries(ours.schema, event)):
            ms, hits = timed(lambda: searcher.search(query, limit=CANDIDATES).hits)
            name = "candidate query 0 (more-like-this headline)" if number == 0 else \
                "candidate queries 1+ (labels), each"
            parts.setdefault(name, []).append(ms)
            candidates.update({(a.segment_ord, a.doc): a for _, a in hits})
        ms, found = timed(ours.related_candidates, event, None, searcher)
        parts.setdefault("candidate queries again + fetch + decode + score all", []).append(ms)
        ms, _ = timed(rank, event, found, 10)
        parts.setdefault(f"rank: embed the best {MEANING_DEPTH} and rank again", []).append(ms)
        parts.setdefault("candidates per event (count, not ms)", []).append(len(candidates))
        ms, _ = timed(ours._source_links, searcher, event)
        parts.setdefault("source links", []).append(ms)
    return {name: summary(values) for name, values in parts.items()}


def run_suggest(ours: EventIndex, prefixes: list[str], repeat: int = 3) -> dict:
    """Suggest latency; {"error": ...} when suggest fails (the run goes on and reports it)."""
    try:
        first_ms, _ = timed(ours.suggest, prefixes[0], 8)  # builds the label dictionary
    except ValueError as error:  # e.g. Tantivy's aggregation bucket limit
        return {"error": f"{type(error).__name__}: {error}", "prefixes": prefixes}
    values = [timed(ours.suggest, prefix, 8)[0] for _ in range(repeat) for prefix in prefixes]
    return {**summary(values), "first_call_ms": round(first_ms, 1), "prefixes": prefixes}


def breakdown(ours: EventIndex, queries: list[Query], repeat: int = 3) -> dict:
    """Where our search page spends its time: the steps of EventIndex.search, timed apart,
    and each facet's aggregation alone (as a share of the shared aggregation call)."""
    index, schema = ours.index, ours.schema
    parts: dict[str, list[tuple[str, float]]] = {}
    kind = ""

    def add(name: str, ms: float) -> None:
        parts.setdefault(name, []).append((kind, ms))

    for _ in range(repeat):
        for query in queries:
            kind = query.kind
            request = ours_request(query)
            searcher = index.searcher()
            ms, parsed = timed(parse_text, index, request.text, request.strict)
            add("parse_text", ms)
            filtered = must_all([parsed.query, *filter_queries(schema, request)])
            ms, page = timed(fetch_page, searcher, schema, filtered, request)
            add("fetch_page (top 10 + count)", ms)
            ms, _ = timed(ours._hits, searcher, parsed.query, page, True)
            add("hits (stored docs + snippets)", ms)
            ms, _ = timed(lambda: [searcher.doc(a) for _, a in page.hits])
            add("  of which searcher.doc x10", ms)
            ms, _ = timed(ours._snippet_generator, searcher, parsed.query)
            add("  of which SnippetGenerator.create", ms)
            ms, _ = timed(facet_counts, searcher, schema, parsed.query, request, page.total,
                          parsed.required_words)
            add("facet_counts (all facets)", ms)
            exact = ours_request(query, exact_facets=True)
            ms, _ = timed(facet_counts, searcher, schema, parsed.query, exact, page.total,
                          parsed.required_words)
            add("facet_counts, exact", ms)
            for facet in FACETS:
                aggs = facet.aggregations(request)
                ms, _ = timed(searcher.aggregate, filtered, aggs)
                add(f"  aggregate {facet.name} alone", ms)
            ms, _ = timed(searcher.aggregate, filtered, _merged(
                f.aggregations(request) for f in FACETS))
            add("  aggregate all facets in one call", ms)
            ms, _ = timed(searcher.aggregate, filtered, _merged(
                f.aggregations(request) for f in FACETS if f.name in ("country", "topic")))
            add("  aggregate country+topic (as bare)", ms)
            forget_cached_facets(ours)
            ms, _ = timed(ours.search, request)
            add("whole EventIndex.search", ms)
    if not any(query.kind == "broad" for query in queries):
        return {name: summary([ms for _, ms in values]) for name, values in parts.items()}
    return {name: {**summary([ms for _, ms in values]),
                   "broad": summary([ms for k, ms in values if k == "broad"]),
                   "not_broad": summary([ms for k, ms in values if k != "broad"])}
            for name, values in parts.items()}


def profile_ours(ours: EventIndex, queries: list[Query], top: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for query in queries:
        forget_cached_facets(ours)
        ours.search(ours_request(query))
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"service/", top)
    return out.getvalue()


# --- HTTP -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_REUSEPORT_WORKER = """
import os, socket, sys, uvicorn
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen(2048)
config = uvicorn.Config("service.app:create_app", factory=True, access_log=False, log_level="info")
uvicorn.Server(config).run(sockets=[sock])
"""
"""One uvicorn process of the SO_REUSEPORT setup: its own listener, created with
IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections (uvicorn's
--workers path leaves proto 0 and Nagle on: Kludex/uvicorn#3149)."""


class Server:
    """A server under test in its own process group(s), stopped on exit.

    kind "serve": `eventsearch serve --workers N --no-access-log` (uvicorn's supervisor).
    kind "reuseport": N independent uvicorn processes on one port with SO_REUSEPORT.
    """

    def __init__(self, kind: str, data_dir: Path, workers: int, log: Path,
                 env: dict[str, str] | None = None):
        self.kind, self.workers = kind, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log
        self._log = log.open("w")
        env = {**os.environ, "EVENTSEARCH_API_KEY": "", "EVENTSEARCH_DATA_DIR": str(data_dir),
               **(env or {})}
        if kind == "serve":
            commands = [[str(EVENTSEARCH), "serve", "--data-dir", str(data_dir), "--host",
                         "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
                         "--no-access-log"]]
        else:
            commands = [[sys.executable, "-c", _REUSEPORT_WORKER, str(self.port)]] * workers
        self.processes = [subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                           start_new_session=True, env=env, cwd=REPO)
                          for command in commands]

    @property
    def label(self) -> str:
        if self.kind == "serve":
            return f"eventsearch serve --workers {self.workers} (uvicorn)"
        return f"uvicorn x{self.workers} processes, SO_REUSEPORT + TCP_NODELAY"

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited ({process.returncode}); "
                                       f"see {self._log_path}")
            started = self._log_path.read_text().count("Application startup complete")
            if started >= self.workers:
                try:
                    if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        raise RuntimeError(f"server did not start within 240 s; see {self._log_path}")

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._log.close()


def http_latency(url: str, queries: list[Query], repeat: int) -> dict:
    """Sequential keep-alive requests: `uncached` pages compute their facets (each pass uses
    a new variant), `repeated` ones repeat the warm-up pass (facets from the server's cache)."""
    uncached: list[float] = []
    repeated: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for query in queries:  # warm-up
            client.get("/api/search", params=http_params(query)).raise_for_status()
        for rep in range(repeat):
            for query in queries:
                for variant, values in ((rep + 1, uncached), (0, repeated)):
                    started = time.perf_counter()
                    response = client.get("/api/search", params=http_params(query, variant))
                    response.raise_for_status()
                    values.append((time.perf_counter() - started) * 1000)
    return {**summary(uncached), "repeated": summary(repeated)}


@dataclass
class _Tally:
    """What a load run counts: successes with their latencies, errors by kind."""

    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def success(self, started: float) -> None:
        self.ok += 1
        self.latencies.append((time.perf_counter() - started) * 1000)


async def _drive(worker, clients: int, seconds: float, tally: _Tally, client_name: str) -> dict:
    """Two seconds of warm-up (not counted), then `seconds` of `clients` concurrent workers,
    each called as worker(number, until, record)."""
    warm = time.perf_counter() + 2
    await asyncio.gather(*(worker(n, warm, False) for n in range(clients)))
    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker(n, started + seconds, True) for n in range(clients)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {"client": client_name, "clients": clients, "seconds": round(elapsed, 2),
            "ok": tally.ok, "errors": sum(tally.errors.values()),
            "error_kinds": dict(tally.errors),
            "requests_per_second": round(tally.ok / elapsed, 1),
            "latency_under_load": summary(tally.latencies) if tally.latencies else None,
            "client_cpu_share_of_one_core": round(cpu / elapsed, 2)}


class _Requests:
    """The requests of one load run, in order, shared by its clients: the first ask every
    query once (variant 1), the next every query again (variant 2), and so on, warm-up
    included, so no request repeats another and none is answered from the facet cache
    (`cached`: every query as it is, again and again, to time cache hits)."""

    def __init__(self, queries: list[Query], cached: bool):
        self.queries, self.cached, self.count = queries, cached, 0

    def next_params(self) -> list[tuple[str, str]]:
        query = self.queries[self.count % len(self.queries)]
        variant = 0 if self.cached else 1 + self.count // len(self.queries)
        if variant > VARIANTS:
            raise RuntimeError(f"more than {VARIANTS} variants of each query: the load would "
                               "repeat requests; ask more queries or load for less time")
        self.count += 1
        return http_params(query, variant)


async def _load(url: str, queries: list[Query], seconds: float, clients: int,
                cached: bool = False) -> dict:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    tally = _Tally()
    requests = _Requests(queries, cached)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        async def worker(number: int, until: float, record: bool) -> None:
            while time.perf_counter() < until:
                params = requests.next_params()
                started = time.perf_counter()
                try:
                    response = await client.get("/api/search", params=params)
                    if response.status_code == 200:
                        if record:
                            tally.success(started)
                    elif record:
                        tally.errors[f"HTTP {response.status_code}"] += 1
                except httpx.HTTPError as error:
                    if record:
                        tally.errors[type(error).__name__] += 1

        result = await _drive(worker, clients, seconds, tally, "httpx.AsyncClient")
    return {**result, "requests_all_distinct": not cached, "requests_made": requests.count}


async def _load_raw(port: int, queries: list[Query], seconds: float, clients: int,
                    cached: bool = False) -> dict:
    """The same load from a minimal HTTP/1.1 keep-alive client on asyncio streams, which
    costs the 2-core machine far less CPU than httpx does; every request distinct unless
    `cached` (see _Requests)."""
    tally = _Tally()
    requests = _Requests(queries, cached)

    async def worker(number: int, until: float, record: bool) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < until:
                path = f"/api/search?{urlencode(requests.next_params())}"
                started = time.perf_counter()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                await reader.readexactly(length)
                if not record:
                    continue
                if head[9:12] == b"200":
                    tally.success(started)
                else:
                    tally.errors[f"HTTP {head[9:12].decode()}"] += 1
        finally:
            writer.close()

    result = await _drive(worker, clients, seconds, tally, "raw asyncio HTTP/1.1")
    return {**result, "requests_all_distinct": not cached, "requests_made": requests.count}


def run_http(data_dir: Path, queries: list[Query], setups: list[tuple[str, int]], repeat: int,
             seconds: float, log_dir: Path) -> list[dict]:
    results = []
    for kind, count in setups:
        with Server(kind, data_dir, count, log_dir / f"serve-{kind}-w{count}.log") as server:
            print(f"  HTTP: {server.label}", file=sys.stderr, flush=True)
            health = httpx.get(f"{server.url}/health", timeout=10).json()
            latency = http_latency(server.url, queries, repeat)
            load = asyncio.run(_load(server.url, queries, seconds, CONCURRENCY))
            raw = asyncio.run(_load_raw(server.port, queries, seconds, CONCURRENCY))
            narrow = [q for q in queries if q.kind != "broad"]
            raw_narrow = asyncio.run(_load_raw(server.port, narrow, seconds / 2, CONCURRENCY))
            raw_cached = asyncio.run(_load_raw(server.port, queries, seconds / 2, CONCURRENCY,
                                               cached=True))
        results.append({"server": server.label, "kind": kind, "workers": count,
                        "events_served": health.get("events"),
                        "latency": latency, "load": load, "load_raw_client": raw,
                        "load_raw_client_without_broad": raw_narrow,
                        "load_raw_client_repeated_queries": raw_cached})
    return results


# --- report ---------------------------------------------------------------------------------

def _setup_merit(setup: dict) -> tuple:
    """The best setup meets the latency targets and serves the most requests/s."""
    latency, load = setup["latency"], setup["load"]
    meets = (latency["p50"] <= TARGETS["http_p50_ms"], latency["p99"] <= TARGETS["http_p99_ms"])
    raw = setup["load_raw_client"]
    return (load["errors"] + raw["errors"] == 0, sum(meets), raw["requests_per_second"])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def sampled_facets_report(accuracy: dict) -> list[str]:
    if not accuracy["queries_sampled"]:
        return ["No query had its facet counts sampled."]
    lines = [f"Facet counts were sampled for {accuracy['queries_sampled']} of "
             f"{accuracy['queries']} queries (share of matches counted: p50 "
             f"{accuracy['share_counted']['p50']:.3f}). Sampled against exact counts, for the "
             "exact top 10 values:", "",
             "| facet | top-10 overlap | relative error p50 | p90 |", "|---|---|---|---|"]
    for facet, row in accuracy["facets"].items():
        lines.append(f"| {facet} | {row['top10_overlap']:.3f} | {row['relative_error_p50']:.3f} "
                     f"| {row['relative_error_p90']:.3f} |")
    return lines


def _suggest_p50(suggest: dict) -> str:
    return f"{suggest['p50']:.3f} ms" if "p50" in suggest else f"failed: {suggest['error']}"


def report(results: dict) -> str:
    inproc = results["in_process"]
    s, r = inproc["stats"], inproc["ratios"]
    n = results["events"]
    lines = [f"## Search at {n:,} events, {results['corpus']} (seed {results['seed']}, "
             f"{len(inproc['queries'])} queries x {results['repeat']} passes)", "",
             "### In-process, one search page per query (ms)", "",
             "| store | p50 | p95 | p99 | p50 / bare | p99 / bare |", "|---|---|---|---|---|---|"]
    names = {"ours": "ours: EventIndex.search (all facets, snippets, 10 stored hits; facet "
                     "cache emptied before each call)",
             "ours_exact": "ours with exact_facets=true (every match counted, however many)",
             "ours_cached": "ours, a repeated query (facet counts from its cache)",
             "bare": "bare Tantivy: top 10 + country/topic terms (the floor)",
             "fts5": "SQLite FTS5: top 10 bm25 + total + country/topic/entity GROUP BY"}
    for name, label in names.items():
        ratio = r.get(f"{name}_over_bare", {"p50": 1.0, "p99": 1.0})
        lines.append(f"| {label} | {s[name]['p50']:.2f} | {s[name]['p95']:.2f} | "
                     f"{s[name]['p99']:.2f} | {ratio['p50']:.2f} | {ratio['p99']:.2f} |")
    lines += ["", f"Mean ms per page: ours {s['ours']['mean']:.2f} (repeated "
              f"{s['ours_cached']['mean']:.2f}), bare {s['bare']['mean']:.2f}, "
              f"fts5 {s['fts5']['mean']:.2f} (2 cores / mean CPU per page bounds requests/s).",
              "", *sampled_facets_report(inproc["sampled_facets"]),
              "", "By kind of query, p50 / p99 ms:", "",
              "| kind | ours | ours, exact facets | ours, repeated | bare | fts5 |",
              "|---|---|---|---|---|---|"]
    for kind, row in inproc["by_kind"].items():
        lines.append(f"| {kind} | " + " | ".join(
            f"{row[x]['p50']:.2f} / {row[x]['p99']:.2f}"
            for x in ("ours", "ours_exact", "ours_cached", "bare", "fts5")) + " |")
    lines += ["", "By kind, alone or filtered (a country or dates), p50 / p99 ms and p50 / bare "
              "p50:", "", "| kind | timings | ours | bare | ours / bare | fts5 / bare |",
              "|---|---|---|---|---|---|"]
    for group, row in inproc["by_kind_and_filter"].items():
        lines.append(f"| {group} | {row['bare']['n']} | {_p50_p99(row['ours'])} | "
                     f"{_p50_p99(row['bare'])} | {row['ours']['p50'] / row['bare']['p50']:.2f} | "
                     f"{row['fts5']['p50'] / row['bare']['p50']:.2f} |")
    best = results["http_best"]
    http = best["latency"] if best else None
    load = best["load"] if best else None
    raw = best["load_raw_client"] if best else None
    checks = [
        ("ours p50 / bare p50", f"{r['ours_over_bare']['p50']:.2f}x",
         f"<= {TARGETS['ours_p50_over_bare']}x",
         r["ours_over_bare"]["p50"] <= TARGETS["ours_p50_over_bare"]),
        ("ours p99 / bare p99", f"{r['ours_over_bare']['p99']:.2f}x",
         f"<= {TARGETS['ours_p99_over_bare']}x",
         r["ours_over_bare"]["p99"] <= TARGETS["ours_p99_over_bare"]),
        ("related p50 (50 ids)", f"{results['related']['p50']:.2f} ms",
         f"<= {TARGETS['related_p50_ms']} ms",
         results["related"]["p50"] <= TARGETS["related_p50_ms"]),
        ("suggest p50 (50 prefixes)", _suggest_p50(results["suggest"]),
         f"<= {TARGETS['suggest_p50_ms']} ms",
         results["suggest"].get("p50", math.inf) <= TARGETS["suggest_p50_ms"]),
    ]
    if best:
        checks += [
            (f"HTTP p50 ({best['server']})", f"{http['p50']:.2f} ms",
             f"<= {TARGETS['http_p50_ms']} ms", http["p50"] <= TARGETS["http_p50_ms"]),
            (f"HTTP p99 ({best['server']})", f"{http['p99']:.2f} ms",
             f"<= {TARGETS['http_p99_ms']} ms", http["p99"] <= TARGETS["http_p99_ms"]),
            (f"requests/s, {CONCURRENCY} raw keep-alive clients ({best['server']})",
             f"{raw['requests_per_second']:.0f} ({raw['errors']} errors)",
             f">= {TARGETS['requests_per_second']:.0f}, 0 errors",
             raw["requests_per_second"] >= TARGETS["requests_per_second"]
             and raw["errors"] == 0),
            (f"requests/s, {CONCURRENCY} httpx.AsyncClient clients ({best['server']}; "
             f"the client itself uses {load['client_cpu_share_of_one_core']:.2f} of a core)",
             f"{load['requests_per_second']:.0f} ({load['errors']} errors)",
             f">= {TARGETS['requests_per_second']:.0f}, 0 errors",
             load["requests_per_second"] >= TARGETS["requests_per_second"]
             and load["errors"] == 0),
        ]
    lines += ["", "### Targets", "", "| measure | result | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {verdict(ok)} |" for a, b, c, ok in checks]
    if results["http"]:
        lines += ["", "### HTTP setups (latency: one keep-alive httpx client; load: "
                  f"{CONCURRENCY} asyncio clients, httpx.AsyncClient or a raw HTTP/1.1 client; "
                  "facet cache defeated unless 'repeated')", "",
                  "| server | p50 ms | p95 ms | p99 ms | req/s | errors | p50 / p99 ms under load "
                  "| client CPU (cores) | req/s, raw client (CPU) | req/s, raw, without broad "
                  "| p50 / p99 ms, repeated | req/s, raw, repeated queries |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for setup in results["http"]:
            lat, ld = setup["latency"], setup["load"]
            under = ld["latency_under_load"] or {"p50": float("nan"), "p99": float("nan")}
            repeated = setup["load_raw_client_repeated_queries"]
            lines.append(f"| {setup['server']} | {lat['p50']:.2f} | {lat['p95']:.2f} | "
                         f"{lat['p99']:.2f} | {ld['requests_per_second']:.0f} | {ld['errors']} | "
                         f"{under['p50']:.1f} / {under['p99']:.1f} | "
                         f"{ld['client_cpu_share_of_one_core']:.2f} | "
                         f"{setup['load_raw_client']['requests_per_second']:.0f} "
                         f"({setup['load_raw_client']['client_cpu_share_of_one_core']:.2f}, "
                         f"{setup['load_raw_client']['errors']} errors) | "
                         f"{setup['load_raw_client_without_broad']['requests_per_second']:.0f} | "
                         f"{lat['repeated']['p50']:.2f} / {lat['repeated']['p99']:.2f} | "
                         f"{repeated['requests_per_second']:.0f} |")
    suggest = results["suggest"]
    lines += ["", f"related p50 {results['related']['p50']:.2f} ms (p99 "
              f"{results['related']['p99']:.2f}); suggest p50 {_suggest_p50(suggest)}" + (
                  f" (p99 {suggest['p99']:.3f}; first call, building the dictionary: "
                  f"{suggest['first_call_ms']:.0f} ms)" if "p50" in suggest else ""), "",
              "### Our search page by part (ms, over the workload)", "",
              "| part | p50 | p95 | p99 | mean | broad: p50 / mean | others: p50 / mean |",
              "|---|---|---|---|---|---|---|"]
    lines_related = ["", "### related() by part (ms per call, 50 ids)", "",
                     "| part | p50 | p95 | p99 | mean |", "|---|---|---|---|---|"]
    for part, row in results["related"]["breakdown"].items():
        lines_related.append(f"| {part} | {row['p50']:.3f} | {row['p95']:.3f} | "
                             f"{row['p99']:.3f} | {row['mean']:.3f} |")
    for part, row in results["breakdown"].items():
        split = (f"{row['broad']['p50']:.3f} / {row['broad']['mean']:.3f} | "
                 f"{row['not_broad']['p50']:.3f} / {row['not_broad']['mean']:.3f}"
                 if "broad" in row else "- | -")
        lines.append(f"| {part} | {row['p50']:.3f} | {row['p95']:.3f} | {row['p99']:.3f} | "
                     f"{row['mean']:.3f} | {split} |")
    parts_mean = sum(results["breakdown"][k]["mean"] for k in (
        "parse_text", "fetch_page (top 10 + count)", "hits (stored docs + snippets)",
        "facet_counts (all facets)"))
    whole = results["breakdown"]["whole EventIndex.search"]["mean"]
    lines.append(f"| rest: response objects, request validation (mean difference) | | | | "
                 f"{whole - parts_mean:.3f} |")
    lines += lines_related
    lines += ["", f"bare and FTS5 report the same total for {inproc['bare_fts5_same_total']} "
              "queries (stemmers differ: Snowball vs Porter).", "",
              "### FTS5 EXPLAIN QUERY PLAN for " + repr(results["fts5_plan"]["query"]), ""]
    for part, plan in results["fts5_plan"]["plan"].items():
        lines.append(f"- {part}: " + "; ".join(plan))
    workload = results["workload"]
    if "broad_words" in workload:
        lines += ["", f"Broad words (share of sampled events matching): "
                  f"{workload['broad_words']}"]
    lines += ["", "Queries of each kind: " + ", ".join(
        f"{kind} {count}" for kind, count in workload["counts"].items())]
    if results.get("disturbed_by"):
        lines += ["", "WARNING: other benchmark processes were running during the measurement: "
                  + "; ".join(results["disturbed_by"])]
    return "\n".join(lines)


def code_version() -> str:
    """The last commit touching indexer/ or service/, plus any uncommitted change there."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout
    dirty = git("status", "--porcelain", "--", "indexer", "service").split()
    last = git("log", "-1", "--format=%h", "--", "indexer", "service").strip()
    return last + (f" + changes in {dirty[1::2]}" if dirty else "")


def others_running() -> list[str]:
    mine = os.getpid()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(pid) != mine and _OTHERS.search(cmdline) and "benchmarks/search.py" not in cmdline:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


def _p50_p99(stats: dict) -> str:
    return f"{stats['p50']:.2f} / {stats['p99']:.2f}"


def _comparison_rows(results: dict) -> dict[str, str]:
    """One corpus's headline figures, by the label they are compared under."""
    inproc = results["in_process"]
    s, r = inproc["stats"], inproc["ratios"]
    rows = {"events": f"{results['events']:,}",
            "queries (kind: count)": ", ".join(f"{k}: {n}" for k, n in
                                               results["workload"]["counts"].items())}
    for name in ("ours", "ours_exact", "ours_cached", "bare", "fts5"):
        rows[f"in-process {name}, p50 / p99 ms"] = _p50_p99(s[name])
    for name in ("ours", "ours_exact", "fts5"):
        ratio = r[f"{name}_over_bare"]
        rows[f"{name} / bare, p50 / p99"] = f"{ratio['p50']:.2f} / {ratio['p99']:.2f}"
    for kind, row in inproc["by_kind"].items():
        rows[f"kind {kind}: ours p50 / p99 ms (ours / bare p50)"] = (
            f"{_p50_p99(row['ours'])} ({row['ours']['p50'] / row['bare']['p50']:.2f})")
    rows["related p50 ms"] = f"{results['related']['p50']:.2f}"
    rows["suggest p50"] = _suggest_p50(results["suggest"])
    best = results["http_best"]
    if best:
        rows["HTTP server (best setup)"] = best["server"]
        rows["HTTP p50 / p99 ms"] = _p50_p99(best["latency"])
        rows["requests/s, raw client / httpx"] = (
            f"{best['load_raw_client']['requests_per_second']:.0f} / "
            f"{best['load']['requests_per_second']:.0f}")
    return rows


def comparison(results: dict, synthetic: dict | None, synthetic_path: Path) -> str:
    """The real archive's figures beside the synthetic corpus's last run."""
    ours = _comparison_rows(results)
    theirs = _comparison_rows(synthetic) if synthetic else {}
    heading = (f"synthetic ({synthetic_path.name})" if synthetic
               else f"synthetic: no {synthetic_path.name} in the results directory")
    lines = ["### Real archive beside the synthetic corpus", "",
             f"| figure | {results['corpus']} | {heading} |", "|---|---|---|"]
    for label in dict.fromkeys([*ours, *theirs]):
        lines.append(f"| {label} | {ours.get(label, '-')} | {theirs.get(label, '-')} |")
    return "\n".join(lines)


def build_synthetic_stores(root: Path, args: argparse.Namespace) -> dict:
    """The generated dump, our index of it, and the bare and FTS5 copies."""
    reuse = not args.rebuild
    dump, manifest = build_dump(root, args.events, args.seed, args.pool, reuse)
    ours_info = build_ours(root, dump, reuse, args.seed_cache, args.processes)
    return {"dump": manifest, "ours": ours_info,
            **build_bare_and_fts(root, root / "ours", reuse, args.seed)}


def build_portal_stores(root: Path, portal: Path, args: argparse.Namespace) -> dict:
    """Our index of the archive (reindex.py --portal's, when there) and the copies: rebuilt
    when our index is newer than they are."""
    reuse = not args.rebuild
    ours_info = ensure_portal_index(root, portal, reuse, args.seed_cache, args.processes)
    copies = root / "bare" / "built.json"
    fresh = copies.exists() and (copies.stat().st_mtime
                                 >= (root / "ours" / "built.json").stat().st_mtime)
    return {"portal": str(portal), "ours": ours_info,
            **build_bare_and_fts(root, root / "ours", reuse and fresh, args.seed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Search latency and throughput: our index vs bare Tantivy vs SQLite FTS5, "
                    "in-process and through HTTP, on a generated corpus or the real archive.")
    parser.add_argument("--corpus", choices=("synthetic", "portal"), default="synthetic",
                        help="the generated corpus (--events, --seed, --pool) or the real "
                             "archive (--portal), indexed under OUT/portal-work "
                             "(default: %(default)s)")
    parser.add_argument("--portal", type=Path, default=DEFAULT_PORTAL, metavar="PATH",
                        help="the real archive, for --corpus portal (default: %(default)s)")
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="corpus size (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=20220701,
                        help="fixes the corpus and the workload (default: %(default)s)")
    parser.add_argument("--pool", type=int, default=100_000,
                        help="distinct headline texts in the corpus (default: %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_OUT / "search-work",
                        help="where built stores live, one directory per seed and size "
                             "(default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="results directory (default: %(default)s)")
    parser.add_argument("--skip-build", action="store_true",
                        help="reuse the built stores; fail if any is missing")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild every store even if a complete one exists")
    parser.add_argument("--seed-cache", type=Path, default=None, metavar="FILE",
                        help="an enrichment-cache.sqlite to start from when the work dir has "
                             "none (e.g. benchmarks/results/reindex-work/data/...)")
    parser.add_argument("--processes", type=int, default=2, help="reindex NLP processes")
    parser.add_argument("--queries", type=int, default=60,
                        help="workload size, at least 50; with --corpus portal, --queries / 8 "
                             "values of each of 4 kinds, each asked alone and filtered "
                             "(default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed passes over the workload in-process (default: %(default)s)")
    parser.add_argument("--http-repeat", type=int, default=3,
                        help="timed passes over the workload through HTTP (default: %(default)s)")
    parser.add_argument("--workers", default="1,2",
                        help="`eventsearch serve --workers W` counts to try, comma-separated "
                             "(default: %(default)s)")
    parser.add_argument("--reuseport-workers", default="2",
                        help="also try W uvicorn processes on one SO_REUSEPORT port with "
                             "TCP_NODELAY, comma-separated counts; empty: skip "
                             "(default: %(default)s)")
    parser.add_argument("--load-seconds", type=float, default=20.0,
                        help="duration of the 16-client load (default: %(default)s)")
    parser.add_argument("--build-only", action="store_true",
                        help="build (or check) the stores, measure nothing")
    parser.add_argument("--no-http", dest="http", action="store_false",
                        help="in-process measurements only")
    args = parser.parse_args(argv)
    if args.queries < 50:
        parser.error("--queries must be at least 50")

    portal = require_portal(args.portal) if args.corpus == "portal" else None
    if portal:
        root = portal_root(args.out)
    else:
        root = args.work_dir / f"seed{args.seed}-events{args.events}-pool{args.pool}"
    root.mkdir(parents=True, exist_ok=True)
    if args.skip_build:
        missing = [p for p in ("ours/built.json", "bare/built.json", "fts5/built.json",
                               "sample.json") if not (root / p).exists()]
        if missing:
            parser.error(f"--skip-build: not built in {root}: {', '.join(missing)}")
    stores = (build_portal_stores(root, portal, args) if portal
              else build_synthetic_stores(root, args))
    if args.build_only:
        print(json.dumps(stores, indent=2))
        return 0
    sample = json.loads((root / "sample.json").read_text())
    ours = EventIndex.open(root / "ours")
    if portal:
        queries, workload_info = portal_workload(ours, portal_headlines(portal), args.seed,
                                                 math.ceil(args.queries / 8))
    else:
        queries, workload_info = build_workload(sample, args.seed, args.queries)
    print(f"workload: {workload_info['counts']}", file=sys.stderr)
    disturbed = others_running()
    code_at_start = code_version()
    if disturbed:
        print("WARNING: other benchmarks are running; timings will be disturbed:\n  "
              + "\n  ".join(disturbed), file=sys.stderr)
    bare = BareTantivy(root / "bare")
    fts = Fts5(root / "fts5")
    print(f"measuring {len(queries)} queries at {ours.count():,} events", file=sys.stderr)
    in_process = run_in_process(ours, bare, fts, queries, args.repeat)
    in_process["sampled_facets"] = sampled_facet_accuracy(ours, queries)
    related = run_related(ours, sample, args.seed)
    related["breakdown"] = related_breakdown(ours, sample, args.seed)
    suggest = run_suggest(ours, prefixes_for_suggest(sample, queries, args.seed))
    parts = breakdown(ours, queries)
    profile = profile_ours(ours, queries)
    plan_query = next((q for q in queries if q.kind == "broad" and q.country),
                      next(q for q in queries if q.country))
    plan = {"query": plan_query.as_dict(), "plan": fts.explain(plan_query)}
    setups = [("serve", int(w)) for w in args.workers.split(",") if w.strip()]
    setups += [("reuseport", int(w)) for w in args.reuseport_workers.split(",") if w.strip()]
    http = run_http(root / "ours", queries, setups, args.http_repeat, args.load_seconds,
                    root) if args.http else []
    best = max(http, key=_setup_merit, default=None)
    disturbed += [d for d in others_running() if d not in disturbed]
    if code_version() != code_at_start:
        disturbed.append(f"the code changed during the run: {code_at_start} -> {code_version()}")

    results = {
        "benchmark": "search", "code": code_at_start, "events": ours.count(), "seed": args.seed,
        "corpus": f"real archive ({portal.name})" if portal else "synthetic",
        "pool": None if portal else args.pool,
        "repeat": args.repeat, "machine": {"cpus": os.cpu_count(),
                                           "python": platform.python_version()},
        "stores": stores,
        "workload": workload_info, "in_process": in_process, "related": related,
        "suggest": suggest, "breakdown": parts, "fts5_plan": plan, "http": http,
        "http_best": best, "targets": TARGETS, "disturbed_by": disturbed,
        "profile_ours": profile,
        "command": "cd /work/main && .venv/bin/python benchmarks/search.py "
                   + " ".join(sys.argv[1:] if argv is None else argv),
    }
    text = report(results)
    synthetic_path = args.out / f"search-events{args.events}.json"
    if portal:
        synthetic = json.loads(synthetic_path.read_text()) if synthetic_path.exists() else None
        text += "\n\n" + comparison(results, synthetic, synthetic_path)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "search-portal" if portal else synthetic_path.stem
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / f"{stem}.md").write_text(text + "\n\n```\n" + profile + "```\n")
    print(f"\nwrote {args.out / stem}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
