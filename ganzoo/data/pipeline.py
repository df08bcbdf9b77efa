"""tf.data input pipelines for GAN training, usable from the TensorFlow and JAX backends.

The order of the data is a pure function of (seed, position): data epoch `e` is a stateless
shuffle of the example indices seeded with (seed, e), cut into full batches (drop_remainder).
A run resumed at fit step `s` therefore sees exactly the batches an uninterrupted run would have
seen, without replaying the skipped batches through the decoder.

A fit batch holds `disc_iters * batch_size` images (the GAN's train step gives each
discriminator update its own slice), float32 in [0, 1], NHWC; with labels it is an
(images, labels) tuple, labels int32.
"""
import numbers

import numpy as np

from ganzoo.data.sources import DataError, ImageSource, decode_image

_EPOCHS_FOREVER = 2**62


def _count(value, name, minimum=1, flag=None):
    """`value` as an int >= minimum, or a DataError naming the argument and the fix."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        shown = f"{name} ({flag})" if flag else name
        raise DataError(f"{shown} must be {what}; got {value!r}.")
    return int(value)


def global_batch_size(batch_size, disc_iters=1):
    return (_count(batch_size, "batch_size", flag="--batch_size")
            * _count(disc_iters, "disc_iters", flag="--disc_iters"))


def check_batch_fits(source, batch_size, disc_iters=1):
    """Raise DataError when one fit batch needs more images than the data set holds."""
    needed = global_batch_size(batch_size, disc_iters)
    if needed > len(source):
        what = f"{batch_size} x {disc_iters} discriminator steps" if disc_iters > 1 else "a batch"
        raise DataError(
            f"One training step needs {needed} images ({what}) but the data set "
            f"{source.name} holds only {len(source)}. Lower --batch_size or use more data."
        )


def _check_source(source):
    """The pipeline scales uint8 by 1/255: refuse a source whose images are anything else."""
    if not isinstance(source, ImageSource):
        raise DataError(
            f"make_dataset needs a ganzoo.data.ImageSource (ganzoo.data.load_source(...)); got "
            f"{type(source).__name__}."
        )
    if source.images is not None:
        images = np.asarray(source.images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise DataError(
                f"ImageSource {source.name!r} holds images of dtype {images.dtype} and shape "
                f"{images.shape}; the pipeline needs uint8 (N, H, W, 3) in [0, 255] (it yields "
                "float32 in [0, 1]). Convert with np.clip(np.rint(x * 255), 0, 255).astype('uint8') "
                "for [0, 1] floats, or np.clip(np.rint((x + 1) * 127.5), 0, 255).astype('uint8') "
                "for [-1, 1]."
            )


def _index_batches(num_examples, batch, seed, shuffle, start_batch):
    """Dataset of int64 index vectors of length `batch`, forever, starting at batch `start_batch`."""
    import tensorflow as tf

    per_epoch = num_examples // batch
    start_epoch, skip = divmod(int(start_batch), per_epoch)

    def epoch_batches(epoch):
        indices = tf.range(num_examples, dtype=tf.int64)
        if shuffle:
            epoch_seed = tf.stack([tf.constant(seed, tf.int64), epoch])
            indices = tf.random.experimental.stateless_shuffle(indices, seed=epoch_seed)
        indices = tf.reshape(indices[: per_epoch * batch], [per_epoch, batch])
        return tf.data.Dataset.from_tensor_slices(indices)

    epochs = tf.data.Dataset.range(start_epoch, _EPOCHS_FOREVER)
    return epochs.flat_map(epoch_batches).skip(skip)


def central_crop_or_pad(images, size):
    """The central `size` x `size` patch of NHWC `images` at their native resolution.

    This is compare_gan's LSUN-Bedroom preprocessing (v2.0 datasets.py, unpack_lsun_image:
    tf.image.resize_image_with_crop_or_pad(image, 128, 128)), written out: no resampling; a side
    longer than `size` is cropped from offset (dim - size) // 2, a shorter one is zero-padded with
    (size - dim) // 2 zeros before it and the rest after it, as TensorFlow computes them.
    """
    import tensorflow as tf

    height, width = tf.shape(images)[1], tf.shape(images)[2]
    top = tf.maximum((height - size) // 2, 0)
    left = tf.maximum((width - size) // 2, 0)
    images = images[:, top : top + size, left : left + size]
    kept_height, kept_width = tf.minimum(height, size), tf.minimum(width, size)
    pad_top = tf.maximum((size - height) // 2, 0)
    pad_left = tf.maximum((size - width) // 2, 0)
    paddings = [[0, 0], [pad_top, size - kept_height - pad_top],
                [pad_left, size - kept_width - pad_left], [0, 0]]
    return tf.pad(images, paddings)


def _to_float(images, resolution, crop_or_pad=False):
    import tensorflow as tf

    images = tf.cast(images, tf.float32) / 255.0
    if resolution is not None:
        if images.shape[1] != resolution or images.shape[2] != resolution:
            if crop_or_pad:
                # LSUN-Bedroom as compare_gan reads it: the central patch at native resolution,
                # zero-padded where the image is smaller, never resized.
                return central_crop_or_pad(images, resolution)
            # ganzoo's --resize, for other data of another size (compare_gan resizes no data set
            # of the paper): central square crop, then an antialiased bilinear resize.
            height, width = tf.shape(images)[1], tf.shape(images)[2]
            side = tf.minimum(height, width)
            top, left = (height - side) // 2, (width - side) // 2
            images = images[:, top : top + side, left : left + side]
            images = tf.image.resize(images, (resolution, resolution), method="bilinear",
                                     antialias=True)
            images = tf.clip_by_value(images, 0.0, 1.0)
    return images


def make_dataset(
    source: ImageSource,
    batch_size: int,
    disc_iters: int = 1,
    seed: int = 0,
    shuffle: bool = True,
    start_step: int = 0,
    resolution=None,
    resize: bool = False,
    labels: bool = True,
    prefetch: bool = True,
    crop_or_pad=None,
):
    """An endless tf.data.Dataset of fit batches for `ganzoo.GAN.fit`.

    Args:
      source: an ImageSource (`ganzoo.data.load_source`).
      batch_size: images per discriminator update; a fit batch holds batch_size * disc_iters.
      seed: data order seed; `start_step`: fit steps already taken (resume continues the order).
      resolution: the model's resolution. Images of another size raise DataError unless
        `resize` is true (then they are resized, bilinear with antialiasing) or `crop_or_pad` is.
      crop_or_pad: take the central resolution x resolution patch of each image at its native
        resolution, zero-padded where smaller (`central_crop_or_pad`; compare_gan's LSUN-Bedroom
        preprocessing), instead of resizing. Default: the source's `crop_or_pad` (true for the
        tfds LSUN data sets).
      labels: yield (images, labels) when the source has labels.
    Use with `fit(dataset, steps_per_epoch=...)`: the dataset never ends.
    """
    import tensorflow as tf

    _check_source(source)
    check_batch_fits(source, batch_size, disc_iters)
    batch = global_batch_size(batch_size, disc_iters)
    seed = _count(seed, "seed", minimum=0, flag="--seed")
    start_step = _count(start_step, "start_step", minimum=0)
    if resolution is not None:
        resolution = _count(resolution, "resolution", flag="--resolution")
    shape = source.image_shape
    if crop_or_pad is None:
        crop_or_pad = getattr(source, "crop_or_pad", False)
    if resolution is not None and not resize and not crop_or_pad:
        if shape is None or shape[0] != resolution or shape[1] != resolution:
            found = "of mixed sizes" if shape is None else f"{shape[1]}x{shape[0]}"
            raise DataError(
                f"The images of {source.name} are {found} but the model's resolution is "
                f"{resolution}x{resolution}. Pick a config of the data's resolution, or pass "
                "--resize to resize the images."
            )
    if shape is None and resolution is None:
        raise DataError(f"{source.name} mixes image sizes: give a resolution to resize to.")
    out_hw = (resolution, resolution) if resolution is not None else tuple(shape[:2])
    with_labels = labels and source.labels is not None

    indices = _index_batches(len(source), batch, seed, shuffle, start_step)
    autotune = tf.data.AUTOTUNE
    if source.images is not None:
        images = tf.constant(source.images)
        label_table = tf.constant(source.labels) if with_labels else None

        def gather(idx):
            batch_images = _to_float(tf.gather(images, idx), resolution, crop_or_pad)
            if with_labels:
                return batch_images, tf.gather(label_table, idx)
            return batch_images

        dataset = indices.map(gather, num_parallel_calls=autotune, deterministic=True)
    else:
        records = source.records
        label_array = source.labels

        def read_record(index):  # (not `load`: that is this module's public entry point)
            image = decode_image(records[int(index)], source.descriptions[int(index)]
                                 if source.descriptions else f"image {int(index)}")
            if shape is not None and image.shape != tuple(shape):
                raise DataError(
                    f"{source.descriptions[int(index)]} is {image.shape}, not {shape}."
                )
            return image

        def decode(index):
            image = tf.numpy_function(read_record, [index], tf.uint8, stateful=False)
            image.set_shape(shape if shape is not None else (None, None, 3))
            image = _to_float(image[None], resolution, crop_or_pad)[0]
            if with_labels:
                return image, tf.gather(tf.constant(label_array), index)
            return image

        dataset = indices.unbatch().map(decode, num_parallel_calls=autotune, deterministic=True)
        dataset = dataset.batch(batch, drop_remainder=True)

    def set_shapes(*element):
        element[0].set_shape((batch,) + out_hw + (3,))
        if len(element) > 1:
            element[1].set_shape((batch,))
            return element
        return element[0]

    dataset = dataset.map(set_shapes)
    # The epochs run on forever: say so, so that fit() without steps_per_epoch is refused
    # (GAN.fit) instead of never returning.
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
    if prefetch:
        dataset = dataset.prefetch(autotune)
    # No tf.data autotuning thread: destroying an iterator (fit()'s, when it returns) waits for
    # that thread's next wake-up, which grows to tens of seconds in a long run (measured: 0 to
    # 39 s after the last step). AUTOTUNE then means one parallel call per core and a prefetch
    # buffer that grows while the consumer waits: ample for these pipelines.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def load(dataset, batch_size, disc_iters=1, split="train", data_dir=None, seed=0, start_step=0,
         resolution=None, resize=False, labels=True, crop_or_pad=None, **source_kwargs):
    """One call from a --dataset value to (tf.data.Dataset, ImageSource)."""
    from ganzoo.data.sources import load_source

    if resolution is not None:
        source_kwargs.setdefault("synthetic_resolution", resolution)
    source_kwargs.setdefault("allow_mixed_sizes", bool(resize or crop_or_pad))
    source = load_source(dataset, split=split, data_dir=data_dir, **source_kwargs)
    pipeline = make_dataset(source, batch_size, disc_iters, seed=seed, start_step=start_step,
                            resolution=resolution, resize=resize, labels=labels,
                            crop_or_pad=crop_or_pad)
    return pipeline, source


def take_images(source, count, seed=0, with_labels=False, resolution=None, crop_or_pad=None):
    """`count` images of a source as float32 [0, 1] numpy (N, H, W, 3), e.g. for FID references;
    with_labels: (images, their int32 labels), for a source that has labels.

    resolution: images of another size are fitted to it as make_dataset fits them for training
    (`crop_or_pad`, default the source's: the central patch; else a central square crop and an
    antialiased resize), so that a FID reference holds what the model is trained to make."""
    count = min(int(count), len(source))
    order = np.sort(np.random.default_rng(seed).permutation(len(source))[:count])
    if source.images is not None:
        chosen = source.images[order]
    else:
        chosen = [decode_image(source.records[i]) for i in order]
    if crop_or_pad is None:
        crop_or_pad = getattr(source, "crop_or_pad", False)
    if resolution is not None and {image.shape[:2] for image in chosen} != {(resolution,) * 2}:
        images = np.stack([np.asarray(_to_float(image[None], resolution, crop_or_pad))[0]
                           for image in chosen])
    elif len({image.shape for image in chosen}) > 1:
        raise DataError(f"{source.name} mixes image sizes: give take_images a resolution to fit "
                        "them to.")
    else:
        images = np.stack(chosen).astype(np.float32) / 255.0
    if not with_labels:
        return images
    if source.labels is None:
        raise ValueError(f"The data set {source.name!r} has no labels: a class-conditional model "
                         "needs a labelled data set (one folder per class).")
    return images, np.asarray(source.labels, np.int32)[order]
