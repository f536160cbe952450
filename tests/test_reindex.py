"""Bulk (re)indexing: counts that add up, idempotence, the enrichment cache, generations
that swap atomically, and recovery from a reindex killed half-way."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer.enrich.cache import CachedLabels, EnrichmentCache, fingerprint, text_key
from indexer.index import storage
from indexer.ingest import CACHE_FILE, IngestOptions, ingest, reindex
from indexer.readers import iter_records, read_dump
from indexer.readers.fold import as_current
from indexer.record import Event
from service.search.engine import EventIndex
from service.search.query import SearchRequest
from tests.conftest import SAMPLE_DUMP, SHARED, WIKITIMES

REDDIT = SHARED / "corpora" / "reddit-news-headlines-2022-07.json"


class CountingPipeline:
    """The real pipeline, counting the headlines it is asked to process."""

    def __init__(self, nlp):
        self._nlp = nlp
        self.meta, self.pipe_names = nlp.meta, nlp.pipe_names
        self.processed = 0

    def pipe(self, texts, **kwargs):
        texts = list(texts)
        self.processed += len(texts)
        return self._nlp.pipe(texts, **kwargs)


def adds_up(summary) -> bool:
    return summary.read == summary.indexed + summary.merged + summary.rejected


def ndjson_dump(path: Path, count: int, bad_every: int = 0) -> Path:
    titles = [item["title"] for item in json.loads(REDDIT.read_text())[:count]]
    with path.open("w") as out:
        for number, title in enumerate(titles):
            if bad_every and number % bad_every == 0:
                out.write('{"id": "broken", "date": "2022-13-01", "headline": "x"}\n')
            else:
                out.write(json.dumps({"id": f"r{number}", "date": "2022-07-08",
                                      "headline": title}) + "\n")
    return path


def test_indexing_the_same_dump_twice_is_idempotent_and_the_second_run_needs_no_nlp(
        tmp_path, nlp):
    counting = CountingPipeline(nlp)
    first = ingest([SAMPLE_DUMP], tmp_path, IngestOptions(nlp=counting))
    processed = counting.processed
    second = ingest([SAMPLE_DUMP], tmp_path, IngestOptions(nlp=counting))
    assert adds_up(first) and adds_up(second)
    assert (first.read, first.indexed, first.merged) == (second.read, second.indexed, second.merged)
    assert EventIndex.open(tmp_path).count() == first.indexed
    # The stream labels each event's first record as it passes. Where a later record of the
    # same event wins the fold with another text (the archive's over a fixture page's, for
    # four of the seed's related events), the folded event is labelled again: each text once.
    first_text: dict[str, bytes] = {}
    for record in iter_records(SAMPLE_DUMP):
        if isinstance(record, Event):
            first_text.setdefault(record.id, text_key(as_current(record).headline))
    refolded = sum(first_text[e.id] != text_key(e.headline) for e in read_dump(SAMPLE_DUMP).events)
    assert refolded == 4
    assert processed == first.indexed + refolded
    assert counting.processed == processed  # warm: no NLP
    assert second.cache_hits == second.indexed


def test_counts_add_up_and_rejects_are_reported_with_their_line(tmp_path, nlp, sample_data_dir):
    dump = ndjson_dump(tmp_path / "dump.ndjson", 60, bad_every=10)
    (tmp_path / "data").mkdir()  # with the sample's labels from the session's index: no NLP
    shutil.copy(sample_data_dir / CACHE_FILE, tmp_path / "data" / CACHE_FILE)
    summary = reindex([dump, SAMPLE_DUMP], tmp_path / "data", IngestOptions(nlp=nlp))
    assert adds_up(summary) and summary.rejected == 6
    report = [json.loads(line) for line in summary.rejects_path.read_text().splitlines()]
    assert [r["location"] for r in report][:2] == [f"{dump}:1", f"{dump}:11"]
    assert all("date" in r["reason"].lower() for r in report)


def test_event_updated_in_a_newer_dump_replaces_the_old_one(tmp_path, nlp):
    old, new = tmp_path / "old.ndjson", tmp_path / "new.ndjson"
    old.write_text('{"id": "e1", "date": "2020-01-01", "headline": "Floods hit Dhaka."}\n')
    new.write_text('{"id": "e1", "date": "2020-01-01", "headline": "Storms hit Dhaka."}\n')
    ingest([old], tmp_path / "data", IngestOptions(nlp=nlp))
    ingest([new], tmp_path / "data", IngestOptions(nlp=nlp))
    index = EventIndex.open(tmp_path / "data")
    assert index.count() == 1 and index.search(SearchRequest(text="storms")).total == 1


def test_reindex_publishes_a_new_generation_and_prunes_old_ones(tmp_path, nlp):
    data = tmp_path / "data"
    names = [reindex([WIKITIMES], data, IngestOptions(nlp=nlp, keep_generations=2)).generation
             for _ in range(3)]
    assert storage.live_generation(data) == names[-1]
    assert sorted(p.name for p in storage.generations_dir(data).iterdir()) == names[1:]
    assert EventIndex.open(data).count() == 428


def test_cache_serves_only_labels_of_the_same_model_and_code(tmp_path, nlp):
    path = tmp_path / "cache.sqlite"
    key = text_key("Floods  hit\\u00a0Dhaka.")
    cache = EnrichmentCache(path, "fingerprint-a")
    cache.put_many({key: CachedLabels(["disasters-accidents"], ["BD"], [])})
    cache.close()
    assert EnrichmentCache(path, "fingerprint-a").get_many([key])
    assert not EnrichmentCache(path, "fingerprint-b").get_many([key])  # invalidated ...
    assert not EnrichmentCache(path, "fingerprint-a").get_many([key])  # ... for good


def test_fingerprint_changes_with_the_model_version(nlp, monkeypatch):
    before = fingerprint(nlp)
    monkeypatch.setitem(nlp.meta, "version", "9.9.9")
    assert fingerprint(nlp) != before


def test_text_key_ignores_white_space_and_unicode_form():
    assert text_key("Floods  hit Dhaka. ") == text_key("Floods hit Dhaka.")
    assert text_key("Côte d\\u2019Ivoire") == text_key("Côte d\\u2019Ivoire")
    assert text_key("Floods hit Dhaka.") != text_key("Floods hit Delhi.")


def test_killed_reindex_leaves_the_live_generation_serving_and_is_cleaned_up(tmp_path, nlp):
    data = tmp_path / "data"
    live = reindex([WIKITIMES], data, IngestOptions(nlp=nlp)).generation
    dump = ndjson_dump(tmp_path / "big.ndjson", 4000)
    command = [sys.executable, "-m", "indexer.cli", "reindex", str(dump), "--data-dir",
               str(data), "--no-cache", "--processes", "1", "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(list(storage.generations_dir(data).iterdir())) == 2, process)
        time.sleep(1.0)  # let it write into the new generation for a while
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert storage.live_generation(data) == live
    assert EventIndex.open(data).count() == 428
    assert storage.abandoned_generations(data)
    second = reindex([WIKITIMES], data, IngestOptions(nlp=nlp))
    assert not storage.abandoned_generations(data)
    assert storage.live_generation(data) == second.generation


def _wait_for(condition, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"reindex exited early with {process.returncode}")
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.05)
