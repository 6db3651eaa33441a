"""Animated renditions: every frame (up to max_frames) scaled and re-encoded as animated WebP."""

from __future__ import annotations

import io

from PIL import Image, ImageFile, ImageSequence

from handler.imaging.geometry import oriented, scaled_size, shaped
from handler.imaging.limits import Limits
from handler.imaging.results import Rendition
from handler.renditions import RenditionSpec


def render_animation(
    image: ImageFile.ImageFile, spec: RenditionSpec, original_size: tuple[int, int], orientation: int, limits: Limits
) -> Rendition:
    """An animated WebP rendition of every frame of `image`, sharing one crop window."""
    frames, durations = [], []
    for index, frame in enumerate(ImageSequence.Iterator(image)):
        if index >= spec.max_frames:
            break
        limits.check_time(f"decoding frame {index + 1}")
        durations.append(int(frame.info.get("duration", 100)))
        picture = oriented(frame.convert("RGBA"), orientation)
        picture = picture.resize(scaled_size(original_size, spec), Image.Resampling.LANCZOS)
        # Frames share one crop window: a per-frame smart crop would make the picture jump.
        frames.append(shaped(picture, spec, "center"))
    buffer = io.BytesIO()
    # A GIF without a loop count (no NETSCAPE extension) plays once; WebP's loop 0 would repeat it forever.
    loop = int(image.info.get("loop", 1))
    frames[0].save(buffer, "WEBP", append_images=frames[1:], duration=durations, loop=loop, quality=spec.quality)
    fmt = image.format or "unknown"
    return Rendition(spec, buffer.getvalue(), "webp", fmt, original_size, frames[0].size, len(frames))
