"""The API key guard of the admin and write routes; search stays public."""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler


def require_api_key(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    expected = connection.app.state.settings.api_key
    if not expected:
        raise PermissionDeniedException("admin API is disabled: set EVENTSEARCH_API_KEY")
    given = connection.headers.get("x-api-key") or _bearer(connection.headers.get("authorization"))
    # Constant-time comparison: response timing must not reveal how much of a key matched.
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthorizedException("missing or wrong API key (X-API-Key header)")


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None
