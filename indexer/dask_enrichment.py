"""Enrichment on a Dask cluster (`eventsearch reindex --cluster ADDRESS`).

The client (the `eventsearch` process) keeps everything but the NLP: it reads the dumps,
counts and rejects records, looks headlines up in the enrichment cache and writes the index.
Only the cache misses of a batch travel, as one msgpack list of headlines (a *partition*);
a worker labels them with the pipeline it loaded once for its lifetime (`PipelineOnWorker`)
and sends back only the labels, msgpack-encoded. The client consumes partitions in the order
it submitted them, a bounded number in flight, so the index is the one a local run writes.

A partition whose task raises is retried (`retries`), as is one whose worker dies (Dask
reschedules it; a partition that keeps killing workers ends as `KilledWorker`). One that
still fails raises `PartitionFailed`, and the Enricher reports each of its records as
rejected. A cluster that goes away altogether fails the run: nothing is published.

Workers must run this same code and model: each partition carries the client's pipeline
fingerprint (indexer.enrich.cache) and a worker with another one refuses it, so labels of
another model never reach the index or the cache.

Imports Dask: import this module only for a run with --cluster (the `cluster` extra).
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dask
import msgspec
from distributed import Client, LocalCluster, WorkerPlugin, get_worker

from indexer.enrich.cache import CachedLabels, fingerprint
from indexer.enrich.pipeline import PartitionFailed, label_headlines, load_pipeline

DEFAULT_RETRIES = 2
CRASH_ENV = "EVENTSEARCH_CLUSTER_FAIL_ON"
_WORKERS_TIMEOUT = 120  # seconds for the first worker (or all N of local:N) to join
_HEADLINES = msgspec.msgpack.Decoder(list[str])
_LABELS = msgspec.msgpack.Decoder(tuple[int, list[CachedLabels]])


class ClusterAddressError(ValueError):
    """An address that is neither `local:N` nor a Dask scheduler URL."""


def check_address(address: str) -> str:
    """`local:N` (N >= 1) or `SCHEME://HOST:PORT`, e.g. tcp://scheduler:8786."""
    if address.startswith("local:"):
        count = address.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise ClusterAddressError(f"--cluster {address}: local:N needs N >= 1 workers")
        return address
    scheme, _, rest = address.partition("://")
    if not scheme or not rest or ":" not in rest:
        raise ClusterAddressError(
            f"--cluster {address}: expected tcp://HOST:PORT (a Dask scheduler) or local:N")
    return address


@contextlib.contextmanager
def enrichment_cluster(address: str, model: str, client_fingerprint: str,
                       retries: int = DEFAULT_RETRIES) -> Iterator[DaskLabeller]:
    """A labeller on the cluster at `address`; `local:N` starts N single-threaded worker
    processes on this machine for the run's duration."""
    check_address(address)
    local, workers = None, 1
    if address.startswith("local:"):
        workers = int(address.removeprefix("local:"))
        local = local_cluster(workers)
    with local or contextlib.nullcontext(), Client(local or address) as client:
        # A scheduler without workers would leave the run waiting for ever: fail instead.
        client.wait_for_workers(workers, timeout=_WORKERS_TIMEOUT)
        # Named by fingerprint and registered once: workers of a long-lived cluster keep
        # the loaded pipeline from one run to the next, and workers that join (or replace a
        # dead one) load it when they start.
        client.register_plugin(PipelineOnWorker(model), name=plugin_name(client_fingerprint))
        yield DaskLabeller(client, client_fingerprint, retries)


# Dask's worker defaults cost labelling CPU: its nanny sets MALLOC_TRIM_THRESHOLD_=65536
# (glibc hands memory back to the system at every free; ours stays flat: a model and a
# partition) and its profiler samples the stack every 10 ms. Measured on 3,000 headlines,
# events per worker CPU-second: 256 with both, 268 without the profiler, 306 without
# either; 323 in one plain process. Set them the same way on a real cluster's workers
# (DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False, and the nanny's pre-spawn-environ).
WORKER_CONFIG = {"distributed.worker.profile.enabled": False,
                 "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1}}


def local_cluster(workers: int, env: dict[str, str] | None = None) -> LocalCluster:
    """N worker processes on this machine, configured for labelling; `env` is set in every
    worker process, those a nanny starts to replace a dead one included."""
    with dask.config.set(WORKER_CONFIG):
        # One thread per process: spaCy holds the GIL, so threads would only take turns.
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, env=env or {})


def plugin_name(client_fingerprint: str) -> str:
    return f"eventsearch-pipeline-{client_fingerprint[:16]}"


@dataclass
class ClusterStats:
    partitions: int = 0
    headlines: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    failed_partitions: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class DaskLabeller:
    """Submits partitions of headlines; what the Enricher calls instead of its own pool."""

    def __init__(self, client, client_fingerprint: str, retries: int):
        self._client = client
        self._fingerprint = client_fingerprint
        self._retries = retries
        self.stats = ClusterStats()
        threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
        self.slots = 2 * max(1, threads)
        """Partitions in flight: two per worker thread, so none waits while the client
        consumes a result, and memory stays bounded."""

    def submit(self, headlines: list[str]) -> Callable[[], tuple[int, list[CachedLabels]]]:
        payload = msgspec.msgpack.encode(headlines)
        self.stats.partitions += 1
        self.stats.headlines += len(headlines)
        self.stats.bytes_sent += len(payload)
        future = self._client.submit(_label_partition, payload, self._fingerprint,
                                     plugin_name(self._fingerprint),
                                     retries=self._retries, pure=False)
        return lambda: self._result(future)

    def _result(self, future) -> tuple[int, list[CachedLabels]]:
        try:
            payload = future.result()
        except Exception as error:
            if future.status != "error":
                raise  # no answer at all (the scheduler is gone): fail the run
            self.stats.failed_partitions += 1
            message = " ".join(str(error).split())[:300]
            raise PartitionFailed(
                f"enrichment failed on the cluster after {self._retries} retries: "
                f"{type(error).__name__}: {message}") from None
        self.stats.bytes_received += len(payload)
        return _LABELS.decode(payload)


class PipelineOnWorker(WorkerPlugin):
    """Loads the spaCy pipeline once per worker, when the worker starts (or joins)."""

    idempotent = True  # registered again by every run: a worker keeps the one it loaded

    def __init__(self, model: str):
        self.model = model
        self.nlp = None
        self.fingerprint: str | None = None
        self.attempts = 0
        """Partitions this worker started, retries included."""
        self.partitions = 0
        """Partitions it labelled."""
        self.headlines = 0

    def setup(self, worker) -> None:
        self.nlp = load_pipeline(self.model)
        self.fingerprint = fingerprint(self.nlp)
        # As `eventsearch reindex` does for itself: the model's objects live as long as the
        # worker, so the garbage collector need not walk them again and again.
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)

    def teardown(self, worker) -> None:
        self.nlp = None


def _label_partition(payload: bytes, client_fingerprint: str, name: str) -> bytes:
    """Runs on a worker: headlines in, (pid, labels) out, both msgpack."""
    plugin = get_worker().plugins[name]
    plugin.attempts += 1
    if plugin.fingerprint != client_fingerprint:
        raise RuntimeError(
            f"this worker's pipeline ({plugin.model}, fingerprint {plugin.fingerprint[:12]}) "
            f"differs from the client's ({client_fingerprint[:12]}): install the same "
            "eventsearch and model on every worker")
    headlines = _HEADLINES.decode(payload)
    _fail_if_asked(headlines)
    pid, labels = label_headlines(headlines, plugin.nlp)
    plugin.partitions += 1
    plugin.headlines += len(headlines)
    return msgspec.msgpack.encode((pid, labels))


def _fail_if_asked(headlines: list[str]) -> None:
    """A fault-injection point, as EVENTSEARCH_STOP_AT is for the indexer: with
    EVENTSEARCH_CLUSTER_FAIL_ON=TEXT in the workers' environment, a partition holding a
    headline that contains TEXT fails on every try, as one hitting a bug in a component
    would. Our inputs give no real way to do it: headlines are bounded and valid text."""
    text = os.environ.get(CRASH_ENV)
    if text and any(text in headline for headline in headlines):
        raise RuntimeError(f"injected failure ({CRASH_ENV}={text!r})")
