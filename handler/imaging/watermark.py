"""Watermarks: a text or image stamp laid over a finished rendition."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

from PIL import Image, ImageDraw, ImageFont

from handler.imaging.decode import ALLOWED_FORMATS
from handler.renditions import Watermark

# Text is measured at this font size, then drawn at the size that makes it as wide as asked.
PROBE_SIZE = 100
# Smallest font size drawn, however small the rendition, and the outline's width relative to the size.
MIN_FONT_SIZE = 6
OUTLINE = 1 / 16


def watermarked(picture: Image.Image, mark: Watermark, watermarks: Mapping[str, bytes]) -> Image.Image:
    """Lay `mark` over `picture` at its corner, `margin` and `scale` relative to the picture's width."""
    width = max(1, round(picture.width * mark.scale))
    stamp = _text_stamp(mark.text, width) if mark.text else _image_stamp(mark, watermarks, width)
    stamp.putalpha(stamp.getchannel("A").point(lambda alpha: round(alpha * mark.opacity)))
    margin = round(picture.width * mark.margin)
    free_x, free_y = picture.width - stamp.width, picture.height - stamp.height
    vertical, _, horizontal = mark.position.partition("-")  # "center" has neither
    x = {"left": margin, "right": free_x - margin}.get(horizontal, free_x // 2)
    y = {"top": margin, "bottom": free_y - margin}.get(vertical, free_y // 2)
    layer = Image.new("RGBA", picture.size)  # transparent
    layer.paste(stamp, (x, y))
    marked = Image.alpha_composite(picture.convert("RGBA"), layer)
    return marked if picture.mode == "RGBA" else marked.convert("RGB")


def _image_stamp(mark: Watermark, watermarks: Mapping[str, bytes], width: int) -> Image.Image:
    data = watermarks.get(mark.image_key or "")
    if data is None:
        raise RuntimeError(f"watermark image {mark.image_key!r} is not available")
    with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as logo:
        stamp = logo.convert("RGBA")
    return stamp.resize((width, max(1, round(stamp.height * width / stamp.width))), Image.Resampling.LANCZOS)


def _text_stamp(text: str, width: int) -> Image.Image:
    """`text` drawn so that its ink, outline included, is about `width` pixels wide."""
    probe = _lettering(text, PROBE_SIZE)
    return _lettering(text, max(MIN_FONT_SIZE, round(PROBE_SIZE * width / max(1, probe.width))))


def _lettering(text: str, size: int) -> Image.Image:
    """White `text` outlined in black at font `size`, cut to its ink so margins are measured from it."""
    font = ImageFont.load_default(size=size)
    stroke = math.ceil(size * OUTLINE)
    left, top, right, bottom = (round(edge) for edge in font.getbbox(text, stroke_width=stroke))
    canvas = Image.new("RGBA", (right - left, bottom - top))  # transparent
    ImageDraw.Draw(canvas).text((-left, -top), text, font=font, stroke_width=stroke, stroke_fill="black")
    return canvas.crop(canvas.getbbox())
