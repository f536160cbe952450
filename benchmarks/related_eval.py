"""Precision@5 of "same story" for related events: our blend against plain more-like-this.

    .venv/bin/python benchmarks/related_eval.py [--dev benchmarks/data/related_dev.jsonl]
        [--wikitimes ../shared/corpora/wikitimes-2015-09.json]

The dev set holds real headlines that we grouped by story by hand (RELATED_LABELLING.md).
They are indexed WITHOUT their story labels (that would give the answer away), enriched by
the real pipeline; then for every event, the top 5 related events are checked for sharing
its story, once with our blend (GET /api/events/{id}/related) and once with Tantivy's
more-like-this on the headline alone, in the same run. Target: blend >= 1.25 x plain.
The held-out WikiTimes events (Current Events Portal, 428 events, 190 of them in 38 stories
of two or more) are measured the same way, as a check nothing was tuned on.
Writes JSON to the results directory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from indexer.enrich.pipeline import load_pipeline
from indexer.ingest import IngestOptions, ingest
from service.search.engine import EventIndex

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.25
K = 5


WIKITIMES = REPO.parent / "shared" / "corpora" / "wikitimes-2015-09.json"


def precision_at_k(ranked: list[str], story: str, stories: dict[str, str | None]) -> float:
    return sum(stories.get(other) == story for other in ranked[:K]) / K


def dev_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wikitimes_rows(path: Path) -> list[dict]:
    """Current Events Portal events; the story is the Portal's own (`belongsToStory`), and
    events without one are indexed as the rest of the archive."""
    return [{"id": f"wt-{e['id']}", "date": e["date"], "text": " ".join(e["description"].split()),
             "story": (e.get("belongsToStory") or {}).get("name")}
            for e in json.loads(path.read_text())]


def evaluate(rows: list[dict], work: Path) -> dict:
    """Index `rows` without their stories, then precision@5 of "same story" for every event
    whose story has another event, for our blend and for plain more-like-this."""
    stories = {row["id"]: row["story"] for row in rows}
    sizes = Counter(stories.values())
    dump = work / "events.ndjson"
    dump.write_text("".join(
        json.dumps({"id": r["id"], "date": r["date"], "headline": r["text"]}) + "\n"
        for r in rows))  # no story: the ranking must find it
    started = time.perf_counter()
    ingest([dump], work / "data", IngestOptions(nlp=load_pipeline(), use_cache=False))
    index = EventIndex.open(work / "data")
    blend, plain = [], []
    for row in rows:
        if not row["story"] or sizes[row["story"]] < 2:
            continue
        ours = [hit.id for hit in index.related(row["id"], K).hits]
        blend.append(precision_at_k(ours, row["story"], stories))
        plain.append(precision_at_k(index.plain_more_like_this(row["id"], K),
                                    row["story"], stories))
    result = {
        "events": len(rows),
        "events_evaluated": len(blend),
        "stories": len([story for story, n in sizes.items() if story and n >= 2]),
        "precision_at_5_blend": round(statistics.mean(blend), 4),
        "precision_at_5_more_like_this": round(statistics.mean(plain), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    result["ratio"] = round(result["precision_at_5_blend"]
                            / max(result["precision_at_5_more_like_this"], 1e-9), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", type=Path, default=REPO / "benchmarks/data/related_dev.jsonl")
    parser.add_argument("--wikitimes", type=Path, default=WIKITIMES,
                        help="held-out Portal events with their stories (skipped if absent)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    args = parser.parse_args()
    corpora = {"dev": dev_rows(args.dev)}
    if args.wikitimes.exists():
        corpora["wikitimes"] = wikitimes_rows(args.wikitimes)
    results = {}
    for name, rows in corpora.items():
        with tempfile.TemporaryDirectory() as work:
            results[name] = evaluate(rows, Path(work))
        r = results[name]
        print(f"{name}: {r['events_evaluated']} of {r['events']} events in {r['stories']} stories; "
              f"precision@5 same story: blend {r['precision_at_5_blend']:.3f}, "
              f"more-like-this {r['precision_at_5_more_like_this']:.3f}, ratio {r['ratio']:.2f}")
    result = {**results["dev"], "target_ratio": TARGET_RATIO,
              "pass": results["dev"]["ratio"] >= TARGET_RATIO, "corpora": results}
    print(f"target (dev set): ratio >= {TARGET_RATIO} {'PASS' if result['pass'] else 'FAIL'}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "related_eval.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
