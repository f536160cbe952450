"""The real server process: `eventsearch serve` on a free loopback port, queried over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import SEED_ID
from tests.servers import running_server


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
    """`serve --workers 2` answers from two processes: /health names the one answering.
    Each connection is accepted by one worker; many at once spread over both."""
    with running_server(sample_data_dir, workers=2) as url:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: _fresh_connection_health(url), range(200)))
    assert {status for status, _ in answers} == {200}
    assert len({pid for _, pid in answers}) == 2


def _fresh_connection_health(url: str) -> tuple[int, int]:
    with httpx.Client(base_url=url) as client:  # a new connection, maybe a new worker
        response = client.get("/api/search", params={"q": "missile"})
        return response.status_code, client.get("/health").json()["pid"]
