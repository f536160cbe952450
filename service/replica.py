"""A read replica: follow a primary's published generations (`eventsearch serve --follow URL`).

One process per data directory follows: the one holding the data directory's writer lock
(reindex.lock), taken for as long as it follows. With `serve --workers N` every worker tries
it; the first one follows and the others only watch CURRENT, as every server does. If the
follower dies, the kernel releases the lock and another worker takes it within an interval.

Each poll fetches the primary's manifest (GET /api/admin/generations/current). A commit this
replica lacks, whether a new generation or upserts and deletes committed into the live one,
becomes a new local generation, beside the live one: files the live copy already has with
the same SHA-256 are hard-linked (Tantivy never changes a segment file once written, so an
upsert's commit transfers its new segments and meta.json only), the others are streamed from
the primary and hashed on the way. Then every size and hash is compared with the manifest,
the copy is checked as reindex checks what it built (segment checksums, the event count, a
search), published by the same atomic rename of CURRENT, and old generations are pruned. A
copy failing any check is removed and logged, and the live generation keeps serving. A copy
cut short by a kill is a generation newer than CURRENT: never served, and removed by the
next follower before it starts.

The follower keeps `DATA_DIR/replica.json` (the primary's latest commit and when it was last
reached) and each copy its origin in `primary.json`; every server process reads both for
/ready and /metrics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from indexer.index.storage import (
    IndexUnavailable,
    ReindexRunning,
    check_generation,
    generations_dir,
    live_generation,
    new_generation_dir,
    prune,
    publish,
    reindex_lock,
    remove_generation,
    remove_leftovers,
)
from service.config import Settings
from service.models import ReplicaRefusesWrites, ReplicaStatus
from service.security import require_api_key

logger = logging.getLogger("eventsearch.replica")
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per poll

STATUS_FILE = "replica.json"
ORIGIN_FILE = "primary.json"  # in a copied generation: which primary commit it holds
KEEP_GENERATIONS = 3  # one more than reindex keeps: copies may come every second, and a
# worker still serving the one before the last is then not left serving a pruned one
_MAX_BACKOFF_SECONDS = 30.0


class CopyRefused(RuntimeError):
    """A copied generation failed a check (size, SHA-256, checksums, event count)."""


class Follower:
    """Copies the primary's latest commit into this data directory; run under its lock."""

    def __init__(self, settings: Settings, swap_in: Callable[[], object] | None = None):
        self.data_dir, self.primary = Path(settings.data_dir), settings.follow_url
        # This process's server takes a new copy at once instead of at its next look at
        # CURRENT (the other workers still look every EVENTSEARCH_RELOAD_INTERVAL).
        self.swap_in = swap_in
        self.client = httpx.Client(
            base_url=self.primary, timeout=httpx.Timeout(60, connect=5),
            # Index files travel as they are: no gzip, so sizes and hashes are the files'.
            headers={"X-API-Key": settings.primary_key(), "Accept-Encoding": "identity"})

    def poll(self) -> str | None:
        """Copy and publish the primary's latest commit if this replica lacks it: the new
        local generation's name, or None when up to date. Raises on any failure."""
        response = self.client.get("/api/admin/generations/current")
        response.raise_for_status()
        manifest = response.json()
        self._record(manifest, error=None)
        if _same_commit(read_origin(self.data_dir, live_generation(self.data_dir)), manifest):
            return None
        return self._copy(manifest)

    def poll_logged(self) -> bool:
        """`poll`, with a failure logged and recorded instead of raised."""
        try:
            if name := self.poll():
                if self.swap_in:
                    self.swap_in()
                logger.info("now serving generation %s: a copy of %s's generation %s, "
                            "commit %s", name, self.primary, *_commit(read_origin(
                                self.data_dir, name)))
            return True
        except (httpx.HTTPError, CopyRefused, IndexUnavailable, OSError, ValueError,
                KeyError) as error:
            message = f"{type(error).__name__}: {' '.join(str(error).split())}"
            logger.error("replica: could not follow %s: %s", self.primary, message)
            self._record(None, error=message)
            return False

    def _copy(self, manifest: dict) -> str:
        name, path = new_generation_dir(self.data_dir)
        try:
            have = _local_files(self.data_dir, live_generation(self.data_dir))
            for file in manifest["files"]:
                self._place(manifest["generation"], file, path / file["name"], have)
            origin = {"primary": self.primary, **manifest}
            (path / ORIGIN_FILE).write_text(json.dumps(origin))
            self._verify(name, manifest)
            publish(self.data_dir, name)
        except BaseException:
            remove_generation(self.data_dir, name)
            raise
        prune(self.data_dir, keep=KEEP_GENERATIONS)
        return name

    def _place(self, generation: str, file: dict, target: Path, have: dict) -> None:
        source = have.get((file["name"], file["sha256"], file["size"]))
        if source is not None:
            os.link(source, target)  # the same immutable file: share it, transfer nothing
        else:
            self._download(generation, file, target)

    def _download(self, generation: str, file: dict, target: Path) -> None:
        url = f"/api/admin/generations/{generation}/files/{file['name']}"
        digest, size = hashlib.sha256(), 0
        with self.client.stream("GET", url) as response, open(target, "wb") as out:
            response.raise_for_status()
            for chunk in response.iter_raw():  # as it arrives
                size += len(chunk)
                if size > file["size"]:
                    break
                digest.update(chunk)
                out.write(chunk)
        if size != file["size"] or digest.hexdigest() != file["sha256"]:
            raise CopyRefused(
                f"refused generation {generation} from {self.primary}: {file['name']} came "
                f"with {size} bytes and SHA-256 {digest.hexdigest()}, the manifest says "
                f"{file['size']} bytes and {file['sha256']}")

    def _verify(self, name: str, manifest: dict) -> None:
        index = check_generation(self.data_dir, name)  # checksums, a search, a stored event
        events = index.searcher().num_docs
        if events != manifest["events"]:
            raise CopyRefused(f"refused generation {manifest['generation']} from "
                              f"{self.primary}: the copy holds {events} events, the manifest "
                              f"says {manifest['events']}")

    def _record(self, manifest: dict | None, error: str | None) -> None:
        status = read_status(self.data_dir) or {"primary": self.primary}
        if manifest is not None:
            status.update(primary=self.primary, generation=manifest["generation"],
                          commit=manifest["commit"], published_at=manifest["published_at"],
                          polled_at=time.time())
        status["error"] = error
        staged = self.data_dir / f".{STATUS_FILE}.{os.getpid()}"
        staged.write_text(json.dumps(status))
        os.replace(staged, self.data_dir / STATUS_FILE)  # readers see a whole file


def copy_first_generation(settings: Settings) -> str:
    """A replica started on an empty data directory: copy the primary's generation now, or
    raise saying why (the server has nothing to serve without it)."""
    with reindex_lock(settings.data_dir, "the replica's copy"):
        remove_leftovers(settings.data_dir)
        try:
            name = Follower(settings).poll()
        except (httpx.HTTPError, CopyRefused, IndexUnavailable) as error:
            raise RuntimeError(f"could not copy the published generation of "
                               f"{settings.follow_url}: {error}") from None
    return name or live_generation(settings.data_dir)


def start_following(settings: Settings,
                    swap_in: Callable[[], object] | None = None) -> threading.Event:
    """Every server process of a replica starts this; the one that takes the lock follows.
    A daemon thread, so that a shutdown never waits for a download (the copy it cuts short
    is removed by the next follower). Set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=_follow, args=(settings, stop, swap_in), name="replica-follower",
                     daemon=True).start()
    return stop


def _follow(settings: Settings, stop: threading.Event, swap_in) -> None:
    while not stop.is_set():
        try:
            with reindex_lock(settings.data_dir, "the replica's copy"):
                _follow_holding_lock(settings, stop, swap_in)
        except ReindexRunning:  # another process follows
            stop.wait(settings.follow_interval)
        except Exception:  # never leave a replica without a follower
            logger.exception("replica: the follower failed; starting it again")
            stop.wait(settings.follow_interval)


def _follow_holding_lock(settings: Settings, stop: threading.Event, swap_in) -> None:
    if left := remove_leftovers(settings.data_dir):
        logger.warning("replica: removed copies cut short before: %s", ", ".join(left))
    follower, failures = Follower(settings, swap_in), 0
    logger.info("replica: following %s every %s s", settings.follow_url,
                settings.follow_interval)
    while not stop.is_set():
        failures = 0 if follower.poll_logged() else failures + 1
        # A primary that is down or a copy that keeps failing is not asked every interval.
        stop.wait(min(settings.follow_interval * 2 ** min(failures, 10),
                      max(_MAX_BACKOFF_SECONDS, settings.follow_interval)))


def refuse_writes(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """App guard: on a replica, every route that changes something (the keyed ones that are
    not GET: upsert, delete, reindex, reload) answers 405 naming the primary."""
    primary = connection.app.state.settings.follow_url
    if primary and connection.method not in ("GET", "HEAD") and _keyed(handler):
        raise ReplicaRefusesWrites(
            f"this server is a read replica of {primary}: send upserts, deletes, reindex "
            f"and reload requests to the primary")


def _keyed(handler: BaseRouteHandler) -> bool:
    # The guards as declared on the handler and its controller (resolve_guards wraps them).
    return any(require_api_key in (layer.guards or []) for layer in handler.ownership_layers)


def replica_status(settings: Settings, serving: str | None) -> ReplicaStatus:
    """What /ready and /metrics report on a replica serving local generation `serving`."""
    status = read_status(settings.data_dir) or {}
    origin = read_origin(settings.data_dir, serving)
    now = time.time()
    lag = since_poll = None
    if "published_at" in status:
        lag = 0.0 if _same_commit(origin, status) else max(now - status["published_at"], 0.0)
        since_poll = round(now - status["polled_at"], 3)
    return ReplicaStatus(
        primary=settings.follow_url or "", serving_generation=_commit(origin)[0],
        serving_commit=_commit(origin)[1], primary_generation=status.get("generation"),
        primary_commit=status.get("commit"),
        lag_seconds=None if lag is None else round(lag, 3),
        seconds_since_poll=since_poll, error=status.get("error"))


def read_status(data_dir: Path) -> dict | None:
    return _read_json(Path(data_dir) / STATUS_FILE)


def read_origin(data_dir: Path, generation: str | None) -> dict | None:
    if not generation:
        return None
    return _read_json(generations_dir(data_dir) / generation / ORIGIN_FILE)


def _local_files(data_dir: Path, generation: str | None) -> dict[tuple, Path]:
    """(name, sha256, size) -> path of the files generation `generation` was copied with."""
    origin = read_origin(data_dir, generation) or {"files": []}
    path = generations_dir(data_dir) / str(generation)
    return {(f["name"], f["sha256"], f["size"]): path / f["name"] for f in origin["files"]
            if (path / f["name"]).is_file()}


def _same_commit(origin: dict | None, latest: dict) -> bool:
    return origin is not None and _commit(origin) == _commit(latest)


def _commit(record: dict | None) -> tuple[str | None, int | None]:
    return (record["generation"], record["commit"]) if record else (None, None)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
