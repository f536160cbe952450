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
   normalised token text ("U.S." -> "us", "Guinea-Bissau" -> "guinea bissau"). A key
   that names no country ("EU", "Latin America", "Indian Ocean") consumes its words so
   that nothing inside it matches. A candidate must start with a capital letter.
2. Each candidate is judged by the NER entity it overlaps (see `_accept`):
   - GPE/LOC: any kind of name counts (country, demonym, subdivision, city);
   - FAC: as ORG below, or a place name that is the whole entity;
   - NORP: country names, demonyms, institutions ("Antique" is no Philippine province);
   - ORG: country names, demonyms, institutions and subdivisions ("Philippine Army",
     "Congress of Guatemala", "Illinois State Police": a subdivision only at the start),
     not cities ("Mobile Telesystems") unless the city is the whole entity in a
     geographic headline ("Ottawa mayor declares emergency");
     an ORG that is only a subdivision's name needs a geographic headline ("Meta" is a
     company, not the Colombian department);
   - PERSON: never a person's name ("Michael Jordan", "Chad Johnson"); a country word
     followed by a title inside the entity counts ("Kenyan President William Ruto"), and
     so do two country names in one ("Belarus Gives Russia Control", a title mislabelled); an
     entity that is exactly a country's name or demonym counts if it has several words
     ("Papua New Guinea", "Sri Lankan") or the headline is plainly geographic ("Jordan
     closes border with Syria"), and a capital likewise ("... visits Kyiv");
   - LANGUAGE: nothing ("speaks Russian");
   - any other label, or no entity: country names, demonyms and institutions count,
     except single words that are also first names or nouns ("Chad", "Turkey");
     subdivisions and cities count only as a whole entity of another label
     ("Kaliningrad" tagged PRODUCT) or, for several words, with no entity at all.
     So "Reading", "Nice", "Mobile" as plain words give nothing.
3. Georgia: the country (GE) unless the headline has more US cues (another US place or
   institution, or words like "governor", "Senate", "Republicans", "county") than
   cues for anywhere else ("Tbilisi", "Georgian", "Russia"). With no cue: GE.
4. "Congress" (the only generic institution) yields to a country naming it:
   "Congress of Guatemala", "Peruvian Congress" are not US.
"""

from __future__ import annotations

import functools
import os
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


# --- matching ----------------------------------------------------------------------------


class _Ent(NamedTuple):
    start: int
    end: int
    label: str


class _Mention(NamedTuple):
    start: int
    end: int
    entry: Entry


def _candidates(norms: Sequence[str], gazetteer: Gazetteer) -> list[_Mention]:
    """Longest gazetteer keys in the token stream, leftmost first, not overlapping."""
    entries, max_tokens = gazetteer.entries, gazetteer.max_words + 4
    out: list[_Mention] = []
    i, n = 0, len(norms)
    while i < n:
        if not norms[i] or norms[i] == "the":
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
    norms = [gz.normalise(t) for t in texts]
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
        if not texts[m.start][:1].isupper():
            continue  # "china plates", "us"
        if len(norms[m.start]) <= 3 and m.end - m.start == 1 and not texts[m.start].isupper():
            continue  # "Fight for Us": a short form counts only in capitals (US, UK, DPRK)
        if m.entry.alt or m.entry.flags & gz.QUALIFIABLE:
            deferred.append(idx)
        elif _accept(m, overlapping(m), texts, norms, ents, mentions, words, person_ok=False):
            decided[idx] = m.entry.code
        else:
            deferred.append(idx)

    # Second pass: rules that look at the rest of the headline.
    for idx in deferred:
        m = mentions[idx]
        ents_here = overlapping(m)
        if not _accept(m, ents_here, texts, norms, ents, mentions, words, person_ok=True,
                       others=decided):
            continue
        if m.entry.flags & gz.QUALIFIABLE and _qualified(m, mentions, decided, norms):
            continue
        code = m.entry.code
        if m.entry.alt:
            code = _georgia_rule(m, mentions, decided, words)
        decided[idx] = code
    return [(mentions[i], decided[i]) for i in sorted(decided)]


def _accept(m: _Mention, ents_here: list[_Ent], texts: Sequence[str], norms: Sequence[str],
            ents: Sequence[_Ent], mentions: list[_Mention], words: set[str], *,
            person_ok: bool, others: dict[int, str] | None = None) -> bool:
    kind, flags = m.entry.kind, m.entry.flags
    labels = {e.label for e in ents_here}
    strong = kind in (gz.COUNTRY, gz.DEMONYM, gz.INSTITUTION)
    single = sum(1 for w in norms[m.start:m.end] if w) == 1
    exact = len(ents_here) == 1 and _covers(m, ents_here[0], norms)

    if labels & {"GPE", "LOC"}:
        return True
    if "FAC" in labels:  # "Kennedy Center" is no Colombian city
        return strong or kind == gz.SUBDIVISION or exact
    if "NORP" in labels:
        return strong  # a nationality, never a place: "Antique" is no Philippine province here
    if "LANGUAGE" in labels:
        return False
    if "PERSON" in labels:
        if not person_ok:
            return False
        person = next(e for e in ents_here if e.label == "PERSON")
        if exact:
            geo = _geographic(m, ents, mentions, words, others or {})
            if kind in (gz.COUNTRY, gz.DEMONYM):  # "Papua New Guinea", "Sri Lankan" man
                return not single or geo
            return bool(flags & gz.CAPITAL) and geo
        # "Kenyan President William Ruto": a country word then a title, inside the name.
        if kind in (gz.COUNTRY, gz.DEMONYM) and m.end < person.end and norms[m.end] in _TITLES:
            return True
        # A headline mislabelled PERSON: "Belarus Gives Russia Control".
        countries_inside = [o for o in mentions if person.start <= o.start < person.end
                            and o.entry.kind == gz.COUNTRY and not o.entry.flags & gz.NEEDS_NER]
        return m in countries_inside and len(countries_inside) >= 2
    if "ORG" in labels:
        if flags & gz.NEEDS_NER and single:
            # "Turkey" mislabelled ORG, or a list of places ("Georgia & Moldova");
            # not "Jordan Brand".
            org = next(e for e in ents_here if e.label == "ORG")
            return exact or any(org.start <= mentions[i].start < org.end
                                for i in (others or {}))
        if kind == gz.SUBDIVISION:
            # Leading a name ("Illinois State Police", not "... & Sofia Boutella"); a
            # whole ORG named like a subdivision ("Meta") only in a geographic headline.
            if exact:
                return _geographic(m, ents, mentions, words, others or {})
            org = next(e for e in ents_here if e.label == "ORG")
            return all(not w or w == "the" for w in norms[org.start:m.start])
        if kind in (gz.CITY, gz.REGION):  # "Ottawa mayor declares ..." tagged ORG
            return exact and _geographic(m, ents, mentions, words, others or {})
        return strong
    if ents_here:  # PRODUCT, EVENT, WORK_OF_ART, ...
        if strong:
            return exact or not (flags & gz.NEEDS_NER and single)
        return exact
    # No entity at all.
    if strong:
        return not (flags & gz.NEEDS_NER and single)
    return not single and kind in (gz.SUBDIVISION, gz.CITY, gz.REGION)


def _covers(m: _Mention, ent: _Ent, norms: Sequence[str]) -> bool:
    """The mention is the whole entity, give or take an article and a possessive."""
    start, end = ent.start, ent.end
    while start < end and norms[start] in ("the", ""):
        start += 1
    while end > start and norms[end - 1] in ("s", ""):
        end -= 1
    return (m.start, m.end) == (start, end)


def _geographic(m: _Mention, ents: Sequence[_Ent], mentions: list[_Mention],
                words: set[str], decided: dict[int, str]) -> bool:
    """Does the rest of the headline talk about places?"""
    if decided or words & _GEO_CUES:
        return True
    if any(e.label in _GEO_LABELS and not (e.start < m.end and m.start < e.end) for e in ents):
        return True
    return any(o.entry.kind == gz.NONE for o in mentions)  # "African Union suspends Mali"


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
