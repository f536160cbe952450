"""An event page as JSON (`page-json`): the reader's schema, pretty-printed."""

from __future__ import annotations

import msgspec

from indexer.record import TOPIC_LABELS, Event


def write(event: Event) -> bytes:
    page = {
        "date": event.date.isoformat(),
        "slug": event.id,
        "story": event.story,
        "headline": event.headline,
        "topics": [TOPIC_LABELS.get(topic, topic) for topic in event.topics],
        "sources": [{"name": s.name, "url": s.url} for s in event.sources],
        "changes": [{"slug": v.slug, "headline": v.headline, "timestamp": v.timestamp,
                     "current": v.current} for v in event.versions],
        "related": [{"slug": link.slug,
                     "date": link.date.isoformat() if link.date else None,
                     "headline": link.headline, "context": list(link.context)}
                    for link in event.related],
    }
    return msgspec.json.format(msgspec.json.encode(page), indent=2) + b"\n"
