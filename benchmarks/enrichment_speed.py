"""Enrichment throughput against bare spaCy, side by side in one run.

    .venv/bin/python benchmarks/enrichment_speed.py [--n 3000] [--rounds 3] [--seed 20220701]
        [--processes 1 2] [--out benchmarks/results]

Two runners over the same headlines (reddit titles drawn with a fixed seed):

bare       `spacy.load(model, exclude=["parser"])` and `nlp.pipe(texts)`: the same model and
           components as ours, without our two components, docs discarded.
enrich     What indexing runs: `load_pipeline()` (the same model plus eventsearch_countries and
           eventsearch_topics) and `Enricher.enrich` over `Event`s, building every labelled
           Event (entities, countries, topics).

For each process count the runners alternate (bare, enrich, enrich, bare, ...) for --rounds
rounds after one warm-up pass each (which also loads the country gazetteer before any worker is
forked), and the median docs/s of each is reported with the ratio enrich/bare against the
target of 0.85. Process start-up is inside the timing for both runners alike (as it is when
indexing). Writes `enrichment_speed.json` to --out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import spacy

from indexer.enrich.pipeline import Enricher, load_pipeline, model_name
from indexer.record import Event

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "reddit-news-headlines-2022-07.json"
DEFAULT_OUT = REPO / "benchmarks" / "results"
TARGET_RATIO = 0.85
BATCH_SIZE = 256  # Enricher's default, used for both runners


def headlines(corpus: Path, n: int, seed: int) -> list[str]:
    titles = sorted({" ".join(item["title"].split())
                     for item in json.loads(corpus.read_text(encoding="utf-8"))} - {""})
    return random.Random(seed).sample(titles, min(n, len(titles)))


def bare_runner(nlp, texts: list[str], n_process: int) -> Callable[[], int]:
    def run() -> int:
        count = 0
        for _ in nlp.pipe(texts, batch_size=BATCH_SIZE, n_process=n_process):
            count += 1
        return count
    return run


def enrich_runner(nlp, texts: list[str], n_process: int) -> Callable[[], int]:
    enricher = Enricher(nlp, batch_size=BATCH_SIZE, n_process=n_process)
    day = dt.date(2022, 7, 1)

    def run() -> int:
        events = (Event(id=f"speed-{i}", date=day, headline=t) for i, t in enumerate(texts))
        count = 0
        for _ in enricher.enrich(events):
            count += 1
        return count
    return run


def timed(run: Callable[[], int], expected: int) -> float:
    started = time.perf_counter()
    count = run()
    elapsed = time.perf_counter() - started
    if count != expected:
        raise RuntimeError(f"runner produced {count} docs, expected {expected}")
    return count / elapsed


def measure(bare, full, texts: list[str], n_process: int, rounds: int) -> dict:
    runners = {"bare": bare_runner(bare, texts, n_process),
               "enrich": enrich_runner(full, texts, n_process)}
    warm = texts[: min(len(texts), 2 * BATCH_SIZE)]
    for runner in (bare_runner(bare, warm, n_process), enrich_runner(full, warm, n_process)):
        runner()
    rates: dict[str, list[float]] = {"bare": [], "enrich": []}
    for r in range(rounds):
        order = ("bare", "enrich") if r % 2 == 0 else ("enrich", "bare")
        for name in order:
            rates[name].append(timed(runners[name], len(texts)))
            print(f"  n_process={n_process} round {r + 1} {name:<6} "
                  f"{rates[name][-1]:8.1f} docs/s", file=sys.stderr)
    bare_rate = statistics.median(rates["bare"])
    enrich_rate = statistics.median(rates["enrich"])
    ratio = enrich_rate / bare_rate
    return {
        "n_process": n_process,
        "bare_docs_per_s": round(bare_rate, 1),
        "enrich_docs_per_s": round(enrich_rate, 1),
        "ratio": round(ratio, 3),
        "target": TARGET_RATIO,
        "pass": ratio >= TARGET_RATIO,
        "rounds": {k: [round(v, 1) for v in vs] for k, vs in rates.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Throughput of Enricher.enrich against bare nlp.pipe on the same model, "
                    "components and headlines.",
        epilog=f"Target: enrichment at least {TARGET_RATIO:.0%} of bare nlp.pipe throughput.")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="reddit headlines JSON (default: %(default)s)")
    parser.add_argument("--n", type=int, default=3000, help="headlines (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=20220701)
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed rounds per runner; the median counts (default: %(default)s)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2],
                        help="n_process values to measure (default: 1 2)")
    parser.add_argument("--model", default=None,
                        help="spaCy model (default: EVENTSEARCH_MODEL or the pinned one)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="results directory (default: %(default)s)")
    args = parser.parse_args(argv)

    name = args.model or model_name()
    texts = headlines(args.corpus, args.n, args.seed)
    bare = spacy.load(name, exclude=["parser"])
    full = load_pipeline(name)
    ours = {"eventsearch_countries", "eventsearch_topics"}
    if [p for p in full.pipe_names if p not in ours] != bare.pipe_names:
        raise SystemExit(f"pipelines differ beyond our components: {bare.pipe_names} vs "
                         f"{full.pipe_names}")

    results = []
    for n_process in args.processes:
        try:
            results.append(measure(bare, full, texts, n_process, args.rounds))
        except Exception as error:  # report and go on with the other process counts
            results.append({"n_process": n_process, "error": f"{type(error).__name__}: {error}"})

    print(f"{len(texts)} headlines, model {name}, bare pipeline {bare.pipe_names}, "
          f"{args.rounds} rounds, medians; {os.cpu_count()} CPUs")
    print(f"{'n_process':>9} {'bare docs/s':>12} {'enrich docs/s':>14} {'ratio':>6}  target")
    for r in results:
        if "error" in r:
            print(f"{r['n_process']:>9}  FAILED: {r['error']}")
            continue
        print(f"{r['n_process']:>9} {r['bare_docs_per_s']:>12.1f} {r['enrich_docs_per_s']:>14.1f} "
              f"{r['ratio']:>6.3f}  >= {TARGET_RATIO:.2f} {'PASS' if r['pass'] else 'FAIL'}")

    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"model": name, "spacy": spacy.__version__, "python": platform.python_version(),
            "cpus": os.cpu_count(), "headlines": len(texts), "seed": args.seed,
            "rounds": args.rounds, "batch_size": BATCH_SIZE, "date": dt.date.today().isoformat(),
            "bare_pipeline": bare.pipe_names, "enrich_pipeline": full.pipe_names}
    (args.out / "enrichment_speed.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2) + "\n", encoding="utf-8")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
