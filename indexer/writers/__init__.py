"""Writers: one `Event` out as the archive's own page formats, the inverse of the readers.

Public API:

    write_page(event, extension) -> bytes
        The event page as Markdown ("md"), JSON ("json") or XML ("xml"), in exactly the
        formats the readers take (docs/formats.md): reading the bytes back gives the same
        event (its derived labels come back from enrichment, as they came the first time).

    page_path(day, slug, extension="") -> str
        The page's path on the archive's site: /news/YYYY/MM/DD/<slug>[.<extension>].

    day_path(day, name="") -> str
        A day page's path: /news/YYYY/MM/DD/ (or /news/YYYY/MM/DD/index.md).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from indexer.record import Event

PAGE_FORMATS = ("md", "json", "xml")


def page_path(day: dt.date, slug: str, extension: str = "") -> str:
    suffix = f".{extension}" if extension else ""
    return f"{day_path(day)}{quote(slug, safe='')}{suffix}"


def day_path(day: dt.date, name: str = "") -> str:
    return f"/news/{day.year:04d}/{day.month:02d}/{day.day:02d}/{name}"


def write_page(event: Event, extension: str) -> bytes:
    if extension not in PAGE_FORMATS:
        raise ValueError(f"no page format {extension!r}: one of {', '.join(PAGE_FORMATS)}")
    # Imported here: each writer imports page_path from this module.
    from indexer.writers import page_json, page_markdown, page_xml

    writer = {"md": page_markdown, "json": page_json, "xml": page_xml}[extension]
    return writer.write(event)


__all__ = ["PAGE_FORMATS", "day_path", "page_path", "write_page"]
