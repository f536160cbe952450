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
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
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
    name = f"g{time.time_ns():020d}"  # sorts in creation order
    path = generations_dir(data_dir) / name
    path.mkdir(parents=True)
    index = tantivy.Index(build_schema(), path=str(path))
    (path / _SENTINEL).write_text(f"{SCHEMA_VERSION}\n")
    return name, index


def open_generation(data_dir: Path, name: str) -> tantivy.Index:
    path = generations_dir(data_dir) / name
    version = _read_version(path)
    if version != SCHEMA_VERSION:
        raise IndexUnavailable(
            f"index generation {name} in {data_dir} has schema version {version}, this build "
            f"reads {SCHEMA_VERSION}: rebuild it with `eventsearch reindex DUMP`"
        )
    return tantivy.Index.open(str(path))


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


def abandoned_generations(data_dir: Path) -> list[str]:
    """Generations newer than the live one: left by a reindex that died before publishing."""
    live = live_generation(data_dir) or ""
    return [p.name for p in _generation_dirs(data_dir) if p.name > live]


@contextmanager
def reindex_lock(data_dir: Path) -> Iterator[None]:
    """One reindex at a time per data directory; released even if the process is killed."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(data_dir) / "reindex.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReindexRunning(f"another reindex is running in {data_dir}") from None
        yield


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
