"""The live gallery in a real browser: Debian's chromium, headless, driven by Playwright.

`make test` installs chromium first (local/install-chromium.sh); Playwright's own browsers are never downloaded.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from local import demo
from local.samples import encode, photo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULT_TIMEOUT_MS = 60_000

DROP_FILES = """([selector, files]) => {
  const transfer = new DataTransfer();
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, {type}));
  }
  const target = document.querySelector(selector);
  target.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def drop(page: Page, *files: tuple[str, str, bytes]) -> None:
    """Drop files on the page's drop zone, as a user dragging them from the desktop would."""
    encoded = [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files]
    page.evaluate(DROP_FILES, ["#drop", encoded])


def natural_size(page: Page, selector: str) -> list[int]:
    """The decoded size of an image on the page: [0, 0] when the browser could not show it."""
    return page.eval_on_selector(selector, "img => [img.naturalWidth, img.naturalHeight]")


def test_dropped_files_go_through_the_pipeline_and_appear_live(browser: Browser, tmp_path: Path):
    # GIVEN a previous run's gallery in out/, and `make serve` running with its live gallery
    (tmp_path / "resized").mkdir()
    (tmp_path / "resized/old.jpg").write_bytes(b"old")
    (tmp_path / "index.html").write_text("<img src='resized/old.jpg'>")
    with demo.running(tmp_path, "", 0) as run:
        assert not (tmp_path / "index.html").exists() and not (tmp_path / "resized/old.jpg").exists()
        page = browser.new_page()
        page.goto(run.gallery_url)
        assert page.text_content("#empty") == "No uploads yet."
        # WHEN a PNG and a TIFF are dropped on the page
        png = encode(photo(1200, 900), "PNG")
        tiff = encode(photo(640, 480), "TIFF")
        drop(page, ("holiday photo.png", "image/png", png), ("scan.tiff", "image/tiff", tiff))
        # THEN each appears under the file's name, without a reload, with its rendition at its true size and its e-mail
        card = 'article[data-filename="holiday photo.png"][data-status="success"]'
        page.wait_for_selector(card, timeout=RESULT_TIMEOUT_MS)
        page.wait_for_function(
            f"""() => [...document.querySelectorAll('{card} img')].every((img) => img.complete && img.naturalWidth)"""
        )
        assert natural_size(page, f"{card} figure.rendition img") == [800, 600]
        assert page.eval_on_selector(f"{card} figure.rendition img", "img => [img.width, img.height]") == [800, 600]
        # (under the key the upload API chose: the caller's prefix and a random name with the type's extension)
        key = page.get_attribute(card, "data-key") or ""
        assert re.fullmatch(r"uploads/[0-9a-f]{32}/[0-9a-f]{32}\.png", key)
        summary = page.text_content(f"{card} summary") or ""
        assert re.fullmatch(r"E-mail: Image processed: uploads/[0-9a-f/.]+\.png \[[0-9a-f]{6}\]", summary)
        assert f"Your image {key} was processed." in (page.text_content(f"{card} pre") or "")
        # AND the TIFF original, which no browser shows, is shown through its PNG preview
        tiff_card = 'article[data-filename="scan.tiff"][data-status="success"]'
        page.wait_for_selector(tiff_card, timeout=RESULT_TIMEOUT_MS)
        page.wait_for_function(f"() => document.querySelector('{tiff_card} figure.original img').complete")
        assert natural_size(page, f"{tiff_card} figure.original img") == [640, 480]
        # AND out/index.html is a snapshot of this run only
        snapshot = (tmp_path / "index.html").read_text()
        embedded = re.search(r'id="data">(.*?)</script>', snapshot, re.S)
        assert embedded is not None
        data = json.loads(embedded.group(1))
        tiff_key = page.get_attribute(tiff_card, "data-key")
        assert {entry["key"] for entry in data["entries"]} == {key, tiff_key}
        page.close()


def test_a_file_the_upload_api_refuses_is_reported_on_the_page(browser: Browser, tmp_path: Path):
    # GIVEN the live gallery
    with demo.running(tmp_path, "", 0) as run:
        page = browser.new_page()
        page.goto(run.gallery_url)
        # WHEN a file of a type the API does not accept is dropped
        drop(page, ("notes.txt", "text/plain", b"hello"))
        # THEN the page shows the API's reason, and nothing reached the bucket
        page.wait_for_selector("#uploads div:has-text('failed')")
        line = page.text_content("#uploads div") or ""
        assert line.startswith("upload of notes.txt failed: contentType must be one of image/jpeg, image/png")
        assert "Contents" not in run.pipeline.s3().list_objects_v2(Bucket=run.pipeline.source_bucket)
        page.close()
