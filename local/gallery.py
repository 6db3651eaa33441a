"""The gallery: each original beside every rendition at its true size, each with its e-mail.

One page serves both uses: `make demo` writes it to out/index.html with the outcomes inside, and
`make serve` (local/live.py) serves it with a live feed of outcomes and drag-and-drop uploads.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pi_heif  # type: ignore[import-untyped]
from PIL import Image

from handler.notify import readable_bytes, renditions
from local.emulator import Email

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# What every current browser shows in an <img>; anything else gets a PNG preview.
BROWSER_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "AVIF"})
PREVIEW_MAX_SIDE = 2048


@dataclass(frozen=True)
class Picture:
    """A file in out/ the page shows, with what to say under it."""

    path: str
    caption: str
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Entry:
    """One upload and what the pipeline made of it."""

    key: str
    status: str
    detail: str
    original: Picture
    renditions: list[Picture] = field(default_factory=list)
    email: dict[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        """The entry as the page's script reads it."""
        return asdict(self)


def preview(out: Path, key: str, data: bytes) -> Picture:
    """Write the original to out/originals/, plus a PNG the browser can show when it cannot show the original."""
    original = Path("originals") / key
    (out / original).parent.mkdir(parents=True, exist_ok=True)
    (out / original).write_bytes(data)
    try:
        with _open(data) as image:
            fmt, width, height = image.format or "?", image.width, image.height
            if fmt not in BROWSER_FORMATS:
                image.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
                shown = image.convert("RGBA") if image.mode not in ("RGB", "RGBA", "L", "LA") else image
                converted = original.with_name(original.name + ".preview.png")
                shown.save(out / converted, "PNG")
                caption = f"original: {fmt} {width} x {height}, {readable_bytes(len(data))} (shown as PNG)"
                return Picture(converted.as_posix(), caption, shown.width, shown.height)
    except Exception:  # anything the pipeline refuses may also be unreadable here; the page says so
        return Picture("", f"original: not viewable, {readable_bytes(len(data))}")
    return Picture(original.as_posix(), f"original: {fmt} {width} x {height}, {readable_bytes(len(data))}")


def _open(data: bytes) -> Image.Image:
    """Pillow's view of an upload; HEIC through pi-heif, without registering it for the whole process."""
    if pi_heif.is_supported(data):
        image: Image.Image = pi_heif.open_heif(io.BytesIO(data)).to_pillow()
        image.format = "HEIC"
        return image
    return Image.open(io.BytesIO(data))


def entry(
    s3: S3Client, bucket: str, out: Path, *, key: str, data: bytes, outcome: dict[str, Any], email: Email | None
) -> Entry:
    """Copy an upload's renditions into out/ and describe them, with the upload's e-mail if it had one."""
    pictures = []
    for rendition in renditions(outcome):
        target = out / rendition["key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=bucket, Key=rendition["key"])["Body"].read())
        width, height = rendition.get("size") or (0, 0)
        name = rendition.get("name") or "resized"
        caption = f"{name}: {width} x {height}, {readable_bytes(int(rendition.get('bytes') or 0))}"
        pictures.append(Picture(rendition["key"], caption, width, height))
    status = str(outcome.get("status", "no outcome"))
    detail = str(outcome.get("error_message") or outcome.get("reason") or "")
    if status == "dead-lettered":
        detail = "the function raised on every attempt; no notification is sent for dead-lettered events"
    mail = {"subject": email.subject, "body": email.body} if email else None
    return Entry(key, status, detail, preview(out, key, data), pictures, mail)


def write(out: Path, entries: list[Entry]) -> Path:
    """Write out/index.html with the entries inside and return its path."""
    path = out / "index.html"
    path.write_text(page(entries, live=False), encoding="utf-8")
    return path


def page(entries: list[Entry], *, live: bool) -> str:
    """The gallery page; `live` adds the outcome feed and the drop zone (served by local/live.py)."""
    data = json.dumps({"live": live, "entries": [item.as_json() for item in entries]}).replace("</", "<\\/")
    return _PAGE.replace("__DATA__", data)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>image-processor gallery</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; }
#drop { border: 2px dashed #888; padding: 2rem; text-align: center; margin-bottom: 1rem; }
#drop.over { background: #eef; }
article { border-top: 1px solid #ccc; padding: .5rem 0 1rem; }
h2 { font-size: 1rem; margin: .5rem 0; } h2 code { font-size: 1rem; }
.row { display: flex; gap: 1rem; align-items: flex-start; overflow-x: auto; padding-bottom: .5rem; }
.row figure { margin: 0; flex: none; }
.row figure.original img { max-width: 400px; max-height: 400px; height: auto; }
img { background: repeating-conic-gradient(#eee 0 25%, #fff 0 50%) 0 0/16px 16px; }
figcaption { font-size: .8rem; } pre { white-space: pre-wrap; background: #f6f6f6; padding: .5rem; }
.success { color: #176317; } .failure, .dead-lettered, .no-outcome { color: #a01818; }
.skipped, .deleted { color: #666; }
</style></head><body>
<h1>image-processor: local run</h1>
<div id="drop" hidden>Drop images here: the upload API (POST /uploads) hands out a form, and the file goes
straight to the emulator's source bucket with it, under a key the API chooses.
<div id="uploads"></div></div>
<p id="empty">No uploads yet.</p>
<main id="entries"></main>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const list = document.getElementById("entries");

function el(tag, props, ...children) {
  const node = Object.assign(document.createElement(tag), props || {});
  for (const child of children) node.append(child);
  return node;
}

function figure(picture, cls) {
  const fig = el("figure", {className: cls});
  if (picture.path) {
    const img = el("img", {src: picture.path.split("/").map(encodeURIComponent).join("/"), alt: picture.caption});
    if (picture.width) { img.width = picture.width; img.height = picture.height; }  // true size
    fig.append(img);
  }
  fig.append(el("figcaption", {textContent: picture.caption}));
  return fig;
}

const filenames = {};  // object key -> the name of the file dropped for it (the API chooses keys)

function show(entry, newest) {
  const old = [...list.children].find((node) => node.dataset.key === entry.key);
  const filename = filenames[entry.key];
  const card = el("article", {}, el("h2", {},
    filename ? filename + " " : "", el("code", {textContent: entry.key}), " ",
    el("span", {className: entry.status.replace(" ", "-"), textContent: entry.status}),
    entry.detail ? " \u2014 " + entry.detail : ""));
  card.dataset.key = entry.key;
  if (filename) card.dataset.filename = filename;
  card.dataset.status = entry.status;
  const row = el("div", {className: "row"}, figure(entry.original, "original"));
  for (const rendition of entry.renditions) row.append(figure(rendition, "rendition"));
  card.append(row);
  if (entry.email) {
    card.append(el("details", {open: true}, el("summary", {textContent: "E-mail: " + entry.email.subject}),
      el("pre", {textContent: entry.email.body})));
  } else {
    card.append(el("p", {textContent: "No e-mail for this outcome."}));
  }
  if (old) old.replaceWith(card); else if (newest) list.prepend(card); else list.append(card);
  document.getElementById("empty").hidden = true;
}

async function upload(file) {
  const line = el("div", {textContent: "uploading " + file.name + "\u2026"});
  document.getElementById("uploads").append(line);
  try {
    const ask = await fetch("uploads", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({filename: file.name, contentType: file.type || "application/octet-stream",
                            size: file.size})});
    const answer = await ask.json();
    if (!ask.ok) throw new Error(answer.message || answer.error);
    filenames[answer.upload.fields.key] = file.name;
    const form = new FormData();
    for (const [name, value] of Object.entries(answer.upload.fields)) form.append(name, value);
    form.append("file", file);  // the file must be the last field
    const sent = await fetch(answer.upload.url, {method: "POST", body: form});
    if (!sent.ok) throw new Error("the bucket answered " + sent.status);
    line.textContent = "uploaded " + answer.key + ": waiting for the pipeline\u2026";
  } catch (error) {
    line.textContent = "upload of " + file.name + " failed: " + error.message;
  }
}

data.entries.forEach((entry) => show(entry, false));  // in upload order
if (data.live) {
  const drop = document.getElementById("drop");
  drop.hidden = false;
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    [...event.dataTransfer.files].forEach(upload);
  });
  new EventSource("events").addEventListener("message", (event) => show(JSON.parse(event.data), true));
}
</script></body></html>
"""
