"""tests/xwd_png.py: Xvfb's framebuffer (XWD) as the PNG the window tests look at."""

from __future__ import annotations

import io
import struct

import matplotlib.image as mpimg
import numpy as np
import pytest
from xwd_png import XwdError, xwd_to_png

RNG = np.random.default_rng(7)


def xwd(rgb: np.ndarray, *, msb_first: bool = False, ncolours: int = 4, pad: int = 8) -> bytes:
    """An XWD image as Xvfb writes it (ZPixmap, 32 bits per pixel, true colour), with
    `pad` spare bytes at the end of each row."""
    h, w, _ = rgb.shape
    stride = 4 * w + pad
    name = b"Xvfb test\x00"
    header_size = 100 + len(name)
    fields = [header_size, 7, 2, 24, w, h, 0, int(msb_first), 32, int(msb_first), 32, 32,
              stride, 4, 0xFF0000, 0xFF00, 0xFF, 8, 256, ncolours, w, h, 0, 0, 0]  # fmt: skip
    words = (
        (rgb[..., 0].astype(np.uint32) << 16)
        | (rgb[..., 1].astype(np.uint32) << 8)
        | rgb[..., 2].astype(np.uint32)
    )
    body = words.astype(">u4" if msb_first else "<u4").tobytes()
    rows = b"".join(body[y * 4 * w : (y + 1) * 4 * w] + b"\xee" * pad for y in range(h))
    return struct.pack(">25I", *fields) + name + b"\x00" * 12 * ncolours + rows


def read_png(data: bytes) -> np.ndarray:
    return np.asarray(mpimg.imread(io.BytesIO(data), format="png") * 255).round().astype(np.uint8)


@pytest.mark.parametrize("msb_first", [False, True])
def test_every_pixel_keeps_its_colour(msb_first: bool) -> None:
    rgb = RNG.integers(0, 256, size=(13, 21, 3), dtype=np.uint8)
    out = read_png(xwd_to_png(xwd(rgb, msb_first=msb_first)))
    assert out.shape == (13, 21, 3)
    np.testing.assert_array_equal(out, rgb)


def test_a_window_smaller_than_the_screen_is_cropped_from_the_top_left() -> None:
    rgb = RNG.integers(0, 256, size=(10, 16, 3), dtype=np.uint8)
    out = read_png(xwd_to_png(xwd(rgb), width=9, height=4))
    np.testing.assert_array_equal(out, rgb[:4, :9])


def test_what_it_cannot_read_is_refused_with_the_reason() -> None:
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    good = xwd(rgb)
    with pytest.raises(XwdError, match="too short for an XWD header"):
        xwd_to_png(good[:50])
    with pytest.raises(XwdError, match="too short for 4x4 pixels"):
        xwd_to_png(good[:-20])
    with pytest.raises(XwdError, match="larger than the 4x4 screen"):
        xwd_to_png(good, width=5, height=4)
    eight_bit = bytearray(good)
    struct.pack_into(">I", eight_bit, 44, 8)  # bits per pixel
    with pytest.raises(XwdError, match="8 bits per pixel"):
        xwd_to_png(bytes(eight_bit))
