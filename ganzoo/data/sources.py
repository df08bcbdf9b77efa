"""Image sources: where the training images come from, checked before any training starts.

Every reader returns an `ImageSource`: the images (decoded to uint8 in memory when they fit in
`memory_limit` bytes -- judged from the image headers before anything is decoded -- otherwise the
encoded files, decoded on the fly by the input pipeline), integer class labels when the data has
classes, and the class names. Files are found and decoded by ganzoo.data.image_files, the one
image reader (Pillow), which evaluation uses too, so that training data and evaluation reference
images agree pixel for pixel (TensorFlow's JPEG decoder differs from Pillow's by a few levels).

Readers:
- `from_tar(paths)`: one or several tar files, read as a stream without extracting to disk; the
  label of an image is the folder it sits in (`train/airplane/0001.jpg` -> `airplane`).
- `from_folder(path)`: `root/label/*.jpg`, `root/*.jpg` (no labels) or, with `split`,
  tfds.ImageFolder's `root/split/label/*.jpg`.
- `from_tfds(name)`: any tensorflow-datasets name (`mnist`, `celeb_a_hq/128`, ...).
- `cifar10(data_dir)`: the CIFAR10 JPEG tars of this project (train.tar, test.tar or the halves).
- `synthetic(n)`: small deterministic labelled images for tests and smoke runs.
- `load_source(dataset, ...)`: the dispatcher used by `ganzoo train`.

Problems (a missing or corrupt file, an empty folder, images of mixed sizes, an unknown name) raise
`DataError` naming the problem and the fix.
"""
import concurrent.futures
import dataclasses
import os
import pathlib
from typing import List, Optional, Sequence, Union

import numpy as np

from ganzoo.data.image_files import (
    IMAGE_EXTENSIONS,
    TAR_SUFFIXES,
    DataError,
    decode_image,
    decoded_nbytes,
    image_size,
    is_image_name,
    iter_tar_images,
)

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
# Images decoded to uint8 are kept in memory up to this many bytes (CIFAR10 train: 150 MB).
DEFAULT_MEMORY_LIMIT = 2 * 1024**3
# Where `--dataset cifar10` looks when no data_dir is given: the shared data folder beside the
# repository checkout (../shared/data relative to the repository root) or the current folder.
CIFAR10_DIR_ENV = "GANZOO_CIFAR10_DIR"


@dataclasses.dataclass
class ImageSource:
    """Images ready for `ganzoo.data.make_dataset`.

    Exactly one of `images` (uint8, (N, H, W, 3)) and `records` (encoded bytes, file paths, or
    uint8 arrays of mixed sizes from tfds) is set. `labels` is int32 (N,) or None. `image_shape` is
    (H, W, 3), or None when the sizes differ (only allowed when the pipeline resizes or crops).
    `crop_or_pad`: the pipeline takes each image's central patch at native resolution instead of
    resizing it (LSUN, as compare_gan reads it; see ganzoo.data.pipeline.central_crop_or_pad).
    """

    name: str
    images: Optional[np.ndarray]
    records: Optional[List[Union[bytes, str]]]
    labels: Optional[np.ndarray]
    class_names: List[str]
    image_shape: Optional[tuple]
    descriptions: Optional[List[str]] = None  # file/member names, for error messages
    crop_or_pad: bool = False

    def __len__(self):
        return len(self.images) if self.images is not None else len(self.records)

    @property
    def num_classes(self):
        return len(self.class_names)


def _workers():
    return min(8, os.cpu_count() or 1)


def _header_sizes(records, descriptions, origin):
    """(width, height) of every record from its header, in parallel, without decoding pixels."""

    def one(i):
        if isinstance(records[i], np.ndarray):
            return records[i].shape[1], records[i].shape[0]
        try:
            return image_size(records[i], descriptions[i])
        except DataError as error:
            raise DataError(f"{error} (in {origin})") from None

    with concurrent.futures.ThreadPoolExecutor(_workers()) as pool:
        return list(pool.map(one, range(len(records)), chunksize=256))


def _decode_into(images, records, descriptions, origin):
    """Decode every record into the preallocated uint8 array `images` (Pillow releases the GIL)."""

    def one(i):
        try:
            images[i] = decode_image(records[i], descriptions[i])
        except DataError as error:
            raise DataError(f"{error} (in {origin})") from None

    with concurrent.futures.ThreadPoolExecutor(_workers()) as pool:
        for _ in pool.map(one, range(len(records)), chunksize=64):
            pass


def _check_decodes(records, descriptions, origin, sizes, budget):
    """Decode every record once to find corrupt files before training, keeping nothing: the
    images decoded at the same time hold at most `budget` bytes (or one image, if larger)."""

    def one(i):
        try:
            decode_image(records[i], descriptions[i])
        except DataError as error:
            raise DataError(f"{error} (in {origin})") from None

    with concurrent.futures.ThreadPoolExecutor(_workers()) as pool:
        chunk, in_flight = [], 0
        for i, size in enumerate(sizes):
            need = decoded_nbytes(size)
            if chunk and (in_flight + need > budget or len(chunk) >= 4 * _workers()):
                list(pool.map(one, chunk))
                chunk, in_flight = [], 0
            chunk.append(i)
            in_flight += need
        list(pool.map(one, chunk))


def _finish(name, records, descriptions, label_names, memory_limit, origin, allow_mixed_sizes):
    """Validate records and decode them into an ImageSource, within `memory_limit`.

    Sizes come from the image headers first (nothing decoded): the images are decoded into one
    preallocated array only when all of them fit in `memory_limit` bytes; otherwise they stay
    encoded (decoded on the fly by the input pipeline) and are only test-decoded, a few at a time.
    """
    if not records:
        raise DataError(
            f"{origin} holds no images (looked for files ending in {', '.join(IMAGE_EXTENSIONS)}). "
            "Point --dataset/--data_dir at a folder or tar with images in it."
        )
    sizes = _header_sizes(records, descriptions, origin)
    shapes = {}
    for desc, (width, height) in zip(descriptions, sizes):
        shapes.setdefault((height, width, 3), desc)
    image_shape = None
    if len(shapes) > 1:
        if not allow_mixed_sizes:
            examples = "; ".join(f"{d}: {s[1]}x{s[0]}" for s, d in list(shapes.items())[:3])
            raise DataError(
                f"{origin} mixes images of {len(shapes)} different sizes ({examples}). "
                "Resize them to one size first, or have each fitted to the model's resolution "
                "as it is read: `ganzoo train --resize` (central crop, then resize) or "
                "`--crop_or_pad` (central patch), with `--resolution N` if the recipe sets none."
            )
    else:
        image_shape = next(iter(shapes))

    classes = sorted(set(label_names)) if label_names is not None else []
    labels = None
    if label_names is not None and len(classes) > 1:
        index = {c: i for i, c in enumerate(classes)}
        labels = np.asarray([index[c] for c in label_names], dtype=np.int32)
    else:
        classes = []

    nbytes = sum(decoded_nbytes(size) for size in sizes)
    if image_shape is not None and nbytes <= memory_limit:
        images = np.empty((len(records),) + image_shape, dtype=np.uint8)
        _decode_into(images, records, descriptions, origin)
        return ImageSource(name, images, None, labels, classes, image_shape, descriptions)
    largest = max(decoded_nbytes(size) for size in sizes)
    _check_decodes(records, descriptions, origin, sizes, max(int(memory_limit), largest))
    return ImageSource(name, None, list(records), labels, classes, image_shape, descriptions)


def _label_of(relative_parts):
    """Class label of a file from its path parts below the data root: its parent folder."""
    return relative_parts[-2] if len(relative_parts) >= 2 else ""


def from_tar(
    paths: Union[str, Sequence[str]],
    split: Optional[str] = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    allow_mixed_sizes: bool = False,
    name: Optional[str] = None,
):
    """Images from one or several tar files, streamed without extracting anything to disk.

    With `split`, only members below a top-level `split/` folder are read (when the tar has one).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    records, descriptions, label_names = [], [], []
    for path in paths:
        if not os.path.isfile(path):
            raise DataError(f"Data file {path} does not exist. Check the path (--dataset/--data_dir).")
        members = [(pathlib.PurePosixPath(n).parts, data) for n, data in iter_tar_images(path)]
        if split is not None and any(len(p) > 1 and p[0] == split for p, _ in members):
            members = [(p, data) for p, data in members if len(p) > 1 and p[0] == split]
        for parts, data in members:
            records.append(data)
            descriptions.append(f"{os.path.basename(path)}:{'/'.join(parts)}")
            label_names.append(_label_of(parts))
    origin = ", ".join(paths)
    return _finish(
        name or os.path.basename(paths[0]), records, descriptions, label_names,
        memory_limit, origin, allow_mixed_sizes,
    )


def from_folder(
    root: str,
    split: Optional[str] = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    allow_mixed_sizes: bool = False,
    name: Optional[str] = None,
):
    """Images from a folder: `root/label/*.jpg`, `root/*.jpg`, or `root/split/label/*.jpg`.

    A folder holding no images but tar files reads the tars (e.g. the CIFAR10 JPEG folder).
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise DataError(f"Image folder {root} does not exist. Check the path given as --dataset.")
    base = root
    if split is not None and os.path.isdir(os.path.join(root, split)):
        base = os.path.join(root, split)
    files = []
    for directory, subdirs, names in os.walk(base):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for filename in sorted(names):
            candidate = os.path.join(directory, filename)
            if is_image_name(pathlib.Path(candidate).relative_to(base).as_posix()):
                files.append(candidate)
    if not files:
        tars = sorted(
            os.path.join(root, f) for f in os.listdir(root) if f.lower().endswith(TAR_SUFFIXES)
        )
        if tars:
            return from_tar(tars, split, memory_limit, allow_mixed_sizes, name)
    relative = [pathlib.Path(f).relative_to(base).parts for f in files]
    label_names = [_label_of(p) for p in relative]
    descriptions = ["/".join(p) for p in relative]
    return _finish(
        name or os.path.basename(os.path.normpath(root)), files, descriptions, label_names,
        memory_limit, root, allow_mixed_sizes,
    )


def default_cifar10_dir():
    """The CIFAR10 JPEG folder: $GANZOO_CIFAR10_DIR, else ../shared/data/cifar10-jpeg beside the
    repository (or the current folder)."""
    if os.environ.get(CIFAR10_DIR_ENV):
        return os.environ[CIFAR10_DIR_ENV]
    repo = pathlib.Path(__file__).resolve().parents[2]
    for start in (repo, pathlib.Path.cwd()):
        candidate = start.parent / "shared" / "data" / "cifar10-jpeg"
        if candidate.is_dir():
            return str(candidate)
    return str(repo.parent / "shared" / "data" / "cifar10-jpeg")


def cifar10_files(data_dir=None, split="train"):
    """The tar files of the CIFAR10 JPEG copy for a split (train.tar, or the two halves)."""
    data_dir = os.fspath(data_dir or default_cifar10_dir())
    if os.path.isdir(os.path.join(data_dir, "cifar10-jpeg")):
        data_dir = os.path.join(data_dir, "cifar10-jpeg")
    if split not in ("train", "test"):
        raise DataError(f"CIFAR10 has the splits 'train' and 'test', not {split!r}.")
    whole = os.path.join(data_dir, f"{split}.tar")
    if os.path.isfile(whole):
        return [whole]
    halves = [os.path.join(data_dir, "halves", f"{split}-part{i}.tar") for i in (1, 2)]
    if all(os.path.isfile(h) for h in halves):
        return halves
    raise DataError(
        f"CIFAR10 {split} data not found: neither {whole} nor {halves[0]} (and part2) exists. "
        "Pass the folder holding train.tar/test.tar with --data_dir (or set $GANZOO_CIFAR10_DIR)."
    )


def cifar10(data_dir=None, split="train", memory_limit=DEFAULT_MEMORY_LIMIT):
    """CIFAR10 from this project's JPEG tars (labels in CIFAR10's order, alphabetical)."""
    source = from_tar(cifar10_files(data_dir, split), split=split, memory_limit=memory_limit,
                      name=f"cifar10-{split}")
    if source.class_names and source.class_names != list(CIFAR10_CLASSES):
        raise DataError(
            f"The CIFAR10 tars hold the classes {source.class_names}, expected "
            f"{list(CIFAR10_CLASSES)}: the files are not the CIFAR10 JPEG copy."
        )
    return source


def _is_lsun(name):
    return name.split("/")[0].split(":")[0].lower() == "lsun"


# What the tfds data sets of the 128x128 recipes need before they can be read.
_TFDS_DATA_NEEDED = {
    "celeb_a_hq": "CelebA-HQ (30,000 faces): tfds cannot download it; it builds from CelebA-HQ images you "
                  "obtain yourself, placed in its manual_dir (tfds build celeb_a_hq/128 --manual_dir DIR)",
    "lsun": "LSUN (bedroom: about 43 GB of LMDB from http://dl.yf.io/lsun/): tfds downloads and prepares "
            "it once, online (tfds build lsun/bedroom)",
}


def _not_prepared_message(name, split, builder, error):
    """The data a tfds data set needs and how to point ganzoo at a local copy (the tfds error last)."""
    needed = _TFDS_DATA_NEEDED.get(name.split("/")[0], "the data set's files (tfds build " + name + ")")
    return (
        f"The {name!r} images (split {split!r}) are not prepared in {builder.data_dir}, and tfds could not "
        f"prepare them here. This data set needs {needed}. Then either pass --data_dir pointing at the "
        f"tensorflow_datasets folder that holds the prepared copy (it is read offline), or export the "
        f"images as a folder or .tar and pass --dataset PATH (with --resize if they are not the model's "
        f"size). (tfds said: {type(error).__name__}: {error})"
    )


def from_tfds(name, split="train", data_dir=None, memory_limit=DEFAULT_MEMORY_LIMIT,
              download=True, allow_mixed_sizes=False):
    """A tensorflow-datasets data set, read with tfds.load and kept in memory as uint8 arrays.

    Only data sets with an "image" feature are supported; the "label" feature is kept when present.
    LSUN (`lsun/bedroom`, ...) is marked `crop_or_pad`: the pipeline takes the central patch of
    each image at native resolution, as compare_gan does, so its mixed sizes are accepted.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises DatasetNotFoundError and friends
        raise DataError(
            f"tensorflow-datasets has no data set {name!r} ({error.__class__.__name__}). "
            "Check the name against tfds.list_builders(), or give a path or 'cifar10'."
        ) from None
    features = builder.info.features
    if "image" not in features:
        raise DataError(f"tfds data set {name!r} has no 'image' feature; it cannot train a GAN.")
    try:
        if download and not builder.is_prepared():
            builder.download_and_prepare()
        dataset = builder.as_dataset(split=split, shuffle_files=False)
    except Exception as error:
        raise DataError(_not_prepared_message(name, split, builder, error)) from None
    has_label = "label" in features
    class_names = list(features["label"].names) if has_label and hasattr(
        features["label"], "names") else []
    images, labels, total = [], [], 0
    for example in tfds.as_numpy(dataset):
        image = example["image"]
        if image.ndim == 2:
            image = image[..., None]
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        elif image.shape[-1] == 4:
            image = image[..., :3]
        images.append(image.astype(np.uint8))
        total += image.nbytes
        if total > memory_limit:
            raise DataError(
                f"tfds data set {name!r} does not fit in memory_limit={memory_limit} bytes. "
                "Export it as an image folder or tar and train from that path instead."
            )
        if has_label:
            labels.append(int(example["label"]))
    descriptions = [f"{name}[{split}][{i}]" for i in range(len(images))]
    if not images:
        raise DataError(f"tfds data set {name!r} split {split!r} is empty.")
    crop_or_pad = _is_lsun(name)
    shapes = {image.shape for image in images}
    if len(shapes) > 1 and not (allow_mixed_sizes or crop_or_pad):
        raise DataError(
            f"tfds data set {name!r} mixes image sizes {sorted(shapes)[:3]}; pick a config of "
            "fixed size (e.g. celeb_a_hq/128)."
        )
    label_array = np.asarray(labels, dtype=np.int32) if has_label else None
    if not class_names and label_array is not None:
        class_names = [str(i) for i in range(int(label_array.max()) + 1)]
    if len(shapes) > 1:  # kept decoded, one array per image
        return ImageSource(name, None, images, label_array, class_names, None, descriptions,
                           crop_or_pad)
    return ImageSource(name, np.stack(images), None, label_array, class_names,
                       images[0].shape, descriptions, crop_or_pad)


def synthetic(num_examples=256, resolution=32, num_classes=4, seed=0):
    """Small deterministic labelled images: per-class colour gradients plus noise.

    Class k has a distinct mean colour and gradient direction, so a GAN can learn something in a
    few steps and conditional pipelines have meaningful labels. For tests and smoke runs.
    """
    rng = np.random.default_rng(seed)
    labels = (np.arange(num_examples) % num_classes).astype(np.int32)
    ys, xs = np.meshgrid(np.linspace(0, 1, resolution), np.linspace(0, 1, resolution),
                         indexing="ij")
    images = np.empty((num_examples, resolution, resolution, 3), dtype=np.float32)
    for k in range(num_classes):
        angle = 2 * np.pi * k / num_classes
        ramp = 0.5 + 0.5 * (np.cos(angle) * (xs - 0.5) + np.sin(angle) * (ys - 0.5))
        colour = 0.25 + 0.5 * np.array([np.cos(angle), np.sin(angle), np.cos(2 * angle)]) ** 2
        members = labels == k
        images[members] = ramp[None, :, :, None] * colour[None, None, None, :]
    images += rng.normal(0.0, 0.05, size=images.shape)
    images = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
    return ImageSource(f"synthetic{num_examples}", images, None, labels,
                       [f"class{k}" for k in range(num_classes)], images.shape[1:],
                       [f"synthetic[{i}]" for i in range(num_examples)])


def _looks_like_tfds_name(dataset):
    import tensorflow_datasets as tfds

    base = dataset.split("/")[0].split(":")[0]
    return base in set(tfds.list_builders())


def load_source(dataset, split="train", data_dir=None, memory_limit=DEFAULT_MEMORY_LIMIT,
                allow_mixed_sizes=False, synthetic_resolution=32):
    """Resolve a --dataset value to an ImageSource.

    - "cifar10": the JPEG tars (in `data_dir`, default ../shared/data/cifar10-jpeg).
    - "synthetic" or "synthetic:N": N synthetic images (default 256) of `synthetic_resolution`.
    - a path: a tar file, or a folder of images (or of tar files).
    - "tfds:NAME" or a tensorflow-datasets name: tfds.load (`data_dir` is its data dir).
    """
    if not dataset:
        raise DataError("No data set given: pass --dataset (cifar10, a path, or a tfds name).")
    dataset = os.fspath(dataset)
    if dataset == "cifar10":
        return cifar10(data_dir, split, memory_limit)
    if dataset == "synthetic" or dataset.startswith("synthetic:"):
        count = dataset.partition(":")[2] or "256"
        if not count.isdigit() or int(count) < 1:
            raise DataError(f"--dataset {dataset}: write synthetic:N with a positive count N.")
        return synthetic(int(count), resolution=synthetic_resolution)
    if dataset.startswith("tfds:"):
        return from_tfds(dataset[5:], split, data_dir, memory_limit,
                         allow_mixed_sizes=allow_mixed_sizes)
    looks_like_path = os.sep in dataset or dataset.startswith(".") or dataset.lower().endswith(
        TAR_SUFFIXES)
    if os.path.exists(dataset) or looks_like_path:
        if data_dir is not None:
            raise DataError(
                f"--data_dir {data_dir} conflicts with the path --dataset {dataset}: "
                "--data_dir is for 'cifar10' and tfds names; give the path once, as --dataset."
            )
        if os.path.isdir(dataset):
            return from_folder(dataset, split, memory_limit, allow_mixed_sizes)
        if os.path.isfile(dataset) or dataset.lower().endswith(TAR_SUFFIXES):
            return from_tar(dataset, split, memory_limit, allow_mixed_sizes)
        raise DataError(f"Data path {dataset} does not exist. Check --dataset.")
    if _looks_like_tfds_name(dataset):
        return from_tfds(dataset, split, data_dir, memory_limit,
                         allow_mixed_sizes=allow_mixed_sizes)
    raise DataError(
        f"Unknown data set {dataset!r}: not 'cifar10', 'synthetic', an existing path, or a "
        "tensorflow-datasets name. Fix the spelling or give the path to your images."
    )
