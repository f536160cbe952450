"""One event, one document: fold the records of the same event together.

Two records are the same event when
  - they have the same id (the same page as .md, .json and .xml; or an earlier version's
    page whose Changes already names the current slug), or
  - one lists the other's id among its earlier versions (an alias), in either order of
    arrival, through any chain of versions.

Ids and aliases form a union-find forest whose roots are the current ids; each root keeps
one pending Event. Nothing can be emitted before the end of the dump, since the very last
file may name any earlier event as its old version: the table is the reader's one memory
cost that grows with the dump.

Merge rule: one record wins, and its headline, story and date are the event's; the others
only fill a story it lacks. The winner is, in this order of precedence, a record that
  1. speaks for the current version (not an earlier version's page under the current id),
  2. whose headline gives the id by the archive's slug rule (`slug_of_headline`): the text
     the slug was made from, over another text published under it,
  3. that carries the event's page history (Changes), over a record without versions,
  4. that arrived first.
Sources are united by url (a source named without a url is the same as one of that name
with a url), versions and related links by slug, topics, countries and entities by value;
source_format lists every format that contributed, sorted, joined by "+".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import msgspec

from indexer.record import Event, RelatedLink, Source, Version

_T = TypeVar("_T")


class Folder:
    """Folds Events as they arrive; `events()` gives the result once all are added."""

    def __init__(self) -> None:
        self._events: dict[str, Event] = {}
        self._parent: dict[str, str] = {}
        self.merged = 0
        """Records folded into another record so far."""

    def add(self, event: Event) -> None:
        """Fold one record into the table."""
        root = self._find(event.id)
        if root in self._events:
            self._events[root] = _merge(self._events[root], event, root)
            self.merged += 1
        else:
            self._events[root] = event  # a root with no event yet is always the event's own id
        for alias in event.aliases:
            self._claim(alias, root)

    def events(self) -> Iterator[Event]:
        """The folded events, in order of first arrival, versions tidied."""
        for root, event in self._events.items():
            yield _tidy_versions(event, root)

    def _claim(self, slug: str, root: str) -> None:
        """Make `slug` (an earlier version of `root`) resolve to `root`, folding its event."""
        other = self._find(slug)
        if other == root:
            return
        if other in self._events:
            # The earlier version's page arrived first, as an event of its own.
            self._events[root] = _merge(self._events[root], self._events.pop(other), root)
            self.merged += 1
        self._parent[other] = root

    def _find(self, slug: str) -> str:
        """Follow aliases to the current id, shortening the path as it goes."""
        path = []
        while slug in self._parent:
            path.append(slug)
            slug = self._parent[slug]
        for step in path:
            self._parent[step] = slug
        return slug


def _merge(kept: Event, other: Event, root: str) -> Event:
    """One Event from two records of the same event whose current id is `root`."""
    if _precedence(other, root) > _precedence(kept, root):
        kept, other = other, kept
    return msgspec.structs.replace(
        kept,
        id=root,
        story=kept.story or other.story,
        topics=_union(kept.topics, other.topics),
        countries=_union(kept.countries, other.countries),
        entities=_union(kept.entities, other.entities),
        sources=_union_sources(kept.sources, other.sources),
        versions=_merge_versions(kept.versions, other.versions),
        related=_union_by(kept.related, other.related, _related_key),
        source_format="+".join(sorted(set(_formats(kept) + _formats(other)))),
    )


def _precedence(event: Event, root: str) -> tuple[bool, bool, bool]:
    """How strongly a record speaks for the event (see the merge rule); ties keep the first."""
    return (_speaks_for_current(event, root), _gives_id(event.headline, root),
            bool(event.versions))


_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_DUPLICATE_SUFFIX = re.compile(r"-[0-9]+$")


def slug_of_headline(headline: str) -> str:
    """The archive's slug for a headline: its first 140 characters, lower-cased, every run of
    other characters than a-z and 0-9 turned into "-", trimmed of "-"."""
    return _NOT_SLUG.sub("-", headline[:140].lower()).strip("-")


def _gives_id(headline: str, root: str) -> bool:
    # The archive gives a repeated slug "-2", "-3": the headline gives the slug before those.
    slug = slug_of_headline(headline)
    return bool(slug) and slug in (root, _DUPLICATE_SUFFIX.sub("", root))


def _speaks_for_current(event: Event, root: str) -> bool:
    """Whether the record's headline is the current text of the event.

    An earlier version's page keeps its old headline even when its Changes names the current
    slug (so it has the current id): its headline differs from the current version's text.
    """
    if event.id != root:
        return False
    current = [v for v in event.versions if v.current and v.slug == root]
    return not current or not current[-1].headline or current[-1].headline == event.headline


def _merge_versions(kept: list[Version], other: list[Version]) -> list[Version]:
    # Per slug, fill what one record lacks from the other (a timestamp, a headline).
    by_slug = {v.slug: v for v in kept}
    for version in other:
        known = by_slug.get(version.slug)
        by_slug[version.slug] = _fill_version(known, version) if known else version
    return list(by_slug.values())


def _fill_version(kept: Version, other: Version) -> Version:
    return msgspec.structs.replace(
        kept,
        headline=kept.headline or other.headline,
        timestamp=kept.timestamp or other.timestamp,
    )


def _tidy_versions(event: Event, root: str) -> Event:
    """Only the root's version is current, and it comes last; the rest oldest first."""
    if not event.versions:
        return event
    versions = [msgspec.structs.replace(v, current=v.slug == root) for v in event.versions]
    # Timestamps ("2018-02-06 13:49:29") sort as text; without them all, the listed order
    # (first record's versions, then the other's new ones) is the best guess there is.
    earlier = [v for v in versions if not v.current]
    if all(v.timestamp for v in earlier):
        earlier.sort(key=lambda v: v.timestamp or "")
    return msgspec.structs.replace(event, versions=earlier + [v for v in versions if v.current])


def _formats(event: Event) -> list[str]:
    return [f for f in event.source_format.split("+") if f]


def _source_key(source: Source) -> str:
    return source.url or f"name:{source.name}"


def _union_sources(first: list[Source], second: list[Source]) -> list[Source]:
    # An archive cites "(Reuters via Trust)" by name where a page links it: one source.
    united = _union_by(first, second, _source_key)
    linked = {s.name for s in united if s.url}
    return [s for s in united if s.url or s.name not in linked]


def _related_key(link: RelatedLink) -> str:
    return link.slug


def _union(first: Iterable[_T], second: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys([*first, *second]))


def _union_by(first: list[_T], second: list[_T], key: Callable[[_T], str]) -> list[_T]:
    # First mention wins: the kept record's entries, then what only the other one has.
    by_key: dict[str, _T] = {}
    for item in [*first, *second]:
        by_key.setdefault(key(item), item)
    return list(by_key.values())


class StreamFolder:
    """One event, one document, for dumps too large to hold: first record wins, then a
    second pass mends what it missed.

    Keeps only ids, aliases and a hash of each admitted record's content. A record of an
    event already admitted (another format, or an earlier version's page naming the current
    slug) is merged away before any NLP runs. When its content differs from the admitted
    record's (a page and an archive record of one event: versions and related links on one,
    editors' topics on the other), its id goes to `pending`: the caller reads those ids'
    records again, folds them with `Folder` and writes the result over the first one, so
    the index holds what `read_dump` gives. A record that names an already admitted id
    among its earlier versions is admitted and *supersedes* that record: the index writer
    deletes documents under the aliases of what it writes.
    """

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}  # admitted id -> hash of the record's content
        self._aliases: set[str] = set()  # earlier-version slugs of admitted events
        self.pending: set[str] = set()
        """Admitted ids with a later record of other content: fold them again at the end."""
        self.merged = 0
        """Records folded into another: duplicates skipped plus admitted records superseded."""
        self.superseded = 0
        self._superseding: set[str] = set()  # admitted ids that superseded an admitted one

    def admit(self, event: Event) -> bool:
        aliases = event.aliases
        if event.id in self._ids:
            if _content_hash(event) != self._ids[event.id]:
                self.pending.add(event.id)
            self._aliases.update(aliases)
            self.merged += 1
            return False
        if event.id in self._aliases:
            self._aliases.update(aliases)
            self.merged += 1
            return False
        if any(alias in self._ids for alias in aliases):
            self.superseded += 1
            self.merged += 1
            self._superseding.add(event.id)
        self._ids[event.id] = _content_hash(event)
        self._aliases.update(aliases)
        return True

    def withdraw(self, event: Event) -> None:
        """An admitted event was rejected after all (its labelling failed): it is not
        written, so it is not folded again, and the record it superseded stays indexed."""
        self.pending.discard(event.id)
        if event.id in self._superseding:
            self._superseding.discard(event.id)
            self.superseded -= 1
            self.merged -= 1


_CONTENT_ENCODER = msgspec.msgpack.Encoder()


def _content_hash(event: Event) -> int:
    # The same page as .md, .json and .xml reads as the same record but for where it came from.
    return hash(_CONTENT_ENCODER.encode(
        msgspec.structs.replace(event, source_format="", source_path="")
    ))


def as_current(event: Event) -> Event:
    """The record with the current version's text, as its own Changes section gives it."""
    current = [v for v in event.versions if v.current and v.slug == event.id and v.headline]
    if current and current[-1].headline != event.headline:
        return msgspec.structs.replace(event, headline=current[-1].headline)
    return event
