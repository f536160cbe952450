"""The indexing flow, end to end: dump -> readers -> fold -> enrich -> index.

`ingest` is what `eventsearch index` (and the first `serve` on an empty data directory)
runs. Its summary always adds up: read = indexed + merged + rejected.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from spacy.language import Language

from indexer.enrich.pipeline import Enricher, load_pipeline
from indexer.index.storage import create_index
from indexer.index.writer import EventWriter
from indexer.readers import Rejected, read_dump

_REJECTS_FILE = "rejected.jsonl"
_PARALLEL_FROM = 2_000  # events


@dataclass
class IngestSummary:
    read: int = 0
    indexed: int = 0
    merged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None

    @property
    def rate(self) -> float:
        """Events indexed per second, model loading included."""
        return self.indexed / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "indexed": self.indexed,
            "merged": self.merged,
            "rejected": len(self.rejected),
            "skipped_non_events": self.skipped,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate, 1),
            "rejects_path": str(self.rejects_path) if self.rejects_path else None,
        }

    def describe(self) -> str:
        lines = [
            f"read {self.read} records: {self.indexed} indexed, {self.merged} merged, "
            f"{len(self.rejected)} rejected ({self.skipped} non-event pages skipped) "
            f"in {self.seconds:.1f} s, {self.rate:.0f} events/s"
        ]
        lines += [f"  rejected {r.location}: {r.reason}" for r in self.rejected[:10]]
        if len(self.rejected) > 10:
            lines.append(f"  ... {len(self.rejected) - 10} more in {self.rejects_path}")
        return "\n".join(lines)


def ingest(
    paths: list[Path],
    data_dir: Path,
    rejects_path: Path | None = None,
    nlp: Language | None = None,
    batch_size: int = 256,
    processes: int | None = None,
) -> IngestSummary:
    """Read, enrich and upsert every event of the dumps at `paths` into `data_dir`'s index."""
    started = time.perf_counter()
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"no such dump: {path}")
    dump = read_dump(paths)
    if processes is None:
        processes = _processes_for(len(dump.events))
    enricher = Enricher(nlp or load_pipeline(), batch_size=batch_size, n_process=processes)
    # Workers fork when enrich() is called: before the index writer starts its threads.
    labelled = enricher.enrich(dump.events)
    summary = IngestSummary()
    with EventWriter(create_index(data_dir)) as writer:
        summary.indexed = writer.upsert(labelled)
    summary.read, summary.merged, summary.skipped = dump.read, dump.merged, dump.skipped
    summary.rejected = list(dump.rejected)
    if summary.rejected:
        summary.rejects_path = rejects_path or Path(data_dir) / _REJECTS_FILE
        _write_rejects(summary.rejected, summary.rejects_path)
    summary.seconds = time.perf_counter() - started
    return summary


def _processes_for(events: int) -> int:
    """One process per core for large dumps; forking workers does not pay for small ones."""
    return min(os.cpu_count() or 1, 4) if events >= _PARALLEL_FROM else 1


def _write_rejects(rejected: list[Rejected], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    encoder = msgspec.json.Encoder()
    with path.open("wb") as out:
        for record in rejected:
            out.write(encoder.encode(record) + b"\n")
