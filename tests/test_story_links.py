"""Suggested stories (indexer/story_links.py), through a real reindex, index and API.

tests/data/story_links.ndjson: nine events of the 2023 Turkey-Syria earthquakes and three
of the Chilean wildfires, all with their story (one of them also carrying a suggestion,
which must not survive); and two without a story: a rescue in Hatay, plainly the earthquake
story, and an aid appeal for both disasters, whose suggestion stays below the threshold.
The confidences come from the shipped settings (indexer/story_links.json): retraining them
may move these two across the threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tantivy

from indexer.story_links import RememberingEmbed, settings

DATA = Path(__file__).parent / "data" / "story_links.ndjson"
QUAKES = "2023 Turkey–Syria earthquakes"
RESCUE = ("rescuers-pull-survivors-from-the-rubble-of-collapsed-apartment-blocks-in-hatay-"
          "four-days-after-the-earthquake")
APPEAL = ("aid-agencies-appeal-for-donations-for-families-left-homeless-by-the-disasters-in-"
          "turkey-and-chile")
ERDOGAN = ("turkish-president-recep-tayyip-erdo-an-declares-a-three-month-state-of-emergency-"
           "in-ten-provinces-hit-by-the-earthquake")


@pytest.fixture(scope="module")
def linked(tmp_path_factory, nlp):
    from indexer.ingest import IngestOptions, reindex

    data_dir = tmp_path_factory.mktemp("story-links")
    summary = reindex([DATA], data_dir, IngestOptions(nlp=nlp, progress=False))
    assert (summary.read, summary.indexed, summary.rejected) == (14, 14, 0)
    return data_dir, summary


@pytest.fixture(scope="module")
def events(linked):
    from indexer.index import storage
    from service.search.render import stored_event

    searcher = storage.open_index(linked[0]).searcher()
    hits = searcher.search(tantivy.Query.all_query(), limit=100).hits
    return {e.id: e for e in (stored_event(searcher.doc(address)) for _, address in hits)}


@pytest.fixture(scope="module")
def api(linked):
    from litestar.testing import TestClient

    from service.app import create_app
    from service.config import Settings

    with TestClient(app=create_app(Settings(data_dir=linked[0]))) as client:
        yield client


def test_event_without_a_story_gets_its_neighbours_story_with_a_confidence(events, linked):
    rescue = events[RESCUE]
    assert rescue.story is None
    assert rescue.suggested_story == QUAKES
    assert settings().threshold <= rescue.suggested_story_confidence <= 1.0
    assert linked[1].suggested == 1


def test_an_event_with_a_story_never_gets_a_suggestion(events):
    for event in events.values():
        if event.story:
            assert event.suggested_story is None and event.suggested_story_confidence is None
    assert events[ERDOGAN].story == QUAKES  # its record came with a wildfire suggestion


def test_a_suggestion_below_the_threshold_is_kept_but_not_shown_or_counted(events, api):
    appeal = events[APPEAL]
    assert appeal.suggested_story == QUAKES
    assert appeal.suggested_story_confidence < settings().threshold
    body = api.get("/api/search", params={"story": QUAKES, "size": 50}).json()
    assert APPEAL not in {hit["id"] for hit in body["hits"]}
    hit = api.get(f"/api/events/{APPEAL}").json()
    assert hit["suggested_story"] is None and hit["suggested_story_confidence"] is None


def test_the_story_facet_and_filter_count_a_suggestion_above_the_threshold(api):
    body = api.get("/api/search", params={"story": QUAKES, "size": 50}).json()
    hits = {hit["id"]: hit for hit in body["hits"]}
    assert body["total"] == 10 and RESCUE in hits  # nine from the source, one suggested
    assert hits[RESCUE]["story"] is None and hits[RESCUE]["suggested_story"] == QUAKES
    assert hits[ERDOGAN]["suggested_story"] is None
    facet = {value["value"]: value["count"] for value in
             api.get("/api/search", params={"q": ""}).json()["facets"]["story"]}
    assert facet[QUAKES] == 10 and facet["2023 Chilean wildfires"] == 3


def test_the_api_shows_the_suggestion_on_the_event(api):
    hit = api.get(f"/api/events/{RESCUE}").json()
    assert hit["suggested_story"] == QUAKES
    assert hit["suggested_story_confidence"] >= settings().threshold
    schema = api.get("/schema/openapi.json").json()["components"]["schemas"]
    assert "suggested_story" in schema["Hit"]["properties"]


def test_indexing_into_a_live_index_links_against_its_stories(nlp, tmp_path):
    """`eventsearch index` adds events to a generation whose labelled events are in the
    index, not in the dump."""
    import orjson

    from indexer.index import storage
    from indexer.ingest import IngestOptions, ingest, reindex
    from service.search.render import stored_event

    options = IngestOptions(nlp=nlp, progress=False)
    reindex([DATA], tmp_path / "data", options)
    dump = tmp_path / "more.ndjson"
    dump.write_bytes(orjson.dumps({
        "id": "aftershock", "date": "2023-02-08",
        "headline": "A strong aftershock shakes southern Turkey as the earthquake death toll "
                    "rises and rescuers keep searching the rubble."}) + b"\n")
    assert ingest([dump], tmp_path / "data", options).suggested == 1
    index = storage.open_index(tmp_path / "data")
    searcher = index.searcher()
    found = searcher.search(tantivy.Query.term_query(index.schema, "id", "aftershock"), limit=1)
    event = stored_event(searcher.doc(found.hits[0][1]))
    assert event.suggested_story == QUAKES
    assert searcher.num_docs == 15


def test_the_pair_features_weigh_shared_names_countries_and_story_words():
    """Each (event, neighbour) pair is scored on more than the cosine: the event's entities
    the neighbour shares, by inverse document frequency (a rare "Hatay" outweighs a common
    "Turkey"), its countries, the neighbour's story words in the headline, the days apart."""
    import numpy as np

    from indexer.story_links import PAIR_FEATURES, Pool, Settings, pairs

    vectors = np.eye(4, dtype=np.float32)[[0, 0, 0]]
    pool = Pool([100, 100, 110], [QUAKES, "2023 Chilean wildfires", "Turkish elections"],
                vectors, [["Hatay", "Turkey"], ["Chile"], ["Turkey"]], [["TR"], ["CL"], ["TR"]])
    config = Settings(window_days=14, neighbours=5, pair_coefficients=(0.0,) * 5,
                      pair_intercept=0.0, coefficients=(0.0,) * 6, intercept=0.0,
                      threshold=0.5)
    found = pairs(pool, [103], vectors[:1], ["Rescuers in Hatay find survivors of the earthquakes"],
                  [["Hatay", "Turkey"]], [["TR"]], config)
    features = {pool.names[pool.story[n]]: dict(zip(PAIR_FEATURES, row))
                for n, row in zip(found.neighbour, found.features)}
    quake, fire, vote = (features[s] for s in (QUAKES, "2023 Chilean wildfires",
                                               "Turkish elections"))
    assert quake["entities"] == pytest.approx(1.0) and fire["entities"] == 0.0
    hatay, turkey = np.log1p(3 / 2), np.log1p(3 / 3)
    assert vote["entities"] == pytest.approx(turkey / (hatay + turkey))
    assert quake["countries"] == vote["countries"] == 1.0 and fire["countries"] == 0.0
    assert quake["story_words"] == pytest.approx(1 / 3)  # "earthquakes" of turkey/syria/...
    assert fire["story_words"] == 0.0
    assert quake["cosine"] == pytest.approx(1.0)
    assert quake["time"] == pytest.approx(0.5 ** (3 / 7)) and vote["time"] < quake["time"]


FREDDY = "Cyclone Freddy"
LANDFALL = "Cyclone Freddy makes landfall in Mozambique, bringing heavy rain and strong winds."
FLOODS = "Floods from Cyclone Freddy kill at least ten people in southern Mozambique."
GIRL = ("Rescuers pull a ten-year-old girl alive from the rubble in Antakya, eleven days after "
        "the earthquake in Turkey.")


def test_events_folded_again_at_the_end_of_ingest_are_linked_as_their_final_versions(
        nlp, tmp_path):
    """A page and a later record of the same event (a fixture page with its own text, then
    the archive's record, whose text gives the slug) fold into the later one's text at the
    end of ingest. Story linking must see that folded event, not the first record: the
    story-less one is linked like any other, and the labelled one is the neighbour that
    story-less events vote with. The index is then the one its final records alone give."""
    import msgspec
    import orjson

    from indexer.index import storage
    from indexer.ingest import IngestOptions, reindex
    from indexer.readers.fold import slug_of_headline
    from service.search.render import stored_event

    def record(headline: str, date: str, final: str | None = None, **fields) -> bytes:
        return orjson.dumps({"id": slug_of_headline(final or headline), "date": date,
                             "headline": headline, **fields}) + b"\n"

    labelled, unlabelled = record(LANDFALL, "2023-02-24", story=FREDDY), record(GIRL, "2023-02-17")
    final = DATA.read_bytes() + labelled + unlabelled + record(FLOODS, "2023-02-26")
    # Each first record is a page under the event's id with another text; the labelled
    # one's page carries another story, the story-less one's is of no disaster at all.
    pages = (record("Firefighters battle new wildfires near Concepción in southern Chile.",
                    "2023-02-24", final=LANDFALL, story="2023 Chilean wildfires")
             + record("A page of the city council of Antakya.", "2023-02-17", final=GIRL))
    folded = DATA.read_bytes() + pages + labelled + unlabelled + record(FLOODS, "2023-02-26")

    options = IngestOptions(nlp=nlp, progress=False)
    indexes = {}
    for name, body in (("final", final), ("folded", folded)):
        (tmp_path / f"{name}.ndjson").write_bytes(body)
        summary = reindex([tmp_path / f"{name}.ndjson"], tmp_path / name, options)
        assert summary.read == summary.indexed + summary.merged + summary.rejected
        assert (summary.indexed, summary.rejected) == (17, 0)
        searcher = storage.open_index(tmp_path / name).searcher()
        assert searcher.num_docs == 17
        hits = searcher.search(tantivy.Query.all_query(), limit=100).hits
        events = [stored_event(searcher.doc(address)) for _, address in hits]
        indexes[name] = {e.id: msgspec.to_builtins(
            msgspec.structs.replace(e, source_format="", source_path="")) for e in events}
        indexes[name, "suggested"] = summary.suggested
    assert summary.merged == 2

    folded_events, final_events = indexes["folded"], indexes["final"]
    girl, floods = folded_events[slug_of_headline(GIRL)], folded_events[slug_of_headline(FLOODS)]
    assert girl["headline"] == GIRL and girl.get("suggested_story") == QUAKES
    assert folded_events[slug_of_headline(LANDFALL)]["story"] == FREDDY
    assert floods.get("suggested_story") == FREDDY
    assert folded_events == final_events
    assert indexes["folded", "suggested"] == indexes["final", "suggested"]


def test_remembering_embed_gives_embeds_vectors_and_embeds_each_text_once():
    from indexer.enrich.topic_embedding import embed

    remembering = RememberingEmbed(size=2)
    texts = ["Floods hit Peru", "Storms cut power in Chile", "Floods hit Peru"]
    assert np.allclose(remembering(texts), embed(texts))
    assert list(remembering._vectors) == ["Storms cut power in Chile", "Floods hit Peru"]
    remembering(["Quake shakes Japan"])  # past `size`: the least recently used goes
    assert list(remembering._vectors) == ["Floods hit Peru", "Quake shakes Japan"]
    assert remembering([]).shape == (0, embed(["x"]).shape[1])
