"""Still WebP decoded by libwebp straight to a reduced size: no full-size RGBA canvas ever exists.

Pillow opens every WebP with libwebp's animation decoder, which allocates full-size RGBA canvases as the
file is opened, and offers neither scaling nor rows. libwebp's own decoder rescales while it decodes
(WebPDecoderConfig.options.use_scaling): lossy rows are decoded, rescaled and dropped, so a lossy WebP
needs a few rows beside the small output; a lossless one keeps its ARGB pixels (4 B/px, LZ77 references
reach back anywhere) but never a canvas. The library is the one Pillow already ships (the libwebp its
`_webp` extension is linked to), called through ctypes with the structures of libwebp's `decode.h`.
Animated WebP, or no usable library, stays on Pillow's path.
"""

from __future__ import annotations

import ctypes
import functools
import io
import math
import struct
from typing import TYPE_CHECKING

from PIL import Image, ImageFile

from handler.imaging.geometry import shrink_factor

if TYPE_CHECKING:
    from PIL._imaging import PixelAccess

# decode.h's WEBP_DECODER_ABI_VERSION (libwebp 1.5 and 1.6): libwebp refuses another major version.
ABI_VERSION = 0x0210
# The engine asks draft() for 1.25x the target (memory.draft_box, the JPEG margin): the target is read
# back from it. The picture is decoded at the integer reduction geometry.reduce would make (>= 2x target),
# or, for lossy pictures from a reduction of SPLIT_FROM on, at half of it and box-reduced by Pillow for the
# other half: libwebp rounds the averaged Y, U and V to 8 bits before converting to RGB, and Pillow's
# averaging of that rounding keeps PSNR within 0.3 dB of decoding whole (80 MP to 800x600: -0.24 dB, against
# -0.50 dB when libwebp reduced by all 6; at a reduction of 2 scaling alone was as good as decoding whole).
# Lossless pictures are ARGB already: rounded once, as Pillow's box rounds.
DRAFT_MARGIN = 1.25
SPLIT_FROM = 4
# WEBP_CSP_MODE values.
MODE_RGB, MODE_RGBA = 0, 1
# Names of the VP8StatusCode values WebPDecode can return for a whole upload (1, out of memory, is MemoryError).
_FAILURES = {3: "bitstream error", 4: "unsupported feature", 7: "truncated"}
_LOSSLESS = 2  # WebPBitstreamFeatures.format
_METADATA = {b"ICCP": "icc_profile", b"EXIF": "exif", b"XMP ": "xmp"}


class Features(ctypes.Structure):
    """WebPBitstreamFeatures."""

    _fields_ = (
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("has_alpha", ctypes.c_int),
        ("has_animation", ctypes.c_int),
        ("format", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    )


class _RGBABuffer(ctypes.Structure):
    _fields_ = (("rgba", ctypes.c_void_p), ("stride", ctypes.c_int), ("size", ctypes.c_size_t))


class _YUVABuffer(ctypes.Structure):
    _fields_ = (
        *((name, ctypes.c_void_p) for name in ("y", "u", "v", "a")),
        *((name, ctypes.c_int) for name in ("y_stride", "u_stride", "v_stride", "a_stride")),
        *((name, ctypes.c_size_t) for name in ("y_size", "u_size", "v_size", "a_size")),
    )


class _Buffers(ctypes.Union):
    _fields_ = (("RGBA", _RGBABuffer), ("YUVA", _YUVABuffer))


class DecBuffer(ctypes.Structure):
    """WebPDecBuffer."""

    _fields_ = (
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("is_external_memory", ctypes.c_int),
        ("u", _Buffers),
        ("pad", ctypes.c_uint32 * 4),
        ("private_memory", ctypes.c_void_p),
    )


_OPTIONS = (
    "bypass_filtering no_fancy_upsampling use_cropping crop_left crop_top crop_width crop_height use_scaling "
    "scaled_width scaled_height use_threads dithering_strength flip alpha_dithering_strength"
)


class Options(ctypes.Structure):
    """WebPDecoderOptions."""

    _fields_ = (*((name, ctypes.c_int) for name in _OPTIONS.split()), ("pad", ctypes.c_uint32 * 5))


class Config(ctypes.Structure):
    """WebPDecoderConfig."""

    _fields_ = (("input", Features), ("output", DecBuffer), ("options", Options))


@functools.cache
def library() -> ctypes.CDLL | None:
    """Pillow's libwebp with the decode.h this module mirrors, or None (then Pillow's path is used)."""
    try:
        from PIL import _webp

        # dlsym on the extension's handle searches the libraries it is linked to: Pillow's own libwebp.
        webp = ctypes.CDLL(_webp.__file__)
        webp.WebPInitDecoderConfigInternal.argtypes = (ctypes.POINTER(Config), ctypes.c_int)
        webp.WebPGetFeaturesInternal.argtypes = (
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(Features),
            ctypes.c_int,
        )
        webp.WebPDecode.argtypes = (ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Config))
    except (ImportError, OSError, AttributeError):
        return None
    # Both entry points check the ABI version: a libwebp of another major version answers 0 / an error.
    return webp if webp.WebPInitDecoderConfigInternal(Config(), ABI_VERSION) else None


def features(data: bytes) -> Features | None:
    """What libwebp reads from the headers of `data` (no pixels), or None if it is not a WebP it decodes."""
    webp = library()
    found = Features()
    if webp is None or webp.WebPGetFeaturesInternal(data, len(data), found, ABI_VERSION) != 0:
        return None
    return found


def decodes(data: bytes) -> bool:
    """Whether `data` is a still WebP this module decodes (an animation stays with Pillow)."""
    found = features(data)
    return found is not None and not found.has_animation


def scaled_size(size: tuple[int, int], box: tuple[int, int], lossless: bool) -> tuple[int, int]:
    """The size a `size` picture is decoded at when draft() is asked for `box`: at least twice the target."""
    target = (math.floor(box[0] / DRAFT_MARGIN), math.floor(box[1] / DRAFT_MARGIN))  # box >= 2: target >= 1
    factor = max(1, shrink_factor(size, target))
    if factor >= SPLIT_FROM and not lossless:
        factor //= 2
    return math.ceil(size[0] / factor), math.ceil(size[1] / factor)


def decode(data: bytes, size: tuple[int, int], alpha: bool) -> Image.Image:
    """`data` decoded and rescaled by libwebp to `size`: RGBA if `alpha`, RGB otherwise.

    Raises MemoryError when libwebp runs out of memory (the fail-safe), OSError for a broken bitstream.
    """
    webp = library()
    assert webp is not None
    config = Config()  # zeroed, as WebPInitDecoderConfig leaves it (library() checked the ABI version)
    mode, colorspace = ("RGBA", MODE_RGBA) if alpha else ("RGB", MODE_RGB)
    stride = size[0] * len(mode)
    pixels = bytearray(stride * size[1])
    target = (ctypes.c_uint8 * len(pixels)).from_buffer(pixels)
    output = config.output
    output.colorspace, output.is_external_memory = colorspace, True
    output.u.RGBA.rgba, output.u.RGBA.stride, output.u.RGBA.size = ctypes.addressof(target), stride, len(pixels)
    webp.WebPGetFeaturesInternal(data, len(data), config.input, ABI_VERSION)  # WebPDecode checks them again
    # Unscaled, lossless pixels stay exact: the rescaler premultiplies alpha, dropping hidden colours.
    config.options.use_scaling = size != (config.input.width, config.input.height)
    config.options.scaled_width, config.options.scaled_height = size
    # With external memory libwebp allocates no output of its own: WebPFreeDecBuffer would have nothing to free.
    status = webp.WebPDecode(data, len(data), config)
    del target  # releases the buffer for Pillow
    if status == 1:
        raise MemoryError  # render_all names the upload and the memory size
    if status:
        raise OSError(f"libwebp cannot decode this WebP: {_FAILURES.get(status, f'status {status}')}")
    return Image.frombuffer(mode, size, pixels)  # raw, top-down: RGBA is mapped, RGB copied to Pillow's RGBX


def metadata(data: bytes) -> dict[str, bytes]:
    """The ICC profile, EXIF and XMP chunks of an extended (VP8X) WebP, keyed as Pillow's info keys them."""
    found = {}
    position = 12
    while position + 8 <= len(data):
        kind, length = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        if kind in _METADATA:
            found[_METADATA[kind]] = data[position + 8 : position + 8 + length]
        position += 8 + length + length % 2
    return found


class WebPStill(ImageFile.ImageFile):
    """A still WebP, opened from its headers alone; draft() sets the size libwebp decodes it at."""

    format = "WEBP"
    format_description = "WebP image"
    lossless: bool  # the VP8L bitstream: libwebp holds its ARGB pixels while decoding
    alpha_plane: bool  # a lossy picture with an ALPH chunk: libwebp decodes the alpha plane whole

    def _open(self) -> None:
        data = self._data()
        found = features(data)
        if found is None or found.has_animation:
            raise SyntaxError("not a still WebP")
        self._size = (found.width, found.height)
        self._mode = "RGBA" if found.has_alpha else "RGB"
        self.lossless = found.format == _LOSSLESS
        self.alpha_plane = bool(found.has_alpha) and not self.lossless
        self.info.update(metadata(data))

    def _data(self) -> bytes:
        assert isinstance(self.fp, io.BytesIO)  # open_image hands the upload over as a BytesIO
        return self.fp.getvalue()

    def draft(self, mode: str | None, size: tuple[int, int] | None) -> None:
        """Decode at the reduction scaled_size chooses for the target `size` was asked for."""
        if size is not None:
            self._size = scaled_size(self.size, size, self.lossless)

    def load(self) -> PixelAccess | None:
        """Decode (once) at the size draft() chose."""
        if self._im is None:
            self.im = decode(self._data(), self.size, self.mode == "RGBA").im
        return super().load()
