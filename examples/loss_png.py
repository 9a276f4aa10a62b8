"""A loss curve as a PNG with no plotting library: a white canvas, axes, and the curve drawn in blue, written
with zlib (PNG is a zlib stream of scanlines in a few checksummed chunks)."""
import struct
import zlib

import numpy as np


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def write_png(path, rgb):
    """rgb: uint8 array [height, width, 3]."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))  # filter type 0 per scanline
    png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def _line(img, x0, y0, x1, y1, color):
    n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.linspace(x0, x1, n).round().astype(int)
    ys = np.linspace(y0, y1, n).round().astype(int)
    ok = (xs >= 0) & (xs < img.shape[1]) & (ys >= 0) & (ys < img.shape[0])
    img[ys[ok], xs[ok]] = color
    img[np.clip(ys[ok] + 1, 0, img.shape[0] - 1), xs[ok]] = color  # two pixels thick


def loss_curve(path, losses, width=640, height=360, margin=40):
    """Plots losses (log-scaled y when they span more than a factor of 10) and writes a PNG."""
    img = np.full((height, width, 3), 255, np.uint8)
    v = np.asarray(losses, np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        write_png(path, img)
        return
    log = v.min() > 0 and v.max() / v.min() > 10
    y = np.log(v) if log else v
    lo, hi = float(y.min()), float(y.max())
    span = hi - lo or 1.0
    px = margin + np.arange(len(y)) * (width - 2 * margin) / max(1, len(y) - 1)
    py = height - margin - (y - lo) / span * (height - 2 * margin)
    grey = (90, 90, 90)
    _line(img, margin, height - margin, width - margin, height - margin, grey)  # x axis
    _line(img, margin, margin, margin, height - margin, grey)                   # y axis
    for i in range(1, len(y)):
        _line(img, px[i - 1], py[i - 1], px[i], py[i], (31, 119, 180))
    write_png(path, img)
