"""The `eventsearch` command: index, search and stats, with exit codes that mean something."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from indexer import cli
from tests.conftest import SEED_ID


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_search_prints_json_hits(capsys, sample_data_dir):
    code, out, _ = run(capsys, "search", "missile", "--country", "RU", "--json",
                       "--data-dir", str(sample_data_dir))
    assert code == 0
    assert SEED_ID in [hit["id"] for hit in json.loads(out)["hits"]]


def test_search_prints_readable_hits(capsys, sample_data_dir):
    code, out, _ = run(capsys, "search", "Kaliningrad", "--data-dir", str(sample_data_dir))
    assert code == 0 and "events (" in out and "Kaliningrad" in out


def test_stats_counts_events_and_facets(capsys, sample_data_dir):
    code, out, _ = run(capsys, "stats", "--json", "--data-dir", str(sample_data_dir))
    stats = json.loads(out)
    assert code == 0 and stats["events"] > 150
    assert len(stats["facets"]["topic"]) == 10


def test_data_dir_from_environment(capsys, monkeypatch, sample_data_dir):
    monkeypatch.setenv("EVENTSEARCH_DATA_DIR", str(sample_data_dir))
    code, out, _ = run(capsys, "stats", "--json")
    assert code == 0 and json.loads(out)["events"] > 150


def test_bad_query_fails_with_one_line(capsys, sample_data_dir):
    code, out, err = run(capsys, "search", "x", "--country", "Atlantis",
                         "--data-dir", str(sample_data_dir))
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "unknown country" in err


def test_missing_index_fails_with_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "stats", "--data-dir", str(tmp_path))
    assert code == 1 and "eventsearch index" in err


def test_missing_dump_fails_with_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "index", str(tmp_path / "nope"), "--data-dir", str(tmp_path))
    assert code == 1 and "no such dump" in err


def test_index_reports_rejects_and_exits_3(capsys, tmp_path, monkeypatch, nlp):
    monkeypatch.setattr("indexer.ingest.load_pipeline", lambda *a, **k: nlp)
    dump = tmp_path / "dump.ndjson"
    dump.write_text(
        '{"id": "a1", "date": "2020-05-01", "headline": "Floods hit Bangladesh."}\n'
        '{"id": "a2", "date": "not a date", "headline": "Broken."}\n'
        '{"id": "a3", "date": "2020-05-02", "headline": "Brazil elects a new president."}\n'
    )
    data_dir = tmp_path / "data"
    code, out, _ = run(capsys, "index", str(dump), "--json", "--data-dir", str(data_dir))
    summary = json.loads(out)
    assert code == 3
    assert summary["read"] == 3 and summary["indexed"] == 2 and summary["rejected"] == 1
    assert summary["read"] == summary["indexed"] + summary["merged"] + summary["rejected"]
    report = [json.loads(line) for line in (data_dir / "rejected.jsonl").read_text().splitlines()]
    assert report[0]["location"].endswith("dump.ndjson:2") and report[0]["reason"]


def test_reindex_processes_share_the_labelling(tmp_path):
    """`reindex --processes 2` labels in two worker processes, neither of them the command's
    own: the summary counts the headlines each process ran through NLP."""
    places = ["Kenya", "Peru", "Norway", "Vietnam", "Canada"]
    dump = tmp_path / "dump.ndjson"
    dump.write_text("".join(
        json.dumps({"id": f"e{n}", "date": "2020-05-01",
                    "headline": f"{places[n % 5]} reports {n} new cases of measles."}) + "\n"
        for n in range(1_100)))  # five batches of 256 or fewer
    command = subprocess.Popen(
        [sys.executable, "-m", "indexer.cli", "reindex", str(dump), "--data-dir",
         str(tmp_path / "data"), "--processes", "2", "--no-cache", "--json", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = command.communicate(timeout=600)
    assert command.returncode == 0, err
    summary = json.loads(out)
    labelled = summary["nlp_processes"]
    assert len(labelled) == 2 and all(n > 0 for n in labelled.values())
    assert str(command.pid) not in labelled
    assert sum(labelled.values()) == 1_100 == summary["indexed"]


@pytest.mark.parametrize("command", ["index", "serve", "search", "stats"])
def test_every_subcommand_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert "--data-dir" in capsys.readouterr().out
