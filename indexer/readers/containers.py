"""Walk a dump path as a stream of members, opening containers by content.

A path may be a directory tree, a tar (plain or gzipped), a zip, a single gzipped file or a
plain file, nested in any combination. Containers are recognised by their magic bytes, never
by extension, because dumps get renamed. Members are streamed one at a time: a member's
`stream` is valid only until the next member is requested (tar streams cannot rewind).

Locations: a file's path; `archive!member` for a member; a single `.gz` keeps the path of
the `.gz` itself, since it holds exactly one file.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import BinaryIO

import msgspec

from indexer.readers import Rejected

HEAD_SIZE = 64 * 1024
"""Bytes kept from the start of every member: enough to spot containers and formats."""

_SPOOL_LIMIT = 16 * 1024 * 1024
"""A zip nested in a stream is spooled to disk past this size (zip needs to seek)."""

_CORRUPT = (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile)
"""What a damaged container raises while being walked."""


class Member(msgspec.Struct):
    """One leaf file of the dump: its location, its first bytes, and a stream from byte 0."""

    location: str
    head: bytes
    stream: BinaryIO


def walk(path: str | os.PathLike[str]) -> Iterator[Member | Rejected]:
    """Yield every leaf member under `path`, in a stable order, containers expanded.

    Directories are walked sorted and recursively; archive members come in archive order.
    A damaged container yields a Rejected for itself and the walk goes on with the next file.
    """
    location = os.fspath(path)
    if os.path.isdir(location):
        for file_path in _walk_dir(location):
            yield from _walk_file(file_path)
    elif os.path.exists(location):
        yield from _walk_file(location)
    else:
        raise FileNotFoundError(location)


def _walk_dir(root: str) -> Iterator[str]:
    # Sorted entry by entry (not a sorted list of the whole tree) so huge trees stream.
    with os.scandir(root) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        if entry.is_dir():
            yield from _walk_dir(entry.path)
        elif entry.is_file():
            yield entry.path


def _walk_file(location: str) -> Iterator[Member | Rejected]:
    try:
        with open(location, "rb") as file:
            # A file on disk can rewind, so peeking costs nothing and zip can seek it directly.
            head = _read_head(file)
            file.seek(0)
            yield from _expand(location, head, file, seekable=True)
    except _CORRUPT as exc:
        yield Rejected(location, _reason(exc))


def _expand(
    location: str, head: bytes, stream: BinaryIO, seekable: bool
) -> Iterator[Member | Rejected]:
    """Open `stream` if it is a container, else yield it as a leaf member."""
    if head.startswith(b"\x1f\x8b"):
        yield from _expand_gzip(location, stream)
    elif head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        yield from _expand_zip(location, stream, seekable)
    elif _is_tar(head):
        yield from _expand_tar(location, stream)
    else:
        yield Member(location, head, stream)


def _is_tar(head: bytes) -> bool:
    # POSIX/GNU tar headers carry "ustar" at offset 257; old v7 tars are not supported.
    return head[257:262] == b"ustar"


def _expand_gzip(location: str, stream: BinaryIO) -> Iterator[Member | Rejected]:
    # The decompressed content is examined again: a .tar.gz is a tar inside a gzip.
    with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
        head, replay = _peek(unzipped)
        yield from _expand(location, head, replay, seekable=False)


def _expand_zip(location: str, stream: BinaryIO, seekable: bool) -> Iterator[Member | Rejected]:
    if not seekable:
        # The zip directory sits at the end of the file; a zip inside a stream has to be
        # spooled (in memory while small, on disk past the limit) before it can be read.
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_LIMIT) as spool:
            shutil.copyfileobj(stream, spool)
            spool.seek(0)
            yield from _expand_zip(location, spool, seekable=True)  # type: ignore[arg-type]
        return
    with zipfile.ZipFile(stream) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            yield from _expand_member(f"{location}!{info.filename}", partial(archive.open, info))


def _expand_tar(location: str, stream: BinaryIO) -> Iterator[Member | Rejected]:
    # "r|" is tarfile's streaming mode: members are read in order, never seeking back.
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            if not info.isfile():
                continue
            member_location = f"{location}!{info.name}"
            yield from _expand_member(member_location, partial(archive.extractfile, info))


def _expand_member(
    location: str, open_member: Callable[[], BinaryIO | None]
) -> Iterator[Member | Rejected]:
    """Expand one archive member; damage is reported against the member, not the archive."""
    try:
        member_stream = open_member()
        if member_stream is None:  # tarfile's way of saying "not a regular file"
            return
        head, replay = _peek(member_stream)
        yield from _expand(location, head, replay, seekable=False)
    except _CORRUPT as exc:
        yield Rejected(location, _reason(exc))


def _peek(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    """Read the head of a forward-only stream and hand back a stream that replays it."""
    head = _read_head(stream)
    return head, io.BufferedReader(_Replay(head, stream))  # type: ignore[return-value]


def _read_head(stream: BinaryIO) -> bytes:
    # read(n) on a decompressing stream may return fewer bytes than asked before EOF.
    chunks: list[bytes] = []
    size = 0
    while size < HEAD_SIZE:
        chunk = stream.read(HEAD_SIZE - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class _Replay(io.RawIOBase):
    """A raw stream serving already-read `head` bytes, then the rest of `stream`."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - a writable buffer
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _reason(exc: BaseException) -> str:
    """One line saying what is wrong with a damaged container or member."""
    if isinstance(exc, EOFError):
        return "truncated archive or compressed stream"
    if isinstance(exc, zlib.error | gzip.BadGzipFile):
        return f"corrupt compressed data: {exc}"
    if isinstance(exc, zipfile.BadZipFile):
        return f"corrupt zip: {exc}"
    if isinstance(exc, tarfile.TarError):
        return f"corrupt tar: {exc}"
    return f"unreadable: {exc}"
