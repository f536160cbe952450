"""The pages in a real browser: Debian's Chromium driven by Playwright, against
`eventsearch serve` on a loopback port (the sample index). What a person does and sees:
typing, picking, ticking, paging, Back and Forward, with JavaScript and without; and
axe-core's accessibility rules on every kind of page.

Screenshots of the main states go to test-results/screenshots/ (not committed).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from indexer.ingest import IngestOptions, ingest
from service.search.engine import EventIndex
from service.search.query import SearchRequest
from tests.conftest import REPO, SEED_ID

SCREENSHOTS = REPO / "test-results" / "screenshots"
SEED_PAGE = f"/news/2016/11/21/{SEED_ID}"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Debian's Chromium, not one Playwright downloads; no calls home on a closed network.
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", "--disable-sync"]}


def api(server_url: str, query: str) -> dict:
    return httpx.get(f"{server_url}/api/search?{query}").json()


def hit_ids(page: Page) -> list[str]:
    return [href.rsplit("/", 1)[-1] for href in
            page.locator("#hits .headline a").evaluate_all("links => links.map(a => a.href)")]


def shown_total(page: Page) -> int:
    return int(page.locator("#search-status strong").inner_text().replace(",", ""))


def query_of(page: Page) -> str:
    return urlsplit(page.url).query


def matches_api(page: Page, server_url: str) -> dict:
    """The page shows what the API answers for its own query string (at its page size)."""
    body = api(server_url, query_of(page) + "&size=20")
    expect(page.locator("#search-status strong")).to_have_text(f"{body['total']:,}")
    assert hit_ids(page) == [hit["id"] for hit in body["hits"]]
    for facet in ("country", "topic"):
        for value in body["facets"][facet]:
            count = page.locator(f'a[data-key="{facet}:{value["value"]}"] .count')
            expect(count).to_have_text(f"{value['count']:,}")
    return body


def tick(page: Page, key: str) -> None:
    """Tick (or untick) a facet value and wait for the results it leads to."""
    link = page.locator(f'a[data-key="{key}"]')
    ticked = "on" in (link.get_attribute("class") or "")
    link.click()
    expect(page.locator(f'a[data-key="{key}"]')).to_have_class(
        re.compile(r"\bon\b") if not ticked else re.compile(r"^value$"))


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000


# --- With JavaScript -------------------------------------------------------------------------

def test_pick_a_suggestion_with_the_keyboard(page: Page, server_url):
    page.goto(f"{server_url}/search")
    box = page.get_by_role("combobox", name="Search events")
    listbox = page.get_by_role("listbox", name="Suggestions")
    box.press_sequentially("pu")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    options = listbox.get_by_role("option")
    expect(options.first).to_contain_text("Vladimir Putin")
    box.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", "q-option-0")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")
    box.press("ArrowUp")
    expect(box).to_have_attribute("aria-activedescendant", "q-option-0")
    expect(box).to_be_focused()  # focus stays in the box; the option is only active
    shoot(page, "suggestions-desktop")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"entity=Vladimir\+Putin"))
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("")
    expect(page.locator(".chips .chip")).to_contain_text("Name: Vladimir Putin")
    matches_api(page, server_url)


def test_escape_closes_the_suggestions_then_clears_the_box(page: Page, server_url):
    page.goto(f"{server_url}/search")
    box = page.get_by_role("combobox", name="Search events")
    box.press_sequentially("nat")
    expect(page.get_by_role("listbox")).to_be_visible()
    late = []  # the answer for the last letter is held until after Escape
    page.route("**/api/suggest?*q=nato*", lambda route: late.append(route))
    with page.expect_request("**/api/suggest?*q=nato*"):
        box.press("o")
    box.press("Escape")
    expect(page.get_by_role("listbox")).to_be_hidden()
    late[0].continue_()
    page.wait_for_timeout(300)
    expect(page.get_by_role("listbox")).to_be_hidden()  # a late answer does not reopen it
    expect(box).to_have_value("nato")
    box.press("Escape")
    expect(box).to_have_value("")


def test_a_word_suggestion_completes_the_text_and_searches(page: Page, server_url):
    page.goto(f"{server_url}/search")
    box = page.get_by_role("combobox", name="Search events")
    # Four landslides of the Portal's stories come first; the words fill the list after them.
    box.press_sequentially("landsli")
    expect(page.get_by_role("option").first).to_contain_text("landslide")
    option = page.get_by_role("option", name=re.compile(r"^landslide words"))
    expect(option).to_be_visible()
    option.click()
    expect(page).to_have_url(re.compile(r"q=landslide$"))
    matches_api(page, server_url)


def test_ticking_two_countries_updates_in_place_and_equals_the_api(page: Page, server_url):
    page.goto(f"{server_url}/search?q=russia")
    page.evaluate("window.sameDocument = true")
    tick(page, "country:RU")
    expect(page).to_have_url(re.compile(r"q=russia&country=RU$"))
    # Ukraine: listed among the ten countries "russia" matches most (Poland is not, any more).
    page.locator('a[data-key="country:UA"]').focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"country=RU&country=UA$"))
    expect(page.locator('a[data-key="country:UA"]')).to_have_class(re.compile(r"\bon\b"))
    body = matches_api(page, server_url)
    assert body["total"] > 0
    assert page.evaluate("window.sameDocument") is True  # htmx swapped; no page load
    expect(page.locator('a[data-key="country:UA"]')).to_be_focused()  # focus kept
    expect(page).to_have_title(re.compile(rf"^russia – {body['total']} events"))
    shoot(page, "two-countries-desktop")


def test_a_histogram_bar_narrows_to_its_interval(page: Page, server_url):
    page.goto(f"{server_url}/search?q=russia")
    bar = page.locator("svg.histogram a").nth(2)
    year, count = re.match(r"(\d{4}): (\d+) events", bar.get_attribute("aria-label")).groups()
    bar.click()
    expect(page).to_have_url(re.compile(rf"from={year}-01-01&to={year}-12-31"))
    expect(page.locator("#search-status strong")).to_have_text(count)
    matches_api(page, server_url)


def test_related_events_open_in_place_with_their_context(page: Page, server_url):
    page.goto(f"{server_url}/search?q=kaliningrad+s-400")
    toggle = page.locator("#hits .related-toggle").first
    expect(toggle).to_have_attribute("role", "button")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    panel = page.locator(f'[id="{toggle.get_attribute("aria-controls")}"]')
    items = panel.locator("li")
    expect(items.first).to_contain_text("Context:")
    related = httpx.get(f"{server_url}/api/events/{SEED_ID}/related?size=5").json()["hits"]
    assert [link.rsplit("/", 1)[-1] for link in items.locator("a").evaluate_all(
        "links => links.map(a => a.href)")] == [hit["id"] for hit in related]
    shoot(page, "related-desktop")
    toggle.press(" ")
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")


def test_older_and_newer_page_with_the_cursor(page: Page, server_url):
    page.goto(f"{server_url}/search?sort=-date")
    first = hit_ids(page)
    page.get_by_role("link", name=re.compile("Older")).click()
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(page.locator("#hits .headline a").first).not_to_have_attribute(
        "href", re.compile(re.escape(first[0]) + "$"))
    assert hit_ids(page) == [h["id"] for h in api(server_url, "sort=-date&size=40")["hits"][20:]]
    page.get_by_role("link", name=re.compile("Newer")).click()
    expect(page.locator("#hits .headline a").first).to_have_attribute(
        "href", re.compile(re.escape(first[0]) + "$"))
    assert hit_ids(page) == first


def test_choosing_an_order_sorts_at_once(page: Page, server_url):
    page.goto(f"{server_url}/search?q=election")
    expect(page.locator(".autosubmit-button")).to_be_hidden()  # JavaScript submits on change
    page.get_by_label("Sort").select_option("date")
    expect(page).to_have_url(re.compile(r"sort=date"))
    body = matches_api(page, server_url)
    dates = [hit["date"] for hit in body["hits"]]
    assert dates == sorted(dates)


def test_a_facets_long_tail_opens_in_place_and_filters_as_you_type(page: Page, server_url):
    page.goto(f"{server_url}/search")
    page.get_by_role("link", name="All names…").click()
    box = page.get_by_label("Filter names")
    expect(box).to_be_visible()
    box.press_sequentially("vla")
    values = page.locator("#more-entity-values a .label")
    expect(values.first).to_contain_text("Vladimir")
    expect(box).to_be_focused()
    names = values.evaluate_all("labels => labels.map(l => l.firstChild.textContent.trim())")
    assert names and all(any(w.lower().startswith("vla") for w in name.split()) for name in names)
    page.locator("#more-entity-values a").first.click()
    expect(page).to_have_url(re.compile(r"entity=Vladimir"))
    matches_api(page, server_url)


def test_reload_keeps_the_state(page: Page, server_url):
    page.goto(f"{server_url}/search?q=russia")
    tick(page, "country:UA")
    tick(page, "topic:armed-conflicts")
    before = (page.url, hit_ids(page), shown_total(page))
    page.reload()
    assert (page.url, hit_ids(page), shown_total(page)) == before
    matches_api(page, server_url)


def test_back_and_forward_restore_each_state(page: Page, server_url):
    page.goto(f"{server_url}/search?q=russia")
    states = [(page.url, hit_ids(page), set())]
    tick(page, "country:RU")
    states.append((page.url, hit_ids(page), {"country:RU"}))
    tick(page, "country:UA")
    states.append((page.url, hit_ids(page), {"country:RU", "country:UA"}))
    assert len({url for url, _, _ in states}) == 3

    def shows(state) -> None:
        url, ids, ticked = state
        expect(page).to_have_url(url)
        for key in ("country:RU", "country:UA"):  # the page, not only the URL, went back
            expect(page.locator(f'a[data-key="{key}"]')).to_have_class(
                re.compile(r"\bon\b") if key in ticked else re.compile(r"^value$"))
        assert hit_ids(page) == ids
        matches_api(page, server_url)

    page.go_back()
    shows(states[1])
    page.go_back()
    shows(states[0])
    page.go_forward()
    shows(states[1])


def test_narrow_screens_fold_the_filters_behind_a_show_n_events_button(page: Page, server_url):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{server_url}/search?q=russia")
    shoot(page, "results-360")
    filters = page.locator("details#filters")
    expect(page.locator("#facet-country")).to_be_hidden()
    page.get_by_text("Filters", exact=True).click()
    expect(page.locator("#facet-country")).to_be_visible()
    show = page.get_by_role("link", name=re.compile(r"^Show [\d,]+ events$"))
    expect(show).to_be_visible()
    shoot(page, "filters-360")
    show.click()
    expect(filters).not_to_have_attribute("open", "")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll


# --- Without JavaScript ---------------------------------------------------------------------

@pytest.fixture
def page_without_js(browser):
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def test_the_core_flow_works_without_javascript(page_without_js: Page, server_url):
    page = page_without_js
    page.goto(f"{server_url}/")
    page.get_by_label("Search events").fill("russia")
    page.get_by_label("Search events").press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=russia"))
    matches_api(page, server_url)
    page.locator('a[data-key="country:RU"]').click()
    expect(page).to_have_url(re.compile(r"q=russia&country=RU$"))
    matches_api(page, server_url)
    page.get_by_label("Sort").select_option("-date")
    page.get_by_role("button", name="Sort").click()
    expect(page).to_have_url(re.compile(r"sort=-date"))
    matches_api(page, server_url)
    page.get_by_label("From", exact=True).fill("2016-01-01")
    page.get_by_label("To", exact=True).fill("2018-12-31")
    page.get_by_role("button", name="Apply dates").click()
    expect(page).to_have_url(re.compile(r"from=2016-01-01&to=2018-12-31"))
    body = matches_api(page, server_url)
    assert all("2016" <= hit["date"][:4] <= "2018" for hit in body["hits"])
    shoot(page, "results-no-javascript")
    bar = page.locator("svg.histogram a").first
    month = re.match(r"(\d{4}-\d{2}): ", bar.get_attribute("aria-label")).group(1)
    bar.click()  # three years are shown by month
    expect(page).to_have_url(re.compile(rf"from={month}-01&to={month}-\d\d&"))
    matches_api(page, server_url)
    page.get_by_role("link", name=re.compile(r"\(remove\)$")).first.click()
    expect(page.locator(".chips .chip")).to_have_count(1)
    page.locator("#hits .related-toggle").first.click()  # the event page's Related section
    expect(page).to_have_url(re.compile(r"/news/\d{4}/\d{2}/\d{2}/.+#related$"))
    expect(page.locator("#related")).to_be_visible()


def test_paging_and_long_tails_work_without_javascript(page_without_js: Page, server_url):
    page = page_without_js
    page.goto(f"{server_url}/search?sort=-date")
    first = hit_ids(page)
    page.get_by_role("link", name=re.compile("Older")).click()
    expect(page).to_have_url(re.compile(r"cursor="))
    page.get_by_role("link", name=re.compile("Newer")).click()
    assert hit_ids(page) == first
    page.get_by_role("link", name="All names…").click()
    expect(page).to_have_url(re.compile(r"/search/facets/entity"))
    page.get_by_label("Filter names").fill("vla")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#more-entity-values a").first).to_contain_text("Vladimir")
    page.locator("#more-entity-values a").first.click()
    expect(page).to_have_url(re.compile(r"/search\?.*entity=Vladimir"))


# --- The archive's pages --------------------------------------------------------------------

def test_the_seed_event_page_and_its_formats(page: Page, server_url, nlp, tmp_path):
    page.goto(f"{server_url}{SEED_PAGE}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Russia deploys its S-400 missile system")
    versions = page.locator(".versions li")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("(First version)")
    expect(versions.last).to_contain_text("(Current version)")
    expect(page.locator("section[aria-labelledby=sources] li")).to_have_count(2)
    source_related = page.locator(".related-list").first.locator("li")
    expect(source_related).to_have_count(5)
    expect(source_related.first).to_contain_text("Context: NATO, Russia, United States")
    shoot(page, "event-desktop")
    stored = EventIndex.open(_sample_dir(server_url)).record(SEED_ID)
    for extension in ("json", "xml", "md"):
        link = page.get_by_role("link", name={"json": "JSON", "xml": "XML",
                                              "md": "Markdown"}[extension], exact=True)
        response = page.request.get(server_url + link.get_attribute("href"))
        dump = tmp_path / extension / f"page.{extension}"
        dump.parent.mkdir()
        dump.write_bytes(response.body())
        ingest([dump], tmp_path / f"data-{extension}", IngestOptions(nlp=nlp))
        (again,) = EventIndex.open(tmp_path / f"data-{extension}").matching_events(
            SearchRequest())
        for field in ("id", "date", "headline", "story", "topics", "countries", "entities",
                      "sources", "versions", "related"):
            assert getattr(again, field) == getattr(stored, field), (extension, field)


def _sample_dir(server_url: str):
    return httpx.get(f"{server_url}/health").json()["data_dir"]


def test_a_day_page_lists_the_days_events_under_their_topics(page: Page, server_url):
    page.goto(f"{server_url}/news/2016/11/21/")
    topic = page.get_by_role("region", name="International relations")
    expect(topic.get_by_role("link", name="NATO-Russia relations")).to_be_visible()
    expect(topic.locator(f'a[href="{SEED_PAGE}"]')).to_be_visible()
    shoot(page, "day-desktop")
    page.get_by_role("link", name=re.compile("→$")).click()
    expect(page).to_have_url(re.compile(r"/news/\d{4}/\d{2}/\d{2}/$"))


# --- Accessibility --------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", [
    "/search?q=russia&country=RU&from=2014-01-01", "/search?q=kaliningard", "/search?q=zzzzzz",
    SEED_PAGE, "/news/2016/11/21/", "/news/2016/11/", "/search/facets/entity?q=russia",
])
def test_pages_have_no_axe_violations(page: Page, server_url, path, scheme):
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{server_url}{path}")
    if path.startswith("/search?q=russia"):
        box = page.get_by_role("combobox", name="Search events")
        box.fill("")
        box.press_sequentially("ru")
        expect(page.get_by_role("option").first).to_contain_text("Russia")
        box.press("ArrowDown")  # axe sees the suggestions too, one of them active
        expect(page.get_by_role("option").first).to_have_attribute("aria-selected", "true")
    result = Axe().run(page)
    assert result.violations_count == 0, result.generate_report()


def test_narrow_pages_have_no_axe_violations(page: Page, server_url):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{server_url}/search?q=russia")
    page.get_by_text("Filters", exact=True).click()
    result = Axe().run(page)
    assert result.violations_count == 0, result.generate_report()


def test_screenshots_of_the_first_visit(page: Page, server_url):
    for width, name in ((1280, "home-desktop"), (360, "home-360")):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{server_url}/")
        shoot(page, name)
    page.goto(f"{server_url}/search?q=earthquake")
    shoot(page, "search-desktop")
    assert parse_qs(urlsplit(page.url).query) == {"q": ["earthquake"]}
