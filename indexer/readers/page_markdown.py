"""Read an event page exported as Markdown (`page-md`, see docs/formats.md and the seed page).

Every section is optional except the headline; a page without one (or named `index.md`) is
a day page, which is skipped rather than rejected.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import BinaryIO

import msgspec

from indexer.readers import Rejected, Skipped
from indexer.readers._pages import (
    PageError,
    date_of_path,
    file_stem,
    parse_date,
    slug_of,
    topics_of,
)
from indexer.record import Event, RelatedLink, Source, Version

FORMAT = "page-md"

_DAY_HEADING = re.compile(r"^###\s+\[(?P<date>[^\]]*)\]")
_STORY_HEADING = re.compile(r"^#####\s+(?P<story>.+)$")
# "# " with nothing after it is still a headline line, a blank one (rejected, not skipped).
_HEADLINE = re.compile(r"^#(?:[ \t]+(?P<headline>.*))?$")
_SECTION = re.compile(r"^#{2,6}\s+(?P<name>[^:#]+?):?\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+(?P<item>.+)$")
_SPACE = re.compile(r"\s")
# The URL stops at the next "](" too: otherwise a long line of "](" takes quadratic time.
_FORMATS_LINK = re.compile(r"\]\((?P<url>[^)\s\](]+)\)")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?")
_CONTEXT = re.compile(r"Context:\s*(?P<tags>[^_]*)")


class _Page(msgspec.Struct):
    """What the page says, section by section, before it is checked and turned into an Event."""

    own_slug: str | None = None
    own_date: dt.date | None = None
    date: str | None = None
    story: str | None = None
    headline: str | None = None
    topics: list[str] = []
    sources: list[Source] = []
    versions: list[Version] = []
    related: list[RelatedLink] = []


def parse(location: str, stream: BinaryIO) -> Iterator[Event | Rejected | Skipped]:
    """Yield the one Event of the page, or a Skipped day page, or a Rejected page."""
    text = stream.read().decode("utf-8")  # checked to be UTF-8 before it got here
    if file_stem(location) == "index":
        yield Skipped(location, "day index page")
        return
    page = _scan(text)
    if page.headline is None:
        yield Skipped(location, "no headline: a day page, not an event")
        return
    try:
        yield _to_event(page, location)
    except PageError as exc:
        yield Rejected(location, str(exc))


def _scan(text: str) -> _Page:
    """Collect the sections line by line; lines that fit no section are ignored."""
    page = _Page()
    section: str | None = None
    for line in text.splitlines():
        if line.startswith("Formats:") and (url := _formats_url(line)):
            page.own_slug, page.own_date = slug_of(url), date_of_path(url)
        elif match := _DAY_HEADING.match(line):
            page.date, section = match["date"], None
        elif match := _STORY_HEADING.match(line):
            page.story, section = match["story"].strip(), None
        elif (match := _HEADLINE.match(line)) and page.headline is None:
            page.headline, section = (match["headline"] or "").strip(), None
        elif match := _SECTION.match(line):
            section = match["name"].strip().lower()
        elif (match := _LIST_ITEM.match(line)) and section:
            _add_item(page, section, match["item"])
    return page


def _formats_url(line: str) -> str | None:
    # Every Formats link is the page's own path in another format; any one of them will do.
    match = _FORMATS_LINK.search(line)
    return match["url"] if match else None


def _add_item(page: _Page, section: str, item: str) -> None:
    link = _split_link(item.strip())
    text, url, rest = link if link else (item, "", "")
    text = text.strip()
    if section == "sources":
        page.sources.append(Source(name=text, url=url))
    elif section == "topics":
        page.topics.append(text)
    elif section == "changes" and url:
        page.versions.append(_version(text, url, rest))
    elif section == "related" and url:
        page.related.append(_related(text, url, rest))


def _split_link(item: str) -> tuple[str, str, str] | None:
    """`[text](url) rest` as (text, url, rest), or None if the item is no link.

    The text is greedy, so that brackets inside a headline survive: the last "](" whose URL
    (no spaces) ends in ")" right before a space or the end wins. A regex saying so
    backtracks quadratically on a long line of "](" (minutes for a few hundred KB); this
    walks the candidates from the right and looks at each character once.
    """
    if not item.startswith("["):
        return None
    end = run_end = scanned_from = len(item)
    while (split := item.rfind("](", 1, end)) != -1:
        url_start = split + 2
        # The URL's run of non-space characters: only the stretch not yet scanned is searched.
        if space := _SPACE.search(item, url_start, scanned_from):
            run_end = space.start()
        scanned_from = url_start
        if run_end > url_start and item[run_end - 1] == ")":
            return item[1:split], item[url_start : run_end - 1], item[run_end:]
        end = split + 1
    return None


def _version(text: str, url: str, rest: str) -> Version:
    timestamp = _TIMESTAMP.search(rest)
    return Version(
        slug=slug_of(url),
        headline=text,
        timestamp=timestamp.group(0) if timestamp else None,
        current="current version" in rest.lower(),
    )


def _related(text: str, url: str, rest: str) -> RelatedLink:
    context = _CONTEXT.search(rest)
    tags = [tag.strip() for tag in context["tags"].split(",")] if context else []
    return RelatedLink(
        slug=slug_of(url), headline=text, context=[t for t in tags if t], date=date_of_path(url)
    )


def _to_event(page: _Page, location: str) -> Event:
    event_id = _event_id(page, location)
    return Event(
        id=event_id,
        date=_event_date(page, location),
        headline=page.headline or "",
        story=page.story,
        topics=topics_of(page.topics),
        sources=page.sources,
        versions=page.versions,
        related=page.related,
        source_format=FORMAT,
        source_path=location,
    )


def _event_id(page: _Page, location: str) -> str:
    # docs/formats.md: the current version's slug, else the Formats slug, else the file name.
    current = [v.slug for v in page.versions if v.current]
    return current[-1] if current else page.own_slug or file_stem(location)


def _event_date(page: _Page, location: str) -> dt.date:
    if page.date is not None:
        return parse_date(page.date)
    # No day heading: the page's own path (Formats links, or the dump layout
    # news/YYYY/MM/DD/ of the file itself) still dates it.
    date = page.own_date or date_of_path("/" + location.rsplit("!", 1)[-1].replace("\\", "/"))
    if date is None:
        raise PageError("no date: no day heading and no /news/YYYY/MM/DD/ path")
    return date
