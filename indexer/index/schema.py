"""The Tantivy schema of an event index, and its version.

Full-text fields are stemmed English (`en_stem`, built into Tantivy). Label fields
(country, topic, entity, story, source) are raw-tokenized fast fields: filters match them
exactly and facet counts come from Tantivy's terms aggregations. The whole `Event` is kept
as a msgspec-encoded `payload` (less its id and headline, which are stored fields of their
own), so a hit renders without another store.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import hashlib
import zlib

import tantivy

SCHEMA_VERSION = 10
"""Bump on any change below: an index carrying another version is rebuilt, never misread."""

FULL_TEXT_FIELDS = ("headline", "story_text", "entity_text", "source_text")
"""Searched by the search box, with these boosts: the event's own words weigh most."""
FIELD_BOOSTS = {"headline": 2.0, "story_text": 1.5, "entity_text": 1.5, "source_text": 0.5}

LABEL_FIELDS = ("country", "topic", "entity", "story", "source")
"""Raw, fast, filterable and faceted; also usable as `field:value` in the search box."""

SAMPLE_BUCKETS = 64
"""Every event falls in one of these buckets by a hash of its id: facet counts over a huge
result set read a few buckets (an unbiased sample) instead of every match."""

ENTITY_KINDS = {
    "PERSON": "person",
    "ORG": "organisation",
    "GPE": "place",
    "LOC": "place",
    "FAC": "place",
    "NORP": "group",
    "EVENT": "event",
}
"""Entity facet kinds by spaCy label; anything else (e.g. a source's untyped entity) is "other"."""


def entity_kind(label: str) -> str:
    return ENTITY_KINDS.get(label, "other")


def typed_entities(entities) -> list[str]:
    """"kind:name" of each distinct entity (`Entity` objects), as the entity facet shows them."""
    return list(dict.fromkeys(f"{entity_kind(e.type)}:{e.name}" for e in entities))


def event_rank(day_number: int, event_id: str) -> int:
    return day_number * 2**32 + zlib.crc32(event_id.encode())


def sample_bucket(event_id: str) -> int:
    return zlib.crc32(event_id.encode()) * SAMPLE_BUCKETS >> 32  # top bits of the hash


@functools.lru_cache(maxsize=1 << 16)  # entities recur: bulk indexing hashes each once
def label_key(label: str) -> int:
    """A number standing for a label ("person:Vladimir Putin", a story) in a numeric fast
    field.

    Tantivy counts a text fast field by term ordinals and then looks each value it keeps
    up by name in the segment's term dictionary: for a dictionary of thousands of
    entities that lookup was most of the entity facet's cost (2.5 ms for a word in 8,000
    events), and it takes about 9 microseconds a story name. Numbers are counted and
    returned as they are; the service maps them back to names. 53 bits, exact through
    any JSON or float on the way; two of a million labels share a key with odds of about
    1 in 18,000.
    """
    return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "big") >> 11


def calendar_terms(day: dt.date) -> tuple[int, int, int]:
    """The `calendar` terms of a day: its year, month and day (YYYY, YYYYMM, YYYYMMDD)."""
    return day.year, day.year * 100 + day.month, day.year * 10000 + day.month * 100 + day.day


def calendar_cover(start: dt.date, end: dt.date) -> list[int]:
    """The fewest `calendar` terms whose days are exactly `start`..`end`: whole years, then
    whole months, then single days (2016-11-30..2018-01-31 -> 20161130, 2017, 201801)."""
    terms, day = [], start
    while day <= end:
        year_end, month_end = dt.date(day.year, 12, 31), _month_end(day)
        if day == dt.date(day.year, 1, 1) and year_end <= end:
            terms.append(day.year)
            following = year_end
        elif day.day == 1 and month_end <= end:
            terms.append(day.year * 100 + day.month)
            following = month_end
        else:
            terms.append(calendar_terms(day)[2])
            following = day
        if following == dt.date.max:
            break
        day = following + dt.timedelta(days=1)
    return terms


def _month_end(day: dt.date) -> dt.date:
    return dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # Ids and old-version slugs: raw text, because delete-by-term on text ids is reliable.
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("alias", tokenizer_name="raw")
    builder.add_text_field("headline", stored=True, tokenizer_name="en_stem")
    for field in FULL_TEXT_FIELDS[1:]:
        builder.add_text_field(field, tokenizer_name="en_stem")
    # The headline's words unstemmed, for completions ("missile", not "missil").
    builder.add_text_field("headline_words", tokenizer_name="default", index_option="basic")
    for field in LABEL_FIELDS:
        builder.add_text_field(field, fast=True, tokenizer_name="raw")
    # Calendar buckets for the date facet (date_histogram only has fixed intervals):
    # YYYYMM and YYYYMMDD, which fit any calendar date (a Tantivy date field counts
    # nanoseconds, 1677 to 2262). Years are sums of months, so no year field: every field
    # costs indexing time.
    builder.add_integer_field("month", fast=True)
    builder.add_integer_field("day", fast=True)
    # Date filters: the event's year (YYYY), month (YYYYMM) and day (YYYYMMDD) as terms, so
    # that a closed range is a union of a few posting lists (a year, the months and days at
    # its edges), as Lucene's trie ranges were. Tantivy runs a range over a fast field as a
    # column scan, which intersected with a common word took 14 ms at a million events;
    # one range over an indexed field gathers every matching posting first, costly when
    # the words match few events.
    builder.add_integer_field("calendar", indexed=True)
    # Date order with a unique tie-break: days since 1970 * 2**32 + crc32(id). Sorting and
    # search_after cursors use it, so events of one day never swap places between pages.
    builder.add_integer_field("rank", indexed=True, fast=True)
    # "TYPE:name" of every entity, for the entity facet by type (person, organisation...).
    builder.add_text_field("entity_typed", fast=True, tokenizer_name="raw")
    # label_key of each "TYPE:name": what the entity facet counts. Indexed as well, so a
    # key can be turned back into its name through any event that carries it.
    builder.add_integer_field("entity_key", indexed=True, fast=True)
    # label_key of the story, for the story facet likewise.
    builder.add_integer_field("story_key", indexed=True, fast=True)
    # A story suggested by the labelled neighbours (indexer/story_links.py) and its
    # confidence; at or above the threshold it is also in `story` and `story_key`.
    builder.add_text_field("suggested_story", tokenizer_name="raw")
    builder.add_float_field("suggested_story_confidence", indexed=True, fast=True)
    # Indexed, not fast: a range over it is a union of a few posting lists, cheap to intersect.
    builder.add_integer_field("sample", indexed=True)
    builder.add_bytes_field("payload", stored=True)
    return builder.build()
