"""Search-box helpers: completions, facet value search, related events for a draft."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import anyio
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter

from indexer.record import Event
from service.models import (
    BODY_ERRORS,
    PUBLIC_ERRORS,
    DraftEvent,
    FacetSearchResponse,
    RelatedResponse,
    SuggestResponse,
)
from service.routes.search import FirstDay, LastDay
from service.search.engine import EventIndex
from service.search.facets import SEARCHABLE_FACETS
from service.search.query import search_request
from service.writes import EventWrites


class DiscoverController(Controller):
    path = "/api"
    tags = ["search"]

    @get("/suggest", sync_to_thread=True, raises=PUBLIC_ERRORS,
         summary="Completions as the user types",
         description="Entities, stories and countries with a word starting with `q` (most "
                     "events first, each with the filter that selects it), then headline "
                     "words completing the last word typed.")
    def suggest(
        self,
        events: NamedDependency[EventIndex],
        q: Annotated[str, QueryParameter(description="What was typed so far", max_length=200)],
        size: Annotated[int, QueryParameter(ge=1, le=50, description="How many")] = 8,
    ) -> SuggestResponse:
        return events.suggest(q, size)

    @get("/facets/{facet:str}", sync_to_thread=True, raises=PUBLIC_ERRORS,
         summary="Search a facet's values",
         description="Values of one facet (country, topic, entity, story, source) with a "
                     "word starting with `prefix`, counted over the events matching `q` and "
                     "the filters (the facet's own selection left out), most events first.")
    def facet_values(
        self,
        events: NamedDependency[EventIndex],
        facet: Annotated[str, PathParameter(
            description="The facet to search", schema_extra={"enum": list(SEARCHABLE_FACETS)})],
        prefix: Annotated[str, QueryParameter(description="Start of a word", max_length=100)] = "",
        q: Annotated[str, QueryParameter(description="Search-box text")] = "",
        country: Annotated[list[str] | None, QueryParameter(description="Filter")] = None,
        topic: Annotated[list[str] | None, QueryParameter(description="Filter")] = None,
        entity: Annotated[list[str] | None, QueryParameter(description="Filter")] = None,
        story: Annotated[list[str] | None, QueryParameter(description="Filter")] = None,
        source: Annotated[list[str] | None, QueryParameter(description="Filter")] = None,
        date_from: FirstDay = None,
        date_to: LastDay = None,
        size: Annotated[int, QueryParameter(ge=1, le=100, description="How many")] = 20,
    ) -> FacetSearchResponse:
        request = search_request(q=q, country=country, topic=topic, entity=entity,
                                 story=story, source=source, date_from=date_from,
                                 date_to=date_to)
        return events.facet_values(facet, prefix, request, size)

    @post("/related", status_code=200, raises=BODY_ERRORS,
          summary="Related events for unsaved text",
          description="Enriches a draft headline like an indexed event (entities, countries, "
                      "topics) and ranks related events the same way as "
                      "/api/events/{id}/related.")
    async def related_to_draft(
        self,
        data: JSONBody[DraftEvent],
        events: NamedDependency[EventIndex],
        writes: NamedDependency[EventWrites],
        size: Annotated[int, QueryParameter(ge=1, le=50, description="How many")] = 5,
    ) -> RelatedResponse:
        draft = Event(id="", date=data.date or dt.date.today(), headline=data.headline,
                      story=data.story)
        enriched = await anyio.to_thread.run_sync(writes.enrich, draft)
        hits = await anyio.to_thread.run_sync(events.related_to, enriched, size)
        return RelatedResponse(id=None, hits=hits)
