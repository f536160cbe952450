"""The one canonical event record.

Every step works on `Event`: readers build it from a dump, the enricher fills in the
derived labels (topics, countries, entities), the index writer stores it, and the
service renders it. Fields are documented where they are declared.
"""

from __future__ import annotations

import datetime as dt

import msgspec

TOPICS: tuple[str, ...] = (
    "armed-conflicts",
    "arts-culture",
    "business-economy",
    "disasters-accidents",
    "health-environment",
    "international-relations",
    "law-crime",
    "politics-elections",
    "science-technology",
    "sports",
)
"""The ten Current Events Portal categories, as slugs."""

TOPIC_LABELS: dict[str, str] = {
    "armed-conflicts": "Armed conflicts and attacks",
    "arts-culture": "Arts and culture",
    "business-economy": "Business and economy",
    "disasters-accidents": "Disasters and accidents",
    "health-environment": "Health and environment",
    "international-relations": "International relations",
    "law-crime": "Law and crime",
    "politics-elections": "Politics and elections",
    "science-technology": "Science and technology",
    "sports": "Sports",
}
"""Display names of the topics, as the Portal heads its sections."""

ENTITY_TYPES: tuple[str, ...] = ("PERSON", "ORG", "GPE", "NORP", "LOC", "FAC", "EVENT")
"""spaCy entity labels we keep; anything else from NER is dropped."""


class Source(msgspec.Struct, frozen=True, omit_defaults=True):
    """A cited source: the name shown to readers and its link."""

    name: str
    url: str = ""


class Version(msgspec.Struct, frozen=True, omit_defaults=True):
    """One version of the event text, from the page's Changes section.

    `slug` is the page slug that version was published under; an earlier version's slug
    is an alias of the event. `timestamp` is as the source wrote it ("2018-02-06 13:49:29"),
    absent for the current version when the source gives none.
    """

    slug: str
    headline: str = ""
    timestamp: str | None = None
    current: bool = False


class RelatedLink(msgspec.Struct, frozen=True, omit_defaults=True):
    """A related event as the source listed it, with the context tags explaining why."""

    slug: str
    headline: str = ""
    context: list[str] = []
    date: dt.date | None = None


class Entity(msgspec.Struct, frozen=True, omit_defaults=True):
    """A named entity: `text` as written in the headline, `name` canonical, `type` a spaCy label.

    `name` is the stable facet value: articles and possessives stripped, aliases resolved
    ("the U.S." -> "United States").
    """

    text: str
    name: str
    type: str


class Event(msgspec.Struct, omit_defaults=True):
    """One news event, the unit of search.

    id            Stable id: the current version's page slug, or the id the source gave.
    date          Day of the event (not of publication).
    headline      Current text, one to three sentences.
    story         Story label heading the event ("NATO-Russia relations"), if any.
    topics        Topic slugs from TOPICS, primary first. Set by the reader when the source
                  gives a category, otherwise by the enricher.
    countries     ISO 3166-1 alpha-2 codes (plus XK for Kosovo), first mention first.
    entities      Named entities found in the headline (and given by the source).
    sources       Cited sources.
    versions      Every version the source lists, oldest first; the last is current.
    related       Related events as the source listed them.
    source_format Reader that produced the record ("page-md", "page-json", "page-xml",
                  "wikitimes", "ndjson"); several joined by "+" after folding.
    source_path   Where in the dump the record came from (file, or container!member).
    suggested_story            For an event without a story: the story of its nearest
                               labelled neighbours (indexer/story_links.py), set at index
                               time, never when `story` is set.
    suggested_story_confidence Its calibrated probability of being right, 0..1.
    """

    id: str
    date: dt.date
    headline: str
    story: str | None = None
    topics: list[str] = []
    countries: list[str] = []
    entities: list[Entity] = []
    sources: list[Source] = []
    versions: list[Version] = []
    related: list[RelatedLink] = []
    source_format: str = ""
    source_path: str = ""
    suggested_story: str | None = None
    suggested_story_confidence: float | None = None

    @property
    def aliases(self) -> list[str]:
        """Slugs of earlier versions, which resolve to this event."""
        return [v.slug for v in self.versions if v.slug and v.slug != self.id]
