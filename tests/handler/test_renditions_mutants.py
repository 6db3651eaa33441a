"""Renditions parsing to the letter: every refusal's whole message, the limits at their edges, and keys."""

from __future__ import annotations

import hashlib
import json

import pytest

from handler.renditions import ConfigError, RenditionSpec, parse_renditions, rendition_key, renditions_json

KNOWN = "animated, background, crop, fit, format, height, max_frames, name, quality, upscale, watermark, width"
T = {"name": "t", "width": 10, "height": 10}


def refusal(entries: list) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_renditions(json.dumps(entries))
    assert raised.value.field == "renditions"
    return str(raised.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (1, "entry 0 must be an object"),
        ({"width": 10, "height": 10}, "entry 0 (?): name must be 1-32 of a-z, 0-9, - and _"),
        ({**T, "colour": "red", "size": 1}, f"entry 0 (t): unknown setting(s) colour, size; known: {KNOWN}"),
        ({**T, "fit": "fill"}, "entry 0 (t): fit must be one of inside, cover, contain"),
        ({**T, "format": "bmp"}, "entry 0 (t): format must be one of jpeg, png, webp, avif, auto"),
        ({**T, "upscale": 1}, "entry 0 (t): upscale must be true or false"),
        ({**T, "crop": "faces"}, "entry 0 (t): crop must be one of entropy, center"),
        ({**T, "background": "#fff"}, "entry 0 (t): background must be #rrggbb"),
        ({**T, "animated": "yes", "format": "webp"}, "entry 0 (t): animated must be true or false"),
        ({**T, "animated": True, "format": "png"}, "entry 0 (t): animated renditions need format webp or auto"),
        ({**T, "max_frames": 0}, "entry 0 (t): max_frames must be an integer from 1 to 1000"),
        ({**T, "max_frames": 1001}, "entry 0 (t): max_frames must be an integer from 1 to 1000"),
        ({**T, "watermark": 1}, "entry 0 (t): watermark must be an object"),
        (
            {**T, "watermark": {"text": "x", "font": "serif"}},
            "entry 0 (t) watermark: unknown setting(s) font; known: image_key, margin, opacity, position, scale, text",
        ),
        (
            {**T, "watermark": {"text": "x", "image_key": "k"}},
            "entry 0 (t): watermark needs exactly one of text and image_key",
        ),
        ({**T, "watermark": {"text": ""}}, "entry 0 (t): watermark text must be 1-100 characters"),
        ({**T, "watermark": {"text": "x" * 101}}, "entry 0 (t): watermark text must be 1-100 characters"),
        ({**T, "watermark": {"text": 5}}, "entry 0 (t): watermark text must be 1-100 characters"),
        (
            {**T, "watermark": {"image_key": " "}},
            "entry 0 (t): watermark image_key must be a key in the destination bucket",
        ),
        (
            {**T, "watermark": {"image_key": 5}},
            "entry 0 (t): watermark image_key must be a key in the destination bucket",
        ),
        (
            {**T, "watermark": {"text": "x", "position": "top"}},
            "entry 0 (t): watermark position must be one of top-left, top-right, bottom-left, bottom-right, center",
        ),
        ({**T, "watermark": {"text": "x", "margin": 0.6}}, "entry 0 (t): watermark margin must be from 0 to 0.5"),
        ({**T, "watermark": {"text": "x", "opacity": -0.1}}, "entry 0 (t): watermark opacity must be from 0 to 1"),
        ({**T, "watermark": {"text": "x", "scale": 1.5}}, "entry 0 (t): watermark scale must be from 0.01 to 1"),
    ],
)
def test_each_refusal_names_the_entry_and_says_what_is_wrong(entry, message):
    # GIVEN one bad entry WHEN parsed THEN the error's text is the variable, the entry and the whole message
    assert refusal([entry]) == f"RENDITIONS {message}"


def test_repeated_names_are_all_listed():
    entries = [{**T, "name": name} for name in ("a", "b", "a", "b", "c")]
    assert refusal(entries) == "RENDITIONS names must be unique, repeated: a, b"


def test_every_limit_is_inclusive():
    # GIVEN entries at every edge of their limits WHEN parsed THEN they are accepted as given
    entry = {**T, "width": 10_000, "max_frames": 1000, "animated": True, "format": "webp"}
    marks = [{"text": "x" * 100, "margin": 0.5, "opacity": 0, "scale": 1}, {"text": "x", "scale": 0.01, "margin": 0}]
    specs = parse_renditions(
        json.dumps([entry, {**T, "name": "u", "max_frames": 1, "format": "auto", "animated": True}])
    )
    assert (specs[0].width, specs[0].max_frames, specs[1].max_frames) == (10_000, 1000, 1)
    for mark in marks:
        (spec,) = parse_renditions(json.dumps([{**T, "watermark": mark}]))
        assert spec.watermark is not None and spec.watermark.text == mark["text"]


def test_renditions_json_is_compact():
    assert renditions_json([RenditionSpec(name="a", width=10)]) == '[{"name":"a","width":10}]'


@pytest.mark.parametrize(
    ("source", "fmt", "expected"),
    [
        ("a.b.jpg.png", "png", "resized/a.b.jpg.png.png"),  # the stem's own last extension decides
        ("a.b.png", "jpeg", "resized/a.b.png.jpg"),
        ("a.png.b", "jpeg", "resized/a.png.b"),
        ("dir.png/cat", "jpeg", "resized/dir.png/cat"),
        ("x" * 1016, "jpeg", "resized/" + "x" * 1016),  # exactly S3's 1024 bytes
    ],
)
def test_rendition_keys_at_the_edges(source, fmt, expected):
    assert rendition_key("", source, fmt) == expected


@pytest.mark.parametrize("source", ["x" * 1017, ".long/a.jpg"])
def test_a_key_too_long_or_in_the_reserved_folder_is_hashed(source):
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert rendition_key("thumb", source, "png") == f"resized/thumb/.long/{digest}.png"
