"""Read a WikiTimes Current Events Portal dump (`wikitimes`): one JSON array of events.

The array is split into raw items first and each item is decoded on its own, so a bad item
is rejected as `file#index` while the rest are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import msgspec

from indexer.readers import Rejected, Skipped
from indexer.readers._pages import PageError, parse_date
from indexer.readers.limits import JSON_ERRORS, json_error_reason
from indexer.record import Entity, Event, Source

FORMAT = "wikitimes"

TOPIC_OF_CATEGORY: dict[str, str] = {
    "War_Conflict": "armed-conflicts",
    "Disaster_Accident": "disasters-accidents",
    "International_Relation": "international-relations",
    "Law_Crime": "law-crime",
    "Politics": "politics-elections",
    "Business_Finance": "business-economy",
    "Entertainment_Culture": "arts-culture",
    "Sports": "sports",
    "Technology_Internet": "science-technology",
    "Science": "science-technology",
    "Health_Medical_Pharma": "health-environment",
    "Environment": "health-environment",
}
"""WikiTimes `category.name` -> our topic slug (record.TOPICS). Unknown categories give none."""

ENTITY_TYPE = "MISC"
"""WikiTimes entities come untyped; the enricher assigns the real spaCy label."""


class _Named(msgspec.Struct):
    name: str = ""


class _Source(msgspec.Struct):
    sourceName: str = ""  # noqa: N815 - the dump's field name
    url: str = ""


class _Item(msgspec.Struct):
    id: str | int
    date: str
    description: str
    category: _Named | None = None
    belongsToStory: _Named | None = None  # noqa: N815 - the dump's field name
    entity: list[_Named] = []
    source: list[_Source] = []


_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
_ITEM = msgspec.json.Decoder(_Item)


def parse(location: str, stream: BinaryIO) -> Iterator[Event | Rejected | Skipped]:
    """Yield one Event per array item, or a Rejected `location#index` for a bad item."""
    try:
        items = _ARRAY.decode(stream.read())
    except JSON_ERRORS as exc:
        yield Rejected(location, f"invalid WikiTimes JSON array: {json_error_reason(exc)}")
        return
    for index, raw in enumerate(items):
        item_location = f"{location}#{index}"
        try:
            yield _to_event(_ITEM.decode(raw), item_location)
        except JSON_ERRORS as exc:
            yield Rejected(item_location, f"invalid WikiTimes item: {json_error_reason(exc)}")
        except PageError as exc:
            yield Rejected(item_location, str(exc))


def _to_event(item: _Item, location: str) -> Event:
    # Descriptions carry stray runs of spaces (often trailing ones) from the wiki markup.
    headline = " ".join(item.description.split())
    if not headline:
        raise PageError("missing description (the headline)")
    if not str(item.id).strip():
        raise PageError("missing id")
    return Event(
        id=f"wikitimes-{item.id}",
        date=parse_date(item.date),
        headline=headline,
        story=(item.belongsToStory.name.strip() or None) if item.belongsToStory else None,
        topics=_topics(item.category),
        entities=_entities(item.entity),
        sources=_sources(item.source),
        source_format=FORMAT,
        source_path=location,
    )


def _topics(category: _Named | None) -> list[str]:
    topic = TOPIC_OF_CATEGORY.get(category.name) if category else None
    return [topic] if topic else []


def _entities(entities: list[_Named]) -> list[Entity]:
    # Names repeat within an item now and then; one facet value per name is enough.
    names = dict.fromkeys(e.name.strip() for e in entities if e.name.strip())
    return [Entity(text=name, name=name, type=ENTITY_TYPE) for name in names]


def _sources(sources: list[_Source]) -> list[Source]:
    # One source per url (or per name when there is no url), first mention kept.
    by_key: dict[str, Source] = {}
    for source in sources:
        key = source.url or source.sourceName
        by_key.setdefault(key, Source(name=source.sourceName.strip(), url=source.url))
    return list(by_key.values())
