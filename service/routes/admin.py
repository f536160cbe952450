"""Operator routes: reload the live generation, start and follow reindex jobs, and hand the
published generation to replicas (its manifest, then each file).

Every request here is audited (service.audit) with the id of the key that made it."""

from __future__ import annotations

import re
from pathlib import Path

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import File

from indexer.index.storage import ManifestCache, generations_dir, live_generation
from service.audit import audit_target
from service.config import Settings
from service.jobs import JobManager
from service.models import (
    NOT_FOUND,
    WRITE_ERRORS,
    GenerationManifest,
    JobStatus,
    ManifestFile,
    ReindexRequest,
    ReloadResult,
)
from service.search.engine import EventIndex
from service.search.query import BadQuery
from service.security import API_KEY_REQUIRED, require_api_key


class AdminController(Controller):
    path = "/api/admin"
    tags = ["admin"]
    guards = [require_api_key]
    security = API_KEY_REQUIRED

    @post("/reload", sync_to_thread=True, status_code=200, raises=WRITE_ERRORS,
          summary="Pick up a new generation",
          description="Switch to the generation the data directory's pointer names now.")
    def reload(self, events: NamedDependency[EventIndex]) -> ReloadResult:
        changed = events.refresh()
        return ReloadResult(generation=events.generation, changed=changed)

    @post("/reindex", sync_to_thread=True, status_code=202, raises=WRITE_ERRORS,
          summary="Start a reindex job",
          description="Rebuilds the index from dumps inside the configured dump directory "
                      "(EVENTSEARCH_DUMP_DIR) in a separate process; follow it at "
                      "/api/admin/jobs/{id}. The service swaps to the new generation when "
                      "the job publishes it.")
    def reindex(self, request: Request, data: JSONBody[ReindexRequest],
                jobs: NamedDependency[JobManager],
                settings: NamedDependency[Settings]) -> JobStatus:
        audit_target(request.scope, paths=data.paths)  # as asked, before they are checked
        paths = [_inside_dump_dir(path, settings.dump_dir) for path in data.paths]
        job = jobs.start_reindex(paths)
        audit_target(request.scope, job_id=job.id)
        return JobStatus(**job.describe())

    @get("/jobs", sync_to_thread=True, raises=WRITE_ERRORS,
         summary="All reindex jobs of this process")
    def jobs(self, jobs: NamedDependency[JobManager]) -> list[JobStatus]:
        return [JobStatus(**job.describe()) for job in jobs.all()]

    @get("/jobs/{job_id:str}", sync_to_thread=True, raises=WRITE_ERRORS + NOT_FOUND,
         summary="One reindex job")
    def job(self, jobs: NamedDependency[JobManager], job_id: FromPath[str]) -> JobStatus:
        job = jobs.get(job_id)
        if job is None:
            raise NotFoundException(f"no job with id {job_id!r}")
        return JobStatus(**job.describe())


    @get("/generations/current", sync_to_thread=True, raises=WRITE_ERRORS + NOT_FOUND,
         summary="The published generation's manifest, for replicas",
         description="Every file a reader of the published generation needs, with its size "
                     "and SHA-256, and the Tantivy commit they make up (an upsert or delete "
                     "is a new commit). Computed once per commit. Fetch each file from "
                     "/api/admin/generations/{generation}/files/{name}.")
    def current_generation(self, manifests: NamedDependency[ManifestCache],
                           settings: NamedDependency[Settings]) -> GenerationManifest:
        for _attempt in range(3):  # a reindex may publish and prune meanwhile
            name = live_generation(settings.data_dir)
            if name is None:
                raise NotFoundException("no generation is published yet")
            try:
                return _described(manifests.manifest(name), settings.data_dir)
            except FileNotFoundError:
                continue
        raise NotFoundException(f"the published generation {name} is no longer on disk")

    @get("/generations/{generation:str}/files/{name:str}", sync_to_thread=True,
         raises=WRITE_ERRORS + NOT_FOUND,  # errors in JSON; the file as octet-stream
         responses={200: ResponseSpec(str, generate_examples=False,
                                      media_type="application/octet-stream",
                                      description="The file's bytes, with Content-Length")},
         opt={"skip_compression": True},  # index files; a replica checks sizes and hashes
         summary="One file of a generation, streamed",
         description="Only files the generation's manifest names now; 404 for any other "
                     "(or one a commit has since replaced: fetch the manifest again).")
    def generation_file(self, manifests: NamedDependency[ManifestCache],
                        settings: NamedDependency[Settings], generation: FromPath[str],
                        name: FromPath[str]) -> File:
        if not _GENERATION_NAME.fullmatch(generation):
            raise NotFoundException(f"no generation {generation!r}")
        try:
            listed = {f["name"] for f in manifests.manifest(generation)["files"]}
            if name not in listed:
                raise NotFoundException(f"generation {generation} has no file {name!r}")
            path = generations_dir(settings.data_dir) / generation / name
            return File(path, stat_result=path.stat(), filename=name,
                        media_type="application/octet-stream")
        except FileNotFoundError:
            raise NotFoundException(f"{name!r} of generation {generation} is no longer on "
                                    "disk: fetch the manifest again") from None


_GENERATION_NAME = re.compile(r"g\d{20}")


def _described(manifest: dict, data_dir: Path) -> GenerationManifest:
    # Published when CURRENT named it or, for a commit into the live generation (upserts,
    # deletes), when that commit was made: whichever came last.
    named_at = (Path(data_dir) / "CURRENT").stat().st_mtime
    return GenerationManifest(
        generation=manifest["generation"], commit=manifest["commit"], events=manifest["events"],
        published_at=max(named_at, manifest["committed_at"]),
        files=[ManifestFile(**file) for file in manifest["files"]])


def _inside_dump_dir(given: str, dump_dir: Path | None) -> Path:
    if dump_dir is None:
        raise PermissionDeniedException("reindex jobs are disabled: set EVENTSEARCH_DUMP_DIR")
    root = dump_dir.resolve()
    path = (root / given).resolve()  # an absolute `given` replaces root; checked below
    if not path.is_relative_to(root):
        raise BadQuery(f"{given!r} is outside the dump directory")
    if not path.exists():
        raise BadQuery(f"{given!r} does not exist in the dump directory")
    return path
