"""Related events judged by the Portal's story headings: the data, the questions and the
measures that both `train_related.py` and `benchmarks/related_eval.py` use.

An archive's events are indexed with their stories by the real pipeline. A question is an
event with a story that another indexed event shares, asked as a draft WITHOUT its story:
an event that arrives unlabelled, whose related events the ranking must find from its text,
names, dates and the stories the others carry. Relevance is graded: the same story heading
1; the same outermost heading of a nested story ("Syrian civil war > Battle of Aleppo"
beside "Syrian civil war") 0.5, the Portal's broader story.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from indexer.enrich.pipeline import load_pipeline
from indexer.ingest import IngestOptions, ingest
from indexer.record import Event
from service.search.engine import EventIndex

K = 5


def read_events(path: Path, first_year: int, last_year: int) -> list[dict]:
    """Canonical NDJSON rows (plain or gzip) dated first_year..last_year."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        rows = (json.loads(line) for line in lines if line.strip())
        return [row for row in rows if first_year <= int(row["date"][:4]) <= last_year]


def build_index(rows: list[dict], work: Path) -> EventIndex:
    """The rows indexed, stories included, by the product's own ingest; reused when the
    work directory already holds this very set of rows."""
    work.mkdir(parents=True, exist_ok=True)
    dump = work / "events.ndjson"
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if not dump.exists() or dump.read_text(encoding="utf-8") != text:
        dump.write_text(text, encoding="utf-8")
        ingest([dump], work / "data", IngestOptions(nlp=load_pipeline(), processes=2))
    return EventIndex.open(work / "data")


@dataclass(frozen=True)
class Question:
    event: Event  # the stored event with its story taken away
    story: str


def questions(index: EventIndex, rows: list[dict], years: range, limit: int | None,
              seed: int) -> list[Question]:
    """Events of `years` whose story another row shares, as drafts without their story; a
    seeded sample of `limit` when there are more."""
    sizes = Counter(row.get("story") for row in rows)
    ids = [row["id"] for row in rows if row.get("story") and sizes[row["story"]] >= 2
           and int(row["date"][:4]) in years]
    if limit is not None and len(ids) > limit:
        ids = sorted(random.Random(seed).sample(ids, limit), key=ids.index)
    stories = {row["id"]: row.get("story") for row in rows}
    return [Question(msgspec.structs.replace(index.record(id_), story=None), stories[id_])
            for id_ in ids]


def gain(story: str, other: str | None) -> float:
    if not other:
        return 0.0
    if other == story:
        return 1.0
    return 0.5 if other.split(" > ")[0] == story.split(" > ")[0] else 0.0


def precision_at_k(story: str, ranked: Iterable[str | None]) -> float:
    return sum(other == story for other in list(ranked)[:K]) / K


def ndcg_at_k(story: str, ranked: Iterable[str | None], pool: Counter) -> float:
    """nDCG@5 of the ranked stories against the best order of the `pool` (stories of every
    other indexed event, with their counts)."""
    gains = [gain(story, other) for other in list(ranked)[:K]]
    ideal = sorted((g for other, n in pool.items() for g in [gain(story, other)] * n if g),
                   reverse=True)[:K]
    best = _dcg(ideal)
    return _dcg(gains) / best if best else 0.0


def ceiling(story: str, pool: Counter) -> float:
    """The best precision@5 any ranking could reach for this question."""
    return min(K, pool[story]) / K


def _dcg(gains: list[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))
