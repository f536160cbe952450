"""Where an index lives in the data directory, and whether it can be read.

Layout: `<data_dir>/index/` holds the Tantivy files and a `schema_version` sentinel written
by `create_index`. An index with another version is never opened: it must be rebuilt.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import tantivy

from indexer.index.schema import SCHEMA_VERSION, build_schema

_SENTINEL = "schema_version"


class IndexUnavailable(RuntimeError):
    """No readable index in the data directory; the message says what to run."""


def index_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "index"


def index_exists(data_dir: Path) -> bool:
    return _read_version(index_dir(data_dir)) == SCHEMA_VERSION


def create_index(data_dir: Path) -> tantivy.Index:
    """Open the index for writing, creating it (or rebuilding an outdated one) as needed."""
    path = index_dir(data_dir)
    version = _read_version(path)
    if version != SCHEMA_VERSION and path.exists():
        shutil.rmtree(path)  # built by another schema version: its fields would be misread
    path.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(build_schema(), path=str(path))
    (path / _SENTINEL).write_text(f"{SCHEMA_VERSION}\n")
    return index


def open_index(data_dir: Path) -> tantivy.Index:
    """Open an existing index for reading; IndexUnavailable if there is none or it is outdated."""
    path = index_dir(data_dir)
    version = _read_version(path)
    if version is None:
        raise IndexUnavailable(f"no index in {data_dir}: run `eventsearch index PATH` first")
    if version != SCHEMA_VERSION:
        raise IndexUnavailable(
            f"index in {data_dir} has schema version {version}, this build reads "
            f"{SCHEMA_VERSION}: reindex with `eventsearch index PATH`"
        )
    return tantivy.Index.open(str(path))


def _read_version(path: Path) -> int | None:
    try:
        return int((path / _SENTINEL).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
