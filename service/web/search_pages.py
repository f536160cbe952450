"""The search page (`/`, `/search`), its facets' long tail and the related events a result
expands to.

One URL serves a whole page to a browser and, to htmx (`HX-Request`, not a history
restore), only the part that changes: the results with their facets. `Vary: HX-Request`
keeps caches (and Back) from handing a fragment to a full page load.
"""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from indexer.writers import page_path
from service.config import Settings
from service.search.engine import EventIndex
from service.search.facets import SEARCHABLE_FACETS
from service.search.query import BadQuery
from service.web.params import page_request
from service.web.views import FACET_TITLES, SearchPage

VARY = {"Vary": "HX-Request"}
FACET_PAGE_SIZE = 100


def wants_fragment(request: Request) -> bool:
    """An htmx swap asks for the changing part only; a history restore (the page was not
    in htmx's cache) and every other request get the whole page."""
    headers = request.headers
    return headers.get("hx-request") == "true" and "hx-history-restore-request" not in headers


def _search_page(request: Request, events: EventIndex, settings: Settings) -> Template:
    search = page_request(request.query_params, settings.max_result_window)
    view = SearchPage(search, events.search(search))
    if wants_fragment(request):
        return Template(template_name="search/fragment.html", context={"view": view},
                        headers={**VARY, "HX-Push-Url": view.canonical})
    return Template(template_name="search/page.html", context={"view": view}, headers=VARY)


class SearchPages(Controller):
    include_in_schema = False

    @get("/search", sync_to_thread=True)
    def search(self, request: Request, events: NamedDependency[EventIndex],
               settings: NamedDependency[Settings]) -> Template:
        return _search_page(request, events, settings)

    # One handler per path: Litestar 2.25 leaves a sync handler's coroutine un-awaited when
    # one handler with several paths returns a Template.
    @get("/", sync_to_thread=True)
    def home(self, request: Request, events: NamedDependency[EventIndex],
             settings: NamedDependency[Settings]) -> Template:
        return _search_page(request, events, settings)

    @get("/search/facets/{facet:str}", sync_to_thread=True)
    def facet_values(self, request: Request, events: NamedDependency[EventIndex],
                     settings: NamedDependency[Settings],
                     facet: FromPath[str]) -> Template:
        """Every value of one facet (up to 100), filtered by a word prefix: Blacklight's
        "more" page, which the search page opens in place."""
        if facet not in SEARCHABLE_FACETS:
            raise BadQuery(f"no facet {facet!r}: use one of {', '.join(SEARCHABLE_FACETS)}")
        search = page_request(request.query_params, settings.max_result_window)
        prefix = request.query_params.get("prefix", "").strip()[:100]
        values = events.facet_values(facet, prefix, search, FACET_PAGE_SIZE).values
        ordered = [v for v in values if v.selected] + [v for v in values if not v.selected]
        view = SearchPage(search, response=None)  # links only: no search was run
        name = "search/facet_more_fragment.html" if wants_fragment(request) else \
            "search/facet_more.html"
        return Template(template_name=name, headers=VARY, context={
            "view": view, "facet": facet, "title": FACET_TITLES[facet], "prefix": prefix,
            "values": ordered})

    @get("/search/related/{event_id:str}", sync_to_thread=True)
    def related(self, request: Request, events: NamedDependency[EventIndex],
                event_id: FromPath[str]) -> Template | Redirect:
        """A result's related events, for the search page to show in place; a browser
        without JavaScript follows the link to the event page's Related section instead."""
        if not wants_fragment(request):
            event = events.record(event_id)
            return Redirect(path=page_path(event.date, event.id) + "#related", status_code=303)
        related = events.related(event_id, 5)
        return Template(template_name="search/related_fragment.html", headers=VARY,
                        context={"related": related})
