"""Helpers shared by the three event-page readers (Markdown, JSON, XML): slugs, dates and
topics."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import unquote

from indexer.record import TOPIC_LABELS

_NEWS_PATH = re.compile(
    r"/news/(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})/"
    r"(?P<slug>[^/?#]+?)(?:\.\w+)?(?:[?#].*)?$"
)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PAGE_EXTENSIONS = (".gz", ".md", ".json", ".xml", ".html", ".txt")


_TOPIC_OF_NAME = {name.casefold(): slug for slug, name in TOPIC_LABELS.items()}
_TOPIC_OF_NAME.update({slug: slug for slug in TOPIC_LABELS})


class PageError(ValueError):
    """A page that cannot become an Event; the message is the one-line reason."""


def slug_of(value: str) -> str:
    """The slug named by a slug or by a page path such as `/news/2016/11/21/<slug>.md`."""
    if "/" not in value:
        return value.strip()
    # A path is a URL: a slug with characters a URL cannot carry is percent-encoded.
    match = _NEWS_PATH.search(value.strip())
    if match:
        return unquote(match.group("slug"))
    return unquote(_strip_extensions(value.rstrip("/").rsplit("/", 1)[-1]))


def date_of_path(value: str) -> dt.date | None:
    """The day in a `/news/YYYY/M/D/` path (days and months may lack a leading zero)."""
    match = _NEWS_PATH.search(value)
    if not match:
        return None
    try:
        return dt.date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        return None


def parse_date(value: str) -> dt.date:
    """A YYYY-MM-DD day, or PageError saying what was wrong with it."""
    # The pattern first: Python 3.11's fromisoformat also takes "20161121" and "2016-W47-1".
    if _ISO_DAY.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PageError(f"bad date {value.strip()!r}, expected YYYY-MM-DD")


def file_stem(location: str) -> str:
    """The file name of a location without its page extensions (`a.tgz!x/y.md` -> `y`)."""
    name = location.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1]
    return _strip_extensions(name)


def _strip_extensions(name: str) -> str:
    # A page may be compressed on its own: "<slug>.md.gz" names the slug too.
    for extension in _PAGE_EXTENSIONS:
        name = name.removesuffix(extension)
    return name


def topics_of(names: list[str]) -> list[str]:
    """Topic slugs for a page's topics, written as the Portal's section labels ("Armed conflicts
    and attacks"); a slug ("armed-conflicts") or another case is read too. An unknown name is
    dropped, not fatal: with no topics left, the enricher decides them."""
    slugs = (_TOPIC_OF_NAME.get(" ".join(name.split()).casefold()) for name in names)
    return list(dict.fromkeys(slug for slug in slugs if slug))
