"""Service settings, read from the environment (the CLI passes its flags through here).

EVENTSEARCH_DATA_DIR         data directory holding the index generations (default ./data)
EVENTSEARCH_RELOAD_INTERVAL  seconds between checks for a newly published generation (1)
EVENTSEARCH_DUMP_DIR         directory that admin reindex jobs may read dumps from

Admin and write routes (off unless at least one key is configured; no default key):
EVENTSEARCH_API_KEY          one key, known in the audit log as `default`
EVENTSEARCH_API_KEYS         several keys with their ids, `ops:KEY1,ci:KEY2`
EVENTSEARCH_API_KEYS_FILE    a file of `id:key` lines (`#` comments), re-read when it
                             changes: keys are rotated without a restart
Every key is at least MIN_KEY_LENGTH (16) characters; a shorter one stops the start-up.

Public routes:
EVENTSEARCH_RATE_LIMIT       requests per client and window, `600/minute` (second, minute,
                             hour, day); unset: no limit. Counted per server process.
EVENTSEARCH_RATE_LIMIT_EXEMPT  client addresses or networks never limited, comma-separated
                             (default `127.0.0.1,::1`; empty: limit everyone)
EVENTSEARCH_CORS_ORIGINS     origins allowed to call the API from a browser, comma-separated
                             (`*` for any); unset: no CORS headers

Read replica (`eventsearch serve --follow URL` sets EVENTSEARCH_FOLLOW):
EVENTSEARCH_FOLLOW           the primary's base URL: serve its published generations,
                             refuse writes
EVENTSEARCH_FOLLOW_KEY       the primary's admin key (default: the first key configured
                             here, so one keys setting can serve a whole fleet)
EVENTSEARCH_FOLLOW_INTERVAL  seconds between polls of the primary (1)
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")
MIN_KEY_LENGTH = 16
REQUEST_MAX_BODY_SIZE = 64 * 1024
"""Bytes of request body on every route that does not set its own limit (a reindex request's
paths, a draft's headline); the event upsert route takes more."""

_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_KEY = re.compile(r"[!-~]+")  # visible ASCII: what an HTTP header carries unchanged
_RATE = re.compile(r"\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable and the problem."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    api_key: str | None = None
    api_keys: str | None = None  # "id:key,id:key"
    api_keys_file: Path | None = None
    dump_dir: Path | None = None
    reload_interval: float = 1.0
    rate_limit: tuple[str, int] | None = None  # ("minute", 600)
    rate_limit_exempt: tuple[str, ...] = ("127.0.0.1", "::1")
    cors_origins: tuple[str, ...] = ()
    max_result_window: int = 10_000  # page * size beyond this is refused: deep pages are costly
    follow_url: str | None = None  # set: a read replica of this primary
    follow_key: str | None = None
    follow_interval: float = 1.0

    def __post_init__(self) -> None:
        self.configured_keys()  # a short or malformed key stops the start-up, not a request
        for network in self.rate_limit_exempt:
            _network(network)
        if self.follow_url:
            self.primary_key()

    def primary_key(self) -> str:
        """The key a replica sends to its primary; ConfigError when there is none."""
        if self.follow_key:
            _add_key({}, "follow", self.follow_key, "EVENTSEARCH_FOLLOW_KEY")
            return self.follow_key
        keys = self.configured_keys()
        if not keys:
            raise ConfigError("EVENTSEARCH_FOLLOW: a replica needs the primary's admin key in "
                              "EVENTSEARCH_FOLLOW_KEY (or EVENTSEARCH_API_KEYS)")
        return next(iter(keys.values()))

    def configured_keys(self) -> dict[str, str]:
        """Key id -> key, from every source; raises ConfigError naming the bad one."""
        keys: dict[str, str] = {}
        if self.api_key:
            _add_key(keys, "default", self.api_key, "EVENTSEARCH_API_KEY")
        if self.api_keys:
            for entry in filter(str.strip, self.api_keys.split(",")):
                _add_key(keys, *_split_entry(entry, "EVENTSEARCH_API_KEYS"),
                         "EVENTSEARCH_API_KEYS")
        if self.api_keys_file:
            for key_id, key in read_keys_file(self.api_keys_file).items():
                _add_key(keys, key_id, key, str(self.api_keys_file))
        return keys

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None) -> Settings:
        chosen = data_dir or os.environ.get("EVENTSEARCH_DATA_DIR") or DEFAULT_DATA_DIR
        env = os.environ.get
        return cls(
            data_dir=Path(chosen),
            api_key=env("EVENTSEARCH_API_KEY") or None,
            api_keys=env("EVENTSEARCH_API_KEYS") or None,
            api_keys_file=_path(env("EVENTSEARCH_API_KEYS_FILE")),
            dump_dir=_path(env("EVENTSEARCH_DUMP_DIR")),
            reload_interval=float(env("EVENTSEARCH_RELOAD_INTERVAL", "1.0")),
            rate_limit=parse_rate(env("EVENTSEARCH_RATE_LIMIT")),
            rate_limit_exempt=_list(env("EVENTSEARCH_RATE_LIMIT_EXEMPT", "127.0.0.1,::1")),
            cors_origins=_list(env("EVENTSEARCH_CORS_ORIGINS", "")),
            follow_url=_primary_url(env("EVENTSEARCH_FOLLOW")),
            follow_key=env("EVENTSEARCH_FOLLOW_KEY") or None,
            follow_interval=float(env("EVENTSEARCH_FOLLOW_INTERVAL", "1.0")),
        )


def read_keys_file(path: Path) -> dict[str, str]:
    """The `id:key` lines of a keys file; blank lines and `#` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"EVENTSEARCH_API_KEYS_FILE: cannot read {path}: {error}") from None
    keys: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            where = f"{path}:{number}"
            _add_key(keys, *_split_entry(line, where), where)
    return keys


def parse_rate(text: str | None) -> tuple[str, int] | None:
    """`600/minute` -> ("minute", 600); unset or empty -> None (no limit)."""
    if not text:
        return None
    match = _RATE.fullmatch(text)
    if not match or int(match[1]) < 1:
        raise ConfigError(f"EVENTSEARCH_RATE_LIMIT={text!r}: expected N/UNIT with N >= 1 and "
                          "UNIT one of second, minute, hour, day (e.g. 600/minute)")
    return match[2], int(match[1])


def _split_entry(entry: str, where: str) -> tuple[str, str]:
    key_id, colon, key = entry.strip().partition(":")
    if not colon:
        raise ConfigError(f"{where}: expected id:key, found no ':'")
    return key_id.strip(), key.strip()


def _add_key(keys: dict[str, str], key_id: str, key: str, where: str) -> None:
    if not _KEY_ID.fullmatch(key_id):
        raise ConfigError(f"{where}: key id {key_id!r} must be 1-64 letters, digits, '_.-'")
    if not _KEY.fullmatch(key):
        raise ConfigError(f"{where}: key {key_id!r} must be visible ASCII without spaces")
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(f"{where}: key {key_id!r} has {len(key)} characters; at least "
                          f"{MIN_KEY_LENGTH} are required (e.g. `openssl rand -hex 24`)")
    if key_id in keys:
        raise ConfigError(f"{where}: key id {key_id!r} is configured twice")
    if key in keys.values():
        raise ConfigError(f"{where}: key {key_id!r} is the same key as another id's")
    keys[key_id] = key


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(f"EVENTSEARCH_RATE_LIMIT_EXEMPT: {text!r} is no address or "
                          "network") from None


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _primary_url(text: str | None) -> str | None:
    if not text:
        return None
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        raise ConfigError(f"EVENTSEARCH_FOLLOW={text!r}: expected the primary's base URL, "
                          "e.g. http://primary:8000")
    return text.rstrip("/")


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None
