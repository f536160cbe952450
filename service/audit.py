"""The audit log: one JSON line per admin or write request, refused ones included.

The key guard (service.security) marks a request as an admin action and, once the key is
known, with the key's id (never the key). A route may add what it acts on
(`audit_target`). When the response starts, `record_admin_action` (a before-send hook, so
it also sees the responses of errors and refusals) appends one line to
DATA_DIR/audit.jsonl and logs it on the `eventsearch.audit` logger:

    {"time": "2024-05-01T12:00:00.123Z", "key_id": "ops", "method": "DELETE",
     "path": "/api/events/x", "target": {"event_id": "x"}, "status": 204,
     "client": "10.0.0.7"}

`key_id` is null when no key or a wrong key was sent. Lines are written with one
O_APPEND write each, so several server processes can share the file.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import orjson
from litestar.types import Message, Scope

AUDIT_FILE = "audit.jsonl"
_STATE_KEY = "eventsearch_audit"

logger = logging.getLogger("eventsearch.audit")
logger.setLevel(logging.INFO)  # audit lines are not chatter: logged whatever the root's level


def mark_admin_action(scope: Scope, key_id: str | None = None) -> None:
    action = _action(scope)
    if action is None:
        action = {"key_id": None, "target": dict(scope.get("path_params") or {})}
        scope.setdefault("state", {})[_STATE_KEY] = action
    if key_id is not None:
        action["key_id"] = key_id


def audit_target(scope: Scope, **target) -> None:
    """Name what an admin request acts on beyond its path (e.g. a reindex's dump paths)."""
    action = _action(scope)
    if action is not None:
        action["target"].update(target)


class AuditLog:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / AUDIT_FILE

    async def record_admin_action(self, message: Message, scope: Scope) -> None:
        """Before-send hook: one line when an admin request's response starts."""
        if message["type"] != "http.response.start":
            return
        action = _action(scope)
        if action is None:
            return
        self.write(_entry(action, scope, message["status"]))

    def write(self, entry: dict) -> None:
        try:
            self._append(orjson.dumps(entry) + b"\n")
        except OSError as error:
            # A full disk must not turn the answer (a 507 among them) into a dropped
            # connection: the line still reaches the log below, marked as not written.
            logger.error("audit line not written to %s: %s", self.path, error)
        level = logging.INFO if entry["status"] < 400 else logging.WARNING
        logger.log(level, "admin %s %s by %s: %s", entry["method"], entry["path"],
                   entry["key_id"] or "(no valid key)", entry["status"], extra={"audit": entry})


    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)


def _action(scope: Scope) -> dict | None:
    return (scope.get("state") or {}).get(_STATE_KEY)


def _entry(action: dict, scope: Scope, status: int) -> dict:
    client = scope.get("client")
    return {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "key_id": action["key_id"],
        "method": scope.get("method"),
        "path": scope.get("path"),
        "target": action["target"],
        "status": status,
        "client": client[0] if client else None,
    }
