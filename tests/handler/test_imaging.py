"""Pure image tests: no AWS. GIVEN an image made here, WHEN rendered, THEN the pixels say it is right."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageCms, ImageStat

from handler import imaging
from handler.imaging import Limits, memory
from handler.renditions import RenditionSpec
from local.samples import encode, photo, quadrants, transparent_logo, with_orientation


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((4000, 3000), (800, 600), (800, 600)),
        ((3000, 4000), (800, 600), (450, 600)),
        ((1000, 100), (800, 600), (800, 80)),
        ((400, 300), (800, 600), (400, 300)),  # never upscaled
        ((1, 1), (800, 600), (1, 1)),
        ((10000, 1), (800, 600), (800, 1)),  # never zero
    ],
)
def test_fit_inside_keeps_aspect_ratio_and_never_upscales(size, box, expected):
    assert imaging.fit_inside(size, box) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("photos/a.jpg", "resized/photos/a.jpg"),
        ("b.JPEG", "resized/b.JPEG"),
        ("photos/My Cat.PNG", "resized/photos/My Cat.PNG.jpg"),
        ("cat.gif", "resized/cat.gif.jpg"),
        ("cat.webp", "resized/cat.webp.jpg"),
        ("noextension", "resized/noextension"),  # no extension to keep or contradict
    ],
)
def test_output_key_keeps_true_extension_and_avoids_collisions(key, expected):
    assert RenditionSpec().key(key, "jpeg") == expected


def test_large_jpeg_is_resized_to_fit_as_progressive_jpeg_with_quality():
    # GIVEN a 4000x3000 photo
    data = encode(photo(4000, 3000), "JPEG", quality=95)
    # WHEN rendered with the defaults
    result = imaging.render(data)
    # THEN it is an 800x600 progressive JPEG, and the dimensions are reported
    out = decode(result.data)
    assert out.format == "JPEG" and out.mode == "RGB"
    assert out.size == (800, 600) == result.size
    assert result.original_size == (4000, 3000)
    assert out.info.get("progressive") or out.info.get("progression")
    assert result.content_type == "image/jpeg"


def test_quality_option_changes_the_encoding():
    data = encode(photo(1600, 1200), "JPEG", quality=95)
    low = imaging.render(data, RenditionSpec(quality=20))
    high = imaging.render(data, RenditionSpec(quality=90))
    assert len(low.data) < len(high.data)


def test_resize_result_matches_a_full_lanczos_resize_closely():
    # GIVEN a photo, WHEN rendered through the draft/reduce fast path
    original = photo(3200, 2400)
    fast = decode(imaging.render(encode(original, "PNG")).data).convert("L")
    # THEN it is visually the same as a plain full-resolution LANCZOS resize
    reference = original.resize((800, 600), Image.Resampling.LANCZOS).convert("L")
    assert ImageStat.Stat(ImageChops.difference(fast, reference)).mean[0] < 6


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_by_pixel_content(orientation):
    # GIVEN a landscape picture with coloured quadrants stored as a camera would for this orientation
    data = with_orientation(quadrants(1600, 800), orientation)
    # WHEN rendered
    result = imaging.render(data)
    out = decode(result.data)
    # THEN it is upright: landscape, red top left, green top right, blue bottom right, yellow bottom left
    assert out.size == (800, 400) == result.size
    assert result.original_size == (1600, 800)
    assert close_to(out.getpixel((100, 100)), (255, 0, 0))
    assert close_to(out.getpixel((700, 100)), (0, 255, 0))
    assert close_to(out.getpixel((700, 300)), (0, 0, 255))
    assert close_to(out.getpixel((100, 300)), (255, 255, 0))


def test_exif_and_gps_are_stripped():
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    data = encode(photo(1000, 800), "JPEG", exif=exif.tobytes())
    assert decode(data).getexif()  # the input really carries EXIF
    out = decode(imaging.render(data).data)
    assert not out.getexif()
    assert "exif" not in out.info


def test_transparency_is_flattened_onto_white_not_black():
    out = decode(imaging.render(encode(transparent_logo(1200, 1200), "PNG")).data)
    assert out.mode == "RGB"
    assert close_to(out.getpixel((5, 5)), (255, 255, 255))
    assert close_to(out.getpixel((300, 300)), (30, 90, 200))


def test_transparent_edges_do_not_bleed_dark_fringes():
    # GIVEN opaque white on a transparent *black* background, shrunk by a large factor
    image = Image.new("RGBA", (4000, 4000), (0, 0, 0, 0))
    image.paste((255, 255, 255, 255), (0, 0, 2000, 4000))
    out = decode(imaging.render(encode(image, "PNG")).data).convert("L")
    # THEN premultiplied shrinking leaves no grey seam where the two meet
    assert min(out.getpixel((x, 300)) for x in range(600)) > 240


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("P", "PNG"),
        ("P", "GIF"),
        ("CMYK", "JPEG"),
        ("CMYK", "TIFF"),
        ("L", "JPEG"),
        ("1", "BMP"),
        ("1", "PNG"),
        ("I;16", "PNG"),
        ("I", "TIFF"),
        ("F", "TIFF"),
        ("RGB", "BMP"),
        ("RGB", "WEBP"),
        ("RGBA", "WEBP"),
        ("RGBA", "TIFF"),
    ],
)
def test_every_mode_becomes_eight_bit_rgb(mode, fmt):
    source = photo(1200, 900).convert(mode) if mode not in ("I;16", "I", "F") else _deep(mode)
    result = imaging.render(encode(source, fmt))
    out = decode(result.data)
    assert (out.mode, out.size) == ("RGB", (800, 600))


def _deep(mode: str) -> Image.Image:
    """A 16-bit, 32-bit or float horizontal ramp spanning the mode's range."""
    ramp = Image.linear_gradient("L").rotate(90, expand=True).resize((1200, 900))
    scale = {"I;16": 257, "I": 257, "F": 1 / 255}[mode]
    deep = ramp.convert("I" if mode != "F" else "F").point(lambda v: v * scale)
    return deep.convert("I;16") if mode == "I;16" else deep


@pytest.mark.parametrize("mode", ["I;16", "F"])
def test_deep_images_are_scaled_to_eight_bits_not_clipped(mode):
    out = decode(imaging.render(encode(_deep(mode), "PNG" if mode == "I;16" else "TIFF")).data)
    left, middle, right = (out.convert("L").getpixel((x, 300)) for x in (5, 400, 795))
    assert left < 50 and 80 < middle < 180 and right > 200


def test_palette_with_transparency_is_flattened_onto_white():
    image = transparent_logo(900, 900).convert("P")  # keeps a transparent palette index
    image.info["transparency"] = image.getpixel((0, 0))
    out = decode(imaging.render(encode(image, "GIF", transparency=image.info["transparency"])).data)
    assert close_to(out.getpixel((5, 5)), (255, 255, 255))


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_colours_come_out_right(fmt):
    # GIVEN pure cyan, magenta and yellow ink in a CMYK file
    image = Image.new("CMYK", (1200, 400))
    for index, ink in enumerate(((255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0))):
        image.paste(ink, (index * 400, 0, index * 400 + 400, 400))
    out = decode(imaging.render(encode(image, fmt)).data)
    # THEN the RGB output shows cyan, magenta and yellow, not inverted colours
    assert close_to(out.getpixel((100, 100)), (0, 255, 255), 20)
    assert close_to(out.getpixel((400, 100)), (255, 0, 255), 20)
    assert close_to(out.getpixel((700, 100)), (255, 255, 0), 20)


def test_rgb_icc_profile_is_kept():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = decode(imaging.render(encode(photo(1000, 800), "JPEG", icc_profile=icc)).data)
    assert out.info.get("icc_profile") == icc


def test_greyscale_icc_profile_is_not_attached_to_rgb_output():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    gray = photo(1000, 800).convert("L")
    out = decode(imaging.render(encode(gray, "PNG", icc_profile=icc[:16] + b"GRAY" + icc[20:])).data)
    assert out.mode == "RGB"
    assert out.info.get("icc_profile", b"")[16:20] in (b"", b"RGB ")


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_images_use_the_first_frame(fmt):
    frames = [Image.new("RGB", (400, 300), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = decode(imaging.render(data).data)
    assert out.size == (400, 300)
    assert close_to(out.getpixel((200, 150)), (255, 0, 0))


def test_tiny_one_pixel_image():
    out = decode(imaging.render(encode(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG")).data)
    assert out.size == (1, 1)
    assert close_to(out.getpixel((0, 0)), (10, 200, 30))


def test_content_decides_the_format_not_the_name():
    result = imaging.render(encode(photo(900, 700), "PNG"))  # as if named .jpg
    assert result.source_format == "PNG"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"plain text, not an image\n",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
        b"8BPS\x00\x01" + bytes(20),  # PSD header
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",  # HEIC
    ],
    ids=["empty", "text", "pdf", "eps", "psd", "heic"],
)
def test_non_images_and_disallowed_formats_are_rejected(data):
    with pytest.raises(imaging.NotAnImage):
        imaging.render(data)


def test_ico_is_rejected_even_though_pillow_can_read_it():
    data = encode(Image.new("RGB", (32, 32)), "ICO")
    assert Image.open(io.BytesIO(data)).format == "ICO"
    with pytest.raises(imaging.NotAnImage):
        imaging.render(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_is_corrupt(fmt):
    data = encode(photo(1000, 800), fmt)
    with pytest.raises(imaging.CorruptImage):
        imaging.render(data[: len(data) // 2])


def test_huge_header_bomb_is_refused_before_decoding():
    # GIVEN a tiny PNG whose header claims 12000x12000 pixels
    data = encode(Image.new("1", (12000, 12000)), "PNG")
    assert len(data) < 200_000
    with pytest.raises(imaging.TooLarge, match="MAX_PIXELS"):
        imaging.render(data)


def test_pillow_decompression_bomb_error_is_too_large():
    data = encode(Image.new("1", (20000, 20000)), "PNG")  # 400 MP: past Pillow's own hard limit
    with pytest.raises(imaging.TooLarge):
        imaging.render(data, limits=Limits(max_pixels=10**9))


def test_max_pixels_is_enforced():
    with pytest.raises(imaging.TooLarge, match="MAX_PIXELS"):
        imaging.render(encode(photo(1000, 1000), "PNG"), limits=Limits(max_pixels=999_999))


def test_webp_that_would_not_fit_memory_is_refused_by_its_header():
    # GIVEN a 48 MP animated WebP (flat frames, so the test is quick to make): Pillow's canvases decode it
    frames = [Image.new("RGB", (8000, 6000), colour) for colour in ((90, 120, 150), (150, 120, 90))]
    data = encode(frames[0], "WEBP", quality=50, save_all=True, append_images=frames[1:])
    # THEN it is refused with advice, instead of being killed for memory
    with pytest.raises(imaging.TooLarge, match="too large for 512 MB, raise memorySize"):
        imaging.render(data)
    # AND with more memory it is processed
    assert imaging.render(data, limits=Limits(memory_mb=1024)).size == (800, 600)


def test_large_jpeg_fits_memory_thanks_to_reduced_decoding():
    # GIVEN a 48 MP baseline JPEG (192 MB once decoded at full size)
    image = Image.new("RGB", (8000, 6000), (90, 120, 150))
    estimate = imaging.estimated_peak_bytes(Image.open(io.BytesIO(encode(image, "JPEG"))), (800, 600))
    # THEN the model counts a DCT-scaled decode: well under half the full-size picture beside the runtime
    assert estimate - memory.RUNTIME_OVERHEAD_BYTES < 8000 * 6000 * 4 // 2


def test_rendering_is_deterministic():
    data = encode(photo(2000, 1500), "JPEG")
    assert imaging.render(data).data == imaging.render(data).data
