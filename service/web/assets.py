"""Static files under names that carry a hash of their content, cached for a year.

`/static/app.css` is served as `/static/app.3f2a9c81d0e4.css`: a page names the exact
version it was rendered with, so browsers and proxies may keep every file forever
(`immutable`), and a new release is fetched at once because its names differ.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from litestar import Response
from litestar.exceptions import NotFoundException

FOREVER = "public, max-age=31536000, immutable"
_SERVED = {".css", ".js", ".svg", ".png", ".ico", ".woff2"}


@dataclass(frozen=True)
class _Asset:
    content: bytes
    media_type: str


class StaticAssets:
    def __init__(self, directory: Path, prefix: str = "/static"):
        self.prefix = prefix
        self._urls: dict[str, str] = {}
        self._files: dict[str, _Asset] = {}
        for path in sorted(directory.rglob("*")):
            if path.suffix not in _SERVED or not path.is_file():
                continue
            content = path.read_bytes()
            name = path.relative_to(directory).as_posix()
            stem, _, extension = name.rpartition(".")
            hashed = f"{stem}.{hashlib.sha256(content).hexdigest()[:12]}.{extension}"
            media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self._urls[name] = f"{prefix}/{hashed}"
            self._files[hashed] = _Asset(content, media_type)

    def url(self, name: str) -> str:
        """The hashed URL of `name` (a path under the static directory)."""
        return self._urls[name]

    def response(self, hashed: str) -> Response:
        asset = self._files.get(hashed.lstrip("/"))
        if asset is None:
            raise NotFoundException(f"no static file {hashed!r}")
        return Response(asset.content, media_type=asset.media_type,
                        headers={"Cache-Control": FOREVER})
