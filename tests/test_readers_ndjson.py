"""The canonical NDJSON reader: good lines become Events, bad lines are rejected as file:line."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

from indexer.readers import Rejected, read_dump

EVENTS = Path(__file__).parent / "fixtures_readers" / "events.ndjson"


def test_good_ndjson_lines_become_events_keeping_their_ids() -> None:
    result = read_dump(EVENTS)
    assert [e.id for e in result.events] == ["ev-1", "ev-2", "ev-7"]
    first = result.events[0]
    assert (first.date, first.headline, first.topics) == (
        dt.date(2020, 1, 2), "A library reopens after repairs.", ["arts-culture"],
    )
    assert result.events[1].sources[0].url == "http://sports.example/1"


def test_ndjson_event_records_where_it_was_read() -> None:
    last = read_dump(EVENTS).events[-1]
    assert (last.source_format, last.source_path) == ("ndjson", f"{EVENTS}:8")


def test_bad_ndjson_lines_are_rejected_with_file_and_line() -> None:
    result = read_dump(EVENTS)
    assert [r.location for r in result.rejected] == [f"{EVENTS}:{n}" for n in (3, 4, 6, 7)]
    reasons = [r.reason for r in result.rejected]
    assert reasons[0].startswith("invalid event line: ")
    assert "missing required field `headline`" in reasons[1]
    assert "`$.date`" in reasons[2]
    assert reasons[3] == "blank headline"


def test_ndjson_counts_add_up_and_blank_lines_are_not_records() -> None:
    result = read_dump(EVENTS)
    assert (result.read, len(result.events), result.merged, len(result.rejected)) == (7, 3, 0, 4)


def test_gzipped_ndjson_is_read_line_by_line_with_line_numbers(tmp_path: Path) -> None:

    dump = tmp_path / "events.ndjson.gz"
    dump.write_bytes(gzip.compress(EVENTS.read_bytes()))
    result = read_dump(dump)
    assert [e.id for e in result.events] == ["ev-1", "ev-2", "ev-7"]
    assert result.rejected[0] == Rejected(f"{dump}:3", result.rejected[0].reason)
