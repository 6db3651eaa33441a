"""The live gallery's server: what it serves, and what it refuses, without a browser."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from local import demo, live


def request(url: str, body: bytes | None = None) -> tuple[int, Any]:
    """Status and body (JSON when it is JSON) of a GET, or of a POST when there is a body."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as response:
            status, data, kind = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        status, data, kind = error.code, error.read(), error.headers["Content-Type"]
    return status, json.loads(data) if kind == "application/json" else data


def test_server_serves_only_the_gallery_files_and_checks_upload_requests(tmp_path: Path):
    # GIVEN make serve's server, and files in out/ that are not for the page
    with demo.running(tmp_path, "", 0) as run:
        (tmp_path / "originals").mkdir()
        (tmp_path / "originals/a.png").write_bytes(b"png")
        url = run.gallery_url
        # WHEN the page's files and others are requested, THEN only originals/ and resized/ are served
        assert request(url + "originals/a.png") == (200, b"png")
        assert request(url + "handler.log")[0] == 404
        assert request(url + "originals/../handler.log")[0] == 404
        assert request(url + "originals/%2e%2e/handler.log")[0] == 404
        # AND an upload request gets a presigned POST for a key under uploads/, whatever path the name carries
        status, answer = request(
            url + "uploads",
            json.dumps({"filename": "../../x/evil.png", "contentType": "image/png", "size": 10}).encode(),
        )
        assert status == 200 and answer["key"] == "uploads/evil.png"
        assert answer["fields"]["key"] == "uploads/evil.png" and answer["url"].startswith(run.pipeline.endpoint)
        # AND a malformed one is a 400 with a message the page can show
        assert request(url + "uploads", b"{") == (
            400,
            {
                "error": "bad upload request: Expecting property name "
                "enclosed in double quotes: line 1 column 2 (char 1)"
            },
        )
        assert request(url + "elsewhere", b"{}") == (404, {"error": "no such endpoint"})


@pytest.mark.parametrize(
    ("size", "accepted"), [(1, True), (live.MAX_UPLOAD_BYTES, True), (0, False), (live.MAX_UPLOAD_BYTES + 1, False)]
)
def test_upload_sizes_are_checked_before_presigning(tmp_path: Path, size: int, accepted: bool):
    with demo.running(tmp_path, "", None) as run:
        if accepted:
            assert live.presigned_upload(run.pipeline, "a.jpg", "image/jpeg", size)["key"] == "uploads/a.jpg"
        else:
            with pytest.raises(live.UploadRefused, match="uploads must be 1 byte to 50 MiB"):
                live.presigned_upload(run.pipeline, "a.jpg", "image/jpeg", size)
