"""The Markdown event page reader, on the real seed page and on pages missing sections."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from indexer.readers import Rejected, Skipped, iter_records, read_dump
from indexer.record import Event

SEED = Path(__file__).parents[2] / "shared" / "seeds" / "000_09b32f0e179bd6a4.txt"
PAGES = Path(__file__).parent / "fixtures_readers" / "pages"
CURRENT_SLUG = (
    "russia-deploys-its-s-400-missile-system-in-kaliningrad-an-exclave-between-poland-"
    "and-lithuania-in-response-to-nato-expansion-near-its-bo"
)
FIRST_SLUG = (
    "nato-russia-relations-russia-deploys-its-s-400-missile-system-in-kaliningrad-an-exclave-"
    "between-poland-and-lithuania-in-response-to-na"
)
HEADLINE = (
    'Russia deploys its S-400 missile system in Kaliningrad, an exclave between Poland and '
    'Lithuania, in response to "NATO expansion" near its borders. The United States criticizes '
    'the move as "destabilizing" to Europe. Russia announced the planned deployment over a '
    "decade ago."
)


def _only_event(path: Path) -> Event:
    records = list(iter_records(path))
    assert len(records) == 1 and isinstance(records[0], Event), records
    return records[0]


def test_seed_page_header_sections_parse_exactly() -> None:
    event = _only_event(SEED)
    assert event.id == CURRENT_SLUG
    assert event.date == dt.date(2016, 11, 21)
    assert event.story == "NATO-Russia relations"
    assert event.headline == HEADLINE
    assert event.source_format == "page-md"
    assert event.source_path == str(SEED)


def test_seed_page_sources_have_names_and_urls() -> None:
    event = _only_event(SEED)
    assert [(s.name, s.url) for s in event.sources] == [
        ("Reuters via Trust", "http://news.trust.org/item/20161121202905-pka21"),
        (
            "Cover Image",
            "http://d2sh4fq2xsdeg9.cloudfront.net/contentAsset/image/a36604ed-bff7-40d6-aed1-"
            "f87bed09b369/image/byInode/1/filter/Resize,Jpeg/jpeg_q/70/resize_w/1100",
        ),
    ]


def test_seed_page_changes_give_versions_with_timestamp_and_current_flag() -> None:
    first, current = _only_event(SEED).versions
    assert first.slug == FIRST_SLUG
    assert first.timestamp == "2018-02-06 13:49:29"
    assert first.current is False
    assert first.headline == "NATO-Russia relations: " + HEADLINE
    assert current.slug == CURRENT_SLUG
    assert current.timestamp is None
    assert current.current is True
    assert current.headline == HEADLINE


def test_seed_page_id_is_current_slug_and_first_version_is_an_alias() -> None:
    event = _only_event(SEED)
    assert event.aliases == [FIRST_SLUG]


def test_seed_page_related_links_keep_context_tags_and_path_dates() -> None:
    related = _only_event(SEED).related
    assert [(r.date, r.context) for r in related] == [
        (dt.date(2017, 6, 16), ["NATO", "Russia", "United States"]),
        (dt.date(2017, 1, 12), ["NATO", "Polish", "Russia"]),
        (dt.date(2016, 10, 8), ["Lithuania", "Polish", "Russia"]),
        (dt.date(2016, 10, 26), ["NATO", "NATO-Russia relations", "Russia"]),
        (dt.date(2016, 7, 8), ["NATO", "Polish", "Russia"]),
    ]
    assert related[0].slug.startswith("the-united-states-senate-passed-by-an-overwhelming")
    assert related[0].headline.startswith("The United States Senate passed")
    assert related[0].headline.endswith("commitment to NATO.")


def test_seed_page_is_one_read_event() -> None:
    result = read_dump(SEED)
    assert (result.read, len(result.events), result.merged, result.rejected, result.skipped) == (
        1, 1, 0, [], 0,
    )


def test_page_with_only_a_headline_is_dated_by_its_path_and_named_by_its_file() -> None:
    page = PAGES / "news/2016/11/22/a-ferry-service-resumes-after-a-week-of-storms.md"
    event = _only_event(page)
    assert event.id == "a-ferry-service-resumes-after-a-week-of-storms"
    assert event.date == dt.date(2016, 11, 22)
    assert event.headline == "A ferry service resumes after a week of storms."
    assert (event.story, event.sources, event.versions, event.related) == (None, [], [], [])


def test_page_without_changes_takes_its_id_from_the_formats_links() -> None:
    event = _only_event(PAGES / "news/2016/11/22/a-new-bridge-opens-to-traffic.md")
    assert event.id == "a-new-bridge-opens-to-traffic"
    assert event.story is None and event.sources == [] and event.versions == []
    assert [(r.slug, r.date, r.context) for r in event.related] == [
        ("a-ferry-service-resumes-after-a-week-of-storms", dt.date(2016, 11, 22), []),
    ]


def test_day_pages_are_skipped_not_rejected() -> None:
    records = list(iter_records(PAGES))
    skipped = [r.location for r in records if isinstance(r, Skipped)]
    assert sorted(Path(s).name for s in skipped) == ["day-listing-without-headline.md", "index.md"]
    assert not [r for r in records if isinstance(r, Rejected)]
    result = read_dump(PAGES)
    assert (result.read, len(result.events), result.skipped) == (2, 2, 2)


def test_bad_day_heading_date_is_rejected_with_the_reason(tmp_path: Path) -> None:
    page = tmp_path / "bad-date.md"
    page.write_text("### [2016-13-45](/news/2016/13/45/index.md)\n\n# A headline.\n")
    assert list(iter_records(page)) == [
        Rejected(str(page), "bad date '2016-13-45', expected YYYY-MM-DD")
    ]


def test_page_with_no_date_anywhere_is_rejected(tmp_path: Path) -> None:
    page = tmp_path / "undated.md"
    page.write_text("# A headline with no date.\n")
    (rejected,) = iter_records(page)
    assert isinstance(rejected, Rejected) and rejected.reason.startswith("no date")
