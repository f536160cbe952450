"""Reindex jobs started through the admin API: each runs `eventsearch reindex` in its own
process (bulk NLP must not share the server's cores' event loop, nor die with a request)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson


@dataclass
class Job:
    id: str
    paths: list[str]
    started: float
    process: subprocess.Popen
    status_path: Path
    log_path: Path
    finished: float | None = None
    summary: dict | None = field(default=None)

    def state(self) -> str:
        code = self.process.poll()
        if code is None:
            return "running"
        return {0: "succeeded", 3: "succeeded-with-rejects"}.get(code, "failed")

    def describe(self) -> dict:
        state = self.state()
        if state != "running" and self.finished is None:
            self.finished = time.time()
            self.summary = _last_json_line(self.log_path)
        return {
            "id": self.id,
            "state": state,
            "paths": self.paths,
            "started": self.started,
            "finished": self.finished,
            "exit_code": self.process.poll(),
            "progress": _read_json(self.status_path),
            "summary": self.summary,
            "error": _tail(self.log_path) if state == "failed" else None,
        }


class JobManager:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start_reindex(self, paths: list[Path]) -> Job:
        job_id = uuid.uuid4().hex[:12]
        jobs_dir = self.data_dir / "jobs"
        jobs_dir.mkdir(parents=True, exist_ok=True)
        status_path, log_path = jobs_dir / f"{job_id}.status.json", jobs_dir / f"{job_id}.log"
        command = [sys.executable, "-m", "indexer.cli", "reindex", *map(str, paths),
                   "--data-dir", str(self.data_dir), "--json", "--no-progress",
                   "--status-file", str(status_path)]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        job = Job(job_id, [str(p) for p in paths], time.time(), process, status_path, log_path)
        with self._lock:
            self._jobs[job_id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def stop_all(self) -> None:
        for job in self.all():
            if job.process.poll() is None:
                job.process.terminate()


def _read_json(path: Path) -> dict | None:
    try:
        return orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


def _last_json_line(path: Path) -> dict | None:
    for line in reversed(path.read_bytes().splitlines()):
        if line.startswith(b"{"):
            try:
                return orjson.loads(line)
            except orjson.JSONDecodeError:
                return None
    return None


def _tail(path: Path, lines: int = 5) -> str:
    return b"\n".join(path.read_bytes().splitlines()[-lines:]).decode(errors="replace")
