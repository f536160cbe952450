"""Access: several API keys rotated without a restart, an audit line for every admin
request, and on public routes the rate limit, body limits, CORS and security headers."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys

import httpx
import pytest
from litestar.testing import TestClient

from indexer.ingest import IngestOptions, ingest
from service.app import create_app
from service.audit import AUDIT_FILE
from service.config import MIN_KEY_LENGTH, REQUEST_MAX_BODY_SIZE, ConfigError, Settings
from tests.conftest import WIKITIMES
from tests.servers import running_server

OPS_KEY = "ops-key-0123456789abcdef"
CI_KEY = "ci-key-fedcba9876543210"
NEW_KEY = "new-key-aaaabbbbccccdddd"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, nlp):
    """A small index (WikiTimes, 428 events), copied for each test that writes to it."""
    data = tmp_path_factory.mktemp("access") / "data"
    ingest([WIKITIMES], data, IngestOptions(nlp=nlp))
    return data


@pytest.fixture
def data_dir(indexed, tmp_path):
    return shutil.copytree(indexed, tmp_path / "data")


@pytest.fixture
def keys_file(tmp_path):
    path = tmp_path / "api-keys"
    write_keys(path, f"# rotated by ops\nci:{CI_KEY}\n")
    return path


def write_keys(path, text: str) -> None:
    """As an operator rotates keys: a new file renamed over the old one."""
    staged = path.with_suffix(".new")
    staged.write_text(text)
    os.replace(staged, path)


def client_for(data_dir, **settings) -> TestClient:
    return TestClient(app=create_app(Settings(data_dir=data_dir, **settings)))


def audit_lines(data_dir) -> list[dict]:
    return [json.loads(line) for line in (data_dir / AUDIT_FILE).read_text().splitlines()]


def reload(client, key: str | None) -> int:
    headers = {"X-API-Key": key} if key else {}
    return client.post("/api/admin/reload", headers=headers).status_code


# --- keys ------------------------------------------------------------------------------

def test_keys_from_the_environment_and_the_keys_file_all_work(data_dir, keys_file):
    with client_for(data_dir, api_keys=f"ops:{OPS_KEY}", api_keys_file=keys_file) as client:
        assert reload(client, OPS_KEY) == 200
        assert reload(client, CI_KEY) == 200
        assert reload(client, OPS_KEY[:-1]) == 401  # a prefix of a key is no key
    assert [line["key_id"] for line in audit_lines(data_dir)] == ["ops", "ci", None]


def test_rotated_keys_file_takes_effect_without_a_restart(data_dir, keys_file):
    with client_for(data_dir, api_keys_file=keys_file) as client:
        assert (reload(client, CI_KEY), reload(client, NEW_KEY)) == (200, 401)
        write_keys(keys_file, f"ci:{CI_KEY}\nnew:{NEW_KEY}\n")  # the new key beside the old
        assert (reload(client, CI_KEY), reload(client, NEW_KEY)) == (200, 200)
        write_keys(keys_file, f"new:{NEW_KEY}\n")  # the old one removed
        assert (reload(client, CI_KEY), reload(client, NEW_KEY)) == (401, 200)
    assert [line["key_id"] for line in audit_lines(data_dir)][-2:] == [None, "new"]


def test_a_broken_keys_file_refuses_every_key_until_it_is_fixed(data_dir, keys_file):
    with client_for(data_dir, api_keys_file=keys_file) as client:
        write_keys(keys_file, f"ci:{CI_KEY}\nshort:abc\n")
        response = client.post("/api/admin/reload", headers={"X-API-Key": CI_KEY})
        assert response.status_code == 503
        assert "key 'short' has 3 characters; at least 16" in response.json()["detail"]
        write_keys(keys_file, f"ci:{CI_KEY}\n")
        assert reload(client, CI_KEY) == 200


def test_the_single_key_variable_still_works_as_key_id_default(data_dir, monkeypatch):
    monkeypatch.setenv("EVENTSEARCH_API_KEY", OPS_KEY)
    with TestClient(app=create_app(Settings.from_env(data_dir))) as client:
        assert reload(client, OPS_KEY) == 200
    assert audit_lines(data_dir)[-1]["key_id"] == "default"


@pytest.mark.parametrize("settings, problem", [
    ({"api_key": "short"}, "key 'default' has 5 characters; at least 16 are required"),
    ({"api_keys": f"ops:{OPS_KEY},ci:abc"}, "key 'ci' has 3 characters"),
    ({"api_keys": f"ops:{OPS_KEY},ops:{CI_KEY}"}, "key id 'ops' is configured twice"),
    ({"api_keys": OPS_KEY}, "expected id:key"),
])
def test_bad_keys_are_refused_when_the_settings_are_made(settings, problem):
    with pytest.raises(ConfigError, match=problem):
        Settings(**settings)


def test_serve_refuses_to_start_with_a_short_key_and_says_why(tmp_path):
    env = {**os.environ, "EVENTSEARCH_API_KEYS": "ops:tooshort"}
    done = subprocess.run([sys.executable, "-m", "indexer.cli", "serve", "--data-dir",
                           str(tmp_path / "nothing"), "--port", "9"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    message = done.stderr.strip()
    assert "\n" not in message and f"at least {MIN_KEY_LENGTH} are required" in message
    assert not (tmp_path / "nothing").exists()  # refused before anything was built


# --- audit log -------------------------------------------------------------------------

class Recorded(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_every_admin_action_is_audited_with_its_key_id_and_never_a_key(data_dir, tmp_path):
    recorded = Recorded()
    logging.getLogger("eventsearch.audit").addHandler(recorded)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    auth = {"X-API-Key": OPS_KEY}
    with client_for(data_dir, api_keys=f"ops:{OPS_KEY},ci:{CI_KEY}", dump_dir=dumps) as client:
        try:
            assert client.delete("/api/events/wikitimes-56657", headers=auth).status_code == 204
            assert client.post("/api/admin/reindex", json={"paths": ["../secrets.tar"]},
                               headers=auth).status_code == 400
            assert client.delete("/api/events/wikitimes-56658",
                                 headers={"X-API-Key": "guess-" + OPS_KEY}).status_code == 401
            assert client.get("/api/search").status_code == 200  # public: not audited
        finally:
            logging.getLogger("eventsearch.audit").removeHandler(recorded)
    lines = audit_lines(data_dir)
    assert [(line["key_id"], line["method"], line["target"], line["status"]) for line in lines] \
        == [("ops", "DELETE", {"event_id": "wikitimes-56657"}, 204),
            ("ops", "POST", {"paths": ["../secrets.tar"]}, 400),
            (None, "DELETE", {"event_id": "wikitimes-56658"}, 401)]
    assert [record.audit for record in recorded.records] == lines
    assert [record.levelname for record in recorded.records] == ["INFO", "WARNING", "WARNING"]
    written = (data_dir / AUDIT_FILE).read_text() + "".join(
        record.getMessage() for record in recorded.records)
    assert OPS_KEY not in written and CI_KEY not in written


def test_a_refused_write_is_audited_without_a_key_configured(data_dir):
    with client_for(data_dir) as client:
        assert client.delete("/api/events/wikitimes-56657").status_code == 403
    assert audit_lines(data_dir)[0]["status"] == 403


# --- rate limit ------------------------------------------------------------------------

def test_rate_limit_answers_429_with_retry_after_and_ratelimit_headers(data_dir):
    # The test client's address is "testclient", not loopback: it is counted.
    with client_for(data_dir, rate_limit=("minute", 3)) as client:
        answers = [client.get("/api/search", params={"q": "refugees"}) for _ in range(4)]
        assert client.get("/health").status_code == 200  # probes are never limited
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert answers[0].headers["RateLimit-Policy"] == "3; w=60"
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert "rate limit of 3 requests per minute" in refused.json()["detail"]


def test_no_rate_limit_unless_configured(data_dir):
    with client_for(data_dir) as client:
        answers = {client.get("/api/search").status_code for _ in range(30)}
    assert answers == {200}


def test_loopback_clients_are_exempt_but_proxied_clients_are_limited(indexed):
    # uvicorn takes the client's address from X-Forwarded-For when the peer is a trusted
    # proxy (loopback by default): the real server sees loopback and a remote client.
    with running_server(indexed, env={"EVENTSEARCH_RATE_LIMIT": "5/minute"}) as url:
        with httpx.Client(base_url=url) as client:
            local = [client.get("/api/suggest?q=re").status_code for _ in range(12)]
            proxied = [client.get("/api/suggest?q=re", headers={
                "X-Forwarded-For": "203.0.113.9"}).status_code for _ in range(6)]
            other = client.get("/api/suggest?q=re", headers={"X-Forwarded-For": "203.0.113.10"})
    assert set(local) == {200}
    assert proxied == [200] * 5 + [429]
    assert other.status_code == 200  # counted per client


def test_a_bad_rate_limit_setting_names_the_expected_form(monkeypatch):
    monkeypatch.setenv("EVENTSEARCH_RATE_LIMIT", "600 per minute")
    with pytest.raises(ConfigError, match="expected N/UNIT"):
        Settings.from_env()


# --- body size -------------------------------------------------------------------------

def test_a_body_over_the_route_limit_is_413_naming_the_limit(data_dir):
    big = b"x" * (REQUEST_MAX_BODY_SIZE + 1)
    auth = {"X-API-Key": OPS_KEY}
    with client_for(data_dir, api_keys=f"ops:{OPS_KEY}") as client:
        related = client.post("/api/related", content=big,
                              headers={"Content-Type": "application/json"})
        reindex = client.post("/api/admin/reindex", content=big, headers=auth)
        # The upsert route takes larger bodies (many events at once).
        upsert = client.post("/api/events", content=big, headers=auth)
    for response in (related, reindex):
        assert response.status_code == 413
        assert f"at most {REQUEST_MAX_BODY_SIZE:,} bytes" in response.json()["detail"]
    assert upsert.status_code == 200, upsert.text


# --- CORS ------------------------------------------------------------------------------

def test_cors_is_off_by_default(data_dir):
    with client_for(data_dir) as client:
        response = client.get("/api/search", headers={"Origin": "https://news.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_only_the_configured_origins(data_dir):
    with client_for(data_dir, cors_origins=("https://news.example",)) as client:
        allowed = client.get("/api/search", headers={"Origin": "https://news.example"})
        preflight = client.options("/api/events", headers={
            "Origin": "https://news.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-API-Key"})
        other = client.get("/api/search", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://news.example"
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


# --- security headers ------------------------------------------------------------------

@pytest.mark.parametrize("path, status", [
    ("/search?q=refugees", 200),
    ("/news/2015/09/", 200),
    ("/no/such/page", 404),
    ("/events/no-such-event", 404),
    ("/search?q=" + "word+" * 300, 400),  # over the length limit
    ("/search?from=yesterday", 400),
])
def test_every_html_response_carries_the_security_headers(data_dir, path, status):
    with client_for(data_dir) as client:
        response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_api_docs_may_not_be_framed_but_keep_their_own_scripts(data_dir):
    with client_for(data_dir) as client:
        response = client.get("/schema/swagger")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == \
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    assert response.headers["x-frame-options"] == "DENY"


def test_json_responses_are_not_sniffed(data_dir):
    with client_for(data_dir) as client:
        response = client.get("/api/search")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in response.headers


def test_openapi_says_which_routes_take_the_api_key(data_dir):
    with client_for(data_dir) as client:
        document = client.get("/schema/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    assert document["paths"]["/api/admin/reindex"]["post"]["security"] == [{"apiKey": []}]
    assert "security" not in document["paths"]["/api/search"]["get"]


def test_every_worker_process_follows_a_key_rotation_and_audits_to_one_file(indexed, tmp_path):
    keys_file = tmp_path / "api-keys"
    write_keys(keys_file, f"ci:{CI_KEY}\n")
    data = shutil.copytree(indexed, tmp_path / "data")

    def statuses(url: str, key: str) -> set[int]:  # a new connection each: any worker
        return {httpx.post(f"{url}/api/admin/reload", headers={"X-API-Key": key}).status_code
                for _ in range(8)}

    with running_server(data, workers=2,
                        env={"EVENTSEARCH_API_KEYS_FILE": str(keys_file)}) as url:
        before = statuses(url, CI_KEY)
        write_keys(keys_file, f"new:{NEW_KEY}\n")
        after_old, after_new = statuses(url, CI_KEY), statuses(url, NEW_KEY)
    assert (before, after_old, after_new) == ({200}, {401}, {200})
    assert [line["key_id"] for line in audit_lines(data)] == ["ci"] * 8 + [None] * 8 + ["new"] * 8
