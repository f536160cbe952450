"""Admin and write routes: API key, upserts and deletes visible within a second, reindex
jobs confined to the dump directory, and a generation swap under continuous searching."""

from __future__ import annotations

import json
import shutil
import threading
import time

import httpx
import pytest
from litestar.testing import TestClient

from indexer.ingest import CACHE_FILE, IngestOptions, ingest, reindex
from service.app import create_app
from service.config import Settings
from tests.conftest import SAMPLE_DUMP, WIKITIMES
from tests.servers import running_server

KEY = "test-key-0123456789"
AUTH = {"X-API-Key": KEY}


@pytest.fixture
def data_dir(tmp_path, nlp):
    data = tmp_path / "data"
    ingest([WIKITIMES], data, IngestOptions(nlp=nlp))
    return data


@pytest.fixture
def admin(data_dir, tmp_path):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    shutil.copy(WIKITIMES, dumps / "wikitimes.json")
    settings = Settings(data_dir=data_dir, api_key=KEY, dump_dir=dumps, reload_interval=0.2)
    with TestClient(app=create_app(settings)) as client:
        yield client


def eventually(check, timeout: float = 1.0) -> float:
    """Seconds until `check()` holds; fails after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not true within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


def total(client, **params) -> int:
    return client.get("/api/search", params=params).json()["total"]


def test_admin_routes_are_off_without_a_configured_key(data_dir):
    with TestClient(app=create_app(Settings(data_dir=data_dir))) as client:
        response = client.post("/api/admin/reload", headers=AUTH)
        assert response.status_code == 403
        assert "EVENTSEARCH_API_KEYS_FILE" in response.json()["detail"]
        assert client.get("/api/search").status_code == 200  # search stays public


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer no"}])
def test_missing_or_wrong_key_is_refused(admin, headers):
    assert admin.post("/api/admin/reload", headers=headers).status_code == 401
    assert admin.delete("/api/events/x", headers=headers).status_code == 401


def test_bearer_token_is_accepted(admin):
    response = admin.post("/api/admin/reload", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and response.json()["changed"] is False


def test_upserted_events_are_searchable_within_a_second(admin):
    body = "\n".join([
        json.dumps({"id": "new-1", "date": "2024-03-01", "headline":
                    "Tanzania hosts a regional summit on fisheries in Zanzibar."}),
        '{"id": "bad", "date": "yesterday", "headline": "x"}',
        json.dumps({"id": "new-2", "date": "2024-03-02", "headline":
                    "Floods close schools in Tanzania, including on Zanzibar."}),
    ]).encode()
    response = admin.post("/api/events", content=body, headers=AUTH)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["read"], result["indexed"], result["rejected"][0]["location"]) == (3, 2, "body:2")
    eventually(lambda: total(admin, q="Zanzibar") == 2)
    event = admin.get("/api/events/new-2").json()
    assert "disasters-accidents" in event["topics"] and event["countries"][0]["code"] == "TZ"


def test_deleted_event_disappears_within_a_second(admin):
    assert admin.delete("/api/events/wikitimes-56657", headers=AUTH).status_code == 204
    eventually(lambda: admin.get("/api/events/wikitimes-56657").status_code == 404)
    assert admin.delete("/api/events/wikitimes-56657", headers=AUTH).status_code == 404


@pytest.mark.parametrize("path", ["../../etc", "/etc/passwd", "missing.json"])
def test_reindex_job_only_reads_inside_the_dump_directory(admin, path):
    response = admin.post("/api/admin/reindex", json={"paths": [path]}, headers=AUTH)
    assert response.status_code == 400, response.text


def test_reindex_job_reports_progress_and_the_service_swaps_to_its_generation(admin):
    before = admin.post("/api/admin/reload", headers=AUTH).json()["generation"]
    job = admin.post("/api/admin/reindex", json={"paths": ["wikitimes.json"]}, headers=AUTH)
    assert job.status_code == 202 and job.json()["state"] == "running"
    url = f"/api/admin/jobs/{job.json()['id']}"
    eventually(lambda: admin.get(url, headers=AUTH).json()["state"] != "running", timeout=120)
    status = admin.get(url, headers=AUTH).json()
    assert status["state"] == "succeeded", status
    assert status["summary"]["indexed"] == 428 and status["progress"]["written"] == 428
    eventually(lambda: admin.get("/health").json()["generation"] != before, timeout=2)
    assert admin.get("/api/admin/jobs/nope", headers=AUTH).status_code == 404


def test_generation_swap_fails_no_request_under_continuous_searching(data_dir, nlp,
                                                                    sample_data_dir):
    # The sample's labels from the session's index: the reindex runs no NLP, only the swap.
    shutil.copy(sample_data_dir / CACHE_FILE, data_dir / CACHE_FILE)
    with running_server(data_dir, env={"EVENTSEARCH_RELOAD_INTERVAL": "0.1"}) as url:
        outcomes: list[int | str] = []
        stop = threading.Event()

        def search_continuously() -> None:
            with httpx.Client(base_url=url, timeout=5) as client:
                while not stop.is_set():
                    try:
                        outcomes.append(client.get("/api/search", params={"q": "attack"}).status_code)
                    except httpx.HTTPError as error:
                        outcomes.append(repr(error))

        searcher = threading.Thread(target=search_continuously)
        searcher.start()
        try:
            reindex([SAMPLE_DUMP], data_dir, IngestOptions(nlp=nlp))
            eventually(lambda: httpx.get(f"{url}/health").json()["events"] == 4646, timeout=5)
            time.sleep(0.3)
        finally:
            stop.set()
            searcher.join()
    assert len(outcomes) > 20
    assert set(outcomes) == {200}
