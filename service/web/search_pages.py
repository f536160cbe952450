"""The search page (`/`, `/search`) and its facets' long tail.

One URL serves a whole page to a browser and, to htmx (`HX-Request`, not a history
restore), only the part that changes: the results with their facets. `Vary: HX-Request`
keeps caches (and Back) from handing a fragment to a full page load.
"""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath
from litestar.response import Template

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


def _search_page(request: Request, events: EventIndex, settings: Settings) -> Response:
    search = page_request(request.query_params, settings.max_result_window)
    view = SearchPage(search, events.search(search))
    if wants_fragment(request):
        return _rendered(request, "search/fragment.html", view,
                         headers={**VARY, "HX-Push-Url": view.canonical})
    return _rendered(request, "search/page.html", view, headers=VARY)


def _rendered(request: Request, name: str, view: SearchPage, headers: dict) -> Response:
    """The page rendered here, in the request's worker thread, by the app's template
    engine (Litestar's Template response would render it on the event loop)."""
    html = request.app.template_engine.get_template(name).render(view=view)
    return Response(html, media_type=MediaType.HTML, headers=headers)


class SearchPages(Controller):
    include_in_schema = False

    @get("/search", sync_to_thread=True)
    def search(self, request: Request, events: NamedDependency[EventIndex],
               settings: NamedDependency[Settings]) -> Response:
        return _search_page(request, events, settings)

    # One handler per path: Litestar 2.25 leaves a sync_to_thread handler's coroutine
    # un-awaited (a 500) when one handler with several paths returns a Response.
    @get("/", sync_to_thread=True)
    def home(self, request: Request, events: NamedDependency[EventIndex],
             settings: NamedDependency[Settings]) -> Response:
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
        view = SearchPage(search, response=None)  # links only: no search was run
        name = "search/facet_more_fragment.html" if wants_fragment(request) else \
            "search/facet_more.html"
        return Template(template_name=name, headers=VARY, context={
            "view": view, "facet": facet, "title": FACET_TITLES[facet], "prefix": prefix,
            "items": view.value_items(facet, values)})
