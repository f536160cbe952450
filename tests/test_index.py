"""Indexing into a real Tantivy index on disk: upserts, aliases, schema versions."""

from __future__ import annotations

import datetime as dt

import pytest

from indexer.index.schema import SCHEMA_VERSION
from indexer.index.storage import IndexUnavailable, create_index, index_dir, open_index
from indexer.index.writer import EventWriter
from indexer.record import Event, Version
from service.search.engine import EventIndex, EventNotFound
from service.search.query import SearchRequest


def event(event_id: str, headline: str, **fields) -> Event:
    return Event(id=event_id, date=dt.date(2020, 1, 2), headline=headline, **fields)


def write(data_dir, *events: Event) -> None:
    with EventWriter(create_index(data_dir), heap_size=15_000_000, threads=1) as writer:
        writer.upsert(events)


def test_reindexing_the_same_event_replaces_it(tmp_path):
    write(tmp_path, event("e1", "Old text about floods"))
    write(tmp_path, event("e1", "New text about storms"))
    index = EventIndex.open(tmp_path)
    assert index.count() == 1
    assert index.search(SearchRequest(text="storms")).total == 1
    assert index.search(SearchRequest(text="floods")).total == 0


def test_event_indexed_under_an_old_slug_is_replaced_by_its_current_version(tmp_path):
    write(tmp_path, event("old-slug", "First wording"))
    versions = [Version(slug="old-slug", headline="First wording", timestamp="2018-01-01 10:00:00"),
                Version(slug="new-slug", headline="Second wording", current=True)]
    write(tmp_path, event("new-slug", "Second wording", versions=versions))
    index = EventIndex.open(tmp_path)
    assert index.count() == 1
    assert index.event("old-slug").id == "new-slug"


def test_unknown_event_raises_not_found(tmp_path):
    write(tmp_path, event("e1", "Something"))
    with pytest.raises(EventNotFound):
        EventIndex.open(tmp_path).event("e2")


def test_failed_batch_is_rolled_back(tmp_path):
    write(tmp_path, event("e1", "Kept"))
    with pytest.raises(RuntimeError):
        with EventWriter(open_index(tmp_path), heap_size=15_000_000, threads=1) as writer:
            writer.upsert([event("e2", "Never committed")])
            raise RuntimeError("enrichment failed half-way")
    assert EventIndex.open(tmp_path).count() == 1


def test_missing_index_is_reported_with_what_to_run(tmp_path):
    with pytest.raises(IndexUnavailable, match="eventsearch index"):
        open_index(tmp_path)


def test_index_of_another_schema_version_is_not_read_but_rebuilt(tmp_path):
    write(tmp_path, event("e1", "Something"))
    (index_dir(tmp_path) / "schema_version").write_text(f"{SCHEMA_VERSION + 1}\n")
    with pytest.raises(IndexUnavailable, match="schema version"):
        open_index(tmp_path)
    write(tmp_path, event("e2", "Other"))
    assert EventIndex.open(tmp_path).count() == 1
