"""One page of hits in the requested order: relevance (optionally blended with recency) or
date, by page number or by cursor.

Date order uses the `rank` field (day, then a hash of the id): unique, so a cursor is an
exact search_after that stays right while events are added or removed. Relevance order is
score, then `rank` among equal scores (short headlines tie often): Tantivy breaks ties by
its own document order instead, so each window of relevance hits is read on past its last
score and sorted (`_relevance_window`). Relevance cursors remember the last (score, rank)
and the position, and look for the continuation in a window around that position: exact
while the index does not change, and without repeats when it does. Every page after the
first also gets a `prev_cursor`, a cursor that looks back from its first hit: "Newer" and
"Older" links both stay cursors, however deep.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass

import tantivy

from service.search.query import BadQuery, Cursor, SearchRequest, must_all, rank_after

RECENCY_HALF_LIFE_DAYS = 365.0
RECENCY_WINDOW = 500  # relevance hits re-ranked by recency; deeper pages keep relevance order
_DAY_SHIFT = 2**32


@dataclass
class Page:
    total: int
    hits: list[tuple[float, tantivy.DocAddress]]
    next_cursor: str | None
    prev_cursor: str | None = None


def fetch_page(searcher: tantivy.Searcher, schema: tantivy.Schema, query: tantivy.Query,
               request: SearchRequest) -> Page:
    if request.sort != "relevance":
        return _by_date(searcher, schema, query, request)
    if request.recency > 0:
        return _by_blend(searcher, query, request)
    return _by_relevance(searcher, query, request)


def _by_date(searcher, schema, query, request: SearchRequest) -> Page:
    total = searcher.search(query, limit=1).count
    cursor, size = request.cursor, request.size
    if cursor is None:
        offset = (request.page - 1) * size
        hits = _in_rank_order(searcher, query, request.newest_first, size, offset)
        earlier = offset > 0
    elif not cursor.before:
        hits = _in_rank_order(searcher, must_all(
            [query, rank_after(schema, cursor, request.newest_first)]), request.newest_first, size)
        earlier = True  # the cursor's own event, at least
    else:
        # The page before the cursor: walk back from it and turn the hits round.
        hits = _in_rank_order(searcher, must_all(
            [query, rank_after(schema, cursor, request.newest_first)]),
            not request.newest_first, size + 1)
        earlier = len(hits) > size
        hits = hits[:size][::-1]
        if not hits:  # nothing before any more: continue from the cursor's event itself
            return Page(total, [], Cursor(request.sort, _next_to(cursor.rank, request)).encode())
    follows = len(hits) == size or bool(cursor and cursor.before)
    return Page(
        total, hits,
        next_cursor=Cursor(request.sort, int(hits[-1][0])).encode() if hits and follows else None,
        prev_cursor=Cursor(request.sort, int(hits[0][0]), before=True).encode()
        if hits and earlier else None,
    )


def in_date_order(searcher: tantivy.Searcher, schema: tantivy.Schema, query: tantivy.Query,
                  newest_first: bool, batch: int = 500) -> Iterator[tantivy.DocAddress]:
    """Every hit of `query` in date order, `batch` at a time (search_after on `rank`)."""
    sort = "-date" if newest_first else "date"
    remaining = query
    while True:
        hits = _in_rank_order(searcher, remaining, newest_first, batch)
        yield from (address for _, address in hits)
        if len(hits) < batch:
            return
        after = Cursor(sort, int(hits[-1][0]))
        remaining = must_all([query, rank_after(schema, after, newest_first)])


def _in_rank_order(searcher, query, newest_first: bool, limit: int, offset: int = 0):
    order = tantivy.Order.Desc if newest_first else tantivy.Order.Asc
    result = searcher.search(query, limit=limit, offset=offset, order_by_field="rank",
                             order=order, count=False)
    return [(float(rank), address) for rank, address in result.hits]


def _next_to(rank: int, request: SearchRequest) -> int:
    """A rank just before `rank` in the request's order: an after-cursor that keeps it."""
    return rank + 1 if request.newest_first else rank - 1


def _by_relevance(searcher, query, request: SearchRequest) -> Page:
    cursor, size = request.cursor, request.size
    if cursor is None:
        offset = (request.page - 1) * size
        total, window = _relevance_window(searcher, query, offset, size)
        return _relevance_page(searcher, request, total, [hit for hit, _ in window], offset)
    position, mark = cursor.position, (cursor.score, -cursor.rank)
    if position > searcher.num_docs:
        # No cursor of ours points past the last event; Tantivy would try to hold this
        # many hits at once (a forged position of 2**62 panics it: capacity overflow).
        raise BadQuery("invalid cursor: pass the `next_cursor` of a previous response")
    if cursor.before:
        # Look back from the remembered position for the hits ranked before (score, rank).
        start = max(0, position - 2 * size)
        total, window = _relevance_window(searcher, query, start, (position - start) + 2 * size)
        earlier = [hit for hit, key in window if key > mark]
        hits = earlier[-size:]
        first = max(0, position - len(hits))
        more = len(earlier) > len(hits) or start > 0
        return _relevance_page(searcher, request, total, hits, first, more)
    # Look around the remembered position for the hits that come after (score, rank).
    start = max(0, position - size)
    total, window = _relevance_window(searcher, query, start, 3 * size + (position - start))
    after = [hit for hit, key in window if key < mark]
    return _relevance_page(searcher, request, total, after[:size], position, True)


def _relevance_window(searcher, query, offset: int, limit: int):
    """(total, hits `offset` to `offset + limit` in relevance order, each with its key).

    Tantivy's top hits end in the middle of a run of equal scores wherever its document
    order puts the cut, not where `rank` does: read on until the score drops (or the hits
    run out), so the run is whole, then sort by key and cut there.
    """
    wanted = offset + limit
    fetch = wanted + 1  # one more: does a run of equal scores go on past the cut?
    while True:
        result = searcher.search(query, limit=fetch)
        hits = result.hits
        if len(hits) <= wanted or hits[-1][0] < hits[wanted - 1][0] or len(hits) < fetch:
            break
        fetch *= 2
    keyed = sorted(zip(hits, _keys(searcher, hits)), key=lambda pair: pair[1], reverse=True)
    return result.count, keyed[offset:wanted]


def _relevance_page(searcher, request: SearchRequest, total: int, hits, first: int,
                    earlier: bool | None = None) -> Page:
    """A page of relevance hits whose first is hit number `first` (0-based) of all."""
    next_cursor = prev_cursor = None
    if hits and len(hits) == request.size:
        (rank,) = _ranks(searcher, hits[-1:])
        next_cursor = Cursor("relevance", rank, hits[-1][0], first + len(hits)).encode()
    if hits and (first > 0 if earlier is None else earlier):
        (rank,) = _ranks(searcher, hits[:1])
        prev_cursor = Cursor("relevance", rank, hits[0][0], first, before=True).encode()
    return Page(total, hits, next_cursor, prev_cursor)


def _keys(searcher, hits) -> list[tuple[float, int]]:
    """(score, -rank) of each hit: the larger key is ranked first."""
    return [(score, -rank) for (score, _), rank in zip(hits, _ranks(searcher, hits))]


def _by_blend(searcher, query, request: SearchRequest) -> Page:
    """Relevance times a recency factor in [1 - w, 1], w = `recency`, halving every year."""
    offset = (request.page - 1) * request.size
    window = max(RECENCY_WINDOW, offset + request.size)
    result = searcher.search(query, limit=window)
    today = (dt.date.today() - dt.date(1970, 1, 1)).days
    ranks = _ranks(searcher, result.hits)
    blended = sorted(
        ((score * _recency_factor(today - rank // _DAY_SHIFT, request.recency), address)
         for (score, address), rank in zip(result.hits, ranks)),
        key=lambda pair: -pair[0],
    )
    return Page(result.count, blended[offset:offset + request.size], None)


def _ranks(searcher, hits) -> list[int]:
    return [int(v) for v in searcher.fast_field_values("rank", [a for _, a in hits])]


def _recency_factor(age_days: int, weight: float) -> float:
    return 1 - weight + weight * math.pow(0.5, max(age_days, 0) / RECENCY_HALF_LIFE_DAYS)
