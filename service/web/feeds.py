"""Every search as a feed and a download: Atom (`/search.atom`), CSV (`/search.csv`) and
NDJSON (`/search.ndjson`), plus the OpenSearch description that lets a browser add the
search box.

Downloads hold every matching event, newest first (oldest first with `sort=date`),
streamed as the engine reads them in batches: memory stays flat however many match.
The NDJSON lines are canonical event records, which `eventsearch index` reads back.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import replace

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Stream, Template

from indexer.enrich.countries import country_name
from indexer.record import Event
from indexer.writers import page_path
from service.config import Settings
from service.search.engine import EventIndex
from service.web.params import page_request
from service.web.views import SearchPage

FEED_SIZE = 50
CSV_COLUMNS = ("id", "date", "headline", "story", "topics", "countries", "entities",
               "source_names", "source_urls", "url")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_encoder = msgspec.json.Encoder()


class Feeds(Controller):
    include_in_schema = False

    @get("/search.atom", sync_to_thread=True)
    def atom(self, request: Request, events: NamedDependency[EventIndex],
             settings: NamedDependency[Settings]) -> Template:
        """The newest events matching the search, for a feed reader to follow."""
        search = page_request(request.query_params, settings.max_result_window)
        newest = replace(search, sort="-date", size=FEED_SIZE, page=1, cursor=None)
        view = SearchPage(search, events.search(newest))
        base = str(request.base_url).rstrip("/")
        return Template(template_name="feeds/search.atom", media_type="application/atom+xml",
                        context={"view": view, "base": base,
                                 "updated": _updated(view.response.hits)})

    @get("/search.csv", sync_to_thread=True)
    def csv(self, request: Request, events: NamedDependency[EventIndex],
            settings: NamedDependency[Settings]) -> Stream:
        search = page_request(request.query_params, settings.max_result_window)
        base = str(request.base_url).rstrip("/")
        return Stream(_csv_lines(events.matching_events(search), base),
                      media_type="text/csv",
                      headers=_attachment("events.csv"))

    @get("/search.ndjson", sync_to_thread=True)
    def ndjson(self, request: Request, events: NamedDependency[EventIndex],
               settings: NamedDependency[Settings]) -> Stream:
        search = page_request(request.query_params, settings.max_result_window)
        lines = (_encoder.encode(event) + b"\n" for event in events.matching_events(search))
        return Stream(lines, media_type="application/x-ndjson",
                      headers=_attachment("events.ndjson"))

    @get("/opensearch.xml", sync_to_thread=False)
    def opensearch(self, request: Request) -> Template:
        return Template(template_name="feeds/opensearch.xml",
                        media_type="application/opensearchdescription+xml",
                        context={"base": str(request.base_url).rstrip("/")})

    @get("/opensearch/suggestions", sync_to_thread=True)
    def suggestions(self, events: NamedDependency[EventIndex], q: FromQuery[str] = "") -> Response:
        """Completions in the OpenSearch suggestions format: [query, [completion, ...]]."""
        found = events.suggest(q[:200], 8).suggestions
        return Response([q, [s.text for s in found]],
                        media_type="application/x-suggestions+json")


def _csv_lines(events: Iterator[Event], base: str) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for number, event in enumerate(events):
        writer.writerow(_csv_row(event, base))
        if number % 100 == 99:  # a chunk per hundred rows, not per row
            yield _drain(buffer)
    yield _drain(buffer)


def _csv_row(event: Event, base: str) -> list[str]:
    cells = [event.id, event.date.isoformat(), event.headline, event.story or "",
             "; ".join(event.topics), "; ".join(country_name(c) for c in event.countries),
             "; ".join(e.name for e in event.entities),
             "; ".join(s.name for s in event.sources), " ".join(s.url for s in event.sources),
             base + page_path(event.date, event.id)]
    return [_inert(cell) for cell in cells]


def _inert(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP's CSV injection advice)."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _updated(hits) -> str:
    newest = hits[0].date if hits else dt.date(1970, 1, 1)
    return f"{newest.isoformat()}T00:00:00Z"
