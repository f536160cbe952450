"""Who may change the index, and what every response tells a browser.

    require_api_key        the guard of the admin and write routes (search stays public)
    ApiKeys                the configured keys: environment and keys file, the file re-read
                           when it changes, so a key is rotated without a restart
    add_security_headers   a before-send hook: nosniff and Referrer-Policy on every
                           response, the Content-Security-Policy and X-Frame-Options on
                           every HTML one (error pages included)
    rate_limit_config      Litestar's rate limiter, per client address, loopback exempt
    cors_config            Litestar's CORS, only for the configured origins
    Access                 all of the above as the app registers it (service.app), with the
                           429 and 413 answers that name their limits
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import threading
from pathlib import Path

from litestar import Request, Response
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE, HTTP_429_TOO_MANY_REQUESTS
from litestar.types import Message, Scope

from service.audit import AuditLog, mark_admin_action
from service.config import ConfigError, Settings

logger = logging.getLogger("eventsearch.security")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
"""Scripts and styles from our own files only: no inline script can run, whatever a
headline or a query string smuggles into a page."""

DOCS_CONTENT_SECURITY_POLICY = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
"""The API docs under /schema are Litestar's Scalar and Swagger pages, which run inline
script from a CDN: they may not be framed, but their scripts are theirs."""

API_KEY_REQUIRED = [{"apiKey": []}]
"""The OpenAPI security requirement of the routes guarded by `require_api_key`."""

_OPENAPI_COMPONENTS = Components(security_schemes={"apiKey": SecurityScheme(
    type="apiKey", name="X-API-Key", security_scheme_in="header",
    description="One of the configured keys (EVENTSEARCH_API_KEY, EVENTSEARCH_API_KEYS, "
                "EVENTSEARCH_API_KEYS_FILE); `Authorization: Bearer KEY` works too.")})

_EVERY_RESPONSE = ((b"x-content-type-options", b"nosniff"),
                   (b"referrer-policy", b"strict-origin-when-cross-origin"))
_HTML_HEADERS = (*_EVERY_RESPONSE, (b"x-frame-options", b"DENY"),
                 (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
_HTML_HEADERS_DOCS = (*_EVERY_RESPONSE, (b"x-frame-options", b"DENY"),
                      (b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode()))


# --- API keys --------------------------------------------------------------------------

class ApiKeys:
    """The keys the admin routes accept, each under its id (the audit log names the id)."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._lock = threading.Lock()
        self._digests: list[tuple[str, bytes]] = []
        self._error: str | None = None
        self._file_state: tuple | None | str = "unread"
        self._reload()

    def identify(self, given: str | None) -> str | None:
        """The id of the key given, or None. Every configured key is compared, in constant
        time and without stopping at a match, so timing tells neither which key matched nor
        how much of one (digests have one length whatever the key's)."""
        given_digest = hashlib.sha256((given or "").encode()).digest()
        matched = None
        for key_id, digest in self._current():
            if hmac.compare_digest(given_digest, digest) and given:
                matched = key_id
        return matched

    def any_configured(self) -> bool:
        return bool(self._current())

    def _current(self) -> list[tuple[str, bytes]]:
        self._reload()
        if self._error:  # fail closed: a rotation gone wrong must not keep old keys alive
            raise ServiceUnavailableException(
                f"no API key is accepted until the keys file is fixed: {self._error}")
        return self._digests

    def _reload(self) -> None:
        """Read the keys again when the keys file's inode, size or modification time
        changed (one stat per admin request): a replaced or edited file counts at once."""
        state = _file_state(self._settings.api_keys_file)
        if state == self._file_state:
            return
        with self._lock:
            if state == self._file_state:
                return
            try:
                keys = self._settings.configured_keys()
                self._digests = [(key_id, hashlib.sha256(key.encode()).digest())
                                 for key_id, key in keys.items()]
                self._error = None
                logger.info("API keys: ids %s", sorted(keys))
            except ConfigError as error:
                self._error = str(error)
                logger.error("API keys rejected, none is accepted: %s", error)
            self._file_state = state


def _file_state(path: Path | None) -> tuple | None:
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return ("missing",)
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def require_api_key(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    mark_admin_action(connection.scope)  # audited whatever the outcome, see service.audit
    keys: ApiKeys = connection.app.state.api_keys
    if not keys.any_configured():
        raise PermissionDeniedException(
            "admin API is disabled: set EVENTSEARCH_API_KEY, EVENTSEARCH_API_KEYS or "
            "EVENTSEARCH_API_KEYS_FILE")
    given = connection.headers.get("x-api-key") or _bearer(connection.headers.get("authorization"))
    key_id = keys.identify(given)
    if key_id is None:
        raise NotAuthorizedException("missing or wrong API key (X-API-Key header)")
    mark_admin_action(connection.scope, key_id)


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


# --- Headers on every response ---------------------------------------------------------

async def add_security_headers(message: Message, scope: Scope) -> None:
    """Adds what a response lacks of the headers above; runs on every response, so it
    walks the raw header list once (a few microseconds) instead of a header mapping."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers") or ())
    present = {name.lower() for name, _ in headers}
    html = any(name.lower() == b"content-type" and value.startswith(b"text/html")
               for name, value in headers)
    wanted = _HTML_HEADERS_DOCS if html and scope.get("path", "").startswith("/schema") else \
        _HTML_HEADERS if html else _EVERY_RESPONSE
    headers.extend((name, value) for name, value in wanted if name not in present)
    message["headers"] = headers


# --- Rate limit, CORS, body size -------------------------------------------------------

def rate_limit_config(settings: Settings) -> RateLimitConfig | None:
    """Per client address, counted in this process's memory (each worker counts apart);
    the probes of operators and load balancers are never limited."""
    if settings.rate_limit is None:
        return None
    exempt = [ipaddress.ip_network(n, strict=False) for n in settings.rate_limit_exempt]

    def counted(request: Request) -> bool:
        return not _in_networks(request.client.host if request.client else None, exempt)

    return RateLimitConfig(rate_limit=settings.rate_limit, check_throttle_handler=counted,
                           exclude=["^/health$", "^/ready$", "^/metrics$"])


def _in_networks(host: str | None, networks: list) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:  # not an IP (a test client's name, a Unix socket)
        return False
    return any(address in network for network in networks)


def too_many_requests(settings: Settings):
    """The 429 names the limit and says when to come back (Retry-After, in seconds)."""
    unit, count = settings.rate_limit or ("minute", 0)

    def handle(_request: Request, error: TooManyRequestsException) -> Response:
        headers = dict(error.headers or {})
        headers["Retry-After"] = str(max(1, int(headers.get("RateLimit-Reset", "1"))))
        return Response({"status_code": HTTP_429_TOO_MANY_REQUESTS,
                         "detail": f"rate limit of {count} requests per {unit} exceeded; "
                                   f"retry after {headers['Retry-After']} s"},
                        status_code=HTTP_429_TOO_MANY_REQUESTS, headers=headers)

    return handle


def body_too_large(request: Request, _error: RequestEntityTooLarge) -> Response:
    limit = request.route_handler.resolve_request_max_body_size()
    return Response({"status_code": HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                     "detail": f"request body too large: this route takes at most "
                               f"{limit:,} bytes"},
                    status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE)


def cors_config(settings: Settings) -> CORSConfig | None:
    """Browsers on other origins may read the API only when origins are configured."""
    if not settings.cors_origins:
        return None
    return CORSConfig(allow_origins=list(settings.cors_origins),
                      allow_methods=["GET", "HEAD", "OPTIONS", "POST", "DELETE"],
                      allow_headers=["Content-Type", "X-API-Key", "Authorization",
                                     "HX-Request"],
                      max_age=600)


class Access:
    """What the app registers from this module, built once from the settings."""

    def __init__(self, settings: Settings):
        self.keys = ApiKeys(settings)
        self.audit = AuditLog(settings.data_dir)
        rate_limit = rate_limit_config(settings)
        self.middleware = [rate_limit.middleware] if rate_limit else []
        self.cors = cors_config(settings)
        self.before_send = [add_security_headers, self.audit.record_admin_action]
        self.openapi_components = _OPENAPI_COMPONENTS
        self.exception_handlers = {RequestEntityTooLarge: body_too_large,
                                   TooManyRequestsException: too_many_requests(settings)}
