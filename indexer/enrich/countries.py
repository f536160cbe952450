"""Countries named in a headline, as ISO 3166-1 alpha-2 codes (plus XK for Kosovo).

The spaCy component "eventsearch_countries" runs after "ner" and sets

    Doc._.countries   codes, unique, in order of first mention (None before it ran)
    Span._.country    on each entity it resolved, that entity's code (else None)

Public helpers, usable without a pipeline:

    country_name(code)               display name: "RU" -> "Russia"
    resolve_country(text, label)     one entity mention: ("U.S.", "GPE") -> "US"
    normalise_country(value)         a filter value: "ru", "Russia", "Russian Federation" -> "RU"

How a headline is resolved
--------------------------
1. Candidates: the longest gazetteer keys found in the token stream, left to right, over
   normalised token text (NFKC, invisible format characters such as a zero-width space
   dropped; "U.S." -> "us", "Guinea-Bissau" -> "guinea bissau", "S.Africa" -> "south
   africa"). A key that names no country ("EU", "Latin America", "Red Sea") consumes its
   words so that nothing inside it matches. A candidate must start with a capital letter
   ("congressional" excepted), and is dropped after "non-"/"un-" ("Non-English") or when
   a city or demonym opens a short quoted title ("'Tokyo Vice' renewed").
2. Each candidate is judged by the NER entity it overlaps (see `_accept`):
   - a postal abbreviation ("FL", "NSW"): in capitals in a headline not in capitals, and
     tagged GPE/LOC or followed by a cue ("FL law", "NSW police") and no English word;
   - a town (below `min_city_population`): only as a whole GPE/LOC entity, and no English
     word or common name ("Waukesha", "Ocala");
   - GPE/LOC: any kind of name counts (country, demonym, subdivision, city);
   - "named after" a city: a city opening an ORG/FAC/EVENT name or following "of"/"in" in
     it counts ("Houston Astros", "Beijing Olympics") unless it is an English word
     ("Mobile Telesystems"), a common first name or surname ("George Washington
     University"), followed by a common surname ("Paris Hilton"), shares its name with a
     town a tenth its size in another country ("Oxford High School"), or the name is a
     source attribution ("- The Moscow Times");
   - FAC: as ORG below, or a place name that is the whole entity;
   - NORP: country names, demonyms, institutions ("Antique" is no Philippine province);
   - ORG: country names, demonyms, institutions and subdivisions ("Philippine Army",
     "Congress of Guatemala", "Illinois State Police": a subdivision only at the start),
     cities only as "named after" above, or as the whole entity in a geographic headline
     ("Ottawa mayor declares emergency"); a subdivision opening the name or after "of"
     ("University of Rhode Island"), unless an English word ("Delta State University");
     an ORG that is only a subdivision's name needs a geographic headline ("Meta" is a
     company, not the Colombian department);
   - PERSON: never a person's name ("Michael Jordan", "Chad Johnson"), but an institution
     of several words is no name ("Trump White House"); a country word
     followed by a title inside the entity counts ("Kenyan President William Ruto"), and
     so do two country names in one ("Belarus Gives Russia Control", a title mislabelled); an
     entity that is exactly a country's name or demonym counts if it has several words
     ("Papua New Guinea", "Sri Lankan") or the headline is plainly geographic ("Jordan
     closes border with Syria"), and a capital likewise ("... visits Kyiv");
   - LANGUAGE: nothing ("speaks Russian");
   - any other label, or no entity: country names, demonyms and institutions count,
     except single words that are also first names or nouns ("Chad", "Turkey");
     subdivisions and cities count only as a whole entity of another label
     ("Kaliningrad" tagged PRODUCT), "named after" in an EVENT, or, for several words or a
     US state that is no word or name ("Florida"), with no entity at all.
     So "Reading", "Nice", "Mobile" as plain words give nothing.
3. Georgia: the country (GE) unless the headline has more US cues (another US place or
   institution, or words like "governor", "Senate", "Republicans", "county") than
   cues for anywhere else ("Tbilisi", "Georgian", "Russia"). With no cue: GE.
4. "Congress" (the only generic institution, with "Congressman" and "congressional")
   yields to a country naming it: "Congress of Guatemala", "Peruvian Congress" are not US.
5. A city followed by a comma and a place it also exists in takes that place's code:
   "Salamanca, Spain" is ES, not the bigger Mexican Salamanca.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import pycountry
from spacy.language import Language
from spacy.tokens import Doc, Span

from indexer.enrich import _gazetteer as gz
from indexer.enrich._gazetteer import GAZETTEER_VERSION, Entry, Gazetteer

__all__ = [
    "GAZETTEER_VERSION",
    "CountryResolver",
    "country_name",
    "normalise_country",
    "resolve_country",
]

Doc.set_extension("countries", default=None, force=True)
Span.set_extension("country", default=None, force=True)

_GEO_LABELS = {"GPE", "LOC", "FAC", "NORP"}
# Titles and bodies that follow a country word inside a mislabelled PERSON entity.
_TITLES = {"president", "prime", "pm", "premier", "minister", "foreign", "defence",
           "defense", "secretary", "chancellor", "king", "queen", "prince", "princess",
           "emir", "sultan", "ambassador", "envoy", "general", "gen", "leader", "official",
           "officials", "spokesman", "spokeswoman", "opposition", "army", "chief", "embassy",
           "consulate", "navy", "government", "ministry"}
# Words that make a headline geographic, so a lone country name tagged PERSON is a place.
_GEO_CUES = {"border", "borders", "embassy", "government", "troops", "army", "military",
             "coup", "junta", "parliament", "election", "elections", "ministry", "refugees",
             "capital", "sanctions", "invasion", "invades", "war", "ceasefire", "airspace",
             "province", "region", "visits", "country", "mayor", "emergency"}
_US_CUES = {"governor", "gov", "senate", "senator", "senators", "republican", "republicans",
            "democrat", "democrats", "gop", "county", "sheriff", "legislature", "runoff",
            "primary", "tech", "bulldogs", "statehouse", "trump", "biden", "fulton"}
_QUALIFIER_GAP = {"the", "s", "of", "in"}
# Words after a postal abbreviation that show it names a state ("FL law", "NSW police").
_ABBREVIATION_CUES = {"law", "laws", "police", "cops", "governor", "gov", "man", "woman",
                      "teen", "state", "senate", "senator", "legislature", "lawmakers",
                      "officials", "residents", "voters", "county", "counties", "city",
                      "cities", "sheriff", "school", "schools", "court", "judge", "premier",
                      "parliament", "government", "election", "primary", "health", "bill",
                      "ban", "beach", "beaches", "home", "homes", "department", "dept"}
# Prefixes that turn a demonym into no reference: "Non-English series", "un-American".
_NEGATING_PREFIXES = {"non", "un"}
_DASHES = {"-", "–", "—", "|"}
_QUOTES = {"'", "‘", "’", '"', "“", "”"}
_COMPASS = {"n": "north", "s": "south", "e": "east", "w": "west"}
_COMPASS_SHORT = re.compile(r"^([NSEW])\.([A-Z][a-z]+)$")  # "S.Africa", "N.Korea"


# --- matching ----------------------------------------------------------------------------


class _Ent(NamedTuple):
    start: int
    end: int
    label: str


class _Mention(NamedTuple):
    start: int
    end: int
    entry: Entry


@functools.lru_cache(maxsize=65536)
def _clean(text: str) -> str:
    """Token text without invisible format characters (a zero-width space before "Canada")."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


@functools.lru_cache(maxsize=65536)
def _norm(text: str) -> str:
    """Matching form of one token; "S.Africa" -> "south africa"."""
    short = _COMPASS_SHORT.match(text)
    if short:
        return f"{_COMPASS[short.group(1).lower()]} {gz.normalise(short.group(2))}"
    return gz.normalise(text)


_FIRST_WORDS: dict[str, frozenset[str]] = {}


def _first_words(gazetteer: Gazetteer) -> frozenset[str]:
    """First words of the gazetteer's keys, once per compiled gazetteer."""
    words = _FIRST_WORDS.get(gazetteer.fingerprint)
    if words is None:
        words = _FIRST_WORDS[gazetteer.fingerprint] = frozenset(
            key.split(" ", 1)[0] for key in gazetteer.entries)
    return words


def _candidates(norms: Sequence[str], gazetteer: Gazetteer) -> list[_Mention]:
    """Longest gazetteer keys in the token stream, leftmost first, not overlapping."""
    entries, max_tokens = gazetteer.entries, gazetteer.max_words + 4
    first_words = _first_words(gazetteer)
    out: list[_Mention] = []
    i, n = 0, len(norms)
    while i < n:
        # A key can only start at a token whose first word starts some key: most do not.
        if not norms[i] or norms[i] == "the" or norms[i].split(" ", 1)[0] not in first_words:
            i += 1
            continue
        for j in range(min(n, i + max_tokens), i, -1):
            if not norms[j - 1]:
                continue
            entry = entries.get(" ".join(w for w in norms[i:j] if w))
            if entry is not None:
                out.append(_Mention(i, j, entry))
                i = j
                break
        else:
            i += 1
    return out


def _resolve(texts: Sequence[str], ents: Sequence[_Ent],
             gazetteer: Gazetteer) -> list[tuple[_Mention, str]]:
    """Accepted (mention, code) pairs in text order."""
    texts = [_clean(t) for t in texts]
    norms = [_norm(t) for t in texts]
    mentions = _candidates(norms, gazetteer)
    label_of: list[_Ent | None] = [None] * len(texts)
    for ent in ents:
        for k in range(ent.start, ent.end):
            label_of[k] = ent
    words = set(norms)

    def overlapping(m: _Mention) -> list[_Ent]:
        seen: list[_Ent] = []
        for k in range(m.start, m.end):
            e = label_of[k]
            if e is not None and e not in seen:
                seen.append(e)
        return seen

    decided: dict[int, str] = {}
    deferred: list[int] = []
    for idx, m in enumerate(mentions):
        if m.entry.kind == gz.NONE or m.entry.code is None:
            continue
        if not texts[m.start][:1].isupper() and not m.entry.flags & gz.LOWERCASE:
            continue  # "china plates", "us"
        if len(norms[m.start]) <= 3 and m.end - m.start == 1 and not texts[m.start].isupper():
            continue  # "Fight for Us": a short form counts only in capitals (US, UK, DPRK)
        if _negated(m, texts, norms) or _title_of_work(m, texts, norms):
            continue
        if m.entry.alt or m.entry.flags & gz.QUALIFIABLE:
            deferred.append(idx)
        elif _accept(m, overlapping(m), texts, norms, ents, mentions, words, person_ok=False,
                     surnames=gazetteer.surnames):
            decided[idx] = m.entry.code
        else:
            deferred.append(idx)

    # Second pass: rules that look at the rest of the headline.
    for idx in deferred:
        m = mentions[idx]
        ents_here = overlapping(m)
        if not _accept(m, ents_here, texts, norms, ents, mentions, words, person_ok=True,
                       surnames=gazetteer.surnames,
                       others=decided):
            continue
        if m.entry.flags & gz.QUALIFIABLE and _qualified(m, mentions, decided, norms):
            continue
        code = m.entry.code
        if m.entry.alt:
            code = _georgia_rule(m, mentions, decided, words)
        decided[idx] = code
    _namesakes(mentions, decided, texts, norms, gazetteer)
    return [(mentions[i], decided[i]) for i in sorted(decided)]


def _negated(m: _Mention, texts: Sequence[str], norms: Sequence[str]) -> bool:
    """"Non-English series", "un-American": a prefix that makes it no reference."""
    return (m.start >= 2 and texts[m.start - 1] == "-"
            and norms[m.start - 2] in _NEGATING_PREFIXES)


def _title_of_work(m: _Mention, texts: Sequence[str], norms: Sequence[str]) -> bool:
    """A city or demonym opening a short quoted title: "'Tokyo Vice' renewed",
    "'American Idol' winner" (a country name in quotes stays: "'Ukraine Will Win'")."""
    if m.entry.kind in (gz.COUNTRY, gz.INSTITUTION, gz.NONE):
        return False
    if m.start == 0 or texts[m.start - 1] not in _QUOTES:
        return False
    for k in range(m.end, min(len(texts), m.end + 4)):
        if texts[k] in _QUOTES:
            return k > m.end  # more words than the place inside the quotes
        if not texts[k][:1].isupper():
            return False
    return False


def _namesakes(mentions: list[_Mention], decided: dict[int, str], texts: Sequence[str],
               norms: Sequence[str], gazetteer: Gazetteer) -> None:
    """"Salamanca, Spain": a place followed by a comma and a place it can be in takes that
    code rather than its bigger namesake's."""
    for idx in list(decided):
        m = mentions[idx]
        codes = gazetteer.places.get(" ".join(w for w in norms[m.start:m.end] if w))
        if not codes or m.end >= len(texts) or texts[m.end] != ",":
            continue
        nxt = next((i for i in decided if mentions[i].start == m.end + 1), None)
        if nxt is not None and decided[nxt] in codes:
            decided[idx] = decided[nxt]


def _accept(m: _Mention, ents_here: list[_Ent], texts: Sequence[str], norms: Sequence[str],
            ents: Sequence[_Ent], mentions: list[_Mention], words: set[str], *,
            person_ok: bool, others: dict[int, str] | None = None,
            surnames: frozenset[str] = frozenset()) -> bool:
    kind, flags = m.entry.kind, m.entry.flags
    labels = {e.label for e in ents_here}
    strong = kind in (gz.COUNTRY, gz.DEMONYM, gz.INSTITUTION)
    single = sum(1 for w in norms[m.start:m.end] if w) == 1
    exact = len(ents_here) == 1 and _covers(m, ents_here[0], norms)
    # "Delta", "Mobile", "Meta"; a capital is a name first ("Berlin Mosque").
    word = bool(flags & gz.COMMON_WORD) and not flags & gz.CAPITAL

    if flags & gz.ABBREVIATION:  # "FL", "NSW": in capitals, tagged a place or with a cue
        return (texts[m.start].isupper() and not _shouting(texts)
                and (bool(labels & {"GPE", "LOC"}) or (
                    not word and labels <= {"CARDINAL"} and m.end < len(norms)
                    and norms[m.end] in _ABBREVIATION_CUES)))
    if kind == gz.TOWN:  # "Waukesha": only what NER calls a place, and no English word
        return (bool(labels & {"GPE", "LOC"}) and exact
                and not flags & (gz.COMMON_WORD | gz.PERSON_NAME))
    if labels & {"GPE", "LOC"}:
        return True
    # A place that opens a name or follows "of" in it: "Houston Astros", "Atlanta Subway",
    # "University of Rhode Island"; not "Mobile Telesystems", "Delta State University".
    named = _named_after(m, ents_here, norms, texts) and not word
    # A city so named must be no common first name ("George Washington University") and
    # have no namesake town in another country ("Oxford High School").
    named_city = (named and kind == gz.CITY and not flags & (gz.PERSON_NAME | gz.NAMESAKE)
                  and not (m.end < len(norms) and norms[m.end] in surnames))
    if "FAC" in labels:  # "Kennedy Center" is no Colombian city
        return strong or kind == gz.SUBDIVISION or exact or named_city
    if "NORP" in labels:
        return strong  # a nationality, never a place: "Antique" is no Philippine province here
    if "LANGUAGE" in labels:
        return False
    if "PERSON" in labels:
        if not person_ok:
            return False
        person = next(e for e in ents_here if e.label == "PERSON")
        if exact:
            geo = _geographic(m, texts, ents, mentions, words, others or {})
            if kind in (gz.COUNTRY, gz.DEMONYM):  # "Papua New Guinea", "Sri Lankan" man
                return not single or geo
            return bool(flags & gz.CAPITAL) and geo
        # "Kenyan President William Ruto": a country word then a title, inside the name.
        if kind in (gz.COUNTRY, gz.DEMONYM) and m.end < person.end and norms[m.end] in _TITLES:
            return True
        # A headline mislabelled PERSON: "Belarus Gives Russia Control".
        countries_inside = [o for o in mentions if person.start <= o.start < person.end
                            and o.entry.kind == gz.COUNTRY and not o.entry.flags & gz.NEEDS_NER]
        if m in countries_inside and len(countries_inside) >= 2:
            return True
        # An institution of several words is no person's name: "Trump White House".
        return kind == gz.INSTITUTION and not single
    if "ORG" in labels:
        org = next(e for e in ents_here if e.label == "ORG")
        if flags & gz.NEEDS_NER and single:
            # "Turkey" mislabelled ORG, or a list of places ("Georgia & Moldova"), or
            # "University of ... of China"; not "Jordan Brand".
            return exact or _after_of(m, org, norms) or any(
                org.start <= mentions[i].start < org.end for i in (others or {}))
        if kind == gz.SUBDIVISION:
            # Leading a name ("Illinois State Police", not "... & Sofia Boutella"); a
            # whole ORG named like a subdivision ("Meta") only in a geographic headline.
            if exact:
                return _geographic(m, texts, ents, mentions, words, others or {})
            return named
        if kind in (gz.CITY, gz.REGION):  # "Ottawa mayor declares ..." tagged ORG
            if exact:
                return _geographic(m, texts, ents, mentions, words, others or {})
            return named_city
        return strong
    if ents_here:  # PRODUCT, EVENT, WORK_OF_ART, ...
        if strong:
            return exact or not (flags & gz.NEEDS_NER and single)
        if "EVENT" in labels and (named_city or (kind == gz.SUBDIVISION and named)):
            return True  # "Beijing Olympics", "Chicago Fourth of July parade"
        return exact
    # No entity at all.
    if strong:
        return not (flags & gz.NEEDS_NER and single)
    if single and kind == gz.SUBDIVISION and m.entry.code == "US":
        # A US state's name is no English word or name: "... during Florida protest".
        return not flags & (gz.COMMON_WORD | gz.PERSON_NAME) and not m.entry.alt
    return not single and kind in (gz.SUBDIVISION, gz.CITY, gz.REGION)


def _shouting(texts: Sequence[str]) -> bool:
    """A headline in capitals, where "OK" or "IN" is no state."""
    letters = [t for t in texts if t[:1].isalpha()]
    return sum(t.isupper() for t in letters) * 2 > len(letters)


def _after_of(m: _Mention, ent: _Ent, norms: Sequence[str]) -> bool:
    return m.start > ent.start and norms[m.start - 1] in ("of", "in")


def _named_after(m: _Mention, ents_here: list[_Ent], norms: Sequence[str],
                 texts: Sequence[str]) -> bool:
    """The place opens the entity's name (past "the") or follows "of"/"in" in it, and the
    entity is no source attribution ("... - The Moscow Times", "Kyiv Independent: ...")."""
    for ent in ents_here:
        if ent.label in ("ORG", "FAC", "EVENT"):
            lead = all(not w or w == "the" for w in norms[ent.start:m.start])
            return (m.end <= ent.end and (lead or _after_of(m, ent, norms))
                    and not _attribution(ent, texts))
    return False


def _attribution(ent: _Ent, texts: Sequence[str]) -> bool:
    """A name set off at the end ("- CNN", "| The Moscow Times") or opening with a colon."""
    if ent.end == len(texts) or all(not t.strip(".!") for t in texts[ent.end:]):
        return ent.start > 0 and texts[ent.start - 1] in _DASHES
    return ent.start == 0 and texts[ent.end] == ":"


def _covers(m: _Mention, ent: _Ent, norms: Sequence[str]) -> bool:
    """The mention is the whole entity, give or take an article and a possessive."""
    start, end = ent.start, ent.end
    while start < end and norms[start] in ("the", ""):
        start += 1
    while end > start and norms[end - 1] in ("s", ""):
        end -= 1
    return (m.start, m.end) == (start, end)


def _geographic(m: _Mention, texts: Sequence[str], ents: Sequence[_Ent], mentions: list[_Mention],
                words: set[str], decided: dict[int, str]) -> bool:
    """Does the rest of the headline talk about places?"""
    if decided or words & _GEO_CUES:
        return True
    if any(e.label in _GEO_LABELS and not (e.start < m.end and m.start < e.end) for e in ents):
        return True
    # "African Union suspends Mali"; not a lowercase "who".
    return any(o.entry.kind == gz.NONE and texts[o.start][:1].isupper() for o in mentions)


def _qualified(m: _Mention, mentions: list[_Mention], decided: dict[int, str],
               norms: Sequence[str]) -> bool:
    """Is a generic institution ("Congress") tied to a country word next to it?"""
    for idx, code in decided.items():
        o = mentions[idx]
        if o.end <= m.start:
            gap = [w for w in norms[o.end:m.start] if w]
        elif o.start >= m.end:
            gap = [w for w in norms[m.end:o.start] if w]
            if not gap or gap[0] not in ("of", "in"):
                continue
        else:
            continue
        if len(gap) <= 2 and all(w in _QUALIFIER_GAP for w in gap):
            return True
    return False


def _georgia_rule(m: _Mention, mentions: list[_Mention], decided: dict[int, str],
                  words: set[str]) -> str:
    """GE unless US cues outnumber cues for anywhere else (see module docstring)."""
    alt, code = m.entry.alt or "", m.entry.code or ""
    alt_score = len(words & _US_CUES) if alt == "US" else 0
    own_score = 0
    for idx, other in decided.items():
        if other == alt:
            alt_score += 1
        elif other:
            own_score += 1
    return alt if alt_score > own_score else code


# --- the component -----------------------------------------------------------------------


class CountryResolver:
    """spaCy component: see the module docstring. The gazetteer loads on first use."""

    def __init__(self, nlp: Language, name: str, cache_dir: str | None,
                 min_city_population: int) -> None:
        self.name = name
        self.cache_dir = cache_dir
        self.min_city_population = min_city_population
        self._gazetteer: Gazetteer | None = None

    @property
    def gazetteer(self) -> Gazetteer:
        if self._gazetteer is None:
            self._gazetteer = gz.load_or_build(self.cache_dir, self.min_city_population)
        return self._gazetteer

    def __call__(self, doc: Doc) -> Doc:
        ents = [_Ent(e.start, e.end, e.label_) for e in doc.ents]
        resolved = _resolve([t.text for t in doc], ents, self.gazetteer)
        countries: list[str] = []
        for _, code in resolved:
            if code not in countries:
                countries.append(code)
        doc._.countries = countries
        for span in doc.ents:
            for m, code in resolved:
                if m.start < span.end and span.start < m.end:
                    span._.country = code
                    break
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterable[Doc]:
        for doc in docs:
            yield self(doc)

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        return gz.dumps(self.gazetteer)

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> CountryResolver:
        self._gazetteer = gz.loads(data)
        return self

    def to_disk(self, path: str | os.PathLike, *, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "gazetteer.msgpack").write_bytes(self.to_bytes())

    def from_disk(self, path: str | os.PathLike, *,
                  exclude: Iterable[str] = ()) -> CountryResolver:
        gazetteer = gz.loads((Path(path) / "gazetteer.msgpack").read_bytes())
        if gazetteer.version == GAZETTEER_VERSION:
            self._gazetteer = gazetteer  # an older one is dropped and rebuilt on first use
        return self


@Language.factory(
    "eventsearch_countries",
    default_config={"cache_dir": None, "min_city_population": gz.DEFAULT_MIN_CITY_POPULATION},
    requires=["doc.ents"],
    assigns=["doc._.countries", "span._.country"],
)
def make_country_resolver(nlp: Language, name: str, cache_dir: str | None,
                          min_city_population: int) -> CountryResolver:
    """cache_dir: where the compiled gazetteer is cached (default $XDG_CACHE_HOME/eventsearch
    or ~/.cache/eventsearch); min_city_population: smallest non-capital city matched."""
    return CountryResolver(nlp, name, cache_dir, min_city_population)


# --- helpers without a pipeline ------------------------------------------------------------


@functools.cache
def _default_gazetteer() -> Gazetteer:
    return gz.load_or_build(None)


@functools.cache
def _tokenizer():
    import spacy

    return spacy.blank("en").tokenizer


def resolve_country(text: str, label: str) -> str | None:
    """The country one entity mention refers to or belongs to, judged as if spaCy had
    labelled the whole `text` with `label`: ("U.S.", "GPE") -> "US", ("Polish", "NORP")
    -> "PL", ("Philippine Army", "ORG") -> "PH", ("Michael Jordan", "PERSON") -> None.
    With no headline around it, "Georgia" is GE and a lone "Jordan" PERSON is None."""
    tokens = [t.text for t in _tokenizer()(text)]
    ents = [_Ent(0, len(tokens), label)] if label and tokens else []
    resolved = _resolve(tokens, ents, _default_gazetteer())
    return resolved[0][1] if resolved else None


def normalise_country(value: str) -> str | None:
    """A country filter value as an alpha-2 code: "ru", "RU", "RUS", "Russia",
    "Russian Federation", "Russian" -> "RU"; "Kosovo"/"XK" -> "XK"; unknown -> None."""
    value = value.strip()
    if len(value) in (2, 3) and value.isalpha():
        code = value.upper()
        if code == "XK" or code == "XKX":
            return "XK"
        found = pycountry.countries.get(**{f"alpha_{len(code)}": code})
        if found is not None:
            return found.alpha_2
    entry = _default_gazetteer().entries.get(gz.key(value))
    if entry is not None and entry.kind in (gz.COUNTRY, gz.DEMONYM):
        return entry.code
    return None


def country_name(code: str) -> str:
    """Display name for a code: "RU" -> "Russia", "KR" -> "South Korea", "XK" -> "Kosovo".
    An unknown code comes back as given."""
    return _default_gazetteer().names.get(code.upper(), code)
