"""Animated renditions read back frame by frame: count, durations, loop, size, crop and orientation.

GIVEN an animation made here whose frames differ in colour, WHEN rendered as animated WebP, THEN each
output frame shows its source frame's colour, for as long, shaped and turned as the spec asks.
"""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from handler.imaging.animation import render_animation
from handler.imaging.errors import OutOfTime
from handler.imaging.limits import Limits
from handler.renditions import RenditionSpec
from local.samples import encode, photo, quadrants

COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255))


def gif(frames: list[Image.Image], **options: object) -> Image.Image:
    return Image.open(io.BytesIO(encode(frames[0], "GIF", save_all=True, append_images=frames[1:], **options)))


def flat_frames(count: int, size: tuple[int, int] = (40, 20)) -> list[Image.Image]:
    return [Image.new("RGB", size, COLOURS[index % len(COLOURS)]) for index in range(count)]


def played(data: bytes) -> list[tuple[Image.Image, int]]:
    """Each frame of an animated WebP with its duration."""
    out = Image.open(io.BytesIO(data))
    assert out.format == "WEBP"
    frames = []
    for index in range(out.n_frames):
        out.seek(index)
        frames.append((out.convert("RGBA"), out.info["duration"]))
    return frames


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 16) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def upright_quadrants(frame: Image.Image) -> bool:
    """Red, green, blue, yellow clockwise from the top left (read 3 pixels in from each corner)."""
    right, bottom = frame.width - 4, frame.height - 4
    corners = [frame.getpixel(xy)[:3] for xy in ((3, 3), (right, 3), (right, bottom), (3, bottom))]  # type: ignore[index]
    expected = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    return all(near(c, e, 40) for c, e in zip(corners, expected, strict=True))


def anim_spec(**options: object) -> RenditionSpec:
    settings: dict[str, object] = {"name": "a", "width": 20, "height": 20, "format": "webp", "animated": True}
    return RenditionSpec(**{**settings, **options})  # type: ignore[arg-type]


def test_every_frame_keeps_its_colour_and_duration_in_order():
    # GIVEN four coloured 40x20 frames shown 100, 200, 300 and 400 ms, looping 3 times
    source = gif(flat_frames(4), duration=[100, 200, 300, 400], loop=3)
    # WHEN rendered to fit 20x20
    spec = anim_spec()
    result = render_animation(source, spec, (40, 20), 1, Limits())
    frames = played(result.data)
    # THEN the WebP has the four frames at 20x10, in order, for as long, and loops the same
    assert [duration for _, duration in frames] == [100, 200, 300, 400]
    assert all(frame.size == (20, 10) for frame, _ in frames)
    assert [near(frame.getpixel((10, 5))[:3], COLOURS[i]) for i, (frame, _) in enumerate(frames)] == [True] * 4
    assert Image.open(io.BytesIO(result.data)).info["loop"] == 3
    # AND the result describes it
    assert result.spec is spec
    assert (result.format, result.source_format, result.original_size, result.size, result.frames) == (
        "webp",
        "GIF",
        (40, 20),
        (20, 10),
        4,
    )


@pytest.mark.parametrize(("options", "loop"), [({"loop": 0}, 0), ({}, 1)])
def test_animation_repeats_as_often_as_its_source(options, loop):
    # GIVEN a GIF that loops forever, or one without a loop count (browsers play those once)
    source = gif(flat_frames(2), duration=50, **options)
    result = render_animation(source, anim_spec(), (40, 20), 1, Limits())
    # THEN the WebP loops forever (0) or plays once (1)
    assert Image.open(io.BytesIO(result.data)).info["loop"] == loop


def test_frame_without_a_duration_is_shown_for_a_tenth_of_a_second():
    # GIVEN a GIF whose first frame carries no delay at all (no graphic control extension)
    source = gif(flat_frames(2))
    assert "duration" not in source.info
    result = render_animation(source, anim_spec(), (40, 20), 1, Limits())
    assert played(result.data)[0][1] == 100


@pytest.mark.parametrize(("max_frames", "expected"), [(2, 2), (5, 5), (6, 6), (7, 6)])
def test_frames_past_max_frames_are_dropped(max_frames, expected):
    source = gif(flat_frames(6), duration=50, loop=0)
    result = render_animation(source, anim_spec(max_frames=max_frames), (40, 20), 1, Limits())
    frames = played(result.data)
    assert len(frames) == result.frames == expected
    assert near(frames[-1][0].getpixel((10, 5))[:3], COLOURS[expected - 1])


def test_cover_frames_share_the_centre_window():
    # GIVEN frames of red/green/blue/yellow quadrants, 80x40
    source = gif([quadrants(80, 40)] * 2, duration=50, loop=0)
    # WHEN covered to 20x20
    result = render_animation(source, anim_spec(fit="cover"), (80, 40), 1, Limits())
    # THEN each frame is the middle: red top left, green top right, blue bottom right, yellow bottom left
    for frame, _ in played(result.data):
        assert frame.size == (20, 20) == result.size
        assert upright_quadrants(frame)


def test_cover_frames_are_cut_at_the_centre_even_when_the_detail_is_elsewhere():
    # GIVEN flat grey frames with all their detail at the right edge (a still would be cut there)
    frame = Image.new("RGB", (80, 40), (120, 120, 120))
    frame.paste(photo(20, 40), (60, 0))
    source = gif([frame, frame], duration=50, loop=0)
    # WHEN covered to 20x20
    result = render_animation(source, anim_spec(fit="cover"), (80, 40), 1, Limits())
    # THEN every frame shows the flat middle, so the picture does not jump between frames
    for output, _ in played(result.data):
        low, high = output.convert("L").getextrema()
        assert high - low < 16


def test_frames_are_turned_upright():
    # GIVEN quadrants stored turned left, as a camera writes EXIF orientation 6 (40x80 stored, 80x40 upright)
    stored = quadrants(80, 40).transpose(Image.Transpose.ROTATE_90)
    source = gif([stored] * 2, duration=50, loop=0)
    result = render_animation(source, anim_spec(width=40, height=40), (80, 40), 6, Limits())
    frame, _ = played(result.data)[0]
    assert frame.size == (40, 20)
    assert upright_quadrants(frame)


def test_transparent_frames_stay_transparent():
    frame = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    frame.paste((255, 0, 0, 255), (0, 0, 20, 20))
    source = Image.open(io.BytesIO(encode(frame, "WEBP", save_all=True, append_images=[frame], lossless=True)))
    output, _ = played(render_animation(source, anim_spec(), (40, 20), 1, Limits()).data)[0]
    assert output.getpixel((15, 5))[3] == 0 and output.getpixel((4, 5))[3] == 255


def test_see_through_grey_frames_show_the_background_when_padded():
    # GIVEN an animated PNG in grey with alpha: left half fully transparent (and black underneath)
    first = Image.new("LA", (40, 20), (0, 0))
    first.paste((255, 255), (20, 0, 40, 20))
    second = first.copy()
    second.paste((128, 255), (30, 0, 40, 20))
    data = encode(first, "PNG", save_all=True, append_images=[second], duration=50, loop=0)
    source = Image.open(io.BytesIO(data))
    # WHEN padded into a 40x40 box on red
    spec = anim_spec(width=40, height=40, fit="contain", background="#ff0000")
    frames = played(render_animation(source, spec, (40, 20), 1, Limits()).data)
    # THEN the transparent half shows the red background, not the black under it
    for frame, _ in frames:
        assert near(frame.getpixel((5, 20)), (255, 0, 0, 255)) and near(frame.getpixel((5, 2)), (255, 0, 0, 255))
    assert near(frames[0][0].getpixel((35, 20)), (255, 255, 255, 255))


def test_quality_follows_the_spec():
    frames = [quadrants(200, 100).rotate(angle) for angle in (0, 7, 14)]
    source = gif(frames, duration=50, loop=0)
    low = render_animation(source, anim_spec(width=200, height=100, quality=10), (200, 100), 1, Limits())
    high = render_animation(source, anim_spec(width=200, height=100, quality=95), (200, 100), 1, Limits())
    assert len(low.data) < len(high.data)


def test_rendering_stops_at_the_deadline():
    source = gif(flat_frames(3), duration=50, loop=0)
    with pytest.raises(OutOfTime, match="decoding frame 1"):
        render_animation(source, anim_spec(), (40, 20), 1, Limits(deadline=time.monotonic() - 1))
