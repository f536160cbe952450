"""Walk a dump path as a stream of members, opening containers by content.

A path may be a directory tree, a tar (plain or gzipped), a zip, a single gzipped file or a
plain file, nested in any combination. Containers are recognised by their magic bytes, never
by extension, because dumps get renamed. Members are streamed one at a time: a member's
`stream` is valid only until the next member is requested (tar streams cannot rewind).

Locations: a file's path; `archive!member` for a member; a single `.gz` keeps the path of
the `.gz` itself, since it holds exactly one file.

Nothing outside the dump is read and nothing is written anywhere (limits: indexer/readers/
limits.py): links are never followed (a symbolic link or a file with several hard links in a
directory tree, a link member in an archive: each is rejected), members are read as streams
and never extracted, a member path that is absolute or climbs with `..` is rejected, and
every file on disk may inflate at most MAX_INFLATE_RATIO times its size over all the layers
inside it (decompression bombs), so memory stays bounded whatever the dump holds.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import BinaryIO

import msgspec

from indexer.readers import Rejected
from indexer.readers.limits import (
    INFLATE_GRACE_BYTES,
    MAX_CONTAINER_DEPTH,
    MAX_INFLATE_RATIO,
    MAX_NESTED_ZIP_BYTES,
    LimitExceeded,
)

HEAD_SIZE = 64 * 1024
"""Bytes kept from the start of every member: enough to spot containers and formats."""

_CORRUPT = (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile, LimitExceeded)
"""What a damaged (or too large) container raises while being walked."""


class Member(msgspec.Struct):
    """One leaf file of the dump: its location, its first bytes, and a stream from byte 0."""

    location: str
    head: bytes
    stream: BinaryIO


def walk(path: str | os.PathLike[str]) -> Iterator[Member | Rejected]:
    """Yield every leaf member under `path`, in a stable order, containers expanded.

    Directories are walked sorted and recursively; archive members come in archive order.
    A damaged container yields a Rejected for itself and the walk goes on with the next file.
    `path` itself is followed if it is a link (whoever names it chose it); nothing below it is.
    """
    location = os.fspath(path)
    if os.path.isdir(location):
        yield from _walk_dir(location)
    elif os.path.exists(location):
        yield from _walk_file(location, follow=True)
    else:
        raise FileNotFoundError(location)


def _walk_dir(root: str) -> Iterator[Member | Rejected]:
    # Sorted entry by entry (not a sorted list of the whole tree) so huge trees stream.
    with os.scandir(root) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_dir(entry.path)
        else:
            yield from _walk_file(entry.path, follow=False)


def _walk_file(location: str, follow: bool) -> Iterator[Member | Rejected]:
    try:
        with _open_regular(location, follow) as file:
            budget = _Budget(os.fstat(file.fileno()).st_size)
            # A file on disk can rewind, so peeking costs nothing and zip can seek it directly.
            head = _read_head(file)
            file.seek(0)
            yield from _expand(location, head, file, seekable=True, budget=budget, depth=0)
    except _CORRUPT as exc:
        yield Rejected(location, _reason(exc))


def _open_regular(location: str, follow: bool) -> BinaryIO:
    """Open a regular file of the dump; OSError saying why anything else is not read.

    Checked on the opened file, not on its name, so a file swapped for a link between a
    look and the open is still refused. O_NONBLOCK: opening a FIFO must not wait for a writer.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(location, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _NotRead("symbolic link: not followed, links may lead out of the dump") from None
        raise
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "not a regular file (device, FIFO or socket)"
    elif info.st_nlink > 1 and not follow:
        problem = (f"hard link ({info.st_nlink} names for one file): not read, it may be a file "
                   "outside the dump")
    if problem:
        os.close(fd)
        raise _NotRead(problem)
    return os.fdopen(fd, "rb")


class _NotRead(OSError):
    """A file of the tree that is refused rather than read; the message says why."""


class _Budget:
    """The inflated bytes one file on disk may produce, over every layer inside it."""

    def __init__(self, size_on_disk: int) -> None:
        self.limit = max(INFLATE_GRACE_BYTES, MAX_INFLATE_RATIO * size_on_disk)
        self.size_on_disk = size_on_disk
        self.spent = 0

    def check(self, count: int) -> None:
        """LimitExceeded if `count` more inflated bytes would pass the limit."""
        if self.spent + count > self.limit:
            raise LimitExceeded(
                f"decompression bomb: {self.size_on_disk:,} bytes on disk inflate past "
                f"{self.limit:,} (limit: {MAX_INFLATE_RATIO}x, at least "
                f"{INFLATE_GRACE_BYTES // 2**20} MiB)"
            )

    def spend(self, count: int) -> None:
        self.check(count)
        self.spent += count


def _expand(location: str, head: bytes, stream: BinaryIO, seekable: bool, budget: _Budget,
            depth: int) -> Iterator[Member | Rejected]:
    """Open `stream` if it is a container, else yield it as a leaf member."""
    container = _container_kind(head)
    if container is None:
        yield Member(location, head, stream)
        return
    if depth >= MAX_CONTAINER_DEPTH:
        raise LimitExceeded(f"archives nested more than {MAX_CONTAINER_DEPTH} deep")
    if container == "gzip":
        yield from _expand_gzip(location, stream, budget, depth + 1)
    elif container == "zip":
        yield from _expand_zip(location, stream, seekable, budget, depth + 1)
    else:
        yield from _expand_tar(location, stream, budget, depth + 1)


def _container_kind(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    # POSIX/GNU tar headers carry "ustar" at offset 257; old v7 tars are not supported.
    if head[257:262] == b"ustar":
        return "tar"
    return None


def _expand_gzip(location: str, stream: BinaryIO, budget: _Budget,
                 depth: int) -> Iterator[Member | Rejected]:
    # The decompressed content is examined again: a .tar.gz is a tar inside a gzip.
    with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
        head, replay = _peek(_counted(unzipped, budget))
        yield from _expand(location, head, replay, seekable=False, budget=budget, depth=depth)


def _expand_zip(location: str, stream: BinaryIO, seekable: bool, budget: _Budget,
                depth: int) -> Iterator[Member | Rejected]:
    if not seekable:
        # The zip directory sits at the end of the file: a zip inside a stream is held in
        # memory to be read (never written to disk), within its own limit.
        data = stream.read(MAX_NESTED_ZIP_BYTES + 1)
        if len(data) > MAX_NESTED_ZIP_BYTES:
            raise LimitExceeded(f"zip inside an archive or gzip larger than the limit of "
                                f"{MAX_NESTED_ZIP_BYTES // 2**20} MiB")
        stream, seekable = io.BytesIO(data), True
    with zipfile.ZipFile(stream) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            member_location = f"{location}!{info.filename}"
            problem = _unsafe_name(info.filename) or _zip_member_problem(info, budget)
            if problem:
                yield Rejected(member_location, problem)
                continue
            yield from _expand_member(member_location, partial(archive.open, info), budget, depth)


def _zip_member_problem(info: zipfile.ZipInfo, budget: _Budget) -> str | None:
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link member: links are not followed"
    # zipfile never inflates a member past its declared size, so a bomb can be refused
    # before a byte of it is inflated (a lying size fails the member's CRC check instead).
    try:
        budget.check(info.file_size)
    except LimitExceeded as exc:
        return str(exc)
    return None


def _expand_tar(location: str, stream: BinaryIO, budget: _Budget,
                depth: int) -> Iterator[Member | Rejected]:
    # "r|" is tarfile's streaming mode: members are read in order, never seeking back.
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            if info.isdir():
                continue
            member_location = f"{location}!{info.name}"
            problem = _unsafe_name(info.name) or _tar_member_problem(info)
            if problem:
                yield Rejected(member_location, problem)
                continue
            yield from _expand_member(member_location, partial(archive.extractfile, info),
                                      budget, depth)


def _tar_member_problem(info: tarfile.TarInfo) -> str | None:
    if info.issym() or info.islnk():
        kind = "symbolic" if info.issym() else "hard"
        return f"{kind} link member (to {info.linkname!r}): links are not followed"
    if not info.isfile():
        return "not a regular file (device or FIFO member)"
    return None


def _unsafe_name(name: str) -> str | None:
    """Why a member path is refused: it could name a place outside the dump if extracted.
    Members are never extracted; refusing them keeps their locations honest all the same,
    as Python's tarfile `data` filter does."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return f"unsafe member path {name!r}: absolute"
    if ".." in posix.split("/"):
        return f"unsafe member path {name!r}: climbs out with '..'"
    return None


def _expand_member(location: str, open_member: Callable[[], BinaryIO | None], budget: _Budget,
                   depth: int) -> Iterator[Member | Rejected]:
    """Expand one archive member; damage is reported against the member, not the archive."""
    try:
        member_stream = open_member()
        if member_stream is None:  # tarfile's way of saying "not a regular file"
            return
        if isinstance(member_stream, zipfile.ZipExtFile):
            member_stream = _counted(member_stream, budget)  # zip inflates; tar only copies
        head, replay = _peek(member_stream)
        yield from _expand(location, head, replay, seekable=False, budget=budget, depth=depth)
    except _CORRUPT as exc:
        yield Rejected(location, _reason(exc))


def _counted(stream: BinaryIO, budget: _Budget) -> BinaryIO:
    return io.BufferedReader(_Counted(stream, budget))  # type: ignore[return-value]


class _Counted(io.RawIOBase):
    """A decompressing stream whose output is charged to the file's budget."""

    def __init__(self, stream: BinaryIO, budget: _Budget) -> None:
        self._stream = stream
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - a writable buffer
        data = self._stream.read(len(buffer))
        self._budget.spend(len(data))
        buffer[: len(data)] = data
        return len(data)


def _peek(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    """Read the head of a forward-only stream and hand back a stream that replays it."""
    head = _read_head(stream)
    return head, io.BufferedReader(Replay(head, stream))  # type: ignore[return-value]


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


class Replay(io.RawIOBase):
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
    if isinstance(exc, LimitExceeded | _NotRead):
        return str(exc)
    return f"unreadable: {exc}"
