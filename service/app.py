"""The Litestar application: create_app(settings) wires routes, errors and the index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_404_NOT_FOUND

from service.config import Settings
from service.models import Health
from service.responses import OrjsonResponse
from service.routes.events import EventsController
from service.routes.search import SearchController
from service.search.engine import EventIndex, EventNotFound
from service.search.query import BadQuery


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def open_index(app: Litestar) -> AsyncIterator[None]:
        # Opened once per process; each request takes its own searcher from it.
        app.state.events = EventIndex.open(settings.data_dir)
        yield

    return Litestar(
        route_handlers=[SearchController, EventsController, health],
        lifespan=[open_index],
        dependencies={
            "events": Provide(_events, sync_to_thread=False),
            "settings": Provide(lambda: settings, sync_to_thread=False),
        },
        exception_handlers={
            BadQuery: _error(HTTP_400_BAD_REQUEST),
            EventNotFound: _error(HTTP_404_NOT_FOUND),
        },
        response_class=OrjsonResponse,
        openapi_config=OpenAPIConfig(
            title="eventsearch",
            version="0.1.0",
            description="Search news events by text, country, topic, entity, story and date.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
    )


def _events(request: Request) -> EventIndex:
    return request.app.state.events


@get("/health", sync_to_thread=True, tags=["operations"])
def health(events: NamedDependency[EventIndex], settings: NamedDependency[Settings]) -> Health:
    return Health(status="ok", events=events.count(), data_dir=str(settings.data_dir))


def _error(status_code: int):
    def handle(_request: Request, error: Exception) -> Response:
        return OrjsonResponse({"status_code": status_code, "detail": str(error)},
                              status_code=status_code)

    return handle
