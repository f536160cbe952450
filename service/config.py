"""Service settings, read from the environment (the CLI passes its flags through here)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    max_page_size: int = 100
    max_result_window: int = 10_000  # page * size beyond this is refused: deep pages are costly

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None) -> Settings:
        chosen = data_dir or os.environ.get("EVENTSEARCH_DATA_DIR") or DEFAULT_DATA_DIR
        return cls(data_dir=Path(chosen))
