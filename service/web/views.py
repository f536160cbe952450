"""What the pages show, computed from the engine's answers; the templates lay it out (and
rows.py writes the rows that repeat by the dozen).

Every link of the search page is a URL of the search page (`/search?...`) built from the
request's own parameters, as the API's `toggle` strings are: a state is a URL, so it can
be shared, bookmarked, reloaded and reached again with Back.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlencode

from markupsafe import Markup

from indexer.record import TOPIC_LABELS, TOPICS, Event
from indexer.writers import day_path, page_path
from indexer.writers.page_markdown import one_line
from service.models import FacetValue, Hit, SearchResponse
from service.search.facets import FACETS, Toggles, request_params
from service.search.query import SearchRequest
from service.web import rows
from service.web.rows import SEARCH_PATH

FACET_TITLES = {"country": "Countries", "topic": "Topics", "entity": "Names",
                "story": "Stories", "source": "Sources"}
"""The facets of the panel, in its order, with their headings."""
_CHIP_KINDS = {"country": "Country", "topic": "Topic", "entity": "Name", "story": "Story",
               "source": "Source"}
_FACET_LABELS = {facet.name: facet.label for facet in FACETS if facet.name in FACET_TITLES}
"""How each facet labels its values (a country's name for its code), as the API does."""
_NARROWEST_HISTOGRAM = 130.0  # viewBox units: a bar is 10, so about eleven bars wide
SORT_LABELS = {"relevance": "Relevance", "-date": "Newest first", "date": "Oldest first"}
_SORT_ALIASES = {"date:desc": "-date", "date:asc": "date"}


def search_url(params: dict[str, list[str]], path: str = SEARCH_PATH) -> str:
    query = urlencode([(key, value) for key, values in params.items() for value in values])
    return f"{path}?{query}" if query else path


def num(count: int) -> str:
    return f"{count:,}"


def _encoded(key: str, values: list[str]) -> str:
    return urlencode([(key, value) for value in values])


def event_url(hit: Hit, extension: str = "") -> str:
    return page_path(hit.date, hit.id, extension)


@dataclass(frozen=True)
class FacetGroup:
    name: str
    title: str
    items: Markup  # the values, selected first, as list items
    more: bool  # the list may go on: offer the long tail


@dataclass(frozen=True)
class Chip:
    """An active filter, with the URL that removes it."""

    kind: str
    label: str
    remove: str


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    href: str
    x: float
    height: float


@dataclass(frozen=True)
class Histogram:
    interval: str
    bars: list[Bar]
    width: float
    height: float = 64.0
    bar_width: float = 10.0


@dataclass(frozen=True)
class PagerLink:
    label: str
    href: str


@dataclass
class Pager:
    back: PagerLink | None = None
    forward: PagerLink | None = None


@dataclass
class SearchPage:
    request: SearchRequest
    response: SearchResponse | None  # None: a page of links only (a facet's long tail)
    today: dt.date = field(default_factory=dt.date.today)
    _toggles: dict[str, Toggles] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def params(self) -> dict[str, list[str]]:
        """The request as query parameters (first page): the state every link starts from."""
        return request_params(self.request)

    @property
    def canonical(self) -> str:
        """This page's URL as the page writes its links: htmx pushes it (not the form's
        fields as typed, empty ones and all), so one state has one URL."""
        where = {"cursor": [self.request.cursor.encode()]} if self.request.cursor else (
            {"page": [str(self.request.page)]} if self.request.page > 1 else {})
        return self.url(where)

    def url(self, changes: dict[str, list[str]] | None = None, path: str = SEARCH_PATH) -> str:
        """The state with the parameters in `changes` replaced (or added, after the rest):
        what `search_url({**params, **changes})` gives, from parameters encoded once."""
        changes = changes or {}
        parts = [_encoded(key, changes[key]) if key in changes else encoded
                 for key, encoded in self._encoded.items()]
        parts += [_encoded(key, values) for key, values in changes.items()
                  if key not in self._encoded]
        query = "&".join(part for part in parts if part)
        return f"{path}?{query}" if query else path

    @cached_property
    def query(self) -> str:
        """The state as a query string, "?q=..." (or "" for no state), for the links to the
        same search elsewhere (downloads, feed, a facet's long tail)."""
        return self.url(path="")

    @cached_property
    def total(self) -> str:
        return f"{self.response.total:,}"

    @property
    def events_found(self) -> str:
        """"1,234 events"."""
        return f"{self.total} {'event' if self.response.total == 1 else 'events'}"

    @cached_property
    def _encoded(self) -> dict[str, str]:
        return {key: _encoded(key, values) for key, values in self.params.items()}

    def toggle(self, facet: str, value: str) -> str:
        """The search with `value` of `facet` ticked (or unticked, if it is ticked)."""
        toggles = self._toggles.get(facet)
        if toggles is None:
            toggles = self._toggles[facet] = Toggles(self.request, facet)
        query = toggles(value)
        return f"{SEARCH_PATH}?{query}" if query else SEARCH_PATH

    @property
    def title(self) -> str:
        words = self.request.text.strip()
        return (f"{words} – {self.events_found} · eventsearch" if words
                else f"{self.events_found} · eventsearch")

    @property
    def sort(self) -> str:
        return _SORT_ALIASES.get(self.request.sort, self.request.sort)

    @cached_property
    def hits_by_day(self) -> Markup:
        """Hits under their day, as the Portal lists events; ranked order is kept, so a day
        may head more than one run of hits when sorting by relevance."""
        return rows.results_by_day(self.response.hits)

    @cached_property
    def facets(self) -> list[FacetGroup]:
        groups = []
        for name, title in FACET_TITLES.items():
            values = getattr(self.response.facets, name)
            groups.append(FacetGroup(name, title, self.value_items(name, values),
                                     more=len(values) >= self.request.facet_size(name)))
        return groups

    @staticmethod
    def value_items(facet: str, values: list[FacetValue]) -> Markup:
        """A facet's values as links, the selected ones first."""
        ordered = [v for v in values if v.selected] + [v for v in values if not v.selected]
        return rows.value_items(facet, ordered)

    @cached_property
    def chips(self) -> list[Chip]:
        chips = [Chip(_CHIP_KINDS[name], _FACET_LABELS[name](value), self.toggle(name, value))
                 for name in FACET_TITLES for value in self.request.selected(name)]
        if self.request.date_from or self.request.date_to:
            chips.append(Chip("Dates", self.date_range_label, self.url({"from": [], "to": []})))
        return chips

    @property
    def clear_all(self) -> str:
        """The same words and order, without a filter."""
        return search_url({"q": self.params["q"], "sort": self.params["sort"],
                           "correct": self.params["correct"]})

    @property
    def date_range_label(self) -> str:
        start, end = self.request.date_from, self.request.date_to
        if start and end:
            return f"{start.isoformat()} to {end.isoformat()}"
        return f"from {start.isoformat()}" if start else f"until {end.isoformat()}"

    @cached_property
    def histogram(self) -> Histogram | None:
        buckets = self.response.facets.date
        if not buckets:
            return None
        tallest = max(bucket.count for bucket in buckets)
        bars = [Bar(label=bucket.label, count=bucket.count, href=self._narrowed_to(bucket),
                    x=i * 12.0, height=max(1.0, 60.0 * bucket.count / tallest))
                for i, bucket in enumerate(buckets)]
        # A few bars keep their width instead of stretching across the panel.
        return Histogram(interval=buckets[0].type or "year", bars=bars,
                         width=max(len(bars) * 12.0 - 2.0, _NARROWEST_HISTOGRAM))

    def _narrowed_to(self, bucket: FacetValue) -> str:
        # ISO dates compare as their text does.
        first, last = interval_bounds(bucket.value, bucket.type or "year")
        chosen_from, chosen_to = self.params["from"], self.params["to"]
        if chosen_from and chosen_from[0] > first:
            first = chosen_from[0]
        if chosen_to and chosen_to[0] < last:
            last = chosen_to[0]
        return self.dated(first, last)

    def dated(self, first: str, last: str) -> str:
        """The state narrowed to the days `first` to `last` (ISO dates, which need no
        encoding): a histogram bar's link, built around the other parameters."""
        head, tail = self._around_dates
        return f"{head}from={first}&to={last}{tail}"

    @cached_property
    def _around_dates(self) -> tuple[str, str]:
        keys = list(self._encoded)
        at = keys.index("from")  # "to" follows it
        before = "&".join(part for key in keys[:at] if (part := self._encoded[key]))
        after = "&".join(part for key in keys[at + 2:] if (part := self._encoded[key]))
        return (f"{SEARCH_PATH}?{before}&" if before else f"{SEARCH_PATH}?",
                f"&{after}" if after else "")

    @cached_property
    def date_presets(self) -> list[tuple[str, str, bool]]:
        """(label, URL, whether it is the current range) for the common spans back from today."""
        presets = []
        for label, days in (("Past week", 7), ("Past month", 31), ("Past year", 365)):
            start = self.today - dt.timedelta(days=days - 1)
            current = (self.request.date_from == start and self.request.date_to == self.today)
            presets.append((label, self.dated(start.isoformat(), self.today.isoformat()),
                            current))
        return presets

    @cached_property
    def pager(self) -> Pager:
        back_label, forward_label = {"-date": ("Newer", "Older"),
                                     "date": ("Older", "Newer")}.get(self.sort,
                                                                     ("Previous", "Next"))
        pager = Pager()
        if self.response.prev_cursor:
            pager.back = PagerLink(back_label, self.url({"cursor": [self.response.prev_cursor]}))
        if self.response.next_cursor and self.response.hits:
            pager.forward = PagerLink(forward_label,
                                      self.url({"cursor": [self.response.next_cursor]}))
        return pager

    @property
    def without_correction(self) -> str:
        return self.url({"correct": ["false"]})

    @cached_property
    def hidden_state(self) -> list[tuple[str, str]]:
        """The filters and order as (name, value) pairs: hidden inputs of the search box's
        form, so new words keep the filters."""
        return [(key, value) for key, values in self.params.items() if key != "q"
                for value in values]

    def hidden_except(self, *names: str) -> list[tuple[str, str]]:
        """The whole state, words included, but for `names`: hidden inputs of the forms
        that set those (sort, dates), in the order of the page's own links."""
        return [(key, value) for key, values in self.params.items() if key not in names
                for value in values]

    @property
    def has_filters(self) -> bool:
        return bool(self.chips)


def portal_sections(events: list[Event]) -> list[tuple[str, list[tuple[str | None, list[Event]]]]]:
    """A day's events as the Portal lays them out: under their (first) topic's heading, in
    the Portal's order, then "Other"; within a topic, each story's events under the story,
    in order of first appearance, and events without a story on their own."""
    by_topic: dict[str, dict[str | None, list[Event]]] = {}
    for event in events:
        topic = event.topics[0] if event.topics else ""
        by_topic.setdefault(topic, {}).setdefault(event.story, []).append(event)
    order = [*TOPICS, ""]
    return [(TOPIC_LABELS.get(topic, topic) or "Other", list(by_topic[topic].items()))
            for topic in sorted(by_topic, key=lambda topic: order.index(topic)
                                if topic in order else len(order))]


def interval_bounds(value: str, interval: str) -> tuple[str, str]:
    """The first and last day (ISO) of a date facet bucket ("2016", "2016-11",
    "2016-11-21")."""
    if interval == "day":
        return value, value
    if interval == "month":
        year, month = value.split("-")
        return f"{value}-01", f"{value}-{calendar.monthrange(int(year), int(month))[1]:02d}"
    return f"{value}-01-01", f"{value}-12-31"


TEMPLATE_GLOBALS = {
    "flag": rows.flag,
    "long_date": rows.long_date,
    "num": num,
    "histogram_bars": rows.histogram_bars,
    "bucket_items": rows.bucket_items,
    "md": one_line,
    "to_date": dt.date.fromisoformat,
    "safe_url": rows.safe_url,
    "event_url": event_url,
    "page_path": page_path,
    "day_path": day_path,
    "search_url": search_url,
    "topic_label": _FACET_LABELS["topic"],
    "SORT_LABELS": SORT_LABELS,
}
