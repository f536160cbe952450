"""A page's query string as a SearchRequest: the API's parameters, read as a browser sends
them.

A GET form sends every field, filled or not (`from=&to=`): empty values mean "not given".
Values are checked by `search_request`, as the API's are; what cannot be read is a
BadQuery, which the pages show as a 400 with the reason.
"""

from __future__ import annotations

import re

from litestar.datastructures import MultiDict

from service.search.query import BadQuery, SearchRequest, search_request

PAGE_SIZE = 20
"""Events per results page: a page of the search page is bigger than the API's default."""

_NUMBER = re.compile(r"^\d{1,9}$", re.ASCII)


def page_request(query: MultiDict, max_result_window: int = 10_000) -> SearchRequest:
    def given(name: str) -> list[str]:
        return [value for value in query.getall(name, []) if value.strip()]

    def last(name: str) -> str | None:
        values = given(name)
        return values[-1] if values else None

    return search_request(
        q=last("q") or "",
        country=given("country"),
        topic=given("topic"),
        entity=given("entity"),
        story=given("story"),
        source=given("source"),
        date_from=last("from"),
        date_to=last("to"),
        sort=last("sort"),
        page=_number(last("page"), "page", 1),
        size=_number(last("size"), "size", PAGE_SIZE),
        cursor=last("cursor"),
        facet_size=given("facet_size"),
        correct=last("correct") != "false",
        max_result_window=max_result_window,
        default_size=PAGE_SIZE,
    )


def _number(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    if not _NUMBER.match(value.strip()):
        raise BadQuery(f"`{name}` is not a number: {value!r}")
    return int(value)
