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
        # THEN each appears, without a reload, with its rendition at its true size and its e-mail
        card = 'article[data-key="uploads/holiday photo.png"][data-status="success"]'
        page.wait_for_selector(card, timeout=RESULT_TIMEOUT_MS)
        page.wait_for_function(
            f"""() => [...document.querySelectorAll('{card} img')].every((img) => img.complete && img.naturalWidth)"""
        )
        assert natural_size(page, f"{card} figure.rendition img") == [800, 600]
        assert page.eval_on_selector(f"{card} figure.rendition img", "img => [img.width, img.height]") == [800, 600]
        summary = page.text_content(f"{card} summary") or ""
        assert re.fullmatch(r"E-mail: Image processed: uploads/holiday photo\.png \[[0-9a-f]{6}\]", summary)
        assert "Your image uploads/holiday photo.png was processed." in (page.text_content(f"{card} pre") or "")
        # AND the TIFF original, which no browser shows, is shown through its PNG preview
        tiff_card = 'article[data-key="uploads/scan.tiff"][data-status="success"]'
        page.wait_for_selector(tiff_card, timeout=RESULT_TIMEOUT_MS)
        page.wait_for_function(f"() => document.querySelector('{tiff_card} figure.original img').complete")
        assert natural_size(page, f"{tiff_card} figure.original img") == [640, 480]
        # AND out/index.html is a snapshot of this run only
        snapshot = (tmp_path / "index.html").read_text()
        embedded = re.search(r'id="data">(.*?)</script>', snapshot, re.S)
        assert embedded is not None
        data = json.loads(embedded.group(1))
        assert {entry["key"] for entry in data["entries"]} == {"uploads/holiday photo.png", "uploads/scan.tiff"}
        page.close()


def test_the_upload_endpoint_refuses_what_the_bucket_would_refuse(browser: Browser, tmp_path: Path):
    with demo.running(tmp_path, "", 0) as run:
        page = browser.new_page()
        page.goto(run.gallery_url)
        empty = page.evaluate(
            """async () => { const r = await fetch("uploads", {method: "POST",
                body: JSON.stringify({filename: "a.jpg", contentType: "image/jpeg", size: 0})});
              return [r.status, (await r.json()).error]; }"""
        )
        assert empty == [400, "a.jpg is 0 bytes; uploads must be 1 byte to 50 MiB"]
        page.close()
