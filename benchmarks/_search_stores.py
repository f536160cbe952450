"""The three stores `benchmarks/search.py` compares, built from one corpus, and how each
answers a search page.

- ours:  the eventsearch index, built by `eventsearch reindex` (enrichment included).
- bare:  a bare Tantivy index, the floor: headline (en_stem) + country and topic (raw, fast)
         + date (fast); top 10 by BM25 plus two terms aggregations.
- fts5:  SQLite FTS5 (porter tokenizer) over an `events` table, with a `labels` table
         (event_id, facet, value); top 10 by bm25 plus GROUP BY facet counts over the
         matching rowids.

bare and fts5 are fed from our index's stored events, so all three hold the same headlines,
dates and labels. Each store is built in its own directory and marked complete by a
`built.json` beside it; an incomplete one is rebuilt.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import tantivy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer.index.storage import open_index  # noqa: E402
from service.search.render import stored_event  # noqa: E402

PYTHON = REPO / ".venv" / "bin" / "python"
EVENTSEARCH = REPO / ".venv" / "bin" / "eventsearch"
SAMPLE_SIZE = 20_000
"""Events kept in `sample.json` to draw the workload's vocabulary from."""
FACET_SIZE = 10


@dataclass(frozen=True)
class Query:
    """One search-box query with its filters, as every store receives it."""

    kind: str  # single, several, phrase, broad
    words: tuple[str, ...]  # lower-case words; a phrase when kind == "phrase"
    country: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @property
    def text(self) -> str:
        """What a user types into the search box."""
        return f'"{" ".join(self.words)}"' if self.kind == "phrase" else " ".join(self.words)

    @property
    def filters(self) -> str:
        parts = [f"country={self.country}"] if self.country else []
        if self.date_from:
            parts.append(f"{self.date_from.year}-{self.date_to.year}")
        return ",".join(parts) or "-"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "q": self.text, "country": self.country,
                "from": self.date_from and self.date_from.isoformat(),
                "to": self.date_to and self.date_to.isoformat()}


def _done(path: Path) -> dict | None:
    marker = path / "built.json"
    return json.loads(marker.read_text()) if marker.exists() else None


def _mark(path: Path, info: dict) -> dict:
    (path / "built.json").write_text(json.dumps(info, indent=2))
    return info


def _log(message: str) -> None:
    print(f"[build] {message}", file=sys.stderr, flush=True)


# --- the corpus and our index ----------------------------------------------------------------

def build_dump(root: Path, events: int, seed: int, pool: int, reuse: bool) -> tuple[Path, dict]:
    """An NDJSON dump from benchmarks/generate_dump.py; reused when its manifest exists."""
    dump = root / "dump"
    manifest_path = root / "dump.manifest.json"
    if reuse and manifest_path.exists():
        return dump, json.loads(manifest_path.read_text())
    _log(f"generating {events:,} events (seed {seed}, pool {pool:,}) into {dump}")
    started = time.perf_counter()
    subprocess.run([str(PYTHON), str(REPO / "benchmarks" / "generate_dump.py"),
                    "--events", str(events), "--seed", str(seed), "--pool", str(pool),
                    "--formats", "ndjson", "--out", str(dump)],
                   check=True, stdout=subprocess.DEVNULL)
    manifest = json.loads(manifest_path.read_text())
    _log(f"dump written in {time.perf_counter() - started:.0f} s")
    return dump, manifest


def build_ours(root: Path, dump: Path, reuse: bool, seed_cache: Path | None,
               processes: int) -> dict:
    """Our index via `eventsearch reindex` (the spaCy enrichment included)."""
    data = root / "ours"
    info = _done(data)
    if reuse and info:
        return info
    data.mkdir(parents=True, exist_ok=True)
    for stale in ("CURRENT", "generations"):  # keep the enrichment cache, nothing else
        target = data / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    cache = data / "enrichment-cache.sqlite"
    if not cache.exists() and seed_cache and seed_cache.exists():
        _log(f"seeding the enrichment cache from {seed_cache}")
        with sqlite3.connect(f"file:{seed_cache}?mode=ro", uri=True) as source, \
                sqlite3.connect(cache) as target:
            source.backup(target)
    _log(f"eventsearch reindex {dump} (cache {'present' if cache.exists() else 'empty'})")
    started = time.perf_counter()
    result = subprocess.run([str(EVENTSEARCH), "reindex", str(dump), "--data-dir", str(data),
                             "--processes", str(processes), "--json", "--no-progress"],
                            check=False, capture_output=True, text=True)
    if result.returncode not in (0, 3):
        raise RuntimeError(f"reindex failed ({result.returncode}): {result.stderr[-2000:]}")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    _log(f"reindexed in {time.perf_counter() - started:.0f} s: {summary}")
    return _mark(data, {"reindex": summary, "seconds": round(time.perf_counter() - started, 1)})


def iter_our_events(data: Path) -> Iterator[tuple[int, object]]:
    """(rowid, Event) for every event of our index, in storage order."""
    searcher = open_index(data).searcher()
    total = searcher.num_docs
    hits = searcher.search(tantivy.Query.all_query(), limit=total).hits
    addresses = sorted((a.segment_ord, a.doc) for _, a in hits)
    del hits
    for rowid, (segment, doc) in enumerate(addresses, 1):
        yield rowid, stored_event(searcher.doc(tantivy.DocAddress(segment, doc)))


def _yyyymmdd(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


# --- bare Tantivy and SQLite FTS5, built in one pass over our events ------------------------

def bare_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("headline", tokenizer_name="en_stem")
    builder.add_text_field("country", fast=True, tokenizer_name="raw")
    builder.add_text_field("topic", fast=True, tokenizer_name="raw")
    builder.add_date_field("date", indexed=True, fast=True)
    return builder.build()


_FTS_SCHEMA = """
CREATE TABLE events (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, date INTEGER NOT NULL,
                     headline TEXT NOT NULL);
CREATE TABLE labels (event_id INTEGER NOT NULL, facet TEXT NOT NULL, value TEXT NOT NULL,
                     PRIMARY KEY (event_id, facet, value)) WITHOUT ROWID;
CREATE VIRTUAL TABLE events_fts USING fts5(headline, content='events', content_rowid='rowid',
                                           tokenize='porter unicode61');
"""
_FTS_INDEXES = """
CREATE INDEX labels_by_value ON labels (facet, value, event_id);
CREATE INDEX events_by_date ON events (date);
INSERT INTO events_fts(events_fts) VALUES ('rebuild');
INSERT INTO events_fts(events_fts) VALUES ('optimize');
ANALYZE;
"""


def build_bare_and_fts(root: Path, ours: Path, reuse: bool, seed: int) -> dict:
    bare_dir, fts_dir = root / "bare", root / "fts5"
    bare_info, fts_info = _done(bare_dir), _done(fts_dir)
    if reuse and bare_info and fts_info and (root / "sample.json").exists():
        return {"bare": bare_info, "fts5": fts_info}
    for path in (bare_dir, fts_dir):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    _log("building bare Tantivy and SQLite FTS5 from our index's stored events")
    started = time.perf_counter()
    bare = tantivy.Index(bare_schema(), path=str(bare_dir))
    writer = bare.writer(heap_size=400_000_000, num_threads=2)
    db = sqlite3.connect(fts_dir / "events.sqlite")
    db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                     "PRAGMA cache_size=-400000;" + _FTS_SCHEMA)
    rng = random.Random(f"sample-{seed}")
    sample: list[dict] = []
    rows: list[tuple] = []
    labels: list[tuple] = []
    count = 0
    for rowid, event in iter_our_events(ours):
        count = rowid
        entities = list(dict.fromkeys(e.name for e in event.entities))
        doc = tantivy.Document()
        doc.add_text("headline", event.headline)
        for code in event.countries:
            doc.add_text("country", code)
        for topic in event.topics:
            doc.add_text("topic", topic)
        day = event.date
        doc.add_date("date", dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc))
        writer.add_document(doc)
        rows.append((rowid, event.id, _yyyymmdd(day), event.headline))
        labels.extend((rowid, "country", v) for v in dict.fromkeys(event.countries))
        labels.extend((rowid, "topic", v) for v in dict.fromkeys(event.topics))
        labels.extend((rowid, "entity", v) for v in entities)
        # Reservoir sample: the workload's vocabulary, and ids for `related`.
        record = {"id": event.id, "headline": event.headline, "countries": event.countries,
                  "entities": entities, "date": day.isoformat()}
        if len(sample) < SAMPLE_SIZE:
            sample.append(record)
        elif (slot := rng.randrange(rowid)) < SAMPLE_SIZE:
            sample[slot] = record
        if len(rows) >= 20_000:
            _flush(db, rows, labels)
        if rowid % 200_000 == 0:
            _log(f"  {rowid:,} events copied ({time.perf_counter() - started:.0f} s)")
    _flush(db, rows, labels)
    writer.commit()
    writer.wait_merging_threads()
    copied = time.perf_counter() - started
    _log(f"copied {count:,} events in {copied:.0f} s; FTS5 index, label indexes, optimize")
    db.executescript(_FTS_INDEXES)
    db.close()
    seconds = time.perf_counter() - started
    (root / "sample.json").write_text(json.dumps(sample))
    _log(f"bare + FTS5 built in {seconds:.0f} s")
    size = lambda p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())  # noqa: E731
    return {"bare": _mark(bare_dir, {"events": count, "bytes": size(bare_dir)}),
            "fts5": _mark(fts_dir, {"events": count, "bytes": size(fts_dir),
                                    "seconds_with_bare": round(seconds, 1)})}


def _flush(db: sqlite3.Connection, rows: list, labels: list) -> None:
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
    db.executemany("INSERT OR IGNORE INTO labels VALUES (?, ?, ?)", labels)
    db.commit()
    rows.clear()
    labels.clear()


# --- answering a search page ----------------------------------------------------------------

class BareTantivy:
    """The floor: what Tantivy alone costs for top 10 + country and topic counts."""

    def __init__(self, path: Path):
        self.index = tantivy.Index.open(str(path))
        self.schema = self.index.schema

    def search(self, query: Query) -> tuple[int, list]:
        searcher = self.index.searcher()
        text = self.index.parse_query(query.text, ["headline"], conjunction_by_default=True)
        clauses = [(tantivy.Occur.Must, text)]
        if query.country:
            clauses.append((tantivy.Occur.Must, tantivy.Query.term_query(
                self.schema, "country", query.country)))
        if query.date_from:
            clauses.append((tantivy.Occur.Must, tantivy.Query.range_query(
                self.schema, "date", tantivy.FieldType.Date, _midnight(query.date_from),
                _midnight(query.date_to))))
        full = clauses[0][1] if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)
        result = searcher.search(full, limit=FACET_SIZE)
        facets = searcher.aggregate(full, {
            "country": {"terms": {"field": "country", "size": FACET_SIZE}},
            "topic": {"terms": {"field": "topic", "size": FACET_SIZE}},
        })
        return result.count, [result.hits, facets]


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


class Fts5:
    """SQLite FTS5: top 10 by bm25, the total, and country/topic/entity counts by GROUP BY
    over the matching rowids (labels looked up by their primary key (event_id, facet, ...)).
    """

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path / "events.sqlite", check_same_thread=False)
        self.db.executescript("PRAGMA query_only=1; PRAGMA mmap_size=8000000000; "
                              "PRAGMA cache_size=-1000000; PRAGMA temp_store=MEMORY;")

    @staticmethod
    def match_expression(query: Query) -> str:
        if query.kind == "phrase":
            return '"' + " ".join(query.words) + '"'
        return " ".join(f'"{w}"' for w in query.words)  # quoted: no word is an operator

    def _matching(self, query: Query) -> tuple[str, list]:
        """SQL for the rowids matching `query` with its filters, and its parameters."""
        sql = "SELECT f.rowid FROM events_fts f"
        where, params = ["events_fts MATCH ?"], [self.match_expression(query)]
        if query.date_from:
            sql += " JOIN events e ON e.rowid = f.rowid"
            where.append("e.date BETWEEN ? AND ?")
            params += [_yyyymmdd(query.date_from), _yyyymmdd(query.date_to)]
        if query.country:
            where.append("EXISTS (SELECT 1 FROM labels c WHERE c.event_id = f.rowid "
                         "AND c.facet = 'country' AND c.value = ?)")
            params.append(query.country)
        return f"{sql} WHERE {' AND '.join(where)}", params

    def statements(self, query: Query) -> dict[str, tuple[str, list]]:
        matching, params = self._matching(query)
        top = matching.replace("SELECT f.rowid FROM", "SELECT f.rowid, bm25(events_fts) FROM", 1)
        return {
            "top": (f"{top} ORDER BY bm25(events_fts) LIMIT {FACET_SIZE}", params),
            "total": (f"SELECT count(*) FROM ({matching})", params),
            "facets": (
                "SELECT l.facet, l.value, count(*) AS n FROM labels l "
                f"WHERE l.event_id IN ({matching}) "
                "AND l.facet IN ('country', 'topic', 'entity') "
                "GROUP BY l.facet, l.value", params),
        }

    def search(self, query: Query) -> tuple[int, list]:
        statements = self.statements(query)
        top = self.db.execute(*statements["top"]).fetchall()
        ids = [row[0] for row in top]
        hits = self.db.execute(
            f"SELECT id, date, headline FROM events WHERE rowid IN ({','.join('?' * len(ids))})",
            ids).fetchall() if ids else []
        total = self.db.execute(*statements["total"]).fetchone()[0]
        facets: dict[str, list] = {}
        for facet, value, n in self.db.execute(*statements["facets"]):
            facets.setdefault(facet, []).append((n, value))
        top_values = {f: sorted(v, key=lambda x: (-x[0], x[1]))[:FACET_SIZE]
                      for f, v in facets.items()}
        return total, [hits, top_values]

    def explain(self, query: Query) -> dict[str, list[str]]:
        return {name: [row[3] for row in self.db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
                for name, (sql, params) in self.statements(query).items()}
