"""Indexing rate and search latency on the bundled sample dump and the WikiTimes file.

    .venv/bin/python benchmarks/index_and_search.py [--repeat 200] [--out benchmarks/results]

For each corpus: index it into a fresh data directory (events/s, with the spaCy model already
loaded, so the figure is the pipeline's, not the model's start-up), then run a fixed workload
of search-box queries in-process and report p50/p95/p99 latency of the whole search call
(query, top 10 with snippets, all facets computed), and the p50 of the same call repeated
(facet counts from the cache). Writes JSON to the results directory.
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
from service.search.query import SearchRequest
from service.search.result_cache import ResultCache

REPO = Path(__file__).resolve().parents[1]
CORPORA = {
    "sample": REPO / "samples" / "news",
    "wikitimes": REPO.parent / "shared" / "corpora" / "wikitimes-2015-09.json",
}
WORKLOAD = [
    SearchRequest(text="missile"),
    SearchRequest(text="election"),
    SearchRequest(text="earthquake"),
    SearchRequest(text="refugees"),
    SearchRequest(text='"prime minister"'),
    SearchRequest(text="russia ukraine"),
    SearchRequest(text="police killed"),
    SearchRequest(text="the"),
    SearchRequest(text=""),
    SearchRequest(text="", topics=("sports",)),
    SearchRequest(text="attack", countries=("SY",)),
    SearchRequest(text="president OR minister", sort="date"),
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(name: str, dump: Path, nlp, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        summary = ingest([dump], Path(data_dir), IngestOptions(nlp=nlp, use_cache=False))
        index = EventIndex.open(Path(data_dir))
        timings, cached = [], []
        for _ in range(repeat):
            for request in WORKLOAD:
                index._facets = ResultCache()  # time the whole page, facets computed
                started = time.perf_counter()
                index.search(request)
                timings.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                index.search(request)  # the same again: facet counts from the cache
                cached.append((time.perf_counter() - started) * 1000)
    return {
        "corpus": name,
        "events_indexed": summary.indexed,
        "records_read": summary.read,
        "index_seconds": round(summary.seconds, 3),
        "events_per_second": round(summary.rate, 1),
        "search_calls": len(timings),
        "search_ms_p50": round(statistics.median(timings), 3),
        "search_ms_p95": round(percentile(timings, 0.95), 3),
        "search_ms_p99": round(percentile(timings, 0.99), 3),
        "repeat_search_ms_p50": round(statistics.median(cached), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=100, help="passes over the query workload")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    started = time.perf_counter()
    nlp = load_pipeline()
    print(f"model loaded in {time.perf_counter() - started:.2f} s")
    results = [measure(name, dump, nlp, args.repeat) for name, dump in CORPORA.items()]
    print(f"{'corpus':<10} {'events':>7} {'ev/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
          f" {'repeat p50':>10}")
    for r in results:
        print(f"{r['corpus']:<10} {r['events_indexed']:>7} {r['events_per_second']:>8} "
              f"{r['search_ms_p50']:>8} {r['search_ms_p95']:>8} {r['search_ms_p99']:>8} "
              f"{r['repeat_search_ms_p50']:>10}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "index_and_search.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
