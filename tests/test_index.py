"""Indexing into real Tantivy generations on disk: upserts, aliases, versions, swaps."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from indexer.index import storage
from indexer.index.schema import SCHEMA_VERSION, calendar_cover, calendar_terms
from indexer.index.writer import EventWriter
from indexer.record import Event, Version
from service.search.engine import EventIndex, EventNotFound
from service.search.query import SearchRequest


def event(event_id: str, headline: str, **fields) -> Event:
    return Event(id=event_id, date=dt.date(2020, 1, 2), headline=headline, **fields)


def write(data_dir, *events: Event) -> None:
    """Upsert into the live generation, creating and publishing one if there is none."""
    if storage.index_exists(data_dir):
        name = storage.live_generation(data_dir)
        index = storage.open_generation(data_dir, name)
    else:
        name, index = storage.new_generation(data_dir)
    with EventWriter(index, heap_size=15_000_000, threads=1) as writer:
        writer.upsert(events)
    storage.publish(data_dir, name)


def build_generation(data_dir, *events: Event) -> str:
    name, index = storage.new_generation(data_dir)
    with EventWriter(index, heap_size=15_000_000, threads=1) as writer:
        writer.upsert(events)
    return name


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
        with EventWriter(storage.open_index(tmp_path), heap_size=15_000_000, threads=1) as writer:
            writer.upsert([event("e2", "Never committed")])
            raise RuntimeError("enrichment failed half-way")
    assert EventIndex.open(tmp_path).count() == 1


def test_missing_index_is_reported_with_what_to_run(tmp_path):
    with pytest.raises(storage.IndexUnavailable, match="eventsearch index"):
        storage.open_index(tmp_path)


def test_generation_of_another_schema_version_is_not_read(tmp_path):
    write(tmp_path, event("e1", "Something"))
    live = storage.live_generation(tmp_path)
    (storage.generations_dir(tmp_path) / live / "schema_version").write_text(
        f"{SCHEMA_VERSION + 1}\n")
    assert not storage.index_exists(tmp_path)
    with pytest.raises(storage.IndexUnavailable, match="schema version"):
        storage.open_index(tmp_path)


def test_published_generation_is_picked_up_by_a_running_reader(tmp_path):
    write(tmp_path, event("e1", "Floods in the valley"))
    reader = EventIndex.open(tmp_path)
    assert not reader.refresh()
    new = build_generation(tmp_path, event("e2", "Storms on the coast"), event("e3", "More storms"))
    assert reader.count() == 1  # not live until published
    storage.publish(tmp_path, new)
    assert reader.refresh() and reader.generation == new
    assert reader.count() == 2
    assert reader.search(SearchRequest(text="floods")).total == 0


def test_pruning_keeps_the_live_generation_and_the_newest(tmp_path):
    names = [build_generation(tmp_path, event(f"e{i}", "Text")) for i in range(4)]
    storage.publish(tmp_path, names[1])
    removed = storage.prune(tmp_path, keep=2)
    remaining = sorted(p.name for p in storage.generations_dir(tmp_path).iterdir())
    assert remaining == sorted([names[1], names[2], names[3]])
    assert removed == [names[0]]


def test_searcher_opened_before_pruning_keeps_answering(tmp_path):
    write(tmp_path, event("e1", "Floods in the valley"))
    reader = EventIndex.open(tmp_path)
    old = storage.live_generation(tmp_path)
    storage.publish(tmp_path, build_generation(tmp_path, event("e2", "Storms")))
    storage.remove_generation(tmp_path, old)
    assert reader.search(SearchRequest(text="floods")).total == 1  # still the old files
    assert reader.refresh() and reader.search(SearchRequest(text="storms")).total == 1


def test_only_one_reindex_at_a_time(tmp_path):
    with storage.reindex_lock(tmp_path):
        with pytest.raises(storage.ReindexRunning, match="a reindex .pid"):
            with storage.reindex_lock(tmp_path, "an upsert", queue_behind=("an upsert",),
                                      wait=5):
                pass


def test_an_upsert_waits_its_turn_behind_another_upsert(tmp_path):
    """Writes through the API queue up (each holds the lock for a request's worth of
    events) instead of refusing a client that sends in parallel; a reindex is not waited
    for. The lock is taken in another process, as another server worker would."""
    holding = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from indexer.index import storage\n"
        f"with storage.reindex_lock({str(tmp_path)!r}, 'an upsert'):\n"
        "    print('held', flush=True); time.sleep(0.5)")],
        stdout=subprocess.PIPE, text=True)
    assert holding.stdout.readline() == "held\n"
    # Without the queue this raises ReindexRunning at once: the other holds it for 0.5 s.
    with storage.reindex_lock(tmp_path, "an upsert", queue_behind=("an upsert",), wait=30):
        assert (tmp_path / "reindex.lock").read_text() == f"an upsert (pid {os.getpid()})\n"
    holding.wait()


@pytest.mark.parametrize("first, last", [
    ("2016-11-30", "2018-01-31"), ("2016-02-27", "2016-03-02"), ("2013-01-01", "2015-12-31"),
    ("1999-12-31", "2000-01-01"), ("2016-11-01", "2016-11-30"), ("9999-12-30", "9999-12-31"),
])
def test_calendar_cover_names_exactly_the_days_of_a_range(first, last):
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    cover = set(calendar_cover(start, end))
    span = dt.date(start.year - 1, 1, 1), dt.date(min(end.year + 1, 9999), 12, 31)
    day = span[0]
    while day <= span[1]:
        assert bool(cover & set(calendar_terms(day))) == (start <= day <= end), day
        if day == dt.date.max:
            break
        day += dt.timedelta(days=1)
    assert len(cover) == len(calendar_cover(start, end))  # no term twice
