"""Shared fixtures: the real spaCy pipeline, a real index of the sample dump, the real app."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLE_DUMP = REPO / "samples" / "news"
SEED_PAGE = SHARED / "seeds" / "000_09b32f0e179bd6a4.txt"
WIKITIMES = SHARED / "corpora" / "wikitimes-2015-09.json"
SEED_ID = (
    "russia-deploys-its-s-400-missile-system-in-kaliningrad-an-exclave-between-poland-and-"
    "lithuania-in-response-to-nato-expansion-near-its-bo"
)


@pytest.fixture(scope="session")
def nlp(tmp_path_factory):
    from indexer.enrich.pipeline import load_pipeline

    return load_pipeline(cache_dir=tmp_path_factory.mktemp("nlp-cache"))


@pytest.fixture(scope="session")
def sample_ingest(tmp_path_factory, nlp):
    """The bundled sample dump ingested once: (data directory, the ingest's summary)."""
    from indexer.ingest import IngestOptions, ingest

    data_dir = tmp_path_factory.mktemp("sample-data")
    return data_dir, ingest([SAMPLE_DUMP], data_dir, IngestOptions(nlp=nlp))


@pytest.fixture(scope="session")
def sample_data_dir(sample_ingest) -> Path:
    """A data directory indexed from the bundled sample dump, shared by read-only tests."""
    data_dir, summary = sample_ingest
    assert summary.indexed > 150 and not summary.rejected
    return data_dir


@pytest.fixture(scope="session")
def client(sample_data_dir):
    from litestar.testing import TestClient

    from service.app import create_app
    from service.config import Settings

    with TestClient(app=create_app(Settings(data_dir=sample_data_dir))) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def server_url(sample_data_dir):
    """`eventsearch serve` on the sample index, on a free loopback port."""
    from tests.servers import running_server

    with running_server(sample_data_dir) as url:
        yield url
