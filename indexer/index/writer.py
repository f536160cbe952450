"""Write enriched events into the index: one document per event, upserted by id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import msgspec
import tantivy

from indexer.index.schema import (
    calendar_terms,
    event_rank,
    label_key,
    sample_bucket,
    typed_entities,
)
from indexer.record import Event
from indexer.story_links import shown_story

_encoder = msgspec.msgpack.Encoder()
_EPOCH = dt.date(1970, 1, 1)


def to_document(event: Event, aliases: list[str] | None = None) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_text("id", event.id)
    for alias in event.aliases if aliases is None else aliases:
        doc.add_text("alias", alias)
    doc.add_text("headline", event.headline)
    doc.add_text("headline_words", event.headline)
    if event.story:
        doc.add_text("story", event.story)
        doc.add_text("story_text", event.story)
        doc.add_integer("story_key", label_key(event.story))
    elif event.suggested_story:
        doc.add_text("suggested_story", event.suggested_story)
        doc.add_float("suggested_story_confidence", event.suggested_story_confidence or 0.0)
        if shown_story(event):  # counts in the story facet and filter, not in the words
            doc.add_text("story", event.suggested_story)
            doc.add_integer("story_key", label_key(event.suggested_story))
    for topic in event.topics:
        doc.add_text("topic", topic)
    for code in event.countries:
        doc.add_text("country", code)
    for name in dict.fromkeys(e.name for e in event.entities):
        doc.add_text("entity", name)
        doc.add_text("entity_text", name)
    for typed in typed_entities(event.entities):
        doc.add_text("entity_typed", typed)
        doc.add_integer("entity_key", label_key(typed))
    for name in dict.fromkeys(s.name for s in event.sources if s.name):
        doc.add_text("source", name)
        doc.add_text("source_text", name)
    day = event.date
    year, month, day_number = calendar_terms(day)
    doc.add_integer("month", month)
    doc.add_integer("day", day_number)
    for term in (year, month, day_number):
        doc.add_integer("calendar", term)
    doc.add_integer("rank", event_rank((day - _EPOCH).days, event.id))
    doc.add_integer("sample", sample_bucket(event.id))
    # Id and headline are stored fields of their own; repeated here they would be a third
    # of the payload's bytes, and every stored byte costs indexing time.
    doc.add_bytes("payload", _encoder.encode(msgspec.structs.replace(event, id="", headline="")))
    return doc


class EventWriter:
    """Upserts events into an index. Nothing is visible until `commit()`.

    Use as a context manager: it commits on a clean exit and rolls back on an exception
    (tantivy's own writer context manager commits even on errors).
    """

    def __init__(self, index: tantivy.Index, heap_size: int = 128_000_000, threads: int = 0,
                 fresh: bool = False):
        """`fresh`: the index starts empty and each id comes once (a new generation fed
        through a folder), so only old-version slugs can name an earlier document: the
        per-event delete, which tantivy keeps in memory until the commit, is skipped."""
        self._writer = index.writer(heap_size=heap_size, num_threads=threads)
        self._fresh = fresh

    def upsert(self, events: Iterable[Event]) -> int:
        count = 0
        for event in events:
            # Replaces the event and any document indexed earlier under one of its old slugs.
            aliases = event.aliases
            stale_ids = aliases if self._fresh else (event.id, *aliases)
            for stale_id in stale_ids:
                self._writer.delete_documents_by_term("id", stale_id)
            self._writer.add_document(to_document(event, aliases))
            count += 1
        return count

    def delete(self, event_id: str) -> None:
        self._writer.delete_documents_by_term("id", event_id)

    def commit(self) -> None:
        self._writer.commit()

    def close(self) -> None:
        """Wait for background segment merges; the writer is unusable afterwards."""
        self._writer.wait_merging_threads()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self._writer.rollback()
        self.close()
