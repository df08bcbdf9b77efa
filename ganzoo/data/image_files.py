"""The one image-file reader of ganzoo, for training data and evaluation sets alike.

It says which files are images (`is_image_name`: a known extension, not hidden), reads an image's
size from its header without decoding it (`image_size`), decodes with Pillow to uint8 RGB
(`decode_image`), and reads image folders and tar files (`list_images`, `iter_images`,
`iter_image_batches`) in sorted name order, or a seeded random subset of them
(`select_images`). Training (ganzoo.data.sources) and evaluation (ganzoo.metrics) both use it, so
both see the same files and the same pixels.

Problems (a missing path, a truncated tar, a corrupt image, an image too large to decode in the
memory allowed) raise `DataError`, naming the file and the fix.
"""
import contextlib
import io
import lzma
import os
import pathlib
import tarfile
import zlib

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
# Evaluation batches are cut short once their decoded pixels pass this many bytes, so a set of
# very large images cannot make one batch of `batch_size` images exhaust the memory.
MAX_BATCH_BYTES = 256 * 1024**2
_TAR_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


class DataError(ValueError):
    """A data set that cannot be read or trained on; the message names the problem and the fix."""


def is_image_name(name):
    """True for a file name with an image extension whose path has no hidden part (".x")."""
    parts = pathlib.PurePosixPath(str(name).replace(os.sep, "/")).parts
    if not parts or any(p.startswith(".") and p not in (".", "..") for p in parts):
        return False
    return parts[-1].lower().endswith(IMAGE_EXTENSIONS)


def _corrupt(name, error):
    return DataError(
        f"{name} cannot be decoded as an image ({type(error).__name__}: {error}). The file is "
        "corrupt or not an image: replace or delete it."
    )


def _open(data):
    from PIL import Image

    if isinstance(data, (str, os.PathLike)):
        return Image.open(os.fspath(data))
    return Image.open(io.BytesIO(bytes(data)))


@contextlib.contextmanager
def _reading(name):
    """Any failure to read image `name` as one DataError naming the file and the cause."""
    try:
        yield
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{name} does not exist (it was listed a moment ago: moved or deleted?)")
    except Exception as error:  # Pillow raises many types for a bad file
        raise _corrupt(name, error) from None


def image_size(data, name="image"):
    """(width, height) from the image's header, without decoding its pixels."""
    with _reading(name), _open(data) as image:
        return tuple(int(v) for v in image.size)


def decoded_nbytes(size):
    """Bytes of a (width, height) image decoded to uint8 RGB."""
    return int(size[0]) * int(size[1]) * 3


def decode_image(data, name="image", max_bytes=None):
    """Encoded image bytes (or a file path) -> uint8 (H, W, 3) array, decoded with Pillow.

    The size in the header is checked against `max_bytes` (decoded uint8 RGB) *before* the
    pixels are decoded. An already decoded uint8 array (a tfds image of a mixed-size data set)
    is returned as it is.
    """
    if isinstance(data, np.ndarray):
        return data
    with _reading(name), _open(data) as image:
        width, height = image.size
        if max_bytes is not None and decoded_nbytes((width, height)) > max_bytes:
            raise DataError(
                f"{name} is {width}x{height}: {decoded_nbytes((width, height)):,} bytes "
                f"decoded, more than the {int(max_bytes):,} bytes allowed. Downscale the "
                "images first (or raise the memory limit)."
            )
        image.load()
        if image.mode != "RGB":
            image = image.convert("RGB")
        array = np.asarray(image, dtype=np.uint8)
    if array.shape != (height, width, 3):
        raise DataError(f"{name} decoded to shape {array.shape}, not its header's {width}x{height}")
    return array


def is_tar(path):
    path = pathlib.Path(path)
    try:
        return path.is_file() and tarfile.is_tarfile(path)
    except OSError:
        return False


def tar_error(path, error):
    return DataError(
        f"{path} is not a readable tar file ({type(error).__name__}: {error}): it is truncated or "
        "corrupt. Copy it again and compare its sha256 with the one published beside it."
    )


def iter_tar_images(path, wanted=None):
    """Yield (member name, bytes) of the image members of a tar, in archive order, streaming."""
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if member.isfile() and is_image_name(member.name) and (
                        wanted is None or member.name in wanted):
                    yield member.name, archive.extractfile(member).read()
    except _TAR_ERRORS as error:
        raise tar_error(path, error) from None


def list_images(path):
    """Sorted image names in a folder (relative paths, recursive) or a tar (member names)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise DataError(f"no such image folder or tar file: {path}")
    if path.is_dir():
        names = []
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for filename in files:
                relative = pathlib.Path(root, filename).relative_to(path).as_posix()
                if is_image_name(relative):
                    names.append(relative)
    elif is_tar(path):
        try:
            with tarfile.open(path, "r:*") as archive:
                names = [m.name for m in archive.getmembers()
                         if m.isfile() and is_image_name(m.name)]
        except _TAR_ERRORS as error:
            raise tar_error(path, error) from None
    else:
        raise DataError(f"{path} is neither an image folder nor a tar of images")
    if not names:
        raise DataError(f"{path} holds no images (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return sorted(set(names))


def subset_indices(total, limit, seed=0):
    """Sorted indices of a seeded random subset of `limit` of `total` items (all if limit is
    None or >= total): numpy.random.default_rng(seed).choice(total, limit, replace=False)."""
    total = int(total)
    if limit is None or int(limit) >= total:
        return np.arange(total)
    limit = int(limit)
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    return np.sort(np.random.default_rng(int(seed)).choice(total, size=limit, replace=False))


def subset_protocol(total, limit, seed):
    """How a subset was drawn, for records of a result's protocol."""
    if limit is None or int(limit) >= int(total):
        return {"images": int(total), "of": int(total), "subset": "all"}
    return {"images": int(limit), "of": int(total),
            "subset": f"seeded random: numpy default_rng({int(seed)}).choice({int(total)}, "
                      f"{int(limit)}, replace=False), in sorted name order"}


def select_images(path, limit=None, seed=0):
    """(names, total): the sorted names of `path`, or a seeded random subset of `limit` of them.

    A random subset, not the first `limit` names: data sets are often sorted by class, and the
    first N names of CIFAR10 are a handful of classes.
    """
    names = list_images(path)
    chosen = [names[i] for i in subset_indices(len(names), limit, seed)]
    return chosen, len(names)


def iter_images(path, names=None):
    """Yield (name, uint8 HxWx3 array) for `names` (default: all, sorted) in the given order."""
    path = pathlib.Path(path)
    names = list_images(path) if names is None else list(names)
    if path.is_dir():
        for name in names:
            yield name, decode_image(path / name, f"{path}/{name}")
        return
    try:
        with tarfile.open(path, "r:*") as archive:
            wanted = set(names)
            members = {m.name: m for m in archive.getmembers() if m.name in wanted}
            for name in names:
                if name not in members:
                    raise DataError(f"{path} has no member {name}")
                data = archive.extractfile(members[name]).read()
                yield name, decode_image(data, f"{path}:{name}")
    except _TAR_ERRORS as error:
        raise tar_error(path, error) from None


def iter_image_batches(path, batch_size=100, names=None, max_batch_bytes=MAX_BATCH_BYTES):
    """Yield uint8 (n, H, W, 3) batches of at most `batch_size` images (fewer when their pixels
    pass `max_batch_bytes`); every image must have the same size."""
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    batch, shape, nbytes = [], None, 0
    for name, image in iter_images(path, names):
        if shape is None:
            shape = image.shape
        elif image.shape != shape:
            raise DataError(
                f"{name} is {image.shape[1]}x{image.shape[0]} but earlier images are "
                f"{shape[1]}x{shape[0]}: an evaluation set must have one image size"
            )
        batch.append(image)
        nbytes += image.nbytes
        if len(batch) == batch_size or nbytes >= max_batch_bytes:
            yield np.stack(batch)
            batch, nbytes = [], 0
    if batch:
        yield np.stack(batch)


def read_images(path, limit=None, seed=0):
    """The images of `path` (or a seeded random subset of `limit`) as one uint8 array."""
    names, _ = select_images(path, limit, seed)
    return np.concatenate(list(iter_image_batches(path, 1000, names)))
