"""Tell the format of one member from its first bytes, never from its name.

Formats (see docs/formats.md): page-md, page-json, page-xml, wikitimes, ndjson; anything
else is "unknown" and `unknown_reason` says in one line what it looked like.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from indexer.readers.containers import HEAD_SIZE

Format = Literal["page-md", "page-json", "page-xml", "wikitimes", "ndjson", "unknown"]

_XML_ROOT = re.compile(r"<([A-Za-z_][\w.:-]*)")
_XML_PROLOGUE = re.compile(r"\s*(<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(\[.*?\])?\s*>)", re.DOTALL)
# A Markdown event page has a heading, a dated day link or a Formats line near its top.
_MARKDOWN = re.compile(r"^(#{1,6} \S|Formats: \[)", re.MULTILINE)


def detect(head: bytes) -> Format:
    """Return the format of a member whose content starts with `head`."""
    text = _text(head)
    if text is None:
        return "unknown"
    stripped = text.lstrip()
    if stripped.startswith("["):
        return "wikitimes" if _looks_like_wikitimes(stripped) else "unknown"
    if stripped.startswith("{"):
        return _json_object_format(stripped, cut=len(head) >= HEAD_SIZE)
    if stripped.startswith("<"):
        return "page-xml" if _xml_root(stripped) == "event" else "unknown"
    if _MARKDOWN.search(text):
        return "page-md"
    return "unknown"


def unknown_reason(head: bytes) -> str:
    """One line describing content `detect` did not recognise."""
    text = _text(head)
    if not head.strip():
        return "empty file"
    if text is None:
        return "unknown format: binary content"
    stripped = text.lstrip()
    if stripped.startswith("["):
        return "unknown format: JSON array whose items lack description/category (not WikiTimes)"
    if stripped.startswith("<"):
        return f"unknown format: XML root <{_xml_root(stripped)}>, expected <event>"
    first_line = stripped.splitlines()[0][:60]
    return f"unknown format: starts with {first_line!r}"


def _text(head: bytes) -> str | None:
    """Decode the head as UTF-8, or None if it is binary."""
    if b"\x00" in head:
        return None
    # The head may end in the middle of a multi-byte character: ignore only that tail.
    text = head.decode("utf-8", errors="replace")
    if text.count("\ufffd") > 4:
        return None
    return text.removeprefix("\ufeff")


def _looks_like_wikitimes(text: str) -> bool:
    # Decode the first array item only; the head may cut the array anywhere after it.
    try:
        first, _ = json.JSONDecoder().raw_decode(text, text.index("[") + 1 + _blank(text[1:]))
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json allows
        # First item longer than the head: fall back to spotting its keys.
        return '"description"' in text and '"category"' in text
    return isinstance(first, dict) and "description" in first and "category" in first


def _blank(text: str) -> int:
    return len(text) - len(text.lstrip())


def _json_object_format(text: str, cut: bool) -> Format:
    """A file of `{` objects is NDJSON when its first line is a whole object, else one page."""
    if "\n" not in text and cut:
        # A first line longer than the head: pages are a few KB and pretty-printed, so this
        # is an NDJSON line (and if not, that reader says what it lacks, with the line).
        return "ndjson"
    first_line = text.split("\n", 1)[0].strip()
    more_lines = bool(text.split("\n", 1)[1].strip()) if "\n" in text else False
    if not (first_line.startswith("{") and first_line.endswith("}")):
        return "page-json"  # a pretty-printed object spanning lines
    try:
        first = json.loads(first_line)
    except (ValueError, RecursionError):
        return "ndjson"  # a broken first line; the NDJSON reader reports it with its line
    if isinstance(first, dict) and not more_lines and "id" not in first:
        # A lone compact object without an Event id: a page written on one line (and if it
        # is not, the page reader's reason names what is missing better than NDJSON's would).
        return "page-json"
    return "ndjson"


def _xml_root(text: str) -> str:
    position = 0
    while match := _XML_PROLOGUE.match(text, position):
        position = match.end()
    root = _XML_ROOT.match(text, position + _blank(text[position:]))
    if root is None:
        return "?"
    return root.group(1).rsplit(":", 1)[-1]
