"""The JSON and XML event page readers: the seed page in every format is one and the same Event."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import msgspec
import pytest

from indexer.readers import Rejected, iter_records, read_dump
from indexer.record import Event, Source
from indexer.writers import PAGE_FORMATS, write_page

SEED_MD = Path(__file__).parents[2] / "shared" / "seeds" / "000_09b32f0e179bd6a4.txt"
SEED_DIR = Path(__file__).parent / "fixtures_readers" / "seed"
SEED_JSON = next(SEED_DIR.glob("*.json"))
SEED_XML = next(SEED_DIR.glob("*.xml"))


def _only_event(path: Path) -> Event:
    records = list(iter_records(path))
    assert len(records) == 1 and isinstance(records[0], Event), records
    return records[0]


def _content(event: Event) -> Event:
    """The event without where and how it was read."""
    return msgspec.structs.replace(event, source_format="", source_path="")


def test_json_page_gives_the_same_event_as_the_markdown_page() -> None:
    event = _only_event(SEED_JSON)
    assert event.source_format == "page-json"
    assert _content(event) == _content(_only_event(SEED_MD))


def test_xml_page_gives_the_same_event_as_the_markdown_page() -> None:
    event = _only_event(SEED_XML)
    assert event.source_format == "page-xml"
    assert _content(event) == _content(_only_event(SEED_MD))


def test_seed_in_three_formats_folds_into_one_event(tmp_path: Path) -> None:
    day = tmp_path / "news/2016/11/21"
    day.mkdir(parents=True)
    slug = SEED_JSON.stem
    shutil.copy(SEED_MD, day / f"{slug}.md")
    shutil.copy(SEED_JSON, day / f"{slug}.json")
    shutil.copy(SEED_XML, day / f"{slug}.xml")
    result = read_dump(tmp_path)
    assert (result.read, len(result.events), result.merged, result.rejected) == (3, 1, 2, [])
    (event,) = result.events
    assert event.source_format == "page-json+page-md+page-xml"
    assert _content(event) == _content(_only_event(SEED_MD))


def test_json_page_may_name_its_slug_by_path_and_have_no_changes(tmp_path: Path) -> None:
    page = tmp_path / "page.json"
    page.write_text(
        '{"date": "2020-05-01", "path": "/news/2020/05/01/a-kite-festival-opens.md",'
        ' "headline": "A kite festival opens.", "colour": "ignored"}'
    )
    event = _only_event(page)
    assert (event.id, event.headline, event.versions) == (
        "a-kite-festival-opens", "A kite festival opens.", [],
    )


@pytest.mark.parametrize("extension", PAGE_FORMATS)
def test_written_pages_carry_topics_as_section_labels_and_read_back(
    tmp_path: Path, extension: str
) -> None:
    event = Event(id="a-kite-festival-opens", date=dt.date(2020, 5, 1),
                  headline="A kite festival opens.", story="Kites",
                  topics=["arts-culture", "sports"], sources=[Source("Kite Times", "http://k.t/1")])
    written = write_page(event, extension)
    assert b"Arts and culture" in written and b"arts-culture" not in written
    page = tmp_path / f"page.{extension}"
    page.write_bytes(written)
    read = _only_event(page)
    assert read.topics == ["arts-culture", "sports"]  # in order: the primary topic first
    assert _content(read) == event


@pytest.mark.parametrize(("extension", "topics"), [
    ("json", '"topics": ["Law and crime", "SPORTS", "armed-conflicts", "Gossip", "law-crime"],'),
    ("xml", ("<topics><topic>Law and  crime</topic><topic>SPORTS</topic>"
             "<topic>armed-conflicts</topic><topic>Gossip</topic><topic>law-crime</topic></topics>")),
    ("md", ("### Topics:\n\n1. Law and crime\n- SPORTS\n1. armed-conflicts\n1. Gossip\n"
            "1. law-crime\n")),
])
def test_page_topics_are_read_leniently(tmp_path: Path, extension: str, topics: str) -> None:
    """Labels in any case, slugs too; unknown labels and repeats are dropped."""
    pages = {
        "json": '{"date": "2020-05-01", %s "slug": "a-kite", "headline": "A kite."}',
        "xml": '<event date="2020-05-01" slug="a-kite"><headline>A kite.</headline>%s</event>',
        "md": "### [2020-05-01](/news/2020/05/01/index.md)\n# A kite.\n\n%s",
    }
    page = tmp_path / f"a-kite.{extension}"
    page.write_text(pages[extension] % topics)
    assert _only_event(page).topics == ["law-crime", "sports", "armed-conflicts"]
    page.write_text(pages[extension] % "")
    assert _only_event(page).topics == []  # none given: the enricher decides


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"date": "2020-05-01", "slug": "x"}', "Object missing required field `headline`"),
        ('{"date": "2020-05-01", "slug": "x", "headline": " "}', "missing headline"),
        ('{"date": "1 May 2020", "slug": "x", "headline": "H."}', "bad date '1 May 2020'"),
        ('{"date": "2020-05-01", "headline": "H."}', "no slug"),
        ('{\n  "date": "2020-05-01",\n  "slug": "x",\n', "invalid page JSON"),
    ],
)
def test_bad_json_page_is_rejected_with_a_precise_reason(
    tmp_path: Path, content: str, reason: str
) -> None:
    page = tmp_path / "page.json"
    page.write_text(content)
    (record,) = iter_records(page)
    assert isinstance(record, Rejected)
    assert record.location == str(page)
    assert reason in record.reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('<event date="2020-05-01" slug="x"><headline>H.</headline>', "unparseable XML"),
        ('<event date="2020-05-01" slug="x"><story>S</story></event>', "missing headline"),
        ('<event slug="x"><headline>H.</headline></event>', "missing date"),
        ('<event date="2020-5-1" slug="x"><headline>H.</headline></event>', "bad date '2020-5-1'"),
        (
            '<!DOCTYPE event [<!ENTITY a "aaaa">]><event date="2020-05-01" slug="x">'
            "<headline>&a;</headline></event>",
            "DOCTYPE",
        ),
    ],
)
def test_bad_xml_page_is_rejected_with_a_precise_reason(
    tmp_path: Path, content: str, reason: str
) -> None:
    page = tmp_path / "page.xml"
    page.write_text(content)
    (record,) = iter_records(page)
    assert isinstance(record, Rejected)
    assert record.location == str(page)
    assert reason in record.reason


def test_xml_with_another_root_is_rejected_as_unknown_format(tmp_path: Path) -> None:
    page = tmp_path / "page.xml"
    page.write_text('<?xml version="1.0"?>\n<html><body>Not an event</body></html>')
    assert list(iter_records(page)) == [
        Rejected(str(page), "unknown format: XML root <html>, expected <event>")
    ]
