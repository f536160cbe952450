"""The unfolded read: paths -> members -> format -> parser -> records, one at a time."""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from indexer.readers import Rejected, Skipped, containers, detect
from indexer.readers import ndjson, page_json, page_markdown, page_xml, wikitimes
from indexer.record import Event

Record = Event | Rejected | Skipped
Parser = Callable[[str, BinaryIO], Iterator[Record]]

_PARSERS: dict[str, Parser] = {
    "page-md": page_markdown.parse,
    "page-json": page_json.parse,
    "page-xml": page_xml.parse,
    "wikitimes": wikitimes.parse,
    "ndjson": ndjson.parse,
}

# A member can still turn out damaged while a parser reads it (a gzip CRC error at its end).
_STREAM_ERRORS = (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile)


def iter_records(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> Iterator[Record]:
    """Yield every record of the dump, unfolded, in dump order (see the package docstring)."""
    for path in _path_list(paths):
        for member in containers.walk(path):
            if isinstance(member, Rejected):
                yield member
            else:
                yield from _parse_member(member)


def _path_list(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[str | os.PathLike[str]]:
    # A single path is also an iterable (of characters): tell the two apart first.
    if isinstance(paths, str | os.PathLike):
        return [paths]
    return list(paths)


def _parse_member(member: containers.Member) -> Iterator[Record]:
    format_name = detect.detect(member.head)
    parser = _PARSERS.get(format_name)
    if parser is None:
        yield Rejected(member.location, detect.unknown_reason(member.head))
        return
    try:
        yield from parser(member.location, member.stream)
    except _STREAM_ERRORS as exc:
        yield Rejected(member.location, f"damaged while reading: {exc or type(exc).__name__}")
