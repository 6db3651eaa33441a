"""Watermarks: a text or image stamp laid over a finished rendition."""

from __future__ import annotations

import io
from collections.abc import Mapping

from PIL import Image, ImageDraw, ImageFont

from handler.imaging.decode import ALLOWED_FORMATS
from handler.renditions import Watermark


def watermarked(picture: Image.Image, mark: Watermark, watermarks: Mapping[str, bytes]) -> Image.Image:
    """Lay `mark` over `picture` at its corner, `margin` and `scale` relative to the picture's width."""
    width = max(1, round(picture.width * mark.scale))
    stamp = _text_stamp(mark.text, width) if mark.text else _image_stamp(mark, watermarks, width)
    stamp.putalpha(stamp.getchannel("A").point(lambda alpha: round(alpha * mark.opacity)))
    margin = round(picture.width * mark.margin)
    free_x, free_y = picture.width - stamp.width, picture.height - stamp.height
    x = {"left": margin, "right": free_x - margin}.get(mark.position.rpartition("-")[2], free_x // 2)
    y = {"top": margin, "bottom": free_y - margin}.get(mark.position.partition("-")[0], free_y // 2)
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
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
    probe = ImageFont.load_default(size=100)
    left, _, right, _ = probe.getbbox(text)
    font = ImageFont.load_default(size=max(6, round(100 * width / max(1, right - left))))
    stroke = max(1, round(font.size / 16)) if isinstance(font, ImageFont.FreeTypeFont) else 1
    left, top, right, bottom = (round(edge) for edge in font.getbbox(text, stroke_width=stroke))
    stamp = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)), (0, 0, 0, 0))
    ImageDraw.Draw(stamp).text(
        (-left, -top), text, font=font, fill=(255, 255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0, 255)
    )
    return stamp
