"""JSON responses encoded with orjson: response models are dataclasses, which orjson
serializes natively (and Litestar documents in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

import orjson
from litestar import Response
from litestar.enums import MediaType


class OrjsonResponse(Response):
    def render(self, content: Any, media_type: str, enc_hook: Any = None) -> bytes:
        if isinstance(content, bytes) or not str(media_type).startswith(MediaType.JSON.value):
            return super().render(content, media_type, enc_hook)
        return orjson.dumps(content, default=enc_hook)
