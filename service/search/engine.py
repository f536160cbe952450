"""Read side of the index: search with facets, fetch one event, related events.

One `EventIndex` is opened per process at start-up. Every call takes a fresh searcher, so
a commit to the live generation becomes visible without a restart, and `refresh()` swaps
in a newly published generation: a call in flight finishes on the generation it started
with (its files stay readable even once pruned), the next call uses the new one.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import tantivy

from indexer.index.storage import live_generation, open_generation, open_index
from service.models import (
    EventDetail,
    Facets,
    Hit,
    RelatedHit,
    RelatedLinkOut,
    SearchResponse,
    VersionOut,
)
from service.search.facets import facet_counts
from service.search.paging import Page, fetch_page
from service.search.query import (
    SearchRequest,
    correction,
    filter_queries,
    fuzzy_words,
    must_all,
    parse_text,
)
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
        parsed = parse_text(index, request.text, request.strict)
        text, corrected = parsed.query, None
        page = fetch_page(searcher, self.schema, self._filtered(text, request), request)
        if page.total == 0 and parsed.plain_words:
            fuzzy = fuzzy_words(index, searcher, parsed.plain_words)
            if fuzzy is not None:
                text = fuzzy[0]
                page = fetch_page(searcher, self.schema, self._filtered(text, request), request)
                corrected = _corrected(searcher, request.text, fuzzy[1], page)
        hits = self._hits(searcher, text, page, snippets=bool(request.text.strip()))
        facets = Facets(**facet_counts(searcher, self.schema, text, request))
        return SearchResponse(
            total=page.total,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            page=request.page,
            size=request.size,
            hits=hits,
            facets=facets,
            next_cursor=page.next_cursor,
            corrected_query=corrected,
            warnings=parsed.warnings,
        )

    def _filtered(self, text: tantivy.Query, request: SearchRequest) -> tantivy.Query:
        return must_all([text, *filter_queries(self.schema, request)])

    def _hits(self, searcher: tantivy.Searcher, text: tantivy.Query, page: Page,
              snippets: bool) -> list[Hit]:
        generator = self._snippet_generator(searcher, text) if snippets else None
        hits = []
        for _score, address in page.hits:
            doc = searcher.doc(address)
            snippet = generator.snippet_from_doc(doc).to_html() if generator else None
            hits.append(hit(stored_event(doc), snippet or None))
        return hits

    def _snippet_generator(self, searcher: tantivy.Searcher, text: tantivy.Query):
        generator = tantivy.SnippetGenerator.create(searcher, text, self.schema, "headline")
        generator.set_max_num_chars(_SNIPPET_MAX_CHARS)
        return generator

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


def _corrected(searcher: tantivy.Searcher, text: str, fuzzed: list[str], page: Page) -> str | None:
    """The query with each fuzzily matched word replaced by its match in the best hit."""
    if not page.hits:
        return None
    headline = stored_event(searcher.doc(page.hits[0][1])).headline
    corrected = text
    for word in fuzzed:
        corrected = re.sub(rf"\b{re.escape(word)}\b", correction(word, headline), corrected)
    return corrected
