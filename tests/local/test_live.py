"""The live gallery's server: what it serves, and what it refuses, without a browser."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from local import demo
from local.samples import encode, photo


def request(url: str, body: bytes | None = None, method: str | None = None) -> tuple[int, Any]:
    """Status and body (JSON when it is JSON) of a GET, or of a POST when there is a body."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method), timeout=10) as response:
            status, data, kind = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        status, data, kind = error.code, error.read(), error.headers["Content-Type"]
    return status, json.loads(data) if kind == "application/json" else data


def test_server_serves_only_the_gallery_files_and_the_upload_api(tmp_path: Path):
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
        assert request(url + "elsewhere", b"{}")[0] == 404
        # AND an upload request is answered by the upload API: a form for a key it chose, in the caller's prefix
        status, answer = request(
            url + "uploads",
            json.dumps({"filename": "../../x/evil.png", "contentType": "image/png", "size": 10}).encode(),
        )
        assert status == 201 and answer["filename"] == "../../x/evil.png"  # echoed, never used in the key
        assert re.fullmatch(r"[0-9a-f]{32}\.png", answer["key"])
        assert re.fullmatch(r"uploads/[0-9a-f]{32}/" + re.escape(answer["key"]), answer["upload"]["fields"]["key"])
        assert answer["upload"]["url"].startswith(run.pipeline.endpoint)
        # AND the API's refusals reach the page with their status, code and message
        assert request(url + "uploads", b"{")[1]["error"] == "invalid_json"
        assert request(
            url + "uploads", json.dumps({"filename": "a.jpg", "contentType": "image/jpeg", "size": 0}).encode()
        ) == (
            400,
            {"error": "invalid_request", "message": "size must be the file's size in bytes, a positive integer"},
        )


def test_an_upload_made_with_the_apis_form_has_its_status_and_can_be_deleted(tmp_path: Path):
    # GIVEN make serve's server, and an upload made under the key the API handed out
    with demo.running(tmp_path, "", 0) as run:
        url = run.gallery_url
        data = encode(photo(400, 300), "PNG")
        grant = request(
            url + "uploads", json.dumps({"filename": "a.png", "contentType": "image/png", "size": len(data)}).encode()
        )[1]
        key = grant["upload"]["fields"]["key"]
        run.pipeline.s3().put_object(Bucket=run.pipeline.source_bucket, Key=key, Body=data)
        demo.wait_for_outcomes(run.pump, {key})
        # WHEN the page asks the API for its status, THEN it reads the processing history the function wrote
        status, image = request(url + "images/" + grant["key"])
        assert status == 200 and image["status"] == "success"
        assert [rendition["size"] for rendition in image["renditions"]] == [[400, 300]]
        # AND a DELETE removes the upload, and then its renditions follow
        assert request(url + "images/" + grant["key"], method="DELETE") == (
            202,
            {"key": grant["key"], "status": "deleting"},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and run.pump.stats.results[-1]["status"] != "deleted":
            time.sleep(0.2)
        assert run.pump.stats.results[-1]["status"] == "deleted"
        assert request(url + "images/" + grant["key"])[1]["status"] == "deleted"
