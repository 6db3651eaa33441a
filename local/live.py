"""`make serve`'s live gallery: a localhost page fed by server-sent events, with drag-and-drop uploads.

GET /          the gallery page (local/gallery.py), live
GET /events    every outcome so far, then each new one as it arrives (text/event-stream)
POST /uploads  {filename, contentType, size} -> a presigned POST straight to the emulator's source bucket
GET /originals/..., /resized/...   the files the page shows, from the output folder
"""

from __future__ import annotations

import json
import mimetypes
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from handler.settings import MIB
from local import gallery
from local.emulator import LocalPipeline

UPLOAD_PREFIX = "uploads/"
MAX_UPLOAD_BYTES = 50 * MIB  # the function's default MAX_INPUT_BYTES
PRESIGNED_SECONDS = 300
KEEPALIVE_SECONDS = 15
SERVED_FOLDERS = ("originals", "resized")


class UploadRefused(ValueError):
    """An upload request the page should show to the user as is."""


def presigned_upload(pipeline: LocalPipeline, filename: str, content_type: str, size: int) -> dict[str, Any]:
    """A presigned POST for one browser upload into the source bucket.

    Stands in for the API's `POST /uploads` (local/api_gateway.py, branch api): swap this function
    for a call to it and the page works unchanged, as it only reads `url`, `fields` and `key`.
    """
    name = PurePosixPath(filename.replace("\\", "/")).name
    if not name:
        raise UploadRefused("the file has no name")
    if not 0 < size <= MAX_UPLOAD_BYTES:
        raise UploadRefused(f"{name} is {size} bytes; uploads must be 1 byte to {MAX_UPLOAD_BYTES // MIB} MiB")
    key = UPLOAD_PREFIX + name
    post = pipeline.s3().generate_presigned_post(
        pipeline.source_bucket,
        key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, MAX_UPLOAD_BYTES]],
        ExpiresIn=PRESIGNED_SECONDS,
    )
    return {"url": post["url"], "fields": post["fields"], "key": key}


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


def serve(pipeline: LocalPipeline, out: Path, feed: Feed, port: int = 0) -> ThreadingHTTPServer:
    """Start the gallery server on localhost in a background thread; `port` 0 picks a free one."""
    handler = _handler_class(pipeline, out.resolve(), feed, presigned_upload)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="gallery").start()
    return server


def _handler_class(
    pipeline: LocalPipeline,
    out: Path,
    feed: Feed,
    presign: Callable[[LocalPipeline, str, str, int], dict[str, Any]],
) -> type[BaseHTTPRequestHandler]:
    class GalleryRequest(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows outcomes
            pass

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            if path == "/":
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", gallery.page([], live=True).encode())
            elif path == "/events":
                self._stream()
            else:
                self._file(path)

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/uploads":
                self._json(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})
                return
            try:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                answer = presign(pipeline, str(request["filename"]), str(request["contentType"]), int(request["size"]))
            except (ValueError, KeyError, TypeError) as error:
                message = str(error) if isinstance(error, UploadRefused) else f"bad upload request: {error}"
                self._json(HTTPStatus.BAD_REQUEST, {"error": message})
                return
            self._json(HTTPStatus.OK, answer)

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
                self._json(HTTPStatus.NOT_FOUND, {"error": "no such file"})
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
