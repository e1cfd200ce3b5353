"""Images written as PNG files, with no imaging library: a grayscale, RGB or RGBA array of
values in [0, 1] (clipped), 8 bits per channel, one zlib-compressed IDAT chunk, written
atomically (:mod:`.atomic_file`). What the examples save (the VAE's latent-plane grid,
feature visualizations); ``fg.utils.save_image`` and ``fg.utils.image_grid``."""
from __future__ import annotations

import struct
import zlib

import numpy as np

from .atomic_file import write_atomically

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (gray, RGB, RGBA)


def png_bytes(image) -> bytes:
    """The PNG file of ``image``: (height, width) or (height, width, 1, 3 or 4) values in
    [0, 1]; ValueError for another shape."""
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in _COLOR_TYPES or 0 in array.shape[:2]:
        raise ValueError(f"an image is (height, width) or (height, width, 1, 3 or 4) with "
                         f"height and width > 0, got shape {np.shape(image)}")
    height, width, channels = array.shape
    pixels = np.round(np.clip(np.nan_to_num(array), 0.0, 1.0) * 255).astype(np.uint8)
    rows = np.concatenate([np.zeros((height, 1), np.uint8),      # filter type 0 per row
                           pixels.reshape(height, width * channels)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def save_image(path: str, image) -> None:
    """Write ``image`` (see :func:`png_bytes`) to ``path`` as a PNG file, atomically."""
    data = png_bytes(image)
    write_atomically(path, lambda f: f.write(data))


def image_grid(images, columns: int, gap: int = 1):
    """``images`` (n, height, width[, channels]) tiled row by row, ``columns`` to a row,
    ``gap`` pixels of zeros between them: one (H, W[, channels]) array."""
    images = np.asarray(images)
    n, height, width = images.shape[:3]
    rows = -(-n // columns)
    shape = (rows * (height + gap) - gap, columns * (width + gap) - gap) + images.shape[3:]
    grid = np.zeros(shape, images.dtype)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * (height + gap):r * (height + gap) + height,
             c * (width + gap):c * (width + gap) + width] = image
    return grid
