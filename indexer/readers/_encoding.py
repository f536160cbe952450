"""Every member reaches the parsers as UTF-8: what the byte-order mark says is transcoded,
what has none must be UTF-8 (checked where a parser reads it)."""

from __future__ import annotations

import codecs
import io

from indexer.readers import containers
from indexer.readers.limits import read_capped

# Longest marks first: the UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def as_utf8(member: containers.Member) -> containers.Member:
    """The member with UTF-8 content; ValueError with the reason when it cannot be."""
    head = member.head
    if head.startswith(codecs.BOM_UTF8):
        member.stream.read(len(codecs.BOM_UTF8))  # the stream starts at byte 0, as the head
        return containers.Member(member.location, head[3:], member.stream)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return _transcoded(member, encoding)
    if _looks_like_utf16(head):
        raise ValueError("UTF-16 without a byte-order mark: save it as UTF-8, or with a BOM")
    return member


def _transcoded(member: containers.Member, encoding: str) -> containers.Member:
    # Rare enough to read whole (within the record limit) rather than transcode as a stream.
    data = read_capped(member.stream, f"{encoding.upper()} file")
    try:
        utf8 = data.decode(encoding).encode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"invalid {encoding.upper()}: {exc.reason} at byte {exc.start:,}"
        raise ValueError(reason) from None
    return containers.Member(member.location, utf8[: containers.HEAD_SIZE], io.BytesIO(utf8))


def _looks_like_utf16(head: bytes) -> bool:
    # Text in UTF-16 without a mark has a zero in every other byte (Latin script at least).
    sample = head[:4096]
    if len(sample) < 8:
        return False
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    return max(even, odd) > len(sample) // 4 and min(even, odd) < len(sample) // 64
