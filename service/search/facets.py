"""Facet counts from Tantivy aggregations: one small class per facet kind.

Facets are multi-select (disjunctive), as in Datasette or Algolia: each label facet counts
the events matching the query and every filter *except its own*, so a reader who ticked
Russia sees how many events Poland would add. Facets without a selection share one
aggregation call; each facet with a selection needs one more. Every value carries its
display label, whether it is selected and the query string that toggles it.

Counts are exact up to `EXACT_UP_TO` matching events. Above that, unless the request asks
for exact counts, they are estimated from a sample, as Typesense's facet sampling and
Algolia's non-exhaustive counts do: every event sits in one of `SAMPLE_BUCKETS` buckets by
a hash of its id, the aggregations read just enough buckets for about `SAMPLE_TARGET`
events, and counts are scaled up by the share read. Counting is the part of a search page
whose cost grows with the matches (a word in a third of a million events took 17-35 ms to
count); the share counted is reported with the response (`facet_sample`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections.abc import Callable
from urllib.parse import quote_plus

import tantivy

from indexer.enrich.countries import country_name
from indexer.index.schema import SAMPLE_BUCKETS, label_key, typed_entities
from indexer.record import TOPIC_LABELS, Event
from indexer.story_links import shown_story
from service.models import FacetValue
from service.search.query import (
    BadQuery,
    SearchRequest,
    default_sort,
    filter_queries,
    must_all,
    words_match_at_most,
)
from service.search.render import stored_event


class TermsFacet:
    """Counts of a raw label field (country, topic, source)."""

    def __init__(self, name: str, label: Callable[[str], str] = str):
        self.name = name
        self.label = label

    def aggregations(self, request: SearchRequest) -> dict:
        size = request.facet_size(self.name)
        return {self.name: {"terms": {"field": self._counted_field, "size": size}}}

    def values(self, result: dict, request: SearchRequest) -> list[FacetValue]:
        toggles = Toggles(request, self.name)
        return [self._value(b["key"], b["doc_count"], toggles)
                for b in result[self.name]["buckets"]]

    _field = property(lambda self: self.name)  # the names, for the facet value search
    _counted_field = property(lambda self: self._field)

    def _value(self, key: str, count: int, toggles: Toggles,
               kind: str | None = None) -> FacetValue:
        return FacetValue(value=key, label=self.label(key), count=count,
                          selected=key in toggles.selected, toggle=toggles(key), type=kind)


class KeyedFacet(TermsFacet):
    """A label facet counted by a number per label (schema.label_key says why), in
    `key_field`; `FacetCounter` names the numbers Tantivy returns (`KeyNames`). The facet
    value search matches the names, in the label field."""

    def __init__(self, name: str, key_field: str, labels: Callable[[Event], list[str]]):
        super().__init__(name)
        self._key_field = key_field
        self.names = KeyNames(key_field, labels)

    _counted_field = property(lambda self: self._key_field)


class EntityFacet(KeyedFacet):
    """Entities with their kind (person, organisation, place, group, event): the labels
    are "kind:name", in `entity_typed`."""

    def __init__(self):
        super().__init__("entity", "entity_key", lambda event: typed_entities(event.entities))

    _field = property(lambda self: "entity_typed")

    def values(self, result: dict, request: SearchRequest) -> list[FacetValue]:
        toggles = Toggles(request, self.name)
        values = []
        for bucket in result[self.name]["buckets"]:
            kind, _, name = bucket["key"].partition(":")
            values.append(self._value(name, bucket["doc_count"], toggles, kind))
        return values


class KeyNames:
    """label_key -> label, remembered for the life of the process: a key is a hash of its
    label, so it stands for the same label in every generation of the index. A key not seen
    before is named through one event that carries it (a term search and a stored document,
    which names that event's other labels too)."""

    def __init__(self, key_field: str, labels: Callable[[Event], list[str]],
                 limit: int = 500_000):
        self._key_field = key_field
        self._labels = labels
        self._names: dict[int, str] = {}
        self._limit = limit

    def name_buckets(self, searcher: tantivy.Searcher, schema: tantivy.Schema,
                     buckets: list[dict]) -> list[dict]:
        """`buckets` keyed by name; a key no event carries any more is left out."""
        named = []
        for bucket in buckets:
            name = self._names.get(bucket["key"]) or self._learn(searcher, schema, bucket["key"])
            if name:
                named.append({**bucket, "key": name})
        return named

    def _learn(self, searcher: tantivy.Searcher, schema: tantivy.Schema, key: int) -> str | None:
        carrier = tantivy.Query.term_query(schema, self._key_field, key)
        hits = searcher.search(carrier, limit=1).hits
        if not hits:
            return None
        event = stored_event(searcher.doc(hits[0][1]))
        learnt = {label_key(label): label for label in self._labels(event)}
        if len(self._names) >= self._limit:
            self._names.clear()  # a crude bound: the names in use are learnt again at once
        self._names.update(learnt)
        return learnt.get(key)


class DateFacet:
    """A calendar histogram whose interval fits the span of the matching events: days up
    to two months, months up to three years, years beyond.

    A request whose date range covers three years or less asks for months at once. Any
    other counts years (a histogram of YYYYMM by hundreds) with the first and last day of
    the matches; only matches that turn out to lie within three years ask for a second,
    finer pass. Counting every month of a 25-year archive and summing them into years
    cost a typical page 0.15 ms (a few hundred buckets made and read).
    """

    name = "date"
    _DAY_SPAN = 62  # days
    _MONTH_SPAN = 36  # months apart
    _SPAN = {"date_span": {"stats": {"field": "day"}}}

    def aggregations(self, request: SearchRequest) -> dict:
        if self._within_months(request.date_from, request.date_to):
            return {**self._SPAN, **self._months()}
        return {**self._SPAN,
                "date_year": {"histogram": {"field": "month", "interval": 100,
                                            "min_doc_count": 1}}}

    def values(self, result: dict, request: SearchRequest,
               aggregate: Callable[[dict], dict]) -> list[FacetValue]:
        """`aggregate` runs more aggregations over the same query (for finer buckets)."""
        span = result["date_span"]
        if not span["count"]:
            return []
        first, last = _day(span["min"]), _day(span["max"])
        if (last - first).days <= self._DAY_SPAN:
            by_day = aggregate({"date_day": {"terms": {"field": "day",
                                                       "size": self._DAY_SPAN + 1}}})
            return self._buckets("day", _counts(by_day["date_day"]))
        if self._within_months(first, last):
            months = result if "date_month" in result else aggregate(self._months())
            return self._buckets("month", _counts(months["date_month"]))
        years = {int(b["key"]) // 100: b["doc_count"] for b in result["date_year"]["buckets"]}
        return self._buckets("year", years)

    def _months(self) -> dict:
        return {"date_month": {"terms": {"field": "month", "size": self._MONTH_SPAN + 1}}}

    def _within_months(self, first: dt.date | None, last: dt.date | None) -> bool:
        return bool(first and last) and (
            (last.year - first.year) * 12 + last.month - first.month <= self._MONTH_SPAN)

    @staticmethod
    def _buckets(interval: str, counts: dict[int, int]) -> list[FacetValue]:
        labels = {key: _label(interval, key) for key in counts}
        return [FacetValue(value=labels[key], label=labels[key], count=count, selected=False,
                           toggle="", type=interval)
                for key, count in sorted(counts.items())]


def _counts(terms: dict) -> dict[int, int]:
    return {int(b["key"]): b["doc_count"] for b in terms["buckets"]}


_DATE = DateFacet()  # never selected (dates filter by range): always in the shared pass
FACETS = (
    TermsFacet("country", label=country_name),
    TermsFacet("topic", label=lambda slug: TOPIC_LABELS.get(slug, slug)),
    EntityFacet(),
    # A suggested story at or above the threshold is indexed as a story (writer.py).
    KeyedFacet("story", "story_key",
               lambda event: [story] if (story := event.story or shown_story(event)) else []),
    TermsFacet("source"),
    _DATE,
)
_KEYED = [facet for facet in FACETS if isinstance(facet, KeyedFacet)]
SEARCHABLE_FACETS = tuple(facet.name for facet in FACETS if isinstance(facet, TermsFacet))
"""The facets whose values can be searched by prefix (GET /api/facets/{facet})."""


EXACT_UP_TO = 50_000
"""Matching events up to which facet counts are exact unless asked otherwise."""
SAMPLE_TARGET = 10_000
"""About how many events a sampled count reads: a value with 1% of the matches is then
estimated within about 10% (one standard error)."""


class FacetCounter:
    """Runs the facet aggregations of one page: exact, or over a sample of the buckets.

    `share` ends as the smallest share of matching events any aggregation read (1.0: every
    count is exact)."""

    # An extra aggregation: how many events a pass read (every event has a day).
    _MATCHED = {"_matched": {"value_count": {"field": "day"}}}

    def __init__(self, searcher: tantivy.Searcher, schema: tantivy.Schema, exact: bool):
        self.searcher = searcher
        self.schema = schema
        self.exact = exact
        self.share = 1.0

    def matches(self, query: tantivy.Query) -> int:
        """How many events `query` matches (an aggregation counts faster than a search)."""
        return int(self.searcher.aggregate(query, self._MATCHED)["_matched"]["value"])

    def aggregate(self, query: tantivy.Query, aggregations: dict, at_most: int) -> dict:
        """The aggregations over `query`, which matches at most `at_most` events, with the
        keyed facets' keys named."""
        result = self._counted(query, aggregations, at_most)
        for facet in _KEYED:
            if facet.name in result:
                counts = result[facet.name]
                counts["buckets"] = facet.names.name_buckets(self.searcher, self.schema,
                                                             counts["buckets"])
        return result

    def _counted(self, query: tantivy.Query, aggregations: dict, at_most: int) -> dict:
        buckets = self._buckets_for(at_most)
        if buckets == SAMPLE_BUCKETS:
            return self.searcher.aggregate(query, aggregations)
        sample = tantivy.Query.range_query(self.schema, "sample", tantivy.FieldType.Integer,
                                           0, buckets - 1)
        result = self.searcher.aggregate(must_all([query, sample]), {
            **_short_segment_lists(aggregations), **self._MATCHED})
        share = buckets / SAMPLE_BUCKETS
        if result.pop("_matched")["value"] / share <= EXACT_UP_TO:
            # `at_most` was loose and the query small: count it all after all.
            return self.searcher.aggregate(query, aggregations)
        self.share = min(self.share, share)
        for aggregation in result.values():
            for bucket in aggregation.get("buckets", ()):
                bucket["doc_count"] = round(bucket["doc_count"] / share)
        return result

    def _buckets_for(self, matches: int) -> int:
        if self.exact or matches <= EXACT_UP_TO:
            return SAMPLE_BUCKETS
        return max(1, math.ceil(SAMPLE_BUCKETS * SAMPLE_TARGET / matches))


def facet_counts(searcher: tantivy.Searcher, schema: tantivy.Schema, text: tantivy.Query,
                 request: SearchRequest, total: int, words: list[str] | None = None,
                 ) -> tuple[dict[str, list[FacetValue]], float]:
    """Every facet's values for a query matching `total` events with the request's filters,
    and the share of matching events counted (1.0: exact; module docstring). `words`: the
    text's words and phrases, if it is nothing else (their frequencies bound its matches)."""
    counter = FacetCounter(searcher, schema, request.exact_facets)
    full = must_all([text, *filter_queries(schema, request)])
    shared = [f for f in FACETS if not request.selected(f.name)]
    result = counter.aggregate(full, _merged(f.aggregations(request) for f in shared), total)
    counts = {f.name: f.values(result, request) for f in shared if f is not _DATE}
    # A short span needs day buckets: a second pass over the same query.
    counts[_DATE.name] = _DATE.values(
        result, request, lambda aggregations: counter.aggregate(full, aggregations, total))
    selected = [facet for facet in FACETS if facet not in shared]
    if selected:
        # Each pass below drops one selection, so it matches at most what the text and the
        # dates do: counted once, to size the samples (exact counts need no size).
        # Words that occur in few events need no count: their frequencies bound it.
        bound = total if counter.exact else words_match_at_most(searcher, words or [])
        if bound is None or bound > EXACT_UP_TO:
            bound = counter.matches(must_all(
                [text, *filter_queries(schema, _without_selections(request))]))
    for facet in selected:
        # Counted without its own selection: what would ticking another value add?
        query = must_all([text, *filter_queries(schema, request, except_facet=facet.name)])
        result = counter.aggregate(
            query, {**facet.aggregations(request), **_selected_counts(facet, request)}, bound)
        values = facet.values(result, request)
        counts[facet.name] = values + _missing_selected(facet, request, values, result)
    return counts, counter.share


def _short_segment_lists(aggregations: dict) -> dict:
    """Terms aggregations that keep Elasticsearch's default shard_size (size * 1.5 + 10) per
    index segment instead of Tantivy's 10 * size: the values kept are looked up by name, and
    these lookups were most of the entity facet's cost. The counts are estimates already."""
    shortened = {}
    for name, aggregation in aggregations.items():
        terms = aggregation.get("terms")
        if terms and "segment_size" not in terms:
            aggregation = {"terms": {**terms, "segment_size": int(terms["size"] * 1.5) + 10}}
        shortened[name] = aggregation
    return shortened


def _without_selections(request: SearchRequest) -> SearchRequest:
    return dataclasses.replace(request, countries=(), topics=(), entities=(), stories=(),
                               sources=())


def search_facet(searcher: tantivy.Searcher, schema: tantivy.Schema, text: tantivy.Query,
                 request: SearchRequest, name: str, prefix: str, size: int) -> list[FacetValue]:
    """Values of facet `name` with a word starting with `prefix` (any case), most events first."""
    facet = next((f for f in FACETS if f.name == name and isinstance(f, TermsFacet)), None)
    if facet is None:
        raise BadQuery(f"no facet {name!r} to search: use one of " + ", ".join(SEARCHABLE_FACETS))
    kind = "[a-z]+:" if isinstance(facet, EntityFacet) else ""
    include = f"(?i){kind}(.*[\\s(-])?{_regex_literal(prefix)}.*" if prefix else ".*"
    query = must_all([text, *filter_queries(schema, request, except_facet=name)])
    aggregation = {name: {"terms": {"field": facet._field, "size": size, "include": include}}}
    return facet.values(searcher.aggregate(query, aggregation), request)


class Toggles:
    """The query strings that tick or untick values of one facet in `request`. The other
    parameters are URL-encoded once per request, and ticking a value (what most of a
    page's dozens of values offer) costs one concatenation."""

    def __init__(self, request: SearchRequest, facet: str):
        params = _encoded_params(request)
        at = [key for key, _ in params].index(facet)
        self._before = [pair for _, pairs in params[:at] for pair in pairs]
        self._after = [pair for _, pairs in params[at + 1:] for pair in pairs]
        self._key = _quoted(facet)
        self.selected = request.selected(facet)
        ticked = [*self._before, *(f"{self._key}={_quoted(v)}" for v in self.selected)]
        self._head = "&".join(ticked) + "&" if ticked else ""
        self._tail = "&" + "&".join(self._after) if self._after else ""

    def __call__(self, value: str) -> str:
        if value not in self.selected:  # ticked after the values already chosen
            return f"{self._head}{self._key}={_quoted(value)}{self._tail}"
        chosen = [v for v in self.selected if v != value]
        return "&".join([*self._before, *(f"{self._key}={_quoted(v)}" for v in chosen),
                         *self._after])


@functools.lru_cache(maxsize=256)  # one request's facets ask in turn
def _encoded_params(request: SearchRequest) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((key, tuple(_pair(key, v) for v in values))
                 for key, values in request_params(request).items())


# Facet values recur from page to page (countries, topics, the common entities).
_quoted = functools.lru_cache(maxsize=65_536)(quote_plus)


def _pair(key: str, value: str) -> str:
    return f"{_quoted(key)}={_quoted(value)}"  # what urlencode writes


def request_params(request: SearchRequest) -> dict[str, list[str]]:
    """The request as query parameters, first page (a toggle starts the paging anew)."""
    params: dict[str, list[str]] = {"q": [request.text] if request.text else []}
    for facet in ("country", "topic", "entity", "story", "source"):
        params[facet] = list(request.selected(facet))
    params["from"] = [request.date_from.isoformat()] if request.date_from else []
    params["to"] = [request.date_to.isoformat()] if request.date_to else []
    params["sort"] = [request.sort] if request.sort != default_sort(request.text) else []
    params["size"] = [str(request.size)] if request.size != request.default_size else []
    params["correct"] = [] if request.correct else ["false"]
    return params


_SELECTED = "_selected"


def _selected_counts(facet: TermsFacet, request: SearchRequest) -> dict:
    """An aggregation counting a facet's selected values (by name, in its label field), for
    those that miss its top N."""
    chosen = list(request.selected(facet.name))
    return {_SELECTED: {"terms": {"field": facet.name, "include": chosen, "size": len(chosen)}}}


def _missing_selected(facet: TermsFacet, request: SearchRequest, values: list[FacetValue],
                      result: dict) -> list[FacetValue]:
    """Selected values beyond the top N still show, with their counts."""
    shown = {v.value for v in values}
    counted = {b["key"]: b["doc_count"] for b in result[_SELECTED]["buckets"]}
    toggles = Toggles(request, facet.name)
    return [facet._value(value, counted.get(value, 0), toggles)
            for value in request.selected(facet.name) if value not in shown]


def _regex_literal(text: str) -> str:
    """`text` matched literally by Tantivy's (Rust) regex, which rejects needless escapes."""
    return "".join(f"\\{char}" if char in _REGEX_META else char for char in text)


_REGEX_META = set("\\.+*?()|[]{}^$#&-~")


def _merged(aggregations) -> dict:
    merged: dict = {}
    for aggregation in aggregations:
        merged.update(aggregation)
    return merged


def _day(number: float) -> dt.date:
    number = int(number)
    return dt.date(number // 10000, number // 100 % 100, number % 100)


def _label(interval: str, key: int) -> str:
    if interval == "day":
        return _day(key).isoformat()
    if interval == "month":
        return f"{key // 100}-{key % 100:02d}"
    return str(key)
