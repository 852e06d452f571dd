"""The X server's own picture of the screen as a PNG, in plain Python (Debian's Blender
3.4 has no numpy), for the window tests' screenshots.

Xvfb started with `-fbdir DIR` keeps its framebuffer in DIR/Xvfb_screen0 as an XWD
image. Copying that file takes a screenshot without an operator: Blender 3.4's
`screen.screenshot`, called under a context override from a driver's timer, has crashed
while the add-on's network thread ran (fist_and_ball/live/quiet_threads.py). Only the
format Xvfb writes is read: ZPixmap, 32 bits per pixel, true colour with 8-bit red,
green and blue masks.
"""

from __future__ import annotations

import struct
import zlib

FRAMEBUFFER = "Xvfb_screen0"
"""The file name of screen 0's framebuffer in Xvfb's -fbdir folder."""

_HEADER = struct.Struct(">25I")
_COLOUR_ITEM = 12  # bytes per colormap entry after the header


class XwdError(ValueError):
    """The file is not an XWD image of the kind Xvfb writes."""


def xwd_to_png(xwd: bytes, width: int = 0, height: int = 0) -> bytes:
    """The XWD image `xwd` as a PNG (RGB), cropped to its top-left `width` x `height`
    when given (a window smaller than the screen)."""
    if len(xwd) < _HEADER.size:
        raise XwdError(f"{len(xwd)} bytes is too short for an XWD header")
    h = _HEADER.unpack_from(xwd)
    header_size, fmt, img_w, img_h, byte_order, bpp, stride = (
        h[0], h[2], h[4], h[5], h[7], h[11], h[12]
    )  # fmt: skip
    masks, ncolours = h[14:17], h[19]
    if fmt != 2 or bpp != 32 or set(masks) != {0xFF0000, 0xFF00, 0xFF}:
        raise XwdError(f"unsupported XWD: format {fmt}, {bpp} bits per pixel, masks {masks}")
    width, height = width or img_w, height or img_h
    if width > img_w or height > img_h:
        raise XwdError(f"{width}x{height} is larger than the {img_w}x{img_h} screen")
    start = header_size + ncolours * _COLOUR_ITEM
    if len(xwd) < start + stride * img_h:
        raise XwdError(f"{len(xwd)} bytes is too short for {img_w}x{img_h} pixels")
    # each channel's byte offset within a pixel, from its mask and the byte order
    offset = {0xFF0000: 2, 0xFF00: 1, 0xFF: 0}
    if byte_order == 1:  # MSBFirst: the same masks sit at the other end of the word
        offset = {m: 3 - o for m, o in offset.items()}
    r_at, g_at, b_at = offset[masks[0]], offset[masks[1]], offset[masks[2]]
    rows = []
    for y in range(height):
        px = xwd[start + y * stride : start + y * stride + 4 * width]
        rgb = bytearray(3 * width)
        rgb[0::3], rgb[1::3], rgb[2::3] = px[r_at::4], px[g_at::4], px[b_at::4]
        rows.append(b"\x00" + bytes(rgb))  # filter type 0 per scanline
    return _png(width, height, b"".join(rows))


def _png(width: int, height: int, scanlines: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(scanlines, 6))
        + chunk(b"IEND", b"")
    )
