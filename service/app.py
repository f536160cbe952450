"""The Litestar application: create_app(settings) wires routes, errors and the index."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_507_INSUFFICIENT_STORAGE,
)

from indexer.enrich.topic_embedding import embedder
from indexer.index.storage import DiskFull, ManifestCache, ReindexRunning
from service import observability, replica
from service.config import REQUEST_MAX_BODY_SIZE, Settings
from service.jobs import JobManager
from service.responses import OrjsonResponse
from service.routes.admin import AdminController
from service.routes.discover import DiscoverController
from service.routes.events import EventsController
from service.routes.search import SearchController
from service.search.engine import EventIndex, EventNotFound
from service.search.query import BadQuery
from service.security import Access
from service.web import not_found_page, template_config, web_router

logger = logging.getLogger("eventsearch")


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    access = Access(settings)  # API keys, audit log, rate limit, CORS, security headers

    @asynccontextmanager
    async def open_index(app: Litestar) -> AsyncIterator[None]:
        # Opened once per process; each request takes its own searcher from it.
        app.state.settings = settings
        app.state.api_keys = access.keys
        app.state.events = observability.ObservedEventIndex.open(settings.data_dir)
        app.state.jobs = JobManager(settings.data_dir)
        app.state.writes = observability.ObservedEventWrites(settings.data_dir)
        app.state.manifests = ManifestCache(settings.data_dir)  # for replicas of this one
        embedder()  # the related ranking's word vectors (0.35 s): loaded before any request
        watcher = asyncio.create_task(_follow_generations(app.state.events, settings))
        # A replica: one process (the one that takes the data directory's lock) copies the
        # primary's commits; every process's watcher above then swaps them in.
        follower = (replica.start_following(settings, swap_in=app.state.events.refresh)
                    if settings.follow_url else None)
        # What is loaded by now (the app, its routes and types, the index) lives as long as
        # the process: frozen, the garbage collector no longer walks it on every full
        # collection that requests' short-lived objects set off.
        gc.freeze()
        try:
            yield
        finally:
            watcher.cancel()
            if follower:
                follower.set()
            app.state.jobs.stop_all()
            app.state.writes.close()

    return observability.observe(Litestar(
        route_handlers=[SearchController, DiscoverController, EventsController, AdminController,
                        observability.OperationsController, web_router()],
        lifespan=[open_index, observability.watch],
        dependencies={
            "events": Provide(_state("events"), sync_to_thread=False),
            "jobs": Provide(_state("jobs"), sync_to_thread=False),
            "writes": Provide(_state("writes"), sync_to_thread=False),
            "manifests": Provide(_state("manifests"), sync_to_thread=False),
            "settings": Provide(lambda: settings, sync_to_thread=False),
        },
        exception_handlers={
            NotFoundException: not_found_page,
            BadQuery: _error(HTTP_400_BAD_REQUEST),
            EventNotFound: _error(HTTP_404_NOT_FOUND),
            ReindexRunning: _error(HTTP_409_CONFLICT, retry_after="5"),
            DiskFull: _error(HTTP_507_INSUFFICIENT_STORAGE),
            **access.exception_handlers,
        },
        guards=[replica.refuse_writes],  # a replica answers writes with 405
        middleware=access.middleware,
        cors_config=access.cors,
        before_send=access.before_send,
        request_max_body_size=REQUEST_MAX_BODY_SIZE,
        logging_config=observability.LITESTAR_LOGGING,
        response_class=OrjsonResponse,
        template_config=template_config(),
        # Level 1, nginx's default for dynamic responses: a results page of 60 KB takes
        # 0.25 ms and 8.7 KB, where zlib's default 6 takes 0.56 ms for 7.5 KB.
        compression_config=CompressionConfig(backend="gzip", gzip_compress_level=1,
                                              exclude_opt_key="skip_compression"),
        openapi_config=OpenAPIConfig(
            title="eventsearch",
            version="0.1.0",
            description="Search news events by text, country, topic, entity, story and date.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=access.openapi_components,  # the admin routes' X-API-Key
        ),
    ))


def _state(name: str):
    def provide(request: Request):
        return getattr(request.app.state, name)

    return provide


async def _follow_generations(events: EventIndex, settings: Settings) -> None:
    """Swap to a newly published generation within `reload_interval` seconds."""
    while True:
        await asyncio.sleep(settings.reload_interval)
        try:
            if await anyio.to_thread.run_sync(events.refresh):
                logger.info("now serving generation %s", events.generation)
        except Exception:  # keep serving the current generation; try again next time
            logger.exception("could not open the published generation")


def _error(status_code: int, retry_after: str | None = None):
    headers = {"Retry-After": retry_after} if retry_after else None

    def handle(_request: Request, error: Exception) -> Response:
        return OrjsonResponse({"status_code": status_code, "detail": str(error)},
                              status_code=status_code, headers=headers)

    return handle
