"""Index generations in the data directory, and the pointer to the live one.

Layout:

    <data_dir>/CURRENT                 name of the live generation (replaced atomically)
    <data_dir>/generations/<name>/     one complete Tantivy index + `schema_version`
    <data_dir>/reindex.lock            held by the one reindex allowed at a time

A reindex builds a new generation beside the live one and publishes it by renaming a new
pointer file over CURRENT (after fsync), so readers see either the old or the new
generation, never a half-built one. Old generations are pruned (keep N); a process still
reading a pruned one keeps answering from its open files. A generation with another schema
version is never opened.

A server opens the generation CURRENT names only once it has passed `check_generation`
(checksums of every segment file, the count, a search, a stored document); if it has not,
`open_serving` falls back to the newest older generation that passes, and says why.

Replicas copy generations by their manifest (`generation_manifest`): the files a reader
needs (meta.json, schema_version, the files of the segments meta.json lists) with size and
SHA-256, and the Tantivy commit (opstamp) they make up.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import tantivy

from indexer.index.schema import SCHEMA_VERSION, build_schema

_SENTINEL = "schema_version"
_POINTER = "CURRENT"


class IndexUnavailable(RuntimeError):
    """No readable index in the data directory; the message says what to run."""


class ReindexRunning(RuntimeError):
    """Another reindex holds the data directory's lock."""


class DiskFull(RuntimeError):
    """A write into the data directory ran out of space; what was live stays live."""


# Tantivy reports a failed write only as "a worker thread encountered an error (io::Error
# most likely)": a device with less than this free after the failure counts as full.
_FULL_BELOW_BYTES = 1 << 20


def generations_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "generations"


def live_generation(data_dir: Path) -> str | None:
    try:
        return (Path(data_dir) / _POINTER).read_text().strip() or None
    except FileNotFoundError:
        return None


def index_exists(data_dir: Path) -> bool:
    name = live_generation(data_dir)
    return name is not None and _read_version(generations_dir(data_dir) / name) == SCHEMA_VERSION


def new_generation(data_dir: Path) -> tuple[str, tantivy.Index]:
    """Create an empty generation (not yet live) and open it for writing."""
    name, path = new_generation_dir(data_dir)
    index = tantivy.Index(build_schema(), path=str(path))
    (path / _SENTINEL).write_text(f"{SCHEMA_VERSION}\n")
    return name, index


def new_generation_dir(data_dir: Path) -> tuple[str, Path]:
    """An empty directory for a generation not yet live (a replica copies one into it)."""
    name = f"g{time.time_ns():020d}"  # sorts in creation order
    path = generations_dir(data_dir) / name
    path.mkdir(parents=True)
    return name, path


def open_generation(data_dir: Path, name: str) -> tantivy.Index:
    path = generations_dir(data_dir) / name
    if not path.is_dir():
        raise IndexUnavailable(f"index generation {name} is missing from {path.parent}")
    version = _read_version(path)
    if version != SCHEMA_VERSION:
        raise IndexUnavailable(
            f"index generation {name} in {data_dir} has schema version {version}, this build "
            f"reads {SCHEMA_VERSION}: rebuild it with `eventsearch reindex DUMP`"
        )
    try:
        return tantivy.Index.open(str(path))
    except ValueError as error:  # tantivy's errors: unreadable meta.json, a missing file
        raise IndexUnavailable(
            f"index generation {name} does not open: {_one_line(error)}") from None


def check_generation(data_dir: Path, name: str) -> tantivy.Index:
    """Open generation `name` and prove it readable, or raise IndexUnavailable saying why.

    Tantivy opens a damaged index lazily and checks no checksum when reading, so a flipped
    byte would surface, or not, in some later search: every segment file's checksum is
    verified (as tantivy's own `validate_checksum` does), then a search loads a stored event.
    """
    index = open_generation(data_dir, name)
    try:
        _verify_checksums(generations_dir(data_dir) / name)
        probe(index)
    except (OSError, ValueError) as error:
        raise IndexUnavailable(f"index generation {name} is damaged: {_one_line(error)}") from None
    return index


def probe(index: tantivy.Index) -> int:
    """The event count, after a search that finds an event and loads it; ValueError (as
    tantivy's own errors) if the index cannot answer."""
    index.reload()
    searcher = index.searcher()
    count = searcher.num_docs
    hits = searcher.search(tantivy.Query.all_query(), limit=1).hits
    if count and not hits:
        raise ValueError(f"holds {count} events but a search finds none")
    for _score, address in hits:
        if not searcher.doc(address).get_first("payload"):
            raise ValueError("a stored event has no payload")
    return count


def open_serving(data_dir: Path) -> tuple[str, tantivy.Index, str | None]:
    """The generation to serve: the live one if it passes `check_generation`, else the
    newest older one that does. Returns (name, index, fallback), where `fallback` says which
    generation is served instead of the live one and why (None when the live one is).
    Raises IndexUnavailable with every generation's reason when none is good."""
    live = live_generation(data_dir)
    if live is None:
        raise IndexUnavailable(f"no index in {data_dir}: run `eventsearch index PATH` first")
    skipped: list[str] = []
    for name in [live, *older_generations(data_dir, live)]:
        try:
            index = check_generation(data_dir, name)
        except IndexUnavailable as error:
            skipped.append(str(error))
            continue
        if name == live:
            return name, index, None
        return name, index, (f"serving the older generation {name}; skipped: "
                             + "; ".join(skipped))
    raise IndexUnavailable(f"no usable index generation in {data_dir}: " + "; ".join(skipped))


def older_generations(data_dir: Path, name: str) -> list[str]:
    """Generations created before `name`, newest first: the candidates to fall back to."""
    return sorted((p.name for p in _generation_dirs(data_dir) if p.name < name), reverse=True)


def open_index(data_dir: Path) -> tantivy.Index:
    """Open the live generation; IndexUnavailable if there is none or it is outdated."""
    name = live_generation(data_dir)
    if name is None:
        raise IndexUnavailable(f"no index in {data_dir}: run `eventsearch index PATH` first")
    return open_generation(data_dir, name)


def publish(data_dir: Path, name: str) -> None:
    """Make `name` the live generation, atomically and durably."""
    data_dir = Path(data_dir)
    _fsync_tree(generations_dir(data_dir) / name)
    staged = data_dir / f".{_POINTER}.{os.getpid()}"
    with open(staged, "w") as pointer:
        pointer.write(name + "\n")
        pointer.flush()
        os.fsync(pointer.fileno())
    os.replace(staged, data_dir / _POINTER)
    _fsync_dir(data_dir)


def prune(data_dir: Path, keep: int = 2) -> list[str]:
    """Remove generations that are neither live nor among the `keep` newest; return them.

    Run under the reindex lock: a generation being built by another process would look
    like an abandoned one.
    """
    live = live_generation(data_dir)
    names = sorted((p.name for p in _generation_dirs(data_dir)), reverse=True)
    kept = {live, *names[:keep]}
    removed = [name for name in names if name not in kept]
    for name in removed:
        shutil.rmtree(generations_dir(data_dir) / name, ignore_errors=True)
    return removed


def remove_generation(data_dir: Path, name: str) -> None:
    shutil.rmtree(generations_dir(data_dir) / name, ignore_errors=True)


def remove_leftovers(data_dir: Path) -> list[str]:
    """Remove what a writer killed before publishing left behind: generations newer than
    the live one, and staged pointer files never renamed over CURRENT. Run under the lock."""
    abandoned = abandoned_generations(data_dir)
    for name in abandoned:
        remove_generation(data_dir, name)
    for staged in Path(data_dir).glob(f".{_POINTER}.*"):
        staged.unlink(missing_ok=True)
    return abandoned


def abandoned_generations(data_dir: Path) -> list[str]:
    """Generations newer than the live one: left by a reindex that died before publishing."""
    live = live_generation(data_dir) or ""
    return [p.name for p in _generation_dirs(data_dir) if p.name > live]


@contextmanager
def reindex_lock(data_dir: Path, holder: str = "a reindex", queue_behind: tuple[str, ...] = (),
                 wait: float = 0.0) -> Iterator[None]:
    """One writer at a time per data directory; released even if the process is killed.

    The lock file names its `holder` ("a reindex", "an upsert") for the others' messages.
    A writer whose turn comes within seconds (an upsert behind the holders in `queue_behind`,
    other upserts and deletes) waits for it up to `wait` seconds; behind anything else it is
    refused at once (ReindexRunning, naming the holder): a reindex holds it for minutes.
    """
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    # "a+": opening must not truncate the holder's name while another process holds it.
    with open(Path(data_dir) / "reindex.lock", "a+") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                held_by = _holder(lock)
                if held_by.startswith(queue_behind) and time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                raise ReindexRunning(f"{held_by} is writing to {data_dir}") from None
        lock.truncate(0)
        lock.write(f"{holder} (pid {os.getpid()})\n")
        lock.flush()
        yield


def _holder(lock) -> str:
    lock.seek(0)
    return lock.read().strip() or "another writer"


@contextmanager
def disk_full_reported(data_dir: Path) -> Iterator[None]:
    """Turn a write that failed for want of space (an OSError, SQLite's "disk is full", or
    tantivy's vague writer error on a full device) into DiskFull, naming the directory."""
    try:
        yield
    except Exception as error:
        if not _out_of_space(error, data_dir):
            raise
        raise DiskFull(f"no space left on device for {data_dir} "
                       f"({shutil.disk_usage(data_dir).free} bytes free): "
                       f"{_one_line(error)}") from error


def _out_of_space(error: Exception, data_dir: Path) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(error, sqlite3.OperationalError) and "disk is full" in str(error):
        return True
    return isinstance(error, ValueError) and shutil.disk_usage(data_dir).free < _FULL_BELOW_BYTES


def generation_manifest(data_dir: Path, name: str, attempts: int = 3,
                        hashes: dict | None = None) -> dict:
    """What a reader of generation `name` needs, as it stands at its latest commit:
    `{"generation", "commit" (meta.json's opstamp), "events", "files": [{"name", "size",
    "sha256"}]}`. Tantivy's lock files and `.managed.json` (the writer's garbage list) are
    left out. A writer committing meanwhile may delete a merged segment's files: a file gone
    missing is tried again with the new meta.json. `hashes` (file identity -> SHA-256) saves
    hashing again a segment file hashed for an earlier commit: they never change."""
    path = generations_dir(data_dir) / name
    hashes = {} if hashes is None else hashes
    for attempt in range(attempts):
        meta_bytes = (path / "meta.json").read_bytes()
        meta = json.loads(meta_bytes)
        try:
            files = [_file_entry(path / file, hashes) for file in _reader_files(path, meta)]
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise
            continue
        files.append({"name": "meta.json", "size": len(meta_bytes),
                      "sha256": hashlib.sha256(meta_bytes).hexdigest()})
        events = sum(s["max_doc"] - (s.get("deletes") or {}).get("num_deleted_docs", 0)
                     for s in meta["segments"])
        return {"generation": name, "commit": meta["opstamp"], "events": events,
                "files": sorted(files, key=lambda f: f["name"])}
    raise AssertionError("unreachable")


class ManifestCache:
    """`generation_manifest` computed once per commit: kept per generation with the stat of
    its meta.json (inode, size, mtime; tantivy replaces the file on every commit), so a
    replica polling every second costs a stat, not a SHA-256 of the whole index."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._cached: dict[str, tuple[tuple, dict]] = {}
        self._hashes: dict[tuple, str] = {}  # a commit re-hashes only its new files

    def manifest(self, name: str) -> dict:
        """FileNotFoundError if generation `name` is not (or no longer) on disk."""
        meta = (generations_dir(self.data_dir) / name / "meta.json").stat()
        key = (meta.st_ino, meta.st_size, meta.st_mtime_ns)
        cached = self._cached.get(name)
        if cached and cached[0] == key:
            return cached[1]
        hashes = dict(self._hashes)
        manifest = generation_manifest(self.data_dir, name, hashes=hashes)
        manifest["committed_at"] = meta.st_mtime
        listed = {str(generations_dir(self.data_dir) / m["generation"] / f["name"])
                  for _key, m in [*self._cached.values(), (None, manifest)] for f in m["files"]}
        self._hashes = {k: v for k, v in hashes.items() if k[0] in listed}
        self._cached = {n: c for n, c in self._cached.items()
                        if (generations_dir(self.data_dir) / n).is_dir()}
        self._cached[name] = (key, manifest)
        return manifest


def _reader_files(path: Path, meta: dict) -> list[str]:
    """schema_version and the files of the segments in `meta`; of a segment's deletes
    (`<segment>.<opstamp>.del`), only the one of the opstamp meta.json names (older ones
    wait there for the writer's garbage collection)."""
    segments = {s["segment_id"].replace("-", ""): s.get("deletes") for s in meta["segments"]}
    files = [_SENTINEL]
    for file in path.iterdir():
        segment, _, rest = file.name.partition(".")
        if segment not in segments:
            continue
        if rest.endswith(".del") or rest == "del":
            deletes = segments[segment]
            if not deletes or rest != f"{deletes['opstamp']}.del":
                continue
        files.append(file.name)
    return files


def _file_entry(file: Path, hashes: dict) -> dict:
    with open(file, "rb") as handle:
        stat = os.fstat(handle.fileno())
        identity = (str(file), stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if identity not in hashes:
            digest = hashlib.sha256()
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
            hashes[identity] = digest.hexdigest()
    return {"name": file.name, "size": stat.st_size, "sha256": hashes[identity]}


def _verify_checksums(path: Path, attempts: int = 3) -> None:
    """Check the CRC32 in the footer of every file of every segment meta.json lists.

    A writer into this generation may merge segments meanwhile and delete the old files:
    a file gone missing is tried again with the new meta.json."""
    for attempt in range(attempts):
        segments = [s["segment_id"].replace("-", "")
                    for s in json.loads((path / "meta.json").read_bytes())["segments"]]
        try:
            for file in path.iterdir():
                if file.name.split(".")[0] in segments:
                    _verify_footer(file)
            return
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise


def _verify_footer(file: Path) -> None:
    # A file ends with [footer JSON {"version", "crc"}][footer length u32][magic 1337 u32];
    # the CRC32 covers everything before the footer.
    with open(file, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(size - 8, 0))
        tail = handle.read(8)
        length = int.from_bytes(tail[:4], "little")
        if len(tail) < 8 or int.from_bytes(tail[4:], "little") != 1337 or length > size - 8:
            raise ValueError(f"{file.name} has no valid footer")
        handle.seek(size - 8 - length)
        expected = json.loads(handle.read(length)).get("crc")
        handle.seek(0)
        remaining, crc = size - 8 - length, 0
        while remaining:
            chunk = handle.read(min(remaining, 1 << 20))
            crc = zlib.crc32(chunk, crc)
            remaining -= len(chunk)
    if crc != expected:
        raise ValueError(f"{file.name} fails its checksum")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _generation_dirs(data_dir: Path) -> list[Path]:
    root = generations_dir(data_dir)
    return [p for p in root.iterdir() if p.is_dir()] if root.exists() else []


def _read_version(path: Path) -> int | None:
    try:
        return int((path / _SENTINEL).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _fsync_tree(path: Path) -> None:
    for file in path.iterdir():
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
