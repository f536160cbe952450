"""What an operator watches: `/health`, `/ready`, Prometheus `/metrics`, one log line per request.

Metrics work in one process and across `eventsearch serve --workers N`: the server sets
`PROMETHEUS_MULTIPROC_DIR` before any worker imports prometheus_client, each worker writes
its samples to files there, and a scrape, whichever worker answers it, adds them all up.
Requests are observed outside Litestar's router (`observe(app)` wraps its ASGI handler), so
unmatched paths and errors are logged and counted too; the route label is the route's
template (`/api/events/{event_id:str}`), never the raw path, so the label set stays bounded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import orjson
import tantivy
from litestar import Controller, Litestar, Response, get
from litestar.di import NamedDependency
from litestar.logging.config import LoggingConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from indexer.index.storage import ReindexRunning, generations_dir, live_generation
from service.config import Settings
from service.jobs import JobManager
from service.models import Health, Ready, UpsertResult
from service.replica import replica_status
from service.search.engine import EventIndex, EventNotFound
from service.search.query import BadQuery
from service.writes import EventWrites

logger = logging.getLogger("eventsearch")
access_logger = logging.getLogger("eventsearch.access")

# --- metrics -------------------------------------------------------------------------------

REQUEST_SECONDS = Histogram(
    "eventsearch_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by route template, method "
    "and status (the _count series counts requests)",
    ["route", "method", "status"])
SEARCH_RESULTS = Histogram(
    "eventsearch_search_results", "Events matching a search (API and pages)",
    buckets=(0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, float("inf")))
FACETS_SAMPLED = Counter(
    "eventsearch_search_facets_sampled", "Searches whose facet counts were estimated from a "
    "sample (facet_sample < 1)")
INDEX_EVENTS = Gauge("eventsearch_index_events", "Events in the generation being served",
                     multiprocess_mode="livemostrecent")
INDEX_GENERATION = Gauge(
    "eventsearch_index_generation", "1 for the generation being served (its name is the "
    "label), 0 for one served before", ["generation"], multiprocess_mode="livemax")
GENERATION_AGE = Gauge("eventsearch_index_generation_age_seconds",
                       "Seconds since the served generation was published",
                       multiprocess_mode="livemostrecent")
REINDEX_RUNNING = Gauge("eventsearch_reindex_jobs_running", "Admin reindex jobs running",
                        multiprocess_mode="livesum")
REINDEX_WRITTEN = Gauge("eventsearch_reindex_events_written",
                        "Events written so far by the running reindex jobs",
                        multiprocess_mode="livesum")
REINDEX_RATE = Gauge("eventsearch_reindex_events_per_second",
                     "Throughput of the running reindex jobs", multiprocess_mode="livesum")
REINDEX_FINISHED = Counter("eventsearch_reindex_jobs_finished", "Reindex jobs that ended, "
                           "by state", ["state"])
CACHE_HITS = Counter("eventsearch_enrichment_cache_hits", "Events whose labels came from the "
                     "enrichment cache, by source (reindex job, upsert)", ["source"])
CACHE_EVENTS = Counter("eventsearch_enrichment_events", "Events indexed, by source: the "
                       "denominator of the cache hit rate", ["source"])
REPLICA_LAG = Gauge("eventsearch_replica_lag_seconds",
                    "A replica: 0 when it serves the primary's latest commit, else seconds "
                    "since the primary made the commit it has not got yet",
                    multiprocess_mode="livemostrecent")
REPLICA_SINCE_POLL = Gauge("eventsearch_replica_seconds_since_poll",
                           "A replica: seconds since it last reached its primary",
                           multiprocess_mode="livemostrecent")
REJECTED = Counter("eventsearch_rejected_records", "Records rejected by upserts and reindex "
                   "jobs, by source and kind of reason", ["source", "reason"])


def _scrape_registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()  # a fresh one per scrape, as prometheus_client asks
    multiprocess.MultiProcessCollector(registry)
    return registry


_MAX_REASON_KINDS = 100
_reason_kinds: set[str] = set()


def reason_kind(reason: str) -> str:
    """A bounded label for a rejection reason: its words before the first colon, without
    numbers or quoted values ("invalid event line: ..." -> "invalid event line")."""
    head = re.sub(r"'[^']*'|\"[^\"]*\"", " ", reason.split(":", 1)[0].lower())
    kind = " ".join(re.sub(r"[^a-z ]+", " ", head).split()[:6]) or "unknown"
    if kind not in _reason_kinds and len(_reason_kinds) >= _MAX_REASON_KINDS:
        return "other"
    _reason_kinds.add(kind)
    return kind


class ObservedEventIndex(EventIndex):
    """The engine, counting what searches find and whether their facets were sampled."""

    def search(self, request):
        response = super().search(request)
        SEARCH_RESULTS.observe(response.total)
        if response.facet_sample < 1.0:
            FACETS_SAMPLED.inc()
        return response


class ObservedEventWrites(EventWrites):
    """The write API, counting rejected lines by kind of reason and the cache's hits."""

    def upsert(self, body: bytes) -> UpsertResult:
        result = super().upsert(body)
        CACHE_HITS.labels("upsert").inc(result.cache_hits)
        CACHE_EVENTS.labels("upsert").inc(result.indexed)
        for rejected in result.rejected:
            REJECTED.labels("upsert", reason_kind(rejected.reason)).inc()
        return result


# --- readiness -----------------------------------------------------------------------------

class NotReady(RuntimeError):
    pass


def probe(events: EventIndex, settings: Settings | None = None) -> Ready:
    """Count the served generation's events and search it; raise NotReady with the reason.
    On a replica, also what it serves against what its primary has published."""
    generation, index = events.generation, events.index
    if generation and not (generations_dir(events.data_dir) / generation).is_dir():
        raise NotReady(f"generation {generation} is no longer on disk in {events.data_dir}")
    try:
        searcher = index.searcher()
        count = searcher.num_docs
        found = searcher.search(tantivy.Query.all_query(), limit=1)
        if count and not found.hits:
            raise NotReady(f"a search over all {count} events found none")
        if found.hits:
            searcher.doc(found.hits[0][1])  # the stored event is readable
    except NotReady:
        raise
    except Exception as error:
        raise NotReady(f"the index does not answer: {error}") from error
    return Ready(status="ready", pid=os.getpid(), generation=generation, events=count,
                 generation_age_seconds=_generation_age(events.data_dir, generation),
                 fallback=getattr(events, "fallback", None),
                 replica=replica_status(settings, generation)
                 if settings and settings.follow_url else None)


def _generation_age(data_dir: Path, generation: str | None) -> float | None:
    """Seconds since `generation` was published: CURRENT's mtime while CURRENT names it,
    else (an older generation served as a fallback) since it was made (`g<time_ns>`)."""
    if not generation:
        return None
    if live_generation(data_dir) == generation:
        published = (Path(data_dir) / "CURRENT").stat().st_mtime
    else:
        published = int(generation.lstrip("g")) / 1e9
    return round(time.time() - published, 1)


# --- routes --------------------------------------------------------------------------------

# Litestar adds the charset to a text/ media type itself.
_METRICS_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


class OperationsController(Controller):
    tags = ["operations"]

    @get("/health", sync_to_thread=True, summary="Alive: the process answers")
    def health(self, events: NamedDependency[EventIndex],
               settings: NamedDependency[Settings]) -> Health:
        return Health(status="ok", events=events.count(), data_dir=str(settings.data_dir),
                      generation=events.generation, pid=os.getpid())

    @get("/ready", sync_to_thread=True, summary="Ready: the index is open and answers",
         description="Counts the served generation's events and runs a search on it. "
                     "503 with `reason` when that fails. `fallback` says when an older "
                     "generation is served because the published one could not be opened. "
                     "On a replica, `replica` gives the primary's latest commit, the one "
                     "served, the lag and the time since the primary was last reached.",
         responses={503: ResponseSpec(Ready, description="Not ready; `reason` says why",
                                      examples=[Example(value={
                                          "status": "unavailable", "reason": "..."})])})
    def ready(self, events: NamedDependency[EventIndex],
              settings: NamedDependency[Settings]) -> Response[Ready]:
        try:
            return Response(probe(events, settings))
        except NotReady as error:
            logger.warning("not ready: %s", error)
            return Response(Ready(status="unavailable", pid=os.getpid(), reason=str(error)),
                            status_code=HTTP_503_SERVICE_UNAVAILABLE)

    @get("/metrics", sync_to_thread=True, media_type=_METRICS_TYPE,
         summary="Prometheus metrics, summed over every server process")
    def metrics(self) -> bytes:
        return generate_latest(_scrape_registry())


# --- background: index and job gauges --------------------------------------------------------

@asynccontextmanager
async def watch(app: Litestar) -> AsyncIterator[None]:
    """Keep this process's index and job gauges current (a lifespan after the index opens)."""
    task = asyncio.create_task(_watch(app.state.events, app.state.jobs, app.state.settings))
    try:
        yield
    finally:
        task.cancel()


async def _watch(events: EventIndex, jobs: JobManager, settings: Settings) -> None:
    served: str | None = None
    recorded: set[str] = set()
    while True:
        try:
            served = await anyio.to_thread.run_sync(_index_gauges, events, served)
            await anyio.to_thread.run_sync(_job_gauges, jobs, recorded)
            if settings.follow_url:
                await anyio.to_thread.run_sync(_replica_gauges, settings, served)
        except Exception:  # a gauge is not worth a worker: log and go on
            logger.exception("could not update the index and job metrics")
        await asyncio.sleep(settings.reload_interval)


def _index_gauges(events: EventIndex, served_before: str | None) -> str | None:
    generation = events.generation
    INDEX_EVENTS.set(events.count())
    if generation != served_before:
        if served_before:
            INDEX_GENERATION.labels(served_before).set(0)
        if generation:
            INDEX_GENERATION.labels(generation).set(1)
    age = _generation_age(events.data_dir, generation)
    if age is not None:
        GENERATION_AGE.set(age)
    return generation


def _replica_gauges(settings: Settings, served: str | None) -> None:
    status = replica_status(settings, served)
    if status.lag_seconds is not None:
        REPLICA_LAG.set(status.lag_seconds)
        REPLICA_SINCE_POLL.set(status.seconds_since_poll)


def _job_gauges(jobs: JobManager, recorded: set[str]) -> None:
    running = written = rate = 0
    for job in jobs.all():
        described = job.describe()
        if described["state"] == "running":
            progress = described["progress"] or {}
            running += 1
            written += progress.get("written", 0)
            rate += progress.get("events_per_second", 0.0)
        elif job.id not in recorded:
            recorded.add(job.id)
            _record_finished(described)
    REINDEX_RUNNING.set(running)
    REINDEX_WRITTEN.set(written)
    REINDEX_RATE.set(rate)


def _record_finished(job: dict) -> None:
    REINDEX_FINISHED.labels(job["state"]).inc()
    summary = job["summary"] or {}
    CACHE_HITS.labels("reindex").inc(summary.get("cache_hits", 0))
    CACHE_EVENTS.labels("reindex").inc(summary.get("indexed", 0))
    if summary.get("rejects_path"):
        for line in Path(summary["rejects_path"]).read_bytes().splitlines():
            REJECTED.labels("reindex", reason_kind(orjson.loads(line)["reason"])).inc()


# --- requests: id, log line, metrics -------------------------------------------------------

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")


def observe(app: Litestar) -> Litestar:
    """Give every HTTP request an id, one log line and its metrics (404s and 500s too)."""
    app.asgi_handler = _RequestObserver(app.asgi_handler)
    return app


class _RequestObserver:
    def __init__(self, handler):
        self.handler = handler

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.handler(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope["state"]["request_id"] = request_id  # request.state.request_id in handlers
        path, status = scope["path"], 500  # 500 unless a response starts (routing rewrites path)

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.handler(scope, receive, send_with_id)
        finally:
            _finished(scope, path, status, request_id, time.perf_counter() - started)


def _request_id(scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            sent = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(sent):
                return sent
    return uuid.uuid4().hex


def _finished(scope, path: str, status: int, request_id: str, seconds: float) -> None:
    route = scope.get("path_template") or "unmatched"
    method = scope["method"]
    REQUEST_SECONDS.labels(route, method, str(status)).observe(seconds)
    client = scope.get("client")
    query = scope.get("query_string", b"").decode("latin-1")[:500]
    target = f"{path}?{query}" if query else path
    access_logger.info(
        "%s %s %d %.1f ms", method, target, status, seconds * 1000,
        extra={"fields": {"request_id": request_id, "method": method, "route": route,
                          "path": target, "status": status,
                          "duration_ms": round(seconds * 1000, 2),
                          "client": f"{client[0]}:{client[1]}" if client else None}})


# --- logging -------------------------------------------------------------------------------

class JsonFormatter(logging.Formatter):
    """One JSON object a line. orjson is a dependency already; a logging library would add
    one for these ten lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.UTC)
                 .isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "pid": record.process,
                 "message": record.getMessage(), **getattr(record, "fields", {})}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


# Litestar's logging, left to the root logger configured below (its default replaces the
# root handler with its own format), with the traceback of every unexpected error, not only
# in debug mode; a client's error (4xx, and ours that answer one) is in the request log.
LITESTAR_LOGGING = LoggingConfig(
    configure_root_logger=False, log_exceptions="always",
    disable_stack_trace={*range(400, 500), BadQuery, EventNotFound, ReindexRunning},
    loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}})


def configure_logging(access_log: bool = True) -> None:
    """Every log record (ours and uvicorn's) to stderr: readable on a terminal, else JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
        if sys.stderr.isatty() else JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    access_logger.disabled = not access_log
