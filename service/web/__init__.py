"""The pages people use: the search page, the archive's own pages, feeds and downloads.

Server-rendered HTML from Jinja templates (`templates/`), enhanced by htmx and a little
JavaScript of ours (`static/`); every page works without JavaScript. The pages call the
same `EventIndex` as the JSON API: there is one search engine.

    web_router()       the page routes, with HTML error pages (their security headers are
                       added to every HTML response by service.security)
    template_config()  Litestar's Jinja engine over `templates/`
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_404_NOT_FOUND
from litestar.template import TemplateConfig

from service.search.engine import EventNotFound
from service.search.query import BadQuery
from service.web.archive_pages import ArchivePages
from service.web.assets import StaticAssets
from service.web.feeds import Feeds
from service.web.search_pages import VARY, SearchPages, wants_fragment
from service.web.views import TEMPLATE_GLOBALS

_HERE = Path(__file__).parent
ASSETS = StaticAssets(_HERE / "static")


def template_config() -> TemplateConfig:
    environment = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(("html", "xml", "atom")),  # not .md: it is not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        auto_reload=False,
    )
    environment.globals.update(TEMPLATE_GLOBALS, static=ASSETS.url)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


@get("/static/{name:path}", sync_to_thread=False)
def static_file(name: FromPath[str]) -> Response:
    return ASSETS.response(name)


def web_router() -> Router:
    return Router(
        path="/",
        route_handlers=[SearchPages, ArchivePages, Feeds, static_file],
        exception_handlers={
            BadQuery: _error_page(HTTP_400_BAD_REQUEST),
            ValidationException: _error_page(HTTP_400_BAD_REQUEST),
            EventNotFound: _error_page(HTTP_404_NOT_FOUND),
            NotFoundException: _error_page(HTTP_404_NOT_FOUND),
        },
        include_in_schema=False,
    )


def not_found_page(request: Request, error: Exception) -> Response:
    """A 404 for a path no route serves: a page for browsers, JSON for API clients."""
    if request.url.path.startswith(("/api/", "/schema")) or \
            "text/html" not in request.headers.get("accept", ""):
        return Response({"status_code": HTTP_404_NOT_FOUND, "detail": str(error)},
                        status_code=HTTP_404_NOT_FOUND)
    return _error_page(HTTP_404_NOT_FOUND)(request, error)


def _error_page(status_code: int):
    def render(request: Request, error: Exception) -> Template:
        fragment = wants_fragment(request)
        return Template(
            template_name="error_fragment.html" if fragment else "error.html",
            context={"status_code": status_code, "message": _message(error)},
            status_code=status_code, headers=VARY,
        )

    return render


def _message(error: Exception) -> str:
    if isinstance(error, ValidationException):
        return "; ".join(str(e.get("message", e)) for e in error.extra or []) or str(error)
    return getattr(error, "detail", None) or str(error)
