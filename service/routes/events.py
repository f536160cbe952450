"""GET /api/events/{id} and its related events."""

from __future__ import annotations

from typing import Annotated

import anyio
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter

from service.models import (
    NOT_FOUND,
    PUBLIC_ERRORS,
    WRITE_ERRORS,
    EventDetail,
    RelatedResponse,
    UpsertResult,
)
from service.search.engine import EventIndex
from service.search.query import DAY_FORMAT, search_request
from service.security import require_api_key
from service.writes import EventWrites

_MAX_BODY = 64 * 1024 * 1024


class EventsController(Controller):
    path = "/api/events"
    tags = ["events"]

    @get("/{event_id:str}", sync_to_thread=True, raises=PUBLIC_ERRORS + NOT_FOUND,
         summary="One event",
         description="An earlier version's slug resolves to the current event.")
    def event(self, events: NamedDependency[EventIndex], event_id: FromPath[str]) -> EventDetail:
        return events.event(event_id)

    @get("/{event_id:str}/related", sync_to_thread=True, raises=PUBLIC_ERRORS + NOT_FOUND,
         summary="Related events",
         description="Ranked by a blend of more-like-this on the headline, shared entities "
                     "and countries, the same story, closeness in time and the headlines' "
                     "closeness in meaning (word vectors); each hit has its "
                     "`score_parts` and the shared `context` tags. `source_links` are the "
                     "related events the source page listed.")
    def related(
        self,
        events: NamedDependency[EventIndex],
        event_id: FromPath[str],
        size: Annotated[int, QueryParameter(ge=1, le=50, description="How many")] = 5,
        country: Annotated[list[str] | None, QueryParameter(
            description="Only related events in these countries (code or name)")] = None,
        topic: Annotated[list[str] | None, QueryParameter(
            description="Only related events with these topics")] = None,
        date_from: Annotated[str | None, QueryParameter(
            name="from", schema_extra=DAY_FORMAT,
            description="Only related events from this day")] = None,
        date_to: Annotated[str | None, QueryParameter(
            name="to", schema_extra=DAY_FORMAT,
            description="Only related events up to this day")] = None,
    ) -> RelatedResponse:
        filters = search_request(country=country, topic=topic, date_from=date_from,
                                 date_to=date_to)
        return events.related(event_id, size, filters)

    @post("/", guards=[require_api_key], status_code=200, request_max_body_size=_MAX_BODY,
          raises=WRITE_ERRORS,
          summary="Upsert events",
          description="NDJSON body (application/x-ndjson), one event per line with at least "
                      "id, date and headline. Events are enriched like indexed dumps and "
                      "searchable within a second. Bad lines are rejected with their line "
                      "number; the others are written. 409 while a reindex runs.")
    async def upsert(self, request: Request, writes: NamedDependency[EventWrites]) -> UpsertResult:
        body = await request.body()
        return await anyio.to_thread.run_sync(writes.upsert, body)

    @delete("/{event_id:str}", guards=[require_api_key], sync_to_thread=True,
            raises=WRITE_ERRORS + NOT_FOUND,
            summary="Delete an event")
    def remove(self, writes: NamedDependency[EventWrites], event_id: FromPath[str]) -> None:
        if not writes.delete(event_id):
            raise NotFoundException(f"no event with id {event_id!r}")
