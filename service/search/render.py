"""Stored events to response objects."""

from __future__ import annotations

import html

import msgspec
import tantivy

from indexer.enrich.countries import country_name
from indexer.record import Event
from indexer.story_links import shown_story
from service.models import CountryOut, EntityOut, Hit, SourceOut

_decoder = msgspec.msgpack.Decoder(Event)


def stored_event(doc: tantivy.Document) -> Event:
    event = _decoder.decode(doc.get_first("payload"))
    # The payload leaves out what the document stores anyway (writer.to_document).
    event.id = doc.get_first("id")
    event.headline = doc.get_first("headline")
    return event


def hit_fields(event: Event, snippet: str | None = None) -> dict:
    """The fields every rendering of an event shares, as keyword arguments for Hit."""
    return dict(
        id=event.id,
        date=event.date,
        headline=event.headline,
        snippet=snippet if snippet is not None else html.escape(event.headline),
        story=event.story,
        topics=list(event.topics),
        countries=[CountryOut(code=c, name=country_name(c)) for c in event.countries],
        entities=[EntityOut(name=e.name, type=e.type) for e in event.entities],
        sources=[SourceOut(name=s.name, url=s.url) for s in event.sources],
        suggested_story=shown_story(event),
        suggested_story_confidence=(event.suggested_story_confidence
                                    if shown_story(event) else None),
    )


def hit(event: Event, snippet: str | None = None) -> Hit:
    return Hit(**hit_fields(event, snippet))
