"""Geometry on small pictures made here: sizes worked out by hand, positions read back from the pixels.

GIVEN a picture whose content shows where each part came from (coloured quadrants, one busy patch),
WHEN fitted, turned, shrunk, cropped or padded, THEN the size and the pixels say it happened right.
"""

from __future__ import annotations

import random
import time

import pytest
from PIL import Image, ImageChops

from handler.imaging import geometry
from handler.imaging.colour import reducible
from handler.imaging.errors import OutOfTime
from handler.imaging.limits import Limits
from handler.renditions import RenditionSpec
from local.samples import photo, quadrants

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
GREY = (120, 120, 120)


def corners(image: Image.Image) -> tuple[object, ...]:
    """Top left, top right, bottom right, bottom left (clockwise)."""
    right, bottom = image.width - 1, image.height - 1
    return tuple(image.getpixel(xy) for xy in ((0, 0), (right, 0), (right, bottom), (0, bottom)))


def busy_patch(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """Flat grey with a noisy patch at `box`: the only detail in the picture."""
    image = Image.new("RGB", size, GREY)
    image.paste(photo(box[2] - box[0], box[3] - box[1]), box[:2])
    return image


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((4000, 3000), (800, 600), (800, 600)),
        ((3000, 4000), (800, 600), (450, 600)),  # the height decides
        ((1000, 100), (800, 600), (800, 80)),  # the width decides
        ((400, 300), (800, 600), (400, 300)),  # never enlarged unless asked
        ((10000, 1), (800, 600), (800, 1)),  # never zero
        ((1, 10000), (800, 600), (1, 600)),
    ],
)
def test_fit_inside_is_the_largest_size_within_the_box(size, box, expected):
    assert geometry.fit_inside(size, box) == expected


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((1000, 500), (300, 300), (600, 300)),  # the height decides
        ((500, 1000), (300, 400), (300, 600)),  # the width decides
        ((400, 300), (800, 800), (400, 300)),  # never enlarged unless asked
        ((100, 100), (1, 1), (1, 1)),
    ],
)
def test_fit_cover_is_the_smallest_size_covering_the_box(size, box, expected):
    assert geometry.fit_cover(size, box) == expected


def test_fits_enlarge_when_asked():
    assert geometry.fit_inside((400, 300), (800, 800), upscale=True) == (800, 600)
    assert geometry.fit_cover((400, 300), (800, 800), upscale=True) == (1067, 800)


@pytest.mark.parametrize(
    ("fit", "expected"),
    [("inside", (300, 150)), ("contain", (300, 150)), ("cover", (600, 300))],
)
def test_scaled_size_follows_the_spec_fit(fit, expected):
    spec = RenditionSpec(name="s", width=300, height=300, fit=fit)
    assert geometry.scaled_size((1000, 500), spec) == expected


def test_scaled_size_enlarges_only_when_the_spec_says_so():
    small = (100, 50)
    assert geometry.scaled_size(small, RenditionSpec(name="s", width=300, height=300)) == (100, 50)
    assert geometry.scaled_size(small, RenditionSpec(name="s", width=300, height=300, upscale=True)) == (300, 150)


def test_area_is_width_times_height():
    assert geometry.area((30, 7)) == 210


# The corners, clockwise from top left, of a picture stored for each EXIF orientation whose upright view
# is red, green, blue, yellow.
STORED_CORNERS = {
    1: (RED, GREEN, BLUE, YELLOW),
    2: (GREEN, RED, YELLOW, BLUE),  # mirrored left-right
    3: (BLUE, YELLOW, RED, GREEN),  # upside down
    4: (YELLOW, BLUE, GREEN, RED),  # mirrored top-bottom
    5: (RED, YELLOW, BLUE, GREEN),  # mirrored along the main diagonal
    6: (GREEN, BLUE, YELLOW, RED),  # stored turned left: turned 90 degrees clockwise to be upright
    7: (BLUE, GREEN, RED, YELLOW),  # mirrored along the other diagonal
    8: (YELLOW, RED, GREEN, BLUE),  # stored turned right
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_oriented_turns_a_stored_picture_upright(orientation):
    # GIVEN the quadrants as a camera stores them for this orientation (built by hand from the corners)
    stored_corners = STORED_CORNERS[orientation]
    swapped = orientation in (5, 6, 7, 8)
    stored = Image.new("RGB", (2, 4) if swapped else (4, 2))
    right, bottom = stored.width - 1, stored.height - 1
    for colour, (x, y) in zip(stored_corners, ((0, 0), (right, 0), (right, bottom), (0, bottom)), strict=True):
        stored.paste(colour, (x, y, x + 1, y + 1))
    # WHEN turned upright
    upright = geometry.oriented(stored, orientation)
    # THEN it is landscape with red, green, blue, yellow clockwise from the top left
    assert upright.size == (4, 2)
    assert corners(upright) == (RED, GREEN, BLUE, YELLOW)
    assert geometry.swaps_axes(orientation) == swapped


@pytest.mark.parametrize("orientation", [0, 9])
def test_unknown_orientation_leaves_the_picture_as_it_is(orientation):
    picture = quadrants(4, 2)
    assert geometry.oriented(picture, orientation) is picture
    assert not geometry.swaps_axes(orientation)


@pytest.mark.parametrize(
    ("size", "target", "expected"),
    [
        ((4000, 3000), (800, 600), 2),
        ((8000, 6000), (800, 600), 5),
        ((16000, 3000), (800, 600), 2),  # the tighter axis decides
        ((3000, 16000), (600, 800), 2),
        ((1599, 1200), (800, 600), 0),  # less than twice the target: no shrink
    ],
)
def test_shrink_factor_keeps_at_least_twice_the_target(size, target, expected):
    assert geometry.shrink_factor(size, target) == expected


def striped(width: int, height: int) -> Image.Image:
    """Horizontal bands of changing colour: a strip pasted at the wrong row shows."""
    image = Image.new("RGB", (width, height))
    for top in range(0, height, 7):
        image.paste(((top * 3) % 256, (top * 5) % 256, (top * 11) % 256), (0, top, width, top + 7))
    return image


@pytest.mark.parametrize(
    ("size", "target", "factor"),
    [((40, 3000), (5, 300), 4), ((41, 1303), (10, 300), 2), ((600, 1500), (1, 1), 300)],  # 300: one strip each
)
def test_reduce_in_strips_matches_one_whole_box_reduction(size, target, factor):
    # GIVEN a tall striped picture, several strips high
    picture = striped(*size)
    heights = []

    def widen(strip: Image.Image) -> Image.Image:
        heights.append(strip.height)
        return strip

    # WHEN shrunk strip by strip
    reduced = geometry.reduce(picture, target, widen, Limits())
    # THEN it equals Pillow's reduction of the whole picture (sizes rounded up), made from bounded strips
    reference = picture.reduce(factor)
    assert reduced.size == reference.size == (-(-size[0] // factor), -(-size[1] // factor))
    assert not ImageChops.difference(reduced, reference).getbbox()
    assert sum(heights) == size[1] and len(heights) > 1
    assert max(heights) <= 512 and all(height % factor == 0 for height in heights[:-1])


def test_reduce_premultiplies_alpha_so_transparent_colour_does_not_bleed():
    # GIVEN opaque white beside transparent black, shrunk 4 times
    picture = Image.new("RGBA", (64, 8), (0, 0, 0, 0))
    picture.paste((255, 255, 255, 255), (0, 0, 30, 8))
    reduced = geometry.reduce(picture, (8, 1), reducible, Limits())
    # THEN the shrunk picture carries premultiplied alpha and the mixed column is still white once straight
    assert reduced.mode == "RGBa" and reduced.size == (16, 2)
    edge = reduced.convert("RGBA").getpixel((7, 0))
    assert edge[:3] == (255, 255, 255) and 0 < edge[3] < 255


@pytest.mark.parametrize(("mode", "expected"), [("RGBA", "RGBa"), ("LA", "La"), ("RGB", "RGB"), ("P", "RGB")])
def test_reduce_without_shrinking_still_widens_and_premultiplies(mode, expected):
    picture = quadrants(30, 20).convert(mode)
    reduced = geometry.reduce(picture, (15, 10), reducible, Limits())  # less than twice: no shrink
    assert (reduced.mode, reduced.size) == (expected, (30, 20))


def test_reduce_widens_each_strip_before_reducing():
    # GIVEN a palette picture, which Image.reduce refuses, shrunk 2 times
    picture = quadrants(40, 40).convert("P")
    reduced = geometry.reduce(picture, (10, 10), reducible, Limits())
    assert (reduced.mode, reduced.size) == ("RGB", (20, 20))
    assert corners(reduced) == (RED, GREEN, BLUE, YELLOW)


def test_strips_that_end_early_are_a_decoding_error():
    strips = [Image.new("RGB", (8, 4)), Image.new("RGB", (8, 4))]
    with pytest.raises(OSError, match="image data ends after 8 of 12 rows"):
        geometry.reduce_strips(strips, (8, 12), 2, reducible, Limits())
    with pytest.raises(OSError, match="image data ends after 0 of 12 rows"):
        geometry.reduce_strips([], (8, 12), 2, reducible, Limits())


def test_shrinking_stops_at_the_deadline():
    with pytest.raises(OutOfTime, match=r"^ran out of time while shrinking: "):
        geometry.reduce(striped(8, 2000), (2, 100), reducible, Limits(deadline=time.monotonic() - 1))


def spec(fit: str, width: int, height: int, **options: object) -> RenditionSpec:
    return RenditionSpec(name="g", width=width, height=height, fit=fit, **options)  # type: ignore[arg-type]


def columns(width: int, height: int, axis: int = 0) -> Image.Image:
    """Grey level 3 * n in column n (axis 0) or row n (axis 1): a cut's first pixel tells where it starts."""
    ramp = Image.new("L", (width, 1) if axis == 0 else (1, height))
    ramp.putdata([3 * n for n in range(ramp.width * ramp.height)])
    return ramp.resize((width, height))


@pytest.mark.parametrize(("length", "start"), [(60, 20), (23, 1)])  # an odd pixel left over goes after
def test_centre_crop_cuts_the_middle(length, start):
    across = geometry.shaped(columns(length, 20), spec("cover", 20, 20), "center")
    down = geometry.shaped(columns(20, length, axis=1), spec("cover", 20, 20), "center")
    assert across.size == down.size == (20, 20)
    assert across.getpixel((0, 0)) == down.getpixel((0, 0)) == 3 * start


def test_centre_crop_ignores_where_the_detail_is():
    picture = busy_patch((1000, 300), (700, 0, 1000, 300))
    assert geometry.shaped(picture, spec("cover", 300, 300), "center").getpixel((150, 150)) == GREY


def equally_bright(size: tuple[int, int], axis: int) -> Image.Image:
    """Thirds in red, green and blue of the same brightness (Pillow's L = 0.299 R + 0.587 G + 0.114 B)."""
    image = Image.new("RGB", size, (0, 0, 200))  # L 22.8
    third = size[axis] // 3
    image.paste((76, 0, 0), (0, 0, third, size[1]) if axis == 0 else (0, 0, size[0], third))  # L 22.7
    image.paste((0, 39, 0), (third, 0, 2 * third, size[1]) if axis == 0 else (0, third, size[0], 2 * third))  # 22.9
    return image


@pytest.mark.parametrize(("size", "window", "axis"), [((768, 300), (252, 200), 0), ((300, 768), (200, 252), 1)])
def test_entropy_crop_of_a_picture_without_detail_is_the_middle(size, window, axis):
    # GIVEN thirds of different colours but the same brightness: no detail anywhere in grey
    picture = equally_bright(size, axis)
    # WHEN cut by entropy to a window a little narrower than a third (and shorter the other way)
    cut = geometry.shaped(picture, spec("cover", *window), "entropy")
    # THEN the middle third is kept, all green
    assert cut.getcolors() == [(window[0] * window[1], (0, 39, 0))]


@pytest.mark.parametrize(
    ("size", "patch", "window", "expected"),
    [
        ((1000, 300), (700, 0, 1000, 300), (333, 300), (667, 0, 1000, 300)),  # busy on the right
        ((1000, 300), (0, 0, 300, 300), (333, 300), (0, 0, 333, 300)),  # busy on the left
        ((300, 1000), (0, 700, 300, 1000), (300, 333), (0, 667, 300, 1000)),  # busy at the bottom
        ((300, 1000), (0, 0, 300, 300), (300, 333), (0, 0, 300, 333)),  # busy at the top
        ((100, 40), (70, 0, 100, 40), (40, 40), (60, 0, 100, 40)),  # smaller than the entropy sample
    ],
)
def test_entropy_crop_keeps_the_busy_part_inside_the_picture(size, patch, window, expected):
    # GIVEN a flat picture with detail only in `patch`
    picture = busy_patch(size, patch)
    # WHEN a window is cut by entropy
    cut = geometry.shaped(picture, spec("cover", *window), "entropy")
    # THEN it is the window at that edge: the same pixels as cutting the expected box by hand
    assert cut.size == window
    assert not ImageChops.difference(cut, picture.crop(expected)).getbbox()


def test_entropy_is_judged_over_the_whole_window():
    # GIVEN a small spot of strong noise on the left and a wide area of mild noise on the right
    rng = random.Random(7)
    picture = Image.new("L", (1000, 100), 120)
    picture.paste(Image.frombytes("L", (100, 100), rng.randbytes(100 * 100)), (0, 0))
    mild = bytes(rng.randrange(100, 140) for _ in range(400 * 100))
    picture.paste(Image.frombytes("L", (400, 100), mild), (600, 0))
    # WHEN a window 400 wide is cut by entropy
    cut = geometry.shaped(picture.convert("RGB"), spec("cover", 400, 100), "entropy")
    # THEN it takes the whole mild area, which fills it, not the spot and three quarters of flat grey
    assert not ImageChops.difference(cut, picture.convert("RGB").crop((600, 0, 1000, 100))).getbbox()


def test_entropy_crop_looks_at_both_axes_when_both_have_room():
    # GIVEN a picture larger than the window both ways, busy only in its lower right, below the middle band
    picture = busy_patch((400, 400), (300, 210, 400, 400))
    # WHEN a 100x100 window is cut by entropy (no scaling: the picture was not fitted first)
    cut = geometry.shaped(picture, spec("cover", 100, 100), "entropy")
    # THEN the window is (almost) all detail, where a centred one would be all flat grey
    assert grey_share(cut) < 0.2 and grey_share(picture.crop((150, 150, 250, 250))) == 1


def grey_share(image: Image.Image) -> float:
    return sum(count for count, colour in image.getcolors(image.width * image.height) if colour == GREY) / (
        image.width * image.height
    )


def test_contain_centres_the_picture_on_the_background():
    # GIVEN quadrants 20x10 in a 30x30 box with a red-ish background
    padded = geometry.shaped(quadrants(20, 10), spec("contain", 30, 30, background="#102030"), "entropy")
    # THEN the picture sits in the middle (10 rows above and below, 5 columns either side)
    assert (padded.mode, padded.size) == ("RGB", (30, 30))
    assert corners(padded) == ((16, 32, 48),) * 4
    assert corners(padded.crop((5, 10, 25, 20))) == (RED, GREEN, BLUE, YELLOW)
    assert padded.getpixel((4, 15)) == padded.getpixel((25, 15)) == (16, 32, 48)
    assert padded.getpixel((15, 9)) == padded.getpixel((15, 20)) == (16, 32, 48)


def test_contain_keeps_transparency_over_an_opaque_background():
    # GIVEN a half-transparent red picture, premultiplied as the pipeline keeps it
    picture = Image.new("RGBA", (10, 10), (255, 0, 0, 128)).convert("RGBa")
    padded = geometry.shaped(picture, spec("contain", 20, 10, background="#0000ff"), "entropy")
    # THEN the picture is blended over the background, which stays opaque around it
    assert (padded.mode, padded.size) == ("RGBA", (20, 10))
    assert padded.getpixel((0, 5)) == (0, 0, 255, 255)
    red, green, blue, alpha = padded.getpixel((10, 5))
    assert alpha == 255 and abs(red - 128) <= 2 and green == 0 and abs(blue - 127) <= 2


def test_inside_fit_is_left_as_scaled():
    picture = quadrants(20, 10)
    assert geometry.shaped(picture, spec("inside", 30, 30), "entropy") is picture
