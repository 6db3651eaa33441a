"""`make serve`'s live gallery: a localhost page fed by server-sent events, with drag-and-drop uploads.

GET /          the gallery page (local/gallery.py), live
GET /events    every outcome so far, then each new one as it arrives (text/event-stream)
POST /uploads, GET and DELETE /images/{key}   the upload API (api/, docs/api.md) itself, through
               local/api_gateway.py, as the local IAM user: the page uploads with the form it hands out
GET /originals/..., /resized/...   the files the page shows, from the output folder
"""

from __future__ import annotations

import json
import mimetypes
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from local import api_gateway, gallery

KEEPALIVE_SECONDS = 15
SERVED_FOLDERS = ("originals", "resized")
API_PATHS = ("/uploads", "/images/")


class Feed:
    """The outcomes shown so far, and a condition every event stream waits on."""

    def __init__(self) -> None:
        self.entries: list[gallery.Entry] = []
        self.changed = threading.Condition()
        self.closed = False

    def add(self, entry: gallery.Entry) -> None:
        """Show a new outcome on every open page."""
        with self.changed:
            self.entries.append(entry)
            self.changed.notify_all()

    def wait_after(self, seen: int) -> list[gallery.Entry] | None:
        """The entries after the first `seen`, once there are any ([] after a quiet while); None once closed."""
        with self.changed:
            self.changed.wait_for(lambda: self.closed or len(self.entries) > seen, KEEPALIVE_SECONDS)
            return None if self.closed else self.entries[seen:]

    def close(self) -> None:
        """End every event stream."""
        with self.changed:
            self.closed = True
            self.changed.notify_all()


def serve(out: Path, feed: Feed, port: int = 0) -> ThreadingHTTPServer:
    """Start the gallery server on localhost in a background thread; `port` 0 picks a free one.

    The upload API reads its configuration from this process's environment (the pipeline's
    `api_environment()`), as the function does in Lambda.
    """
    handler = _handler_class(out.resolve(), feed)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="gallery").start()
    return server


def _is_api(target: str) -> bool:
    path = urlsplit(target).path
    return path == API_PATHS[0] or path.startswith(API_PATHS[1])


def _handler_class(out: Path, feed: Feed) -> type[BaseHTTPRequestHandler]:
    class GalleryRequest(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows outcomes
            pass

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            if _is_api(self.path):
                api_gateway.respond(self, api_gateway.iam_identity())
            elif path == "/":
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", gallery.page([], live=True).encode())
            elif path == "/events":
                self._stream()
            else:
                self._file(path)

        def do_POST(self) -> None:
            self._api()

        def do_DELETE(self) -> None:
            self._api()

        def _api(self) -> None:
            if _is_api(self.path):
                api_gateway.respond(self, api_gateway.iam_identity())
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": "no such endpoint"})

        def _stream(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            sent = 0
            try:
                while (new := feed.wait_after(sent)) is not None:
                    sent += len(new)
                    chunk = "".join(f"data: {json.dumps(item.as_json())}\n\n" for item in new) or ": keepalive\n\n"
                    self.wfile.write(chunk.encode())
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):  # the page was closed
                return

        def _file(self, path: str) -> None:
            target = (out / path.lstrip("/")).resolve()
            inside = target.is_relative_to(out) and target.relative_to(out).parts[:1] in [(f,) for f in SERVED_FOLDERS]
            if not inside or not target.is_file():
                self._json(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": "no such file"})
                return
            content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self._send(HTTPStatus.OK, content_type, target.read_bytes())

        def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            self._send(status, "application/json", json.dumps(body).encode())

        def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return GalleryRequest
