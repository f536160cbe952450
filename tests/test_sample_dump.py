"""The bundled sample dump: the seed page and its fixtures plus a slice of the Portal archive,
ingested for real (spaCy, Tantivy), fold into one set of events whose links resolve."""

from __future__ import annotations

import json
import re

from indexer.readers import read_dump
from tests.conftest import SAMPLE_DUMP, SEED_ID

SLICE = SAMPLE_DUMP / "portal-2016-07-to-2017-06.ndjson"
SEED_FILE = SAMPLE_DUMP / "2016" / "11" / "21" / f"{SEED_ID}.md"
SEED_HEADLINE = (
    'Russia deploys its S-400 missile system in Kaliningrad, an exclave between Poland and '
    'Lithuania, in response to "NATO expansion" near its borders. The United States criticizes '
    'the move as "destabilizing" to Europe. Russia announced the planned deployment over a '
    'decade ago.'
)
TROOPS_ID = (
    "3-000-u-s-troops-are-deployed-in-poland-as-part-of-nato-s-operation-atlantic-resolve-"
    "poland-says-that-the-deployment-is-a-necessary-respon"
)


def _slice_ids() -> list[str]:
    return [json.loads(line)["id"] for line in SLICE.read_bytes().splitlines()]


def _page_files() -> list[str]:
    return [p.name for p in SAMPLE_DUMP.rglob("*.*")
            if p.suffix in {".md", ".json", ".xml"} and p.name != "index.md"]


def _seed_related_slugs() -> list[str]:
    related = SEED_FILE.read_text(encoding="utf-8").split("### Related:")[1]
    return re.findall(r"\]\(/news/\d{4}/\d{1,2}/\d{1,2}/([^)/]+)\.md\)", related)


def test_slice_is_the_archive_window_holding_the_seed_and_its_related_events():
    ids = _slice_ids()
    assert len(ids) == len(set(ids)) == 4226
    assert SLICE.stat().st_size <= 2_000_000
    dates = [json.loads(line)["date"] for line in SLICE.read_bytes().splitlines()]
    assert (min(dates), max(dates)) == ("2016-07-01", "2017-06-30")
    held = [slug for slug in _seed_related_slugs() if slug in set(ids)]
    assert SEED_ID in ids and len(held) == 4  # the fifth is in the archive under another slug


def test_sample_ingest_counts_add_up(sample_ingest):
    _, summary = sample_ingest
    pages = _page_files()
    page_ids = {name.rsplit(".", 1)[0] for name in pages}
    # Page ids are file names, except the earlier versions' pages, which name the current id.
    earlier_versions = 5
    page_events = len(page_ids) - earlier_versions
    shared = page_ids & set(_slice_ids())
    assert (len(pages), page_events, len(shared)) == (446, 425, 5)
    assert summary.read == len(pages) + 4226 == 4672
    assert summary.indexed == page_events + 4226 - len(shared) == 4646
    assert summary.merged == len(pages) - page_events + len(shared) == 26
    assert summary.rejected == 0
    assert summary.read == summary.indexed + summary.merged + summary.rejected


def test_ingest_folds_as_read_dump_does(client):
    # The stream folder keeps the first record, then folds again what it could not merge
    # (the seed page with its archive record): the index holds what read_dump gives.
    result = read_dump(SAMPLE_DUMP)
    assert (len(result.events), result.merged) == (4646, 26)
    folded = {e.id: e for e in result.events}[SEED_ID]
    indexed = client.get(f"/api/events/{SEED_ID}").json()
    assert indexed["headline"] == folded.headline
    assert indexed["story"] == folded.story
    assert [s["name"] for s in indexed["sources"]] == [s.name for s in folded.sources]
    assert [v["slug"] for v in indexed["versions"]] == [v.slug for v in folded.versions]
    assert indexed["topics"] == folded.topics == ["international-relations"]


def test_seed_page_and_its_archive_record_are_one_event(client):
    event = client.get(f"/api/events/{SEED_ID}").json()
    assert event["source_format"] == "ndjson+page-json+page-md+page-xml"
    assert event["headline"] == SEED_HEADLINE
    # The page's: its story (the archive writes "NATO–Russia relations"), Changes and Related.
    assert event["story"] == "NATO-Russia relations"
    assert [(v["slug"][:20], v["current"]) for v in event["versions"]] == [
        ("nato-russia-relation", False), ("russia-deploys-its-s", True),
    ]
    assert [link["id"] for link in event["related_links"]] == _seed_related_slugs()
    # The archive's: the editors' topic; "Reuters via Trust", cited by name, is the page's link.
    assert event["topics"] == ["international-relations"]
    assert [(s["name"], s["url"][:22]) for s in event["sources"]] == [
        ("Reuters via Trust", "http://news.trust.org/"), ("Cover Image", "http://d2sh4fq2xsdeg9."),
    ]
    assert client.get("/api/search", params={"q": "S-400 Kaliningrad"}).json()["hits"][0]["id"] \
        == SEED_ID


def test_seed_related_links_resolve_to_events_we_hold(client):
    links = client.get(f"/api/events/{SEED_ID}").json()["related_links"]
    assert len(links) == 5 and all(link["indexed"] for link in links)
    archive_ids = set(_slice_ids())
    for link in links:
        event = client.get(f"/api/events/{link['id']}").json()
        assert event["id"] == link["id"]
        assert ("ndjson" in event["source_format"]) == (link["id"] in archive_ids)
    # As the seed page writes them: a day without its leading zero, answered by the canonical page.
    warsaw = "/news/2016/07/8/" + links[4]["id"]
    response = client.get(warsaw, follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "/news/2016/07/08/" + links[4]["id"]
    assert client.get(response.headers["location"]).status_code == 200


def test_fixture_page_under_an_archive_slug_takes_the_archive_text(client):
    # The fixture page paraphrases the event; the archive's headline is the text its slug was
    # made from, so it wins; the page's sources and story fill in beside the archive's.
    event = client.get(f"/api/events/{TROOPS_ID}").json()
    assert event["headline"].startswith("3,000 U.S. troops are deployed in Poland")
    assert event["story"] == "Operation Atlantic Resolve"
    names = [s["name"] for s in event["sources"]]
    assert names == ["BBC", "Al Jazeera", "The New York Times", "Reuters via Trust", "NPR"]
    assert event["topics"] == ["international-relations"]


def test_every_archive_event_of_the_window_is_held(client):
    window = {"from": "2016-07-01", "to": "2017-06-30"}
    in_window = {e.id for e in read_dump(SAMPLE_DUMP).events
                 if window["from"] <= e.date.isoformat() <= window["to"]}
    assert set(_slice_ids()) <= in_window
    assert client.get("/api/search", params={**window, "size": 1}).json()["total"] \
        == len(in_window)
