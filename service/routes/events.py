"""GET /api/events/{id} and its related events."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from service.models import EventDetail, RelatedResponse
from service.search.engine import EventIndex


class EventsController(Controller):
    path = "/api/events"
    tags = ["events"]

    @get("/{event_id:str}", sync_to_thread=True, summary="One event",
         description="An earlier version's slug resolves to the current event.")
    def event(self, events: NamedDependency[EventIndex], event_id: FromPath[str]) -> EventDetail:
        return events.event(event_id)

    @get("/{event_id:str}/related", sync_to_thread=True, summary="Related events",
         description="Ranked by more-like-this on the headline blended with shared entities, "
                     "countries and story; `context` lists the shared tags.")
    def related(
        self,
        events: NamedDependency[EventIndex],
        event_id: FromPath[str],
        size: Annotated[int, QueryParameter(ge=1, le=50, description="How many")] = 5,
    ) -> RelatedResponse:
        return RelatedResponse(id=event_id, hits=events.related(event_id, size))
