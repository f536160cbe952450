"""The unfolded read: paths -> members -> UTF-8 -> format -> parser -> checked records, one
at a time. The limits every format shares (record size, UTF-8, headline) are applied here."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from indexer.readers import (
    Rejected,
    Skipped,
    containers,
    detect,
    ndjson,
    page_json,
    page_markdown,
    page_xml,
    wikitimes,
)
from indexer.readers._encoding import as_utf8
from indexer.readers.limits import check_utf8, event_problem, read_capped
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

# These parsers take the member whole: it is read here, within the record limit, as UTF-8.
_READ_WHOLE = {"page-md", "page-json", "page-xml", "wikitimes"}

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
    try:
        member = as_utf8(member)
    except (ValueError, *_STREAM_ERRORS) as exc:  # LimitExceeded is a ValueError
        yield Rejected(member.location, str(exc))
        return
    format_name = detect.detect(member.head)
    parser = _PARSERS.get(format_name)
    if parser is None:
        yield Rejected(member.location, detect.unknown_reason(member.head))
        return
    try:
        stream = _whole(member.stream) if format_name in _READ_WHOLE else member.stream
        yield from (_checked(record) for record in parser(member.location, stream))
    except ValueError as exc:  # a limit, or UTF-8 (an NDJSON reader checks line by line)
        yield Rejected(member.location, str(exc))
    except _STREAM_ERRORS as exc:
        yield Rejected(member.location, f"damaged while reading: {exc or type(exc).__name__}")


def _whole(stream: BinaryIO) -> BinaryIO:
    data = read_capped(stream)
    check_utf8(data)
    return io.BytesIO(data)


def _checked(record: Record) -> Record:
    """The record, or its rejection when it breaks a rule every format shares."""
    if isinstance(record, Event) and (problem := event_problem(record)):
        return Rejected(record.source_path, problem)
    return record
