"""Turn a search request (search-box text plus filters) into one Tantivy query."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import tantivy

from indexer.enrich.countries import normalise_country
from indexer.index.schema import FIELD_BOOSTS, FULL_TEXT_FIELDS
from indexer.record import TOPICS

SORTS = ("relevance", "date", "date:desc", "date:asc")
"""`date` and `date:desc` list the newest events first, `date:asc` the oldest."""


class BadQuery(ValueError):
    """The request cannot be searched; the message is shown to the client as is."""


@dataclass(frozen=True)
class SearchRequest:
    text: str = ""
    countries: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    stories: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    sort: str = "relevance"
    page: int = 1
    size: int = 10

    def selected(self, facet: str) -> tuple[str, ...]:
        return {
            "country": self.countries,
            "topic": self.topics,
            "entity": self.entities,
            "story": self.stories,
        }.get(facet, ())


def search_request(
    q: str = "",
    country: list[str] | None = None,
    topic: list[str] | None = None,
    entity: list[str] | None = None,
    story: list[str] | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    sort: str = "relevance",
    page: int = 1,
    size: int = 10,
    max_result_window: int = 10_000,
) -> SearchRequest:
    """Validate raw parameters (as the API and the CLI get them) into a SearchRequest."""
    if date_from and date_to and date_from > date_to:
        raise BadQuery("`from` is after `to`")
    if sort not in SORTS:
        raise BadQuery(f"unknown sort {sort!r}: expected one of {', '.join(SORTS)}")
    if page * size > max_result_window:
        raise BadQuery(f"page * size may not exceed {max_result_window}: narrow the search")
    return SearchRequest(
        text=q,
        countries=tuple(_country_code(value) for value in country or ()),
        topics=tuple(_topic(value) for value in topic or ()),
        entities=tuple(entity or ()),
        stories=tuple(story or ()),
        date_from=date_from,
        date_to=date_to,
        sort=sort,
        page=page,
        size=size,
    )


def _country_code(value: str) -> str:
    code = normalise_country(value)
    if code is None:
        raise BadQuery(f"unknown country {value!r}: give an ISO 3166-1 alpha-2 code or a name")
    return code


def _topic(value: str) -> str:
    if value not in TOPICS:
        raise BadQuery(f"unknown topic {value!r}: expected one of {', '.join(TOPICS)}")
    return value


def text_query(index: tantivy.Index, text: str) -> tantivy.Query:
    """Search-box syntax: all words required, "phrases", AND/OR, -exclusion, field:value."""
    if not text.strip():
        return tantivy.Query.all_query()
    try:
        return index.parse_query(
            text,
            default_field_names=list(FULL_TEXT_FIELDS),
            field_boosts=FIELD_BOOSTS,
            conjunction_by_default=True,
        )
    except ValueError as error:
        raise BadQuery(f"cannot parse query {text!r}: {error}") from None


def filter_queries(schema: tantivy.Schema, request: SearchRequest) -> list[tantivy.Query]:
    """One clause per filtered facet; several values of one facet match any of them."""
    clauses = [
        tantivy.Query.term_set_query(schema, facet, list(values))
        for facet in ("country", "topic", "entity", "story")
        if (values := request.selected(facet))
    ]
    if request.date_from or request.date_to:
        clauses.append(_date_range(schema, request.date_from, request.date_to))
    return clauses


def search_query(index: tantivy.Index, request: SearchRequest) -> tantivy.Query:
    return must_all([text_query(index, request.text), *filter_queries(index.schema, request)])


def must_all(queries: list[tantivy.Query]) -> tantivy.Query:
    if len(queries) == 1:
        return queries[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])


def _date_range(schema, start: dt.date | None, end: dt.date | None) -> tantivy.Query:
    return tantivy.Query.range_query(
        schema,
        "date",
        tantivy.FieldType.Date,
        _midnight(start or dt.date(1, 1, 1)),
        _midnight(end or dt.date(9999, 12, 31)),
    )


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
