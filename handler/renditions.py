"""What to produce from one upload: rendition specs, parsed and validated from JSON (no Pillow here).

The same parser checks the stack config at `pulumi preview` and the RENDITIONS variable at cold start,
so a bad entry is refused before deployment with the same message the function would give.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from handler.settings import FIELD, ConfigError, default

FITS = ("inside", "cover", "contain")
FORMATS = ("jpeg", "png", "webp", "avif", "auto")
CROPS = ("entropy", "center")
POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center")
EXTENSIONS = {"jpeg": (".jpg", ".jpeg"), "png": (".png",), "webp": (".webp",), "avif": (".avif",)}
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}
RESIZED_PREFIX = "resized/"
# Extensions of images the function reads or writes (case does not matter).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".avif", ".heic", ".heif")
MAX_KEY_BYTES = 1024  # S3's limit
LONG_KEYS = ".long/"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Watermark:
    """Text or an image (a key in the destination bucket) laid over a rendition."""

    text: str | None = None
    image_key: str | None = None
    position: str = "bottom-right"
    margin: float = 0.03  # of the rendition's width
    opacity: float = 0.5
    scale: float = 0.25  # watermark width as a fraction of the rendition's width


@dataclass(frozen=True)
class RenditionSpec:
    """One output of an upload. The unnamed spec is the default `resized/<key>` rendition."""

    name: str = ""
    width: int = default("width")
    height: int = default("height")
    fit: str = "inside"
    format: str = "jpeg"
    quality: int = default("jpeg_quality")
    upscale: bool = False
    crop: str = "entropy"
    background: str = "#ffffff"
    animated: bool = False
    max_frames: int = 100
    watermark: Watermark | None = None

    def key(self, source_key: str, output_format: str) -> str:
        """Where the rendition of `source_key` in `output_format` goes (see rendition_key)."""
        return rendition_key(self.name, source_key, output_format)

    def possible_keys(self, source_key: str) -> list[str]:
        """Every key this spec may have written for `source_key` (`auto` decides per image)."""
        return [self.key(source_key, output_format) for output_format in self.output_formats]

    @property
    def output_formats(self) -> list[str]:
        """The formats this spec may produce."""
        if self.format == "auto":
            return ["jpeg", "png", "webp"] if self.animated else ["jpeg", "png"]
        return [self.format]

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        """The background colour as an RGB tuple."""
        value = int(self.background[1:], 16)
        return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def rendition_key(name: str, source_key: str, output_format: str) -> str:
    """`resized/[<name>/]<key>`, plus the format's extension when the name needs it to stay unambiguous.

    No two source keys share a rendition key (so no upload overwrites or deletes another's rendition):
    - `cat.jpg` -> `resized/cat.jpg` and `cat` -> `resized/cat`: kept as they are;
    - `cat.png` -> `resized/cat.png.jpg`: another image extension gets the format's appended;
    - `cat.png.jpg` -> `resized/cat.png.jpg.jpg`: so does a name whose stem ends in an image extension.
    The three families differ in what precedes the last extension (nothing image-like, a non-output
    image extension, an output one), so they cannot meet. A key that would pass S3's 1024-byte limit, or
    that starts with the reserved `.long/`, goes to `resized/[<name>/].long/<sha256 of the key>.<ext>`.
    """
    prefix = f"{RESIZED_PREFIX}{name}/" if name else RESIZED_PREFIX
    extension = EXTENSIONS[output_format][0]
    last, stem = _extension(source_key), source_key.rsplit(".", 1)[0]
    needs_extension = last in IMAGE_EXTENSIONS and (
        last not in EXTENSIONS[output_format] or _extension(stem) in IMAGE_EXTENSIONS
    )
    key = prefix + source_key + (extension if needs_extension else "")
    if len(key.encode()) > MAX_KEY_BYTES or source_key.startswith(LONG_KEYS):
        return f"{prefix}{LONG_KEYS}{hashlib.sha256(source_key.encode()).hexdigest()}{extension}"
    return key


def _extension(key: str) -> str | None:
    """The lower-case text after the key's last dot (`.png`), or None.

    When the last path segment has no dot, the result contains a `/` and so is no image extension: the
    callers only ask whether it is one, so the segment need not be split off.
    """
    return "." + key.rsplit(".", 1)[1].lower() if "." in key else None


def default_renditions(width: int, height: int, quality: int) -> tuple[RenditionSpec, ...]:
    """The spec's single rendition: fit inside width x height, JPEG, under `resized/<key>`."""
    return (RenditionSpec(width=width, height=height, quality=quality),)


def parse_renditions(text: str) -> tuple[RenditionSpec, ...]:
    """Parse the RENDITIONS JSON list; a ConfigError names the entry (`RENDITIONS entry 1 (thumb): ...`)."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError("renditions", f"is not valid JSON: {error}") from None
    if not isinstance(entries, list) or not entries:
        raise ConfigError("renditions", "must be a non-empty JSON list of renditions")
    specs = tuple(_spec(index, entry) for index, entry in enumerate(entries))
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError("renditions", f"names must be unique, repeated: {', '.join(duplicates)}")
    return specs


def renditions_json(specs: Sequence[RenditionSpec]) -> str:
    """The RENDITIONS value for `specs`: compact, only what differs from the defaults."""

    def changed(value: Any) -> dict[str, Any]:
        defaults = type(value)()
        return {
            f.name: getattr(value, f.name) for f in fields(value) if getattr(value, f.name) != getattr(defaults, f.name)
        }

    entries = []
    for spec in specs:
        entry = changed(spec)
        if spec.watermark is not None:
            entry["watermark"] = changed(spec.watermark)
        entries.append(entry)
    return json.dumps(entries, separators=(",", ":"))


def watermark_keys(specs: Sequence[RenditionSpec]) -> list[str]:
    """Destination-bucket keys of the watermark images the specs use (for IAM and for loading)."""
    keys = {spec.watermark.image_key for spec in specs if spec.watermark and spec.watermark.image_key}
    return sorted(keys)


def _spec(index: int, entry: Any) -> RenditionSpec:
    label = f"entry {index}"
    if not isinstance(entry, Mapping):
        raise ConfigError("renditions", f"{label} must be an object")
    label = f"{label} ({entry.get('name', '?')})"
    _no_unknown(label, entry, RenditionSpec)
    # Only known keys are left (JSON keys are strings), so the constructors cannot refuse the arguments.
    watermark = _watermark(label, entry["watermark"]) if "watermark" in entry else None
    spec = RenditionSpec(**{**entry, "watermark": watermark})
    problems = [
        (not isinstance(spec.name, str) or not _NAME.match(spec.name), "name must be 1-32 of a-z, 0-9, - and _"),
        (not _within(spec.width, "width"), f"width must be an integer from {_limits('width')}"),
        (not _within(spec.height, "height"), f"height must be an integer from {_limits('height')}"),
        (spec.fit not in FITS, f"fit must be one of {', '.join(FITS)}"),
        (spec.format not in FORMATS, f"format must be one of {', '.join(FORMATS)}"),
        (not _within(spec.quality, "jpeg_quality"), f"quality must be an integer from {_limits('jpeg_quality')}"),
        (not isinstance(spec.upscale, bool), "upscale must be true or false"),
        (spec.crop not in CROPS, f"crop must be one of {', '.join(CROPS)}"),
        (not isinstance(spec.background, str) or not _COLOUR.match(spec.background), "background must be #rrggbb"),
        (not isinstance(spec.animated, bool), "animated must be true or false"),
        (spec.animated and spec.format not in ("webp", "auto"), "animated renditions need format webp or auto"),
        (not _int_between(spec.max_frames, 1, 1000), "max_frames must be an integer from 1 to 1000"),
    ]
    for failed, message in problems:
        if failed:
            raise ConfigError("renditions", f"{label}: {message}")
    return spec


def _watermark(label: str, entry: Any) -> Watermark:
    if not isinstance(entry, Mapping):
        raise ConfigError("renditions", f"{label}: watermark must be an object")
    _no_unknown(f"{label} watermark", entry, Watermark)
    mark = Watermark(**entry)
    problems = [
        ((mark.text is None) == (mark.image_key is None), "watermark needs exactly one of text and image_key"),
        (
            mark.text is not None and not (isinstance(mark.text, str) and 0 < len(mark.text) <= 100),
            "watermark text must be 1-100 characters",
        ),
        (
            mark.image_key is not None and not (isinstance(mark.image_key, str) and mark.image_key.strip()),
            "watermark image_key must be a key in the destination bucket",
        ),
        (mark.position not in POSITIONS, f"watermark position must be one of {', '.join(POSITIONS)}"),
        (not _number_between(mark.margin, 0, 0.5), "watermark margin must be from 0 to 0.5"),
        (not _number_between(mark.opacity, 0, 1), "watermark opacity must be from 0 to 1"),
        (not _number_between(mark.scale, 0.01, 1), "watermark scale must be from 0.01 to 1"),
    ]
    for failed, message in problems:
        if failed:
            raise ConfigError("renditions", f"{label}: {message}")
    return mark


def _no_unknown(label: str, entry: Mapping[str, Any], cls: type) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(
            "renditions", f"{label}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def _within(value: Any, setting: str) -> bool:
    low, high = FIELD[setting].low, FIELD[setting].high
    assert low is not None and high is not None
    return _int_between(value, low, high)


def _limits(setting: str) -> str:
    return f"{FIELD[setting].low} to {FIELD[setting].high}"


def _int_between(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number_between(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
