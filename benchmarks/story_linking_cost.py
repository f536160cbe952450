"""What story linking (indexer/story_links.py) adds to a reindex of the whole archive.

Runs the linker exactly as `eventsearch reindex` does (StoryLinker.link over the stream of
events, a fresh generation: no index to read) on the archive's records, without NLP or the
index writer, and reports events per second of the step alone, wall-clock and CPU time (the
CPU time is what it costs the reindex process; the machine may be shared), and how many
events got a suggestion shown at the threshold. Writes JSON to benchmarks/results/.

At ingest the linker sees enriched events: `--labels` gives each record the entities and
countries our enrichment found (the cache training/story_linking.py --labels writes, one
[entity names, country codes] per line of the archive), so the pair features have their
real work to do; without it the events carry none.

    .venv/bin/python benchmarks/story_linking_cost.py [--portal PATH] [--labels PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer.readers import iter_records
from indexer.record import Event
from indexer.story_links import StoryLinker, settings

PORTAL = REPO.parent / "shared" / "corpora" / "portal-2002-2025.ndjson.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--portal", type=Path, default=PORTAL)
    parser.add_argument("--labels", type=Path,
                        help="entities and countries of each record (msgpack, in order)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks/results/story_linking_cost.json")
    args = parser.parse_args()
    if not args.portal.exists():
        sys.exit(f"no archive at {args.portal}")
    events = [r for r in iter_records([args.portal]) if isinstance(r, Event)]
    if args.labels:
        import msgspec

        from indexer.record import Entity

        labels = msgspec.msgpack.decode(args.labels.read_bytes())
        assert len(labels) == len(events), "labels are one per record of the archive"
        events = [msgspec.structs.replace(
            e, entities=[Entity(text=n, name=n, type="") for n in names], countries=places)
            for e, (names, places) in zip(events, labels)]
    from indexer.enrich.topic_embedding import embed

    embed(["warm up"])  # the model load is once per process, not per run
    runs = []
    for _ in range(args.repeat):
        linker = StoryLinker()
        wall, cpu = time.perf_counter(), time.process_time()
        passed = sum(1 for _ in linker.link(iter(events)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert passed == len(events)
        runs.append({"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                     "events_per_second": round(len(events) / wall),
                     "events_per_cpu_second": round(len(events) / cpu),
                     "suggested": linker.suggested})
    best = min(runs, key=lambda r: r["cpu_seconds"])
    result = {"events": len(events), "without_story": sum(1 for e in events if not e.story),
              "enriched": bool(args.labels),
              "threshold": settings().threshold, "best": best, "runs": runs,
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(f"{len(events)} events linked in {best['seconds']} s "
          f"({best['events_per_second']} events/s; CPU {best['cpu_seconds']} s, "
          f"{best['events_per_cpu_second']} events/CPU-s); {best['suggested']} of "
          f"{result['without_story']} events without a story got a suggestion shown")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
