"""Still WebP decoded by libwebp straight to a reduced size (handler/imaging/webp_scaled.py)."""

from __future__ import annotations

import ctypes
import io
import math
import struct
import sys
from types import SimpleNamespace

import PIL
import pytest
from PIL import Image, ImageChops, ImageStat, WebPImagePlugin

from handler import imaging
from handler.imaging import decode, memory, refusals, webp_scaled
from handler.imaging.geometry import shrink_factor
from handler.renditions import RenditionSpec
from local.samples import encode, photo, transparent_logo

SPECS = [RenditionSpec(width=200, height=150), RenditionSpec(name="thumb", width=75, height=75, fit="cover")]
MIB = 1024 * 1024


def with_alpha(picture: Image.Image) -> Image.Image:
    rgba = picture.convert("RGBA")
    rgba.putalpha(transparent_logo(*picture.size).getchannel("A"))
    return rgba


def webps() -> dict[str, bytes]:
    picture = photo(999, 801)  # odd sizes: the last rows and columns of the reduction are partial
    return {
        "lossy": encode(picture, "WEBP", quality=90),
        "lossless": encode(picture, "WEBP", lossless=True, method=0),
        "lossy-alpha": encode(with_alpha(picture), "WEBP", quality=90),
        "lossless-alpha": encode(with_alpha(picture), "WEBP", lossless=True, method=0),
    }


WEBPS = webps()


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio of two pictures of one size (alpha flattened on white)."""
    flat = [Image.alpha_composite(Image.new("RGBA", a.size, "white"), p.convert("RGBA")).convert("RGB") for p in (a, b)]
    mse = sum(value**2 for value in ImageStat.Stat(ImageChops.difference(*flat)).rms) / 3
    return 10 * math.log10(255**2 / mse) if mse else math.inf


def pillow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch this module off: every WebP takes Pillow's whole-canvas path, as before it existed."""
    monkeypatch.setattr(webp_scaled, "library", lambda: None)


def with_size(data: bytes, width: int, height: int) -> bytes:
    """The same WebP whose headers declare another size (libwebp reads headers only until decoding)."""
    patched = bytearray(data)
    kind = bytes(patched[12:16])
    if kind == b"VP8X":
        patched[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        position = 30
        while patched[position : position + 4] not in (b"VP8 ", b"VP8L"):
            length = struct.unpack_from("<I", patched, position + 4)[0]
            position += 8 + length + length % 2
        kind = bytes(patched[position : position + 4])
    else:
        position = 12
    if kind == b"VP8 ":
        struct.pack_into("<HH", patched, position + 14, width, height)
    else:
        bits = struct.unpack_from("<I", patched, position + 9)[0] & ~((1 << 28) - 1)
        struct.pack_into("<I", patched, position + 9, bits | (width - 1) | (height - 1) << 14)
    return bytes(patched)


@pytest.mark.parametrize("name", WEBPS)
def test_scaled_decoding_renders_what_the_whole_canvas_path_rendered(name, monkeypatch):
    # GIVEN a still WebP, lossy or lossless, with or without alpha
    data = WEBPS[name]
    # WHEN it is rendered through libwebp's scaling, and again through Pillow's whole canvas
    assert isinstance(decode.open_image(data), webp_scaled.WebPStill)
    scaled = imaging.render_all(data, SPECS)
    pillow_path(monkeypatch)
    assert not isinstance(decode.open_image(data), webp_scaled.WebPStill)
    whole = imaging.render_all(data, SPECS)
    # THEN every rendition has the same size, format and transparency
    for new, old in zip(scaled, whole, strict=True):
        assert isinstance(new, imaging.Rendition) and isinstance(old, imaging.Rendition)
        assert (new.size, new.format) == (old.size, old.format)
        assert Image.open(io.BytesIO(new.data)).mode == Image.open(io.BytesIO(old.data)).mode
    # AND the picture is as close to a LANCZOS of the whole picture as before (libwebp's area average maps
    # the picture's full width; the box reduction of an odd width drifted by up to half a pixel)
    new_picture, old_picture = (Image.open(io.BytesIO(r[0].data)) for r in (scaled, whole))  # type: ignore[union-attr]
    reference = Image.open(io.BytesIO(data)).convert("RGBA").resize(new_picture.size, Image.Resampling.LANCZOS)
    assert psnr(new_picture, reference) > psnr(old_picture, reference) - 0.1


@pytest.mark.parametrize("name", WEBPS)
def test_still_webp_opens_with_what_pillow_reports(name):
    # GIVEN a still WebP with a colour profile, EXIF and XMP (an odd-sized EXIF: its chunk is padded)
    picture = Image.open(io.BytesIO(WEBPS[name])).resize((300, 240))
    exif = Image.Exif()
    exif[0x0112] = 6
    odd = exif.tobytes() + b"\0"  # an odd-sized chunk: padded with one byte before the next
    metadata = {"icc_profile": b"icc" * 7, "exif": odd, "xmp": b"<x/>"}
    data = encode(picture, "WEBP", lossless=name.startswith("lossless"), method=0, **metadata)
    # WHEN opened from its headers
    opened, pillow = decode.open_image(data), Image.open(io.BytesIO(data))
    # THEN it reports Pillow's size, mode and metadata, and its upright orientation
    assert isinstance(opened, webp_scaled.WebPStill)
    assert (opened.format, opened.size, opened.mode) == (pillow.format, pillow.size, pillow.mode)
    assert {key: opened.info[key] for key in ("icc_profile", "exif", "xmp")} == {
        key: pillow.info[key] for key in ("icc_profile", "exif", "xmp")
    }
    assert decode.orientation(opened) == 6
    assert imaging.render(data).size == (240, 300)  # turned upright


def test_what_is_not_a_still_webp_is_not_opened_here():
    # GIVEN a WebP whose bitstream header libwebp rejects, and something that is not a WebP at all
    broken = bytearray(WEBPS["lossy"])
    broken[23:26] = b"xxx"  # the VP8 start code
    for data in (bytes(broken), encode(photo(8, 8), "PNG")):
        # THEN it is not decoded here, and cannot be opened as a still WebP
        assert not webp_scaled.decodes(data)
        with pytest.raises(SyntaxError, match=r"^not a still WebP$"):
            webp_scaled.WebPStill(io.BytesIO(data))


def test_a_chunk_longer_than_the_file_gives_what_is_there():
    data = WEBPS["lossy"] + b"XMP " + struct.pack("<I", 2**31 + 1) + b"<x/>"
    assert webp_scaled.metadata(data) == {"xmp": b"<x/>"}


def test_a_trailing_empty_chunk_is_read():
    data = WEBPS["lossy"] + b"XMP " + bytes(4)
    data = data[:4] + struct.pack("<I", len(data) - 8) + data[8:]
    assert webp_scaled.metadata(data) == {"xmp": b""}


def test_animated_webp_stays_with_pillow():
    # GIVEN an animated WebP
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:])
    # THEN Pillow's animation decoder opens it (the frame budget applies), not the still path
    assert isinstance(decode.open_image(data), WebPImagePlugin.WebPImageFile)
    assert not webp_scaled.decodes(data)
    with pytest.raises(SyntaxError, match=r"^not a still WebP$"):
        webp_scaled.WebPStill(io.BytesIO(data))


@pytest.mark.parametrize(
    ("size", "target", "decoded"),
    [
        ((999, 801), (200, 150), (500, 401)),  # pre-shrink 2: all of it by libwebp
        ((10000, 8000), (2000, 600), (5000, 4000)),  # 2, bound by the width
        ((10000, 8000), (1600, 1200), (3334, 2667)),  # 3
        ((10000, 8000), (1250, 1000), (5000, 4000)),  # 4: half by libwebp, half by Pillow's box
        ((10000, 8000), (800, 600), (3334, 2667)),  # 6
        ((10000, 8000), (900, 600), (5000, 4000)),  # 5: half is 2
        ((1000, 800), (1, 1), (5, 4)),  # 400
        ((1000, 800), (800, 600), (1000, 800)),  # none
    ],
)
def test_lossy_decoded_size_keeps_twice_the_target_and_leaves_larger_reductions_half_to_pillow(size, target, decoded):
    # GIVEN the box the engine asks draft() for
    box = memory.draft_box(target)
    # WHEN the decoded size of a lossy picture is chosen
    chosen = webp_scaled.scaled_size(size, box, lossless=False)
    # THEN libwebp reduces by the pre-shrink factor up to 3, by half of it from 4 on, never below twice the
    # target, and Pillow's box reduction then averages libwebp's 8-bit rounding
    assert chosen == decoded
    assert chosen == size or (chosen[0] >= 2 * target[0] and chosen[1] >= 2 * target[1])
    assert shrink_factor(chosen, target) >= 2 or shrink_factor(size, target) < 4


@pytest.mark.parametrize(("target", "decoded"), [((800, 600), (1667, 1334)), ((1250, 1000), (2500, 2000))])
def test_lossless_is_reduced_by_libwebp_alone(target, decoded):
    # GIVEN an 80 MP lossless picture (ARGB: libwebp rounds its average once, as Pillow's box would)
    # THEN libwebp reduces it by the whole pre-shrink factor: the smallest picture to hold
    assert webp_scaled.scaled_size((10000, 8000), memory.draft_box(target), lossless=True) == decoded


def test_draft_then_load_decodes_at_the_chosen_size():
    # GIVEN an opened still WebP
    image = decode.open_image(WEBPS["lossy-alpha"])
    # WHEN drafted for a 400x300 target, then loaded
    image.draft(None, memory.draft_box((200, 150)))
    image.draft(None, None)  # no box: nothing changes
    image.load()
    # THEN libwebp decoded it at the reduced size, with its alpha, once
    assert (image.size, image.im.size, image.mode) == ((500, 401), (500, 401), "RGBA")
    core = image.im
    image.load()
    assert image.im is core
    reference = Image.open(io.BytesIO(WEBPS["lossy-alpha"])).convert("RGBA").reduce(2)
    assert psnr(image, reference) > 35


def test_a_picture_without_alpha_decodes_to_rgb():
    decoded = webp_scaled.decode(WEBPS["lossy"], (500, 401), alpha=False)
    assert decoded.mode == "RGB"
    assert psnr(decoded, Image.open(io.BytesIO(WEBPS["lossy"])).reduce(2)) > 35


def test_lossless_is_drafted_at_the_whole_reduction():
    # GIVEN a lossless 999x801 WebP drafted for 100x75 (a pre-shrink of 4)
    image = decode.open_image(WEBPS["lossless"])
    image.draft(None, memory.draft_box((100, 75)))
    # THEN libwebp alone reduces it by 4 (a lossy one would be reduced by 2, then by Pillow's box)
    assert image.size == (250, 201)


def test_lossless_pixels_survive_unscaled_decoding():
    # GIVEN a lossless WebP decoded at its own size
    picture = with_alpha(photo(64, 48))
    decoded = webp_scaled.decode(encode(picture, "WEBP", lossless=True, exact=True), (64, 48), alpha=True)
    # THEN every pixel is the original's
    assert decoded.mode == "RGBA" and decoded.tobytes() == picture.tobytes()


def test_an_80_megapixel_lossy_webp_is_modelled_small_and_accepted():
    # GIVEN a lossy WebP whose headers say 10000x8000 (libwebp reads headers only until decoding)
    data = with_size(WEBPS["lossy"], 10000, 8000)
    # WHEN checked before opening and before decoding for the default 800x600
    limits = imaging.Limits(memory_mb=512)
    refusals.check_before_opening(data, limits)
    image = decode.open_image(data)
    refusals.check_before_decoding(image, (800, 600), limits)
    # THEN it fits well within 60% of 512 MB: rows, the picture libwebp decodes (3334x2667, written by
    # libwebp and copied by Pillow) and the pipeline's strips and base, beside the runtime
    assert image.size == (10000, 8000)
    estimate = imaging.estimated_peak_bytes(image, (800, 600))
    # (beside that picture held twice, the rows, the box's strips and one RGB base stay under 40 MB)
    assert 3334 * 2667 * 8 < estimate - memory.RUNTIME_OVERHEAD_BYTES < 3334 * 2667 * 8 + 40 * MIB
    assert estimate < 0.6 * 512 * MIB


@pytest.mark.parametrize(("name", "per_pixel"), [("lossless", 4), ("lossy-alpha", 5), ("lossless-alpha", 4)])
def test_lossless_and_alpha_count_libwebp_s_full_size_planes(name, per_pixel):
    # GIVEN a lossless or alpha WebP whose headers say 10000x8000
    image = decode.open_image(with_size(WEBPS[name], 10000, 8000))
    # THEN the model counts libwebp's full-size ARGB pixels (lossless) or alpha plane and its decoder
    extra = imaging.estimated_peak_bytes(image, (800, 600)) - memory.RUNTIME_OVERHEAD_BYTES - len(WEBPS[name])
    assert per_pixel * 80_000_000 < extra < per_pixel * 80_000_000 + 160 * MIB


def test_lossless_costs_its_argb_picture_more_than_lossy():
    # GIVEN an RGB picture whose headers say 10000x8000, lossy and lossless
    lossy, lossless = (decode.open_image(with_size(WEBPS[name], 10000, 8000)) for name in ("lossy", "lossless"))
    # WHEN modelled for a target both are decoded for at the same size (libwebp reduces both by 3)
    costs = [
        imaging.estimated_peak_bytes(image, (1600, 1200)) - len(memory.upload_bytes(image))
        for image in (lossy, lossless)
    ]
    # THEN lossless costs libwebp's 4 B/px ARGB picture more, less the rows lossy decodes in (16 or more)
    assert 80_000_000 * 4 - 4 * MIB < costs[1] - costs[0] < 80_000_000 * 4 - 10_000 * 16 * 4  # a VP8 macroblock row


def test_lossless_is_modelled_at_libwebp_s_whole_reduction():
    # GIVEN an RGB picture whose headers say 10000x8000, lossy and lossless, for 800x600
    lossy, lossless = (decode.open_image(with_size(WEBPS[name], 10000, 8000)) for name in ("lossy", "lossless"))
    costs = [
        imaging.estimated_peak_bytes(image, (800, 600)) - len(memory.upload_bytes(image)) for image in (lossy, lossless)
    ]
    # THEN lossless costs its ARGB picture more, less the larger picture lossy keeps for Pillow's box
    # (3334x2667 instead of 1667x1334, held twice)
    assert costs[1] - costs[0] < 80_000_000 * 4 - (3334 * 2667 - 1667 * 1334) * 8


def test_lossy_alpha_costs_its_alpha_plane_more_than_lossless_alpha():
    # GIVEN an RGBA picture whose headers say 10000x8000, lossy with an ALPH chunk and lossless
    images = [decode.open_image(with_size(WEBPS[name], 10000, 8000)) for name in ("lossy-alpha", "lossless-alpha")]
    costs = [imaging.estimated_peak_bytes(image, (1600, 1200)) - len(memory.upload_bytes(image)) for image in images]
    # THEN (both decoded at the same size) the alpha plane, 1 B/px beside its decoder's ARGB pixels, is the difference
    assert costs[0] - costs[1] == 80_000_000


def test_an_80_megapixel_lossy_webp_with_alpha_is_refused_at_512_mb():
    image = decode.open_image(with_size(WEBPS["lossy-alpha"], 10000, 8000))
    with pytest.raises(imaging.TooLarge, match=r"WEBP 10000x8000 needs about .* raise memorySize to at least 640"):
        refusals.check_before_decoding(image, (800, 600), imaging.Limits(memory_mb=512))


def test_pixel_limit_still_applies_before_opening():
    with pytest.raises(imaging.TooLarge, match="MAX_PIXELS"):
        refusals.check_before_opening(with_size(WEBPS["lossy"], 10000, 8001), imaging.Limits())


def test_without_the_library_80_megapixels_are_refused_as_before(monkeypatch):
    # GIVEN no usable libwebp (another ABI, or none found)
    pillow_path(monkeypatch)
    # THEN an 80 MP still WebP is refused from its header: Pillow's opener would allocate its canvases
    with pytest.raises(imaging.TooLarge, match="WEBP 10000x8000 needs about"):
        imaging.render(with_size(WEBPS["lossy"], 10000, 8000))


def test_a_truncated_bitstream_is_corrupt():
    data = WEBPS["lossy"]
    truncated = data[: len(data) // 2]
    assert webp_scaled.decodes(truncated)  # the headers are whole
    with pytest.raises(imaging.CorruptImage, match="libwebp cannot decode this WebP: truncated"):
        imaging.render(truncated)


def test_libwebp_out_of_memory_is_too_large(monkeypatch):
    # GIVEN libwebp failing an allocation (the fail-safe's data limit)
    real = webp_scaled.library()
    fake = SimpleNamespace(
        WebPInitDecoderConfigInternal=real.WebPInitDecoderConfigInternal,
        WebPGetFeaturesInternal=real.WebPGetFeaturesInternal,
        WebPDecode=lambda *args: 1,  # VP8_STATUS_OUT_OF_MEMORY
    )
    monkeypatch.setattr(webp_scaled, "library", lambda: fake)
    # THEN the upload is refused as too large, not lost as corrupt
    with pytest.raises(imaging.TooLarge, match="ran out of memory"):
        imaging.render(WEBPS["lossy"])


def test_other_libwebp_failures_are_named(monkeypatch):
    real = webp_scaled.library()
    for status, name in ((2, "status 2"), (3, "bitstream error"), (4, "unsupported feature")):
        fake = SimpleNamespace(
            WebPInitDecoderConfigInternal=real.WebPInitDecoderConfigInternal,
            WebPGetFeaturesInternal=real.WebPGetFeaturesInternal,
            WebPDecode=lambda *args, status=status: status,
        )
        monkeypatch.setattr(webp_scaled, "library", lambda fake=fake: fake)
        with pytest.raises(OSError, match=f"cannot decode this WebP: {name}$"):
            webp_scaled.decode(WEBPS["lossy"], (10, 8), alpha=False)


def test_another_abi_major_version_is_not_used(monkeypatch):
    # GIVEN a libwebp whose decode.h major version differs from the structures mirrored here
    monkeypatch.setattr(webp_scaled, "ABI_VERSION", 0x0310)
    # THEN it is not used (its structures may differ), and nothing crashes
    assert webp_scaled.library.__wrapped__() is None


def test_no_webp_extension_means_no_library(monkeypatch):
    monkeypatch.delattr(PIL, "_webp")
    monkeypatch.setitem(sys.modules, "PIL._webp", None)  # import fails
    assert webp_scaled.library.__wrapped__() is None


def test_structures_have_decode_h_s_sizes():
    # decode.h on LP64: 5 ints + 5 pad; 4 ints + the YUVA view (4 pointers, 4 ints, 4 size_t) + 4 pad + 1
    # pointer; 14 ints + 5 pad; and the three together, aligned to a pointer.
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        pytest.skip("sizes computed for LP64")
    sizes = [ctypes.sizeof(s) for s in (webp_scaled.Features, webp_scaled.DecBuffer, webp_scaled.Options)]
    assert sizes == [40, 120, 76] and ctypes.sizeof(webp_scaled.Config) == 240
