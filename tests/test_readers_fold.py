"""Folding: one event, one document, whatever formats and versions of it the dump holds."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import msgspec
import pytest

from indexer.readers import iter_records, read_dump
from indexer.readers.fold import Folder, StreamFolder
from indexer.record import Event, Source, Version

VERSIONS = Path(__file__).parent / "fixtures_readers" / "versions"
CURRENT = VERSIONS / "a-crane-collapses-in-the-port-injuring-two-workers.md"
FIRST = VERSIONS / "a-harbour-crane-collapses.md"  # no Changes: its own id, an alias
SECOND = VERSIONS / "harbour-accident-a-crane-collapses-in-the-port.md"  # names the current id
CURRENT_ID = "a-crane-collapses-in-the-port-injuring-two-workers"


def _without_path(event: Event) -> Event:
    return msgspec.structs.replace(event, source_path="")


@pytest.mark.parametrize("order", list(itertools.permutations([CURRENT, FIRST, SECOND])))
def test_earlier_version_pages_fold_into_the_current_event_in_any_order(
    order: tuple[Path, ...],
) -> None:
    result = read_dump(list(order))
    assert (result.read, len(result.events), result.merged, result.rejected) == (3, 1, 2, [])
    (event,) = result.events
    assert event.id == CURRENT_ID
    assert event.headline == "A crane collapses in the port, injuring two workers."
    assert event.story == "Harbour accident"
    assert event.source_path == str(CURRENT)
    assert event.aliases == [
        "a-harbour-crane-collapses", "harbour-accident-a-crane-collapses-in-the-port",
    ]
    assert [(v.timestamp, v.current) for v in event.versions] == [
        ("2019-03-04 08:00:00", False), ("2019-03-04 09:30:00", False), (None, True),
    ]
    assert {s.url for s in event.sources} == {
        "http://gazette.example/crane",
        "http://wire.example/crane-injuries",
        "http://radio.example/crane",
    }


def test_fold_result_does_not_depend_on_arrival_order() -> None:
    results = {
        msgspec.json.encode(_without_path(read_dump(list(order)).events[0]))
        for order in itertools.permutations([CURRENT, FIRST, SECOND])
    }
    assert len(results) == 1


def test_page_naming_the_current_slug_has_the_current_id_but_not_its_headline() -> None:
    (event,) = iter_records(SECOND)
    assert event.id == CURRENT_ID
    assert event.headline == "Harbour accident: A crane collapses in the port."


def test_earlier_version_alone_stays_an_event_of_its_own() -> None:
    result = read_dump(FIRST)
    assert [e.id for e in result.events] == ["a-harbour-crane-collapses"]
    assert result.merged == 0


def _event(event_id: str, headline: str, **fields: object) -> Event:
    return Event(id=event_id, date=dt.date(2020, 1, 1), headline=headline, **fields)


def test_same_id_records_unite_sources_topics_and_formats() -> None:
    folder = Folder()
    a_again, b = Source("A again", "http://a.example"), Source("B", "http://b.example")
    folder.add(_event("e", "Text.", topics=["sports"], source_format="page-xml",
                      sources=[Source("A", "http://a.example")]))
    folder.add(_event("e", "Text.", topics=["sports", "arts-culture"], source_format="page-md",
                      sources=[a_again, b]))
    (event,) = folder.events()
    assert folder.merged == 1
    assert event.topics == ["sports", "arts-culture"]
    assert [s.name for s in event.sources] == ["A", "B"]
    assert event.source_format == "page-md+page-xml"


def test_chain_of_versions_folds_whichever_link_arrives_first() -> None:
    # v3 lists v2 as earlier, v2 lists v1: v1 and v3 arrive first, unrelated until v2 comes.
    v1 = _event("v1", "First.", versions=[Version("v1", current=True)])
    v2 = _event("v2", "Second.", versions=[Version("v1", timestamp="2020-01-01 01:00:00"),
                                           Version("v2", current=True)])
    v3 = _event("v3", "Third.", versions=[Version("v2", timestamp="2020-01-01 02:00:00"),
                                          Version("v3", current=True)])
    folder = Folder()
    for event in (v1, v3, v2):
        folder.add(event)
    (event,) = folder.events()
    assert (event.id, event.headline, folder.merged) == ("v3", "Third.", 2)
    assert [(v.slug, v.current) for v in event.versions] == [
        ("v1", False), ("v2", False), ("v3", True),
    ]


def test_a_superseding_event_withdrawn_leaves_the_one_it_superseded_counted_as_indexed():
    """When labelling rejects an event that superseded an earlier version admitted in the
    same run (a cluster partition that keeps failing), nothing deletes that earlier record:
    it stays indexed, and the counts must say so (read = indexed + merged + rejected)."""
    folder = StreamFolder()
    first = _event("v1", "First.", versions=[Version("v1", current=True)])
    later = _event("v2", "Second.", versions=[Version("v1", timestamp="2020-01-01 01:00:00"),
                                              Version("v2", current=True)])
    assert folder.admit(first) and folder.admit(later)
    assert (folder.superseded, folder.merged) == (1, 1)
    folder.withdraw(later)
    assert (folder.superseded, folder.merged) == (0, 0)
    folder.withdraw(first)  # superseded nothing: nothing to give back
    assert (folder.superseded, folder.merged) == (0, 0)
