"""An event page as Markdown (`page-md`), laid out as the seed page is.

Markdown has no line breaks inside a heading or a link: any run of whitespace in a text
becomes one space.
"""

from __future__ import annotations

from indexer.record import TOPIC_LABELS, Event, RelatedLink, Version
from indexer.writers import day_path, page_path


def write(event: Event) -> bytes:
    own = {ext: page_path(event.date, event.id, ext) for ext in ("html", "json", "xml", "md")}
    lines = [
        (f"Formats: [HTML]({own['html']})  [JSON]({own['json']})  [XML]({own['xml']})  "
         f"[Markdown]({own['md']})"),
        "",
        f"### [{event.date.isoformat()}]({day_path(event.date, 'index.md')})",
        "",
    ]
    if event.story:
        lines.append(f"##### {one_line(event.story)}")
    lines += [f"# {one_line(event.headline)}", ""]
    if event.topics:
        lines += ["### Topics:", ""]
        lines += [f"1. {TOPIC_LABELS.get(topic, topic)}" for topic in event.topics]
        lines.append("")
    if event.sources:
        lines += ["### Sources:", ""]
        lines += [f"1. [{one_line(s.name)}]({s.url})" for s in event.sources]
        lines.append("")
    if event.versions:
        lines += ["### Changes:", ""]
        lines += [_version(event, v, first=i == 0) for i, v in enumerate(event.versions)]
        lines.append("")
    if event.related:
        lines += ["### Related:", ""]
        lines += [f"{i}. {_related(link)}" for i, link in enumerate(event.related, start=1)]
        lines.append("")
    return "\n".join(lines).encode()


def _version(event: Event, version: Version, first: bool) -> str:
    marks = [version.timestamp or ""]
    if first:
        marks.append("(First version)")
    if version.current:
        marks.append("(Current version)")
    note = " ".join(mark for mark in marks if mark)
    link = f"[{one_line(version.headline)}]({page_path(event.date, version.slug, 'md')})"
    return f"1. {link} _{note}_" if note else f"1. {link}"


def _related(link: RelatedLink) -> str:
    # A link without a date still names its slug: /news/<slug>.md
    path = page_path(link.date, link.slug, "md") if link.date else f"/news/{link.slug}.md"
    context = f" _Context: {', '.join(one_line(tag) for tag in link.context)}_" if link.context else ""
    return f"[{one_line(link.headline)}]({path}){context}"


def one_line(text: str) -> str:
    """`text` on one line: Markdown ends a heading or a list item at a line break."""
    return " ".join(text.split())
