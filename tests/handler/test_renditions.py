"""Renditions: config parsing, fit modes, formats, smart crop, animation and watermarks (no AWS)."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image, ImageChops, ImageStat

from handler import imaging
from handler.renditions import RenditionSpec, Watermark, parse_renditions, renditions_json, watermark_keys
from local.samples import encode, photo, transparent_logo


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def spread(image: Image.Image) -> float:
    return ImageStat.Stat(image.convert("L")).stddev[0]


def test_named_renditions_parse_with_defaults():
    (thumb,) = parse_renditions('[{"name": "thumb", "width": 200, "height": 200, "fit": "cover"}]')
    assert thumb == RenditionSpec(name="thumb", width=200, height=200, fit="cover")
    assert (thumb.format, thumb.quality, thumb.upscale, thumb.crop) == ("jpeg", 85, False, "entropy")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "Thumb!", "width": 1, "height": 1}, r"RENDITIONS entry 0 \(Thumb!\): name"),
        ({"name": "t", "width": 0, "height": 1}, "width"),
        ({"name": "t", "width": 10, "height": "10"}, "height"),
        ({"name": "t", "width": 10, "height": 10, "fit": "stretch"}, "fit must be one of"),
        ({"name": "t", "width": 10, "height": 10, "format": "bmp"}, "format must be one of"),
        ({"name": "t", "width": 10, "height": 10, "quality": 0}, "quality"),
        ({"name": "t", "width": 10, "height": 10, "quality": 96}, "quality must be an integer from 1 to 95"),
        ({"name": "t", "width": 10, "height": 10, "upscale": "yes"}, "upscale"),
        ({"name": "t", "width": 10, "height": 10, "crop": "faces"}, "crop must be one of"),
        ({"name": "t", "width": 10, "height": 10, "background": "white"}, "background"),
        ({"name": "t", "width": 10, "height": 10, "animated": True, "format": "jpeg"}, "animated renditions"),
        ({"name": "t", "width": 10, "height": 10, "colour": "red"}, "unknown setting"),
        ({"name": "t", "width": 10, "height": 10, "watermark": {}}, "exactly one of text and image_key"),
        ({"name": "t", "width": 10, "height": 10, "watermark": {"text": "x", "position": "top"}}, "position"),
        ({"name": "t", "width": 10, "height": 10, "watermark": {"text": "x", "opacity": 2}}, "opacity"),
    ],
)
def test_bad_rendition_is_refused_naming_the_entry(entry, message):
    with pytest.raises(ValueError, match=message):
        parse_renditions(json.dumps([entry]))


def test_names_must_be_unique_and_the_list_non_empty():
    with pytest.raises(ValueError, match="repeated: a"):
        parse_renditions('[{"name": "a", "width": 1, "height": 1}, {"name": "a", "width": 2, "height": 2}]')
    with pytest.raises(ValueError, match="non-empty"):
        parse_renditions("[]")
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_renditions("[{")


@pytest.mark.parametrize(
    ("name", "key", "fmt", "expected"),
    [
        ("", "a.jpg", "jpeg", "resized/a.jpg"),
        ("thumb", "a.jpg", "jpeg", "resized/thumb/a.jpg"),
        ("thumb", "dir/a.png", "webp", "resized/thumb/dir/a.png.webp"),
        ("thumb", "a.WEBP", "webp", "resized/thumb/a.WEBP"),
        ("thumb", "a.png", "png", "resized/thumb/a.png"),
        ("hero", "a.png", "avif", "resized/hero/a.png.avif"),
    ],
)
def test_rendition_keys(name, key, fmt, expected):
    assert RenditionSpec(name=name).key(key, fmt) == expected


def test_watermark_keys_are_collected_once():
    specs = parse_renditions(
        json.dumps(
            [
                {"name": "a", "width": 9, "height": 9, "watermark": {"image_key": "brand/logo.png"}},
                {"name": "b", "width": 9, "height": 9, "watermark": {"image_key": "brand/logo.png"}},
                {"name": "c", "width": 9, "height": 9, "watermark": {"text": "hi"}},
            ]
        )
    )
    assert watermark_keys(specs) == ["brand/logo.png"]


def busy_on_the_right() -> Image.Image:
    image = Image.new("RGB", (1600, 400), (120, 120, 120))
    image.paste(photo(400, 400), (1200, 0))
    return image


def test_cover_crops_around_the_busy_region():
    data = encode(busy_on_the_right(), "PNG")
    smart = decode(imaging.render(data, RenditionSpec(name="sq", width=200, height=200, fit="cover")).data)
    centre = decode(
        imaging.render(data, RenditionSpec(name="sq", width=200, height=200, fit="cover", crop="center")).data
    )
    assert smart.size == centre.size == (200, 200)
    assert spread(smart) > 20 > spread(centre)


def test_cover_fills_the_box_and_contain_pads_with_the_background():
    data = encode(photo(1000, 500), "PNG")
    cover = decode(imaging.render(data, RenditionSpec(name="c", width=300, height=300, fit="cover")).data)
    assert cover.size == (300, 300)
    contain = imaging.render(data, RenditionSpec(name="p", width=300, height=300, fit="contain", background="#ff0000"))
    padded = decode(contain.data)
    assert padded.size == (300, 300)
    assert all(abs(a - b) < 12 for a, b in zip(padded.getpixel((150, 10)), (255, 0, 0), strict=True))
    assert spread(padded.crop((0, 100, 300, 200))) > 10  # the picture sits in the middle band


def test_upscale_only_when_asked():
    data = encode(photo(200, 100), "PNG")
    assert imaging.render(data, RenditionSpec(name="u", width=800, height=800)).size == (200, 100)
    assert imaging.render(data, RenditionSpec(name="u", width=800, height=800, upscale=True)).size == (800, 400)


@pytest.mark.parametrize(
    ("fmt", "source", "expected_format", "expected_mode"),
    [
        ("png", "alpha", "PNG", "RGBA"),
        ("webp", "alpha", "WEBP", "RGBA"),
        ("avif", "opaque", "AVIF", "RGB"),
        ("auto", "alpha", "PNG", "RGBA"),
        ("auto", "opaque", "JPEG", "RGB"),
        ("jpeg", "alpha", "JPEG", "RGB"),
    ],
)
def test_output_formats_keep_transparency_where_they_can(fmt, source, expected_format, expected_mode):
    picture = transparent_logo(600, 600) if source == "alpha" else photo(600, 600)
    result = imaging.render(encode(picture, "PNG"), RenditionSpec(name="f", width=300, height=300, format=fmt))
    out = decode(result.data)
    assert (out.format, out.mode) == (expected_format, expected_mode)
    assert result.content_type == f"image/{expected_format.lower()}"
    if expected_mode == "RGBA":
        assert out.getpixel((2, 2))[3] == 0 and out.getpixel((150, 150))[3] == 255


def animation(durations: list[int]) -> bytes:
    frames = [Image.new("RGB", (400, 200), (60 * i, 255 - 60 * i, 0)) for i in range(len(durations))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=durations, loop=3)


def test_animated_rendition_keeps_frames_durations_and_loop():
    spec = RenditionSpec(name="anim", width=100, height=100, format="webp", animated=True)
    result = imaging.render(animation([100, 200, 300, 400]), spec)
    out = Image.open(io.BytesIO(result.data))
    assert (out.format, out.n_frames, out.size, result.frames) == ("WEBP", 4, (100, 50), 4)
    durations = []
    for index in range(out.n_frames):
        out.seek(index)
        out.load()
        durations.append(out.info["duration"])
    assert durations == [100, 200, 300, 400]
    assert out.info["loop"] == 3


def test_animation_is_cut_at_max_frames_and_stills_use_the_first_frame():
    data = animation([50] * 6)
    spec = RenditionSpec(name="anim", width=100, height=100, format="webp", animated=True, max_frames=2)
    assert Image.open(io.BytesIO(imaging.render(data, spec).data)).n_frames == 2
    still = decode(imaging.render(data, RenditionSpec(name="still", width=100, height=100)).data)
    assert still.getpixel((50, 25))[1] > 200  # the first frame is green


@pytest.mark.parametrize("position", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_text_watermark_is_at_the_asked_corner(position):
    grey = encode(Image.new("RGB", (800, 600), (128, 128, 128)), "PNG")
    mark = Watermark(text="SAMPLE", position=position, opacity=1.0, scale=0.3)
    out = decode(imaging.render(grey, RenditionSpec(name="w", width=800, height=600, watermark=mark)).data)
    quadrants = {
        "top-left": (0, 0, 400, 300),
        "top-right": (400, 0, 800, 300),
        "bottom-left": (0, 300, 400, 600),
        "bottom-right": (400, 300, 800, 600),
    }
    changed = {name: spread(out.crop(box)) > 5 for name, box in quadrants.items()}
    assert changed == {name: name == position for name in quadrants}


def test_image_watermark_is_scaled_and_blended():
    logo = Image.new("RGBA", (100, 50), (255, 0, 0, 255))
    grey = encode(Image.new("RGB", (1000, 500), (0, 0, 255)), "PNG")
    mark = Watermark(image_key="brand/logo.png", position="top-left", margin=0.0, opacity=0.5, scale=0.2)
    spec = RenditionSpec(name="w", width=1000, height=500, format="png", watermark=mark)
    (result,) = imaging.render_all(grey, [spec], watermarks={"brand/logo.png": encode(logo, "PNG")})
    assert isinstance(result, imaging.Rendition)
    out = decode(result.data)
    red, _, blue = out.getpixel((100, 50))[:3]
    assert 100 < red < 160 and 100 < blue < 160  # half red over blue, inside the 200x100 stamp
    assert out.getpixel((300, 50))[:3] == (0, 0, 255)  # outside it


def test_a_failing_rendition_does_not_lose_the_others():
    specs = [
        RenditionSpec(name="big", width=800, height=600),
        RenditionSpec(name="marked", width=400, height=300, watermark=Watermark(image_key="missing.png")),
        RenditionSpec(name="small", width=100, height=100),
    ]
    big, marked, small = imaging.render_all(encode(photo(1600, 1200), "JPEG"), specs)
    assert isinstance(big, imaging.Rendition) and isinstance(small, imaging.Rendition)
    assert isinstance(marked, imaging.RenditionError)
    assert "'marked'" in marked.message and "missing.png" in marked.message


def test_decoded_once_for_all_renditions_without_cascading_loss(monkeypatch):
    opened = []
    real_open = imaging._open
    monkeypatch.setattr(imaging, "_open", lambda data: opened.append(1) or real_open(data))
    original = photo(3200, 2400)
    data = encode(original, "JPEG", quality=95)
    specs = [
        RenditionSpec(name=n, width=w, height=h) for n, w, h in (("s", 160, 120), ("l", 1600, 1200), ("m", 400, 300))
    ]
    small, large, medium = imaging.render_all(data, specs)
    assert len(opened) == 1
    assert [r.size for r in (small, large, medium)] == [(160, 120), (1600, 1200), (400, 300)]
    # The small rendition made beside the large one is as close to a full-resolution resize as one made alone.
    reference = original.resize((160, 120), Image.Resampling.LANCZOS)

    def error(result: imaging.Rendition) -> float:
        return ImageStat.Stat(ImageChops.difference(decode(result.data), reference)).mean[0]

    assert error(small) <= error(imaging.render(data, specs[0])) * 1.25 + 0.5


def test_renditions_json_round_trips_and_keeps_only_what_differs():
    specs = parse_renditions(
        json.dumps(
            [
                {"name": "a", "width": 10, "height": 20, "fit": "cover", "watermark": {"text": "hi", "opacity": 1}},
                {"name": "b", "width": 800, "height": 600},
            ]
        )
    )
    text = renditions_json(specs)
    assert parse_renditions(text) == specs
    assert json.loads(text)[1] == {"name": "b"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (RenditionSpec(name="t", format="auto"), ["resized/t/cat.png.jpg", "resized/t/cat.png"]),
        (
            RenditionSpec(name="t", format="auto", animated=True),
            ["resized/t/cat.png.jpg", "resized/t/cat.png", "resized/t/cat.png.webp"],
        ),
        (RenditionSpec(format="webp"), ["resized/cat.png.webp"]),
    ],
    ids=["auto", "auto-animated", "webp"],
)
def test_possible_keys_are_every_key_the_spec_may_have_written(spec, expected):
    # GIVEN a spec that picks its format per image (JPEG or PNG, WebP too when animated), or a fixed one
    # WHEN a deletion asks where renditions of cat.png may be THEN every candidate key is named, in format order
    assert spec.possible_keys("cat.png") == expected
