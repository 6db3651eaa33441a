"""Opening an upload: format allow-list, header errors and orientation, before any pixel is decoded."""

from __future__ import annotations

import io
import warnings

from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from handler.imaging.errors import CorruptImage, NotAnImage, TooLarge

# Registering just these decoders keeps Image.open from importing all of Pillow's plugins on first use.
_DECODERS = (BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, WebPImagePlugin)

# Decided by content: Image.open never tries any other decoder (PSD, EPS, PDF, ICO, ...).
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")
_ORIENTATION_TAG = 0x0112


def open_image(data: bytes) -> ImageFile.ImageFile:
    """Read the header of `data` (no pixels yet); raises NotAnImage, CorruptImage or TooLarge."""
    if not data:
        raise NotAnImage("the object is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit is checked right after; Pillow's warning would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as error:
        raise TooLarge(f"decompression bomb refused: {error}") from error
    except UnidentifiedImageError as error:
        allowed = ", ".join(ALLOWED_FORMATS)
        raise NotAnImage(f"content is not a supported image ({allowed})") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptImage(f"cannot read image header: {error}") from error


def orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8) of `image`; 1 when absent or unreadable."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not lose the image; it just is not rotated
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
