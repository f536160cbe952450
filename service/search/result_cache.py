"""A small LRU of computed results (facet counts), valid for one state of the index.

Facet counts over a broad query are the costly part of a search page (tens of ms at a
million events); they are the same for every page, sort order and repeat of a query until
the index changes. As in Elasticsearch's request cache, keys include the index state: the
generation and its `meta.json`, which Tantivy rewrites on every commit, so a commit or a
swap makes older entries unreachable.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

_T = TypeVar("_T")
_SETTLE_NS = 2_000_000_000  # Tantivy readers reload about a second after a commit


class ResultCache:
    def __init__(self, size: int = 2048):
        self._size = size
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable | None, compute: Callable[[], _T]) -> _T:
        if key is None:
            return compute()
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._entries[key] = value
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value


def index_state(generation_dir: Path) -> tuple[str, int, int] | None:
    """Changes whenever a commit lands in the generation (or another generation is used).
    None, meaning "do not cache", once the generation is pruned (its open files still
    answer) and while a commit is younger than the readers' reload delay: a searcher may
    not see it yet, and counts cached then would outlive it."""
    try:
        meta = os.stat(generation_dir / "meta.json")
    except FileNotFoundError:
        return None
    if time.time_ns() - meta.st_mtime_ns < _SETTLE_NS:
        return None
    return generation_dir.name, meta.st_mtime_ns, meta.st_size
