"""Enrichment on the real spaCy model: entities, countries, topics on events."""

from __future__ import annotations

import datetime as dt

import pytest

from indexer.enrich.entities import canonical_name
from indexer.enrich.pipeline import Enricher, ModelNotInstalled, load_pipeline
from indexer.record import TOPICS, Entity, Event


def enrich(nlp, headline: str, **fields) -> Event:
    event = Event(id="x", date=dt.date(2016, 11, 21), headline=headline, **fields)
    return next(Enricher(nlp).enrich([event]))


@pytest.mark.parametrize(
    "text, name",
    [("the United Nations", "United Nations"), ("Russia's", "Russia"),
     ("The  Kremlin", "Kremlin"), ("NATO’s", "NATO")],
)
def test_canonical_names_drop_articles_and_possessives(text, name):
    assert canonical_name(text) == name


def test_seed_headline_is_enriched_with_countries_entities_and_a_topic(nlp):
    event = enrich(
        nlp,
        "Russia deploys its S-400 missile system in Kaliningrad, an exclave between Poland and "
        "Lithuania, in response to \"NATO expansion\" near its borders. The United States "
        "criticizes the move as \"destabilizing\" to Europe.",
    )
    assert {"RU", "PL", "LT", "US"} <= set(event.countries)
    assert event.countries[0] == "RU"
    names = {e.name for e in event.entities}
    assert {"Russia", "Poland", "Lithuania", "NATO", "United States"} <= names
    assert event.topics and set(event.topics) <= set(TOPICS)


def test_us_abbreviation_is_named_united_states(nlp):
    event = enrich(nlp, "The U.S. imposes new sanctions on Iran.")
    assert "US" in event.countries and "IR" in event.countries
    assert "United States" in {e.name for e in event.entities}


def test_repeated_mentions_make_one_entity(nlp):
    event = enrich(nlp, "Germany beats France; Germany now leads the group.")
    assert [e.name for e in event.entities].count("Germany") == 1


def test_topic_given_by_the_source_is_kept(nlp):
    event = enrich(nlp, "Floods kill dozens in Pakistan.", topics=["health-environment"])
    assert event.topics == ["health-environment"]


def test_entities_given_by_the_source_are_kept(nlp):
    given = [Entity(text="Temple of Bel", name="Temple of Bel", type="MISC")]
    event = enrich(nlp, "Militants destroy an ancient temple in Palmyra, Syria.", entities=given)
    assert "Temple of Bel" in {e.name for e in event.entities}
    assert "SY" in event.countries


def test_missing_model_gives_a_clear_error():
    with pytest.raises(ModelNotInstalled, match="nlp_models.txt"):
        load_pipeline("no_such_model_xyz")


def test_worker_processes_label_events_exactly_as_one_process_does(nlp):
    headlines = [
        "Russia deploys missiles in Kaliningrad near Poland.",
        "Floods kill dozens in Pakistan's Sindh province.",
        "Brazil's central bank raises interest rates again.",
        "Kenya wins the marathon gold at the Olympics in Tokyo.",
        "The Kremlin denies interfering in the U.S. election.",
    ] * 40
    events = [Event(id=str(i), date=dt.date(2020, 1, 1), headline=h)
              for i, h in enumerate(headlines)]
    alone = list(Enricher(nlp, batch_size=16).enrich(events))
    parallel = list(Enricher(nlp, batch_size=16, n_process=2).enrich(events))
    assert parallel == alone
    assert [e.id for e in parallel] == [str(i) for i in range(len(headlines))]
