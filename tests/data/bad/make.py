"""Build the corpus of broken dumps (issue 14) into a directory, deterministically.

    python tests/data/bad/make.py OUT

writes OUT/dump/ (what `eventsearch index` is given: every broken input, each beside good
records) and OUT/outside/ (files the dump links to or names as XML entities: nothing of
them may be read). What each input must give is in expected.json beside this script; the
large inputs (a 10 MB headline, the bombs) are made here rather than kept in git.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import sys
import tarfile
import zipfile
from pathlib import Path

MARKERS = {
    "symlink": "quokkasymlinkmarker",
    "hardlink": "quokkahardlinkmarker",
    "tar-link": "quokkatarlinkmarker",
    "xxe": "quokkaxxemarker",
}
"""Words that appear only in files outside the dump: finding one indexed or reported means
a guard let the reader out of the dump."""

BOMB_INFLATED = 1024 * 1024 * 1024
"""What the gzip bomb inflates to: 1 GiB from a few KB on disk (gzip inside gzip)."""

ZIP_BOMB_INFLATED = 200 * 1024 * 1024
"""What the zip bomb's member inflates to (about 200 KB on disk)."""

HUGE_HEADLINE_CHARS = 10 * 1024 * 1024


def page_md(headline: str, day: str = "2016-11-21") -> str:
    year, month, dd = day.split("-")
    return f"### [{day}](/news/{year}/{month}/{dd}/index.md)\n# {headline}\n"


def page_json(slug: str, headline: str, day: str = "2016-11-21") -> str:
    return json.dumps({"date": day, "slug": slug, "headline": headline})


def page_xml(slug: str, headline: str, day: str = "2016-11-21") -> str:
    return f'<event date="{day}" slug="{slug}"><headline>{headline}</headline></event>'


def line(event_id: str, headline: str, day: str | None = "2016-11-21") -> str:
    event = {"id": event_id, "headline": headline} | ({"date": day} if day else {})
    return json.dumps(event) + "\n"


def build(out: Path) -> Path:
    """Write the corpus under `out`; returns the dump directory."""
    dump, outside = out / "dump", out / "outside"
    for folder in (dump, outside):
        folder.mkdir(parents=True)
    _outside_files(outside)
    _archives(dump / "archives")
    _bombs(dump / "bombs")
    _links(dump / "links", outside)
    _encodings(dump / "encoding")
    _headlines(dump / "headlines")
    _dates(dump / "dates")
    _duplicates(dump / "duplicates")
    _broken(dump / "broken")
    _nesting(dump / "nesting")
    _xml_entities(dump / "xml", outside)
    return dump


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _outside_files(outside: Path) -> None:
    _write(outside / "secret.md", page_md(f"Linked page {MARKERS['symlink']}"))
    _write(outside / "secret-hard.md", page_md(f"Hard-linked page {MARKERS['hardlink']}"))
    _write(outside / "secret-tar.md", page_md(f"Tar-linked page {MARKERS['tar-link']}"))
    _write(outside / "xxe-target.txt", MARKERS["xxe"])


def _archives(folder: Path) -> None:
    good = line("gzip-good", "A bridge reopens after repairs in Lisbon.")
    whole = gzip.compress((good + line("gzip-cut", "The cut record.") * 200).encode(), mtime=0)
    _write(folder / "truncated.ndjson.gz", whole[: len(whole) // 2])
    _write(folder / "good.ndjson.gz", gzip.compress(good.encode(), mtime=0))

    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as archive:
        _add(archive, "news/2016/11/21/tar-good.md", page_md("A ferry resumes service to Capri."))
        _add(archive, "news/2016/11/21/tar-cut.md", page_md("The cut page. " + "x" * 20_000))
    data = tar.getvalue()
    _write(folder / "truncated.tar", data[:1536 + 2048])  # the first member whole, then 2 KB

    with zipfile.ZipFile(folder / "paths.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("news/2016/11/21/zip-good.md", page_md("A museum opens in Porto."))
        archive.writestr("../escape.md", page_md("A page that climbs out of the zip."))
        archive.writestr("/tmp/escape-absolute.md", page_md("A page with an absolute path."))


def _add(archive: tarfile.TarFile, name: str, text: str) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(text.encode()), 0
    archive.addfile(info, io.BytesIO(text.encode()))


def _bombs(folder: Path) -> None:
    # Concatenated gzip members read as one stream: 64 copies of 16 MiB of spaces after a
    # page's heading, gzipped again, are a few KB that inflate to 1 GiB (and whole pages
    # are read into memory, so without a limit the reader would hold it all).
    chunk = gzip.compress(b" " * (16 * 1024 * 1024), mtime=0)
    inner = gzip.compress(page_md("A bomb").encode(), mtime=0) + chunk * (BOMB_INFLATED // 2**24)
    _write(folder / "bomb.md.gz", gzip.compress(inner, mtime=0))
    with zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("news/2016/11/21/zip-bomb.md", page_md("A zip bomb") + " " * ZIP_BOMB_INFLATED)
        zf.writestr("news/2016/11/21/zip-bomb-neighbour.md", page_md("A zoo welcomes a panda."))


def _links(folder: Path, outside: Path) -> None:
    folder.mkdir(parents=True)
    _write(folder / "links-good.md", page_md("A library lends its millionth book."))
    os.symlink(os.path.relpath(outside / "secret.md", folder), folder / "symlink-out.md")
    os.link(outside / "secret-hard.md", folder / "hardlink-out.md")
    with tarfile.open(folder / "links.tar", "w") as archive:
        symlink = tarfile.TarInfo("news/2016/11/21/tar-symlink.md")
        symlink.type, symlink.linkname = tarfile.SYMTYPE, str(outside / "secret-tar.md")
        archive.addfile(symlink)
        hardlink = tarfile.TarInfo("news/2016/11/21/tar-hardlink.md")
        hardlink.type, hardlink.linkname = tarfile.LNKTYPE, str(outside / "secret-tar.md")
        archive.addfile(hardlink)
        _add(archive, "news/2016/11/21/tar-link-neighbour.md", page_md("A choir sings in Riga."))
    with zipfile.ZipFile(folder / "links.zip", "w") as archive:
        info = zipfile.ZipInfo("news/2016/11/21/zip-symlink.md")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, str(outside / "secret-tar.md"))


def _encodings(folder: Path) -> None:
    _write(folder / "invalid-utf8.md", page_md("Bad bytes \xff here").encode("latin-1"))
    _write(folder / "invalid-utf8.ndjson",
           line("utf8-good", "A harbour festival opens in Gdansk.").encode()
           + b'{"id": "utf8-bad", "date": "2016-11-21", "headline": "Bad \xfe byte"}\n')
    _write(folder / "utf16-bom.md", page_md("A tram line opens in Krakow.").encode("utf-16"))
    _write(folder / "utf16-no-bom.md", page_md("A page in bare UTF-16.").encode("utf-16-le"))
    _write(folder / "utf8-bom.json",
           b"\xef\xbb\xbf" + page_json("utf8-bom", "A cable car opens in Tbilisi.").encode())


def _headlines(folder: Path) -> None:
    huge = "Word " * (HUGE_HEADLINE_CHARS // 5)
    _write(folder / "huge-headline.md", page_md(huge))
    _write(folder / "huge-headline.ndjson",
           line("huge-headline", huge) + line("headline-good", "A comet is seen over Chile."))
    _write(folder / "empty-headline.json", page_json("empty-headline", ""))
    _write(folder / "whitespace-headline.md", page_md(" \t "))
    _write(folder / "blank-headlines.ndjson",
           line("empty-line-headline", "") + line("whitespace-line-headline", " \t\u3000 "))


def _dates(folder: Path) -> None:
    _write(folder / "dates.ndjson", "".join([
        line("no-date", "An event without a date.", day=None),
        line("feb-30", "An event on 30 February.", day="2016-02-30"),
        line("year-0", "An event in year 0.", day="0000-01-01"),
        line("year-99999", "An event in year 99999.", day="99999-01-01"),
        line("dates-good", "A glacier retreats in Iceland.", day="2016-02-29"),
    ]))
    _write(folder / "feb-30.json", page_json("feb-30-page", "A page on 30 February.", "2016-02-30"))
    _write(folder / "year-0.xml", page_xml("year-0-page", "A page in year 0.", "0000-01-01"))
    _write(folder / "missing-date.json", json.dumps({"slug": "no-date-page", "headline": "x"}))
    _write(folder / "year-99999.md", "### [99999-01-01](/x)\n# A page in year 99999.\n")


def _duplicates(folder: Path) -> None:
    # One id, two contents: the first record wins the fold (same precedence otherwise).
    _write(folder / "duplicates.ndjson",
           line("duplicate", "A vineyard wins a prize in Tokaj.")
           + line("duplicate", "A different text under the same id."))


def _broken(folder: Path) -> None:
    _write(folder / "broken.json", page_json("broken-json", "A cut JSON page.")[:-10])
    _write(folder / "broken.xml", '<event date="2016-11-21" slug="broken-xml"><headline>A cut')
    # Markdown has no syntax to break: a heading that is no date, and no dated path either.
    _write(folder / "broken.md", "### [21 November 2016](nowhere)\n# A page with no usable date\n")
    _write(folder / "broken-good.xml", page_xml("xml-good", "A lighthouse is restored in Brest."))


def _nesting(folder: Path) -> None:
    depth = 10_000
    deep_json = "[" * depth + "]" * depth
    _write(folder / "deep.json",
           '{"date": "2016-11-21", "slug": "deep-json",\n "headline": "x", "extra": '
           + deep_json + "}")
    _write(folder / "deep.ndjson",
           line("nesting-good", "A mountain hut reopens in the Tatras.")
           + '{"id": "deep-line", "date": "2016-11-21", "headline": "x", "extra": '
           + deep_json + "}\n")
    _write(folder / "deep.xml", '<event date="2016-11-21" slug="deep-xml"><headline>x</headline>'
           + "<a>" * depth + "</a>" * depth + "</event>")


def _xml_entities(folder: Path, outside: Path) -> None:
    laughs = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{n} "{("&lol" + str(n - 1 if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10)
    ]
    _write(folder / "billion-laughs.xml",
           '<?xml version="1.0"?>\n<!DOCTYPE event [' + "".join(laughs) + ']>\n'
           + page_xml("billion-laughs", "&lol9;"))
    target = (outside / "xxe-target.txt").as_uri()
    _write(folder / "xxe.xml",
           f'<?xml version="1.0"?>\n<!DOCTYPE event [<!ENTITY xxe SYSTEM "{target}">]>\n'
           + page_xml("xxe", "&xxe;"))
    # The same external entity in UTF-16: a byte search for "<!DOCTYPE" does not see it.
    _write(folder / "xxe-utf16.xml",
           (f'<!DOCTYPE event [<!ENTITY xxe SYSTEM "{target}">]>'
            + page_xml("xxe-utf16", "&xxe;")).encode("utf-16"))


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
