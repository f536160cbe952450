"""One page of hits in the requested order: relevance (optionally blended with recency) or
date, by page number or by cursor.

Date order uses the `rank` field (day, then a hash of the id): unique, so a cursor is an
exact search_after that stays right while events are added or removed. Relevance cursors
remember the last (score, rank) and the position, and look for the continuation in a
window around that position: exact while the index does not change, and without repeats
when it does.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import tantivy

from service.search.query import Cursor, SearchRequest, must_all, rank_after

RECENCY_HALF_LIFE_DAYS = 365.0
RECENCY_WINDOW = 500  # relevance hits re-ranked by recency; deeper pages keep relevance order
_DAY_SHIFT = 2**32


@dataclass
class Page:
    total: int
    hits: list[tuple[float, tantivy.DocAddress]]
    next_cursor: str | None


def fetch_page(searcher: tantivy.Searcher, schema: tantivy.Schema, query: tantivy.Query,
               request: SearchRequest) -> Page:
    if request.sort != "relevance":
        return _by_date(searcher, schema, query, request)
    if request.recency > 0:
        return _by_blend(searcher, query, request)
    return _by_relevance(searcher, query, request)


def _by_date(searcher, schema, query, request: SearchRequest) -> Page:
    order = tantivy.Order.Desc if request.newest_first else tantivy.Order.Asc
    total = searcher.search(query, limit=1).count
    offset = (request.page - 1) * request.size
    if request.cursor:
        query, offset = must_all([query, rank_after(schema, request.cursor, request.newest_first)]), 0
    result = searcher.search(query, limit=request.size, offset=offset, order_by_field="rank",
                             order=order, count=False)
    hits = [(float(rank), address) for rank, address in result.hits]
    cursor = None
    if len(hits) == request.size:
        cursor = Cursor(request.sort, int(hits[-1][0])).encode()
    return Page(total, hits, cursor)


def _by_relevance(searcher, query, request: SearchRequest) -> Page:
    if request.cursor is None:
        offset = (request.page - 1) * request.size
        result = searcher.search(query, limit=request.size, offset=offset)
        return Page(result.count, result.hits,
                    _relevance_cursor(searcher, request, result.hits, offset))
    # Look around the remembered position for the hits that come after (score, rank).
    position = request.cursor.position
    start = max(0, position - request.size)
    result = searcher.search(query, limit=3 * request.size + (position - start), offset=start)
    ranks = _ranks(searcher, result.hits)
    after = [(score, address) for (score, address), rank in zip(result.hits, ranks)
             if (score, -rank) < (request.cursor.score, -request.cursor.rank)]
    hits = after[:request.size]
    return Page(result.count, hits, _relevance_cursor(searcher, request, hits, position))


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


def _relevance_cursor(searcher, request, hits, position: int) -> str | None:
    if len(hits) < request.size:
        return None
    last_score, last_address = hits[-1]
    (rank,) = _ranks(searcher, [hits[-1]])
    return Cursor("relevance", rank, last_score, position + len(hits)).encode()


def _ranks(searcher, hits) -> list[int]:
    return [int(v) for v in searcher.fast_field_values("rank", [a for _, a in hits])]


def _recency_factor(age_days: int, weight: float) -> float:
    return 1 - weight + weight * math.pow(0.5, max(age_days, 0) / RECENCY_HALF_LIFE_DAYS)
