"""Service settings, read from the environment (the CLI passes its flags through here).

EVENTSEARCH_DATA_DIR         data directory holding the index generations (default ./data)
EVENTSEARCH_API_KEY          key for the admin and write routes; unset: those routes are off
EVENTSEARCH_DUMP_DIR         directory that admin reindex jobs may read dumps from
EVENTSEARCH_RELOAD_INTERVAL  seconds between checks for a newly published generation (1)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    api_key: str | None = None
    dump_dir: Path | None = None
    reload_interval: float = 1.0
    max_result_window: int = 10_000  # page * size beyond this is refused: deep pages are costly

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None) -> Settings:
        chosen = data_dir or os.environ.get("EVENTSEARCH_DATA_DIR") or DEFAULT_DATA_DIR
        dump_dir = os.environ.get("EVENTSEARCH_DUMP_DIR")
        return cls(
            data_dir=Path(chosen),
            api_key=os.environ.get("EVENTSEARCH_API_KEY") or None,
            dump_dir=Path(dump_dir) if dump_dir else None,
            reload_interval=float(os.environ.get("EVENTSEARCH_RELOAD_INTERVAL", "1.0")),
        )
