"""Image batches from any source, for the metrics: paths (through ganzoo.data's image reader),
arrays, generator models, callables, tf.data datasets and iterables.

Kept apart from the evaluator and the Inception network so that both can use it without
importing each other.
"""
import os

import numpy as np


def _first_images(element):
    """A dataset element may be images, (images, labels, ...) or {"image": ...}."""
    if isinstance(element, dict):
        for key in ("image", "images", "x"):
            if key in element:
                return element[key]
        raise ValueError(f"dataset elements are dicts without an 'image' key: {sorted(element)}")
    if isinstance(element, (tuple, list)) and not isinstance(element, np.ndarray):
        return element[0]
    return element


def sample_seed(seed, index):
    """The seed of the index-th chunk of a sample set: independent streams per (seed, index)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] & 0x7FFFFFFF)


def iterate_batches(source, batch_size=50, limit=None, progress=False, desc=None, seed=0,
                    subset_seed=0):
    """Yield numpy batches (n, H, W, C) from any image source, at most `limit` images in all.

    source:
      - a path (str / os.PathLike): an image folder or a tar of images (sorted names, uint8);
        with `limit`, a seeded random subset of the names (`subset_seed`; see
        ganzoo.data.image_files.select_images), never the first `limit` names;
      - a numpy array (N, H, W, C);
      - a generator model: any object with `.sample(n, seed=..., batch_size=...)` (needs
        `limit`; chunk i is sampled with seed `sample_seed(seed, i)`, so a fixed seed gives a
        fixed sample set);
      - a callable `fn(n) -> n images` (needs `limit`);
      - a tf.data.Dataset, or any iterable of batches (or of single images); elements may be
        (images, labels) tuples or {"image": ...} dicts.
    """
    from ganzoo.data import image_files

    if isinstance(batch_size, bool) or int(batch_size) != batch_size or int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)
    if limit is not None:
        if isinstance(limit, bool) or int(limit) != limit or int(limit) <= 0:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        limit = int(limit)
    if isinstance(source, (str, os.PathLike)):
        names, _ = image_files.select_images(source, limit, subset_seed)
        batches = image_files.iter_image_batches(source, batch_size, names)
        yield from _progress_batches(batches, len(names), desc or str(source), progress)
        return
    if isinstance(source, np.ndarray):
        array = np.asarray(source)
        total = len(array) if limit is None else min(limit, len(array))
        gen = (array[i:min(i + batch_size, total)] for i in range(0, total, batch_size))
        yield from _progress_batches(gen, total, desc or "images", progress)
        return
    if hasattr(source, "sample") or callable(source) and not hasattr(source, "__iter__"):
        if limit is None:
            raise ValueError("sampling from a generator needs the number of images (limit)")
        sample = source.sample if hasattr(source, "sample") else None

        def chunks():
            for index, start in enumerate(range(0, limit, batch_size)):
                n = min(batch_size, limit - start)
                if sample is not None:
                    batch = sample(n, seed=sample_seed(seed, index), batch_size=batch_size)
                else:
                    batch = source(n)
                batch = np.asarray(batch)
                if len(batch) != n:
                    raise ValueError(f"the generator returned {len(batch)} images, asked for {n}")
                yield batch

        yield from _progress_batches(chunks(), limit, desc or "samples", progress)
        return
    iterable = source.as_numpy_iterator() if hasattr(source, "as_numpy_iterator") else source
    yield from _progress_batches(_rebatch(iterable, batch_size, limit), limit,
                                 desc or "images", progress)


def _rebatch(iterable, batch_size, limit):
    """Normalise an iterable of batches or single images to batches, stopping at limit."""
    taken, pending = 0, []
    for element in iterable:
        images = np.asarray(_first_images(element))
        if images.ndim == 3:
            images = images[None]
        if limit is not None and taken + len(images) > limit:
            images = images[: limit - taken]
        pending.append(images)
        taken += len(images)
        if sum(len(p) for p in pending) >= batch_size:
            yield np.concatenate(pending)
            pending = []
        if limit is not None and taken >= limit:
            break
    if pending:
        yield np.concatenate(pending)
    if limit is not None and taken < limit:
        raise ValueError(f"the image source ran out after {taken} images; {limit} were asked for")


def _progress_batches(batches, total, desc, enabled):
    if not enabled:
        yield from batches
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit="img") as bar:
        for batch in batches:
            yield batch
            bar.update(len(batch))
