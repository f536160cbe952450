"""Read side of the index: search with facets, fetch one event, related events.

One `EventIndex` is opened per process at start-up. Every call takes a fresh searcher, so
a commit to the live generation becomes visible without a restart, and `refresh()` swaps
in a newly published generation: a call in flight finishes on the generation it started
with (its files stay readable even once pruned), the next call uses the new one.

A generation is served only once it has passed its checks (`storage.check_generation`): a
damaged or missing live generation at start-up makes way for the newest older good one, a
damaged newly published one is skipped; `fallback` says so, and the log warns.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import tantivy

from indexer.index.storage import (
    IndexUnavailable,
    check_generation,
    generations_dir,
    live_generation,
    open_serving,
)
from indexer.record import Event
from service.models import (
    EventDetail,
    Facets,
    FacetSearchResponse,
    Hit,
    RelatedHit,
    RelatedLinkOut,
    RelatedResponse,
    SearchResponse,
    SuggestResponse,
    VersionOut,
)
from service.search.facets import facet_counts, search_facet
from service.search.paging import Page, fetch_page, in_date_order
from service.search.query import (
    ParsedText,
    SearchRequest,
    corrected_text,
    filter_queries,
    must_all,
    parse_text,
    spelling_correction,
)
from service.search.related import (
    CANDIDATES,
    Asked,
    Candidate,
    candidate_queries,
    headline_query,
    rank,
    score_parts,
)
from service.search.render import hit, hit_fields, stored_event
from service.search.result_cache import ResultCache, index_state
from service.search.suggest import LabelDictionary, suggest

_SNIPPET_MAX_CHARS = 400  # headlines run to three sentences: show them whole
logger = logging.getLogger("eventsearch.index")


class EventNotFound(LookupError):
    pass


@functools.lru_cache(maxsize=64)  # asked on every search: Path building is not free
def _generation_dir(data_dir: Path, generation: str) -> Path:
    return generations_dir(data_dir) / generation


class EventIndex:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._swap_lock = threading.Lock()
        # Raises IndexUnavailable (what to run, or why no generation is good). Name first,
        # then that generation: a swap in between is caught by the next refresh.
        name, index, fallback = open_serving(self.data_dir)
        # None while the live generation is served; else which generation is served
        # instead, which was skipped and why (shown by /ready).
        self.fallback: str | None = fallback
        if self.fallback:
            logger.warning("index: %s", self.fallback)
        # A published generation that failed its checks: refresh tries it no more. (A live
        # one skipped here is checked once more by the first refresh.)
        self._skipped: str | None = None
        self._live: tuple[str | None, tantivy.Index] = (name, index)
        self.schema = index.schema
        self._dictionary: tuple[tantivy.Index, LabelDictionary] | None = None
        self._facets = ResultCache()

    @classmethod
    def open(cls, data_dir: Path) -> EventIndex:
        return cls(data_dir)

    def refresh(self) -> bool:
        """Switch to the live generation if another was published and passes its checks;
        True if it changed. A damaged one is skipped (once, with a warning) and the current
        generation stays."""
        with self._swap_lock:
            name = live_generation(self.data_dir)
            if name == self.generation and self._skipped:  # the skipped one was replaced
                self._skipped = self.fallback = None
            if name is None or name in (self.generation, self._skipped):
                return False
            try:
                index = check_generation(self.data_dir, name)
            except IndexUnavailable as error:
                self._skipped = name
                self.fallback = (f"serving generation {self.generation}; the published "
                                 f"generation {name} was skipped: {error}")
                logger.warning("index: %s", self.fallback)
                return False
            # One attribute: a request reads name and index together and keeps that index.
            self._live = (name, index)
            self._skipped = self.fallback = None
            return True

    @property
    def index(self) -> tantivy.Index:
        return self._live[1]

    @property
    def generation(self) -> str | None:
        return self._live[0]

    def count(self) -> int:
        return self.index.searcher().num_docs

    def search(self, request: SearchRequest) -> SearchResponse:
        started = time.perf_counter()
        # The generation this request runs on, even if one is swapped in meanwhile.
        generation, index = self._live
        searcher = index.searcher()
        parsed = parse_text(index, request.text, request.strict)
        text, words, corrected = parsed.query, parsed.required_words, None
        page = fetch_page(searcher, self.schema, self._filtered(text, request), request)
        if page.total == 0 and (fallback := self._corrected(index, searcher, parsed, request)):
            reparsed, corrected = fallback
            text, words = reparsed.query, reparsed.required_words
            page = fetch_page(searcher, self.schema, self._filtered(text, request), request)
        hits = self._hits(searcher, text, page, snippets=bool(request.text.strip()))
        state = self._state(generation)
        key = state and (state, repr(text), replace(request, page=1, cursor=None, recency=0.0))
        facets, facet_sample = self._facets.get_or_compute(
            key, lambda: facet_counts(searcher, self.schema, text, request, page.total, words))
        return SearchResponse(
            total=page.total,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            page=request.page,
            size=request.size,
            hits=hits,
            facets=Facets(**facets),
            facet_sample=facet_sample,
            next_cursor=page.next_cursor,
            prev_cursor=page.prev_cursor,
            corrected_query=corrected,
            warnings=parsed.warnings,
        )

    def matching_events(self, request: SearchRequest) -> Iterator[Event]:
        """Every event matching `request` (its text and filters; spelling corrected as a
        search would be), newest first unless it sorts by `date`, read in batches from
        one searcher: a consistent snapshot in constant memory, however many match."""
        index = self.index
        searcher = index.searcher()
        parsed = parse_text(index, request.text, request.strict)
        query = self._filtered(parsed.query, request)
        if searcher.search(query, limit=1).count == 0 and (
                fallback := self._corrected(index, searcher, parsed, request)):
            query = self._filtered(fallback[0].query, request)
        newest_first = request.sort not in ("date", "date:asc")  # relevance: newest first
        for address in in_date_order(searcher, self.schema, query, newest_first):
            yield stored_event(searcher.doc(address))

    def nearest_days(self, day: dt.date) -> tuple[dt.date | None, dt.date | None]:
        """The closest day before `day` and the closest after it that have events."""
        searcher = self.index.searcher()
        before = filter_queries(self.schema, SearchRequest(date_to=day - dt.timedelta(days=1)))
        after = filter_queries(self.schema, SearchRequest(date_from=day + dt.timedelta(days=1)))
        return (self._first_day(searcher, before[0], newest_first=True),
                self._first_day(searcher, after[0], newest_first=False))

    def _first_day(self, searcher: tantivy.Searcher, query: tantivy.Query,
                   newest_first: bool) -> dt.date | None:
        for address in in_date_order(searcher, self.schema, query, newest_first, batch=1):
            return stored_event(searcher.doc(address)).date
        return None

    def _corrected(self, index: tantivy.Index, searcher: tantivy.Searcher, parsed: ParsedText,
                   request: SearchRequest) -> tuple[ParsedText, str] | None:
        """The text with each word that matches nothing replaced by the closest indexed
        word, parsed, and as text; None if the request or the words allow no correction."""
        if not (request.correct and parsed.plain_words):
            return None
        corrections = spelling_correction(searcher, parsed.plain_words)
        if not corrections:
            return None
        corrected = corrected_text(request.text, corrections)
        return parse_text(index, corrected), corrected

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

    def record(self, event_id: str) -> Event:
        """The stored event under `event_id` or an earlier version's slug of it."""
        searcher = self.index.searcher()
        return self._stored(searcher, event_id)

    def event(self, event_id: str) -> EventDetail:
        searcher = self.index.searcher()
        event = self._stored(searcher, event_id)
        return EventDetail(
            **hit_fields(event),
            versions=[VersionOut(v.slug, v.headline, v.timestamp, v.current) for v in event.versions],
            related_links=self._source_links(searcher, event),
            source_format=event.source_format,
        )

    def related(self, event_id: str, size: int,
                filters: SearchRequest | None = None) -> RelatedResponse:
        searcher = self.index.searcher()
        event = self._stored(searcher, event_id)
        return RelatedResponse(
            id=event.id,
            hits=self.related_to(event, size, filters, searcher),
            source_links=self._source_links(searcher, event),
        )

    def related_to(self, event: Event, size: int, filters: SearchRequest | None = None,
                   searcher: tantivy.Searcher | None = None) -> list[RelatedHit]:
        """Events related to `event` (stored or a draft), best first; see related.py."""
        return rank(event, self.related_candidates(event, filters, searcher), size)

    def related_candidates(self, event: Event, filters: SearchRequest | None = None,
                           searcher: tantivy.Searcher | None = None) -> list[Candidate]:
        """Every candidate for `related_to`, with all its parts but meaning."""
        searcher = searcher or self.index.searcher()
        restrict = filter_queries(self.schema, filters or SearchRequest())
        text_scores: dict[tuple[int, int], float] = {}
        addresses: dict[tuple[int, int], tantivy.DocAddress] = {}
        for number, query in enumerate(candidate_queries(self.schema, event)):
            for score, address in searcher.search(must_all([query, *restrict]),
                                                  limit=CANDIDATES).hits:
                key = (address.segment_ord, address.doc)
                addresses[key] = address
                if number == 0:
                    text_scores[key] = score
        best_text = max(text_scores.values(), default=0.0)
        asked = Asked.about(searcher, event)
        candidates = []
        for key, address in addresses.items():
            other = stored_event(searcher.doc(address))
            parts = score_parts(event, other, text_scores.get(key, 0.0), best_text, asked)
            candidates.append(Candidate(other, parts))
        return candidates

    def plain_more_like_this(self, event_id: str, size: int) -> list[str]:
        """Ids ranked by Tantivy more-like-this alone: the baseline of the related blend."""
        searcher = self.index.searcher()
        event = self._stored(searcher, event_id)
        hits = searcher.search(headline_query(self.schema, event), limit=size).hits
        return [stored_event(searcher.doc(address)).id for _, address in hits]

    def suggest(self, text: str, size: int) -> SuggestResponse:
        started = time.perf_counter()
        index = self.index
        searcher = index.searcher()
        suggestions = suggest(self._labels(index, searcher), searcher, text, size)
        took_ms = round((time.perf_counter() - started) * 1000, 3)
        return SuggestResponse(query=text, took_ms=took_ms, suggestions=suggestions)

    def facet_values(self, facet: str, prefix: str, request: SearchRequest,
                     size: int) -> FacetSearchResponse:
        """Values of one facet containing a word that starts with `prefix`, counted over
        the events matching `request` (its own facet's selection left out)."""
        index = self.index
        searcher = index.searcher()
        text = parse_text(index, request.text, request.strict).query
        return FacetSearchResponse(facet=facet, prefix=prefix,
                                   values=search_facet(searcher, self.schema, text, request,
                                                       facet, prefix, size))

    def _state(self, generation: str | None) -> tuple | None:
        return index_state(_generation_dir(self.data_dir, generation)) if generation else None

    def _labels(self, index: tantivy.Index, searcher: tantivy.Searcher) -> LabelDictionary:
        """The label dictionary of `index`'s generation (one generation at a time)."""
        with self._swap_lock:
            cached = self._dictionary
            if cached is None or cached[0] is not index or cached[1].stale(searcher):
                cached = self._dictionary = (index, LabelDictionary(searcher))
            return cached[1]

    def _source_links(self, searcher: tantivy.Searcher, event: Event) -> list[RelatedLinkOut]:
        return [
            RelatedLinkOut(id=link.slug, headline=link.headline, date=link.date,
                           context=list(link.context),
                           indexed=self._find(searcher, link.slug) is not None)
            for link in event.related
        ]

    def _stored(self, searcher: tantivy.Searcher, event_id: str) -> Event:
        return stored_event(searcher.doc(self._address(searcher, event_id)))

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

