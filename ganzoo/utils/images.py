"""Image grids and PNG files (Pillow)."""
import math
import os

import numpy as np


def to_uint8(images):
    """Float images in [0, 1] -> uint8 in [0, 255] (rounded, clipped)."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def make_grid(images, columns=None, padding=2, pad_value=255):
    """Tile (N, H, W, C) images into one (rows*H', columns*W', C) uint8 array."""
    images = to_uint8(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"make_grid expects images of shape (N, H, W, 1 or 3); got {images.shape}."
        )
    n, h, w, c = images.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    grid = np.full(
        (rows * (h + padding) + padding, columns * (w + padding) + padding, c),
        pad_value,
        dtype=np.uint8,
    )
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = images[i]
    return grid


def save_grid(images, path, columns=None, padding=2):
    """Write images as one PNG grid; returns the path. Parent folders are created."""
    from PIL import Image

    grid = make_grid(images, columns=columns, padding=padding)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path
