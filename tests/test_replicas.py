"""Read replicas on loopback ports: a primary and `serve --follow` replicas of it.

Everything is real: the sample index built with the real spaCy model (conftest), a reindex
on the primary, server processes, and for the faults a small HTTP proxy between a replica
and the primary that can hold a file's download half-way or flip one byte of it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from indexer.index.storage import generations_dir, live_generation
from tests.conftest import SAMPLE_DUMP
from tests.servers import running_server, serve_process

KEY = "replica-test-key-0123456789"
AUTH = {"X-API-Key": KEY}
FOLLOW = {"EVENTSEARCH_FOLLOW_KEY": KEY, "EVENTSEARCH_FOLLOW_INTERVAL": "0.3",
          "EVENTSEARCH_RELOAD_INTERVAL": "0.2"}


@pytest.fixture(scope="module")
def primary_dir(sample_data_dir, tmp_path_factory) -> Path:
    # A copy with the enrichment cache: each reindex below is a warm one.
    target = tmp_path_factory.mktemp("primary") / "data"
    shutil.copytree(sample_data_dir, target, ignore=shutil.ignore_patterns("reindex.lock"))
    return target


@pytest.fixture(scope="module")
def primary(primary_dir) -> Iterator[str]:
    env = {"EVENTSEARCH_API_KEYS": f"ops:{KEY}", "EVENTSEARCH_RELOAD_INTERVAL": "0.2"}
    with running_server(primary_dir, env=env) as url:
        yield url


@pytest.fixture(scope="module")
def publish_new_generation(primary_dir, nlp):
    """Reindex the sample dump on the primary (in this process); the new generation's name
    and the time it was published (CURRENT's modification time)."""
    from indexer.ingest import IngestOptions, reindex

    def run() -> tuple[str, float]:
        summary = reindex([SAMPLE_DUMP], primary_dir, IngestOptions(nlp=nlp, keep_generations=3))
        assert summary.indexed > 150
        return live_generation(primary_dir), (primary_dir / "CURRENT").stat().st_mtime

    return run


@contextmanager
def replica(data_dir: Path, primary_url: str, workers: int = 1
            ) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`eventsearch serve --follow PRIMARY` on a free port: (url, process, log file)."""
    log_path = data_dir.parent / f"{data_dir.name}-{time.time_ns()}.log"
    with serve_process(data_dir, workers, env=FOLLOW, args=("--follow", primary_url),
                       log_path=log_path) as served:
        yield served


def replica_state(url: str) -> dict:
    return httpx.get(f"{url}/ready", timeout=5).json()["replica"]


def wait_for(condition, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s: {what}")


def serves(url: str, primary_generation: str) -> bool:
    state = replica_state(url)
    return state["serving_generation"] == primary_generation and state["lag_seconds"] == 0


class SearchLoop:
    """A client searching a server in a loop, counting answers that are not a 200 with hits."""

    def __init__(self, url: str):
        self.url, self.done, self.failures, self.searches = url, threading.Event(), [], 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.done.is_set():
                try:
                    response = client.get("/api/search", params={"q": "russia", "size": 3})
                    if response.status_code != 200 or not response.json()["total"]:
                        self.failures.append(f"{response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as error:
                    self.failures.append(repr(error))
                self.searches += 1

    def stop(self) -> SearchLoop:
        self.done.set()
        self.thread.join(timeout=15)
        return self


def test_reindex_on_primary_reaches_both_replicas_with_no_failed_search(
        primary, primary_dir, publish_new_generation, tmp_path):
    with replica(tmp_path / "a", primary) as (a, _, _), \
            replica(tmp_path / "b", primary, workers=2) as (b, _, _):
        before = live_generation(primary_dir)
        assert serves(a, before) and serves(b, before)
        loops = [SearchLoop(a), SearchLoop(b)]
        generation, published = publish_new_generation()
        assert generation != before
        for url in (a, b):
            wait_for(lambda url=url: serves(url, generation), 15, f"{url} serves {generation}")
            assert time.time() - published < 10, "a replica took 10 s or more after the publish"
        time.sleep(1)  # searches on the new generation too
        for loop in (loop.stop() for loop in loops):
            assert loop.failures == [] and loop.searches > 20
        for url in (a, b):  # the copy answers as the primary does
            query = {"q": "missile", "country": "RU"}
            assert (httpx.get(f"{url}/api/search", params=query).json()["total"]
                    == httpx.get(f"{primary}/api/search", params=query).json()["total"])


def test_upsert_and_delete_on_primary_reach_a_replica_by_their_segments(primary, tmp_path):
    event = {"id": "replica-upsert-1", "date": "2024-03-01",
             "headline": "Zorblaxian delegates sign a treaty in Reykjavik"}
    with replica(tmp_path / "r", primary) as (url, _, _):
        copied_before = live_generation(tmp_path / "r")
        response = httpx.post(f"{primary}/api/events", content=json.dumps(event), headers=AUTH,
                              timeout=120)
        assert response.status_code == 200 and response.json()["indexed"] == 1
        wait_for(lambda: _total(url, "zorblaxian") == 1, 10, "the upsert is searchable")
        # A new local generation per primary commit, sharing the unchanged segment files
        # with the one before it (hard links): only the commit's new files travelled.
        copied_after = live_generation(tmp_path / "r")
        assert copied_after != copied_before
        shared = _inodes(tmp_path / "r", copied_before) & _inodes(tmp_path / "r", copied_after)
        assert len(shared) >= 6  # an unchanged segment's files (idx, pos, term, store, ...)

        assert httpx.delete(f"{primary}/api/events/{event['id']}", headers=AUTH).status_code == 204
        wait_for(lambda: _total(url, "zorblaxian") == 0, 10, "the delete reaches the replica")


def test_a_replica_refuses_writes_naming_its_primary(primary, tmp_path):
    with replica(tmp_path / "r", primary) as (url, _, _):
        writes = [("POST", "/api/events", b'{"id": "x", "date": "2024-01-01", "headline": "x"}'),
                  ("DELETE", f"/api/events/{'x'}", None),
                  ("POST", "/api/admin/reindex", b'{"paths": ["a"]}'),
                  ("POST", "/api/admin/reload", None)]
        for method, path, body in writes:
            response = httpx.request(method, f"{url}{path}", content=body, headers=AUTH)
            assert response.status_code == 405, (method, path, response.text)
            assert primary in response.json()["detail"] and "replica" in response.json()["detail"]
        assert httpx.get(f"{url}/api/search", params={"q": "russia"}).status_code == 200


def test_a_replica_killed_mid_download_never_serves_the_partial_copy(
        primary, publish_new_generation, tmp_path):
    data_dir = tmp_path / "r"
    with FaultyProxy(primary) as proxy:
        with replica(data_dir, proxy.url) as (url, process, _):
            old = live_generation(data_dir)
            proxy.hold.clear()  # file bodies now stop half-way until released
            new_primary, _ = publish_new_generation()
            assert proxy.holding.wait(30), "no file download was held half-way"
            [partial] = _partial(data_dir)  # the copy under way
            os.kill(int(httpx.get(f"{url}/health").json()["pid"]), signal.SIGKILL)
            process.wait(timeout=10)
            proxy.hold.set()
        assert live_generation(data_dir) == old and (generations_dir(data_dir) / partial).is_dir()

        with replica(data_dir, proxy.url) as (url, _, log_path):
            seen = set()

            def caught_up() -> bool:
                seen.add(httpx.get(f"{url}/health").json()["generation"])
                return serves(url, new_primary)

            wait_for(caught_up, 15, "the restarted replica copies the new generation")
            assert partial not in seen and old in seen
            assert not (generations_dir(data_dir) / partial).exists()
            assert "removed copies cut short" in log_path.read_text()


def test_a_corrupted_download_is_refused_and_the_replica_keeps_serving(
        primary, publish_new_generation, tmp_path):
    data_dir = tmp_path / "r"
    with FaultyProxy(primary) as proxy, replica(data_dir, proxy.url) as (url, _, log_path):
        old = live_generation(data_dir)
        old_total = _total(url, "russia")
        proxy.flip = True  # one byte of every file body flipped on the way
        new_primary, _ = publish_new_generation()
        state = wait_for(lambda: (s := replica_state(url))["error"] and s, 15, "a refusal")
        assert "SHA-256" in state["error"] and state["primary_generation"] == new_primary
        assert state["lag_seconds"] > 0 and state["serving_generation"] != new_primary
        assert live_generation(data_dir) == old
        assert httpx.get(f"{url}/health").json()["generation"] == old
        assert _total(url, "russia") == old_total
        wait_for(lambda: not _partial(data_dir), 5, "the refused copy is removed")
        assert "refused generation" in log_path.read_text()
        metrics = httpx.get(f"{url}/metrics").text
        assert "eventsearch_replica_lag_seconds" in metrics


def test_the_manifest_lists_only_reader_files_and_files_outside_it_are_refused(
        primary, primary_dir):
    manifest = httpx.get(f"{primary}/api/admin/generations/current", headers=AUTH).json()
    assert manifest["generation"] == live_generation(primary_dir)
    names = {file["name"] for file in manifest["files"]}
    assert {"meta.json", "schema_version"} <= names and ".managed.json" not in names
    files = f"{primary}/api/admin/generations/{manifest['generation']}/files"
    store = next(f for f in manifest["files"] if f["name"].endswith(".store"))
    response = httpx.get(f"{files}/{store['name']}", headers=AUTH)
    assert response.headers["content-length"] == str(store["size"])
    for name in (".managed.json", "..%2FCURRENT", "..%2F..%2Freindex.lock"):
        assert httpx.get(f"{files}/{name}", headers=AUTH).status_code == 404
    assert httpx.get(f"{files}/meta.json").status_code == 401  # the admin key is required


def _total(url: str, words: str) -> int:
    return httpx.get(f"{url}/api/search", params={"q": words}, timeout=10).json()["total"]


def _inodes(data_dir: Path, generation: str) -> set[int]:
    return {p.stat().st_ino for p in (generations_dir(data_dir) / generation).iterdir()}


def _partial(data_dir: Path) -> list[str]:
    live = live_generation(data_dir) or ""
    return [p.name for p in generations_dir(data_dir).iterdir() if p.name > live]


class FaultyProxy:
    """A real HTTP proxy in front of the primary. With `hold` cleared, a file body stops
    half-way (and `holding` is set) until it is set again; with `flip`, one byte in the
    middle of every file body is flipped. Manifests always pass unchanged."""

    def __init__(self, upstream: str):
        self.upstream, self.hold, self.flip = upstream, threading.Event(), False
        self.hold.set()
        self.holding = threading.Event()  # set once a file body has stopped half-way
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                headers = {"X-API-Key": self.headers.get("X-API-Key", ""),
                           "Accept-Encoding": "identity"}
                response = httpx.get(proxy.upstream + self.path, headers=headers, timeout=30)
                body = response.content
                is_file = "/files/" in self.path and response.status_code == 200
                if is_file and proxy.flip and body:
                    middle = len(body) // 2
                    body = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1:]
                self.send_response(response.status_code)
                self.send_header("Content-Type", response.headers.get("content-type", ""))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if is_file and not proxy.hold.is_set():
                        self.wfile.write(body[:len(body) // 2])
                        self.wfile.flush()
                        proxy.holding.set()
                        proxy.hold.wait(60)
                        body = body[len(body) // 2:]
                    self.wfile.write(body)
                except OSError:  # the replica was killed meanwhile
                    pass

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultyProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()
