"""Read canonical NDJSON (`ndjson`): one `Event` per line, decoded straight into the record.

Read line by line from the stream, so a gzipped export of any size stays flat in memory; a
line longer than MAX_RECORD_BYTES is rejected without being held. Required: id, date
(YYYY-MM-DD), headline; the given id is kept. Blank lines are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import msgspec

from indexer.readers import Rejected, Skipped
from indexer.readers.limits import (
    JSON_ERRORS,
    MAX_RECORD_BYTES,
    event_problem,
    json_error_reason,
)
from indexer.record import Event

FORMAT = "ndjson"

_DECODER = msgspec.json.Decoder(Event)


def parse(location: str, stream: BinaryIO) -> Iterator[Event | Rejected | Skipped]:
    """Yield one Event per line, or a Rejected `location:line` for a bad line."""
    for number, line in enumerate(_lines(stream), start=1):
        line_location = f"{location}:{number}"
        if line is None:
            yield Rejected(line_location, f"line longer than the limit of "
                                          f"{MAX_RECORD_BYTES // 2**20} MiB")
            continue
        if not line.strip():
            continue
        try:
            event = _DECODER.decode(line)
        except JSON_ERRORS as exc:
            yield Rejected(line_location, f"invalid event line: {json_error_reason(exc)}")
            continue
        problem = _problem(event)
        if problem:
            yield Rejected(line_location, problem)
            continue
        event.headline = event.headline.strip()
        # Whatever the line claimed, this record was produced here, from this line.
        event.source_format, event.source_path = FORMAT, line_location
        yield event


def _lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """Each line, or None for a line past the limit (read through, never held whole)."""
    while line := stream.readline(MAX_RECORD_BYTES + 1):
        if len(line) <= MAX_RECORD_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while (rest := stream.readline(MAX_RECORD_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def _problem(event: Event) -> str | None:
    """What msgspec's types cannot say: the id must not be blank, the headline within the
    limits (checked here as well as for every format, since the write API's upserts come
    straight to this parser)."""
    if not event.id.strip():
        return "blank id"
    return event_problem(event)
