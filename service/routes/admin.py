"""Operator routes: reload the live generation, start and follow reindex jobs.

Every request here is audited (service.audit) with the id of the key that made it."""

from __future__ import annotations

from pathlib import Path

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody

from service.audit import audit_target
from service.config import Settings
from service.jobs import JobManager
from service.models import NOT_FOUND, WRITE_ERRORS, JobStatus, ReindexRequest, ReloadResult
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
