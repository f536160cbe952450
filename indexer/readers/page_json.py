"""Read an event page exported as JSON (`page-json`, see docs/formats.md).

The input schema is declared as Structs below; msgspec ignores unknown fields and its
validation errors name the offending field, which become the rejection reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import BinaryIO

import msgspec

from indexer.readers import Rejected, Skipped
from indexer.readers._pages import PageError, date_of_path, parse_date, slug_of, topics_of
from indexer.readers.limits import JSON_ERRORS, json_error_reason
from indexer.record import Event, RelatedLink, Source, Version

FORMAT = "page-json"


class _Source(msgspec.Struct):
    name: str = ""
    url: str = ""


class _Change(msgspec.Struct):
    slug: str | None = None
    path: str | None = None
    headline: str = ""
    timestamp: str | None = None
    current: bool = False


class _Related(msgspec.Struct):
    slug: str | None = None
    path: str | None = None
    date: str | None = None
    headline: str = ""
    context: list[str] = []


class _Page(msgspec.Struct):
    date: str
    headline: str
    slug: str | None = None
    path: str | None = None
    story: str | None = None
    topics: list[str] = []
    sources: list[_Source] = []
    changes: list[_Change] = []
    related: list[_Related] = []


_DECODER = msgspec.json.Decoder(_Page)


def parse(location: str, stream: BinaryIO) -> Iterator[Event | Rejected | Skipped]:
    """Yield the page's one Event, or a Rejected saying what is wrong with it."""
    try:
        page = _DECODER.decode(stream.read())
        yield _to_event(page, location)
    except JSON_ERRORS as exc:
        yield Rejected(location, f"invalid page JSON: {json_error_reason(exc)}")
    except PageError as exc:
        yield Rejected(location, str(exc))


def _to_event(page: _Page, location: str) -> Event:
    if not page.headline.strip():
        raise PageError("missing headline")
    versions = [_version(change) for change in page.changes]
    return Event(
        id=_event_id(page, versions),
        date=parse_date(page.date),
        headline=page.headline.strip(),
        story=page.story.strip() if page.story else None,
        topics=topics_of(page.topics),
        sources=[Source(name=s.name.strip(), url=s.url) for s in page.sources],
        versions=versions,
        related=[_related(link) for link in page.related],
        source_format=FORMAT,
        source_path=location,
    )


def _event_id(page: _Page, versions: list[Version]) -> str:
    # Same rule as the Markdown page: the current version's slug, else the page's own slug.
    current = [v.slug for v in versions if v.current and v.slug]
    if current:
        return current[-1]
    own = page.slug or (slug_of(page.path) if page.path else "")
    if not own:
        raise PageError("no slug: neither `slug`/`path` nor a current entry in `changes`")
    return slug_of(own)


def _version(change: _Change) -> Version:
    return Version(
        slug=slug_of(change.slug or change.path or ""),
        headline=change.headline.strip(),
        timestamp=change.timestamp,
        current=change.current,
    )


def _related(link: _Related) -> RelatedLink:
    # A related date may be given outright or only through the linked page's path.
    date = _lenient_date(link.date) if link.date else None
    if date is None and link.path:
        date = date_of_path(link.path)
    return RelatedLink(
        slug=slug_of(link.slug or link.path or ""),
        headline=link.headline.strip(),
        context=[tag.strip() for tag in link.context if tag.strip()],
        date=date,
    )


def _lenient_date(value: str) -> dt.date | None:
    # A related link's date is a hint, not the event's own: a bad one is dropped, not fatal.
    try:
        return parse_date(value)
    except PageError:
        return None
