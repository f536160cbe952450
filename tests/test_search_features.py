"""Search at the level of the best engines: multi-select facets checked against counts
computed from the stored events, cursors across index changes, strict and lenient parsing,
spelling correction, suggestions, facet value search, explained related events."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections import Counter
from urllib.parse import parse_qs

import pytest
import tantivy

from indexer.index import storage
from indexer.index.schema import build_schema, entity_kind, event_rank
from indexer.index.writer import EventWriter
from indexer.ingest import IngestOptions, ingest
from indexer.record import Entity, Event
from service.search.engine import EventIndex
from service.search.query import parse_text, search_request, words_match_at_most
from tests.conftest import REPO, SEED_ID, WIKITIMES


def search(client, **params):
    response = client.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def all_events(client) -> list[dict]:
    """Every stored event, read through cursor paging."""
    events, cursor = [], None
    while True:
        params = {"sort": "-date", "size": 100, **({"cursor": cursor} if cursor else {})}
        body = search(client, **params)
        events += body["hits"]
        cursor = body["next_cursor"]
        if not cursor:
            return events


def every_hit(client, **params) -> list[dict]:
    """Every hit of a search in its order, read page by page (by number)."""
    hits, number = [], 1
    while True:
        body = search(client, **params, size=100, page=number)
        hits += body["hits"]
        if len(hits) >= body["total"] or not body["hits"]:
            assert len(hits) == body["total"]
            return hits
        number += 1


def test_multi_select_facet_counts_leave_out_their_own_filter(client):
    events = all_events(client)
    selected_countries, selected_topic = {"RU", "PL"}, "armed-conflicts"
    body = search(client, country=sorted(selected_countries), topic=selected_topic,
                  facet_size="100")

    def codes(e): return {c["code"] for c in e["countries"]}
    in_countries = [e for e in events if codes(e) & selected_countries]
    in_topic = [e for e in events if selected_topic in e["topics"]]
    both = [e for e in in_topic if codes(e) & selected_countries]

    expected_country = Counter(c for e in in_topic for c in codes(e))
    expected_topic = Counter(t for e in in_countries for t in e["topics"])
    expected_story = Counter(e["story"] for e in both if e["story"])
    expected_entity = Counter(key for e in both for key in
                              {(entity_kind(x["type"]), x["name"]) for x in e["entities"]})
    assert body["total"] == len(both)
    assert {v["value"]: v["count"] for v in body["facets"]["country"]} == dict(expected_country)
    assert {v["value"]: v["count"] for v in body["facets"]["topic"]} == dict(expected_topic)
    assert {v["value"]: v["count"] for v in body["facets"]["story"]} == dict(expected_story)
    entities = {(v["type"], v["value"]): v["count"] for v in body["facets"]["entity"]}
    assert entities and all(expected_entity[key] == n for key, n in entities.items())
    left_out = [n for key, n in expected_entity.items() if key not in entities]
    assert min(entities.values()) >= max(left_out, default=0)
    selected = {v["value"] for v in body["facets"]["country"] if v["selected"]}
    assert selected == selected_countries


def test_facet_toggle_adds_or_removes_the_value_and_restarts_paging(client):
    body = search(client, country="RU", page=2)
    values = {v["value"]: v for v in body["facets"]["country"]}
    assert parse_qs(values["RU"]["toggle"]).get("country") is None
    other = next(v for code, v in values.items() if code != "RU")
    toggled = parse_qs(other["toggle"])
    assert sorted(toggled["country"]) == sorted(["RU", other["value"]])
    assert "page" not in toggled


def test_facet_sizes_apply_per_facet(client):
    body = search(client, facet_size=["3", "entity:7"])
    assert len(body["facets"]["country"]) == 3 and len(body["facets"]["entity"]) == 7


def test_selected_values_beyond_the_top_n_still_show_with_their_counts(client):
    countries = search(client, facet_size="100")["facets"]["country"]
    rare = countries[-1]["value"]
    body = search(client, country=[rare, countries[0]["value"]], facet_size="1")
    shown = {v["value"]: v for v in body["facets"]["country"]}
    assert shown[rare]["selected"] and len(shown) == 2
    assert shown[rare]["count"] == search(client, country=rare)["total"]
    entity = search(client, facet_size="entity:100")["facets"]["entity"][-1]["value"]
    shown = search(client, entity=entity, facet_size="1")["facets"]["entity"]
    assert [v["count"] for v in shown if v["value"] == entity] == [
        search(client, entity=entity)["total"]]


def test_entity_facet_values_carry_their_kind(client):
    kinds = {v["type"] for v in search(client, facet_size="entity:100")["facets"]["entity"]}
    assert {"person", "organisation", "place"} <= kinds


def test_date_histogram_interval_follows_the_span(client):
    def interval(**params):
        return {v["type"] for v in search(client, **params)["facets"]["date"]}
    assert interval() == {"year"}
    assert interval(**{"from": "2016-01-01", "to": "2017-06-30"}) == {"month"}
    assert interval(**{"from": "2016-11-01", "to": "2016-11-30"}) <= {"day"}


def _span_days(events: list[dict]) -> int:
    days = [dt.date.fromisoformat(e["date"]) for e in events]
    return (max(days) - min(days)).days


def test_date_facet_counts_the_stored_events_of_each_period(client):
    """Years come from a histogram; matches that turn out to lie within three years (no
    date filter says so) get months, or days within two months, from a second pass."""
    events = all_events(client)

    def periods(matching: list[dict], width: int) -> dict[str, int]:
        return dict(Counter(e["date"][:width] for e in matching))  # ISO: YYYY, YYYY-MM, ...

    def date_counts(**params) -> dict[str, int]:
        return {v["value"]: v["count"] for v in search(client, **params)["facets"]["date"]}

    assert date_counts() == periods(events, 4)
    by_country: dict[str, list[dict]] = {}
    for event in events:
        for country in event["countries"]:
            by_country.setdefault(country["code"], []).append(event)
    months = next(code for code, matching in sorted(by_country.items())
                  if 62 < _span_days(matching) <= 365 * 2)
    assert date_counts(country=months) == periods(by_country[months], 7)
    days = next(code for code, matching in sorted(by_country.items())
                if len(matching) > 1 and _span_days(matching) <= 62)
    assert date_counts(country=days) == periods(by_country[days], 10)


def test_source_filter_and_facet(client):
    top = search(client)["facets"]["source"][0]
    assert search(client, source=top["value"])["total"] == top["count"]


def test_filters_narrow_without_reordering(client):
    """A filter keeps the events it admits in their relevance order: it adds nothing to
    their scores (a label field's length would otherwise favour one-country events)."""
    everything = every_hit(client, q="Russia")
    assert len(everything) > 100  # more than one page of the largest size
    in_ukraine = [h["id"] for h in everything if "UA" in {c["code"] for c in h["countries"]}]
    filtered = every_hit(client, q="Russia", country=["UA", "PL"])
    assert len(in_ukraine) == search(client, q="Russia", country="UA")["total"] >= 3
    assert len(filtered) > len(in_ukraine)  # Poland's events come between them
    assert [h["id"] for h in filtered if "UA" in {c["code"] for c in h["countries"]}] == in_ukraine


def test_cursor_paging_visits_every_event_once_in_date_order(client):
    events = all_events(client)
    assert len(events) == search(client)["total"]
    assert len({e["id"] for e in events}) == len(events)
    dates = [e["date"] for e in events]
    assert dates == sorted(dates, reverse=True)


def test_relevance_cursor_continues_where_the_page_ended(client):
    first = search(client, q="president", size=5)
    second = search(client, q="president", size=5, cursor=first["next_cursor"])
    by_pages = search(client, q="president", size=10)["hits"]
    assert [h["id"] for h in first["hits"] + second["hits"]] == [h["id"] for h in by_pages]


@pytest.mark.parametrize("params", [
    {"sort": "-date"}, {"sort": "date"}, {"q": "president"}, {"q": "Russia", "sort": "-date"},
])
def test_prev_cursor_walks_back_through_the_pages_next_cursor_visited(client, params):
    forward, cursor = [], None
    while True:
        page = search(client, size=7, **params, **({"cursor": cursor} if cursor else {}))
        forward.append([h["id"] for h in page["hits"]])
        if not page["next_cursor"] or len(forward) == 6:
            break
        cursor = page["next_cursor"]
    assert len(forward) >= 3
    assert page["prev_cursor"]
    backward = [[h["id"] for h in page["hits"]]]
    while page["prev_cursor"]:
        page = search(client, size=7, **params, cursor=page["prev_cursor"])
        backward.append([h["id"] for h in page["hits"]])
    assert backward[::-1] == forward[:len(backward)] and len(backward) == len(forward)
    assert search(client, size=7, **params)["prev_cursor"] is None  # the first page


def test_suggestions_hold_up_with_more_names_than_one_aggregation_may_count(tmp_path):
    """The real archive names 69,000 entities; Tantivy refuses an aggregation of more than
    65,000 buckets, so the suggestion dictionary once failed to build there."""
    name, live = storage.new_generation(tmp_path)
    crowd = [Event(id=f"e{n}", date=dt.date(2016, 1, 1), headline=f"Event {n}.",
                   entities=[Entity(text=f"Person {n}", name=f"Person {n}", type="PERSON")])
             for n in range(70_000)]
    crowd += [Event(id=f"famous-{n}", date=dt.date(2016, 1, 2), headline="Fame again.",
                    entities=[Entity(text="Zelda Famous", name="Zelda Famous", type="PERSON")])
              for n in range(4)]
    with EventWriter(live, heap_size=200_000_000, threads=1) as writer:
        writer.upsert(crowd)
    storage.publish(tmp_path, name)
    found = EventIndex.open(tmp_path).suggest("zel", 5).suggestions
    assert [(s.text, s.count) for s in found if s.kind == "entity"] == [("Zelda Famous", 4)]


def test_equal_scores_page_in_rank_order_by_number_and_by_cursor_both_ways(tmp_path):
    """Relevance order is score, then rank. Tantivy orders equal scores by its own document
    order, so its top hits cut a run of ties elsewhere than rank does: a cursor (score, rank)
    then skipped and repeated events, and walking back gave short pages."""
    name, live = storage.new_generation(tmp_path)
    storms = [Event(id=f"storm-{n:02d}", date=dt.date(2016, 1, 1 + n % 28),
                    headline="A storm hits the coast.") for n in range(40)]
    with EventWriter(live, heap_size=15_000_000, threads=1) as writer:
        writer.upsert(storms)
    storage.publish(tmp_path, name)
    index = EventIndex.open(tmp_path)

    def page(**params):
        return index.search(search_request(**{"q": "storm", "size": 6, **params}))

    by_rank = [e.id for e in sorted(storms, key=lambda e: event_rank(
        (e.date - dt.date(1970, 1, 1)).days, e.id))]
    assert [h.id for h in page(size=40).hits] == by_rank  # every score the same
    assert [h.id for n in range(1, 8) for h in page(page=n).hits] == by_rank
    forward = [page()]
    while forward[-1].next_cursor:
        forward.append(page(cursor=forward[-1].next_cursor))
    assert [h.id for p in forward for h in p.hits] == by_rank
    backward = [forward[-1]]
    while backward[-1].prev_cursor:
        backward.append(page(cursor=backward[-1].prev_cursor))
    assert [[h.id for h in p.hits] for p in backward[::-1]] == [
        by_rank[start:start + 6] for start in range(0, 40, 6)]


def test_a_page_by_number_offers_a_cursor_back(client):
    third = search(client, sort="-date", size=5, page=3)
    second = search(client, sort="-date", size=5, cursor=third["prev_cursor"])
    assert second["hits"] == search(client, sort="-date", size=5, page=2)["hits"]


def test_cursor_stays_right_while_the_index_changes(tmp_path, nlp):
    data = tmp_path / "data"
    ingest([WIKITIMES], data, IngestOptions(nlp=nlp))
    index = EventIndex.open(data)

    def page(cursor=None):
        request = search_request(sort="-date", size=50, cursor=cursor)
        return index.search(request)

    first = page()
    seen = [h.id for h in first.hits]
    # Between two pages: an event newer than the cursor, one older, one deleted.
    live = storage.open_index(data)
    unseen_victim = None
    with EventWriter(live, heap_size=15_000_000, threads=1) as writer:
        writer.upsert([
            Event(id="new-newest", date=dt.date(2015, 12, 31), headline="Added after page one."),
            Event(id="new-oldest", date=dt.date(2015, 1, 1), headline="Added, old enough."),
        ])
    index.index.reload()  # what the service's reader does by itself within a second
    remaining_ids = []
    cursor = first.next_cursor
    while cursor:
        next_page = page(cursor)
        if unseen_victim is None and next_page.hits:
            unseen_victim = next_page.hits[-1].id
            with EventWriter(live, heap_size=15_000_000, threads=1) as writer:
                writer.delete(unseen_victim)
            index.index.reload()
        remaining_ids += [h.id for h in next_page.hits]
        cursor = next_page.next_cursor
    visited = seen + remaining_ids
    assert len(visited) == len(set(visited))  # nothing twice
    assert "new-newest" not in visited  # it sorts before the cursor
    assert "new-oldest" in visited  # it sorts after it
    # Every original event once (the deleted one was already on its page), plus the addition.
    assert len(set(visited)) == 428 + 1


def test_lenient_parsing_searches_what_it_can_read_and_says_what_it_ignored(client):
    body = search(client, q='"missile system')
    assert body["total"] >= 1 and "position" in body["warnings"][0]
    assert search(client, q="(Kaliningrad")["total"] == search(client, q="Kaliningrad")["total"]
    assert search(client, q="missile AND")["total"] == search(client, q="missile")["total"]
    colon = search(client, q="Kaliningrad: missiles")  # a field we do not have: words
    assert "unknown field 'Kaliningrad'" in colon["warnings"][0]
    assert colon["total"] == search(client, q="Kaliningrad missiles")["total"] >= 1


def test_strict_parsing_reports_the_position(client):
    response = client.get("/api/search", params={"q": "(russia OR", "strict": "true"})
    assert response.status_code == 400 and "position 10" in response.json()["detail"]


def test_field_syntax_on_facet_fields(client):
    assert search(client, q="country:RU missile")["total"] == search(
        client, q="missile", country="RU")["total"]


def test_word_matching_nothing_is_corrected(client):
    body = search(client, q="kaliningard missle")
    assert body["corrected_query"] == "kaliningrad missile"
    assert SEED_ID in [h["id"] for h in body["hits"]]
    assert search(client, q="missile")["corrected_query"] is None
    as_typed = search(client, q="kaliningard missle", correct="false")
    assert as_typed["total"] == 0 and as_typed["corrected_query"] is None


def test_recency_blend_favours_newer_events(client):
    def mean_year(**params):
        hits = search(client, q="president", size=10, **params)["hits"]
        return sum(int(h["date"][:4]) for h in hits) / len(hits)
    assert mean_year(recency=1) > mean_year()


def test_suggest_completes_entities_stories_countries_then_words(client):
    body = client.get("/api/suggest", params={"q": "put"}).json()
    first = body["suggestions"][0]
    assert first == {"text": "Vladimir Putin", "kind": "entity", "count": first["count"],
                     "type": "person", "filter": {"entity": "Vladimir Putin"}}
    kinds = [s["kind"] for s in body["suggestions"]]
    assert "term" in kinds and kinds.index("term") > 0
    stories = client.get("/api/suggest", params={"q": "brex"}).json()["suggestions"]
    assert {"kind": "story", "text": "Brexit"}.items() <= stories[0].items()
    countries = client.get("/api/suggest", params={"q": "lithu"}).json()["suggestions"]
    assert any(s["kind"] == "country" and s["filter"] == {"country": "LT"} for s in countries)


def test_facet_value_search_matches_any_word_and_respects_filters(client):
    values = client.get("/api/facets/entity", params={"prefix": "puti"}).json()["values"]
    assert values[0]["value"] == "Vladimir Putin"
    narrowed = client.get("/api/facets/entity", params={"prefix": "puti", "country": "SY"})
    assert all(v["count"] <= values[0]["count"] for v in narrowed.json()["values"])
    assert client.get("/api/facets/date", params={"prefix": "x"}).status_code == 400


def test_related_hits_explain_their_score(client):
    """The score is the learned model's chance of one story, from the parts shown."""
    model = json.loads((REPO / "service" / "search" / "related_model.json").read_text())
    hits = client.get(f"/api/events/{SEED_ID}/related").json()["hits"]
    assert hits
    for hit in hits:
        assert set(hit["score_parts"]) == set(model["weights"])
        assert all(0 <= part <= 1 for part in hit["score_parts"].values())
        logit = model["bias"] + sum(model["weights"][k] * v for k, v in hit["score_parts"].items())
        assert hit["score"] == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-3)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_related_filters_apply(client):
    hits = client.get(f"/api/events/{SEED_ID}/related",
                      params={"country": "PL", "size": 10}).json()["hits"]
    assert hits and all("PL" in {c["code"] for c in h["countries"]} for h in hits)


def test_related_response_lists_the_source_links_apart(client):
    body = client.get(f"/api/events/{SEED_ID}/related").json()
    assert len(body["source_links"]) == 5
    assert body["source_links"][0]["context"] == ["NATO", "Russia", "United States"]


def test_related_for_unsaved_text_goes_through_the_same_enrichment(client):
    draft = {"headline": "Russia moves more missiles into Kaliningrad, alarming Poland and "
                         "Lithuania.", "date": "2016-11-25"}
    response = client.post("/api/related", json=draft, params={"size": 5})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert SEED_ID in [h["id"] for h in hits[:3]]
    assert {"Kaliningrad", "Lithuania", "Poland", "Russia"} & set(hits[0]["context"])


def test_openapi_documents_the_new_parameters(client):
    paths = client.get("/schema/openapi.json").json()["paths"]
    search_params = {p["name"] for p in paths["/api/search"]["get"]["parameters"]}
    assert {"source", "cursor", "strict", "facet_size", "recency"} <= search_params
    assert {"/api/suggest", "/api/facets/{facet}", "/api/related"} <= set(paths)
    assert json.dumps(paths["/api/search"]["get"]["parameters"]).count("description") >= 15
    facet = next(p for p in paths["/api/facets/{facet}"]["get"]["parameters"]
                 if p["name"] == "facet")
    assert facet["schema"]["enum"] == ["country", "topic", "entity", "story", "source"]


def test_cached_facet_counts_follow_a_commit(tmp_path, nlp):
    data = tmp_path / "data"
    ingest([WIKITIMES], data, IngestOptions(nlp=nlp))
    index = EventIndex.open(data)
    old = os.stat(storage.generations_dir(data) / index.generation / "meta.json").st_mtime_ns
    os.utime(storage.generations_dir(data) / index.generation / "meta.json",
             ns=(old - 10**10, old - 10**10))  # an old commit: counts may be cached
    before = index.search(search_request(topic=["sports"]))
    assert index.search(search_request(topic=["sports"])).facets == before.facets
    with EventWriter(storage.open_index(data), heap_size=15_000_000, threads=1) as writer:
        writer.upsert([Event(id="x1", date=dt.date(2015, 9, 9), topics=["sports"],
                             headline="A new sports event.")])
    index.index.reload()
    after = index.search(search_request(topic=["sports"]))
    topic_count = {v.value: v.count for v in after.facets.topic}["sports"]
    assert topic_count == {v.value: v.count for v in before.facets.topic}["sports"] + 1


def _counts(values: list[dict]) -> dict[str, int]:
    return {v["value"]: v["count"] for v in values}


@pytest.fixture
def small_sampling_limits(monkeypatch):
    """Facet counts sampled above 50 matches, from about 150 events, and computed afresh
    (a result cached by an earlier test was counted under the real limits)."""
    from service.search import facets
    from service.search.result_cache import ResultCache

    monkeypatch.setattr(facets, "EXACT_UP_TO", 50)
    monkeypatch.setattr(facets, "SAMPLE_TARGET", 150)
    monkeypatch.setattr(ResultCache, "get_or_compute", lambda self, key, compute: compute())


def test_facet_counts_over_many_matches_are_estimated_from_a_sample(client,
                                                                    small_sampling_limits):
    """Above EXACT_UP_TO matches the counts come from the events of a few hash buckets,
    scaled up by the share read: checked against the stored events of those buckets."""
    from indexer.index.schema import SAMPLE_BUCKETS, sample_bucket

    events = all_events(client)
    body = search(client, facet_size="100")
    buckets = -(-SAMPLE_BUCKETS * 150 // len(events))  # ceil
    share = buckets / SAMPLE_BUCKETS
    assert body["facet_sample"] == share < 1
    assert body["total"] == len(events)  # the total is never estimated
    sampled = [e for e in events if sample_bucket(e["id"]) < buckets]
    expected = Counter(t for e in sampled for t in e["topics"])
    assert _counts(body["facets"]["topic"]) == {
        topic: round(count / share) for topic, count in expected.items()}

    exact = search(client, facet_size="100", exact_facets="true")
    assert exact["facet_sample"] == 1.0
    assert _counts(exact["facets"]["topic"]) == dict(Counter(
        t for e in events for t in e["topics"]))


def test_a_selection_samples_only_the_facet_passes_that_match_many(client,
                                                                    small_sampling_limits):
    """With a narrow selection the page's own counts stay exact; the country facet, counted
    without the country selection over every event, is sampled."""
    events = all_events(client)
    body = search(client, country="PL", facet_size="100")
    in_poland = [e for e in events if "PL" in {c["code"] for c in e["countries"]}]
    assert body["total"] == len(in_poland) <= 50
    assert _counts(body["facets"]["topic"]) == dict(Counter(
        t for e in in_poland for t in e["topics"]))
    assert body["facet_sample"] < 1
    assert {v["value"] for v in body["facets"]["country"] if v["selected"]} == {"PL"}


def test_word_frequencies_bound_the_matches(client, sample_data_dir):
    index = EventIndex.open(sample_data_dir)
    searcher = index.index.searcher()
    for words in (["Russia"], ["missile", "strike"], ["Putin", "Syria"], ["elections"],
                  ["U.S."], ["United States", "sanctions"]):
        bound = words_match_at_most(searcher, words)
        text = " ".join(f'"{w}"' if " " in w else w for w in words)
        assert bound is not None and bound >= search(client, q=text)["total"]
        assert bound >= min(search(client, q=f'"{word}"')["total"] for word in words)
    assert words_match_at_most(searcher, []) is None
    # A phrase is bounded by the rarest of its words.
    phrase = words_match_at_most(searcher, ["United States"])
    assert phrase == min(words_match_at_most(searcher, [w]) for w in ("United", "States"))


def test_the_words_every_match_contains():
    index = tantivy.Index(build_schema())
    assert parse_text(index, 'missile "air defence" strike').required_words == [
        "missile", "air defence", "strike"]
    assert parse_text(index, 'missile "air defence"').plain_words == []  # not for spelling
    for text in ("missile OR strike", "missile -strike", "country:RU missile", '"air def"*'):
        assert parse_text(index, text).required_words == []


def test_facet_counts_stay_exact_up_to_the_limit(client):
    body = search(client, q="missile")
    assert 0 < body["total"] <= 50_000
    assert body["facet_sample"] == 1.0


def test_meaning_alone_orders_candidates_alike_in_every_other_part(tmp_path):
    """Two candidates that share the same entity, country and day with the event and none of
    its words: only the `meaning` part (headline vectors) can put the one about the same
    happening first. Their ids are chosen so that without it the tie goes the other way."""
    chile = [Entity(text="Chile", name="Chile", type="GPE")]
    alike = {"date": dt.date(2016, 3, 1), "countries": ["CL"], "entities": chile}
    event = Event(id="quake", headline="Magnitude 7.8 earthquake strikes off Chile's coast.",
                  **alike)
    close = Event(id="z-tremors", headline="Strong tremors shake buildings; thousands flee "
                                           "homes.", **alike)
    far = Event(id="a-symphony", headline="Chamber orchestra premieres symphony at opera "
                                          "house.", **alike)
    name, live = storage.new_generation(tmp_path)
    with EventWriter(live, heap_size=15_000_000, threads=1) as writer:
        writer.upsert([event, close, far])
    storage.publish(tmp_path, name)

    hits = EventIndex.open(tmp_path).related("quake", 2).hits
    assert [h.id for h in hits] == ["z-tremors", "a-symphony"]
    parts = [dict(h.score_parts) for h in hits]
    assert parts[0]["meaning"] > parts[1]["meaning"]
    assert {k: v for k, v in parts[0].items() if k != "meaning"} == \
        {k: v for k, v in parts[1].items() if k != "meaning"}
