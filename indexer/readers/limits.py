"""What a dump may hold, and the checks every reader shares (docs/formats.md, "Limits").

Each limit is far above anything the archive needs and low enough that a hostile or broken
dump costs bounded memory: the values and why are next to each. A record past a limit is
rejected with a reason naming the limit; the rest of the dump is read as usual.
"""

from __future__ import annotations

import msgspec

from indexer.record import Event

MAX_HEADLINE_CHARS = 5_000
"""Longest headline accepted: four times the archive's longest (1,221 characters)."""

MAX_RECORD_BYTES = 32 * 1024 * 1024
"""Largest piece read into memory at once: a page file, a WikiTimes array, an NDJSON line, a
UTF-16 file (transcoded whole). A month of WikiTimes is 0.4 MB, an event page a few KB."""

MAX_INFLATE_RATIO = 100
"""Inflated bytes allowed per byte of a compressed file on disk, over every layer inside it
(gzip, zip, nested archives). Apache POI's zip bomb guard uses the same 1:100 ratio; real
dumps inflate 3-10 times (the Portal archive: 3.4)."""

INFLATE_GRACE_BYTES = 1024 * 1024
"""Small files may inflate this much whatever their ratio (a page of a few KB, gzipped)."""

MAX_NESTED_ZIP_BYTES = 64 * 1024 * 1024
"""A zip inside another archive or a gzip has to be held whole to be read (its directory is
at its end); it is held in memory, never written to disk, up to this size."""

MAX_CONTAINER_DEPTH = 8
"""Archives inside archives, at most this deep (a tar.gz is two)."""

MAX_XML_DEPTH = 32
"""Deepest element nesting in an XML page; the page format needs 4."""


class LimitExceeded(ValueError):
    """Input past one of the limits above; the message names the limit."""


def json_error_reason(exc: Exception) -> str:
    """One line for what msgspec raised while decoding untrusted JSON."""
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply (past Python's recursion limit of about 1,000 levels)"
    if isinstance(exc, UnicodeDecodeError):
        # msgspec's offset counts within the string, not the input: name the byte alone.
        return f"invalid UTF-8 in a string (byte 0x{exc.object[exc.start]:02x})"
    return str(exc)


JSON_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
"""What decoding untrusted JSON with msgspec can raise."""


def invalid_utf8_reason(exc: UnicodeDecodeError) -> str:
    return f"invalid UTF-8 at byte {exc.start:,} (0x{exc.object[exc.start]:02x})"


def check_utf8(data: bytes) -> None:
    """Raise LimitExceeded-like ValueError naming the first byte that is not UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(invalid_utf8_reason(exc)) from None


def event_problem(event: Event) -> str | None:
    """What is wrong with a parsed record whatever its format, or None."""
    if not event.headline.strip():
        return "blank headline"
    if len(event.headline) > MAX_HEADLINE_CHARS:
        return (f"headline of {len(event.headline):,} characters, longer than the limit of "
                f"{MAX_HEADLINE_CHARS:,}")
    return None


def read_capped(stream, what: str = "file") -> bytes:
    """The whole stream, or LimitExceeded once it passes MAX_RECORD_BYTES (never more held)."""
    data = stream.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        raise LimitExceeded(f"{what} larger than the limit of {MAX_RECORD_BYTES // 2**20} MiB")
    return data
