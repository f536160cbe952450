"""Reindex throughput and memory against the raw spaCy ceiling, in one run on one machine.

    .venv/bin/python benchmarks/reindex.py [--events-cold 100000] [--events-warm 1000000]
        [--processes 2] [--seed 20220701] [--ceiling-sample 20000] [--no-swap-check]
        [--out benchmarks/results] [--work-dir benchmarks/results/reindex-work]
    .venv/bin/python benchmarks/reindex.py --portal [PATH] [--processes 2] [--out ...]

Steps, in this order, in one run:

dumps     benchmarks/generate_dump.py builds (or reuses, keyed by seed, size and generator
          version) two dumps from one pool of --events-cold distinct headlines: the cold dump
          holds each pool text exactly once, the warm dump (--events-warm events) draws only
          from that pool, so the cold run leaves the enrichment cache full for the warm one.
ceiling   raw `nlp.pipe` over the full pipeline `load_pipeline()` gives (the very components
          indexing runs), batch_size=256 (the Enricher's), on --ceiling-sample pool texts,
          Docs discarded, model loading not timed: in ONE process, times --processes (the
          ceiling: NLP compute scaled linearly, what --processes workers could do at best),
          and with spaCy's own n_process=--processes (worker start-up timed; a weak
          baseline: it ships whole Docs back to the parent). The cold reindex is reported
          against both; the target applies to the first.
          A reference rate beside them (--other-ceilings-sample texts): the bare model with
          the same n_process.
code      the reindex and serve processes run from a copy of indexer/ and service/ taken at
          the start (unless --no-snapshot): the cache fingerprint hashes the enrichment code,
          so an edit to the working tree mid-run would otherwise empty the cache.
cold      `eventsearch reindex <cold dump> --data-dir D --processes N --json --no-progress`
          as a subprocess on an empty data directory (empty cache): events/s = indexed / wall
          time of the process (interpreter start, imports and model load included); the rate
          over the summary's own `seconds` (imports and model load not included) is also given.
warm      the same command on the warm dump and the same data directory (cache full).
memory    peak RSS of each reindex process tree: psutil samples the RSS of the process and
          all its descendants (the NLP workers) every 0.2 s and sums them. Forked workers
          share the parent's pages copy-on-write, so the sum over-counts; the peak of the
          summed PSS (proportional set size, sampled every 1 s) is given beside it.
counts    each summary must add up: read = indexed + merged + rejected, indexed = events in
          the dump, nothing rejected, and the cache hits expected (counted per event): 0
          cold, every event warm.
swap      (unless --no-swap-check) `eventsearch serve` on the data directory, a client
          searching continuously, and a third reindex (the cold dump again, cache full) that
          publishes a new generation under it: every request must succeed and the server must
          switch to the new generation.

Prints a Markdown table (figure, target, PASS/FAIL) and writes `reindex.json` and
`reindex.md` to --out.

--portal [PATH] measures the real archive instead (default PATH: benchmarks/_portal.py's
DEFAULT_PORTAL, /work/shared/corpora/portal-2002-2025.ndjson.gz; it stops if the file is
missing): the ceiling over --ceiling-sample of its headlines, then `eventsearch reindex` of
the whole file cold (empty data directory OUT/portal-work/ours, so an empty cache) and warm
(the same command again: unchanged text, cache full), each with its summary (read, indexed,
merged, rejected, cache hits), events/s, the live generation's size on disk and peak RSS,
measured as above. No dumps, no swap check. The table puts the synthetic run's figures from
OUT/reindex.json (its last run, not repeated) beside the archive's; `reindex-portal.json`
and `.md` go to --out. The warm run's index stays in OUT/portal-work/ours, where
`search.py --corpus portal` and `web.py --corpus portal` find it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate_dump  # noqa: E402
import psutil  # noqa: E402
from _portal import (  # noqa: E402
    DEFAULT_PORTAL,
    live_generation_bytes,
    portal_headlines,
    portal_root,
    require_portal,
)

DEFAULT_OUT = REPO / "benchmarks" / "results"
EVENTSEARCH = Path(sys.executable).parent / "eventsearch"
BATCH_SIZE = 256  # the Enricher's default, which `eventsearch reindex` uses
TARGET_COLD_RATIO = 0.85
TARGET_CLUSTER_RATIO = 0.9  # Dask's overhead against the fork pool under 10%
TARGET_WARM_RATE = 20_000.0
TARGET_PEAK_RSS = 2 * 1024**3
SAMPLE_INTERVAL = 0.2
PSS_EVERY = 5  # PSS reads smaps_rollup: every 5th sample (1 s)


# --- dumps ---------------------------------------------------------------------------------


def ensure_dump(work: Path, kind: str, events: int, pool: int, seed: int) -> tuple[Path, dict]:
    """The dump for these parameters, generated unless a complete one is already there."""
    path = work / "dumps" / f"{kind}-seed{seed}-events{events}-pool{pool}"
    manifest = generate_dump.read_manifest(path)
    wanted = {"generator_version": generate_dump.GENERATOR_VERSION, "seed": seed,
              "events": events, "pool": pool}
    if manifest and manifest.get("full_cache_hits", {}).get("batch_size") != BATCH_SIZE:
        manifest = None
    if manifest and all(manifest.get(k) == v for k, v in wanted.items()):
        _log(f"reusing {kind} dump {path} ({events} events)")
        return path, manifest
    _log(f"generating {kind} dump: {events} events from a pool of {pool} -> {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = generate_dump.write_dump(path, events, seed, pool, {"ndjson", "pages"},
                                        batch_size=BATCH_SIZE)
    _log(f"  done in {manifest['seconds']} s")
    return path, manifest


# --- the ceiling ---------------------------------------------------------------------------


def measure_ceiling(pool: list[str], sample: int, processes: int, seed: int) -> dict:
    import spacy

    from indexer.enrich.pipeline import load_pipeline, model_name

    nlp = load_pipeline()
    texts = random.Random(f"ceiling-{seed}").sample(pool, min(sample, len(pool)))
    # Load the gazetteer and warm the model once in this process, before workers fork.
    for _ in nlp.pipe(texts[:BATCH_SIZE], batch_size=BATCH_SIZE):
        pass
    _log(f"ceiling: nlp.pipe over {len(texts)} texts, {nlp.pipe_names}, "
         f"n_process={processes}, batch_size={BATCH_SIZE}")
    children_before = _children_cpu()
    load = _MachineLoad()
    started = time.perf_counter()
    count = sum(1 for _ in nlp.pipe(texts, batch_size=BATCH_SIZE, n_process=processes))
    seconds = time.perf_counter() - started
    # spaCy's workers are children of this script (reaped when the pipe ends), this script
    # is the parent: both are what is measured here.
    measured = _children_cpu() - children_before
    if count != len(texts):
        raise RuntimeError(f"nlp.pipe gave {count} docs for {len(texts)} texts")
    rate = count / seconds
    _log(f"  {rate:.1f} docs/s ({seconds:.1f} s); now in one process")
    own_cpu = time.process_time()
    started = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=BATCH_SIZE):
        pass
    one = len(texts) / (time.perf_counter() - started)
    measured += time.process_time() - own_cpu
    _log(f"  one process: {one:.1f} docs/s, x {processes} = {one * processes:.1f}")
    return {"docs": count, "seconds": round(seconds, 2), "docs_per_s": round(rate, 1),
            "one_process_docs_per_s": round(one, 1),
            "linear_docs_per_s": round(one * processes, 1),
            "pipeline": nlp.pipe_names, "model": model_name(), "spacy": spacy.__version__,
            "n_process": processes, "batch_size": BATCH_SIZE,
            "load": load.result(measured)}


def _children_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.children_user + times.children_system


def measure_other_ceilings(pool: list[str], sample: int, processes: int, seed: int) -> dict:
    """A reference rate, for reading the ratios (not a target): nlp.pipe without our two
    components (the model's own components only), n_process as the ceiling's: what spaCy's
    Doc shipping costs without our extension values on the Docs."""
    import spacy

    from indexer.enrich.pipeline import model_name

    texts = random.Random(f"ceiling-other-{seed}").sample(pool, min(sample, len(pool)))
    results = {"docs": len(texts)}
    bare = spacy.load(model_name(), exclude=["parser"])
    for _ in bare.pipe(texts[:BATCH_SIZE], batch_size=BATCH_SIZE):
        pass
    started = time.perf_counter()
    count = sum(1 for _ in bare.pipe(texts, batch_size=BATCH_SIZE, n_process=processes))
    results["bare_n_process_docs_per_s"] = round(count / (time.perf_counter() - started), 1)
    results["bare_pipeline"] = bare.pipe_names
    _log(f"other ceilings on {len(texts)} texts: {results}")
    return results


# --- one reindex process, timed and sampled ------------------------------------------------


class _TreeSampler(threading.Thread):
    """Peak of the summed RSS (and PSS) of a process and all its descendants."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_parent_rss = 0
        self.peak_processes = 0
        self.samples = 0
        self.cpu_seconds: dict[int, float] = {}  # last seen user+system time per process
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            rss = pss = 0
            with_pss = self.samples % PSS_EVERY == 0
            for process in tree:
                try:
                    if with_pss:
                        info = process.memory_full_info()
                        rss, pss = rss + info.rss, pss + info.pss
                    else:
                        rss += process.memory_info().rss
                    if process is self.root:
                        self.peak_parent_rss = max(self.peak_parent_rss, process.memory_info().rss)
                    times = process.cpu_times()
                    self.cpu_seconds[process.pid] = times.user + times.system
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, len(tree))
            self.samples += 1
            self._halt.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._halt.set()
        self.join()


class _MachineLoad:
    """CPU seconds the whole machine spent busy during a phase, beside what we spent.

    The machine may be shared: `other_cpu_seconds` (busy time not spent by the measured
    processes nor by this script) says how much a figure may be disturbed.
    """

    def __init__(self) -> None:
        self._machine = self._busy()
        self._own = self._own_cpu()
        self._wall = time.perf_counter()

    def result(self, measured_cpu: float) -> dict:
        busy = self._busy() - self._machine
        own = self._own_cpu() - self._own
        wall = time.perf_counter() - self._wall
        return {"machine_busy_cpu_seconds": round(busy, 1),
                "measured_cpu_seconds": round(measured_cpu, 1),
                "benchmark_script_cpu_seconds": round(own, 1),
                "other_cpu_seconds": round(max(0.0, busy - measured_cpu - own), 1),
                "cpu_capacity_seconds": round(wall * (os.cpu_count() or 1), 1),
                "loadavg_1min_at_end": round(os.getloadavg()[0], 2)}

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return sum(getattr(times, name, 0.0) for name in
                   ("user", "nice", "system", "irq", "softirq", "steal"))

    @staticmethod
    def _own_cpu() -> float:
        times = psutil.Process().cpu_times()
        return times.user + times.system


def snapshot_code(work: Path) -> Path:
    """A copy of the code the reindex processes run, taken once at the start of the run.

    The enrichment cache's fingerprint hashes every source file of indexer/enrich: an edit
    to the working tree between the cold and the warm run would empty the cache and turn
    the warm run into a cold one. Running from a snapshot keeps the run self-consistent.
    """
    code = work / "code"
    shutil.rmtree(code, ignore_errors=True)
    code.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("indexer", "service"):
        shutil.copytree(REPO / package, code / package, ignore=ignore)
    return code


def _eventsearch(code: Path | None) -> tuple[list[str], dict[str, str]]:
    """The `eventsearch` command and environment: the installed one, or the snapshot's."""
    env = dict(os.environ)
    if code is None:
        return [str(EVENTSEARCH)], env
    env["PYTHONPATH"] = os.pathsep.join([str(code), *filter(None, [env.get("PYTHONPATH")])])
    return [sys.executable, "-m", "indexer.cli"], env


def run_reindex(label: str, dump: Path, data_dir: Path, processes: int, log_dir: Path,
                code: Path | None = None, cluster: str | None = None) -> dict:
    program, env = _eventsearch(code)
    workers = ["--cluster", cluster] if cluster else ["--processes", str(processes)]
    command = [*program, "reindex", str(dump), "--data-dir", str(data_dir), *workers,
               "--json", "--no-progress"]
    _log(f"{label}: {' '.join(command)}")
    stderr_path = log_dir / f"{label}.stderr.txt"
    with stderr_path.open("wb") as stderr:
        load = _MachineLoad()
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr,
                                   cwd=code or REPO, env=env)
        sampler = _TreeSampler(process.pid)
        sampler.start()
        stdout, _ = process.communicate()
        wall = time.perf_counter() - started
        sampler.stop()
    result = {"command": command, "exit_code": process.returncode, "wall_seconds": round(wall, 2),
              "peak_rss_bytes": sampler.peak_rss, "peak_pss_bytes": sampler.peak_pss,
              "peak_parent_rss_bytes": sampler.peak_parent_rss,
              "peak_processes": sampler.peak_processes, "rss_samples": sampler.samples,
              "load": load.result(sum(sampler.cpu_seconds.values())),
              "stderr": str(stderr_path)}
    try:
        summary = json.loads(stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        result["error"] = f"no JSON summary (exit {process.returncode}); see {stderr_path}"
        _log(f"  FAILED: {result['error']}")
        return result
    result["summary"] = summary
    result["index_bytes"] = live_generation_bytes(data_dir)
    indexed = summary["indexed"]
    result["events_per_s_end_to_end"] = round(indexed / wall, 1)
    if summary.get("seconds"):
        result["events_per_s_in_run"] = round(indexed / summary["seconds"], 1)
        result["startup_seconds"] = round(wall - summary["seconds"], 2)
    _log(f"  {indexed} indexed in {wall:.1f} s wall: {result['events_per_s_end_to_end']} "
         f"events/s end to end; peak tree RSS {_gib(sampler.peak_rss)}, "
         f"PSS {_gib(sampler.peak_pss)}, {sampler.peak_processes} processes")
    return result


def check_counts(result: dict, manifest: dict, expect_cache_hits: int) -> list[str]:
    """What does not add up in a reindex summary (empty when all is well)."""
    summary = result.get("summary")
    if summary is None:
        return [result.get("error", "no summary")]
    problems = []
    if result["exit_code"] != 0:
        problems.append(f"exit code {result['exit_code']}")
    if summary["read"] != summary["indexed"] + summary["merged"] + summary["rejected"]:
        problems.append("read != indexed + merged + rejected")
    if summary["read"] != manifest["events"]:
        problems.append(f"read {summary['read']} != {manifest['events']} events in the dump")
    if summary["indexed"] != manifest["events"]:
        problems.append(f"indexed {summary['indexed']} != {manifest['events']} events")
    if summary["rejected"]:
        problems.append(f"{summary['rejected']} rejected")
    if summary["cache_hits"] != expect_cache_hits:
        problems.append(f"cache hits {summary['cache_hits']} != {expect_cache_hits} expected")
    return problems


# --- searching during the generation swap --------------------------------------------------


_QUERIES = ("election", "missile", "flood", "court", "vaccine", "president", "police",
            "Ukraine", "climate", "protest")


def swap_check(dump: Path, data_dir: Path, processes: int, log_dir: Path,
               code: Path | None = None) -> dict:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    program, env = _eventsearch(code)
    env["EVENTSEARCH_RELOAD_INTERVAL"] = "0.5"
    env.pop("EVENTSEARCH_API_KEY", None)
    server_log = (log_dir / "swap-server.stderr.txt").open("wb")
    server = subprocess.Popen(
        [*program, "serve", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=server_log, stderr=subprocess.STDOUT, cwd=code or REPO, env=env)
    try:
        before = _wait_healthy(base, server)
        stats = {"requests": 0, "failures": 0, "errors": []}
        stop = threading.Event()

        def client() -> None:
            number = 0
            while not stop.is_set():
                query = _QUERIES[number % len(_QUERIES)]
                number += 1
                url = f"{base}/api/search?q={query}&size=10"
                try:
                    with urllib.request.urlopen(url, timeout=10) as response:
                        body = json.loads(response.read())
                        ok = response.status == 200 and "hits" in body
                except (urllib.error.URLError, OSError, ValueError) as error:
                    ok = False
                    if len(stats["errors"]) < 10:
                        stats["errors"].append(f"{type(error).__name__}: {error}")
                stats["requests"] += 1
                stats["failures"] += 0 if ok else 1

        thread = threading.Thread(target=client, daemon=True)
        thread.start()
        time.sleep(2.0)
        reindex = run_reindex("swap-reindex", dump, data_dir, processes, log_dir, code)
        new = (reindex.get("summary") or {}).get("generation")
        switched_after = None
        waited = time.perf_counter()
        while time.perf_counter() - waited < 30:
            health = _get_json(f"{base}/health")
            if health and health.get("generation") == new:
                switched_after = round(time.perf_counter() - waited, 2)
                break
            time.sleep(0.1)
        time.sleep(2.0)  # keep searching on the new generation for a while
        stop.set()
        thread.join()
        return {"requests": stats["requests"], "failures": stats["failures"],
                "errors": stats["errors"], "generation_before": before.get("generation"),
                "generation_after": new, "switched_seconds_after_reindex": switched_after,
                "reindex_exit_code": reindex["exit_code"],
                "reindex_wall_seconds": reindex["wall_seconds"]}
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        server_log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _wait_healthy(base: str, server: subprocess.Popen, timeout: float = 120) -> dict:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode} before it was healthy")
        health = _get_json(f"{base}/health")
        if health and health.get("status") == "ok":
            return health
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {timeout} s")


# --- the real archive ----------------------------------------------------------------------


def check_portal_counts(result: dict, events_in_file: int, warm: bool) -> list[str]:
    """What does not add up in a reindex summary of the archive (empty when all is well)."""
    summary = result.get("summary")
    if summary is None:
        return [result.get("error", "no summary")]
    problems = []
    if result["exit_code"] not in (0, 3):
        problems.append(f"exit code {result['exit_code']}")
    if summary["read"] != summary["indexed"] + summary["merged"] + summary["rejected"]:
        problems.append("read != indexed + merged + rejected")
    if summary["read"] != events_in_file:
        problems.append(f"read {summary['read']} != {events_in_file} lines in the file")
    if warm and summary["cache_hits"] < summary["indexed"]:
        problems.append(f"cache hits {summary['cache_hits']} < {summary['indexed']} indexed")
    return problems


def run_portal(args: argparse.Namespace) -> int:
    """Cold and warm reindex of the whole archive; see the module's docstring."""
    portal = require_portal(args.portal)
    work = portal_root(args.out).resolve()
    log_dir = work / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    headlines = portal_headlines(portal)
    results: dict = {"meta": {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total, "seed": args.seed,
        "portal": str(portal), "events_in_file": len(headlines), "processes": args.processes}}
    try:
        results["ceiling"] = measure_ceiling(headlines, args.ceiling_sample, args.processes,
                                             args.seed)
    except Exception as error:  # report it and still measure the reindex runs
        results["ceiling"] = {"error": f"{type(error).__name__}: {error}"}
    data_dir = work / "ours"
    shutil.rmtree(data_dir, ignore_errors=True)  # empty, so the enrichment cache is empty
    code = snapshot_code(work) if args.snapshot else None
    for label in ("cold", "warm"):
        results[label] = run_reindex(f"portal-{label}", portal, data_dir, args.processes,
                                     log_dir, code)
    results["counts"] = {label: check_portal_counts(results[label], len(headlines),
                                                    warm=label == "warm")
                         for label in ("cold", "warm")}
    if "summary" in results["warm"]:  # search.py and web.py --corpus portal reuse this index
        (data_dir / "built.json").write_text(json.dumps(
            {"reindex": results["warm"]["summary"], "by": "benchmarks/reindex.py --portal"}))
    synthetic_path = args.out / "reindex.json"
    synthetic = json.loads(synthetic_path.read_text()) if synthetic_path.exists() else None
    markdown = portal_table(results, synthetic)
    print(markdown)
    (args.out / "reindex-portal.json").write_text(
        json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    (args.out / "reindex-portal.md").write_text(
        f"# Reindex benchmark, real archive, {results['meta']['date']}\n\n{portal}, "
        f"--processes {args.processes}.\n\n{markdown}\n", encoding="utf-8")
    failed = any(results["counts"].values()) or "error" in results["ceiling"]
    return 1 if failed else 0


def _summary_text(run: dict) -> str:
    summary = run.get("summary")
    if not summary:
        return "failed"
    return (f"read {summary['read']:,} = indexed {summary['indexed']:,} + merged "
            f"{summary['merged']:,} + rejected {summary['rejected']:,}; "
            f"cache hits {summary['cache_hits']:,}")


def _rate(run: dict | None, key: str) -> str:
    value = (run or {}).get(key)
    return f"{value:,.1f} events/s" if value else "n/a"


def _size(run: dict | None) -> str:
    run = run or {}
    if "index_bytes" not in run:
        return "n/a"
    per_event = run["index_bytes"] / max(1, run["summary"]["indexed"])
    return f"{run['index_bytes'] / 1024**2:,.0f} MiB ({per_event:,.0f} B/event)"


def _cold_ratio(results: dict | None, ceiling_key: str = "linear_docs_per_s") -> float | None:
    """The cold reindex's rate over a ceiling: the linear one (one process's nlp.pipe x
    processes) or, with ceiling_key="docs_per_s", spaCy's n_process."""
    ceiling = ((results or {}).get("ceiling") or {}).get(ceiling_key)
    cold = ((results or {}).get("cold") or {}).get("events_per_s_end_to_end")
    return cold / ceiling if cold and ceiling else None


def _docs_per_s(ceiling: dict | None, key: str) -> str:
    value = (ceiling or {}).get(key)
    return f"{value:,.1f} docs/s" if value else "n/a"


def _ratio(value: float | None) -> str:
    return f"{value:.3f}" if value else "n/a"


def portal_table(results: dict, synthetic: dict | None) -> str:
    """The archive's figures, with the synthetic run's (its last reindex.json) beside them."""
    cold, warm = results["cold"], results["warm"]
    other = synthetic or {}
    meta = other.get("meta", {})
    ratio, other_ratio = _cold_ratio(results), _cold_ratio(synthetic)
    mine, theirs = results["ceiling"], other.get("ceiling")
    rows = [
        ("summary, cold", _summary_text(cold), "", "", ""),
        ("summary, warm", _summary_text(warm), "", "", ""),
        ("spaCy ceiling: one process's nlp.pipe x processes (full pipeline; synthetic: pool "
         "texts)", _docs_per_s(mine, "linear_docs_per_s"),
         _docs_per_s(theirs, "linear_docs_per_s"), "", ""),
        ("spaCy's own nlp.pipe n_process (ships Docs back; a weak baseline)",
         _docs_per_s(mine, "docs_per_s"), _docs_per_s(theirs, "docs_per_s"), "", ""),
        ("cold reindex, empty cache (end to end)", _rate(cold, "events_per_s_end_to_end"),
         _rate(other.get("cold"), "events_per_s_end_to_end"), "", ""),
        ("cold / ceiling (one process x processes)", _ratio(ratio), _ratio(other_ratio),
         f">= {TARGET_COLD_RATIO}", _verdict(ratio >= TARGET_COLD_RATIO if ratio else None)),
        ("cold / spaCy n_process", _ratio(_cold_ratio(results, "docs_per_s")),
         _ratio(_cold_ratio(synthetic, "docs_per_s")), "", ""),
        ("cold reindex, rate over the summary's seconds", _rate(cold, "events_per_s_in_run"),
         _rate(other.get("cold"), "events_per_s_in_run"), "", ""),
        ("warm reindex, full cache (end to end)", _rate(warm, "events_per_s_end_to_end"),
         _rate(other.get("warm"), "events_per_s_end_to_end"), f">= {TARGET_WARM_RATE:,.0f}",
         _verdict(warm["events_per_s_end_to_end"] >= TARGET_WARM_RATE
                  if warm.get("events_per_s_end_to_end") else None)),
        ("warm reindex, rate over the summary's seconds", _rate(warm, "events_per_s_in_run"),
         _rate(other.get("warm"), "events_per_s_in_run"), "", ""),
        ("index size on disk (the warm run's live generation)", _size(warm),
         _size(other.get("warm")), "", ""),
    ]
    for label, run in (("cold", cold), ("warm", warm)):
        if "peak_rss_bytes" in run:
            theirs = other.get(label, {}).get("peak_rss_bytes")
            rows.append((f"peak RSS, {label} (process tree sum; PSS {_gib(run['peak_pss_bytes'])})",
                         _gib(run["peak_rss_bytes"]), _gib(theirs) if theirs else "n/a",
                         "<= 2.00 GiB", _verdict(run["peak_rss_bytes"] <= TARGET_PEAK_RSS)))
    for label in ("cold", "warm"):
        problems = results["counts"][label]
        rows.append((f"counts add up, {label}", "yes" if not problems else "; ".join(problems),
                     "", "yes", _verdict(not problems)))
    loads = [part.get("load") for part in (results["ceiling"], cold, warm)]
    rows.append(("CPU seconds used by other processes (ceiling, cold, warm)",
                 ", ".join(f"{load['other_cpu_seconds']:.0f} of {load['cpu_capacity_seconds']:.0f}"
                           if load else "n/a" for load in loads), "", "~0", ""))
    if synthetic:
        heading = (f"synthetic: {meta['events_cold']:,} cold / {meta['events_warm']:,} warm "
                   f"events, run {meta['date']}")
    else:
        heading = "synthetic: no reindex.json in the results directory"
    lines = [f"| figure | real archive: {results['meta']['events_in_file']:,} events, "
             f"run {results['meta']['date']} | {heading} | target | |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    return "\n".join(lines)


# --- report --------------------------------------------------------------------------------


def _gib(value: int) -> str:
    return f"{value / 1024**3:.2f} GiB"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def table(results: dict) -> str:
    ceiling = results.get("ceiling")
    cold, warm = results["cold"], results["warm"]
    cold_rate = cold.get("events_per_s_end_to_end")
    warm_rate = warm.get("events_per_s_end_to_end")
    ratio = _cold_ratio(results)
    n_cold, n_warm = results["meta"]["events_cold"], results["meta"]["events_warm"]
    rows = [
        ("spaCy ceiling: one process's nlp.pipe x processes (full pipeline)",
         _docs_per_s(ceiling, "linear_docs_per_s"), "", ""),
        ("spaCy's own nlp.pipe n_process (ships Docs back; a weak baseline)",
         _docs_per_s(ceiling, "docs_per_s"), "", ""),
        (f"cold reindex, {n_cold:,} events, empty cache (end to end)",
         f"{cold_rate:,.1f} events/s" if cold_rate else "failed", "", ""),
        ("cold / ceiling (one process x processes)", _ratio(ratio), f">= {TARGET_COLD_RATIO}",
         _verdict(ratio >= TARGET_COLD_RATIO if ratio else None)),
        ("cold / spaCy n_process", _ratio(_cold_ratio(results, "docs_per_s")), "", ""),
        ("cold reindex, rate over the summary's seconds (no interpreter start or model load)",
         f"{cold.get('events_per_s_in_run', 0):,.1f} events/s", "", ""),
        (f"warm reindex, {n_warm:,} events, full cache (end to end)",
         f"{warm_rate:,.1f} events/s" if warm_rate else "failed", f">= {TARGET_WARM_RATE:,.0f}",
         _verdict(warm_rate >= TARGET_WARM_RATE if warm_rate else None)),
        ("warm reindex, rate over the summary's seconds",
         f"{warm.get('events_per_s_in_run', 0):,.1f} events/s", "", ""),
    ]
    other = results.get("other_ceilings", {})
    if cold_rate and "bare_n_process_docs_per_s" in other:
        bare = other["bare_n_process_docs_per_s"]
        rows.append(("reference: bare model nlp.pipe, same n_process; cold / it",
                     f"{bare:,.1f} docs/s; {cold_rate / bare:.3f}", "", ""))
    for label, run in (("cold", cold), ("warm", warm)):
        if "peak_rss_bytes" in run:
            rows.append((f"peak RSS, {label} (process tree sum; PSS {_gib(run['peak_pss_bytes'])})",
                         _gib(run["peak_rss_bytes"]), "<= 2.00 GiB",
                         _verdict(run["peak_rss_bytes"] <= TARGET_PEAK_RSS)))
    rows.append(("index size on disk (the warm run's live generation)", _size(warm), "", ""))
    for label in ("cold", "warm"):
        problems = results["counts"][label]
        rows.append((f"counts add up, {label}", "yes" if not problems else "; ".join(problems),
                     "yes", _verdict(not problems)))
    swap = results.get("swap")
    if swap and "requests" in swap:
        rows.append((f"failed searches during the swap ({swap['requests']} requests)",
                     str(swap["failures"]), "0",
                     _verdict(swap["failures"] == 0 and swap["switched_seconds_after_reindex"]
                              is not None)))
    elif swap:
        rows.append(("searches during the swap", f"failed: {swap.get('error')}", "0", "FAIL"))
    loads = [(name, part.get("load")) for name, part in
             (("ceiling", results.get("ceiling", {})), ("cold", cold), ("warm", warm))]
    rows.append(("CPU seconds used by other processes on the machine (ceiling, cold, warm)",
                 ", ".join(f"{load['other_cpu_seconds']:.0f} of {load['cpu_capacity_seconds']:.0f}"
                           if load else "n/a" for _, load in loads), "~0", ""))
    lines = ["| figure | value | target | |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


# --- Dask against the fork pool (--cluster local:N) -----------------------------------------


def run_cluster_comparison(args: argparse.Namespace, work: Path, log_dir: Path) -> int:
    """Cold reindex of one dump with the fork pool (--processes N) and on Dask (N workers),
    in one run: on a LocalCluster that is already up with the pipeline loaded (a long-lived
    cluster, the steady state) and with `--cluster local:N` end to end (its start and the
    workers' model load timed). Then a warm reindex (cache full, no NLP): the single
    writer's rate, the serial part when workers are added."""
    import distributed

    from indexer.dask_enrichment import PipelineOnWorker, local_cluster, plugin_name
    from indexer.enrich.cache import fingerprint
    from indexer.enrich.pipeline import load_pipeline, model_name

    workers = int(args.cluster.removeprefix("local:"))
    dump, manifest = ensure_dump(work, "cold", args.events_cold, args.events_cold, args.seed)
    data = {name: work / f"data-{name}" for name in ("fork", "dask-up", "dask-local")}
    for path in data.values():
        shutil.rmtree(path, ignore_errors=True)  # empty caches: every run is cold
    results: dict = {"meta": {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "cpus": os.cpu_count(), "seed": args.seed,
        "events": args.events_cold, "workers": workers, "code": str(REPO)}}
    results["fork"] = run_reindex("cold-fork", dump, data["fork"], workers, log_dir)
    started = time.perf_counter()
    with local_cluster(workers) as cluster, distributed.Client(cluster) as client:
        client_fingerprint = fingerprint(load_pipeline())
        client.register_plugin(PipelineOnWorker(model_name()),
                               name=plugin_name(client_fingerprint))
        results["cluster_start_seconds"] = round(time.perf_counter() - started, 2)
        workers_cpu = sum(client.run(_own_cpu_seconds).values())
        results["dask-up"] = run_reindex("cold-dask-up", dump, data["dask-up"], workers,
                                         log_dir, cluster=cluster.scheduler_address)
        # The workers are this script's children, not the reindex's: count their CPU here.
        results["dask-up"]["workers_cpu_seconds"] = round(
            sum(client.run(_own_cpu_seconds).values()) - workers_cpu, 1)
    results["dask-local"] = run_reindex("cold-dask-local", dump, data["dask-local"], workers,
                                        log_dir, cluster=args.cluster)
    results["warm"] = run_reindex("warm-writer-only", dump, data["fork"], workers, log_dir)
    results["counts"] = {
        name: check_counts(results[name], manifest, expect_cache_hits=0)
        for name in ("fork", "dask-up", "dask-local")}
    results["counts"]["warm"] = check_counts(results["warm"], manifest,
                                             expect_cache_hits=manifest["events"])
    markdown = cluster_table(results)
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reindex-cluster.json").write_text(
        json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    meta = results["meta"]
    (args.out / "reindex-cluster.md").write_text(
        f"# Reindex on Dask against the fork pool, {meta['date']}\n\n{meta['cpus']} CPUs, "
        f"Python {meta['python']}, {meta['events']:,} events, {workers} workers, seed "
        f"{meta['seed']}.\n\n{markdown}\n", encoding="utf-8")
    return 1 if any(results["counts"].values()) else 0


def _own_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def _cpu_per_1000_events(run: dict, events: int) -> float | None:
    """CPU seconds of every process of the run (reindex, its forks or the Dask workers,
    the benchmark script holding the scheduler for the cluster already up) per 1000 events:
    what the run costs whatever else the machine is doing."""
    load = run.get("load")
    if not load:
        return None
    cpu = load["measured_cpu_seconds"] + run.get("workers_cpu_seconds", 0)
    if "workers_cpu_seconds" in run:
        cpu += load["benchmark_script_cpu_seconds"]
    return 1000 * cpu / events


def _in_run_rate(run: dict) -> float | None:
    return run.get("events_per_s_in_run")


def cluster_table(results: dict) -> str:
    fork, up, local, warm = (results[k] for k in ("fork", "dask-up", "dask-local", "warm"))
    workers, events = results["meta"]["workers"], results["meta"]["events"]
    rows = [(f"fork pool, --processes {workers}, cold", fork),
            (f"Dask, {workers} workers already up (pipeline loaded), cold", up),
            (f"Dask, --cluster local:{workers} (start and model load timed), cold", local)]
    lines = ["| run | events/s end to end | events/s in run | / fork pool (in run) | target |",
             "| --- | --- | --- | --- | --- |"]
    base = _in_run_rate(fork)
    for label, run in rows:
        rate = _in_run_rate(run)
        ratio = rate / base if rate and base else None
        passed = ratio >= TARGET_CLUSTER_RATIO if ratio else None
        target = "" if run is fork else f">= {TARGET_CLUSTER_RATIO} {_verdict(passed)}"
        lines.append(f"| {label} | {run.get('events_per_s_end_to_end', 'failed')} | "
                     f"{rate or 'failed'} | {_ratio(ratio) if run is not fork else '1'} | "
                     f"{target} |")
    lines.append(f"| warm (cache full, no NLP): the writer alone | "
                 f"{warm.get('events_per_s_end_to_end', 'failed')} | {_in_run_rate(warm)} | | |")
    fork_cpu, up_cpu = _cpu_per_1000_events(fork, events), _cpu_per_1000_events(up, events)
    if fork_cpu and up_cpu:
        lines += ["", f"CPU seconds per 1000 events, every process of the run: fork pool "
                      f"{fork_cpu:.2f}, Dask already up {up_cpu:.2f} (scheduler and the "
                      f"benchmark script included): fork / Dask = {fork_cpu / up_cpu:.3f}, the "
                      "ratio that holds whatever else the machine runs."]
    loads = [run.get("load", {}).get("other_cpu_seconds") for run in (fork, up, local, warm)]
    capacity = [run.get("load", {}).get("cpu_capacity_seconds") for run in (fork, up, local, warm)]
    lines.append("CPU seconds used by other processes on the machine (fork, Dask up, Dask "
                 "local, warm): " + ", ".join(f"{o:.0f} of {c:.0f}" if o is not None else "n/a"
                                              for o, c in zip(loads, capacity)) + ".")
    cluster = up.get("summary", {}).get("cluster") or {}
    if cluster:
        sent, received = cluster["bytes_sent"], cluster["bytes_received"]
        lines += ["", f"Bytes per event over the wire (msgpack payloads, Dask's framing not "
                      f"included): {sent / events:.1f} sent, {received / events:.1f} received, "
                      f"{cluster['partitions']} partitions of up to {BATCH_SIZE} headlines."]
    if base:
        lines.append(f"Events/s per worker core (fork pool, in run): {base / workers:,.1f}; "
                     f"Dask: {(_in_run_rate(up) or 0) / workers:,.1f}.")
    if up.get("workers_cpu_seconds"):
        lines.append(f"Events per CPU-second of a Dask worker (its own CPU time, so whatever "
                     f"the machine's load): {events / up['workers_cpu_seconds']:,.1f}.")
    lines.append(f"Cluster start with the pipeline loaded on {workers} workers: "
                 f"{results['cluster_start_seconds']} s.")
    for name, problems in results["counts"].items():
        lines.append(f"Counts add up, {name}: {'yes' if not problems else '; '.join(problems)}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Cold and warm `eventsearch reindex` throughput and peak memory against "
                    "the raw spaCy nlp.pipe ceiling, measured in one run.",
        epilog=f"Targets: cold >= {TARGET_COLD_RATIO:.0%} of the ceiling (one process's "
               "nlp.pipe rate x --processes); warm >= "
               f"{TARGET_WARM_RATE:,.0f} events/s end to end; peak RSS <= 2 GiB; no failed "
               "search during the generation swap.")
    parser.add_argument("--events-cold", type=int, default=100_000,
                        help="events of the cold dump = distinct pool texts (default: %(default)s)")
    parser.add_argument("--events-warm", type=int, default=1_000_000,
                        help="events of the warm dump, drawn from the same pool "
                             "(default: %(default)s)")
    parser.add_argument("--processes", type=int, default=2,
                        help="NLP processes for reindex and the ceiling (default: %(default)s)")
    parser.add_argument("--portal", type=Path, nargs="?", const=DEFAULT_PORTAL, default=None,
                        metavar="PATH",
                        help="measure the real archive instead of the synthetic dumps: cold "
                             "and warm reindex of the whole file (PATH defaults to "
                             f"{DEFAULT_PORTAL}); --events-*, --work-dir, "
                             "--other-ceilings-sample and --no-swap-check do not apply")
    parser.add_argument("--seed", type=int, default=20220701)
    parser.add_argument("--ceiling-sample", type=int, default=20_000,
                        help="pool texts (with --portal: archive headlines) for the nlp.pipe "
                             "ceiling (default: %(default)s)")
    parser.add_argument("--other-ceilings-sample", type=int, default=5_000,
                        help="pool texts for a reference rate beside the ceilings (the bare "
                             "model with n_process); 0 skips it (default: %(default)s)")
    parser.add_argument("--no-snapshot", dest="snapshot", action="store_false",
                        help="run the installed code instead of a copy of indexer/ and "
                             "service/ taken at the start (edits during the run would then "
                             "change the cache fingerprint between cold and warm)")
    parser.add_argument("--no-swap-check", dest="swap_check", action="store_false",
                        help="skip searching during a generation swap")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="results directory (default: %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="dumps and data directory (default: OUT/reindex-work)")
    parser.add_argument("--cluster", default=None, metavar="local:N",
                        help="instead: cold reindex of the --events-cold dump with the fork pool "
                             "(--processes N) against Dask with N workers (a LocalCluster "
                             "already up, and --cluster local:N end to end), then a warm run "
                             "(the writer alone); writes reindex-cluster.json and .md")
    args = parser.parse_args(argv)
    if args.cluster:
        if not args.cluster.startswith("local:") or \
                not args.cluster.removeprefix("local:").isdigit():
            parser.error("--cluster takes local:N")
        work = (args.work_dir or args.out / "reindex-work").resolve()
        (work / "logs").mkdir(parents=True, exist_ok=True)
        return run_cluster_comparison(args, work, work / "logs")
    if args.portal:
        args.out.mkdir(parents=True, exist_ok=True)
        return run_portal(args)
    work = (args.work_dir or args.out / "reindex-work").resolve()
    log_dir = work / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    pool_size = args.events_cold

    cold_dump, cold_manifest = ensure_dump(work, "cold", args.events_cold, pool_size, args.seed)
    warm_dump, warm_manifest = ensure_dump(work, "warm", args.events_warm, pool_size, args.seed)
    if cold_manifest["pool_digest"] != warm_manifest["pool_digest"]:
        raise SystemExit("cold and warm dumps were drawn from different pools")

    results: dict = {"meta": {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total, "seed": args.seed,
        "events_cold": args.events_cold, "events_warm": args.events_warm, "pool": pool_size,
        "processes": args.processes, "rss_method": "psutil: RSS of the reindex process and all "
        f"descendants summed, sampled every {SAMPLE_INTERVAL} s; PSS every "
        f"{SAMPLE_INTERVAL * PSS_EVERY:.0f} s",
        "dumps": {"cold": cold_manifest, "warm": warm_manifest}}}

    try:
        pool = generate_dump.build_pool(pool_size, args.seed)
        results["ceiling"] = measure_ceiling(pool, args.ceiling_sample, args.processes, args.seed)
    except Exception as error:  # report it and still measure the reindex runs
        results["ceiling"] = {"error": f"{type(error).__name__}: {error}"}
    if args.other_ceilings_sample:
        try:
            results["other_ceilings"] = measure_other_ceilings(
                pool, args.other_ceilings_sample, args.processes, args.seed)
        except Exception as error:
            results["other_ceilings"] = {"error": f"{type(error).__name__}: {error}"}

    data_dir = work / "data"
    shutil.rmtree(data_dir, ignore_errors=True)  # empty, so the enrichment cache is empty
    code = snapshot_code(work) if args.snapshot else None
    results["meta"]["code"] = str(code) if code else str(REPO)
    results["cold"] = run_reindex("cold", cold_dump, data_dir, args.processes, log_dir, code)
    results["warm"] = run_reindex("warm", warm_dump, data_dir, args.processes, log_dir, code)
    results["counts"] = {
        "cold": check_counts(results["cold"], cold_manifest, expect_cache_hits=0),
        # A full cache serves every event's labels: hits = events indexed.
        "warm": check_counts(results["warm"], warm_manifest,
                             expect_cache_hits=warm_manifest["events"]),
    }
    if args.swap_check:
        try:
            results["swap"] = swap_check(cold_dump, data_dir, args.processes, log_dir, code)
        except Exception as error:
            results["swap"] = {"error": f"{type(error).__name__}: {error}"}

    markdown = table(results)
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reindex.json").write_text(json.dumps(results, indent=2, default=str) + "\n",
                                           encoding="utf-8")
    meta = results["meta"]
    (args.out / "reindex.md").write_text(
        f"# Reindex benchmark, {meta['date']}\n\n{meta['cpus']} CPUs, "
        f"{meta['memory_bytes'] / 1024**3:.0f} GiB, Python {meta['python']}, "
        f"--processes {meta['processes']}, seed {meta['seed']}. Peak RSS: {meta['rss_method']}."
        f"\n\n{markdown}\n", encoding="utf-8")
    failed = any(results["counts"].values()) or "error" in results["ceiling"]
    return 1 if failed else 0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
