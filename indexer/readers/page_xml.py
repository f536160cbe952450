"""Read an event page exported as XML (`page-xml`, root `<event>`, see docs/formats.md).

Parsed by defusedxml's ElementTree parser with DTDs forbidden: a page with a DOCTYPE, an
entity declaration or an external reference is refused by expat's own handlers, whatever the
page's encoding (a byte search for "<!DOCTYPE" missed it in UTF-16), so no entity expands and
no file or URL a page names is read. Elements nest at most MAX_XML_DEPTH deep, counted as
they are parsed. Content arrives as UTF-8 (transcoded from a BOM's encoding before), so that
is the encoding the parser is told, whatever the XML declaration says.
Namespaces are ignored: `{ns}event` reads as `event`. Unknown elements and attributes too.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from typing import BinaryIO

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from indexer.readers import Rejected, Skipped
from indexer.readers._pages import PageError, date_of_path, parse_date, slug_of, topics_of
from indexer.readers.limits import MAX_XML_DEPTH
from indexer.record import Event, RelatedLink, Source, Version

FORMAT = "page-xml"


def parse(location: str, stream: BinaryIO) -> Iterator[Event | Rejected | Skipped]:
    """Yield the page's one Event, or a Rejected saying what is wrong with it."""
    data = stream.read()
    try:
        yield _to_event(_root(data), location)
    except PageError as exc:
        yield Rejected(location, str(exc))


def _root(data: bytes) -> ElementTree.Element:
    parser = DefusedXMLParser(target=_DepthLimitedBuilder(), encoding="utf-8", forbid_dtd=True)
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException as exc:
        raise PageError(f"XML with a DOCTYPE or entities is refused: {exc}") from None
    except ElementTree.ParseError as exc:
        raise PageError(f"unparseable XML: {exc}") from None
    if _local(root.tag) != "event":
        raise PageError(f"XML root <{_local(root.tag)}>, expected <event>")
    return root


class _DepthLimitedBuilder(ElementTree.TreeBuilder):
    """A TreeBuilder that refuses elements nested past MAX_XML_DEPTH as they arrive."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0

    def start(self, tag, attrs):  # noqa: ANN001, ANN201 - TreeBuilder's signature
        self._depth += 1
        if self._depth > MAX_XML_DEPTH:
            raise PageError(f"XML nested deeper than the limit of {MAX_XML_DEPTH} elements")
        return super().start(tag, attrs)

    def end(self, tag):  # noqa: ANN001, ANN201
        self._depth -= 1
        return super().end(tag)


def _to_event(root: ElementTree.Element, location: str) -> Event:
    headline = _text(_child(root, "headline"))
    if not headline:
        raise PageError("missing headline")
    date = root.get("date")
    if date is None:
        raise PageError("missing date attribute on <event>")
    versions = [_version(v) for v in _grandchildren(root, "changes", "version")]
    return Event(
        id=_event_id(root, versions),
        date=parse_date(date),
        headline=headline,
        story=_text(_child(root, "story")) or None,
        topics=topics_of([_text(t) for t in _grandchildren(root, "topics", "topic")]),
        sources=[_source(s) for s in _grandchildren(root, "sources", "source")],
        versions=versions,
        related=[_related(link) for link in _grandchildren(root, "related", "link")],
        source_format=FORMAT,
        source_path=location,
    )


def _event_id(root: ElementTree.Element, versions: list[Version]) -> str:
    # Same rule as the other pages: the current version's slug, else the page's own slug.
    current = [v.slug for v in versions if v.current and v.slug]
    if current:
        return current[-1]
    own = _slug_attr(root)
    if not own:
        raise PageError("no slug: neither slug/path on <event> nor a current <version>")
    return own


def _source(element: ElementTree.Element) -> Source:
    # The name may be an attribute (per the spec) or, leniently, the element's text.
    return Source(name=(element.get("name") or _text(element)).strip(), url=element.get("url", ""))


def _version(element: ElementTree.Element) -> Version:
    return Version(
        slug=_slug_attr(element),
        headline=_text(element),
        timestamp=element.get("timestamp") or None,
        current=element.get("current", "").strip().lower() in ("true", "1", "yes"),
    )


def _related(element: ElementTree.Element) -> RelatedLink:
    return RelatedLink(
        slug=_slug_attr(element),
        headline=_text(_child(element, "headline")),
        context=[tag for c in _children(element, "context") if (tag := _text(c))],
        date=_related_date(element),
    )


def _related_date(element: ElementTree.Element) -> dt.date | None:
    # A related link's date is a hint, not the event's own: a bad one is dropped, not fatal.
    try:
        return parse_date(element.get("date", ""))
    except PageError:
        return date_of_path(element.get("path", ""))


def _slug_attr(element: ElementTree.Element) -> str:
    return slug_of(element.get("slug") or element.get("path") or "")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(parent: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [child for child in parent if _local(child.tag) == name]


def _child(parent: ElementTree.Element, name: str) -> ElementTree.Element | None:
    found = _children(parent, name)
    return found[0] if found else None


def _grandchildren(root: ElementTree.Element, group: str, name: str) -> list[ElementTree.Element]:
    return [item for section in _children(root, group) for item in _children(section, name)]


def _text(element: ElementTree.Element | None) -> str:
    """All text inside an element (inline markup flattened), whitespace-trimmed."""
    return "".join(element.itertext()).strip() if element is not None else ""
