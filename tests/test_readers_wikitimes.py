"""The WikiTimes reader, on the real September 2015 corpus (428 events)."""

from __future__ import annotations

import collections
import datetime as dt
import json
from pathlib import Path

from indexer.readers import Rejected, iter_records, read_dump
from indexer.readers.wikitimes import TOPIC_OF_CATEGORY
from indexer.record import TOPICS

CORPUS = Path(__file__).parents[2] / "shared" / "corpora" / "wikitimes-2015-09.json"


def test_every_wikitimes_event_is_read_and_accounted_for() -> None:
    result = read_dump(CORPUS)
    assert result.read == 428
    assert result.read == len(result.events) + result.merged + len(result.rejected)
    assert (len(result.events), result.merged, result.rejected, result.skipped) == (428, 0, [], 0)


def test_wikitimes_categories_map_to_topic_slugs() -> None:
    raw = {f"wikitimes-{item['id']}": item for item in json.loads(CORPUS.read_text())}
    events = read_dump(CORPUS).events
    for event in events:
        assert event.topics == [TOPIC_OF_CATEGORY[raw[event.id]["category"]["name"]]]
    counts = collections.Counter(e.topics[0] for e in events)
    assert set(counts) <= set(TOPICS)
    assert counts["armed-conflicts"] == 110
    assert counts["health-environment"] == 10
    assert counts["science-technology"] == 10


def test_wikitimes_item_maps_story_entities_and_sources() -> None:
    event = next(e for e in read_dump(CORPUS).events if e.id == "wikitimes-56657")
    assert event.date == dt.date(2015, 9, 1)
    assert event.headline.startswith("The United Nations confirms the Islamic State")
    assert event.headline.endswith("mostly intact.")
    assert event.story == "Destruction of cultural heritage by ISIL"
    assert [(e.name, e.type) for e in event.entities][:2] == [
        ("United Nations", "MISC"), ("Syria", "MISC"),
    ]
    assert [(s.name, s.url) for s in event.sources] == [
        ("BBC", "http://www.bbc.com/news/world-middle-east-34111092"),
        (
            "Al Jazeera English Online",
            "http://www.aljazeera.com/news/2015/08/"
            "confirms-destruction-famed-palmyra-temple-150831230110476.html",
        ),
    ]
    assert (event.source_format, event.source_path) == ("wikitimes", f"{CORPUS}#0")


def test_wikitimes_event_without_story_has_none() -> None:
    events = read_dump(CORPUS).events
    assert sum(e.story is None for e in events) == 186


def test_bad_wikitimes_items_are_rejected_by_index_and_the_rest_read(tmp_path: Path) -> None:
    good = {"id": "1", "date": "2015-09-01", "description": "A good item.",
            "category": {"name": "Sports"}, "entity": [], "source": []}
    items = [
        good,
        {**good, "id": "2", "description": "  "},
        {**good, "id": "3", "date": "Sept 1"},
        {**good, "id": "4", "category": {"name": "Astrology"}},
        {"date": "2015-09-01", "description": "No id.", "category": {"name": "Sports"}},
    ]
    dump = tmp_path / "wikitimes.json"
    dump.write_text(json.dumps(items))
    records = list(iter_records(dump))
    rejected = {r.location: r.reason for r in records if isinstance(r, Rejected)}
    assert set(rejected) == {f"{dump}#1", f"{dump}#2", f"{dump}#4"}
    assert "missing description" in rejected[f"{dump}#1"]
    assert "bad date 'Sept 1'" in rejected[f"{dump}#2"]
    assert "`id`" in rejected[f"{dump}#4"]
    events = {r.id: r for r in records if not isinstance(r, Rejected)}
    assert events["wikitimes-4"].topics == []  # unknown category: left to the enricher
