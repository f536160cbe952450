"""Read canonical NDJSON (`ndjson`): one `Event` per line, decoded straight into the record.

Read line by line from the stream, so a gzipped export of any size stays flat in memory.
Required: id, date (YYYY-MM-DD), headline; the given id is kept. Blank lines are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import msgspec

from indexer.readers import Rejected, Skipped
from indexer.record import Event

FORMAT = "ndjson"

_DECODER = msgspec.json.Decoder(Event)


def parse(location: str, stream: BinaryIO) -> Iterator[Event | Rejected | Skipped]:
    """Yield one Event per line, or a Rejected `location:line` for a bad line."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        line_location = f"{location}:{number}"
        try:
            event = _DECODER.decode(line)
        except msgspec.DecodeError as exc:
            yield Rejected(line_location, f"invalid event line: {exc}")
            continue
        problem = _problem(event)
        if problem:
            yield Rejected(line_location, problem)
            continue
        event.headline = event.headline.strip()
        # Whatever the line claimed, this record was produced here, from this line.
        event.source_format, event.source_path = FORMAT, line_location
        yield event


def _problem(event: Event) -> str | None:
    """What msgspec's types cannot say: required strings must not be blank."""
    if not event.id.strip():
        return "blank id"
    if not event.headline.strip():
        return "blank headline"
    return None
