"""Read side of the index: search with facets, fetch one event, related events.

One `EventIndex` is opened per process at start-up. Every call takes a fresh searcher, so
a commit to the live generation becomes visible without a restart, and `refresh()` swaps
in a newly published generation: a call in flight finishes on the generation it started
with (its files stay readable even once pruned), the next call uses the new one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import tantivy

from indexer.index.storage import live_generation, open_generation, open_index
from service.models import (
    EventDetail,
    Facets,
    RelatedHit,
    RelatedLinkOut,
    SearchResponse,
    VersionOut,
)
from service.search.facets import FACETS, facet_aggregations
from service.search.query import SearchRequest, search_query, text_query
from service.search.related import context_tags, related_query
from service.search.render import hit, hit_fields, stored_event

_SNIPPET_MAX_CHARS = 400  # headlines run to three sentences: show them whole


class EventNotFound(LookupError):
    pass


class EventIndex:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._swap_lock = threading.Lock()
        self.generation = live_generation(self.data_dir)
        self.index = open_index(self.data_dir)
        self.schema = self.index.schema

    @classmethod
    def open(cls, data_dir: Path) -> EventIndex:
        return cls(data_dir)

    def refresh(self) -> bool:
        """Switch to the live generation if another was published; True if it changed."""
        with self._swap_lock:
            name = live_generation(self.data_dir)
            if name is None or name == self.generation:
                return False
            index = open_generation(self.data_dir, name)
            # One assignment each: a request reads `self.index` once and keeps that index.
            self.index, self.generation = index, name
            return True

    def count(self) -> int:
        return self.index.searcher().num_docs

    def search(self, request: SearchRequest) -> SearchResponse:
        started = time.perf_counter()
        index = self.index  # the generation this request runs on, even if one is swapped in
        searcher = index.searcher()
        query = search_query(index, request)
        result = searcher.search(query, **self._paging(request))
        snippets = self._snippets(index, searcher, request.text)
        hits = []
        for _score, address in result.hits:
            doc = searcher.doc(address)
            snippet = snippets.snippet_from_doc(doc).to_html() if snippets else None
            hits.append(hit(stored_event(doc), snippet or None))
        aggregated = searcher.aggregate(query, facet_aggregations())
        facets = Facets(**{f.name: f.values(aggregated, request.selected(f.name)) for f in FACETS})
        return SearchResponse(
            total=result.count,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            page=request.page,
            size=request.size,
            hits=hits,
            facets=facets,
        )

    def event(self, event_id: str) -> EventDetail:
        searcher = self.index.searcher()
        event = stored_event(searcher.doc(self._address(searcher, event_id)))
        return EventDetail(
            **hit_fields(event),
            versions=[VersionOut(v.slug, v.headline, v.timestamp, v.current) for v in event.versions],
            related_links=[
                RelatedLinkOut(
                    id=link.slug,
                    headline=link.headline,
                    date=link.date,
                    context=list(link.context),
                    indexed=self._find(searcher, link.slug) is not None,
                )
                for link in event.related
            ],
            source_format=event.source_format,
        )

    def related(self, event_id: str, size: int) -> list[RelatedHit]:
        searcher = self.index.searcher()
        event = stored_event(searcher.doc(self._address(searcher, event_id)))
        result = searcher.search(related_query(self.schema, event), limit=size)
        hits = []
        for score, address in result.hits:
            other = stored_event(searcher.doc(address))
            hits.append(RelatedHit(**hit_fields(other), score=round(score, 4),
                                   context=context_tags(event, other)))
        return hits

    def _paging(self, request: SearchRequest) -> dict:
        paging = {"limit": request.size, "offset": (request.page - 1) * request.size}
        if request.sort != "relevance":
            order = tantivy.Order.Asc if request.sort == "date:asc" else tantivy.Order.Desc
            paging.update(order_by_field="date", order=order)
        return paging

    def _snippets(self, index: tantivy.Index, searcher: tantivy.Searcher, text: str):
        if not text.strip():
            return None
        generator = tantivy.SnippetGenerator.create(
            searcher, text_query(index, text), self.schema, "headline"
        )
        generator.set_max_num_chars(_SNIPPET_MAX_CHARS)
        return generator

    def _address(self, searcher: tantivy.Searcher, event_id: str) -> tantivy.DocAddress:
        address = self._find(searcher, event_id)
        if address is None:
            raise EventNotFound(f"no event with id {event_id!r}")
        return address

    def _find(self, searcher: tantivy.Searcher, slug: str) -> tantivy.DocAddress | None:
        # An earlier version's slug is an alias of the current event.
        for field in ("id", "alias"):
            hits = searcher.search(tantivy.Query.term_query(self.schema, field, slug), limit=1).hits
            if hits:
                return hits[0][1]
        return None
