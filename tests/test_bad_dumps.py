"""Broken dumps, tried and counted (issue 14): every input of tests/data/bad/make.py through the
real `eventsearch index` and `reindex` (subprocesses, the real spaCy model, a real index), each
with the outcome tests/data/bad/expected.json gives it.

One run of each command serves every case: the dump holds them all, each beside good
records, which is also how the rest of a dump is shown to be indexed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import tantivy

from indexer.index import storage
from indexer.readers.limits import MAX_HEADLINE_CHARS

BAD = Path(__file__).parent / "data" / "bad"
CASES = json.loads((BAD / "expected.json").read_text())["cases"]
EVENTSEARCH = Path(sys.executable).parent / "eventsearch"

PEAK_RSS_CEILING_MB = 600
"""docs/formats.md: `eventsearch index|reindex` with one NLP process stays under 600 MB
whatever the dump holds (measured: 362 MB on this corpus). Holding the zip bomb's member
(200 MiB, and as much again decoded) would cross it."""

# Runs a command and reports its peak RSS (KB): the child's own, not pytest's other children.
_MEASURED = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def _make():
    spec = importlib.util.spec_from_file_location("bad_make", BAD / "make.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make = _make()


class Run(msgspec.Struct):
    dump: Path
    outside: Path
    data_dir: Path
    scratch: Path  # the child's working and temporary directory
    exit_code: int
    summary: dict
    rejected: dict[str, str]  # location relative to the dump -> reason
    rejects_text: str
    peak_rss_mb: float
    output: str


def _run(tmp: Path, command: str) -> Run:
    dump = make.build(tmp / "corpus")
    data_dir, scratch = tmp / "data", tmp / "scratch"
    scratch.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "TMPDIR": str(scratch)}
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, str(EVENTSEARCH), command, str(dump), "--json",
         "--no-progress", "--processes", "1", "--data-dir", str(data_dir)],
        cwd=scratch, env=env, capture_output=True, text=True, timeout=600,
    )
    rejects_path = data_dir / "rejected.jsonl"
    rejects_text = rejects_path.read_text()
    rejected = {}
    for row in map(json.loads, rejects_text.splitlines()):
        location = row["location"].removeprefix(f"{dump}/")
        assert location not in rejected, f"{location} rejected twice"
        rejected[location] = row["reason"]
    return Run(dump, dump.parent / "outside", data_dir, scratch, done.returncode,
               json.loads(done.stdout), rejected, rejects_text,
               int(done.stderr.strip().splitlines()[-1]) / 1024, done.stdout + done.stderr)


@pytest.fixture(scope="module")
def index_run(tmp_path_factory) -> Run:
    return _run(tmp_path_factory.mktemp("bad-index"), "index")


@pytest.fixture(scope="module")
def reindex_run(tmp_path_factory) -> Run:
    return _run(tmp_path_factory.mktemp("bad-reindex"), "reindex")


@pytest.fixture(scope="module")
def indexed(index_run) -> dict[str, str]:
    """Every event of the index: id -> its stored document as text (headline and payload)."""
    index = storage.open_index(index_run.data_dir)
    searcher = index.searcher()
    hits = searcher.search(tantivy.Query.all_query(), limit=1000).hits
    events = {}
    for _, address in hits:
        doc = searcher.doc(address)
        payload = doc.get_first("payload").decode("utf-8", errors="replace")
        events[doc.get_first("id")] = doc.get_first("headline") + "\n" + payload
    return events


@pytest.mark.parametrize("case", CASES, ids=[case["case"] for case in CASES])
def test_each_input_gets_its_outcome(case, index_run, indexed):
    if "rejected" in case:
        location = case["rejected"]
        assert location in index_run.rejected, f"not rejected: {location}"
        assert case["reason"] in index_run.rejected[location]
    else:
        assert case["indexed"] in indexed, f"not indexed: {case['indexed']}"
        if "headline" in case:
            assert indexed[case["indexed"]].startswith(case["headline"] + "\n")


def test_nothing_else_is_rejected_or_indexed(index_run, indexed):
    assert set(index_run.rejected) == {case["rejected"] for case in CASES if "rejected" in case}
    assert set(indexed) == {case["indexed"] for case in CASES if "indexed" in case}


@pytest.mark.parametrize("command", ["index", "reindex"])
def test_counts_add_up(command, request):
    run = request.getfixturevalue(f"{command}_run")
    summary = run.summary
    assert run.exit_code == 3, run.output  # indexed, with rejected records
    assert summary["read"] == summary["indexed"] + summary["merged"] + summary["rejected"]
    assert summary["rejected"] == len(run.rejected)
    assert summary["indexed"] == sum("indexed" in case for case in CASES)
    assert summary["merged"] == 1  # the duplicate id's second record


def test_reindex_gives_what_index_gives(index_run, reindex_run):
    def reasons(run: Run) -> dict[str, str]:  # the two runs' dumps sit in different places
        return {k: v.replace(str(run.dump.parent), "") for k, v in run.rejected.items()}

    assert reasons(reindex_run) == reasons(index_run)
    assert {k: v for k, v in reindex_run.summary.items() if k in ("read", "indexed", "merged")} \
        == {k: v for k, v in index_run.summary.items() if k in ("read", "indexed", "merged")}


@pytest.mark.parametrize("marker", sorted(make.MARKERS.values()))
def test_nothing_outside_the_dump_is_read(marker, index_run, indexed):
    # Each marker is only in a file outside the dump, reached by a link or an XML entity.
    assert not [event_id for event_id, text in indexed.items() if marker in text]
    assert marker not in index_run.rejects_text
    assert marker not in index_run.output


def test_nothing_is_written_outside_the_data_directory(index_run):
    # The child ran in `scratch` with TMPDIR there too: members are never extracted (the
    # zip's ../escape.md and /tmp/escape-absolute.md) and no archive is spooled to disk.
    assert list(index_run.scratch.iterdir()) == []
    assert not (index_run.dump.parent / "escape.md").exists()
    assert not Path("/tmp/escape-absolute.md").exists()
    assert sorted(p.name for p in index_run.outside.iterdir()) == [
        "secret-hard.md", "secret-tar.md", "secret.md", "xxe-target.txt"]


@pytest.mark.parametrize("command", ["index", "reindex"])
def test_memory_stays_under_the_ceiling(command, request):
    # The gzip bomb inflates to 1 GiB, the zip bomb to 200 MiB, two headlines are 10 MB:
    # any of them held whole would cross the ceiling.
    run = request.getfixturevalue(f"{command}_run")
    assert run.peak_rss_mb < PEAK_RSS_CEILING_MB, f"peak RSS {run.peak_rss_mb:.0f} MB"


def test_the_huge_headline_is_far_over_the_limit():
    # The limit is what rejects it, not some other accident of size.
    assert make.HUGE_HEADLINE_CHARS > 1000 * MAX_HEADLINE_CHARS


def test_the_write_apis_parser_keeps_the_headline_limits():
    # POST /api/events hands its body straight to the NDJSON parser, past _read's checks.
    import io

    from indexer.readers import ndjson

    body = (make.line("long", "x" * (MAX_HEADLINE_CHARS + 1))
            + make.line("blank", " \t ") + make.line("fine", "A bridge opens.")).encode()
    records = list(ndjson.parse("body", io.BytesIO(body)))
    assert [getattr(r, "reason", None) for r in records] == [
        "headline of 5,001 characters, longer than the limit of 5,000", "blank headline", None]
