"""Input pipelines: CIFAR10 JPEG tars, tar files, image folders, tensorflow-datasets, synthetic.

    source = ganzoo.data.load_source("cifar10")            # checked before training starts
    dataset = ganzoo.data.make_dataset(source, batch_size=64, disc_iters=1, resolution=32)
    gan.fit(dataset, steps_per_epoch=1000)

See docs/training.md.
"""
from ganzoo.data.pipeline import (
    check_batch_fits,
    global_batch_size,
    load,
    make_dataset,
    take_images,
)
from ganzoo.data.sources import (
    CIFAR10_CLASSES,
    DataError,
    ImageSource,
    cifar10,
    cifar10_files,
    decode_image,
    default_cifar10_dir,
    from_folder,
    from_tar,
    from_tfds,
    load_source,
    synthetic,
)

__all__ = [
    "CIFAR10_CLASSES", "DataError", "ImageSource", "check_batch_fits", "cifar10",
    "cifar10_files", "decode_image", "default_cifar10_dir", "from_folder", "from_tar",
    "from_tfds", "global_batch_size", "load", "load_source", "make_dataset", "synthetic",
    "take_images",
]
