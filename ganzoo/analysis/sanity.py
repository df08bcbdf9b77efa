"""The sanity studies of GAN-train and GAN-test (Shmelkov, Schmid & Alahari 2018, "How good is my
GAN?", section 5.1): real images stand in for a generator whose flaw is known, and the two measures
must react as their definitions say.

- Corruption: salt-and-pepper noise on a share of the pixels. The images keep their class, so a
  fixed classifier still recognises them (GAN-test barely moves), while a classifier trained on the
  corrupted images fails on clean test images (GAN-train falls: seed 001 reports 82% -> 15% from 1%
  to 20% of the pixels on CIFAR10).
- Subsampling: a "generator" that only reproduces n real images has perfect quality and poor
  diversity; a classifier trained on them (GAN-train) measures that diversity (seed 001: 73.4 / 80.9
  / 85.8% on CIFAR10 with 2.5k / 5k / 10k images).

NumPy only: the corruption, the class-balanced subsets and the seed's numbers. training/
gan_train_sanity.py trains the classifiers (ganzoo.metrics.gan_train_test's recipe) and plots.
"""
import numpy as np

# Seed 001 (the paper's CIFAR10 numbers), shown beside ours.
SEED_SALT_AND_PEPPER = {"fractions": (0.01, 0.20), "gan_train_percent": (82.0, 15.0),
                        "gan_test": "barely moves"}
SEED_SUBSAMPLE_PERCENT = {2500: 73.4, 5000: 80.9, 10000: 85.8}


def salt_and_pepper(images, fraction, seed=0):
    """A copy of `images` (N, H, W, C) in [0, 1] with `fraction` of each image's pixel locations set
    to black (0) or white (1), each with probability 1/2, on all channels at once (a pixel, not a
    channel value, is corrupted). The corrupted locations are exactly round(fraction * H * W) per
    image, drawn without replacement from `seed`."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"salt_and_pepper: images must be (N, H, W, C); got shape {images.shape}.")
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"salt_and_pepper: fraction must be in [0, 1] (a share of the pixels); got {fraction}.")
    n, h, w, _ = images.shape
    out = images.copy()
    count = int(round(fraction * h * w))
    if count == 0:
        return out
    rng = np.random.default_rng(seed)
    locations = np.argsort(rng.random((n, h * w)), axis=1)[:, :count]  # `count` distinct pixels per image
    values = rng.integers(0, 2, size=(n, count)).astype(out.dtype)  # 0: pepper, 1: salt
    flat = out.reshape(n, h * w, -1)
    flat[np.arange(n)[:, None], locations, :] = values[..., None]
    return flat.reshape(images.shape)


def balanced_subset(labels, num, seed=0):
    """Sorted indices of `num` examples, as many of each class as possible (num / classes each, the
    remainder to the first classes), drawn without replacement from `seed`."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    num = int(num)
    if num < len(classes) or num > len(labels):
        raise ValueError(f"balanced_subset: {num} examples from {len(labels)} of {len(classes)} classes; ask for "
                         f"between {len(classes)} and {len(labels)}.")
    rng = np.random.default_rng(seed)
    base, extra = divmod(num, len(classes))
    chosen = []
    for i, k in enumerate(classes):
        members = np.flatnonzero(labels == k)
        want = base + (1 if i < extra else 0)
        if want > len(members):
            raise ValueError(f"balanced_subset: class {k} has {len(members)} examples, {want} were asked for.")
        chosen.append(rng.choice(members, size=want, replace=False))
    return np.sort(np.concatenate(chosen))
