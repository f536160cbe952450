"""Operations (issue 14): /health and /ready, Prometheus metrics summed over worker processes,
one JSON log line per request with its request id, a killed worker replaced while the others
answer, and a graceful shutdown on SIGTERM. Real index, real app, real server processes."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from indexer.ingest import IngestOptions, ingest
from service.app import create_app
from service.config import Settings
from tests.conftest import WIKITIMES
from tests.servers import serve_process

KEY = "operations-key-0123456789"


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def eventually(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {timeout} s")
        time.sleep(0.05)


def log_lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_bytes().splitlines() if line.startswith(b"{")]


# --- in process ------------------------------------------------------------------------------

def test_ready_reports_the_served_generation_its_events_and_age(client, sample_data_dir):
    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    published = (sample_data_dir / "CURRENT").stat().st_mtime
    assert body["status"] == "ready" and body["fallback"] is None and body["pid"] == os.getpid()
    assert body["generation"] == (sample_data_dir / "CURRENT").read_text().strip()
    assert body["events"] == client.get("/health").json()["events"] > 0
    assert abs(body["generation_age_seconds"] - (time.time() - published)) < 5


def test_ready_is_503_with_the_reason_when_the_generation_is_gone(sample_data_dir, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(sample_data_dir, data_dir)
    with TestClient(app=create_app(Settings(data_dir=data_dir))) as client:
        generation = client.get("/ready").json()["generation"]
        shutil.rmtree(data_dir / "generations" / generation)  # the searcher maps it still
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        reason = ready.json()["reason"]
        assert generation in reason and "no longer on disk" in reason
        assert client.get("/health").status_code == 200  # alive, not ready


def test_health_and_ready_are_documented_as_operations(client):
    schema = client.get("/schema/openapi.json").json()
    paths = schema["paths"]
    assert "pid" in schema["components"]["schemas"]["Health"]["properties"]
    assert "503" in paths["/ready"]["get"]["responses"]
    assert {paths[p]["get"]["tags"][0] for p in ("/health", "/ready", "/metrics")} == {"operations"}


def test_request_id_is_honoured_when_safe_and_generated_otherwise(client):
    sent = client.get("/health", headers={"X-Request-ID": "edge-7f3a.42"})
    assert sent.headers["x-request-id"] == "edge-7f3a.42"
    for hostile in ("<script>alert(1)</script>", "a" * 129, "two words"):
        replaced = client.get("/health", headers={"X-Request-ID": hostile}).headers["x-request-id"]
        assert replaced != hostile and len(replaced) == 32
    generated = {client.get("/no/such/page").headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3  # on error responses too, one per request


def test_requests_are_counted_by_route_template_not_path(client, sample_data_dir):
    ids = [hit["id"] for hit in client.get("/api/search", params={"size": 3}).json()["hits"]]
    template = "/api/events/{event_id}"
    before = metric(client.get("/metrics").text, "eventsearch_http_request_duration_seconds_count",
                    route=template, status="200")
    for event_id in ids:
        assert client.get(f"/api/events/{event_id}").status_code == 200
    text = client.get("/metrics").text
    assert metric(text, "eventsearch_http_request_duration_seconds_count",
                  route=template, status="200") == before + 3
    assert not any(event_id in text for event_id in ids)  # no raw path becomes a label


def test_searches_are_counted_with_their_result_counts(client):
    before = client.get("/metrics").text
    total = client.get("/api/search", params={"q": "russia"}).json()["total"]
    after = client.get("/metrics").text
    assert metric(after, "eventsearch_search_results_count") == metric(
        before, "eventsearch_search_results_count") + 1
    assert metric(after, "eventsearch_search_results_sum") == metric(
        before, "eventsearch_search_results_sum") + total


def test_index_gauges_name_the_served_generation(client, sample_data_dir):
    generation = (sample_data_dir / "CURRENT").read_text().strip()
    text = client.get("/metrics").text
    assert metric(text, "eventsearch_index_generation", generation=generation) == 1
    assert metric(text, "eventsearch_index_events") == client.get("/health").json()["events"]


@pytest.fixture
def wikitimes_data(tmp_path, nlp):
    data = tmp_path / "data"
    ingest([WIKITIMES], data, IngestOptions(nlp=nlp))
    return data


def test_upsert_rejects_are_counted_by_kind_of_reason(wikitimes_data):
    settings = Settings(data_dir=wikitimes_data, api_key=KEY)
    body = b'{"id": "ok-1", "date": "2024-03-01", "headline": "Floods close schools in Kenya."}\n' \
           b'{"id": "bad-1", "date": "2024-03-01"\n'
    with TestClient(app=create_app(settings)) as client:
        before = client.get("/metrics").text
        result = client.post("/api/events", content=body, headers={"X-API-Key": KEY}).json()
        kind = "invalid event line"
        assert result["rejected"][0]["reason"].startswith(kind + ":")
        after = client.get("/metrics").text
        assert metric(after, "eventsearch_rejected_records_total", source="upsert",
                      reason=kind) == metric(before, "eventsearch_rejected_records_total",
                                             source="upsert", reason=kind) + 1


def test_a_reindex_jobs_outcome_cache_hits_and_rejects_are_counted(wikitimes_data, tmp_path):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    shutil.copy(WIKITIMES, dumps / "wikitimes.json")  # labels cached by the first ingest
    (dumps / "broken.ndjson").write_bytes(b'{"id": "x", "date": "2016-02-30", "headline": "y"}\n')
    settings = Settings(data_dir=wikitimes_data, api_key=KEY, dump_dir=dumps,
                        reload_interval=0.2)
    with TestClient(app=create_app(settings)) as client:
        # Counters live as long as the test process: earlier tests' jobs are counted too.
        before = counters(client.get("/metrics").text)
        started = client.post("/api/admin/reindex", json={"paths": ["wikitimes.json",
                                                                    "broken.ndjson"]},
                              headers={"X-API-Key": KEY}).json()
        job = f"/api/admin/jobs/{started['id']}"
        eventually(lambda: client.get(job, headers={"X-API-Key": KEY}).json()["state"]
                   != "running", timeout=120)
        summary = client.get(job, headers={"X-API-Key": KEY}).json()["summary"]
        assert summary["rejected"] == 1 and summary["cache_hits"] == summary["indexed"] > 0

        def added() -> dict[str, float]:
            after = counters(client.get("/metrics").text)
            return {name: after[name] - before[name] for name in after}

        eventually(lambda: added()["finished with rejects"] == 1, timeout=5)
        assert added() == {"finished with rejects": 1, "cache hits": summary["cache_hits"],
                           "events": summary["indexed"], "rejected": 1}


def counters(text: str) -> dict[str, float]:
    """The reindex jobs' counters that test_a_reindex_jobs_outcome... follows."""
    rejected = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "eventsearch_rejected_records_total"
                and s.labels["source"] == "reindex"]
    return {
        "finished with rejects": metric(text, "eventsearch_reindex_jobs_finished_total",
                                        state="succeeded-with-rejects"),
        "cache hits": metric(text, "eventsearch_enrichment_cache_hits_total", source="reindex"),
        "events": metric(text, "eventsearch_enrichment_events_total", source="reindex"),
        "rejected": sum(rejected),
    }


# --- real server processes ---------------------------------------------------------------------

def _pid_of_fresh_connection(url: str) -> int:
    with httpx.Client() as fresh:  # a new connection: either worker may accept it
        return fresh.get(f"{url}/health").json()["pid"]


def test_metrics_and_one_log_line_per_request_over_two_workers(sample_data_dir):
    with serve_process(sample_data_dir, workers=2) as (url, process, log):
        # The start-up wait polled /health once or more (more on a loaded machine).
        polled = health_count(httpx.get(f"{url}/metrics").text)
        pids, sent = set(), 0
        while len(pids) < 2 or sent < 20:
            pids.add(_pid_of_fresh_connection(url))
            sent += 1
            assert sent < 400, "one worker answered every connection"
        assert health_count(httpx.get(f"{url}/metrics").text) == polled + sent
        lines = [line for line in log_lines(log) if line["logger"] == "eventsearch.access"]
        health = [line for line in lines if line["route"] == "/health"]
        assert len(health) == polled + sent and pids <= {line["pid"] for line in health}
        assert all(line["status"] == 200 and line["duration_ms"] > 0 and line["request_id"]
                   and line["client"].startswith("127.0.0.1:") for line in health)
        assert b"uvicorn.access" not in log.read_bytes()  # ours replaces it: one line, not two


def health_count(metrics: str) -> float:
    return metric(metrics, "eventsearch_http_request_duration_seconds_count",
                  route="/health", status="200")


def test_a_killed_worker_is_replaced_while_the_other_keeps_answering(sample_data_dir):
    """Four keep-alive clients ask /health in a loop while one of two workers is killed -9.
    A request may fail only on a connection whose last answer came from the killed worker
    (its connection dies with it; the client then reconnects), and on a new connection made
    as it died, which the kernel may have queued on its listening socket (each worker has
    its own, SO_REUSEPORT) and resets with it; every other request must succeed, and a new
    worker must appear and answer."""
    with serve_process(sample_data_dir, workers=2) as (url, process, log):
        workers = {child.pid for child in psutil.Process(process.pid).children()}
        assert len(workers) == 2
        victim = workers.pop()
        killed_at, stop = [], threading.Event()
        outcomes: list[list[tuple[float, int | None, int | None]]] = [[] for _ in range(4)]

        def ask(record: list) -> None:
            last_pid = None
            with httpx.Client(timeout=5) as keep_alive:
                while not stop.is_set():
                    try:
                        last_pid = keep_alive.get(f"{url}/health").json()["pid"]
                        record.append((time.monotonic(), last_pid, None))
                    except httpx.TransportError:
                        record.append((time.monotonic(), None, last_pid))
                        last_pid = None

        clients = [threading.Thread(target=ask, args=(record,)) for record in outcomes]
        for thread in clients:
            thread.start()
        time.sleep(1)
        os.kill(victim, signal.SIGKILL)
        killed_at.append(time.monotonic())

        def replaced() -> set[int]:
            return {c.pid for c in psutil.Process(process.pid).children()} - workers - {victim}
        eventually(lambda: replaced(), timeout=20)
        fresh = replaced().pop()
        eventually(lambda: _pid_of_fresh_connection(url) == fresh, timeout=20)
        time.sleep(0.5)
        stop.set()
        for thread in clients:
            thread.join()

        for record in outcomes:
            failures = [(t - killed_at[0], on) for t, pid, on in record if pid is None]
            assert len(failures) <= 2, failures  # the victim's connection, then one queued
            assert all(on == victim or (on is None and seconds < 1.0)
                       for seconds, on in failures), failures
        answered_after = [pid for record in outcomes for t, pid, _ in record
                          if pid and t > killed_at[0] + 0.1]
        assert answered_after and victim not in answered_after
        assert all(any(pid and t > killed_at[0] for t, pid, _ in r) for r in outcomes)
        assert any(f"worker {victim} ended (killed by SIGKILL)" in line["message"]
                   for line in log_lines(log))


class _SlowReader(http.client.HTTPConnection):
    """A client with a tiny receive buffer: the server can send no faster than it reads."""

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((self.host, self.port))


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def test_sigterm_finishes_the_export_in_flight_and_refuses_new_connections(sample_data_dir):
    with serve_process(sample_data_dir, workers=2) as (url, process, log):
        port = int(url.rsplit(":", 1)[1])
        events = httpx.get(f"{url}/health").json()["events"]
        export = _SlowReader("127.0.0.1", port, timeout=30)
        export.request("GET", "/search.ndjson")
        response = export.getresponse()
        first = response.read(4096)
        process.send_signal(signal.SIGTERM)
        eventually(lambda: _refused(port), timeout=5)
        time.sleep(1)
        assert process.poll() is None  # still serving the export it started
        body = first + response.read()  # raises IncompleteRead if the stream were cut
        assert response.status == 200 and len(body.splitlines()) == events
        assert all(json.loads(line)["id"] for line in body.splitlines())
        assert process.wait(timeout=30) == 0


def test_the_shutdown_timeout_bounds_a_client_that_stops_reading(sample_data_dir):
    with serve_process(sample_data_dir, workers=2, env={"EVENTSEARCH_SHUTDOWN_TIMEOUT": "2"}) as (
            url, process, log):
        stalled = _SlowReader("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=30)
        stalled.request("GET", "/search.ndjson")
        stalled.getresponse().read(100)  # and then no more
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert time.monotonic() - sent < 2 + 5
        assert any("timeout graceful shutdown exceeded" in line["message"]
                   for line in log_lines(log))
        stalled.close()


def test_upserts_count_their_cache_hits(wikitimes_data):
    """The same headline upserted twice: labelled once, then taken from the cache."""
    settings = Settings(data_dir=wikitimes_data, api_key=KEY)
    line = b'{"id": "cached-%d", "date": "2024-03-02", "headline": "Storms cut power in Chile."}\n'
    with TestClient(app=create_app(settings)) as client:
        def upsert(number: int) -> dict:
            return client.post("/api/events", content=line % number,
                               headers={"X-API-Key": KEY}).json()

        def counted() -> tuple[float, float]:
            text = client.get("/metrics").text
            return (metric(text, "eventsearch_enrichment_cache_hits_total", source="upsert"),
                    metric(text, "eventsearch_enrichment_events_total", source="upsert"))

        upsert(1)
        hits, events = counted()
        assert upsert(2)["cache_hits"] == 1
        assert counted() == (hits + 1, events + 1)


def test_upserts_are_labelled_and_written_in_a_writer_process_of_their_own(wikitimes_data):
    """Not in a thread of the server process, where they shared its GIL with every search
    and fell seconds behind under load; a killed writer is replaced, and the write it was
    given is done by the next one."""
    line = b'{"id": "writer-%d", "date": "2024-03-03", "headline": "Floods hit Peru."}\n'
    env = {"EVENTSEARCH_API_KEY": KEY}
    with serve_process(wikitimes_data, workers=2, env=env) as (url, process, _):
        def upsert(number: int) -> dict:
            return httpx.post(f"{url}/api/events", content=line % number, timeout=120,
                              headers={"X-API-Key": KEY}).json()

        def writers() -> list[psutil.Process]:  # the workers' children (not spawn's tracker)
            return [child for worker in psutil.Process(process.pid).children()
                    for child in worker.children() if "spawn_main" in " ".join(child.cmdline())]

        assert writers() == []
        assert upsert(1)["indexed"] == 1
        (writer,) = writers()
        writer.kill()
        writer.wait(10)
        assert upsert(2)["indexed"] == 1
        eventually(lambda: httpx.get(f"{url}/api/search",  # searchable within a second
                                     params={"q": "Peru"}).json()["total"] == 2, timeout=5)
