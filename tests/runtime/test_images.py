"""runtime/images.py: PNG files written without an imaging library, read back here by
decoding the format by hand (chunks, CRCs, zlib, filter bytes)."""
import struct
import zlib

import numpy as np
import pytest

import fusegraph as fg


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {0: 1, 2: 3, 6: 4}[color]
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, -1)
    assert depth == 8 and not raw[:, 0].any() and b"IEND" in chunks
    return raw[:, 1:].reshape(height, width, channels)


@pytest.mark.parametrize("shape", [(3, 5), (4, 2, 3), (2, 2, 1), (2, 3, 4)])
def test_an_image_reads_back_as_8_bit_values(tmp_path, shape):
    image = np.random.default_rng(0).random(shape)
    image.flat[0], image.flat[1] = -0.5, 1.5                  # clipped
    path = tmp_path / "x.png"
    fg.utils.save_image(str(path), image)
    got = read_png(path)
    want = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8).reshape(got.shape)
    np.testing.assert_array_equal(got, want)


def test_a_grid_tiles_images_row_by_row_with_gaps():
    images = np.arange(5 * 2 * 3).reshape(5, 2, 3)
    grid = fg.utils.image_grid(images, columns=2, gap=1)
    assert grid.shape == (3 * 2 + 2, 2 * 3 + 1)
    np.testing.assert_array_equal(grid[3:5, 4:7], images[3])
    assert not grid[2].any() and not grid[:, 3].any() and not grid[6:, 4:].any()


def test_a_bad_shape_is_refused_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 2\)"):
        fg.utils.save_image(str(tmp_path / "x.png"), np.zeros((2, 2, 2)))
    assert not list(tmp_path.iterdir())
