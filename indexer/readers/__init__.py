"""Readers: archive dumps in, a stream of canonical `Event` records out.

Public API (everything else in this package is internal to it):

    read_dump(paths) -> ReadResult
        Read every file under `paths` (files, directory trees, tar/tar.gz/zip/gz archives,
        nested in any combination, all detected by content), parse each member with the
        reader for its format, and fold records of the same event into one `Event`.

    iter_records(paths) -> Iterator[Event | Rejected | Skipped]
        The same walk, unfolded and fully streaming: one item per parsed record, rejected
        record or skipped page, in dump order. Use it when memory must stay flat and the
        dump is known to hold each event once (e.g. an NDJSON export of our own index).

    ReadResult, Rejected, Skipped: the result types below.

A bad record never stops reading: it becomes a `Rejected` naming where it is
(`file`, `file:line` for NDJSON, `file#index` for WikiTimes items, `archive!member`
inside containers) and why, in one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike

import msgspec

from indexer.record import Event


class Rejected(msgspec.Struct, frozen=True):
    """A record that could not be read: where it is and a one-line reason."""

    location: str
    reason: str


class Skipped(msgspec.Struct, frozen=True):
    """A page that is valid but is not an event (a day index page)."""

    location: str
    reason: str


class ReadResult(msgspec.Struct):
    """What `read_dump` gives back.

    events    One Event per event, after folding formats and earlier versions together.
    read      Records parsed or rejected (skipped pages are not records).
    merged    Records folded into another record of the same event.
    rejected  Every record that could not be read, in dump order.
    skipped   Non-event pages (day index pages) passed over.

    Invariant: read == len(events) + merged + len(rejected).
    """

    events: list[Event]
    read: int = 0
    merged: int = 0
    rejected: list[Rejected] = []
    skipped: int = 0


PathArg = str | PathLike[str]

# Imported after the Structs above on purpose: the reader modules import Rejected and Skipped
# from this package, so those names must exist before the readers are loaded.
from indexer.readers._read import iter_records  # noqa: E402
from indexer.readers.fold import Folder  # noqa: E402


def read_dump(paths: PathArg | Iterable[PathArg]) -> ReadResult:
    """Read and fold a whole dump; see the module docstring.

    Memory holds the folding table (every distinct event until the end, since a later
    file may name any earlier one as an old version) plus one member being parsed.
    Raises FileNotFoundError if a given path does not exist: that is a caller error,
    not a bad record.
    """
    folder = Folder()
    result = ReadResult(events=[])
    for item in iter_records(paths):
        if isinstance(item, Event):
            result.read += 1
            folder.add(item)
        elif isinstance(item, Rejected):
            result.read += 1
            result.rejected.append(item)
        else:
            result.skipped += 1
    result.events = list(folder.events())
    result.merged = folder.merged
    return result


__all__ = ["ReadResult", "Rejected", "Skipped", "iter_records", "read_dump"]

