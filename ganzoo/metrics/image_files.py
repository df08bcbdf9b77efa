"""Read image sets for evaluation: an image folder or a tar of images, in sorted name order.

Deliberately small and self-contained (Pillow + tarfile): the evaluation protocol fixes the
image order (sorted member/file names, so `--limit N` always takes the same N images) and
decodes every image to 8-bit RGB exactly as Pillow does.

    for batch in iter_image_batches("cifar10-jpeg/test.tar", batch_size=100):
        ...  # uint8 (n, 32, 32, 3)
"""
import io
import os
import pathlib
import tarfile

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


def _is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _decode(data, name):
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Exception as error:  # PIL raises many types for a bad file
        raise ValueError(f"cannot decode image {name}: {error}") from error


def is_tar(path):
    path = pathlib.Path(path)
    return path.is_file() and tarfile.is_tarfile(path)


def list_images(path):
    """Sorted image names in a folder (relative paths, recursive) or a tar (member names)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such image folder or tar file: {path}")
    if path.is_dir():
        names = [
            str(pathlib.Path(root, f).relative_to(path))
            for root, _, files in os.walk(path) for f in files if _is_image(f)
        ]
    elif is_tar(path):
        with tarfile.open(path) as archive:
            names = [m.name for m in archive.getmembers() if m.isfile() and _is_image(m.name)]
    else:
        raise ValueError(f"{path} is neither an image folder nor a tar of images")
    if not names:
        raise ValueError(f"{path} holds no images (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return sorted(names)


def count_images(path, limit=None):
    n = len(list_images(path))
    return n if limit is None else min(n, int(limit))


def iter_images(path, limit=None):
    """Yield (name, uint8 HxWx3 array) in sorted name order."""
    path = pathlib.Path(path)
    names = list_images(path)
    if limit is not None:
        names = names[: int(limit)]
    if path.is_dir():
        for name in names:
            with open(path / name, "rb") as handle:
                yield name, _decode(handle.read(), path / name)
        return
    with tarfile.open(path) as archive:
        wanted = set(names)
        members = {m.name: m for m in archive.getmembers() if m.name in wanted}
        for name in names:
            yield name, _decode(archive.extractfile(members[name]).read(), f"{path}:{name}")


def iter_image_batches(path, batch_size=100, limit=None):
    """Yield uint8 (n, H, W, 3) batches; every image must have the same size."""
    batch, shape = [], None
    for name, image in iter_images(path, limit):
        if shape is None:
            shape = image.shape
        elif image.shape != shape:
            raise ValueError(
                f"{name} is {image.shape[1]}x{image.shape[0]} but earlier images are "
                f"{shape[1]}x{shape[0]}: an evaluation set must have one image size"
            )
        batch.append(image)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def read_images(path, limit=None):
    """All images as one uint8 (N, H, W, 3) array."""
    return np.concatenate(list(iter_image_batches(path, 1000, limit)))
