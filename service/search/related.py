"""Related events: Tantivy more-like-this on the headline, blended with shared labels.

The query is one disjunction: more-like-this over the headline's distinctive words, plus
a boosted term per entity, country and story of the event. A result's `context` lists the
tags it shares with the event (entity names, country names, the story), alphabetically,
as the source pages' "Context:" lines do.
"""

from __future__ import annotations

import tantivy
from spacy.lang.en.stop_words import STOP_WORDS

from indexer.enrich.countries import country_name
from indexer.record import Event

_STOP_WORDS = sorted(STOP_WORDS)
# Sharing a story says more than sharing an entity, which says more than a country.
BOOSTS = {"story": 3.0, "entity": 2.0, "country": 1.0}


def related_query(schema: tantivy.Schema, event: Event) -> tantivy.Query:
    clauses = [
        (tantivy.Occur.Should, _headline_likeness(schema, event.headline)),
        *((tantivy.Occur.Should, q) for q in _shared_label_queries(schema, event)),
    ]
    own = tantivy.Query.term_query(schema, "id", event.id)
    return tantivy.Query.boolean_query([*clauses, (tantivy.Occur.MustNot, own)])


def context_tags(event: Event, other: Event) -> list[str]:
    return sorted(_tags(event) & _tags(other), key=str.casefold)


def _headline_likeness(schema: tantivy.Schema, headline: str) -> tantivy.Query:
    # Defaults (min doc frequency 5, min term frequency 2) find nothing in short headlines.
    return tantivy.Query.more_like_this_document_fields_query(
        schema,
        {"headline": headline},
        min_doc_frequency=1,
        min_term_frequency=1,
        max_query_terms=20,
        min_word_length=3,
        stop_words=_STOP_WORDS,
    )


def _shared_label_queries(schema: tantivy.Schema, event: Event) -> list[tantivy.Query]:
    labels = [
        ("story", [event.story] if event.story else []),
        ("entity", [e.name for e in event.entities]),
        ("country", list(event.countries)),
    ]
    return [
        tantivy.Query.boost_query(tantivy.Query.term_query(schema, field, value), BOOSTS[field])
        for field, values in labels
        for value in dict.fromkeys(values)
    ]


def _tags(event: Event) -> set[str]:
    tags = {e.name for e in event.entities}
    tags.update(country_name(code) for code in event.countries)
    if event.story:
        tags.add(event.story)
    return tags
