"""The pipeline on small pictures: open -> refuse -> decode once -> every rendition, and what each failure becomes.

GIVEN a picture made here (quadrants of known colours, flat colours), WHEN rendered, THEN the pixels, sizes
and formats of the outputs are checked against what the picture was, never against the code's own helpers.
"""

from __future__ import annotations

import io
import struct
import time
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from handler import imaging
from handler.imaging import refusals
from handler.renditions import RenditionSpec, Watermark
from local.samples import encode, quadrants, with_orientation
from tests.handler.test_imaging_limits import RecordingLimits
from tests.handler.test_imaging_memory import jpeg_header

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)


def decoded(result: imaging.Rendition | imaging.RenditionError) -> Image.Image:
    assert isinstance(result, imaging.Rendition), result
    image = Image.open(io.BytesIO(result.data))
    image.load()
    return image


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual[:3], expected, strict=True))


def corners(image: Image.Image) -> tuple[tuple[int, ...], ...]:
    """Colours a quarter in from each corner: top left, top right, bottom right, bottom left."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    return tuple(
        rgb.getpixel(point)
        for point in ((w // 4, h // 4), (3 * w // 4, h // 4), (3 * w // 4, 3 * h // 4), (w // 4, 3 * h // 4))
    )


def upright(image: Image.Image) -> bool:
    return all(near(c, e) for c, e in zip(corners(image), (RED, GREEN, BLUE, YELLOW), strict=True))


SMALL = RenditionSpec(name="small", width=40, height=40)


# --- one rendition, its facts ---


def test_a_rendition_carries_its_spec_formats_and_sizes():
    # GIVEN a 120x60 PNG and a 40x40 rendition
    result = imaging.render(encode(quadrants(120, 60), "PNG"), SMALL)
    # THEN it is a 40x20 JPEG of the same picture, made from a PNG of 120x60
    assert (result.spec, result.format, result.source_format) == (SMALL, "jpeg", "PNG")
    assert (result.original_size, result.size, result.frames) == ((120, 60), (40, 20), 1)
    out = decoded(result)
    assert (out.format, out.size) == ("JPEG", (40, 20))
    assert upright(out)


def test_the_default_rendition_is_800x600_jpeg_and_never_upscales():
    result = imaging.render(encode(quadrants(120, 60), "PNG"))
    assert (result.size, result.format) == ((120, 60), "jpeg")
    assert upright(decoded(result))


def test_a_failed_rendition_raises_its_message_when_rendered_alone(monkeypatch):
    monkeypatch.setattr(imaging, "encode", broken_encoder)
    with pytest.raises(RuntimeError, match=r"^rendition 'small' failed: ValueError: encoder broke$"):
        imaging.render(encode(quadrants(120, 60), "PNG"), SMALL)


def broken_encoder(*args: object) -> bytes:
    raise ValueError("encoder broke")


# --- several renditions of one upload ---


def test_every_rendition_comes_back_in_the_order_asked_each_from_the_one_decode(monkeypatch):
    # GIVEN three renditions, the largest in the middle
    opened = []
    real_open = imaging._open
    monkeypatch.setattr(imaging, "_open", lambda data: opened.append(data) or real_open(data))
    specs = [
        SMALL,
        RenditionSpec(name="big", width=200, height=200, format="png"),
        RenditionSpec(name="mid", width=80, height=80),
    ]
    results = imaging.render_all(encode(quadrants(240, 120), "PNG"), specs)
    # THEN each is its own size and format, in the order asked, and the upload was opened once
    assert [(r.spec.name, r.size, r.format) for r in results] == [
        ("small", (40, 20), "jpeg"),
        ("big", (200, 100), "png"),
        ("mid", (80, 40), "jpeg"),
    ]
    assert all(upright(decoded(r)) for r in results)
    assert len(opened) == 1


def test_one_failed_rendition_is_reported_in_its_place_named_and_the_others_are_made(monkeypatch):
    real = imaging.encode

    def fails_for_png(picture, fmt, spec, icc):
        if fmt == "png":
            raise ValueError("encoder broke")
        return real(picture, fmt, spec, icc)

    monkeypatch.setattr(imaging, "encode", fails_for_png)
    specs = [RenditionSpec(format="png"), SMALL]
    failed, made = imaging.render_all(encode(quadrants(120, 60), "PNG"), specs)
    assert failed == imaging.RenditionError(specs[0], "rendition 'default' failed: ValueError: encoder broke")
    assert upright(decoded(made))


@pytest.mark.parametrize("error", [MemoryError(), imaging.OutOfTime("ran out of time while encoding")])
def test_running_out_of_memory_or_time_in_one_rendition_refuses_the_whole_upload(monkeypatch, error):
    def fails(*args: object) -> bytes:
        raise error

    monkeypatch.setattr(imaging, "encode", fails)
    with pytest.raises(imaging.ImageRejected) as raised:
        imaging.render_all(encode(quadrants(120, 60), "PNG"), [SMALL])
    if isinstance(error, MemoryError):
        assert (
            raised.value.message
            == "PNG 120x60 ran out of memory while decoding: raise memorySize or send a smaller image"
        )
    else:
        assert raised.value is error


def test_the_deadline_is_checked_before_each_rendition_is_encoded():
    limits = RecordingLimits()
    imaging.render_all(encode(quadrants(120, 60), "PNG"), [SMALL, RenditionSpec(name="b", width=60, height=60)], limits)
    assert limits.stages[-2:] == ["encoding", "encoding"]


# --- refusals and failures of the upload ---


def test_running_out_of_memory_reading_the_header_is_too_large(monkeypatch):
    def out_of_memory(data: bytes) -> Image.Image:
        raise MemoryError

    monkeypatch.setattr(imaging, "_open", out_of_memory)
    with pytest.raises(imaging.TooLarge) as raised:
        imaging.render_all(b"anything", [SMALL])
    assert raised.value.message == "ran out of memory reading the image header: raise memorySize"


def test_a_webp_canvas_too_large_for_memory_is_refused_before_it_is_opened(monkeypatch):
    opened = []
    monkeypatch.setattr(imaging, "_open", opened.append)
    frames = [Image.new("RGB", (3000, 3000), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:])  # animated: 144 MB of canvases
    with pytest.raises(imaging.TooLarge, match="WEBP 3000x3000 needs about"):
        imaging.render_all(data, [SMALL], imaging.Limits(memory_mb=200))
    assert opened == []


def test_a_picture_over_max_pixels_is_refused_before_decoding():
    with pytest.raises(imaging.TooLarge, match=r"120x60 is 0\.0 megapixels, above MAX_PIXELS"):
        imaging.render_all(encode(quadrants(120, 60), "PNG"), [SMALL], imaging.Limits(max_pixels=7199))


def test_a_decode_past_the_deadline_stops_while_decoding():
    limits = imaging.Limits(deadline=time.monotonic() - 1)
    with pytest.raises(imaging.OutOfTime, match="while decoding"):
        imaging.render_all(encode(quadrants(120, 60), "PNG"), [RenditionSpec(width=200, height=200)], limits)


def test_damaged_pixels_are_corrupt_naming_the_format():
    data = encode(quadrants(120, 60), "PNG")
    cut = data[: len(data) // 2]
    with pytest.raises(imaging.CorruptImage, match=r"^cannot decode PNG image: "):
        imaging.render_all(cut, [RenditionSpec(width=200, height=200)])


def test_the_upload_is_closed_after_rendering_and_after_a_refusal(monkeypatch):
    images: list[Image.Image] = []
    real_open = imaging._open
    monkeypatch.setattr(imaging, "_open", lambda data: images.append(real_open(data)) or images[-1])
    data = encode(quadrants(120, 60), "PNG")
    imaging.render_all(data, [SMALL])
    with pytest.raises(imaging.TooLarge):
        imaging.render_all(data, [SMALL], imaging.Limits(max_pixels=1))
    assert [image.fp for image in images] == [None, None]


# --- HEIC switch ---

HALVES = (Path(__file__).parent / "images" / "halves.heic").read_bytes()


def test_heic_is_enabled_only_when_turned_on(monkeypatch):
    calls = []
    monkeypatch.setattr(imaging, "enable_heic", lambda: calls.append(1))
    data = encode(quadrants(120, 60), "PNG")
    imaging.render_all(data, [SMALL], imaging.Limits(heic=False))
    assert calls == []
    imaging.render_all(data, [SMALL], imaging.Limits(heic=True))
    assert calls == [1]


def test_heic_upload_with_heic_off_is_not_an_image():
    imaging.render_all(HALVES, [SMALL])  # registers the HEIF opener, as a warm container would have
    with pytest.raises(imaging.NotAnImage) as raised:
        imaging.render_all(HALVES, [SMALL], imaging.Limits(heic=False))
    assert raised.value.message == "HEIC/HEIF uploads are turned off (config heic: false)"


# --- orientation ---


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_turns_the_picture_upright(fmt):
    # GIVEN a 120x60 picture stored turned, with orientation 6 (or 8, 3) in its EXIF
    for orientation in (3, 6, 8):
        result = imaging.render(with_orientation(quadrants(120, 60), orientation, fmt), SMALL)
        # THEN the rendition is upright, and both sizes are the upright ones
        assert (result.original_size, result.size) == ((120, 60), (40, 20))
        assert upright(decoded(result))


def test_tiff_orientation_is_applied_once():
    stored = quadrants(120, 60).transpose(Image.Transpose.ROTATE_90)
    result = imaging.render(encode(stored, "TIFF", tiffinfo={0x0112: 6}), SMALL)
    assert (result.original_size, result.size) == ((120, 60), (40, 20))
    assert upright(decoded(result))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP", "JPEG"])
def test_a_turned_picture_shrunk_by_more_than_two_is_upright(fmt):
    # GIVEN a 480x240 picture stored turned (orientation 6): shrunk by 4 for a 60x60 rendition
    data = with_orientation(quadrants(480, 240), 6, fmt) if fmt != "TIFF" else b""
    if fmt == "TIFF":
        data = encode(quadrants(480, 240).transpose(Image.Transpose.ROTATE_90), "TIFF", tiffinfo={0x0112: 6})
    result = imaging.render(data, RenditionSpec(width=60, height=60))
    assert result.size == (60, 30)
    assert upright(decoded(result))


def test_a_turned_jpeg_is_sized_for_memory_in_its_stored_orientation():
    # GIVEN the header of an 8000x2000 JPEG with orientation 6 (upright 2000x8000) and an 800x600 rendition:
    # upright 150x600, so 600x150 as stored; decoded at 1/4 (2000x500), the picture and its copy at 4 B/px
    # and 64 B per column of MCU rows are about 104 MB with the runtime, in a 110 MB budget
    exif = Image.Exif()
    exif[0x0112] = 6
    app1 = exif.tobytes()
    header = jpeg_header(8000, 2000, [0x22, 0x11, 0x11], progressive=False, scans=1)
    data = header[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + header[2:]
    assert imaging.estimated_peak_bytes(imaging.decode.open_image(data), (600, 150)) < 110 * 2**20
    # WHEN it is rendered THEN it passes the memory check and fails only at decoding (it has no pixels)
    with pytest.raises(imaging.ImageRejected) as raised:
        imaging.render_all(data, [imaging.DEFAULT], imaging.Limits(memory_mb=110))
    assert raised.value.reason == "corrupt"


# --- the decode paths ---


@pytest.mark.parametrize(
    ("fmt", "params", "stage"),
    [
        ("PNG", {}, "decoding PNG"),
        ("TIFF", {"compression": "tiff_adobe_deflate", "tiffinfo": {278: 8}}, "decoding TIFF"),
        ("BMP", {}, "decoding BMP"),
    ],
)
def test_a_picture_shrunk_by_two_or_more_is_decoded_strip_by_strip(fmt, params, stage):
    # GIVEN a 240x120 picture and a 60x60 rendition: shrunk by exactly 2 before the final resize
    limits = RecordingLimits()
    result = imaging.render(encode(quadrants(240, 120), fmt, **params), RenditionSpec(width=60, height=60), limits)
    # THEN it is decoded a strip at a time (the deadline checked per strip), and comes out right
    assert limits.stages.count(stage) >= 2
    assert result.size == (60, 30) and upright(decoded(result))


@pytest.mark.parametrize(
    ("fmt", "params"), [("PNG", {}), ("TIFF", {"compression": "tiff_adobe_deflate", "tiffinfo": {278: 8}}), ("BMP", {})]
)
def test_a_picture_shrunk_by_less_than_two_is_decoded_whole(fmt, params):
    # GIVEN a 239x120 picture (in 8-row strips for TIFF) and a 60x60 rendition: less than twice the target wide
    limits = RecordingLimits()
    result = imaging.render(encode(quadrants(239, 120), fmt, **params), RenditionSpec(width=60, height=60), limits)
    # THEN it is decoded whole, then resized
    assert "shrinking" in limits.stages and not any(stage.startswith("decoding ") for stage in limits.stages)
    assert result.size == (60, 30) and upright(decoded(result))


@pytest.mark.parametrize(
    ("box", "size", "scale"),
    [
        ((200, 150), (200, 150), 4),  # 1/4 (400x300) still covers 1.25x the target; 1/8 would not
        ((110, 110), (110, 82), 4),  # 1/8 would cover 1.25x, but 1/8 keeps only DC terms: it needs 2x
    ],
)
def test_jpeg_is_decoded_at_a_reduced_scale_with_a_margin_over_the_target(monkeypatch, box, size, scale):
    # GIVEN a 1600x1200 JPEG and a rendition of `box`
    decoded_sizes = []
    real_reduce = imaging.reduce

    def spy(image, target, widen, limits):
        decoded_sizes.append(image.size)
        return real_reduce(image, target, widen, limits)

    monkeypatch.setattr(imaging, "reduce", spy)
    result = imaging.render(encode(quadrants(1600, 1200), "JPEG"), RenditionSpec(width=box[0], height=box[1]))
    # THEN the decoder handed over the picture at 1/scale, and the rendition is right
    assert decoded_sizes == [(1600 // scale, 1200 // scale)]
    assert result.size == size and upright(decoded(result))


@pytest.mark.parametrize(("level", "grey"), [(32768, 128), (200, 1)])
def test_sixteen_bit_grey_is_scaled_from_its_full_range_to_eight_bits(level, grey):
    # GIVEN a 16-bit PNG at half of full scale, or very dark (every value below 256)
    data = encode(Image.new("I;16", (120, 60), level), "PNG")
    # THEN the rendition is that share of white: mid grey, or nearly black (not clipped, not read as 8-bit)
    assert near(decoded(imaging.render(data, SMALL)).convert("RGB").getpixel((20, 10)), (grey, grey, grey), 3)


@pytest.mark.parametrize(
    ("fmt", "params"), [("PNG", {}), ("TIFF", {"compression": "tiff_adobe_deflate", "tiffinfo": {278: 8}})]
)
def test_the_colour_profile_is_kept_through_the_strip_paths(fmt, params):
    # GIVEN a 240x120 picture with an sRGB profile, shrunk by 2 strip by strip
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(quadrants(240, 120), fmt, icc_profile=srgb, **params)
    # THEN the rendition carries the profile
    assert decoded(imaging.render(data, RenditionSpec(width=60, height=60))).info.get("icc_profile") == srgb


def test_the_colour_profile_of_an_rgb_upload_is_kept_and_a_grey_one_is_not_attached():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = imaging.render(encode(quadrants(120, 60), "PNG", icc_profile=srgb), SMALL)
    assert decoded(rgb).info.get("icc_profile") == srgb
    # a profile whose colour space says GRAY: it cannot describe the RGB output
    grey = srgb[:16] + b"GRAY" + srgb[20:]
    out = decoded(imaging.render(encode(Image.new("L", (120, 60), 90), "PNG", icc_profile=grey), SMALL))
    assert out.mode == "RGB" and out.info.get("icc_profile", b"")[16:20] in (b"", b"RGB ")


# --- animation ---


def animation(frames: int, size: tuple[int, int] = (40, 20)) -> bytes:
    colours = [GREEN, RED, BLUE, YELLOW, (255, 255, 255)]
    images = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=50)


def test_animated_and_still_renditions_of_one_animation(monkeypatch):
    # GIVEN a 5-frame GIF (the first frame green), an animated rendition and a still one
    anim = RenditionSpec(name="anim", width=20, height=20, format="webp", animated=True)
    moving, still = imaging.render_all(animation(5), [anim, SMALL])
    # THEN the animated one has every frame, and the still one is a JPEG of the first frame
    assert (moving.frames, moving.size, Image.open(io.BytesIO(moving.data)).n_frames) == (5, (20, 10), 5)
    assert (still.frames, still.format, decoded(still).format) == (1, "jpeg", "JPEG")
    assert near(decoded(still).convert("RGB").getpixel((20, 10)), GREEN)


def test_an_animation_is_turned_upright_frame_by_frame():
    # GIVEN a 2-frame WebP animation stored turned, with orientation 6
    second = quadrants(120, 60)
    second.paste((0, 0, 0), (55, 25, 65, 35))  # a dot in the middle: the frames differ
    frames = [picture.transpose(Image.Transpose.ROTATE_90) for picture in (quadrants(120, 60), second)]
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], exif=exif.tobytes(), lossless=True)
    # THEN each frame of the animated rendition is upright
    spec = RenditionSpec(name="a", width=40, height=40, format="webp", animated=True)
    (result,) = imaging.render_all(data, [spec])
    assert (result.frames, result.size) == (2, (40, 20))
    assert upright(decoded(result))


def test_animation_budget_counts_only_the_frames_that_will_be_decoded(monkeypatch):
    # GIVEN a budget of 3 frames of 40x20 and a 5-frame animation
    monkeypatch.setattr(refusals, "MAX_ANIMATION_PIXELS", 3 * 40 * 20)
    data = animation(5)
    # THEN all 5 frames are refused, 3 of them are made
    with pytest.raises(imaging.TooLarge, match="5 frames of 40x20"):
        imaging.render_all(data, [RenditionSpec(name="a", format="webp", animated=True, max_frames=10)])
    (cut,) = imaging.render_all(data, [RenditionSpec(name="a", format="webp", animated=True, max_frames=3)])
    assert cut.frames == 3


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_animated_rendition_of_a_still_picture_is_a_still(fmt):
    spec = RenditionSpec(name="a", width=40, height=40, format="webp", animated=True)
    (result,) = imaging.render_all(encode(quadrants(120, 60), fmt), [spec])
    assert (result.frames, result.format, result.size) == (1, "webp", (40, 20))
    assert upright(decoded(result))


# --- shaping and watermarks ---


def test_resizing_is_lanczos():
    # GIVEN one-pixel stripes, 120x60, rendered losslessly at a third of their size
    stripes = Image.new("L", (120, 60))
    stripes.frombytes(bytes(255 * (x % 2) for _ in range(60) for x in range(120)))
    picture = stripes.convert("RGB")
    spec = RenditionSpec(name="p", width=40, height=40, format="png")
    out = decoded(imaging.render(encode(picture, "PNG"), spec)).convert("RGB")
    # THEN the pixels are Pillow's LANCZOS resize of the picture
    reference = picture.resize((40, 20), Image.Resampling.LANCZOS)
    assert max(abs(a - b) for a, b in zip(out.tobytes(), reference.tobytes(), strict=True)) <= 1


def test_cover_crop_fills_the_box_around_the_busy_part():
    # GIVEN a flat 120x40 picture with detail only in its left third, and a 40x40 cover rendition
    picture = Image.new("RGB", (120, 40), (128, 128, 128))
    picture.paste(Image.effect_noise((40, 40), 80).convert("RGB"), (0, 0))
    result = imaging.render(encode(picture, "PNG"), RenditionSpec(name="c", width=40, height=40, fit="cover"))
    # THEN the crop is the busy third (the entropy crop), not the flat centre
    assert result.size == (40, 40)
    low, high = decoded(result).convert("L").getextrema()
    assert high - low > 100


@pytest.mark.parametrize(
    ("picture", "fmt"), [(Image.new("RGBA", (40, 20), (0, 0, 255, 100)), "png"), (Image.new("RGB", (40, 20)), "jpeg")]
)
def test_auto_format_is_png_for_transparency_and_jpeg_otherwise(picture, fmt):
    result = imaging.render(encode(picture, "PNG"), RenditionSpec(name="a", width=40, height=40, format="auto"))
    assert result.format == fmt and decoded(result).format == fmt.upper()


def test_an_image_watermark_is_taken_from_the_watermarks_given():
    logo = encode(Image.new("RGBA", (20, 10), (255, 0, 0, 255)), "PNG")
    mark = Watermark(image_key="logo.png", position="top-left", margin=0.0, opacity=1.0, scale=0.5)
    spec = RenditionSpec(name="w", width=120, height=60, format="png", watermark=mark)
    (result,) = imaging.render_all(
        encode(Image.new("RGB", (120, 60), BLUE), "PNG"), [spec], watermarks={"logo.png": logo}
    )
    out = decoded(result).convert("RGB")
    assert near(out.getpixel((10, 5)), RED) and near(out.getpixel((100, 50)), BLUE)


def test_a_text_watermark_marks_the_rendition():
    grey = encode(Image.new("RGB", (120, 60), (128, 128, 128)), "PNG")
    mark = Watermark(text="X", position="top-left", opacity=1.0, scale=0.25)
    out = decoded(imaging.render(grey, RenditionSpec(name="w", width=120, height=60, format="png", watermark=mark)))
    left = out.convert("L").crop((0, 0, 40, 30)).getextrema()
    right = out.convert("L").crop((70, 0, 120, 60)).getextrema()
    assert left[1] - left[0] > 50  # the mark is there
    assert right == (128, 128)  # and nowhere else
