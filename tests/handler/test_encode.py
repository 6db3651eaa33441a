"""Encoding read back from the output bytes: format, quality, progressive scans, profile and no metadata.

GIVEN a small picture carrying metadata, WHEN encoded for a spec, THEN decoding the bytes again shows the
format and settings asked for (JPEG quality from its quantisation tables) and nothing else.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from handler.imaging.encode import encode, output_format
from handler.renditions import RenditionSpec
from local.samples import photo

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
# The IJG standard luminance quantisation table starts 16, 11, 10 (ITU T.81, Annex K).
IJG_LUMINANCE_START = (16, 11, 10)


def ijg_table_start(quality: int) -> list[int]:
    """The first luminance quantisers libjpeg writes for `quality` (its jpeg_quality_scaling rule)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (value * scale + 50) // 100)) for value in IJG_LUMINANCE_START]


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def with_metadata(image: Image.Image) -> Image.Image:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    image.info = {"exif": exif.tobytes(), "comment": b"private note", "dpi": (300, 300), "xmp": b"<x:xmpmeta/>"}
    return image


@pytest.mark.parametrize("quality", [20, 50, 90])
def test_jpeg_is_progressive_at_the_spec_quality(quality):
    data = encode(photo(64, 48), "jpeg", RenditionSpec(quality=quality), None)
    out = decoded(data)
    assert (out.format, out.mode, out.size) == ("JPEG", "RGB", (64, 48))
    assert out.info.get("progressive") == 1
    assert out.quantization[0][:3] == ijg_table_start(quality)


@pytest.mark.parametrize(
    ("fmt", "pillow_format"), [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("avif", "AVIF")]
)
def test_only_the_colour_profile_is_kept(fmt, pillow_format):
    # GIVEN a picture carrying EXIF (camera), a comment, a resolution and XMP
    out = decoded(encode(with_metadata(photo(64, 48)), fmt, RenditionSpec(), SRGB))
    # THEN the output carries the profile and none of them
    assert out.format == pillow_format
    assert out.info.get("icc_profile") == SRGB
    assert not out.getexif()
    assert not {"exif", "comment", "dpi", "xmp", "XML:com.adobe.xmp"} & out.info.keys()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
def test_no_profile_is_embedded_without_one(fmt):
    picture = photo(32, 32)
    picture.info = {"icc_profile": SRGB}  # left over from the source: must not leak
    assert "icc_profile" not in decoded(encode(picture, fmt, RenditionSpec(), None)).info


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_webp_and_avif_follow_the_spec_quality(fmt):
    picture = photo(128, 96)
    low = encode(picture, fmt, RenditionSpec(quality=10), None)
    high = encode(picture, fmt, RenditionSpec(quality=95), None)
    assert len(low) < len(high) / 2


def half_transparent_red() -> Image.Image:
    picture = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    picture.paste((255, 0, 0, 255), (0, 0, 10, 10))
    return picture


def test_jpeg_flattens_transparency_onto_the_spec_background():
    data = encode(half_transparent_red(), "jpeg", RenditionSpec(background="#00ff00", quality=95), None)
    out = decoded(data)
    assert out.mode == "RGB"
    assert all(abs(a - b) <= 8 for a, b in zip(out.getpixel((2, 5)), (255, 0, 0), strict=True))
    assert all(abs(a - b) <= 8 for a, b in zip(out.getpixel((17, 5)), (0, 255, 0), strict=True))


@pytest.mark.parametrize(("fmt", "pillow_format"), [("png", "PNG"), ("webp", "WEBP")])
def test_formats_with_alpha_keep_it(fmt, pillow_format):
    out = decoded(encode(half_transparent_red(), fmt, RenditionSpec(quality=95), None))
    assert (out.format, out.mode) == (pillow_format, "RGBA")
    assert out.getpixel((17, 5))[3] == 0 and out.getpixel((2, 5))[3] == 255


@pytest.mark.parametrize(
    ("asked", "picture", "expected"),
    [
        ("auto", half_transparent_red(), "png"),
        ("auto", photo(8, 8).convert("RGBA"), "jpeg"),  # alpha channel, but every pixel opaque
        ("auto", photo(8, 8), "jpeg"),
        ("png", photo(8, 8), "png"),
        ("webp", half_transparent_red(), "webp"),
        ("avif", photo(8, 8), "avif"),
    ],
)
def test_output_format_is_the_asked_one_and_auto_chooses_by_transparency(asked, picture, expected):
    assert output_format(RenditionSpec(name="f", format=asked), picture) == expected


def test_avif_without_an_encoder_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("PIL.features.check", lambda feature: feature != "avif")
    with pytest.raises(RuntimeError, match=r"^this Pillow build has no AVIF encoder; use webp$"):
        output_format(RenditionSpec(name="f", format="avif"), photo(8, 8))
    assert output_format(RenditionSpec(name="f", format="webp"), photo(8, 8)) == "webp"
