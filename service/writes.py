"""Event writes through the API: the spaCy pipeline is loaded on the first write, once."""

from __future__ import annotations

import threading
from pathlib import Path

from indexer.enrich.pipeline import Enricher, load_pipeline
from indexer.ingest import delete_event, upsert_ndjson
from indexer.record import Event
from service.models import RejectedOut, UpsertResult


class EventWrites:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._nlp = None
        self._lock = threading.Lock()

    def upsert(self, body: bytes) -> UpsertResult:
        summary = upsert_ndjson(body, self.data_dir, self._pipeline())
        return UpsertResult(
            read=summary.read, indexed=summary.indexed, merged=summary.merged,
            rejected=[RejectedOut(r.location, r.reason) for r in summary.first_rejects],
            cache_hits=summary.cache_hits,
        )

    def enrich(self, event: Event) -> Event:
        """Labels for an unsaved event, as indexing would give them."""
        return next(Enricher(self._pipeline()).enrich([event]))

    def delete(self, event_id: str) -> bool:
        return delete_event(event_id, self.data_dir)

    def _pipeline(self):
        with self._lock:  # one load, however many writes arrive at once
            if self._nlp is None:
                self._nlp = load_pipeline()
            return self._nlp
