"""The archive as its source site publishes it: `/news/YYYY/MM/DD/<slug>` event pages (HTML,
and `.json`, `.xml`, `.md` in the formats the readers take), day pages
(`/news/YYYY/MM/DD/`, `index.md`), month and year pages, so the site's links keep working.

A page's canonical path has a zero-padded month and day and the event's current slug; any
other path that names the event (an earlier version's slug, `/news/2016/07/8/...` as the
source site writes days, another day) answers 301 with the canonical one.
"""

from __future__ import annotations

import calendar
import datetime as dt
from urllib.parse import unquote

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from indexer.writers import PAGE_FORMATS, page_path, write_page
from service.search.engine import EventIndex
from service.search.query import SearchRequest
from service.web.search_pages import VARY, wants_fragment
from service.web.views import portal_sections

_MEDIA_TYPES = {"json": "application/json", "xml": "application/xml",
                "md": "text/markdown"}
_RELATED = 10
_RELATED_IN_PLACE = 5


class ArchivePages(Controller):
    include_in_schema = False

    @get("/events/{event_id:str}", sync_to_thread=True)
    def permalink(self, events: NamedDependency[EventIndex],
                  event_id: FromPath[str]) -> Redirect:
        """An event by id alone (or an earlier version's slug): its page on the archive."""
        event = events.record(event_id)
        return Redirect(path=page_path(event.date, event.id), status_code=301)

    @get("/news", sync_to_thread=True)
    def years(self, events: NamedDependency[EventIndex]) -> Template:
        counts = _date_buckets(events, SearchRequest(size=1))
        return Template(template_name="archive/years.html", context={"buckets": counts})

    @get("/news/{year:int}", sync_to_thread=True)
    def year(self, events: NamedDependency[EventIndex], year: FromPath[int]) -> Template:
        return Template(template_name="archive/year.html", context={
            "year": year, **_period(events, _day(year, 1, 1), _day(year, 12, 31))})

    @get("/news/{year:int}/{month:int}", sync_to_thread=True)
    def month(self, events: NamedDependency[EventIndex], year: FromPath[int],
              month: FromPath[int]) -> Template:
        first = _day(year, month, 1)
        last = _day(year, month, calendar.monthrange(year, month)[1])
        return Template(template_name="archive/month.html", context={
            "first": first, **_period(events, first, last)})

    @get("/news/{year:int}/{month:int}/{day:int}", sync_to_thread=True)
    def day(self, events: NamedDependency[EventIndex], year: FromPath[int], month: FromPath[int],
            day: FromPath[int]) -> Template:
        return _day_page(events, _day(year, month, day), markdown=False)

    @get("/news/{year:int}/{month:int}/{day:int}/{name:str}/related", sync_to_thread=True)
    def related(self, request: Request, events: NamedDependency[EventIndex],
                name: FromPath[str]) -> Template | Redirect:
        """The event's related events, for a result on the search page to show in place;
        a browser without JavaScript follows the link to the page's Related section."""
        event = events.record(name)
        if not wants_fragment(request):
            return Redirect(path=page_path(event.date, event.id) + "#related", status_code=303)
        return Template(template_name="archive/related_fragment.html", headers=VARY,
                        context={"related": events.related_to(event, _RELATED_IN_PLACE)})

    @get("/news/{year:int}/{month:int}/{day:int}/{name:str}", sync_to_thread=True)
    def page(self, request: Request, events: NamedDependency[EventIndex], year: FromPath[int],
             month: FromPath[int], day: FromPath[int], name: FromPath[str],
             ) -> Template | Response | Redirect:
        """An event page in any of its formats, or the day page as `index.md`."""
        slug, extension = _split_extension(name)
        if slug == "index":
            return _day_page(events, _day(year, month, day), markdown=extension == "md")
        event = events.record(slug)
        canonical = page_path(event.date, event.id, extension)
        if request.scope["path"] != unquote(canonical):
            return Redirect(path=canonical, status_code=301)
        if extension in PAGE_FORMATS:
            return Response(write_page(event, extension), media_type=_MEDIA_TYPES[extension])
        return Template(template_name="archive/event.html", context={
            "event": events.event(event.id),
            "related": events.related_to(event, _RELATED),
            "canonical": page_path(event.date, event.id),
        })


def _day_page(events: EventIndex, day: dt.date, markdown: bool) -> Template:
    listed = list(events.matching_events(SearchRequest(date_from=day, date_to=day,
                                                       sort="date")))
    before, after = events.nearest_days(day)
    context = {"day": day, "sections": portal_sections(listed), "count": len(listed),
               "before": before, "after": after}
    if markdown:
        return Template(template_name="archive/day.md", context=context,
                        media_type="text/markdown")
    # A day without events still links to the nearest days that have some.
    return Template(template_name="archive/day.html", context=context,
                    status_code=200 if listed else 404)


def _period(events: EventIndex, first: dt.date, last: dt.date) -> dict:
    """A year's months or a month's days with their counts, and the nearest days with
    events before and after it."""
    before, _ = events.nearest_days(first)
    _, after = events.nearest_days(last)
    buckets = _date_buckets(events, SearchRequest(date_from=first, date_to=last, size=1))
    return {"buckets": buckets, "before": before, "after": after}


def _date_buckets(events: EventIndex, request: SearchRequest) -> list[tuple[str, int]]:
    """(bucket, events) of the date facet: years, months or days, as the span asks."""
    return [(value.value, value.count) for value in events.search(request).facets.date]


def _day(year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise NotFoundException(f"there is no day {year}-{month}-{day}") from None


def _split_extension(name: str) -> tuple[str, str]:
    """`<slug>.json` -> (slug, "json"); a name with no known extension is all slug ("")."""
    stem, dot, extension = name.rpartition(".")
    if dot and extension in (*PAGE_FORMATS, "html"):
        return stem, extension
    return name, ""
