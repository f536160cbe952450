"""Index faults (issue 14), each with the real CLI in subprocesses on a real data directory:
a reindex killed (SIGKILL) at every step, a full disk under a reindex and under upserts,
a damaged or missing generation at start-up and when one is published, and the spaCy
model missing. After each: the live generation is intact and serving, nothing half-written
is published, and what a run left behind is cleaned up."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from indexer.index import storage
from indexer.ingest import IngestOptions, reindex
from service.search.engine import EventIndex
from tests.conftest import WIKITIMES
from tests.servers import _free_port, running_server, serve_process
from tests.test_reindex import ndjson_dump

SEED = 14
WIKITIMES_EVENTS = 428
API_KEY = "fault-test-key-0123456789abcdef"


def eventsearch(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "indexer.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600, **kwargs)


def error_line(result: subprocess.CompletedProcess) -> str:
    """The failure's stderr, asserted to be one line (no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    return lines[0]


def generation_names(data: Path) -> set[str]:
    return {p.name for p in storage.generations_dir(data).iterdir()}


def assert_serving(data: Path, generation: str, count: int) -> None:
    """`generation` is live, passes every check a server makes, and holds `count` events."""
    assert storage.live_generation(data) == generation
    events = EventIndex.open(data)
    assert (events.generation, events.fallback, events.count()) == (generation, None, count)


# --- kill -9 of a reindex ------------------------------------------------------------------

# Steps a reindex stops itself at with EVENTSEARCH_STOP_AT (indexer/ingest.py `_reached`).
STOP_POINTS = ["reading", "enrich + index", "committing", "verifying", "publishing"]


class Watcher(threading.Thread):
    """Asks a running server for every event (a real search) over and over, noting totals."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.totals, self.failures, self.stopped = url, [], [], threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stopped.is_set():
                try:
                    response = client.get("/api/search", params={"size": 1})
                    if response.status_code == 200:
                        self.totals.append(response.json()["total"])
                    else:
                        self.failures.append(f"{response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as error:
                    self.failures.append(repr(error))
                time.sleep(0.02)


@contextlib.contextmanager
def watching(url: str):
    watcher = Watcher(url)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stopped.set()
        watcher.join()


def start_reindex(data: Path, dump: Path, status: Path, stop_at: str | None = None):
    env = {**os.environ, "EVENTSEARCH_STOP_AT": stop_at or ""}
    return subprocess.Popen(
        [sys.executable, "-m", "indexer.cli", "reindex", str(dump), "--data-dir", str(data),
         "--no-cache", "--processes", "1", "--no-progress", "--status-file", str(status)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def wait_until_stopped(process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{process.pid}/stat").read_text().split(") ")[1][0] != "T":
        assert process.poll() is None, f"reindex exited with {process.returncode}"
        assert time.monotonic() < deadline, "reindex never reached its stop point"
        time.sleep(0.01)


def stage_of(status: Path) -> str:
    try:
        return json.loads(status.read_bytes())["stage"]
    except FileNotFoundError:
        return "loading the model"


def test_reindex_killed_at_any_step_leaves_the_live_generation_serving(tmp_path, nlp):
    data = tmp_path / "data"
    live = reindex([WIKITIMES], data, IngestOptions(nlp=nlp)).generation
    dump = ndjson_dump(tmp_path / "big.ndjson", 2500)
    status = tmp_path / "status.json"
    rng = random.Random(SEED)
    hits: list[dict] = []
    with running_server(data) as url, watching(url) as watcher:
        partial, duration = None, 0.0
        started = time.monotonic()
        for point in [*STOP_POINTS, "random", "random", "random", "published"]:
            status.unlink(missing_ok=True)
            if point == "random":
                # Seeded delays across the run's measured duration (start to publishing).
                delay = rng.uniform(0.1, 0.9) * duration
                process = start_reindex(data, dump, status)
                time.sleep(delay)
            else:
                process = start_reindex(data, dump, status, stop_at=point)
                wait_until_stopped(process)
                if point == "publishing":
                    duration = time.monotonic() - started
            # The partial generation the previous kill left was removed on this run's start.
            if partial and stage_of(status) != "loading the model":
                assert partial not in generation_names(data)
            building = sorted(generation_names(data) - {live})
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            phase = stage_of(status)
            hits.append({"point": point, "phase": phase, "new generations": building,
                         "published": storage.live_generation(data) != live})
            if point == "published":
                new = storage.live_generation(data)
                assert new != live and new in building
                assert_serving(data, new, 2500)  # complete and verified before it was live
            else:
                assert_serving(data, live, WIKITIMES_EVENTS)
            partial = next(iter(storage.abandoned_generations(data)), None)
            started = time.monotonic()
        time.sleep(1.5)  # the server notices the generation published last
    print(json.dumps(hits, indent=1))
    assert not watcher.failures
    # The server answered with the old generation's count throughout, then the new one's.
    first_new = watcher.totals.index(2500)
    assert set(watcher.totals[:first_new]) == {WIKITIMES_EVENTS}
    assert set(watcher.totals[first_new:]) == {2500}
    assert {hit["phase"] for hit in hits} >= set(STOP_POINTS) | {"published"}
    # The next reindex cleans up whatever the kills left and succeeds.
    final = eventsearch("reindex", str(WIKITIMES), "--data-dir", str(data), "--json",
                        "--processes", "1", "--no-progress")
    assert final.returncode == 0, final.stderr
    summary = json.loads(final.stdout)
    assert_serving(data, summary["generation"], WIKITIMES_EVENTS)
    assert len(generation_names(data)) == 2 and not storage.abandoned_generations(data)
    assert not list(data.glob(".CURRENT.*"))


# --- disk full -----------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 48 MB tmpfs mounted for the test, to be filled up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48M", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """Fill `disk` until only about `leave` bytes are free."""
    filler = disk / "filler"
    with open(filler, "wb") as out:
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 65536)
    with open(filler, "r+b") as out:
        out.truncate(filler.stat().st_size - leave)
    return filler


def live_data_dir(disk: Path, tmp_path: Path, nlp) -> tuple[Path, str]:
    data = disk / "data"
    dump = ndjson_dump(tmp_path / "first.ndjson", 300)
    return data, reindex([dump], data, IngestOptions(nlp=nlp)).generation


@pytest.mark.parametrize("cache", [True, False], ids=["with-cache", "no-cache"])
def test_full_disk_fails_a_reindex_cleanly_and_the_live_generation_stays(
        small_disk, tmp_path, nlp, cache):
    data, live = live_data_dir(small_disk, tmp_path, nlp)
    before = generation_names(data)
    fill(small_disk, leave=200_000)
    dump = ndjson_dump(tmp_path / "big.ndjson", 1500)
    result = eventsearch("reindex", str(dump), "--data-dir", str(data), "--processes", "1",
                         "--no-progress", *([] if cache else ["--no-cache"]))
    line = error_line(result)
    assert "no space left on device" in line and str(data) in line
    assert_serving(data, live, 300)
    assert generation_names(data) == before  # the partial generation is gone


def test_full_disk_fails_an_upsert_and_the_previous_commit_stays_readable(
        small_disk, tmp_path, nlp):
    data, live = live_data_dir(small_disk, tmp_path, nlp)
    filler = fill(small_disk, leave=200_000)
    more = ndjson_dump(tmp_path / "more.ndjson", 1500)
    result = eventsearch("index", str(more), "--data-dir", str(data), "--no-cache",
                         "--processes", "1", "--no-progress")
    line = error_line(result)
    assert "no space left on device" in line and str(data) in line
    assert_serving(data, live, 300)  # checksums, a search and a stored event: all readable
    filler.unlink()  # room again: the next upsert succeeds in the same generation
    again = eventsearch("index", str(more), "--data-dir", str(data), "--no-cache",
                        "--processes", "1", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert_serving(data, live, 1500)  # r0..r299 updated, 1,200 added


def test_full_disk_fails_an_upsert_through_the_api_and_the_index_stays(
        small_disk, tmp_path, nlp):
    data, live = live_data_dir(small_disk, tmp_path, nlp)
    body = ndjson_dump(tmp_path / "more.ndjson", 1000).read_bytes()
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/x-ndjson"}
    with running_server(data, env={"EVENTSEARCH_API_KEY": API_KEY}) as url:
        filler = fill(small_disk, leave=200_000)
        failed = httpx.post(f"{url}/api/events", content=body, headers=headers, timeout=300)
        health = httpx.get(f"{url}/health").json()
        assert (health["generation"], health["events"]) == (live, 300)
        assert httpx.get(f"{url}/api/search", params={"q": "the"}).json()["total"] > 0
        filler.unlink()
        response = httpx.post(f"{url}/api/events", content=body, headers=headers, timeout=300)
        assert response.status_code == 200, response.text
    assert_serving(data, live, 1000)
    # 507 Insufficient Storage, naming the cause (DiskFull's handler in service/app.py).
    assert failed.status_code == 507, failed.text
    assert "no space left on device" in failed.json()["detail"]


# --- damaged or missing generations --------------------------------------------------------

@pytest.fixture(scope="module")
def two_generations(tmp_path_factory, nlp) -> tuple[Path, str, str]:
    """A data directory with an older generation (120 events) and the live one (428)."""
    root = tmp_path_factory.mktemp("two-generations")
    older = reindex([ndjson_dump(root / "older.ndjson", 120)], root / "data",
                    IngestOptions(nlp=nlp)).generation
    live = reindex([WIKITIMES], root / "data", IngestOptions(nlp=nlp)).generation
    return root / "data", older, live


def segment_file(generation: Path, suffix: str) -> Path:
    return next(p for p in generation.iterdir() if p.suffix == suffix)


def flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 3, len(data) // 3 + 8):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGES = {
    "missing": lambda g: shutil.rmtree(g),
    "segment-truncated": lambda g: truncate(segment_file(g, ".store")),
    "segment-bytes-flipped": lambda g: flip_bytes(segment_file(g, ".idx")),
    "meta-json-bytes-flipped": lambda g: flip_bytes(g / "meta.json"),
    "meta-json-truncated": lambda g: truncate(g / "meta.json"),
    "wrong-schema-version": lambda g: (g / "schema_version").write_text("999\n"),
}
REASONS = {"missing": ["is missing"], "wrong-schema-version": ["schema version 999"],
           "meta-json-bytes-flipped": ["does not open"], "meta-json-truncated": ["does not open"],
           "segment-truncated": ["does not open", "is damaged"],
           "segment-bytes-flipped": ["fails its checksum"]}


def damaged_copy(two_generations, tmp_path: Path, damage: str) -> Path:
    data, _older, live = two_generations
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    DAMAGES[damage](storage.generations_dir(copy) / live)
    return copy


@contextlib.contextmanager
def serving(data: Path, log: Path):
    """`eventsearch serve` with its output in `log`; yields its URL."""
    with serve_process(data, env={"EVENTSEARCH_RELOAD_INTERVAL": "0.2"},
                       log_path=log) as (url, _process, _log):
        yield url


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_live_generation_at_start_up_serves_the_previous_good_one(
        two_generations, tmp_path, damage, caplog):
    _data, older, live = two_generations
    data = damaged_copy(two_generations, tmp_path, damage)
    with caplog.at_level("WARNING", logger="eventsearch"):
        events = EventIndex.open(data)
    assert (events.generation, events.count()) == (older, 120)
    assert older in events.fallback and live in events.fallback
    assert any(reason in events.fallback for reason in REASONS[damage]), events.fallback
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    with serving(data, tmp_path / "serve.log") as url:
        ready = httpx.get(f"{url}/ready").json()
        assert (ready["generation"], ready["events"]) == (older, 120)
        assert ready["fallback"] == events.fallback
        assert httpx.get(f"{url}/api/search", params={"q": "the"}).json()["total"] > 0
    log = (tmp_path / "serve.log").read_text()
    assert f"serving the older generation {older}; skipped: index generation {live}" in log


def test_serve_refuses_to_start_when_no_generation_is_good(two_generations, tmp_path):
    _data, older, live = two_generations
    data = damaged_copy(two_generations, tmp_path, "segment-truncated")
    flip_bytes(segment_file(storage.generations_dir(data) / older, ".store"))
    result = eventsearch("serve", "--port", str(_free_port()), "--data-dir", str(data))
    line = error_line(result)
    assert "no usable index generation" in line and live in line and older in line


def test_damaged_generation_published_while_serving_is_skipped(two_generations, tmp_path):
    data, _older, live = two_generations
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    generations = storage.generations_dir(copy)
    broken, good = "g99999999999999999999", "g99999999999999999998"
    shutil.copytree(generations / live, generations / broken)
    flip_bytes(segment_file(generations / broken, ".store"))
    shutil.copytree(generations / live, generations / good)
    with serving(copy, tmp_path / "serve.log") as url:
        storage.publish(copy, broken)
        time.sleep(1.5)  # several reload intervals
        ready = httpx.get(f"{url}/ready").json()
        assert (ready["generation"], ready["events"]) == (live, WIKITIMES_EVENTS)
        assert f"the published generation {broken} was skipped" in ready["fallback"]
        assert httpx.get(f"{url}/api/search", params={"size": 1}).json()["total"] == 428
        storage.publish(copy, good)  # the next good one is taken
        time.sleep(1.0)
        ready = httpx.get(f"{url}/ready").json()
        assert (ready["generation"], ready["fallback"]) == (good, None)
    log = (tmp_path / "serve.log").read_text()
    assert log.count(f"the published generation {broken} was skipped") == 1


# --- the spaCy model missing ---------------------------------------------------------------

@pytest.mark.parametrize("command", ["index", "reindex"])
def test_missing_spacy_model_is_one_line_naming_nlp_models_txt(
        two_generations, tmp_path, command):
    data = tmp_path / "data"
    shutil.copytree(two_generations[0], data)
    before = (storage.live_generation(data), generation_names(data))
    result = eventsearch(command, str(WIKITIMES), "--data-dir", str(data),
                         env={"EVENTSEARCH_MODEL": "no_such_model_xyz"})
    line = error_line(result)
    assert "nlp_models.txt" in line and "no_such_model_xyz" in line
    assert (storage.live_generation(data), generation_names(data)) == before
