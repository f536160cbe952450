"""Suggested stories: the story of an event's nearest labelled neighbours, with a confidence.

Half of the archive's events, and every event of a source without story headings, carry no
story. For such an event we look at the events *with* a story (the source's own, never a
suggestion) dated within `window_days` of it, take the `neighbours` whose headlines are most
alike (cosine of WordLlama vectors, topic_embedding.embed), and let them vote: each votes for
its story with weight max(0, cosine) ** `power`. Stories are compared case-blind, with dashes
and spaces normalised ("Syrian civil war" and "Syrian Civil War" are one vote); the winner
is written as its most alike voter writes it.

The confidence is a calibrated probability that the winner is the event's story: logistic
regression over five features of the vote (FEATURES), fitted by
training/story_linking.py on hidden stories of the training years and stored with the
settings in story_links.json. An event whose source gives a story never gets a suggestion.
A suggestion at or above `threshold` counts in the story facet and filter (the writer
indexes it in `story`/`story_key`) and is shown by the API; below it, it is kept in the index
(`suggested_story`, `suggested_story_confidence`) but not shown.
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SETTINGS_FILE = Path(__file__).with_name("story_links.json")
FEATURES = ("share", "top", "name", "votes", "time")
"""share: the winner's part of the vote; top: the best cosine among its voters; name: cosine
of the headline and the story's own name; votes: the winner's voters / `neighbours`; time:
0.5 ** (days to its nearest voter / window_days)."""

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Settings:
    window_days: int
    neighbours: int
    power: float
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
                   power=float(data["power"]),
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


class Pool:
    """Events with a story, ordered by day: their day numbers, stories and unit vectors."""

    def __init__(self, days: Sequence[int], stories: Sequence[str], vectors: np.ndarray):
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


def propose(pool: Pool, days: Sequence[int], vectors: np.ndarray, config: Settings,
            embed=None, leave_out: Sequence[int] | None = None) -> list[Proposal | None]:
    """The suggestion for each event (day number, unit vector), or None without a labelled
    neighbour in the window. `leave_out[i]`: a position in the pool as built (before
    ordering) that target i must not see (itself, when evaluating with its story hidden);
    -1 for none. `embed`: texts -> unit vectors (default WordLlama's), for story names."""
    embed = embed or _default_embed()
    days = np.asarray(days, dtype=np.int64)
    vectors = np.asarray(vectors, dtype=np.float32)
    position = np.empty(len(pool), dtype=np.int64)
    position[pool.rows] = np.arange(len(pool))
    votes: list[tuple[int, tuple[float, ...]] | None] = [None] * len(days)
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
        for row, target in enumerate(group):
            votes[target] = _vote(pool, sims[row], lo, day, config)
    winners = [v[0] for v in votes if v is not None]
    names = dict(zip(winners, pool.name_vectors(winners, embed))) if winners else {}
    proposals: list[Proposal | None] = []
    for target, vote in enumerate(votes):
        if vote is None:
            proposals.append(None)
            continue
        name, (share, top, count, time) = vote
        features = (share, top, float(names[name] @ vectors[target]), count, time)
        proposals.append(Proposal(pool.names[name], confidence(features, config), features))
    return proposals


def confidence(features: Sequence[float], config: Settings) -> float:
    z = config.intercept + sum(c * f for c, f in zip(config.coefficients, features))
    return round(1.0 / (1.0 + math.exp(-z)), 4)


def _vote(pool: Pool, sims: np.ndarray, lo: int, day: int, config: Settings):
    k = config.neighbours
    if len(sims) > k:
        best = np.argpartition(-sims, k - 1)[:k]
    else:
        best = np.arange(len(sims))
    best = best[sims[best] >= config.min_similarity]  # -inf: left out
    weights = np.maximum(sims[best], 0.0) ** config.power
    total = float(weights.sum())
    if not len(best) or total <= 0:
        return None
    stories = pool.story[lo + best]
    keys = pool.key_of_name[stories]
    tally: dict[int, float] = {}
    for key, weight in zip(keys.tolist(), weights.tolist()):
        tally[key] = tally.get(key, 0.0) + weight
    winner = max(tally, key=tally.__getitem__)
    mine = keys == winner
    spelled = int(stories[mine][np.argmax(sims[best][mine])])
    gap = int(np.min(np.abs(pool.days[lo + best[mine]] - day)))
    return spelled, (round(tally[winner] / total, 6), float(sims[best][mine].max()),
                     float(mine.sum()) / k, 0.5 ** (gap / max(config.window_days, 1)))


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

    Events with a story pass at once; their day, story and headline vector join the pool
    (about 1 KB an event). Events without one wait in a temporary file until the stream
    ends, then pass with their suggestion, in the order they came. `existing(first, last)`
    gives the index's events with a story between two day numbers, when the run adds to an
    index that has them (`eventsearch index`); a fresh generation has none.

    Since waiting events are written last, one that a later event superseded (named it
    among its earlier versions) would come back: `stale` lists their ids, for the writer
    to delete after the stream.
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

    def link(self, events: Iterable) -> Iterator:
        import msgspec

        from indexer.record import Event

        embed = self._embed or _default_embed()
        encoder, decoder = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(Event)
        days: list[int] = []
        stories: list[str] = []
        vectors: list[np.ndarray] = []
        ids: set[str] = set()
        aliases: set[str] = set()
        batch: list = []
        waiting = 0
        with tempfile.TemporaryFile() as spill:
            for event in events:
                started = time.process_time()
                aliases.update(event.aliases)
                if event.story:
                    if event.suggested_story is not None:
                        event = msgspec.structs.replace(event, suggested_story=None,
                                                        suggested_story_confidence=None)
                    batch.append(event)
                    ids.add(event.id)
                    full = len(batch) >= self._BATCH
                else:
                    blob = encoder.encode(event)
                    spill.write(len(blob).to_bytes(4, "little") + blob)
                    waiting += 1
                    full = False
                if full:
                    self._keep(batch, embed, days, stories, vectors)
                self.seconds += time.process_time() - started
                if full:
                    yield from batch
                    batch = []
            started = time.process_time()
            self._keep(batch, embed, days, stories, vectors)
            self.seconds += time.process_time() - started
            yield from batch
            if not waiting:
                return
            started = time.process_time()
            spill.seek(0)
            pending = [decoder.decode(spill.read(int.from_bytes(spill.read(4), "little")))
                       for _ in range(waiting)]
            self.stale = {e.id for e in pending} & aliases
            if self._existing is not None:
                first = min(day_number(e.date) for e in pending) - self._config.window_days
                last = max(day_number(e.date) for e in pending) + self._config.window_days
                passed = ids | {e.id for e in pending}  # written anew by this run
                known = [e for e in self._existing(first, last)
                         if e.story and e.id not in passed]
                self._keep(known, embed, days, stories, vectors)
            linked = pending
            if days:
                pool = Pool(days, stories, np.vstack(vectors))
                proposals = propose(pool, [day_number(e.date) for e in pending],
                                    embed([e.headline for e in pending]), self._config,
                                    embed=embed)
                linked = [_with(event, proposal) for event, proposal in zip(pending, proposals)]
            else:
                linked = [_with(event, None) for event in pending]
            self.suggested += sum(1 for e in linked if shown_story(e))
            self.seconds += time.process_time() - started
            yield from linked

    @staticmethod
    def _keep(events: list, embed, days: list, stories: list, vectors: list) -> None:
        if not events:
            return
        days.extend(day_number(e.date) for e in events)
        stories.extend(e.story for e in events)
        vectors.append(np.asarray(embed([e.headline for e in events]), dtype=np.float32))


def _with(event, proposal: Proposal | None):
    import msgspec

    if proposal is None:
        return msgspec.structs.replace(event, suggested_story=None,
                                       suggested_story_confidence=None)
    return msgspec.structs.replace(event, suggested_story=proposal.story,
                                   suggested_story_confidence=proposal.confidence)


def _default_embed():
    from indexer.enrich.topic_embedding import embed

    return embed
