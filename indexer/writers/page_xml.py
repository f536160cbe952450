"""An event page as XML (`page-xml`, root `<event>`), built with ElementTree, which escapes
every text and attribute."""

from __future__ import annotations

from xml.etree import ElementTree

from indexer.record import TOPIC_LABELS, Event


def write(event: Event) -> bytes:
    root = ElementTree.Element("event", date=event.date.isoformat(), slug=event.id)
    if event.story:
        ElementTree.SubElement(root, "story").text = event.story
    ElementTree.SubElement(root, "headline").text = event.headline
    if event.topics:
        topics = ElementTree.SubElement(root, "topics")
        for topic in event.topics:
            ElementTree.SubElement(topics, "topic").text = TOPIC_LABELS.get(topic, topic)
    sources = ElementTree.SubElement(root, "sources")
    for source in event.sources:
        ElementTree.SubElement(sources, "source", name=source.name, url=source.url)
    changes = ElementTree.SubElement(root, "changes")
    for version in event.versions:
        attributes = {"slug": version.slug}
        if version.timestamp:
            attributes["timestamp"] = version.timestamp
        if version.current:
            attributes["current"] = "true"
        ElementTree.SubElement(changes, "version", attributes).text = version.headline
    related = ElementTree.SubElement(root, "related")
    for link in event.related:
        attributes = {"slug": link.slug}
        if link.date:
            attributes["date"] = link.date.isoformat()
        element = ElementTree.SubElement(related, "link", attributes)
        ElementTree.SubElement(element, "headline").text = link.headline
        for tag in link.context:
            ElementTree.SubElement(element, "context").text = tag
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
