"""The real server in its own process, for the tests that talk to it over HTTP."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(data_dir, env: dict | None = None, workers: int = 1) -> Iterator[str]:
    """`eventsearch serve` in its own process on a free loopback port; yields its URL."""
    with serve_process(data_dir, workers, env) as (url, _process, _log):
        yield url


@contextmanager
def serve_process(data_dir, workers: int = 1, env: dict | None = None, args: tuple = (),
                  log_path: Path | None = None) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`eventsearch serve ARGS` in its own process on a free loopback port, its output in
    `log_path` (a temporary file if None); yields its URL, process and log file."""
    port = _free_port()
    with contextlib.ExitStack() as cleanup:
        if log_path is None:
            log_path = Path(cleanup.enter_context(tempfile.TemporaryDirectory())) / "serve.log"
        # A file, not a pipe: an undrained pipe fills up with access logs and blocks the server.
        log = cleanup.enter_context(open(log_path, "w+b"))
        process = subprocess.Popen(
            [sys.executable, "-m", "indexer.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", str(data_dir), "--workers", str(workers),
             *args],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, process, log)
            yield url, process, Path(log_path)
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=40)


def _wait_until_up(url: str, process: subprocess.Popen, log, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode(errors='replace')}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"server at {url} did not answer in {timeout} s")
