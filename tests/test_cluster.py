"""Enrichment on Dask (`reindex --cluster`): a real LocalCluster of worker processes, each
loading the real spaCy pipeline, against the same reindex run locally. The index must be
the same event by event; a worker killed mid-run, a partition that fails on every try and
a second run served from the enrichment cache each keep the counts adding up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed
import pytest
import tantivy

from indexer.dask_enrichment import CRASH_ENV, local_cluster, plugin_name
from indexer.enrich.cache import fingerprint
from indexer.index import storage
from indexer.ingest import IngestOptions, reindex
from tests.conftest import REPO, SAMPLE_DUMP, SHARED

REDDIT = SHARED / "corpora" / "reddit-news-headlines-2022-07.json"
# Headlines holding this make a worker fail (the product's fault-injection point).
FAIL_MARKER = "zz-enrichment-fails-here-zz"
BATCH = 64  # small partitions, so a run has enough of them to be killed in the middle


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes (each with its nanny, which restarts it), whose
    environment asks them to fail on FAIL_MARKER (a worker restarted after the kill test's
    too: set in the test process only at start, a CI run's replacement lacked it and its
    retry labelled the partition)."""
    with local_cluster(2, env={CRASH_ENV: FAIL_MARKER}) as local, \
            distributed.Client(local) as client:
        yield local.scheduler_address, client


def reddit_dump(path: Path, count: int, extra: list[str] = ()) -> Path:
    titles = [item["title"] for item in json.loads(REDDIT.read_text())[:count]]
    with path.open("w") as out:
        for number, title in enumerate([*titles, *extra]):
            out.write(json.dumps({"id": f"r{number}", "date": "2022-07-08",
                                  "headline": title}) + "\n")
    return path


def stored_events(data_dir: Path) -> dict[str, dict]:
    """Every document of the live generation, all its stored fields, by id."""
    index = storage.open_index(data_dir)
    searcher = index.searcher()
    hits = searcher.search(tantivy.Query.all_query(), limit=max(1, searcher.num_docs)).hits
    documents = [searcher.doc(address).to_dict() for _, address in hits]
    return {document["id"][0]: document for document in documents}


def worker_counts(client, attribute: str, fingerprint_: str) -> int:
    name = plugin_name(fingerprint_)
    # 0 on a worker that has not loaded the pipeline yet (this test runs first, or alone).
    counts = client.run(lambda dask_worker: getattr(dask_worker.plugins.get(name), attribute, 0))
    return sum(counts.values())


def adds_up(summary) -> bool:
    return summary.read == summary.indexed + summary.merged + summary.rejected


def test_a_cluster_reindex_writes_the_index_a_local_one_does_event_by_event(
        cluster, nlp, tmp_path):
    address, client = cluster
    local = reindex([SAMPLE_DUMP], tmp_path / "local", IngestOptions(nlp=nlp, processes=1))
    on_cluster = reindex([SAMPLE_DUMP], tmp_path / "cluster",
                         IngestOptions(nlp=nlp, cluster=address, batch_size=BATCH))

    assert adds_up(on_cluster) and not on_cluster.rejected
    assert (on_cluster.read, on_cluster.indexed, on_cluster.merged, on_cluster.suggested) == \
        (local.read, local.indexed, local.merged, local.suggested)
    # The labels came from the workers, not from this process.
    workers = set(client.run(os.getpid).values())
    assert set(on_cluster.nlp_processes) == workers
    assert sum(on_cluster.nlp_processes.values()) == on_cluster.cluster["headlines"] > 4000
    local_events, cluster_events = stored_events(tmp_path / "local"), \
        stored_events(tmp_path / "cluster")
    assert local_events.keys() == cluster_events.keys()
    for event_id, document in local_events.items():
        assert cluster_events[event_id] == document, event_id
    # Story links were made, and made the same: the comparison covers them.
    assert on_cluster.suggested > 0


def test_a_worker_killed_mid_run_loses_nothing(cluster, nlp, tmp_path):
    address, client = cluster
    dump = reddit_dump(tmp_path / "reddit.ndjson", 1500)
    local = reindex([dump], tmp_path / "local", IngestOptions(nlp=nlp, processes=1))
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    killed = threading.Event()

    def kill_when_busy() -> None:
        # The victim holds a partition now: the run is under way, and that partition dies.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if client.processing().get(victim):
                os.kill(pids[victim], signal.SIGKILL)
                killed.set()
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    summary = reindex([dump], tmp_path / "cluster",
                      IngestOptions(nlp=nlp, cluster=address, batch_size=BATCH))
    killer.join()

    assert killed.is_set()
    assert adds_up(summary) and not summary.rejected
    assert summary.indexed == local.indexed == 1500
    assert stored_events(tmp_path / "cluster") == stored_events(tmp_path / "local")
    # The nanny replaced the killed worker with a new process.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = set(client.run(os.getpid).values())
        if len(now) == 2 and pids[victim] not in now:
            break
        time.sleep(0.5)
    assert len(now) == 2 and pids[victim] not in now


def test_a_partition_that_fails_every_try_is_rejected_record_by_record(cluster, nlp, tmp_path):
    address, client = cluster
    dump = reddit_dump(tmp_path / "reddit.ndjson", 300,
                       extra=[f"Storm hits the coast {FAIL_MARKER}"])
    attempts_before = worker_counts(client, "attempts", fingerprint(nlp))
    summary = reindex([dump], tmp_path / "data",
                      IngestOptions(nlp=nlp, cluster=address, batch_size=BATCH,
                                    cluster_retries=2))

    # 301 records in partitions of 64: the last one (records 257-301) fails.
    assert adds_up(summary)
    assert (summary.read, summary.indexed, summary.rejected) == (301, 256, 45)
    rejects = [json.loads(line) for line in summary.rejects_path.read_text().splitlines()]
    assert [r["location"] for r in rejects] == [f"{dump}:{line}" for line in range(257, 302)]
    assert all("enrichment failed on the cluster after 2 retries" in r["reason"]
               and FAIL_MARKER in r["reason"] for r in rejects)
    # Five partitions, the failing one tried three times.
    assert summary.cluster["partitions"] == 5 and summary.cluster["failed_partitions"] == 1
    assert worker_counts(client, "attempts", fingerprint(nlp)) - attempts_before == 5 + 2
    assert storage.open_index(tmp_path / "data").searcher().num_docs == 256


def test_cached_headlines_never_leave_the_client(cluster, nlp, tmp_path):
    address, client = cluster
    dump = reddit_dump(tmp_path / "reddit.ndjson", 400)
    options = IngestOptions(nlp=nlp, cluster=address, batch_size=BATCH)
    first = reindex([dump], tmp_path / "data", options)
    assert first.cluster["headlines"] == 400 and first.cache_hits == 0
    labelled_before = worker_counts(client, "headlines", fingerprint(nlp))
    attempts_before = worker_counts(client, "attempts", fingerprint(nlp))

    second = reindex([dump], tmp_path / "data", options)

    assert second.cache_hits == 400 and adds_up(second)
    assert second.cluster == {"partitions": 0, "headlines": 0, "bytes_sent": 0,
                              "bytes_received": 0, "failed_partitions": 0}
    # The workers' own counts agree: nothing reached them.
    assert worker_counts(client, "headlines", fingerprint(nlp)) == labelled_before
    assert worker_counts(client, "attempts", fingerprint(nlp)) == attempts_before
    assert stored_events(tmp_path / "data").keys() == {f"r{n}" for n in range(400)}


def _eventsearch(*args: str, env: dict | None = None, code: str | None = None
                 ) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", code or "import sys; from indexer.cli import main; "
               "sys.exit(main(sys.argv[1:]))", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**os.environ, **(env or {})})


def test_cluster_local_n_runs_its_own_workers(tmp_path):
    dump = reddit_dump(tmp_path / "reddit.ndjson", 200)
    result = _eventsearch("reindex", str(dump), "--data-dir", str(tmp_path / "data"),
                          "--cluster", "local:1", "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["indexed"] == 200 and summary["cluster"]["headlines"] == 200
    assert summary["cluster"]["bytes_sent"] > 0 and summary["cluster"]["bytes_received"] > 0
    # One worker process labelled everything, and it was not the command's own process.
    (pid, labelled), = summary["nlp_processes"].items()
    assert labelled == 200 and int(pid) != os.getpid()


def test_without_dask_cluster_says_how_to_install_it(tmp_path):
    hide_dask = ("import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None; "
                 "from indexer.cli import main; sys.exit(main(sys.argv[1:]))")
    result = _eventsearch("reindex", str(SAMPLE_DUMP), "--data-dir", str(tmp_path),
                          "--cluster", "local:2", code=hide_dask)
    assert result.returncode == 2
    assert result.stderr.strip() == \
        "eventsearch: --cluster needs Dask: pip install -e '.[cluster]'"
    assert not (tmp_path / "CURRENT").exists()


@pytest.mark.parametrize("address", ["local:0", "local:two", "scheduler", "tcp://host"])
def test_a_bad_cluster_address_is_a_usage_error(tmp_path, address):
    result = _eventsearch("reindex", str(SAMPLE_DUMP), "--data-dir", str(tmp_path),
                          "--cluster", address)
    assert result.returncode == 2
    assert address in result.stderr and len(result.stderr.strip().splitlines()) == 1
