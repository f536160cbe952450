"""GET /api/search: the search box with filters, facets and paging."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from indexer.record import TOPICS
from service.config import Settings
from service.models import PUBLIC_ERRORS, SearchResponse
from service.search.engine import EventIndex
from service.search.query import (
    DAY_FORMAT,
    MAX_FACET_SIZE,
    MAX_FACET_SIZE_VALUES,
    MAX_PAGE_SIZE,
    MAX_QUERY_LENGTH,
    search_request,
)

# The date range, as every route that narrows a search by it takes it.
FirstDay = Annotated[str | None, QueryParameter(
    name="from", schema_extra=DAY_FORMAT, description="First day, YYYY-MM-DD (inclusive)")]
LastDay = Annotated[str | None, QueryParameter(
    name="to", schema_extra=DAY_FORMAT, description="Last day, YYYY-MM-DD (inclusive)")]


class SearchController(Controller):
    path = "/api/search"
    tags = ["search"]

    @get(sync_to_thread=True, raises=PUBLIC_ERRORS, summary="Search events", description=(
        "Search-box syntax: all words are required; \"phrases\"; AND, OR, NOT and -word; "
        "field:value on country, topic, entity, story, source. An empty `q` browses by the "
        "filters alone. Lenient unless `strict`; a word that matches nothing is matched "
        "fuzzily (`corrected_query`) unless `correct=false`. Facets are multi-select: each facet "
        "is counted with every filter but its own; each value carries `selected` and its "
        "`toggle` query. Above 50,000 matches facet counts are estimated from a sample "
        "(`facet_sample` < 1) unless `exact_facets`."))
    def search(
        self,
        events: NamedDependency[EventIndex],
        settings: NamedDependency[Settings],
        q: Annotated[str, QueryParameter(description="Search-box text",
                                         max_length=MAX_QUERY_LENGTH)] = "",
        country: Annotated[list[str] | None, QueryParameter(
            description="ISO 3166-1 alpha-2 code or country name; repeat to match any")] = None,
        topic: Annotated[list[str] | None, QueryParameter(
            description=f"Topic slug, one of {', '.join(TOPICS)}; repeat to match any")] = None,
        entity: Annotated[list[str] | None, QueryParameter(
            description="Canonical entity name; repeat to match any")] = None,
        story: Annotated[list[str] | None, QueryParameter(
            description="Story label; repeat to match any")] = None,
        source: Annotated[list[str] | None, QueryParameter(
            description="Source name (e.g. Reuters); repeat to match any")] = None,
        date_from: FirstDay = None,
        date_to: LastDay = None,
        sort: Annotated[str | None, QueryParameter(
            description="relevance; -date (alias date:desc) newest first; date (alias "
                        "date:asc) oldest first. Default: relevance when `q` has words, "
                        "else -date")] = None,
        page: Annotated[int, QueryParameter(ge=1, description="1-based page number")] = 1,
        size: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE,
                                            description="Hits per page")] = 10,
        cursor: Annotated[str | None, QueryParameter(
            description="`next_cursor` of the previous page, for deep paging (then `page` "
                        "is ignored); stays correct while the index changes")] = None,
        strict: Annotated[bool, QueryParameter(
            description="Reject syntax errors (400 with their position) instead of "
                        "searching what can be read")] = False,
        facet_size: Annotated[list[str] | None, QueryParameter(
            description=f"Values per facet: N for every facet, FACET:N for one (e.g. "
                        f"entity:25); 1-{MAX_FACET_SIZE}, default 10 (the rest: "
                        f"/api/facets/{{facet}}); at most {MAX_FACET_SIZE_VALUES} of them")] = None,
        recency: Annotated[float, QueryParameter(
            ge=0, le=1, description="Blend recency into relevance: 0 none, 1 strongest "
                                    "(score halves per year of age)")] = 0.0,
        correct: Annotated[bool, QueryParameter(
            description="When no event matches, search again with each word that matches "
                        "nothing replaced by the closest indexed word (`corrected_query`); "
                        "false searches the words as typed")] = True,
        exact_facets: Annotated[bool, QueryParameter(
            description="Count facets over every match. By default, above 50,000 matches "
                        "the counts are estimated from a sample of about 10,000 events "
                        "(the response's `facet_sample` < 1)")] = False,
    ) -> SearchResponse:
        request = search_request(
            q=q, country=country, topic=topic, entity=entity, story=story, source=source,
            date_from=date_from, date_to=date_to, sort=sort, page=page, size=size,
            cursor=cursor, strict=strict, facet_size=facet_size, recency=recency,
            exact_facets=exact_facets, max_result_window=settings.max_result_window,
            correct=correct,
        )
        return events.search(request)

