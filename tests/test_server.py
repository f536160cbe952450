"""The real server process: `eventsearch serve` on a free loopback port, queried over HTTP."""

from __future__ import annotations

import json
import socket
from collections import Counter
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
        held = _workers_of_simultaneous_connections(url, 32)
    assert {status for status, _ in answers} == {200}
    assert len({pid for _, pid in answers}) == 2
    # 32 clients connecting at once, as a load balancer's pool does. From one shared socket
    # the first worker to wake took all of them; one socket per worker (SO_REUSEPORT) lets
    # the kernel spread them. Fewer than 4 of 32 on a worker happens by chance 1 in 10^6.
    assert len(held) == 2 and min(held.values()) >= 4, held


def _workers_of_simultaneous_connections(url: str, clients: int) -> Counter:
    """Open `clients` connections back to back (microseconds apart), then ask each which
    worker holds it."""
    address = httpx.URL(url)
    connections = [socket.create_connection((address.host, address.port))
                   for _ in range(clients)]
    try:
        for connection in connections:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        return Counter(_pid_in_answer(connection) for connection in connections)
    finally:
        for connection in connections:
            connection.close()


def _pid_in_answer(connection: socket.socket) -> int:
    answer = b""
    while not answer.endswith(b"}"):
        answer += connection.recv(4096)
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])["pid"]


def _fresh_connection_health(url: str) -> tuple[int, int]:
    with httpx.Client(base_url=url) as client:  # a new connection, maybe a new worker
        response = client.get("/api/search", params={"q": "missile"})
        return response.status_code, client.get("/health").json()["pid"]
