"""Containers: every archive kind, nested or misnamed, yields what the plain directory yields.

The archives are built in the test from one directory dump of real fixture files.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import msgspec
import pytest

from indexer.readers import ReadResult, Rejected, iter_records, read_dump
from indexer.record import Event

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures_readers"
SEED_MD = HERE.parents[1] / "shared" / "seeds" / "000_09b32f0e179bd6a4.txt"
WIKITIMES = HERE.parents[1] / "shared" / "corpora" / "wikitimes-2015-09.json"


def _content(event: Event) -> Event:
    return msgspec.structs.replace(event, source_path="")


def _summary(result: ReadResult) -> tuple:
    """Everything a reader produced except where it found it."""
    events = sorted((_content(e) for e in result.events), key=lambda e: e.id)
    return events, result.read, result.merged, result.skipped, sorted(
        r.reason for r in result.rejected
    )


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    """A directory dump: part A (the seed in 3 formats, plain pages, day pages) and part B
    (three versions of one event, NDJSON with bad lines, WikiTimes)."""
    root = tmp_path / "dump"
    a_day = root / "a/news/2016/11/21"
    a_day.mkdir(parents=True)
    for page in (FIXTURES / "seed").iterdir():
        shutil.copy(page, a_day / page.name)
    shutil.copy(SEED_MD, a_day / (page.stem + ".md"))
    shutil.copytree(FIXTURES / "pages/news", root / "a/news", dirs_exist_ok=True)
    shutil.copytree(FIXTURES / "versions", root / "b/news/2019/03/04")
    shutil.copy(FIXTURES / "events.ndjson", root / "b/events.ndjson")
    shutil.copy(WIKITIMES, root / "b/wikitimes.json")
    return root


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _tar(target: Path, root: Path, mode: str = "w") -> Path:
    with tarfile.open(target, mode) as archive:
        for path in _files(root):
            archive.add(path, arcname=str(path.relative_to(root)))
    return target


def _zip(target: Path, root: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _files(root):
            archive.write(path, arcname=str(path.relative_to(root)))
    return target


def _gzip(target: Path, source: Path) -> Path:
    target.write_bytes(gzip.compress(source.read_bytes()))
    return target


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("dump.tar", lambda t, r: _tar(t, r)),
        ("dump.tar.gz", lambda t, r: _tar(t, r, "w:gz")),
        ("dump.tgz", lambda t, r: _tar(t, r, "w:gz")),
        ("dump.zip", _zip),
    ],
)
def test_every_archive_kind_yields_the_same_events_as_the_directory(
    tmp_path: Path, dump: Path, name: str, build
) -> None:
    archive = build(tmp_path / name, dump)
    assert _summary(read_dump(archive)) == _summary(read_dump(dump))


def test_archive_members_are_located_as_archive_bang_member(tmp_path: Path, dump: Path) -> None:
    archive = _tar(tmp_path / "dump.tar.gz", dump, "w:gz")
    result = read_dump(archive)
    ndjson_line = f"{archive}!b/events.ndjson:3"
    assert ndjson_line in [r.location for r in result.rejected]
    seed = next(e for e in result.events if e.id.startswith("russia-deploys"))
    assert seed.source_path.startswith(f"{archive}!a/news/2016/11/21/")


def test_single_gz_files_read_like_their_content(tmp_path: Path) -> None:
    ndjson = _gzip(tmp_path / "events.ndjson.gz", FIXTURES / "events.ndjson")
    seed = _gzip(tmp_path / "seed.md.gz", SEED_MD)
    assert _summary(read_dump(ndjson)) == _summary(read_dump(FIXTURES / "events.ndjson"))
    (event,) = read_dump(seed).events
    assert event.source_path == str(seed)
    assert _content(event) == _content(read_dump(SEED_MD).events[0])


def test_nested_containers_yield_the_same_events_as_the_directory(
    tmp_path: Path, dump: Path
) -> None:
    # A directory holding part A as files and part B as a .tar.gz.
    mixed = tmp_path / "mixed"
    shutil.copytree(dump / "a", mixed / "a")
    _tar(mixed / "b.tar.gz", dump / "b", "w:gz")
    # A zip holding part A as a tar and part B as a zip (a zip inside a zip).
    inner = tmp_path / "inner"
    inner.mkdir()
    _tar(inner / "a.tar", dump / "a")
    _zip(inner / "b.zip", dump / "b")
    zip_of_archives = _zip(tmp_path / "nested.zip", inner)
    # A tar.gz holding a zip of part A next to part B with its NDJSON gzipped.
    outer = tmp_path / "outer"
    shutil.copytree(dump / "b", outer / "b")
    _gzip(outer / "b/events.ndjson.gz", outer / "b/events.ndjson").parent.joinpath(
        "events.ndjson"
    ).unlink()
    _zip(outer / "a.zip", dump / "a")
    tar_of_zip = _tar(tmp_path / "outer.tar.gz", outer, "w:gz")

    expected = _summary(read_dump(dump))
    assert _summary(read_dump(mixed)) == expected
    assert _summary(read_dump(zip_of_archives)) == expected
    assert _summary(read_dump(tar_of_zip)) == expected
    ndjson_locations = [r.location for r in read_dump(tar_of_zip).rejected]
    assert f"{tar_of_zip}!b/events.ndjson.gz:3" in ndjson_locations
    assert any(loc.startswith(f"{zip_of_archives}!b.zip!") for loc in (
        r.location for r in read_dump(zip_of_archives).rejected
    ))


def test_containers_are_detected_by_content_not_extension(tmp_path: Path, dump: Path) -> None:
    zip_named_txt = _zip(tmp_path / "dump.zip", dump).rename(tmp_path / "dump.txt")
    tgz_named_zip = _tar(tmp_path / "dump.tar.gz", dump, "w:gz").rename(tmp_path / "other.zip")
    expected = _summary(read_dump(dump))
    assert _summary(read_dump(zip_named_txt)) == expected
    assert _summary(read_dump(tgz_named_zip)) == expected


def test_several_paths_read_as_one_dump(dump: Path) -> None:
    assert _summary(read_dump([dump / "a", dump / "b"])) == _summary(read_dump(dump))


def test_truncated_gzip_ndjson_keeps_the_lines_before_the_damage(tmp_path: Path) -> None:
    lines = b"".join(
        b'{"id": "ev-%d", "date": "2020-01-01", "headline": "Event %d."}\n' % (n, n)
        for n in range(2000)
    )
    dump = tmp_path / "events.ndjson.gz"
    dump.write_bytes(gzip.compress(lines)[:-200])
    records = list(iter_records(dump))
    events = [r for r in records if isinstance(r, Event)]
    assert 1000 < len(events) < 2000
    assert [e.id for e in events] == [f"ev-{n}" for n in range(len(events))]
    damage = [r for r in records if isinstance(r, Rejected)]
    assert len(damage) >= 1 and damage[-1].location.startswith(str(dump))


def test_truncated_archive_is_rejected_and_reading_goes_on(tmp_path: Path, dump: Path) -> None:
    data = _tar(tmp_path / "dump.tar.gz", dump, "w:gz").read_bytes()
    broken = tmp_path / "in" / "broken.tgz"
    broken.parent.mkdir()
    broken.write_bytes(data[: len(data) // 2])
    shutil.copy(SEED_MD, tmp_path / "in" / "seed.md")
    result = read_dump(tmp_path / "in")
    assert result.read == len(result.events) + result.merged + len(result.rejected)
    assert any(r.location.startswith(str(broken)) for r in result.rejected)
    last = list(iter_records(tmp_path / "in"))[-1]
    assert isinstance(last, Event) and last.source_path == str(tmp_path / "in" / "seed.md")


def test_unknown_and_empty_files_are_rejected_by_location(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Just some notes, not an event.\n")
    (tmp_path / "empty.json").write_bytes(b"")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inside/readme.txt", "Hello.")
    (tmp_path / "archive.dat").write_bytes(buffer.getvalue())
    result = read_dump(tmp_path)
    assert {r.location: r.reason for r in result.rejected} == {
        f"{tmp_path / 'archive.dat'}!inside/readme.txt": "unknown format: starts with 'Hello.'",
        str(tmp_path / "blob.bin"): "unknown format: binary content",
        str(tmp_path / "empty.json"): "empty file",
        str(tmp_path / "notes.txt"): "unknown format: starts with 'Just some notes, not an event.'",
    }
    assert result.read == 4 and result.events == []


def test_missing_path_is_a_caller_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_dump(tmp_path / "nowhere")
