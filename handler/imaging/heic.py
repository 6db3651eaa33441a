"""HEIC/HEIF input through pi-heif (decode-only, LGPL-3.0 wheels; pillow-heif's wheels are GPL because of x265).

Registered lazily, on the first upload with HEIC on, so a function with HEIC off never loads libheif.
"""

from __future__ import annotations

import functools

from handler.imaging.decode import allow_format

HEIF_FORMAT = "HEIF"


@functools.cache
def enable_heic() -> None:
    """Let open_image read HEIC/HEIF: header only at open; pixels are decoded by libheif on load."""
    try:
        import pi_heif  # type: ignore[import-untyped]
    except ImportError:  # an archive built without it: HEIC uploads are then refused as not an image
        return
    # Only the primary image: thumbnails, depth and auxiliary images would be decoded and held for nothing.
    pi_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    allow_format(HEIF_FORMAT)
