"""Generated sample images: the demo's uploads and the tests' and benchmark's inputs (no downloads)."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

ORIENTATION_TAG = 0x0112
# The transpose that turns the displayed picture into what a camera stores for each EXIF orientation.
STORED_FOR_ORIENTATION = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    """Encode an image to bytes in the given Pillow format (PNG at zlib level 1 unless asked otherwise)."""
    if fmt == "PNG":
        params.setdefault("compress_level", 1)  # level 6 spends seconds on noisy test pictures, for nothing
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def photo(width: int, height: int) -> Image.Image:
    """A photograph-like RGB picture: smooth gradients, fine detail and some noise, like a camera's."""
    fractal = Image.effect_mandelbrot((width, height), (-2.2, -1.2, 0.8, 1.2), 64)
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 24)
    return Image.merge("RGB", (fractal, gradient, noise))


def quadrants(width: int, height: int) -> Image.Image:
    """Red, green, blue and yellow quadrants (clockwise from top left): orientation is visible in pixels."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    half_w, half_h = width // 2, height // 2
    draw.rectangle((0, 0, half_w - 1, half_h - 1), fill=(255, 0, 0))
    draw.rectangle((half_w, 0, width - 1, half_h - 1), fill=(0, 255, 0))
    draw.rectangle((half_w, half_h, width - 1, height - 1), fill=(0, 0, 255))
    draw.rectangle((0, half_h, half_w - 1, height - 1), fill=(255, 255, 0))
    return image


def with_orientation(displayed: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    """Bytes a camera would write for `displayed` with the given EXIF Orientation tag."""
    transpose = STORED_FOR_ORIENTATION[orientation]
    stored = displayed.transpose(transpose) if transpose is not None else displayed
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    return encode(stored, fmt, exif=exif.tobytes())


def transparent_logo(width: int, height: int) -> Image.Image:
    """An RGBA picture: an opaque disc on a fully transparent background."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(30, 90, 200, 255))
    return image


def demo_uploads() -> list[tuple[str, bytes]]:
    """The demo's uploads: every supported format, odd modes, a rotated photo, awkward keys, one bad file."""
    picture = photo(1600, 1200)
    frames = [quadrants(320, 240).rotate(angle).convert("P") for angle in (0, 90, 180)]
    animated = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    return [
        ("photos/landscape.jpg", encode(picture, "JPEG", quality=90)),
        ("photos/rotated-exif-6.jpg", with_orientation(photo(1200, 1600), 6)),
        ("logos/transparent.png", encode(transparent_logo(1024, 1024), "PNG")),
        ("animations/spinner.gif", animated),
        ("scans/document.bmp", encode(picture.convert("L"), "BMP")),
        ("scans/print-cmyk.tiff", encode(picture.convert("CMYK"), "TIFF", compression="tiff_lzw")),
        ("web/banner.webp", encode(picture.resize((2000, 600)), "WEBP", quality=80)),
        ("uploads/My Café photo.JPEG", encode(picture.resize((1024, 768)), "JPEG")),
        ("uploads/not-really.jpg", b"this is a text file wearing a .jpg extension\n"),
    ]


BAD_DEMO_KEYS = frozenset({"uploads/not-really.jpg"})
