"""Event writes through the API, in a writer process of their own.

Upserts are enriched (spaCy) and written by a child process started on the first write,
which loads the pipeline once and lives as long as the server process. In a thread of the
server process they shared its GIL with the event loop and every search thread: under a
full search load an upsert of a few hundred events took 8 s and nothing it wrote was
searchable within 2 s (benchmarks/load.py). A process of its own gets its own share of the
CPU from the kernel, as Elasticsearch keeps writes in a thread pool apart from searches.
Its answer comes back once the commit is durable, and the server's searchers see the commit
as they see any other. A writer that dies is replaced, and the write it was given is done
by its replacement.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from indexer.enrich.pipeline import Enricher, load_pipeline
from indexer.ingest import delete_event, upsert_ndjson
from indexer.record import Event
from indexer.story_links import RememberingEmbed
from service.models import RejectedOut, UpsertResult


class EventWrites:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._nlp = None
        self._writer: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def upsert(self, body: bytes) -> UpsertResult:
        read, indexed, merged, rejected, cache_hits = self._in_writer(body)
        return UpsertResult(read=read, indexed=indexed, merged=merged,
                            rejected=[RejectedOut(*reject) for reject in rejected],
                            cache_hits=cache_hits)

    def enrich(self, event: Event) -> Event:
        """Labels for an unsaved event, as indexing would give them (a request's draft:
        labelled here, it needs no round trip to the writer)."""
        return next(Enricher(self._pipeline()).enrich([event]))

    def delete(self, event_id: str) -> bool:
        return delete_event(event_id, self.data_dir)

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.shutdown(cancel_futures=True)
                self._writer = None

    def _in_writer(self, body: bytes) -> tuple:
        writer = self._started_writer()
        try:
            return writer.submit(_upsert, body, str(self.data_dir)).result()
        except BrokenProcessPool:
            # The writer was killed or crashed, before or during this write: a commit is
            # all or nothing and an upsert by id can be repeated, so a new writer does it.
            with self._lock:
                if self._writer is writer:
                    self._writer = None
            return self._started_writer().submit(_upsert, body, str(self.data_dir)).result()

    def _started_writer(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._writer is None:
                # spawn: the server process runs threads (uvicorn's, Tantivy's), which a
                # fork would copy half-way through whatever they were doing.
                self._writer = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            return self._writer

    def _pipeline(self):
        with self._lock:  # one load, however many drafts arrive at once
            if self._nlp is None:
                self._nlp = load_pipeline()
            return self._nlp


_writer_nlp = None  # the writer process's pipeline, loaded by its first write
_writer_embed = RememberingEmbed()  # the story linker's vectors, from write to write


def _upsert(body: bytes, data_dir: str) -> tuple:
    global _writer_nlp
    if _writer_nlp is None:  # here, not in an initializer: its error reaches the client
        _writer_nlp = load_pipeline()
    summary = upsert_ndjson(body, Path(data_dir), _writer_nlp, embed=_writer_embed)
    rejected = [(reject.location, reject.reason) for reject in summary.first_rejects]
    return summary.read, summary.indexed, summary.merged, rejected, summary.cache_hits
