"""Related events: candidates from Tantivy, ranked by a model learned from the Current Events
Portal's stories, and explained.

Candidates: the top hits of Tantivy more-like-this on the headline, plus the top hits
sharing an entity, country or the story (both under the request's filters). Each candidate
gets seven parts in [0, 1]:

  text         more-like-this score over the headline's distinctive words, / the best one
  entities     shared entities (people, organisations, places...), each weighted by its
               inverse document frequency, / the event's own: a shared "Ukraine" says less
               than a shared "Zaporizhzhia Nuclear Power Plant"
  countries    shared countries, / the event's
  story        1 when both carry the same story label (dashes and case aside)
  story_words  share of the other event's story words (4+ letters) found in this headline:
               an event without a story still finds the story it belongs to
  time         0.5 ** (days apart / 30): events close in time are likelier one story
  meaning      cosine of the two headlines' WordLlama vectors (topic_embedding.py; 0 if
               negative): one story told in other words

The score is the chance that the other event sits under the same story heading,
P(same story) = sigmoid(bias + sum of weight * part): a pairwise logistic regression with
weights of zero or more, learned by `training/train_related.py` from the Portal's events of
2015-2017 (events under one heading are related) and our hand-grouped reddit stories, its
regularisation chosen on 2018, then calibrated; `related_model.json` beside this module
holds the weights and the figures. Only the best `MEANING_DEPTH` (or the page size) by the other
parts get the meaning part (about 25 microseconds a headline) and are ranked again.

`context` lists the shared tags (entity names, country names, the story) alphabetically,
as the source pages' "Context:" lines do.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import tantivy
from spacy.lang.en.stop_words import STOP_WORDS

from indexer.enrich.countries import country_name
from indexer.enrich.topic_embedding import embed
from indexer.record import Event
from indexer.story_links import content_words, story_key
from service.models import RelatedHit
from service.search.render import hit_fields

MODEL_PATH = Path(__file__).with_name("related_model.json")
PARTS = ("text", "entities", "countries", "story", "story_words", "time", "meaning")
MEANING_DEPTH = 20  # or the page size if larger
TIME_HALF_LIFE_DAYS = 30.0
CANDIDATES = 100
_STOP_WORDS = sorted(STOP_WORDS)


@dataclass(frozen=True)
class RelatedModel:
    """A linear model over the parts: `weights` by part name and a `bias`."""

    weights: dict[str, float]
    bias: float

    @classmethod
    def read(cls, path: Path = MODEL_PATH) -> RelatedModel:
        model = json.loads(path.read_text(encoding="utf-8"))
        if set(model["weights"]) != set(PARTS):
            raise ValueError(f"{path} weighs {sorted(model['weights'])}, not the parts {PARTS}")
        return cls(weights=model["weights"], bias=model["bias"])

    def logit(self, parts: dict[str, float]) -> float:
        return self.bias + sum(self.weights[name] * value for name, value in parts.items())

    def score(self, parts: dict[str, float]) -> float:
        return round(1.0 / (1.0 + math.exp(-self.logit(parts))), 4)


MODEL = RelatedModel.read()


@dataclass
class Candidate:
    event: Event
    parts: dict[str, float]


def candidate_queries(schema: tantivy.Schema, event: Event) -> list[tantivy.Query]:
    """More-like-this on the headline, and shared labels; neither matches the event itself."""
    queries = [headline_query(schema, event)]
    labels = _label_queries(schema, event)
    if labels:
        shared = tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in labels])
        queries.append(_excluding(schema, event, shared))
    return queries


def headline_query(schema: tantivy.Schema, event: Event) -> tantivy.Query:
    """Plain more-like-this, the baseline the ranking is measured against."""
    return _excluding(schema, event, _headline_likeness(schema, event.headline))


@dataclass(frozen=True)
class Asked:
    """What every candidate of one event is compared with, worked out once: the inverse
    document frequency of each of its entities (countries aside) and its headline's words."""

    idf: dict[str, float]
    words: set[str]

    @classmethod
    def about(cls, searcher: tantivy.Searcher, event: Event) -> Asked:
        documents = max(searcher.num_docs, 1)
        idf = {name: math.log(1 + documents / (1 + searcher.doc_freq("entity", name)))
               for name in _entity_names(event)}
        return cls(idf, content_words(event.headline))


def score_parts(event: Event, other: Event, text_score: float, best_text: float,
                asked: Asked) -> dict[str, float]:
    """Every part but `meaning`, which `rank` adds to the best few."""
    mine = sum(asked.idf.values())
    theirs = _entity_names(other)
    shared = sum(weight for name, weight in asked.idf.items() if name in theirs)
    return {
        "text": round(text_score / best_text, 4) if best_text else 0.0,
        "entities": round(shared / mine, 4) if mine else 0.0,
        "countries": round(len(set(event.countries) & set(other.countries))
                           / len(event.countries), 4) if event.countries else 0.0,
        "story": 1.0 if event.story and same_story(event.story, other.story) else 0.0,
        "story_words": _story_words(asked.words, other),
        "time": round(math.pow(0.5, abs((event.date - other.date).days) / TIME_HALF_LIFE_DAYS), 4),
    }


def with_meaning(event: Event, candidates: list[Candidate]) -> None:
    """Adds the `meaning` part to each candidate."""
    if not candidates:
        return
    vectors = embed([event.headline, *(c.event.headline for c in candidates)])
    for candidate, cosine in zip(candidates, vectors[1:] @ vectors[0], strict=True):
        candidate.parts["meaning"] = round(max(0.0, float(cosine)), 4)


def rank(event: Event, candidates: list[Candidate], size: int,
         model: RelatedModel = MODEL) -> list[RelatedHit]:
    """The best `size` candidates: ranked by all parts but meaning, then the best few by
    all parts."""
    # Meaning is left out of the first ranking even where an earlier ranking added it.
    candidates.sort(key=lambda c: (-model.logit({**c.parts, "meaning": 0.0}), c.event.id))
    best = candidates[:max(MEANING_DEPTH, size)]
    with_meaning(event, best)
    best.sort(key=lambda c: (-model.logit(c.parts), c.event.id))
    return [RelatedHit(**hit_fields(c.event), score=model.score(c.parts), score_parts=c.parts,
                       context=context_tags(event, c.event))
            for c in best[:size]]


def same_story(story: str, other: str | None) -> bool:
    """Story labels compared as their editors mean them: "NATO-Russia relations" (the seed
    page) is "NATO–Russia relations" (the archive, with an en dash) and "Nato-Russia
    Relations"; story linking votes by the same key."""
    return other is not None and story_key(story) == story_key(other)


def context_tags(event: Event, other: Event) -> list[str]:
    return sorted(_tags(event) & _tags(other), key=str.casefold)


def _story_words(headline_words: set[str], other: Event) -> float:
    words = content_words(other.story) if other.story else set()
    if not words:
        return 0.0
    return round(len(words & headline_words) / len(words), 4)


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
