"""The real server process: `eventsearch serve` on a free loopback port, queried over HTTP."""

from __future__ import annotations

import httpx
import pytest

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
    with running_server(sample_data_dir, workers=2) as url:
        with httpx.Client(base_url=url) as client:
            answers = [client.get("/api/search", params={"q": "missile"}) for _ in range(20)]
    assert {response.status_code for response in answers} == {200}
