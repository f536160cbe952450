"""The pages, as the server renders them (no browser): the search page's state in its URL,
facets, dates, paging, the archive's own pages, feeds, downloads and the safety of it all.

Browser behaviour (JavaScript, htmx, accessibility) is tested in test_browser.py.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import shutil
import tracemalloc
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import feedparser
import msgspec
import pytest
from bs4 import BeautifulSoup

from indexer.ingest import CACHE_FILE, IngestOptions, ingest
from indexer.record import Event, Source
from service.search.engine import EventIndex
from service.search.query import SearchRequest
from service.web import ASSETS
from service.web.feeds import _csv_lines
from tests.conftest import REPO, SEED_ID

SEED_PAGE = f"/news/2016/11/21/{SEED_ID}"
OLD_SLUG = ("nato-russia-relations-russia-deploys-its-s-400-missile-system-in-kaliningrad-an-"
            "exclave-between-poland-and-lithuania-in-response-to-na")


def page(client, path: str, **headers) -> BeautifulSoup:
    response = client.get(path, headers={"accept": "text/html", **headers})
    assert response.status_code == 200, response.text[:500]
    return BeautifulSoup(response.text, "html.parser")


def hit_ids(soup: BeautifulSoup) -> list[str]:
    return [link["href"].rsplit("/", 1)[-1] for link in soup.select("#hits .headline a")]


def api(client, query: str) -> dict:
    return client.get(f"/api/search?{query}").json()


# --- The search page -----------------------------------------------------------------------

def test_search_page_shows_what_the_api_answers_for_the_same_query_string(client):
    query = "q=russia&country=RU&country=PL"
    soup = page(client, f"/search?{query}")
    body = api(client, f"{query}&size=20")
    assert hit_ids(soup) == [hit["id"] for hit in body["hits"]]
    status = soup.select_one("#search-status[role=status]").get_text(" ", strip=True)
    assert status.startswith(f"{body['total']} events") and " ms" in status
    for value in body["facets"]["country"]:
        link = soup.select_one(f'a[data-key="country:{value["value"]}"]')
        assert link.select_one(".count").get_text() == f"{value['count']:,}"
        # The API's toggle carries the page size it was asked for; the page's is its default.
        assert parse_qs(urlsplit(link["href"]).query) == {
            key: values for key, values in parse_qs(value["toggle"]).items() if key != "size"}


def test_root_is_the_search_page_and_lists_the_newest_events_first(client):
    soup = page(client, "/")
    assert soup.select_one("form[role=search] input[name=q]")
    dates = [time["datetime"] for time in soup.select("#hits .day-heading time")]
    assert dates == sorted(dates, reverse=True) and len(dates) > 3
    assert soup.select_one("#sort option[selected]")["value"] == "-date"


def test_selected_facet_values_come_first_and_untick_themselves(client):
    soup = page(client, "/search?q=russia&country=PL")
    first = soup.select(".facet[aria-labelledby=facet-country] .facet-values a")[0]
    assert first["data-key"] == "country:PL" and "on" in first["class"]
    assert parse_qs(urlsplit(first["href"]).query) == {"q": ["russia"]}
    assert "selected" in first.get_text()


def test_active_filters_are_chips_with_a_remove_link_and_clear_all(client):
    soup = page(client, "/search?q=russia&country=RU&topic=international-relations"
                        "&from=2016-01-01&to=2018-12-31")
    chips = {chip.get_text(" ", strip=True): chip["href"] for chip in soup.select(".chips .chip")}
    assert set(chips) == {"Country: Russia ✕ (remove)",
                          "Topic: International relations ✕ (remove)",
                          "Dates: 2016-01-01 to 2018-12-31 ✕ (remove)"}
    dates_removed = parse_qs(urlsplit(chips["Dates: 2016-01-01 to 2018-12-31 ✕ (remove)"]).query)
    assert "from" not in dates_removed and dates_removed["country"] == ["RU"]
    assert soup.select_one(".clear-all")["href"] == "/search?q=russia"


def test_the_search_box_form_keeps_the_filters_and_works_without_javascript(client):
    soup = page(client, "/search?q=russia&country=RU&sort=date")
    form = soup.select_one("form[role=search]")
    assert form["method"] == "get" and form["action"] == "/search"
    hidden = {(i["name"], i["value"]) for i in form.select("input[type=hidden]")}
    assert hidden == {("country", "RU"), ("sort", "date")}


def test_empty_form_fields_are_not_filters(client):
    with_blanks = page(client, "/search?q=missile&from=&to=&sort=&country=")
    assert hit_ids(with_blanks) == hit_ids(page(client, "/search?q=missile"))


@pytest.mark.parametrize("query, reason", [
    ("from=2016-13-01", "`from` is not a date"),
    ("size=1000", "size must be from 1 to 100"),
    ("country=Atlantis", "unknown country"),
    ("cursor=nonsense", "invalid cursor"),
    ("page=x", "`page` is not a number"),
])
def test_a_bad_parameter_is_a_400_page_that_says_why(client, query, reason):
    response = client.get(f"/search?{query}", headers={"accept": "text/html"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert reason in BeautifulSoup(response.text, "html.parser").select_one(".error-message").text


def test_corrected_query_offers_the_words_as_typed(client):
    soup = page(client, "/search?q=kaliningard+missle")
    note = soup.select_one(".correction")
    assert "Showing results for kaliningrad missile" in note.get_text(" ", strip=True)
    as_typed = note.select_one("a")["href"]
    assert parse_qs(urlsplit(as_typed).query) == {"q": ["kaliningard missle"], "correct": ["false"]}
    assert hit_ids(page(client, as_typed)) == []


def test_no_results_offers_to_drop_each_filter(client):
    soup = page(client, "/search?q=missile&country=BR&topic=sports")
    offers = {a.get_text(" ", strip=True): a["href"] for a in soup.select(".no-results a")}
    assert offers == {
        "Search without country: Brazil": "/search?q=missile&topic=sports",
        "Search without topic: Sports": "/search?q=missile&country=BR",
        "Search without any filter": "/search?q=missile",
    }


def test_histogram_bars_link_to_their_interval_within_the_chosen_dates(client):
    soup = page(client, "/search?q=russia&from=2016-03-15")
    bars = soup.select("svg.histogram a")
    labels = [bar["aria-label"] for bar in bars]
    assert labels[0].startswith("2016: ") and len(bars) > 3
    first = parse_qs(urlsplit(bars[0]["href"]).query)
    assert first["from"] == ["2016-03-15"] and first["to"] == ["2016-12-31"]
    listed = [li.get_text(" ", strip=True) for li in soup.select(".buckets li")]
    assert [label.replace(": ", " ").replace(" events", "") for label in labels] == listed
    narrowed = api(client, "q=russia&from=2016-03-15&to=2016-12-31")
    assert labels[0] == f"2016: {narrowed['total']} events"


def test_older_and_newer_links_page_with_the_cursor(client):
    first = page(client, "/search?sort=-date")
    assert not first.select_one(".pager a[rel=prev]")
    older = first.select_one(".pager a[rel=next]")
    assert older.get_text(strip=True) == "Older →" and "cursor=" in older["href"]
    second = page(client, older["href"])
    assert hit_ids(second) == [h["id"] for h in
                               api(client, "sort=-date&size=40")["hits"][20:]]
    newer = second.select_one(".pager a[rel=prev]")
    assert newer.get_text(strip=True) == "← Newer"
    assert hit_ids(page(client, newer["href"])) == hit_ids(first)


def test_htmx_gets_the_results_fragment_and_history_restores_get_the_page(client):
    fragment = client.get("/search?q=russia", headers={"HX-Request": "true"})
    assert fragment.headers["vary"].startswith("HX-Request")
    assert "<html" not in fragment.text and 'id="results"' in fragment.text
    soup = BeautifulSoup(fragment.text, "html.parser")
    assert soup.select_one("#search-status")["hx-swap-oob"] == "true"
    assert soup.select_one("#search-state")["hx-swap-oob"] == "true"
    assert soup.title.get_text().startswith("russia")
    restore = client.get("/search?q=russia", headers={"HX-Request": "true",
                                                      "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text


def test_facet_long_tail_page_filters_by_a_word_prefix(client):
    soup = page(client, "/search/facets/entity?q=russia&prefix=vla")
    names = [a.select_one(".label").contents[0].strip()
             for a in soup.select("#more-entity-values a")]
    assert names and all(any(w.lower().startswith("vla") for w in n.split()) for n in names)
    tick = soup.select_one("#more-entity-values a")["href"]
    assert parse_qs(urlsplit(tick).query)["entity"] == [names[0]]
    assert client.get("/search/facets/date").status_code == 400


def test_related_fragment_lists_related_events_with_their_context(client):
    fragment = client.get(f"{SEED_PAGE}/related", headers={"HX-Request": "true"})
    items = BeautifulSoup(fragment.text, "html.parser").select("li")
    assert len(items) == 5 and all("Context:" in li.get_text() for li in items)
    related = client.get(f"/api/events/{SEED_ID}/related?size=5").json()["hits"]
    assert [li.a["href"].rsplit("/", 1)[-1] for li in items] == [hit["id"] for hit in related]
    without_js = client.get(f"{SEED_PAGE}/related", follow_redirects=False)
    assert without_js.status_code == 303 and without_js.headers["location"] == \
        f"{SEED_PAGE}#related"


# --- Safety and delivery -------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile_client(tmp_path_factory, nlp):
    from litestar.testing import TestClient

    from service.app import create_app
    from service.config import Settings

    dump = tmp_path_factory.mktemp("hostile") / "events.ndjson"
    event = Event(id="hostile", date=dt.date(2020, 1, 1),
                  headline='<script>alert(1)</script> "><img src=x onerror=alert(2)> in Paris',
                  story='</a><script>alert(3)</script>',
                  sources=[Source(name="<b>Evil</b>", url="javascript:alert(4)")])
    dump.write_bytes(msgspec.json.encode(event) + b"\n")
    data_dir = tmp_path_factory.mktemp("hostile-data")
    ingest([dump], data_dir, IngestOptions(nlp=nlp))
    with TestClient(app=create_app(Settings(data_dir=data_dir))) as test_client:
        yield test_client


@pytest.mark.parametrize("path", [
    "/search?q=paris", "/search?q=%3Cscript%3Ealert(5)%3C/script%3E%22%3E",
    "/search?story=%3C/a%3E%3Cscript%3Ealert(3)%3C/script%3E", "/news/2020/01/01/hostile",
    "/news/2020/01/01/", "/search/facets/source?prefix=%3Cb", "/search.atom?q=paris",
])
def test_hostile_text_is_escaped_everywhere(hostile_client, path):
    response = hostile_client.get(path, headers={"accept": "text/html"})
    assert response.status_code in (200, 404)
    text = response.text
    assert "alert(" in text or "Evil" in text  # the hostile event is on the page, escaped
    assert "<script>alert" not in text and "<img src=x" not in text and "<b>Evil" not in text
    assert "javascript:" not in text  # a source's javascript: URL is never a link
    if "html" in response.headers["content-type"]:
        soup = BeautifulSoup(text, "html.parser")
        assert all(tag.get("src") for tag in soup.select("script"))  # no inline script
        assert not soup.select("[onerror], [onclick], [style]")


def test_pages_send_a_content_security_policy_without_inline_scripts(client):
    response = client.get("/search?q=russia")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    soup = BeautifulSoup(response.text, "html.parser")
    assert all(script["src"].startswith("/static/") for script in soup.select("script"))
    external = [tag.get("src") or tag.get("href") for tag in soup.select("script, link")
                if (tag.get("src") or tag.get("href") or "").startswith(("http", "//"))]
    assert external == []  # nothing is fetched from anywhere else


def test_static_files_have_content_hashed_names_and_are_cached_for_a_year(client):
    soup = page(client, "/search")
    for url in [soup.select_one("link[rel=stylesheet]")["href"],
                *(script["src"] for script in soup.select("script"))]:
        response = client.get(url)
        assert response.status_code == 200
        digest = hashlib.sha256(response.content).hexdigest()[:12]
        assert url.rsplit(".", 2)[1] == digest
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/static/app.000000000000.css").status_code == 404


def test_vendored_htmx_is_the_recorded_release():
    htmx = REPO / "service" / "web" / "static" / "vendor" / "htmx-2.0.11.min.js"
    digest = hashlib.sha256(htmx.read_bytes()).hexdigest()
    assert digest == "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
    assert digest in (htmx.parent / "README.md").read_text()
    assert ASSETS.url("vendor/htmx-2.0.11.min.js").startswith("/static/vendor/htmx-2.0.11.min.")


def test_responses_are_gzip_compressed(client):
    response = client.get("/search?q=russia", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["vary"] and "HX-Request" in response.headers["vary"]


def test_unknown_paths_get_a_page_for_browsers_and_json_for_api_clients(client):
    browser = client.get("/no/such/page", headers={"accept": "text/html"})
    assert browser.status_code == 404 and "<h1>Not found</h1>" in browser.text
    api_client = client.get("/api/nothing")
    assert api_client.status_code == 404 and api_client.json()["status_code"] == 404


# --- The archive's own pages ---------------------------------------------------------------

def test_event_page_has_the_seed_page_sections(client):
    soup = page(client, SEED_PAGE)
    formats = {a.get_text(): a["href"] for a in soup.select(".formats a")}
    assert formats["JSON"] == f"{SEED_PAGE}.json" and formats["XML"] == f"{SEED_PAGE}.xml"
    assert formats["Markdown"] == f"{SEED_PAGE}.md" and formats["HTML"] == f"{SEED_PAGE}.html"
    assert soup.select_one(".event-day a")["href"] == "/news/2016/11/21/"
    assert soup.select_one(".story-heading").get_text(strip=True) == "NATO-Russia relations"
    assert soup.h1.get_text().startswith("Russia deploys its S-400 missile system")
    sources = [a.get_text() for a in soup.select("section[aria-labelledby=sources] a")]
    assert sources == ["Reuters via Trust", "Cover Image"]
    versions = [li.get_text(" ", strip=True) for li in soup.select(".versions li")]
    assert len(versions) == 2 and versions[0].endswith("2018-02-06 13:49:29 (First version)")
    assert versions[1].endswith("(Current version)")
    related = soup.select("section[aria-labelledby=related] .related-list")
    source_listed = related[0].select("li")
    assert len(source_listed) == 5
    assert "Context: NATO, Russia, United States" in source_listed[0].get_text()
    assert related[1].select("li") and all("Context:" in li.get_text()
                                           for li in related[1].select("li"))
    labels = {a["href"] for a in soup.select(".labels a")}
    assert {"/search?country=RU", "/search?topic=international-relations",
            "/search?entity=NATO"} <= labels


@pytest.mark.parametrize("path", [
    f"/news/2016/11/21/{OLD_SLUG}",  # an earlier version's slug
    f"/news/2016/11/21/{OLD_SLUG}.md",
    f"/news/2016/1/5/{SEED_ID}",  # another (unpadded) day
    f"/events/{SEED_ID}",
])
def test_other_paths_to_an_event_answer_301_with_its_page(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 301
    expected = SEED_PAGE + (".md" if path.endswith(".md") else "")
    assert urlsplit(response.headers["location"]).path == expected


def test_unknown_event_and_impossible_day_are_404_pages(client):
    assert client.get("/news/2016/11/21/no-such-event").status_code == 404
    assert client.get("/news/2016/02/30/").status_code == 404


@pytest.mark.parametrize("extension, media_type", [
    ("json", "application/json"), ("xml", "application/xml"), ("md", "text/markdown")])
def test_event_page_formats_have_their_media_types(client, extension, media_type):
    response = client.get(f"{SEED_PAGE}.{extension}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)


def test_exported_pages_reindex_to_the_same_events(client, nlp, tmp_path):
    """Every sample event as .json, .xml and .md, fetched over HTTP and indexed again, gives
    back every event field by field."""
    originals = {event.id: event for event in _events(_data_dir(client))}
    assert len(originals) == 4646
    for extension in ("json", "xml", "md"):
        dump = tmp_path / f"export-{extension}"
        for event in originals.values():
            path = f"/news/{event.date:%Y/%m/%d}/{event.id}.{extension}"
            response = client.get(path)
            assert response.status_code == 200, path
            target = dump / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(response.content)
        # The labels come from the session index's cache: the headlines come back unchanged.
        (tmp_path / f"data-{extension}").mkdir()
        shutil.copy(_data_dir(client) / CACHE_FILE, tmp_path / f"data-{extension}" / CACHE_FILE)
        summary = ingest([dump], tmp_path / f"data-{extension}", IngestOptions(nlp=nlp))
        assert summary.read == summary.indexed == 4646 and not summary.rejected
        again = {event.id: event for event in _events(tmp_path / f"data-{extension}")}
        for event_id, event in originals.items():
            assert _comparable(again[event_id]) == _comparable(event), (extension, event_id)


def _data_dir(client) -> Path:
    return client.app.state.settings.data_dir


def _events(data_dir: Path) -> list[Event]:
    return list(EventIndex.open(data_dir).matching_events(SearchRequest()))


def _comparable(event: Event) -> dict:
    fields = msgspec.to_builtins(event)
    fields.pop("source_format", None)
    fields.pop("source_path", None)
    return fields


def test_day_page_lists_the_days_events_under_their_topics(client):
    soup = page(client, "/news/2016/11/21/")
    sections = {section.h2.get_text(): section for section in soup.select(".portal-topic")}
    assert "International relations" in sections
    story = sections["International relations"].select_one(".story")
    assert story.get_text() == "NATO-Russia relations"
    assert story.find_next("ul").select_one(f'a[href="{SEED_PAGE}"]')
    day = api(client, "from=2016-11-21&to=2016-11-21&size=100")
    listed = {a["href"].rsplit("/", 1)[-1] for a in soup.select(".portal-topic a[href^='/news/']")}
    assert listed == {hit["id"] for hit in day["hits"]}
    nav = soup.select_one(".day-nav")
    assert nav.select_one("a[rel=prev]") and nav.select_one("a[rel=next]")
    markdown = client.get("/news/2016/11/21/index.md").text
    assert markdown.startswith("### [2016-11-21](/news/2016/11/21/index.md)")
    assert f"]({SEED_PAGE}.md)" in markdown and "#### International relations" in markdown


def test_month_page_counts_every_day_with_events(client):
    soup = page(client, "/news/2016/11/")
    counts = [int(span.get_text().split()[0]) for span in soup.select(".calendar-list .count")]
    assert sum(counts) == api(client, "from=2016-11-01&to=2016-11-30")["total"]
    assert soup.select_one('a[href="/news/2016/11/21/"]')


def test_year_and_years_pages_count_every_event(client):
    years = page(client, "/news/")
    counts = {a.get_text(): int(a.find_next("span").get_text().split()[0].replace(",", ""))
              for a in years.select(".calendar-list a")}
    assert sum(counts.values()) == api(client, "")["total"] and "2016" in counts
    year = page(client, "/news/2016/")
    months = [int(span.get_text().split()[0]) for span in year.select(".calendar-list .count")]
    assert sum(months) == counts["2016"]
    assert year.select_one('.day-nav a[rel=prev]')["href"] == "/news/2015/"
    assert year.select_one('.day-nav a[rel=next]')["href"] == "/news/2017/"


# --- Feeds and downloads --------------------------------------------------------------------

def test_every_search_has_an_atom_feed_newest_first(client):
    response = client.get("/search.atom?q=russia&country=RU")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    dates = [entry.updated for entry in feed.entries]
    assert dates == sorted(dates, reverse=True)
    newest = api(client, "q=russia&country=RU&sort=-date&size=50")
    assert [entry.link.rsplit("/", 1)[-1] for entry in feed.entries] == \
        [hit["id"] for hit in newest["hits"]]
    assert page(client, "/search?q=russia").select_one(
        "link[type='application/atom+xml']")["href"] == "/search.atom?q=russia"


def test_csv_and_ndjson_downloads_hold_every_matching_event(client, nlp, tmp_path):
    total = api(client, "q=president")["total"]
    rows = client.get("/search.csv?q=president").text.splitlines()
    assert rows[0].startswith("id,date,headline") and len(rows) == total + 1
    ndjson = client.get("/search.ndjson?q=president")
    assert ndjson.headers["content-disposition"] == 'attachment; filename="events.ndjson"'
    assert len(ndjson.content.splitlines()) == total
    export = tmp_path / "export.ndjson"
    export.write_bytes(ndjson.content)
    summary = ingest([export], tmp_path / "data", IngestOptions(nlp=nlp))
    assert summary.indexed == total and not summary.rejected


def test_downloads_stream_in_constant_memory(tmp_path):
    """100,000 matching events stream through in batches: Python's memory peaks at a few
    megabytes, where holding them all would take a hundred times more."""
    from indexer.index import storage
    from indexer.index.writer import EventWriter

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    name, index = storage.new_generation(data_dir)
    day = dt.date(2020, 1, 1)
    with EventWriter(index, heap_size=200_000_000, threads=1) as writer:
        writer.upsert(Event(id=f"event-{n}", date=day + dt.timedelta(n % 900),
                            headline=f"Headline number {n} about a storm in the port",
                            countries=["FR"], topics=["disasters-accidents"])
                      for n in range(100_000))
    storage.publish(data_dir, name)
    events = EventIndex.open(data_dir)
    tracemalloc.start()
    try:
        rows = sum(chunk.count("\n") for chunk in _csv_lines(
            events.matching_events(SearchRequest(text="storm")), "http://x"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 100_001
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB"


def test_opensearch_description_points_at_the_search_page(client):
    response = client.get("/opensearch.xml")
    assert response.headers["content-type"].startswith("application/opensearchdescription+xml")
    assert "/search?q={searchTerms}" in response.text
    assert page(client, "/").select_one("link[rel=search]")["href"] == "/opensearch.xml"
    suggestions = client.get("/opensearch/suggestions?q=pu").json()
    assert suggestions[0] == "pu" and "Vladimir Putin" in suggestions[1]


def test_gzip_of_a_results_page_is_small(client):
    raw = client.get("/search?q=russia", headers={"accept-encoding": "identity"}).content
    assert len(gzip.compress(raw)) < 30_000
