"""Completions for the search box: entities, stories and countries whose name has a word
starting with what was typed (most events first), then headline words.

Label names are held in memory per index generation as sorted word keys, so a prefix is two
binary searches; headline words come from Tantivy's term dictionary. Both take well under a
millisecond at a million events, once the dictionary is built (one aggregation pass).
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass

import tantivy

from indexer.enrich.countries import country_name
from service.models import Suggestion

# The most frequent labels of each kind, one aggregation each: Tantivy refuses a request
# that would make more than 65,000 buckets, and the real archive has 69,000 entity names.
# The ones left out occur once or twice: 8,663 of 109,703 events name one.
_LABEL_LIMITS = {"entity_typed": 60_000, "story": 60_000, "country": 400}
_SCAN_LIMIT = 5_000  # word keys looked at per prefix; short prefixes are cut off here
_REBUILD_AFTER = 30.0  # seconds: upserts into the live generation show up this late


@dataclass(frozen=True)
class _Label:
    kind: str  # entity, story, country
    value: str  # the filter value
    text: str  # what is shown
    count: int
    type: str | None = None


class LabelDictionary:
    def __init__(self, searcher: tantivy.Searcher):
        self.built = time.monotonic()
        self.num_docs = searcher.num_docs
        self._labels = [label for field, size in _LABEL_LIMITS.items()
                        for label in _labels(field, _most_frequent(searcher, field, size))]
        keys = [(key, i) for i, label in enumerate(self._labels) for key in _word_keys(label.text)]
        keys.sort()
        self._keys = [key for key, _ in keys]
        self._owners = [owner for _, owner in keys]

    def stale(self, searcher: tantivy.Searcher) -> bool:
        return (searcher.num_docs != self.num_docs
                and time.monotonic() - self.built > _REBUILD_AFTER)

    def labels(self, prefix: str, size: int) -> list[_Label]:
        start = bisect.bisect_left(self._keys, prefix)
        end = bisect.bisect_left(self._keys, prefix + "\uffff", lo=start)
        owners = dict.fromkeys(self._owners[start:min(end, start + _SCAN_LIMIT)])
        found = sorted((self._labels[i] for i in owners), key=lambda label: -label.count)
        return found[:size]


def suggest(dictionary: LabelDictionary, searcher: tantivy.Searcher, text: str,
            size: int) -> list[Suggestion]:
    prefix = " ".join(text.lower().split())
    if not prefix:
        return []
    suggestions = [
        Suggestion(text=label.text, kind=label.kind, count=label.count, type=label.type,
                   filter={label.kind: label.value})
        for label in dictionary.labels(prefix, size)
    ]
    last_word = prefix.rsplit(" ", 1)[-1]
    for word, count in searcher.terms_with_prefix("headline_words", last_word, None,
                                                  size - len(suggestions)):
        if len(suggestions) >= size:
            break
        completed = prefix[: len(prefix) - len(last_word)] + word
        suggestions.append(Suggestion(text=completed, kind="term", count=count, type=None,
                                      filter=None))
    return suggestions


def _most_frequent(searcher: tantivy.Searcher, field: str, size: int) -> list[dict]:
    # segment_size: by default each segment sends more than `size` buckets up, past the limit.
    terms = {"field": field, "size": size, "segment_size": size}
    result = searcher.aggregate(tantivy.Query.all_query(), {field: {"terms": terms}})
    return result[field]["buckets"]


def _labels(field: str, buckets: list[dict]) -> list[_Label]:
    if field == "entity_typed":
        labels = []
        for bucket in buckets:
            kind, _, name = bucket["key"].partition(":")
            labels.append(_Label("entity", name, name, bucket["doc_count"], kind))
        return labels
    if field == "country":
        return [_Label("country", b["key"], country_name(b["key"]), b["doc_count"])
                for b in buckets]
    return [_Label("story", b["key"], b["key"], b["doc_count"]) for b in buckets]


def _word_keys(text: str) -> list[str]:
    """"Vladimir Putin" -> ["vladimir putin", "putin"]: a completion may start at any word."""
    words = text.lower().split()
    return [" ".join(words[i:]) for i in range(len(words))]
