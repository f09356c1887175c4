"""Plain HTTP on the websocket port: the web client, health, metrics, schema.

websockets answers these through ``process_request``; every such response
closes its TCP connection, which is fine for a handful of static files.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from pathlib import Path

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

DEFAULT_WEB_ROOT = Path(__file__).resolve().parents[2] / "web_client"

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def respond(
    status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
) -> Response:
    headers = Headers()
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(body))
    headers["X-Content-Type-Options"] = "nosniff"
    extra = extra or {}
    headers["Cache-Control"] = extra.pop("Cache-Control", "no-store")
    for k, v in extra.items():
        headers[k] = v
    reason = {200: "OK", 403: "Forbidden", 404: "Not Found", 503: "Service Unavailable"}
    return Response(status, reason.get(status, "OK"), headers, body)


def text(status: int, message: str) -> Response:
    return respond(status, message.encode(), "text/plain; charset=utf-8")


class StaticFiles:
    """Files under one directory; nothing outside it is ever served."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def get(self, path: str) -> Response:
        rel = path.split("?", 1)[0].lstrip("/") or "index.html"
        try:
            file = (self.root / rel).resolve()
        except (OSError, ValueError):
            return text(404, "not found")
        if not file.is_relative_to(self.root) or not file.is_file():
            return text(404, "not found")
        kind = _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
        csp = {
            # The client renders customers' text; a strict policy makes sure
            # nothing in it can ever run as script.
            "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
            "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'"
        }
        return respond(200, file.read_bytes(), kind or "application/octet-stream", csp)


def is_websocket(request: Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


Handler = Callable[[Request], Response | None]
