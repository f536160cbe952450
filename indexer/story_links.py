"""Suggested stories: the story of an event's nearest labelled neighbours, with a confidence.

Half of the archive's events, and every event of a source without story headings, carry no
story. For such an event we look at the events *with* a story (the source's own, never a
suggestion) dated within `window_days` of it and take the `neighbours` whose headlines are
most alike (cosine of WordLlama vectors, topic_embedding.embed, at least `min_similarity`).

Each (event, neighbour) pair is scored by a small logistic regression, the chance that the
two share a story, over PAIR_FEATURES: the cosine; the event's named entities the
neighbour shares, each weighted by its inverse document frequency among the labelled
events (a shared "Zaporizhzhia Nuclear Power Plant" says more than a shared "Ukraine"); the
shared countries; the share of the neighbour's story words (4+ letters, not stop words)
found in the headline ("Hurricane Maria" beside a headline naming Maria); and the days
apart. The neighbours' pair chances are summed by story, compared case-blind with dashes
and spaces normalised ("Syrian civil war" and "Syrian Civil War" are one story): the
story with the largest sum wins, spelled as its voters mostly spell it (by summed chance,
those of the nearest days counting most).

The confidence is a calibrated probability that the winner is the event's story: a second
logistic regression over the winner's FEATURES. Both are fitted by training/story_linking.py
on hidden stories of the training years and stored with the settings in story_links.json.
An event whose source gives a story never gets a suggestion. A suggestion at or above
`threshold` counts in the story facet and filter (the writer indexes it in
`story`/`story_key`) and is shown by the API; below it, it is kept in the index
(`suggested_story`, `suggested_story_confidence`) but not shown.

The features are plain arithmetic on the events' own fields (entities and countries from
enrichment, which runs before linking), computed here for the index and for training alike.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
import tempfile
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from spacy.lang.en.stop_words import STOP_WORDS

SETTINGS_FILE = Path(__file__).with_name("story_links.json")
PAIR_FEATURES = ("cosine", "entities", "countries", "story_words", "time")
"""Of an (event, neighbour) pair: cosine of the headlines (0 if negative); IDF-weighted
share of the event's entities the neighbour has; share of the event's countries it has;
share of its story's words found in the headline; 0.5 ** (days apart / TIME_HALF_LIFE)."""
FEATURES = ("mass", "top", "share", "votes", "story_words", "name")
"""Of the winning story: the sum of its voters' pair chances; the best of them; its part of
all voters' sum; its voters / `neighbours`; the share of its words found in the headline;
cosine of the headline and the story's own name."""
TIME_HALF_LIFE = 7.0
SPELLING_HALF_LIFE = 1.0
_WORD = re.compile(r"[a-z]{4,}")
_STOP_WORDS = frozenset(STOP_WORDS)

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Settings:
    window_days: int
    neighbours: int
    pair_coefficients: tuple[float, ...]  # one per PAIR_FEATURES
    pair_intercept: float
    coefficients: tuple[float, ...]  # one per FEATURES
    intercept: float
    threshold: float
    """Confidence from which a suggestion is shown and counted (chosen for precision >= 0.90
    on hidden stories of 2019-2020; training/story_linking.py)."""
    min_similarity: float = 0.0
    """Neighbours less alike than this (cosine) do not vote: in a sparse pool (a small dump,
    a quiet week) the only events in the window would otherwise win every vote."""

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        return cls(window_days=int(data["window_days"]), neighbours=int(data["neighbours"]),
                   pair_coefficients=tuple(float(data["pair_coefficients"][f])
                                           for f in PAIR_FEATURES),
                   pair_intercept=float(data["pair_intercept"]),
                   coefficients=tuple(float(data["coefficients"][f]) for f in FEATURES),
                   intercept=float(data["intercept"]), threshold=float(data["threshold"]),
                   min_similarity=float(data.get("min_similarity", 0.0)))


@functools.cache
def settings() -> Settings:
    return Settings.from_dict(json.loads(SETTINGS_FILE.read_text()))


@dataclass(frozen=True, slots=True)
class Proposal:
    story: str
    confidence: float
    features: tuple[float, ...]


def story_key(story: str) -> str:
    """Case-blind, with dashes and runs of space normalised: the unit of the vote."""
    text = unicodedata.normalize("NFKC", story).casefold()
    return " ".join(_DASHES.sub("-", text).split())


_DASHES = re.compile(r"[\u2010-\u2015\u2212]")


def day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


def content_words(text: str) -> set[str]:
    """Words of 4+ letters, lower-cased, stop words aside (as related.py's story_words)."""
    return set(_WORD.findall(text.lower())) - _STOP_WORDS


def entity_names(event) -> list[str]:
    return [e.name for e in event.entities]


class _Sets:
    """Sets of ids, one per row, as flat arrays (CSR): rows' ids are ids[start[r]:start[r+1]]."""

    def __init__(self, rows: Iterable[Iterable[int]]):
        lists = [sorted(set(r)) for r in rows]
        self.start = np.zeros(len(lists) + 1, dtype=np.int64)
        self.start[1:] = np.cumsum([len(r) for r in lists])
        self.ids = np.fromiter((i for r in lists for i in r), dtype=np.int64,
                               count=int(self.start[-1]))

    def sizes(self) -> np.ndarray:
        return np.diff(self.start)

    def expand(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index into `rows`, id) for every id of every row of `rows`."""
        counts = self.start[rows + 1] - self.start[rows]
        which = np.repeat(np.arange(len(rows)), counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return which, self.ids[np.repeat(self.start[rows], counts) + offsets]


def _overlap(mine: _Sets, weights: np.ndarray, theirs: _Sets, pair_mine: np.ndarray,
             pair_theirs: np.ndarray, vocabulary: int) -> np.ndarray:
    """For each pair, the summed weight of the ids in both its rows (`weights` aligned with
    mine.ids)."""
    keys = np.repeat(np.arange(len(mine.start) - 1), mine.sizes()) * vocabulary + mine.ids
    order = np.argsort(keys, kind="stable")
    keys, weights = keys[order], weights[order]
    which, ids = theirs.expand(pair_theirs)
    wanted = pair_mine[which] * vocabulary + ids
    at = np.searchsorted(keys, wanted)
    at[at >= len(keys)] = 0
    hit = keys[at] == wanted if len(keys) else np.zeros(len(wanted), dtype=bool)
    return np.bincount(which[hit], weights=weights[at[hit]], minlength=len(pair_mine))


class Pool:
    """Events with a story, ordered by day: their day numbers, stories, unit vectors, and
    (for the pair features) entity names and country codes."""

    def __init__(self, days: Sequence[int], stories: Sequence[str], vectors: np.ndarray,
                 entities: Sequence[Sequence[str]] | None = None,
                 countries: Sequence[Sequence[str]] | None = None):
        days = np.asarray(days, dtype=np.int64)
        order = np.argsort(days, kind="stable")
        self.days = days[order]
        self.rows = order  # pool position -> position as given (to leave an event out)
        self.vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[order])
        names = sorted(set(stories))
        self.names = names
        number = {name: i for i, name in enumerate(names)}
        self.story = np.array([number[stories[i]] for i in order], dtype=np.int64)
        keys = sorted({story_key(n) for n in names})
        key_number = {key: i for i, key in enumerate(keys)}
        self.key_of_name = np.array([key_number[story_key(n)] for n in names], dtype=np.int64)
        self.key = self.key_of_name[self.story] if len(self.story) else self.story
        self.keys = len(keys)
        self.words: dict[str, int] = {}
        self.story_words = _Sets([self.words.setdefault(w, len(self.words))
                                  for w in content_words(k)] for k in keys)
        entities = entities if entities is not None else [()] * len(days)
        countries = countries if countries is not None else [()] * len(days)
        self.entity_ids: dict[str, int] = {}
        self.entities = _Sets([self.entity_ids.setdefault(n, len(self.entity_ids))
                               for n in entities[i]] for i in order)
        self.country_ids: dict[str, int] = {}
        self.countries = _Sets([self.country_ids.setdefault(c, len(self.country_ids))
                                for c in countries[i]] for i in order)
        frequency = np.bincount(self.entities.ids, minlength=len(self.entity_ids))
        self.idf = np.log1p(len(days) / (1.0 + frequency))
        self.unseen_idf = math.log1p(len(days))
        self._name_vectors: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.days)

    def name_vectors(self, numbers: list[int], embed) -> np.ndarray:
        missing = [n for n in dict.fromkeys(numbers) if n not in self._name_vectors]
        if missing:
            for n, vector in zip(missing, embed([self.names[n] for n in missing])):
                self._name_vectors[n] = vector.astype(np.float32)
        return np.array([self._name_vectors[n] for n in numbers], dtype=np.float32).reshape(
            len(numbers), -1)


@dataclass
class Pairs:
    """Every (event, neighbour) pair of a `propose` run: event index, pool position, and
    PAIR_FEATURES as columns."""

    target: np.ndarray
    neighbour: np.ndarray
    features: np.ndarray


def neighbours(pool: Pool, days: np.ndarray, vectors: np.ndarray, config: Settings,
               leave_out: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(event index, pool position, cosine) of each event's `neighbours` most alike events
    with a story in the window, at least `min_similarity` alike."""
    position = np.empty(len(pool), dtype=np.int64)
    position[pool.rows] = np.arange(len(pool))
    k = config.neighbours
    targets, found, cosines = [], [], []
    # Targets of one day share their candidates: one matrix product a day.
    order = np.argsort(days, kind="stable")
    cuts = np.flatnonzero(np.diff(days[order])) + 1
    for group in np.split(order, cuts):
        if not len(group):
            continue
        day = int(days[group[0]])
        lo = int(np.searchsorted(pool.days, day - config.window_days, "left"))
        hi = int(np.searchsorted(pool.days, day + config.window_days, "right"))
        if lo == hi:
            continue
        # einsum, not BLAS: products this small run 7x slower on BLAS's threads.
        sims = np.einsum("ij,kj->ik", vectors[group], pool.vectors[lo:hi])
        if leave_out is not None:
            for row, target in enumerate(group):
                out = leave_out[target]
                if out >= 0 and lo <= position[out] < hi:
                    sims[row, position[out] - lo] = -np.inf
        if hi - lo > k:
            best = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            best = np.broadcast_to(np.arange(hi - lo), (len(group), hi - lo))
        sims = np.take_along_axis(sims, best, axis=1)
        keep = sims >= config.min_similarity  # -inf: left out
        rows = np.broadcast_to(group[:, None], best.shape)
        targets.append(rows[keep])
        found.append(best[keep] + lo)
        cosines.append(sims[keep])
    if not targets:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(targets), np.concatenate(found), np.concatenate(cosines)


def pairs(pool: Pool, days: Sequence[int], vectors: np.ndarray, headlines: Sequence[str],
          entities: Sequence[Sequence[str]], countries: Sequence[Sequence[str]],
          config: Settings, leave_out: Sequence[int] | None = None) -> Pairs:
    """The pairs of each event and its neighbours, with their PAIR_FEATURES."""
    days = np.asarray(days, dtype=np.int64)
    vectors = np.asarray(vectors, dtype=np.float32)
    target, neighbour, cosine = neighbours(pool, days, vectors, config, leave_out)
    # The events' entities: the pool's ids (-1 for a name no labelled event has), weighted
    # by inverse document frequency; an unknown name weighs most and is never shared.
    known = [[pool.entity_ids.get(n, -1) for n in dict.fromkeys(names)] for names in entities]
    total = np.array([sum(pool.idf[i] if i >= 0 else pool.unseen_idf for i in ids)
                      for ids in known])
    mine = _Sets([i for i in ids if i >= 0] for ids in known)
    shared = _overlap(mine, pool.idf[mine.ids], pool.entities, target, neighbour,
                      max(len(pool.entity_ids), 1))
    entity_share = np.divide(shared, total[target], out=np.zeros(len(target)),
                             where=total[target] > 0)
    places = [set(c) for c in countries]
    place_count = np.array([len(c) for c in places], dtype=np.float64)
    mine = _Sets([pool.country_ids[c] for c in cs if c in pool.country_ids] for cs in places)
    shared = _overlap(mine, np.ones(len(mine.ids)), pool.countries, target, neighbour,
                      max(len(pool.country_ids), 1))
    country_share = np.divide(shared, place_count[target], out=np.zeros(len(target)),
                              where=place_count[target] > 0)
    mine = _Sets([pool.words[w] for w in content_words(h) if w in pool.words]
                 for h in headlines)
    story = pool.key[neighbour]
    shared = _overlap(mine, np.ones(len(mine.ids)), pool.story_words, target, story,
                      max(len(pool.words), 1))
    size = pool.story_words.sizes()[story]
    word_share = np.divide(shared, size, out=np.zeros(len(target)), where=size > 0)
    apart = np.abs(days[target] - pool.days[neighbour])
    features = np.column_stack([np.maximum(cosine, 0.0), entity_share, country_share,
                                word_share, 0.5 ** (apart / TIME_HALF_LIFE)])
    return Pairs(target, neighbour, features)


def pair_chances(features: np.ndarray, config: Settings) -> np.ndarray:
    z = features @ np.asarray(config.pair_coefficients) + config.pair_intercept
    return 1.0 / (1.0 + np.exp(-z))


def propose(pool: Pool, days: Sequence[int], vectors: np.ndarray, config: Settings, *,
            headlines: Sequence[str], entities: Sequence[Sequence[str]],
            countries: Sequence[Sequence[str]], embed=None,
            leave_out: Sequence[int] | None = None, found: Pairs | None = None,
            ) -> list[Proposal | None]:
    """The suggestion for each event (day number, unit vector, headline, entity names,
    country codes), or None without a labelled neighbour. `leave_out[i]`: a position in the
    pool as built (before ordering) that event i must not see (itself, when evaluating with
    its story hidden); -1 for none. `embed`: texts -> unit vectors (default WordLlama's),
    for story names. `found`: the pairs, when already computed with these settings."""
    embed = embed or _default_embed()
    vectors = np.asarray(vectors, dtype=np.float32)
    if found is None:
        found = pairs(pool, days, vectors, headlines, entities, countries, config, leave_out)
    winners = vote(pool, found, pair_chances(found.features, config), config, len(days))
    numbers = [w[0] for w in winners if w is not None]
    names = dict(zip(numbers, pool.name_vectors(numbers, embed))) if numbers else {}
    proposals: list[Proposal | None] = []
    for target, winner in enumerate(winners):
        if winner is None:
            proposals.append(None)
            continue
        number, features = winner
        features = (*features, float(names[number] @ vectors[target]))
        proposals.append(Proposal(pool.names[number], confidence(features, config), features))
    return proposals


def vote(pool: Pool, found: Pairs, chances: np.ndarray, config: Settings, events: int):
    """Per event, None or (the winner's story number as its voters mostly spell it,
    FEATURES but `name`)."""
    winners: list = [None] * events
    if not len(found.target):
        return winners
    key = pool.key[found.neighbour]
    # Editors respell a story from day to day ("Syrian civil war", "Syrian Civil War"): the
    # spelling is the one its voters give most chance, those of the nearest days first.
    spelling = _spellings(pool, found.target, pool.story[found.neighbour],
                          chances * found.features[:, 4] ** (TIME_HALF_LIFE / SPELLING_HALF_LIFE))
    group = found.target * pool.keys + key
    order = np.argsort(group, kind="stable")
    group, chances = group[order], chances[order]
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    mass = np.add.reduceat(chances, first)
    top = np.maximum.reduceat(chances, first)
    voters = np.diff(np.r_[first, len(group)])
    target = group[first] // pool.keys
    total = np.bincount(target, weights=mass, minlength=events)
    words = found.features[order][first, 3]
    # The winner of each event: its story with the largest sum.
    best = np.lexsort((-mass, target))
    best = best[np.r_[True, target[best][1:] != target[best][:-1]]]
    for g in best.tolist():
        t = int(target[g])
        spelled = spelling[t, int(group[first[g]] % pool.keys)]
        winners[t] = (spelled, (float(mass[g]), float(top[g]),
                                float(mass[g] / total[t]) if total[t] > 0 else 0.0,
                                float(voters[g]) / config.neighbours, float(words[g])))
    return winners


def _spellings(pool: Pool, target: np.ndarray, story: np.ndarray,
               chances: np.ndarray) -> dict[tuple[int, int], int]:
    """(event, story key) -> the spelling of the story its voters give the most chance."""
    names = len(pool.names)
    group = target * names + story
    order = np.argsort(group, kind="stable")
    group = group[order]
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    mass = np.add.reduceat(chances[order], first)
    who, spelled = group[first] // names, group[first] % names
    key = pool.key_of_name[spelled]
    best = np.lexsort((spelled, -mass, key, who))
    best = best[np.r_[True, (who[best][1:] != who[best][:-1]) | (key[best][1:] != key[best][:-1])]]
    return {(int(who[i]), int(key[i])): int(spelled[i]) for i in best}


def confidence(features: Sequence[float], config: Settings) -> float:
    z = config.intercept + sum(c * f for c, f in zip(config.coefficients, features))
    return round(1.0 / (1.0 + math.exp(-z)), 4)


def shown_story(event) -> str | None:
    """The event's suggested story if it is shown and counted (confidence at or above the
    threshold, and no story of its own), else None."""
    if event.story or not event.suggested_story:
        return None
    if (event.suggested_story_confidence or 0.0) < settings().threshold:
        return None
    return event.suggested_story


class StoryLinker:
    """Links the events of an indexing run as they stream to the writer.

    Events with a story pass at once; their day, story, headline vector, entity names and
    countries join the pool (about 1 KB an event). Events without one wait in a temporary file until the stream
    ends, then pass with their suggestion, in the order they came. `existing(first, last)`
    gives the index's events with a story between two day numbers, when the run adds to an
    index that has them (`eventsearch index`); a fresh generation has none.

    The caller may give the final versions of events whose first record was not the event
    (`link(..., revised=...)`, ingest's re-folded events): they replace those records in
    the pool before any waiting event is linked, so suggestions are those the final events
    would give, and they pass (linked, if they have no story) after the stream.

    Since waiting and revised events are written last, one that a later event superseded
    (named it among its earlier versions) would come back: `stale` lists their ids, for the
    writer to delete after the stream.
    """

    _BATCH = 1024

    def __init__(self, existing: Callable[[int, int], Iterable] | None = None,
                 config: Settings | None = None, embed=None):
        self._existing = existing
        self._config = config or settings()
        self._embed = embed
        self.stale: set[str] = set()
        self.suggested = 0  # events given a suggestion shown at the threshold
        self.seconds = 0.0  # CPU-time spent linking (embedding, voting, spilling)
        self.rewritten = 0  # events yielded twice: first as they came, then revised

    def link(self, events: Iterable, revised: Callable[[], Iterable] | None = None) -> Iterator:
        """`events`, linked. `revised()`, called once the stream has ended, gives the final
        versions of some events already in it (ingest's re-folded events, whose first record
        was not the event): each takes its first record's place, in the pool of neighbours
        (its row replaced, dropped or added) and in the output (it is yielded again if its
        first record passed at once, instead of it if that record waits), before any
        waiting event is linked. `rewritten` counts those yielded twice."""
        import msgspec

        from indexer.record import Event

        embed = self._embed or _default_embed()
        encoder, decoder = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(Event)
        days: list[int] = []
        stories: list[str] = []
        vectors: list[np.ndarray] = []
        labels: tuple[list, list] = ([], [])  # entity names, country codes
        rows: list[str] = []  # the id of each pool row (the strings of `ids`, not copies)
        ids: set[str] = set()
        aliases: set[str] = set()
        batch: list = []
        waiting = 0
        with tempfile.TemporaryFile() as spill:
            for event in events:
                started = time.process_time()
                aliases.update(event.aliases)
                if event.story:
                    batch.append(_unsuggested(event))
                    ids.add(event.id)
                    full = len(batch) >= self._BATCH
                else:
                    blob = encoder.encode(event)
                    spill.write(len(blob).to_bytes(4, "little") + blob)
                    waiting += 1
                    full = False
                if full:
                    self._keep(batch, embed, days, stories, vectors, labels, rows)
                self.seconds += time.process_time() - started
                if full:
                    yield from batch
                    batch = []
            started = time.process_time()
            self._keep(batch, embed, days, stories, vectors, labels, rows)
            self.seconds += time.process_time() - started
            yield from batch
            final = list(revised()) if revised is not None else []
            started = time.process_time()
            spill.seek(0)
            pending = [decoder.decode(spill.read(int.from_bytes(spill.read(4), "little")))
                       for _ in range(waiting)]
            again: list = []
            if final:
                pending, again = self._revise(final, pending, ids, embed, days, stories,
                                              vectors, labels, rows)
                for event in final:
                    aliases.update(event.aliases)
            self.stale = {e.id for e in (*pending, *again)} & aliases
            self.seconds += time.process_time() - started
            yield from again
            if not pending:
                return
            started = time.process_time()
            if self._existing is not None:
                first = min(day_number(e.date) for e in pending) - self._config.window_days
                last = max(day_number(e.date) for e in pending) + self._config.window_days
                passed = ids | {e.id for e in pending}  # written anew by this run
                known = [e for e in self._existing(first, last)
                         if e.story and e.id not in passed]
                self._keep(known, embed, days, stories, vectors, labels, rows)
            linked = pending
            if days:
                pool = Pool(days, stories, np.vstack(vectors), *labels)
                proposals = propose(pool, [day_number(e.date) for e in pending],
                                    embed([e.headline for e in pending]), self._config,
                                    headlines=[e.headline for e in pending],
                                    entities=[entity_names(e) for e in pending],
                                    countries=[e.countries for e in pending], embed=embed)
                linked = [_with(event, proposal) for event, proposal in zip(pending, proposals)]
            else:
                linked = [_with(event, None) for event in pending]
            self.suggested += sum(1 for e in linked if shown_story(e))
            self.seconds += time.process_time() - started
            yield from linked

    def _revise(self, final: list, pending: list, ids: set[str], embed, days: list,
                stories: list, vectors: list, labels: tuple[list, list],
                rows: list[str]) -> tuple[list, list]:
        """Put the final versions of events in place of their first records: in the pool
        (in the first record's row, so the pool is the one the final events would give)
        and among the waiting events. Returns (waiting events, events with a story to pass)."""
        by_id = {e.id: e for e in final}
        self.rewritten += sum(1 for event_id in by_id if event_id in ids)
        pending = [e for e in pending if e.id not in by_id]
        row_of = {event_id: r for r, event_id in enumerate(rows) if event_id in by_id}
        again = [_unsuggested(e) for e in by_id.values() if e.story]
        pending += [e for e in by_id.values() if not e.story]
        ids.update(e.id for e in again)
        replaced = [e for e in again if e.id in row_of]
        dropped = {row_of[e.id] for e in by_id.values() if not e.story and e.id in row_of}
        if replaced or dropped:
            matrix = np.vstack(vectors)
            if replaced:
                matrix[[row_of[e.id] for e in replaced]] = np.asarray(
                    embed([e.headline for e in replaced]), dtype=np.float32)
            for event in replaced:
                r = row_of[event.id]
                days[r], stories[r] = day_number(event.date), event.story
                labels[0][r], labels[1][r] = entity_names(event), list(event.countries)
            if dropped:
                keep = [r for r in range(len(rows)) if r not in dropped]
                matrix = matrix[keep]
                for column in (days, stories, labels[0], labels[1], rows):
                    column[:] = [column[r] for r in keep]
            vectors[:] = [matrix]
        self._keep([e for e in again if e.id not in row_of], embed, days, stories, vectors,
                   labels, rows)
        return pending, again

    @staticmethod
    def _keep(events: list, embed, days: list, stories: list, vectors: list,
              labels: tuple[list, list], rows: list[str]) -> None:
        if not events:
            return
        days.extend(day_number(e.date) for e in events)
        stories.extend(e.story for e in events)
        labels[0].extend(entity_names(e) for e in events)
        labels[1].extend(list(e.countries) for e in events)
        rows.extend(e.id for e in events)
        vectors.append(np.asarray(embed([e.headline for e in events]), dtype=np.float32))


def _unsuggested(event):
    """An event with a story of its own carries no suggestion."""
    import msgspec

    if event.suggested_story is None and event.suggested_story_confidence is None:
        return event
    return msgspec.structs.replace(event, suggested_story=None, suggested_story_confidence=None)


def _with(event, proposal: Proposal | None):
    import msgspec

    if proposal is None:
        return msgspec.structs.replace(event, suggested_story=None,
                                       suggested_story_confidence=None)
    return msgspec.structs.replace(event, suggested_story=proposal.story,
                                   suggested_story_confidence=proposal.confidence)


class RememberingEmbed:
    """Headline vectors (`topic_embedding.embed`), remembering those of the last `size`
    texts (1 KB each). A long-lived writer (the write API's) links every upsert against the
    index's story events of the same weeks: embedding them again on every request was most
    of an upsert's cost."""

    def __init__(self, size: int = 100_000):
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, texts: list[str]) -> np.ndarray:
        embed = _default_embed()
        missing = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, embed(missing)))
        for text in texts:
            self._vectors.move_to_end(text)
        while len(self._vectors) > self.size:
            self._vectors.popitem(last=False)
        return np.stack([self._vectors[text] for text in texts]) if texts else embed([])


def _default_embed():
    from indexer.enrich.topic_embedding import embed

    return embed
