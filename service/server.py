"""Run the app under uvicorn, in one process or several on one port.

Sockets are made here, with IPPROTO_TCP, so that asyncio turns Nagle's algorithm off on
accepted connections; uvicorn's own `--workers` path leaves the protocol 0 and every
keep-alive response then waits ~40 ms for the client's delayed ACK (uvicorn issue #3149).
Each worker process gets its own listening socket on the port (SO_REUSEPORT, as nginx's
`reuseport`): the kernel spreads new connections over them. From one shared socket, the
worker that wakes first accepts every connection waiting (asyncio accepts up to the backlog
at once), and 32 keep-alive clients arriving together all landed on one worker of two
(benchmarks/load.py). The parent holds the port bound but not listening, so no connection
waits on it. Each worker opens the index itself in the app's lifespan.

Supervision: a worker that dies (a crash, `kill -9`) is replaced by a fresh fork while the
others keep accepting; one that fails to start stops the whole server, since its
replacement would fail the same way. Shutdown on SIGTERM (or Ctrl-C): every worker closes
its listening socket first, so new connections are refused, then the requests in flight
finish, for at most `shutdown_timeout` seconds, and the process exits 0.
"""

from __future__ import annotations

import glob
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile

import uvicorn

_APP = "service.app:create_app"  # built from the environment in each process
_STARTUP_FAILED = 3  # a worker's exit code when its app did not start (uvicorn's own)
DEFAULT_SHUTDOWN_TIMEOUT = 30.0

logger = logging.getLogger("eventsearch.server")


def serve(host: str, port: int, workers: int = 1, access_log: bool = True,
          shutdown_timeout: float | None = None) -> int:
    """Serve until SIGTERM or SIGINT; the exit code (0, or 1 when a worker could not start)."""
    if shutdown_timeout is None:
        shutdown_timeout = float(os.environ.get("EVENTSEARCH_SHUTDOWN_TIMEOUT",
                                                DEFAULT_SHUTDOWN_TIMEOUT))
    metrics_dir = _fresh_metrics_dir() if workers > 1 else None
    # Imported only now: prometheus_client picks its multiprocess mode when imported.
    from service.observability import configure_logging

    configure_logging(access_log)
    # httptools and uvloop (C) instead of h11 and asyncio's loop (Python): about a third
    # less CPU per request. Our request log replaces uvicorn's access log (one line each).
    config = uvicorn.Config(_APP, factory=True, log_config=None, access_log=False,
                            http="httptools", loop="uvloop",
                            timeout_graceful_shutdown=shutdown_timeout)
    try:
        if workers <= 1:
            return _run(config, _listen(host, port))
        return _Supervisor(config, _Port(host, port), workers, shutdown_timeout).run()
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run(config: uvicorn.Config, listener: socket.socket) -> int:
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully, to the
    # handler it found: this one lets the process exit 0 instead of dying of the signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    server = uvicorn.Server(config)
    server.run(sockets=[listener])
    return 0 if server.started else _STARTUP_FAILED


def _worker(config: uvicorn.Config, listener: socket.socket) -> None:
    sys.exit(_run(config, listener))


class _Port:
    """The port the workers share: held bound (never listening) by the parent, so it is
    taken once, a port of 0 is chosen once, and no connection is queued where no one
    accepts; each worker listens on a socket of its own bound to it."""

    def __init__(self, host: str, port: int):
        self.host = host
        self.held = _socket(host, reuse_port=True)
        self.held.bind((host, port))
        self.port = self.held.getsockname()[1]

    def listener(self) -> socket.socket:
        listener = _socket(self.host, reuse_port=True)
        listener.bind((self.host, self.port))
        listener.listen(2048)
        return listener

    def close(self) -> None:
        self.held.close()


class _Supervisor:
    def __init__(self, config: uvicorn.Config, port: _Port, workers: int,
                 shutdown_timeout: float):
        self.config, self.port, self.size = config, port, workers
        self.shutdown_timeout = shutdown_timeout
        self.context = multiprocessing.get_context("fork")
        self.workers: dict[int, multiprocessing.Process] = {}
        self.stopping = False
        self.failed = False

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        for _ in range(self.size):
            self._spawn()
        while not self.stopping:
            ended = multiprocessing.connection.wait(
                [worker.sentinel for worker in self.workers.values()], timeout=1.0)
            for worker in [w for w in self.workers.values() if w.sentinel in ended]:
                self._replace(worker)
        return self._join()

    def _spawn(self) -> multiprocessing.Process:
        listener = self.port.listener()
        # Not a daemon: a daemonic process may not start children, and each worker starts
        # its writer process (service.writes); the supervisor stops and joins them itself.
        worker = self.context.Process(target=_worker, args=(self.config, listener))
        worker.start()
        listener.close()  # the worker's alone: it goes with the worker, queue and all
        self.workers[worker.pid] = worker
        return worker

    def _replace(self, worker: multiprocessing.Process) -> None:
        from prometheus_client import multiprocess

        worker.join()
        del self.workers[worker.pid]
        multiprocess.mark_process_dead(worker.pid)  # its live gauges no longer count
        if self.stopping:
            return
        if worker.exitcode == _STARTUP_FAILED:
            logger.error("worker %d could not start (its log says why): stopping", worker.pid)
            self.failed = True
            self._stop()
            return
        fresh = self._spawn()
        logger.warning("worker %d ended (%s); started worker %d in its place", worker.pid,
                       _how(worker.exitcode), fresh.pid)

    def _stop(self, *_signal) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.port.close()
        for worker in self.workers.values():
            if worker.is_alive():
                worker.terminate()  # SIGTERM: uvicorn shuts down gracefully

    def _join(self) -> int:
        # Each worker bounds its own shutdown; this bounds a worker that hangs anyway.
        for worker in list(self.workers.values()):
            worker.join(self.shutdown_timeout + 5)
            if worker.is_alive():
                logger.error("worker %d did not stop in time: killed", worker.pid)
                worker.kill()
                worker.join()
        return 1 if self.failed else 0


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _fresh_metrics_dir() -> str | None:
    """An empty directory for the workers' metric files, named in PROMETHEUS_MULTIPROC_DIR
    before any worker imports prometheus_client; None when the operator named one, which is
    emptied of metric files instead (an earlier run's would add their counts to this one's).
    """
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if chosen:
        os.makedirs(chosen, exist_ok=True)
        for stale in glob.glob(os.path.join(chosen, "*.db")):
            os.remove(stale)
        return None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="eventsearch-metrics-")
    return os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _listen(host: str, port: int) -> socket.socket:
    listener = _socket(host)
    listener.bind((host, port))
    listener.listen(2048)
    return listener


def _socket(host: str, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    made = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    made.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        made.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return made
