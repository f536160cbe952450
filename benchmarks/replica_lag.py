"""Replica lag: from a publish on the primary to a replica serving it.

    .venv/bin/python benchmarks/replica_lag.py                  # the bundled sample dump
    .venv/bin/python benchmarks/replica_lag.py --portal [PATH] --publish copy
                                        # the real archive's index, 109,703 events

A primary (`eventsearch serve`, an admin key set) on a copy of an index, and one replica
(`eventsearch serve --follow PRIMARY`, the default poll interval of 1 s, an empty data
directory: its start copies the whole index, timed). Then, --rounds times, a new generation
is published on the primary, every segment file new to the replica, so the whole index
travels: a warm `eventsearch reindex` of the same dump into the primary's copy, or with
--publish copy the live generation copied under new segment ids (the same bytes, without the
NLP a reindex runs when the index's enrichment cache no longer matches the code), and the
replica's /ready is asked every 20 ms until it serves that generation: the lag is from the
primary's publish (its CURRENT's modification time) to that answer, split into the copy (to
the replica's own publish) and the swap (the replica's server opening it). Then --upserts
times one event is posted to the primary and searched on the replica every 20 ms: the lag
from the primary's commit (its meta.json's modification time) to the first search that finds
it (an upsert's commit travels as its new segment files and meta.json; the rest is hard-
linked). The poll interval bounds both: a commit waits on average half an interval to be
noticed.
Results to OUT/replica-lag-{sample,portal}.json and .md.

What one replica serves (requests/s) is measured by benchmarks/load.py --replica.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _search_stores import EVENTSEARCH  # noqa: E402
from load import API_KEY, copy_data_dir  # noqa: E402
from search import DEFAULT_OUT, Server, code_version, others_running, summary  # noqa: E402

from indexer.index.storage import (  # noqa: E402
    live_generation,
    new_generation_dir,
    prune,
    publish,
    reindex_lock,
)

SAMPLE_DUMP = REPO / "samples" / "news"
PORTAL_DUMP = REPO.parent / "shared" / "corpora" / "portal-2002-2025.ndjson.gz"
AUTH = {"X-API-Key": API_KEY}
POLL_S = 0.02


def source_index(args) -> tuple[Path, Path, str]:
    """(index to copy, dump to reindex, label)."""
    if args.portal:
        source = args.out / "portal-work" / "ours"
        if not (source / "CURRENT").exists():
            raise SystemExit(f"no Portal index in {source}: run benchmarks/reindex.py --portal")
        return source, args.portal, "portal"
    source = args.out / "replica-lag-work" / "sample-source"
    if not (source / "CURRENT").exists():
        print(f"indexing the sample dump into {source} (once)", file=sys.stderr)
        subprocess.run([str(EVENTSEARCH), "reindex", str(SAMPLE_DUMP), "--data-dir", str(source),
                        "--no-progress"], check=True)
    return source, SAMPLE_DUMP, "sample"


def wait_until(condition, timeout: float = 600.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(POLL_S)
    raise TimeoutError(f"not within {timeout} s")


def replica_serves(url: str, generation: str) -> bool:
    state = httpx.get(f"{url}/ready", timeout=10).json().get("replica") or {}
    return state.get("serving_generation") == generation


def publish_copy(primary_dir: Path) -> None:
    """Publish the live generation again under new segment ids: every file is new to the
    replica (it matches files by name and hash), as after a reindex, without the NLP."""
    with reindex_lock(primary_dir):
        source = primary_dir / "generations" / live_generation(primary_dir)
        name, target = new_generation_dir(primary_dir)
        meta = json.loads((source / "meta.json").read_bytes())
        for segment in meta["segments"]:
            old, new = segment["segment_id"].replace("-", ""), uuid.uuid4().hex
            for file in source.glob(f"{old}.*"):
                shutil.copyfile(file, target / file.name.replace(old, new))
            segment["segment_id"] = str(uuid.UUID(new))
        (target / "meta.json").write_text(json.dumps(meta))
        shutil.copyfile(source / "schema_version", target / "schema_version")
        publish(primary_dir, name)
        prune(primary_dir, keep=2)


def reindex_round(primary_dir: Path, replica_dir: Path, replica_url: str, dump: Path,
                  how: str) -> dict:
    before = live_generation(primary_dir)
    started = time.time()
    if how == "copy":
        publish_copy(primary_dir)
        process = None
    else:
        process = subprocess.Popen([str(EVENTSEARCH), "reindex", str(dump), "--data-dir",
                                    str(primary_dir), "--json", "--no-progress"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    generation = wait_until(lambda: (g := live_generation(primary_dir)) != before and g)
    wait_until(lambda: replica_serves(replica_url, generation))
    seen = time.time()
    published = (primary_dir / "CURRENT").stat().st_mtime
    copied = (replica_dir / "CURRENT").stat().st_mtime
    result = json.loads(process.communicate()[0] or b"{}") if process else {}
    size = sum(p.stat().st_size for p in (replica_dir / "generations" /
                                          live_generation(replica_dir)).iterdir())
    events = httpx.get(f"{replica_url}/health", timeout=10).json()["events"]
    return {"generation": generation, "publish_seconds": round(published - started, 2),
            "events": result.get("indexed", events), "bytes": size,
            "lag_ms": round((seen - published) * 1000, 1),
            "copy_ms": round((copied - published) * 1000, 1),
            "swap_ms": round((seen - copied) * 1000, 1)}


def upsert_lag(primary_url: str, primary_dir: Path, replica_url: str, number: int,
               run: str) -> float:
    """Ms from the primary's commit of one upserted event (its meta.json's modification
    time) to the first search on the replica that finds it."""
    word = f"zqreplica{run}{chr(97 + number % 26)}{chr(97 + number // 26 % 26)}"
    event = {"id": f"replica-lag-{run}-{number}", "date": "2024-06-01",
             "headline": f"{word.capitalize()} observers report on a harbour dispute"}
    response = httpx.post(f"{primary_url}/api/events", content=json.dumps(event), headers=AUTH,
                          timeout=300)
    response.raise_for_status()
    committed = (primary_dir / "generations" / live_generation(primary_dir) / "meta.json"
                 ).stat().st_mtime
    wait_until(lambda: httpx.get(f"{replica_url}/api/search", params={"q": word},
                                 timeout=10).json()["total"] == 1, timeout=60)
    return (time.time() - committed) * 1000


def run(args) -> dict:
    source, dump, label = source_index(args)
    work = args.out / "replica-lag-work" / label
    primary_dir, replica_dir = work / "primary", work / "replica"
    print(f"copying {source} to {primary_dir}", file=sys.stderr)
    copy_data_dir(source, primary_dir)
    if replica_dir.exists():
        subprocess.run(["rm", "-rf", str(replica_dir)], check=True)
    disturbed = others_running()
    with Server("serve", primary_dir, 1, work / "primary.log",
                env={"EVENTSEARCH_API_KEY": API_KEY}) as primary:
        started = time.perf_counter()
        follow = {"EVENTSEARCH_FOLLOW": primary.url, "EVENTSEARCH_FOLLOW_KEY": API_KEY}
        with Server("serve", replica_dir, args.workers, work / "replica.log",
                    env=follow) as replica:
            first_copy_s = time.perf_counter() - started
            events = httpx.get(f"{replica.url}/health", timeout=10).json()["events"]
            rounds = []
            for number in range(args.rounds):
                print(f"reindex round {number + 1}/{args.rounds}", file=sys.stderr, flush=True)
                rounds.append(reindex_round(primary_dir, replica_dir, replica.url, dump,
                                            args.publish))
            # The first upsert loads the primary's spaCy pipeline: not timed.
            upsert_lag(primary.url, primary_dir, replica.url, 999, "warm")
            upserts = [upsert_lag(primary.url, primary_dir, replica.url, n, str(time.time_ns()))
                       for n in range(args.upserts)]
    return {"corpus": label, "events": events, "workers": args.workers, "rounds": rounds,
            "publish": args.publish, "command": " ".join(sys.argv),
            "first_copy_seconds_with_start": round(first_copy_s, 2),
            "reindex_lag_ms": summary([r["lag_ms"] for r in rounds]),
            "upsert_visible_on_replica_ms": summary(upserts),
            "follow_interval_s": 1.0, "code": code_version(), "disturbed_by": disturbed}


_HOW = {"reindex": "a warm reindex",
        "copy": "copying the live one under new segment ids (every file new to the replica, "
                "as after a reindex, without its NLP)"}


def report(results: dict) -> str:
    lines = [f"## Replica lag: {results['corpus']} ({results['events']:,} events), one "
             f"replica (`serve --follow`, --workers {results['workers']}, poll every "
             f"{results['follow_interval_s']:g} s)", "",
             f"First copy (an empty replica's start, to its first answer): "
             f"{results['first_copy_seconds_with_start']} s.", "",
             f"Each round publishes a new generation on the primary by {_HOW[results['publish']]}.",
             "",
             "| round | events | bytes copied | lag ms | copy+verify ms | swap ms |",
             "|---|---|---|---|---|---|"]
    for number, r in enumerate(results["rounds"], 1):
        lines.append(f"| {number} | {r['events']:,} | {r['bytes']:,} | {r['lag_ms']:,.0f} | "
                     f"{r['copy_ms']:,.0f} | {r['swap_ms']:,.0f} |")
    upsert = results["upsert_visible_on_replica_ms"]
    lines += ["", f"Upsert committed on the primary -> found by search on the replica: p50 "
              f"{upsert['p50']:.0f} ms, p95 {upsert['p95']:.0f} ms, max {upsert['max']:.0f} ms "
              f"({upsert['n']} upserts, one at a time).", ""]
    if results["disturbed_by"]:
        lines.append("WARNING: other processes were running: " + "; ".join(
            results["disturbed_by"]))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replica lag: publish on the primary -> a "
                                                 "replica serving it; upsert visibility.")
    parser.add_argument("--portal", nargs="?", type=Path, const=PORTAL_DUMP, default=None,
                        help="the real archive (its index in OUT/portal-work/ours; the dump, "
                             f"default {PORTAL_DUMP})")
    parser.add_argument("--rounds", type=int, default=3, help="publish rounds (default 3)")
    parser.add_argument("--publish", choices=("reindex", "copy"), default="reindex",
                        help="how a round publishes: a warm `eventsearch reindex` of the dump, "
                             "or a copy of the live generation under new segment ids (the "
                             "same bytes to transfer, without NLP: for an index whose "
                             "enrichment cache no longer matches the code) (default reindex)")
    parser.add_argument("--upserts", type=int, default=10, help="upserts timed (default 10)")
    parser.add_argument("--workers", type=int, default=1,
                        help="the replica's serve --workers (default 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="results directory (default: %(default)s)")
    args = parser.parse_args(argv)
    results = run(args)
    name = f"replica-lag-{results['corpus']}"
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=2))
    (args.out / f"{name}.md").write_text(report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
