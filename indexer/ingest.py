"""The indexing flow, end to end: dump -> readers -> fold -> enrich -> index generation.

`ingest` adds or updates events in the live generation (`eventsearch index`, and the first
`serve` on an empty data directory); `reindex` builds a complete new generation from whole
dumps, verifies it and swaps it in atomically (`eventsearch reindex`). Both stream: memory
holds the ids seen so far, a few batches in flight and the writer's heap, whatever the size
of the dump, plus a headline vector per event with a story for story linking (1 KB each;
indexer/story_links.py), whose events without a story wait in a temporary file. Their
summary always adds up: read = indexed + merged + rejected.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import orjson
import tantivy
from spacy.language import Language
from tqdm import tqdm

from indexer.enrich.cache import EnrichmentCache, fingerprint
from indexer.enrich.pipeline import Enricher, load_pipeline, model_name
from indexer.index import storage
from indexer.index.writer import EventWriter
from indexer.readers import Rejected, Skipped, iter_records, ndjson
from indexer.readers.fold import Folder, StreamFolder, as_current
from indexer.record import Event
from indexer.story_links import StoryLinker

REJECTS_FILE = "rejected.jsonl"
CACHE_FILE = "enrichment-cache.sqlite"
_SHOWN_REJECTS = 10
# Writes through the API queue behind one another (each holds the lock well under a second
# for a request's worth of events) instead of answering 409 to a client sending in parallel.
WRITE_QUEUE_SECONDS = 10.0
_UPSERT, _DELETE = "an upsert", "a delete"
_WRITES = (_UPSERT, _DELETE)


class VerificationFailed(RuntimeError):
    """A freshly built generation did not pass its checks; the live one stays."""


@dataclass
class IngestSummary:
    read: int = 0
    indexed: int = 0
    merged: int = 0
    rejected: int = 0
    skipped: int = 0
    cache_hits: int = 0
    nlp_processes: dict[int, int] = field(default_factory=dict)  # pid -> headlines labelled
    cluster: dict | None = None  # with --cluster: partitions, headlines and bytes sent, received
    suggested: int = 0  # events given a story suggestion shown at the threshold
    linking_seconds: float = 0.0  # CPU time of story linking, within `seconds`
    seconds: float = 0.0
    generation: str | None = None
    rejects_path: Path | None = None
    first_rejects: list[Rejected] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Events indexed per second over the run (the model load included when the run loads
        the model itself; `eventsearch index|reindex` load it before)."""
        return self.indexed / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "indexed": self.indexed,
            "merged": self.merged,
            "rejected": self.rejected,
            "skipped_non_events": self.skipped,
            "cache_hits": self.cache_hits,
            "nlp_processes": {str(pid): n for pid, n in self.nlp_processes.items()},
            "cluster": self.cluster,
            "stories_suggested": self.suggested,
            "linking_seconds": round(self.linking_seconds, 3),
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate, 1),
            "generation": self.generation,
            "rejects_path": str(self.rejects_path) if self.rejects_path else None,
        }

    def describe(self) -> str:
        lines = [
            f"read {self.read} records: {self.indexed} indexed, {self.merged} merged, "
            f"{self.rejected} rejected ({self.skipped} non-event pages skipped, "
            f"{self.cache_hits} labels from cache) in {self.seconds:.1f} s, "
            f"{self.rate:.0f} events/s"
        ]
        lines += [f"  rejected {r.location}: {r.reason}" for r in self.first_rejects]
        if self.rejected > len(self.first_rejects):
            lines.append(f"  ... all {self.rejected} rejected records are in {self.rejects_path}")
        return "\n".join(lines)


@dataclass
class IngestOptions:
    rejects_path: Path | None = None
    nlp: Language | None = None
    processes: int = 1
    batch_size: int = 256
    use_cache: bool = True
    keep_generations: int = 2
    progress: bool | None = None  # None: show a progress bar when stderr is a terminal
    status_path: Path | None = None  # JSON progress for a supervisor (the admin jobs API)
    rejects_file: bool = True  # False: keep every rejected record in the summary instead
    # One indexing thread with a heap large enough that it flushes no segment before the
    # commit: a generation of up to about 1.8 million events (550 bytes of heap each) is
    # then one segment. Every search and facet aggregation pays a fixed cost per segment:
    # at a million events, one segment instead of two took the search benchmark's median
    # page from 1.36 to 1.18 ms. A second thread does not make a warm reindex faster
    # (24,053 events/s with two, 23,746 with one): the bottleneck is this process turning
    # events into Tantivy documents. The heap is a budget used as documents arrive: peak RSS did not
    # grow.
    writer_heap: int = 1_000_000_000
    writer_threads: int = 1
    # Enrichment on Dask workers instead of `processes` (indexer/dask_enrichment.py): a
    # scheduler's address (tcp://HOST:8786) or local:N for N worker processes here.
    cluster: str | None = None
    # The story linker's headline vectors (topic_embedding.embed unless given): the write
    # API's long-lived writer passes one that remembers them from request to request.
    embed: Callable[[list[str]], object] | None = None
    cluster_retries: int = 2


def ingest(paths: list[Path], data_dir: Path, options: IngestOptions | None = None) -> IngestSummary:
    """Add or update every event of the dumps at `paths` in the live generation (a first
    generation if none was ever published; never a new one over a live one that does not
    open: that raises IndexUnavailable, and a reindex rebuilds it)."""
    options = options or IngestOptions()
    _check_paths(paths)
    with storage.reindex_lock(data_dir, "an index run"):
        name = storage.live_generation(data_dir)
        if name is not None:
            index = storage.open_generation(data_dir, name)
            # A failed commit leaves the previous one live: tantivy replaces meta.json last.
            with storage.disk_full_reported(data_dir):
                summary = _run(lambda: iter_records(paths), data_dir, index, options)
        else:
            storage.remove_leftovers(data_dir)
            name, summary = _build_and_publish(
                data_dir,
                lambda _name, index: _run(lambda: iter_records(paths), data_dir, index, options))
    summary.generation = name
    return summary


def reindex(paths: list[Path], data_dir: Path, options: IngestOptions | None = None) -> IngestSummary:
    """Build a new generation from whole dumps, verify it, make it live, prune old ones.

    Until the pointer is replaced, the live generation is untouched: a crash, a kill or a
    full disk at any moment leaves it serving, and the partial generation is removed (by
    this run, or by the next one if this one was killed).
    """
    options = options or IngestOptions()
    _check_paths(paths)
    started = time.perf_counter()
    with storage.reindex_lock(data_dir):
        storage.remove_leftovers(data_dir)

        def build(name: str, index: tantivy.Index) -> IngestSummary:
            summary = _run(lambda: iter_records(paths), data_dir, index, options, fresh=True)
            status = _StatusFile(options.status_path, summary, started, summary.indexed)
            status.write("verifying")
            _verify(data_dir, name, summary)
            status.write("publishing")
            return summary

        name, summary = _build_and_publish(data_dir, build)
        _StatusFile(options.status_path, summary, started, summary.indexed).write("published")
        storage.prune(data_dir, keep=options.keep_generations)
    summary.generation = name
    return summary


def _build_and_publish(data_dir: Path, build: Callable[[str, tantivy.Index], IngestSummary]
                       ) -> tuple[str, IngestSummary]:
    """A new generation filled by `build`, then published; removed if anything fails
    before it is live (a full disk raised as DiskFull)."""
    name = None
    try:
        with storage.disk_full_reported(data_dir):
            name, index = storage.new_generation(data_dir)
            summary = build(name, index)
            storage.publish(data_dir, name)
    except BaseException:
        if name is not None and storage.live_generation(data_dir) != name:
            storage.remove_generation(data_dir, name)
        raise
    return name, summary


Records = Callable[[], Iterable[Event | Rejected | Skipped]]


def _run(records: Records, data_dir: Path, index: tantivy.Index,
         options: IngestOptions, fresh: bool = False) -> IngestSummary:
    """`records` reads the dump from its start: once, and again for the events whose
    records the stream folder could not fold as they passed (`StreamFolder.pending`)."""
    started = time.perf_counter()
    rejects = options.rejects_path or Path(data_dir) / REJECTS_FILE
    # Without a rejects file, an earlier run's report in the data directory stays as it is.
    summary = IngestSummary(rejects_path=rejects if options.rejects_file else None)
    nlp = options.nlp or load_pipeline()
    cache = EnrichmentCache(Path(data_dir) / CACHE_FILE, fingerprint(nlp)) if options.use_cache else None
    folder = StreamFolder()
    try:
        with _RejectsReport(summary) as report, _cluster(options, nlp) as cluster:

            def reject(event: Event, reason: str) -> None:
                folder.withdraw(event)
                report.add(Rejected(event.source_path or event.id, reason))

            enricher = Enricher(nlp, batch_size=options.batch_size, n_process=options.processes,
                                cache=cache, cluster=cluster, reject=reject)
            events = _admitted(records(), folder, summary, report)
            # Workers fork when enrich() is called: before the index writer starts threads.
            labelled = enricher.enrich(events)
            status = _StatusFile(options.status_path, summary, started)
            # Events without a story pass last, with the story their neighbours suggest.
            linker = StoryLinker(None if fresh else _stories_between(index),
                                 embed=options.embed)
            with EventWriter(index, heap_size=options.writer_heap, threads=options.writer_threads,
                             fresh=fresh) as writer:

                def refolded() -> list[Event]:
                    # Called by the linker once the stream has ended (so `pending` is whole)
                    # and every event with a story has been written: the folded events take
                    # their first records' places, in the index and among the neighbours
                    # the story-less events are linked against.
                    if not folder.pending:
                        return []
                    status.write("folding again")
                    events = _refold(records(), folder.pending, nlp, options, cache)
                    for event in events:
                        writer.delete(event.id)  # a fresh writer's upsert deletes only old slugs
                    return events

                written = writer.upsert(linker.link(
                    status.track(_progress(labelled, options.progress)), revised=refolded))
                for stale_id in linker.stale:
                    writer.delete(stale_id)
                status.write("committing")
            if cluster is not None:
                summary.cluster = cluster.stats.as_dict()
    finally:
        if cache is not None:
            cache.close()
    summary.indexed = written - folder.superseded - linker.rewritten
    summary.merged = folder.merged
    summary.cache_hits = enricher.cache_hits
    summary.nlp_processes = dict(enricher.labelled_by)
    summary.suggested = linker.suggested
    summary.linking_seconds = linker.seconds
    summary.seconds = time.perf_counter() - started
    return summary


@contextlib.contextmanager
def _cluster(options: IngestOptions, nlp: Language):
    """The Dask labeller for the run, or None for local processes."""
    if options.cluster is None:
        yield None
        return
    from indexer.dask_enrichment import enrichment_cluster

    with enrichment_cluster(options.cluster, model_name(), fingerprint(nlp),
                            retries=options.cluster_retries) as labeller:
        yield labeller


def _admitted(records: Iterable[Event | Rejected | Skipped], folder: StreamFolder,
              summary: IngestSummary, report: _RejectsReport) -> Iterator[Event]:
    for record in records:
        if isinstance(record, Skipped):
            summary.skipped += 1
            continue
        summary.read += 1
        if isinstance(record, Rejected):
            report.add(record)
        elif folder.admit(record):
            yield as_current(record)


def _refold(records: Iterable[Event | Rejected | Skipped], ids: set[str], nlp: Language,
            options: IngestOptions, cache: EnrichmentCache | None) -> list[Event]:
    """Every record of these (already admitted) events folded as `read_dump` does, and
    enriched: the events to write over their first records. Counted once already: read,
    merged."""
    folder = Folder()
    for record in records:
        if isinstance(record, Event) and record.id in ids:
            folder.add(record)
    # Few events, and the writer's threads are running: enrich them here, without forking.
    enricher = Enricher(nlp, batch_size=options.batch_size, n_process=1, cache=cache)
    return list(enricher.enrich(as_current(e) for e in folder.events()))


def _stories_between(index: tantivy.Index):
    """The index's events dated between two day numbers (since 1970), for the story linker."""
    decoder = msgspec.msgpack.Decoder(Event)

    def between(first: int, last: int) -> list[Event]:
        searcher = index.searcher()
        query = tantivy.Query.range_query(index.schema, "rank", tantivy.FieldType.Integer,
                                          first * 2**32, (last + 1) * 2**32 - 1)
        count = searcher.search(query, limit=1).count
        if not count:
            return []
        events = []
        for _, address in searcher.search(query, limit=count).hits:
            doc = searcher.doc(address)
            event = decoder.decode(doc.get_first("payload"))
            event.id, event.headline = doc.get_first("id"), doc.get_first("headline")
            events.append(event)
        return events

    return between


def _verify(data_dir: Path, name: str, summary: IngestSummary) -> None:
    """The checks a server makes before serving a generation (checksums, a search that
    loads an event), and the count this run wrote."""
    try:
        count = storage.check_generation(data_dir, name).searcher().num_docs
    except storage.IndexUnavailable as error:
        raise VerificationFailed(str(error)) from None
    if count != summary.indexed:
        raise VerificationFailed(
            f"the new generation holds {count} events, expected {summary.indexed}")


def _progress(events: Iterable[Event], enabled: bool | None) -> Iterator[Event]:
    # tqdm's disable=None turns the bar off when stderr is not a terminal (logs, CI).
    disable = None if enabled is None else not enabled
    return iter(tqdm(events, desc="enrich + index", unit=" events", disable=disable,
                     mininterval=0.5, dynamic_ncols=True))


def upsert_ndjson(body: bytes, data_dir: Path, nlp: Language, embed=None) -> IngestSummary:
    """Upsert the events of an NDJSON body into the live generation (the write API); every
    rejected line comes back in `first_rejects`, none goes to the rejects file.

    Waits for no reindex: raises ReindexRunning instead, so the caller can ask to retry.
    Another upsert or delete is waited for, up to WRITE_QUEUE_SECONDS.
    """
    # A small writer: a request's worth of events, in a server that keeps answering.
    options = IngestOptions(nlp=nlp, progress=False, rejects_file=False,
                            writer_heap=15_000_000, writer_threads=1, embed=embed)
    with storage.reindex_lock(data_dir, _UPSERT, queue_behind=_WRITES, wait=WRITE_QUEUE_SECONDS):
        def records() -> Iterable[Event | Rejected | Skipped]:
            return ndjson.parse("body", io.BytesIO(body))

        # A failed commit leaves the previous one live: tantivy replaces meta.json last.
        with storage.disk_full_reported(data_dir):
            return _run(records, data_dir, storage.open_index(data_dir), options)


def delete_event(event_id: str, data_dir: Path) -> bool:
    """Remove one event from the live generation; False if no such event."""
    with storage.reindex_lock(data_dir, _DELETE, queue_behind=_WRITES, wait=WRITE_QUEUE_SECONDS):
        index = storage.open_index(data_dir)
        query = tantivy.Query.term_query(index.schema, "id", event_id)
        if index.searcher().search(query, limit=1).count == 0:
            return False
        with storage.disk_full_reported(data_dir), \
                EventWriter(index, heap_size=15_000_000, threads=1) as writer:
            writer.delete(event_id)
    return True


def _check_paths(paths: list[Path]) -> None:
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"no such dump: {path}")


class _RejectsReport:
    """Streams rejected records to JSONL (file, line/offset, reason); keeps a few to show."""

    def __init__(self, summary: IngestSummary):
        self._summary = summary
        self._out = None
        self._encoder = msgspec.json.Encoder()
        self._keep_file = summary.rejects_path is not None

    def add(self, record: Rejected) -> None:
        self._summary.rejected += 1
        if not self._keep_file or len(self._summary.first_rejects) < _SHOWN_REJECTS:
            self._summary.first_rejects.append(record)
        if not self._keep_file:
            return
        if self._out is None:
            path = self._summary.rejects_path
            path.parent.mkdir(parents=True, exist_ok=True)
            self._out = path.open("wb")
        self._out.write(self._encoder.encode(record) + b"\n")

    def __enter__(self) -> _RejectsReport:
        return self

    def __exit__(self, *exc) -> None:
        if self._out is not None:
            self._out.close()
        elif self._summary.rejects_path and self._summary.rejects_path.exists():
            self._summary.rejects_path.unlink()  # a report from an earlier run would mislead
        if not self._summary.rejected:
            self._summary.rejects_path = None


class _StatusFile:
    """Progress as a small JSON file, replaced atomically at most twice a second, and at
    each stage: reading, enrich + index, folding again, committing, then for a reindex
    verifying, publishing, published (pruning follows)."""

    def __init__(self, path: Path | None, summary: IngestSummary, started: float,
                 written: int = 0):
        self._path = path
        self._summary = summary
        self._started = started
        self._written = written
        self._last = 0.0

    def track(self, events: Iterable[Event]) -> Iterator[Event]:
        self.write("reading")
        for event in events:
            self._written += 1
            if self._path and time.perf_counter() - self._last > 0.5:
                self.write("enrich + index")
            yield event

    def write(self, stage: str) -> None:
        if self._path is None:
            _reached(stage)
            return
        self._last = time.perf_counter()
        elapsed = self._last - self._started
        status = {"stage": stage, "read": self._summary.read, "written": self._written,
                  "rejected": self._summary.rejected, "seconds": round(elapsed, 1),
                  "events_per_second": round(self._written / elapsed, 1) if elapsed else 0.0}
        staged = self._path.with_suffix(".tmp")
        staged.write_bytes(orjson.dumps(status))
        os.replace(staged, self._path)
        _reached(stage)


def _reached(stage: str) -> None:
    """A fault-injection point: with EVENTSEARCH_STOP_AT=STAGE the run stops itself
    (SIGSTOP) once it reaches STAGE, so a test can kill it there and nowhere else."""
    if os.environ.get("EVENTSEARCH_STOP_AT") == stage:
        os.kill(os.getpid(), signal.SIGSTOP)


def default_processes(paths: list[Path]) -> int:
    """One NLP process per core (at most 4) for large dumps; forking does not pay for small."""
    size = sum(_size(Path(p)) for p in paths)
    return min(os.cpu_count() or 1, 4) if size >= 2_000_000 else 1


def _size(path: Path) -> int:
    if not path.exists():
        return 0  # reported as a missing dump by the run itself
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
