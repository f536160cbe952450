"""Run the app under uvicorn, in one process or several sharing one listening socket.

The socket is made here, with IPPROTO_TCP, so that asyncio turns Nagle's algorithm off on
accepted connections; uvicorn's own `--workers` path leaves the protocol 0 and every
keep-alive response then waits ~40 ms for the client's delayed ACK (uvicorn issue #3149).
Worker processes are forked after the socket exists and accept from it in turn, as
gunicorn's do; each opens the index itself in the app's lifespan.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket

import uvicorn

_APP = "service.app:create_app"  # built from the environment in each process


def serve(host: str, port: int, workers: int = 1, access_log: bool = True) -> None:
    listener = _listen(host, port)
    # httptools and uvloop (C) instead of h11 and asyncio's loop (Python): about a third
    # less CPU per request.
    config = uvicorn.Config(_APP, factory=True, log_level="info", access_log=access_log,
                            http="httptools", loop="uvloop")
    if workers <= 1:
        uvicorn.Server(config).run(sockets=[listener])
        return
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_worker, args=(config, listener), daemon=True)
                for _ in range(workers)]
    for child in children:
        child.start()

    def stop(_signum, _frame) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()  # uvicorn shuts down gracefully on SIGTERM

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()


def _worker(config: uvicorn.Config, listener: socket.socket) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with SIGTERM
    uvicorn.Server(config).run(sockets=[listener])


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener
