"""Facet counts from Tantivy aggregations: one small class per facet kind.

Each facet contributes aggregations to a single `searcher.aggregate` call and turns its
buckets into `FacetValue`s carrying a display label and whether the value is selected.
"""

from __future__ import annotations

from collections.abc import Callable

from indexer.enrich.countries import country_name
from indexer.record import TOPIC_LABELS
from service.models import FacetValue


class TermsFacet:
    """Counts of a raw label field (country, topic, entity, story)."""

    def __init__(self, name: str, label: Callable[[str], str] = str, size: int = 10):
        self.name = name
        self.label = label
        self.size = size

    def aggregations(self) -> dict:
        return {self.name: {"terms": {"field": self.name, "size": self.size}}}

    def values(self, result: dict, selected: tuple[str, ...]) -> list[FacetValue]:
        return [
            FacetValue(value=b["key"], label=self.label(b["key"]), count=b["doc_count"],
                       selected=b["key"] in selected)
            for b in result[self.name]["buckets"]
        ]


class DateFacet:
    """A calendar histogram: per year, or per month when the events fall in one year."""

    name = "date"

    def aggregations(self) -> dict:
        return {
            "date_year": {"terms": {"field": "year", "size": 200, "order": {"_key": "asc"}}},
            "date_month": {"terms": {"field": "month", "size": 12, "order": {"_key": "asc"}}},
        }

    def values(self, result: dict, selected: tuple[str, ...]) -> list[FacetValue]:
        years = result["date_year"]["buckets"]
        if len(years) > 1:
            return [self._value(str(b["key"]), b["doc_count"]) for b in years]
        return [
            self._value(f"{b['key'] // 100}-{b['key'] % 100:02d}", b["doc_count"])
            for b in result["date_month"]["buckets"]
        ]

    @staticmethod
    def _value(key: str, count: int) -> FacetValue:
        return FacetValue(value=key, label=key, count=count, selected=False)


FACETS = (
    TermsFacet("country", label=country_name),
    TermsFacet("topic", label=lambda slug: TOPIC_LABELS.get(slug, slug)),
    TermsFacet("entity"),
    TermsFacet("story"),
    DateFacet(),
)


def facet_aggregations() -> dict:
    aggs: dict = {}
    for facet in FACETS:
        aggs.update(facet.aggregations())
    return aggs
