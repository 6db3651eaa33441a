"""What to produce from one upload: rendition specs, parsed and validated from JSON (no Pillow here).

The same parser checks the stack config at `pulumi preview` and the RENDITIONS variable at cold start,
so a bad entry is refused before deployment with the same message the function would give.
"""

from __future__ import annotations

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
        """`resized/[<name>/]<key>`, with the format's extension appended unless the key has it already."""
        prefix = f"{RESIZED_PREFIX}{self.name}/" if self.name else RESIZED_PREFIX
        extensions = EXTENSIONS[output_format]
        if source_key.lower().endswith(extensions):
            return prefix + source_key
        return prefix + source_key + extensions[0]

    def possible_keys(self, source_key: str) -> list[str]:
        """Every key this spec may have written for `source_key` (`auto` decides per image)."""
        formats = {"auto": ["jpeg", "png", "webp"] if self.animated else ["jpeg", "png"]}.get(
            self.format, [self.format]
        )
        return [self.key(source_key, output_format) for output_format in formats]

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        """The background colour as an RGB tuple."""
        value = int(self.background[1:], 16)
        return value >> 16, (value >> 8) & 0xFF, value & 0xFF


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
    try:
        watermark = _watermark(label, entry["watermark"]) if "watermark" in entry else None
        spec = RenditionSpec(**{**entry, "watermark": watermark})
    except TypeError as error:
        raise ConfigError("renditions", f"{label}: {error}") from None
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
