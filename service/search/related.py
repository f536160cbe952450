"""Related events, ranked by a documented blend and explained.

Candidates: the top hits of Tantivy more-like-this on the headline, plus the top hits
sharing an entity, country or the story (both under the request's filters). Each candidate
gets six parts in [0, 1], and its score is their weighted sum (`WEIGHTS`):

  text       more-like-this score over the headline's distinctive words, / the best one
  entities   shared entities (people, organisations, places...), / min(3, the event's)
  countries  shared countries, / the event's
  story      1 when both carry the same story label
  time       0.5 ** (days apart / 30): events close in time are likelier one story
  meaning    cosine of the two headlines' WordLlama vectors (topic_embedding.py; 0 if
             negative): one story told in other words ("grain ship detained" and "stolen
             Ukrainian grain"). Computed for the best `MEANING_DEPTH` (or the page size)
             by the other parts, which are then re-ranked (about 25 microseconds a headline).

The weights were chosen on the related-events dev set (benchmarks/related_eval.py); the
meaning weight of 2.0 was the best of 0.5, 1, 2 and 4 there (precision@5 0.845, 0.858,
0.864, 0.859; 0.808 without it).

`context` lists the shared tags (entity names, country names, the story) alphabetically,
as the source pages' "Context:" lines do.
"""

from __future__ import annotations

import math

import tantivy
from spacy.lang.en.stop_words import STOP_WORDS

from indexer.enrich.countries import country_name
from indexer.enrich.topic_embedding import embed
from indexer.record import Event
from service.models import RelatedHit

WEIGHTS = {"text": 1.0, "entities": 0.8, "countries": 0.3, "story": 1.0, "time": 0.3,
           "meaning": 2.0}
MEANING_DEPTH = 20  # or the page size if larger; 20, 30 and 50 gave the same precision@5
TIME_HALF_LIFE_DAYS = 30.0
CANDIDATES = 100
_STOP_WORDS = sorted(STOP_WORDS)


def candidate_queries(schema: tantivy.Schema, event: Event) -> list[tantivy.Query]:
    """More-like-this on the headline, and shared labels; neither matches the event itself."""
    queries = [headline_query(schema, event)]
    labels = _label_queries(schema, event)
    if labels:
        shared = tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in labels])
        queries.append(_excluding(schema, event, shared))
    return queries


def headline_query(schema: tantivy.Schema, event: Event) -> tantivy.Query:
    """Plain more-like-this, the baseline the blend is measured against."""
    return _excluding(schema, event, _headline_likeness(schema, event.headline))


def score_parts(event: Event, other: Event, text_score: float, best_text: float) -> dict[str, float]:
    mine = _entity_names(event)
    return {
        "text": round(text_score / best_text, 4) if best_text else 0.0,
        "entities": round(min(1.0, len(mine & _entity_names(other)) / min(3, len(mine)))
                          if mine else 0.0, 4),
        "countries": round(len(set(event.countries) & set(other.countries))
                           / len(event.countries), 4) if event.countries else 0.0,
        "story": 1.0 if event.story and event.story == other.story else 0.0,
        "time": round(math.pow(0.5, abs((event.date - other.date).days) / TIME_HALF_LIFE_DAYS), 4),
    }


def blended(parts: dict[str, float]) -> float:
    return round(sum(WEIGHTS[name] * value for name, value in parts.items()), 4)


def with_meaning(event: Event, best: list[RelatedHit]) -> list[RelatedHit]:
    """`best` (the best by the other parts) given their `meaning` part and ranked again."""
    if not best:
        return best
    vectors = embed([event.headline, *(hit.headline for hit in best)])
    for hit, cosine in zip(best, vectors[1:] @ vectors[0]):
        hit.score_parts["meaning"] = round(max(0.0, float(cosine)), 4)
        hit.score = blended(hit.score_parts)
    return sorted(best, key=lambda h: (-h.score, h.id))


def context_tags(event: Event, other: Event) -> list[str]:
    return sorted(_tags(event) & _tags(other), key=str.casefold)


def _excluding(schema: tantivy.Schema, event: Event, query: tantivy.Query) -> tantivy.Query:
    own = tantivy.Query.term_query(schema, "id", event.id)
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.MustNot, own)])


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


def _label_queries(schema: tantivy.Schema, event: Event) -> list[tantivy.Query]:
    labels = [("story", [event.story] if event.story else []),
              ("entity", [e.name for e in event.entities]),
              ("country", list(event.countries))]
    return [tantivy.Query.term_query(schema, field, value)
            for field, values in labels for value in dict.fromkeys(values)]


def _entity_names(event: Event) -> set[str]:
    countries = {country_name(code) for code in event.countries}
    return {e.name for e in event.entities} - countries


def _tags(event: Event) -> set[str]:
    tags = {e.name for e in event.entities}
    tags.update(country_name(code) for code in event.countries)
    if event.story:
        tags.add(event.story)
    return tags
