"""Named entities of a headline, under canonical names that make stable facet values."""

from __future__ import annotations

import re

from spacy.tokens import Doc

from indexer.enrich.countries import country_name
from indexer.record import ENTITY_TYPES, Entity

_LEADING_ARTICLE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"\s*['’]s?$")
_SPACES = re.compile(r"\s+")
# Country-like labels whose mention resolves to a country take the country's display name,
# so "U.S.", "the United States" and "America" are one facet value.
_PLACE_LABELS = frozenset({"GPE"})


def canonical_name(text: str) -> str:
    """"the United Nations'" -> "United Nations": articles, possessives and odd spacing go."""
    name = _SPACES.sub(" ", text).strip(" \t\"'“”‘’,.;:")
    name = _POSSESSIVE.sub("", name)
    name = _LEADING_ARTICLE.sub("", name)
    return name.strip()


def entities_of(doc: Doc) -> list[Entity]:
    """Entities of the kept types, one per canonical name, in order of first mention."""
    found: dict[str, Entity] = {}
    for span in doc.ents:
        if span.label_ not in ENTITY_TYPES:
            continue
        code = span._.country if span.label_ in _PLACE_LABELS else None
        name = country_name(code) if code else canonical_name(span.text)
        if name and name not in found:
            found[name] = Entity(text=span.text, name=name, type=span.label_)
    return list(found.values())


def merge_given(found: list[Entity], given: list[Entity]) -> list[Entity]:
    """Keep entities the source listed, typed from NER where the names agree."""
    by_name = {e.name: e for e in found}
    merged = list(found)
    for entity in given:
        name = canonical_name(entity.name)
        if name and name not in by_name:
            by_name[name] = Entity(text=entity.text or name, name=name, type=entity.type)
            merged.append(by_name[name])
    return merged
