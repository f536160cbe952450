"""Precision@5 of "same story" for related events: our blend against plain more-like-this.

    .venv/bin/python benchmarks/related_eval.py [--dev benchmarks/data/related_dev.jsonl]

The dev set holds real headlines that we grouped by story by hand (RELATED_LABELLING.md).
They are indexed WITHOUT their story labels (that would give the answer away), enriched by
the real pipeline; then for every event, the top 5 related events are checked for sharing
its story, once with our blend (GET /api/events/{id}/related) and once with Tantivy's
more-like-this on the headline alone, in the same run. Target: blend >= 1.25 x plain.
Writes JSON to the results directory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from indexer.enrich.pipeline import load_pipeline
from indexer.ingest import IngestOptions, ingest
from service.search.engine import EventIndex

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.25
K = 5


def precision_at_k(ranked: list[str], story: str, stories: dict[str, str]) -> float:
    return sum(stories.get(other) == story for other in ranked[:K]) / K


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", type=Path, default=REPO / "benchmarks/data/related_dev.jsonl")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.dev.read_text().splitlines() if line.strip()]
    stories = {row["id"]: row["story"] for row in rows}
    with tempfile.TemporaryDirectory() as work:
        dump = Path(work) / "related_dev.ndjson"
        dump.write_text("".join(
            json.dumps({"id": r["id"], "date": r["date"], "headline": r["text"]}) + "\n"
            for r in rows))  # no story: the ranking must find it
        started = time.perf_counter()
        ingest([dump], Path(work) / "data", IngestOptions(nlp=load_pipeline(), use_cache=False))
        index = EventIndex.open(Path(work) / "data")
        blend, plain = [], []
        for row in rows:
            ours = [hit.id for hit in index.related(row["id"], K).hits]
            blend.append(precision_at_k(ours, row["story"], stories))
            plain.append(precision_at_k(index.plain_more_like_this(row["id"], K),
                                        row["story"], stories))
        seconds = time.perf_counter() - started
    result = {
        "events": len(rows),
        "stories": len(set(stories.values())),
        "precision_at_5_blend": round(statistics.mean(blend), 4),
        "precision_at_5_more_like_this": round(statistics.mean(plain), 4),
        "seconds": round(seconds, 1),
    }
    result["ratio"] = round(result["precision_at_5_blend"]
                            / max(result["precision_at_5_more_like_this"], 1e-9), 3)
    result["target_ratio"] = TARGET_RATIO
    result["pass"] = result["ratio"] >= TARGET_RATIO
    print(f"{result['events']} events in {result['stories']} stories")
    print(f"precision@5 same story: blend {result['precision_at_5_blend']:.3f}, "
          f"more-like-this {result['precision_at_5_more_like_this']:.3f}, "
          f"ratio {result['ratio']:.2f} (target >= {TARGET_RATIO}) "
          f"{'PASS' if result['pass'] else 'FAIL'}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "related_eval.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
