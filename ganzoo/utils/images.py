"""Image batches: the one range/shape check, grids and PNG files (Pillow).

`check_images` is the single check of an NHWC image batch against the value range a caller
declares: the FID network (ganzoo.metrics.inception), image grids (`save_grid`) and GAN
training (`check_training_images`) all use it, so a [0, 255] batch given as [0, 1] (or [-1, 1]
images) is refused the same way everywhere, with the conversion that fixes it.
"""
import math

import numpy as np

_RANGES = ((0, 255), (0, 1))


def _range_hint(low, high, expected):
    """The conversion that maps a batch with values in [low, high] into `expected`."""
    if low < 0:
        return ("images in [-1, 1] must be mapped with (x + 1) * 127.5" if expected == (0, 255)
                else "images in [-1, 1] must be mapped with (x + 1) / 2")
    if expected == (0, 1) and high > 1.5:
        return "they look like [0, 255] images: divide by 255"
    return None


def check_images(images, value_range=(0, 255), what="images", channels=(3,)):
    """Validate an NHWC batch; return it as float32 in [0, 255].

    value_range: (0, 255) or (0, 1), what the caller says the values are. uint8 always means
    [0, 255] (refused when (0, 1) is declared). A batch that contradicts the declared range -- a
    [0, 1] batch declared [0, 255] (all values <= 1 with fractions), values above the range,
    negative values ([-1, 1] images) -- is refused, naming the conversion that fixes it.
    channels: the accepted channel counts (the FID network takes 3; grids also take 1).
    """
    value_range = tuple(value_range)
    if value_range not in _RANGES:
        raise ValueError(f"value_range must be (0, 255) or (0, 1), got {value_range}")
    channels = tuple(channels)
    images = np.asarray(images)
    if images.ndim == 3 and images.shape[-1] in (1, 3, 4):
        raise ValueError(
            f"{what} have shape {images.shape}: expected a batch (N, H, W, C); add a batch axis "
            "with images[None]"
        )
    if images.ndim != 4:
        raise ValueError(f"{what} have shape {images.shape}: expected (N, H, W, C) (NHWC)")
    if images.shape[-1] not in channels:
        wanted = " or ".join(str(c) for c in channels)
        if images.shape[1] in channels and images.shape[-1] not in (1, 3, 4):
            raise ValueError(
                f"{what} have shape {images.shape}: this looks like NCHW; NHWC is expected, use "
                "images.transpose(0, 2, 3, 1)"
            )
        hint = ""
        if images.shape[-1] == 1:
            hint = " (grayscale: use np.repeat(images, 3, axis=-1))"
        elif images.shape[-1] == 4:
            hint = " (RGBA: drop alpha with images[..., :3])"
        raise ValueError(
            f"{what} have {images.shape[-1]} channels (shape {images.shape}): expected {wanted}"
            f"{hint}"
        )
    if images.shape[0] == 0 or 0 in images.shape[1:3]:
        raise ValueError(f"{what} are empty (shape {images.shape}): there is nothing to use")
    if images.dtype == np.uint8:
        if value_range != (0, 255):
            raise ValueError(
                f"{what} are uint8 but value_range={value_range}: uint8 means [0, 255]; pass "
                "value_range=(0, 255) or convert with images / 255"
            )
        return images.astype(np.float32)
    return _check_values(images, value_range, what)


def _check_values(images, value_range, what):
    """The value part of `check_images` (any shape): float32 in [0, 255], or ValueError."""
    if images.dtype == np.bool_ or not np.issubdtype(images.dtype, np.number) or np.issubdtype(
            images.dtype, np.complexfloating):
        raise ValueError(f"{what} have dtype {images.dtype}: expected uint8 or floating point")
    images = images.astype(np.float32)
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{what} contain NaN or infinite values")
    low, high = float(images.min()), float(images.max())
    if value_range == (0, 255):
        if low < 0:
            raise ValueError(
                f"{what} have values in [{low:.3g}, {high:.3g}] but [0, 255] was expected; "
                f"{_range_hint(low, high, value_range)}"
            )
        if high > 255.0 + 1e-3:
            raise ValueError(f"{what} have values up to {high:.4g}, above 255")
        if high <= 1.0 and np.any(images != np.round(images)):
            raise ValueError(
                f"{what} look like [0, 1] images (values in [{low:.3g}, {high:.3g}]) but [0, 255] "
                "was expected: multiply by 255, or pass value_range=(0, 1)"
            )
        return images
    if low < 0 or high > 1.0 + 1e-6:
        hint = _range_hint(low, high, value_range) or "clip them to [0, 1]"
        raise ValueError(
            f"{what} have values in [{low:.4g}, {high:.4g}] but [0, 1] was expected; {hint}"
            + (" (or pass value_range=(0, 255))" if high > 1.5 and low >= 0 else "")
        )
    return images * 255.0


def check_training_images(images, what="training images"):
    """A fit() batch: floating point NHWC RGB in [0, 1] (what ganzoo.data.make_dataset yields).

    Integer batches are refused (the fix: images.astype("float32") / 255), as are batches outside
    [0, 1] ([-1, 1] or [0, 255] floats). Returns None; raises ValueError.
    """
    array = np.asarray(images)
    check_training_dtype(array.dtype, what)
    check_images(array, (0, 1), what)


def check_training_dtype(dtype, what="training images"):
    """Refuse a non-float image dtype for training, naming the conversion (static: free)."""
    name = dtype if isinstance(dtype, str) else str(getattr(dtype, "name", dtype))
    if name in ("float16", "bfloat16", "float32", "float64"):
        return
    fix = ("divide by 255: images.astype('float32') / 255"
           if name in ("uint8", "int8", "int16", "int32", "int64", "uint16")
           else "convert them to float32 in [0, 1]")
    raise ValueError(
        f"{what} have dtype {name}: GANs here train on float images in [0, 1] (NHWC); {fix}, or "
        "feed ganzoo.data.make_dataset(...), which yields them."
    )


def to_uint8(images):
    """Images (uint8, or float in [0, 1], any shape) -> uint8 in [0, 255] (rounded).

    Float images are checked to be in [0, 1]: [0, 255] or [-1, 1] floats are refused with the
    conversion that fixes them (they would otherwise turn into a white or half-black image).
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    if images.size == 0:
        raise ValueError(f"images are empty (shape {images.shape}): there is nothing to convert")
    scaled = _check_values(images, (0, 1), "images")
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def make_grid(images, columns=None, padding=2, pad_value=255):
    """Tile (N, H, W, C) images (uint8, or float in [0, 1]) into one uint8 grid."""
    images = np.asarray(images)
    value_range = (0, 255) if images.dtype == np.uint8 else (0, 1)
    images = np.clip(np.rint(check_images(images, value_range, "grid images", channels=(1, 3))),
                     0, 255).astype(np.uint8)
    n, h, w, c = images.shape
    if columns is not None and (isinstance(columns, bool) or int(columns) != columns
                                or int(columns) < 1):
        raise ValueError(f"columns must be a positive integer or None; got {columns!r}")
    columns = int(columns) if columns else int(math.ceil(math.sqrt(n)))
    if isinstance(padding, bool) or int(padding) != padding or padding < 0:
        raise ValueError(f"padding must be a non-negative integer; got {padding!r}")
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
    """Write images (uint8, or float in [0, 1]) as one image grid, atomically; returns the path.

    The format follows the file's suffix (.png is lossless; any suffix Pillow writes works).
    Parent folders are created. A bad batch, an unknown suffix, an output whose parent is a
    file, or a full disk raise an error naming the problem; nothing partial is left at `path`.
    """
    from PIL import Image

    from ganzoo.utils.files import OutputError, atomic_output, check_output_path

    target = check_output_path(path, what="image grid")
    image_format = Image.registered_extensions().get(target.suffix.lower())
    if image_format is None:
        raise OutputError(
            f"image grid {target}: Pillow cannot tell an image format from the suffix "
            f"{target.suffix or '(none)'}; use a .png file name."
        )
    grid = make_grid(images, columns=columns, padding=padding)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    with atomic_output(target, what="image grid") as temp:
        Image.fromarray(grid).save(temp, format=image_format)
    return path
