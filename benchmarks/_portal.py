"""The real archive the benchmarks run on beside their synthetic corpora: its path, where its
index is cached, and the rule that draws search queries from it.

The archive is /work/shared/corpora/portal-2002-2025.ndjson.gz (109,703 Current Events
Portal events in canonical NDJSON; see its README beside it). It lives outside the repository
and the product never needs it: each benchmark takes its path as an option with this default
and stops with a clear message when it is missing.

Its index is built once, by `benchmarks/reindex.py --portal` (the warm run's generation) or,
when that has not run, by `eventsearch reindex` from `benchmarks/search.py --corpus portal`,
into OUT/portal-work/ours. The search and web benchmarks reuse it; search.py adds the bare
Tantivy and SQLite FTS5 copies beside it, as for the synthetic corpus.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PORTAL = REPO.parent / "shared" / "corpora" / "portal-2002-2025.ndjson.gz"
FREQUENT = 50
"""Each kind of query is drawn from this many most frequent values of its kind."""
FILTER_FROM = 3
"""A filtered query's country is drawn from the unfiltered query's this many top countries."""
_WORD = re.compile(r"[A-Za-z]+")
_NAME_WORD = re.compile(r"\w+")


def require_portal(path: Path) -> Path:
    """`path` if the archive is there; otherwise stop, saying where it was looked for."""
    if not path.is_file():
        raise SystemExit(f"the real archive is missing: {path} does not exist (pass its path "
                         f"with --portal PATH; see {DEFAULT_PORTAL.name.split('.')[0]}.README.md "
                         "beside it)")
    return path


def portal_root(out: Path) -> Path:
    """The archive's work directory under the results directory (gitignored)."""
    return out / "portal-work"


def ensure_portal_index(root: Path, portal: Path, reuse: bool, seed_cache: Path | None,
                        processes: int) -> dict:
    """Our index of the archive in ROOT/ours: reused when built and readable by this code,
    otherwise built by `eventsearch reindex` (warm when its enrichment cache is still valid)."""
    from _search_stores import build_ours

    from indexer.index.storage import index_exists

    if reuse and not index_exists(root / "ours"):
        log(f"no index of this schema version in {root / 'ours'}: reindexing the archive")
        reuse = False
    return build_ours(root, portal, reuse, seed_cache, processes)


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def live_generation_bytes(data_dir: Path) -> int:
    """Bytes on disk of the generation the data directory serves (not the older kept one)."""
    from indexer.index.storage import generations_dir, live_generation

    return directory_bytes(generations_dir(data_dir) / live_generation(data_dir))


def portal_headlines(portal: Path) -> list[str]:
    with gzip.open(portal, "rt", encoding="utf-8") as lines:
        return [json.loads(line)["headline"] for line in lines if line.strip()]


# --- the query workload -----------------------------------------------------------------------

def portal_workload(ours, headlines: list[str], seed: int, per_kind: int) -> tuple[list, dict]:
    """Queries drawn from the archive by one rule, fixed by the seed.

    Four kinds, `per_kind` values each, drawn (random.Random(f"portal-{seed}")) from the
    FREQUENT most frequent values of the kind:
      entity  an entity facet value of the index (events per value, over all events),
              typed as its words (letters and digits, lower-cased);
      story   a story facet value of the index, typed as its words;
      word    a headline word of 4+ letters that is not a stop word (benchmarks/search.py's
              list), by the headlines of the archive containing it;
      phrase  a pair of adjacent headline words, neither a stop word, both 3+ letters,
              asked as a quoted phrase.
    Every value is asked twice: alone, and filtered by a country drawn from the FILTER_FROM
    countries with the most events among the unfiltered query's matches (a country that
    co-occurs with it). Returns the queries and what was drawn.
    """
    from _search_stores import Query
    from search import _STOPWORDS

    rng = random.Random(f"portal-{seed}")
    values = {"entity": _facet_values(ours, "entity"), "story": _facet_values(ours, "story"),
              **_headline_values(headlines, _STOPWORDS)}
    queries = []
    for kind, frequent in values.items():
        for words in rng.sample(frequent, min(per_kind, len(frequent))):
            alone = Query(kind, words)
            country = _cooccurring_country(ours, alone, rng)
            queries += [alone, Query(kind, words, country)] if country else [alone]
    counts = Counter(f"{q.kind}, {'filtered' if q.country else 'alone'}" for q in queries)
    return queries, {"rule": "benchmarks/_portal.py portal_workload", "seed": seed,
                     "counts": dict(sorted(counts.items())),
                     "drawn_from": {kind: len(v) for kind, v in values.items()}}


def _facet_values(ours, facet: str) -> list[tuple[str, ...]]:
    """The words of the facet's most frequent values (those with words)."""
    from service.search.query import search_request

    page = ours.search(search_request(facet_size=[f"{facet}:{FREQUENT * 2}"],
                                      exact_facets=True, size=1))
    words = [tuple(w.lower() for w in _NAME_WORD.findall(v.value))
             for v in getattr(page.facets, facet)]
    return list(dict.fromkeys(w for w in words if w))[:FREQUENT]


def _headline_values(headlines: list[str], stopwords: frozenset[str]) -> dict[str, list]:
    words_df: Counter = Counter()
    pairs_df: Counter = Counter()
    for headline in headlines:
        words = [w.lower() for w in _WORD.findall(headline)]
        words_df.update({w for w in words if len(w) >= 4 and w not in stopwords})
        pairs_df.update({(a, b) for a, b in zip(words, words[1:])
                         if len(a) >= 3 and len(b) >= 3
                         and a not in stopwords and b not in stopwords})
    return {"word": [(w,) for w, _ in words_df.most_common(FREQUENT)],
            "phrase": [pair for pair, _ in pairs_df.most_common(FREQUENT)]}


def _cooccurring_country(ours, query, rng: random.Random) -> str | None:
    from search import ours_request

    countries = ours.search(ours_request(query, exact_facets=True)).facets.country
    return rng.choice(countries[:FILTER_FROM]).value if countries else None


def log(message: str) -> None:
    print(f"[portal] {message}", file=sys.stderr, flush=True)
