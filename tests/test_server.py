"""The real server process: `eventsearch serve` on a free loopback port, queried over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import SEED_ID


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(data_dir, env: dict | None = None, workers: int = 1) -> Iterator[str]:
    """`eventsearch serve` in its own process on a free loopback port; yields its URL."""
    port = _free_port()
    # A file, not a pipe: an undrained pipe fills up with access logs and blocks the server.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "indexer.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--data-dir", str(data_dir), "--workers", str(workers)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def server_url(sample_data_dir):
    with running_server(sample_data_dir) as url:
        yield url


def _wait_until_up(url: str, process: subprocess.Popen, log, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode(errors='replace')}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"server at {url} did not answer in {timeout} s")


def test_served_search_finds_the_seed_event(server_url):
    response = httpx.get(f"{server_url}/api/search", params={"q": "missile", "country": "RU"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert SEED_ID in [hit["id"] for hit in body["hits"]]
    assert body["facets"]["country"][0]["count"] >= 1


def test_served_related_and_errors(server_url):
    related = httpx.get(f"{server_url}/api/events/{SEED_ID}/related").json()["hits"]
    assert related and all(hit["context"] for hit in related)
    bad = httpx.get(f"{server_url}/api/search", params={"q": '"unclosed', "strict": "true"})
    assert bad.status_code == 400 and bad.json()["detail"]


def test_several_worker_processes_share_the_port(sample_data_dir):
    with running_server(sample_data_dir, workers=2) as url:
        with httpx.Client(base_url=url) as client:
            answers = [client.get("/api/search", params={"q": "missile"}) for _ in range(20)]
    assert {response.status_code for response in answers} == {200}
