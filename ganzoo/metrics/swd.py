"""Sliced Wasserstein distance between Laplacian-pyramid patch sets (Karras et al., PGGAN).

As PGGAN's metrics/sliced_wasserstein.py and TF-GAN: a Laplacian pyramid from the full
resolution down to 16x16 (5x5 binomial filter, mirror borders, as cv2.pyrDown/pyrUp); from every
level `patches_per_image` random 7x7 neighbourhoods per image (descriptors of 7*7*3 values);
each set's descriptors normalised per channel by their own mean and std; then the SWD over
`dir_repeats` x `dirs_per_repeat` random unit directions (4 x 128). Reported per level and
averaged, multiplied by 1e3 as PGGAN prints it. Images in [0, 255].

Descriptors are gathered batch by batch (`SWDAccumulator`) so the evaluator can stream.
"""
import numpy as np
import scipy.ndimage

PATCH_SIZE = 7
GAUSSIAN_5x5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256.0


def _pyr_down(batch):  # NCHW
    return scipy.ndimage.convolve(batch, GAUSSIAN_5x5[None, None], mode="mirror")[:, :, ::2, ::2]


def _pyr_up(batch):
    n, c, h, w = batch.shape
    up = np.zeros((n, c, h * 2, w * 2), batch.dtype)
    up[:, :, ::2, ::2] = batch
    return scipy.ndimage.convolve(up, GAUSSIAN_5x5[None, None] * 4.0, mode="mirror")


def laplacian_pyramid(batch_nchw, num_levels):
    pyramid = [np.array(batch_nchw, np.float32)]  # a copy: levels are updated in place
    for _ in range(1, num_levels):
        pyramid.append(_pyr_down(pyramid[-1]))
        pyramid[-2] -= _pyr_up(pyramid[-1])
    return pyramid


def pyramid_resolutions(resolution, min_resolution=16):
    out = []
    while resolution >= min_resolution:
        out.append(resolution)
        resolution //= 2
    return out


def _patches(level, count, rng):
    n, c, h, w = level.shape
    half = PATCH_SIZE // 2
    if h < PATCH_SIZE or w < PATCH_SIZE:
        raise ValueError(f"a {h}x{w} pyramid level is smaller than the {PATCH_SIZE}x{PATCH_SIZE} patches")
    total = n * count
    image = np.repeat(np.arange(n), count)
    ys = rng.integers(half, h - half, size=total)
    xs = rng.integers(half, w - half, size=total)
    offsets = np.arange(-half, half + 1)
    rows = (ys[:, None] + offsets)[:, None, :, None]
    cols = (xs[:, None] + offsets)[:, None, None, :]
    chans = np.arange(c)[None, :, None, None]
    return level[image[:, None, None, None], chans, rows, cols]  # (total, c, 7, 7)


class SWDAccumulator:
    """Collects patch descriptors of one image set, batch by batch."""

    def __init__(self, resolution, patches_per_image=64, seed=0, min_resolution=16):
        self.resolutions = pyramid_resolutions(int(resolution), min_resolution)
        if not self.resolutions:
            raise ValueError(f"SWD needs images of at least {min_resolution}x{min_resolution}")
        self.patches_per_image = int(patches_per_image)
        self.rng = np.random.default_rng(seed)
        self.descriptors = [[] for _ in self.resolutions]

    def update(self, images):
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1] != images.shape[2]:
            raise ValueError(f"SWD takes square NHWC images, got {images.shape}")
        if images.shape[1] != self.resolutions[0]:
            raise ValueError(f"images are {images.shape[1]}px, the accumulator expects {self.resolutions[0]}px")
        pyramid = laplacian_pyramid(images.transpose(0, 3, 1, 2), len(self.resolutions))
        for level, store in zip(pyramid, self.descriptors):
            store.append(_patches(level, self.patches_per_image, self.rng))

    def finalize(self):
        """Per level: descriptors (count, 7*7*C), normalised per channel."""
        out = []
        for store in self.descriptors:
            desc = np.concatenate(store).astype(np.float64)
            desc -= desc.mean(axis=(0, 2, 3), keepdims=True)
            desc /= desc.std(axis=(0, 2, 3), keepdims=True)
            out.append(desc.reshape(len(desc), -1).astype(np.float32))
        return out


def sliced_wasserstein(a, b, dir_repeats=4, dirs_per_repeat=128, seed=0):
    """Mean 1-D Wasserstein distance of two equal-size descriptor sets along random directions."""
    if a.shape != b.shape:
        raise ValueError(f"descriptor sets differ in shape: {a.shape} vs {b.shape}")
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(dir_repeats):
        dirs = rng.standard_normal((a.shape[1], dirs_per_repeat))
        dirs = (dirs / np.sqrt(np.sum(dirs**2, axis=0, keepdims=True))).astype(np.float32)
        proj_a, proj_b = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
        results.append(np.mean(np.abs(proj_a - proj_b)))
    return float(np.mean(results))


def swd_from_accumulators(real, fake, dir_repeats=4, dirs_per_repeat=128, seed=0):
    """{resolution: SWD x 1e3} and the average, as PGGAN reports them."""
    if real.resolutions != fake.resolutions:
        raise ValueError(f"pyramids differ: {real.resolutions} vs {fake.resolutions}")
    out = {}
    for res, a, b in zip(real.resolutions, real.finalize(), fake.finalize()):
        n = min(len(a), len(b))
        out[res] = 1e3 * sliced_wasserstein(a[:n], b[:n], dir_repeats, dirs_per_repeat, seed)
    out["avg"] = float(np.mean([out[r] for r in real.resolutions]))
    return out


def swd(real_images, fake_images, patches_per_image=64, seed=0, batch_size=256):
    """SWD (x 1e3 per level, and 'avg') between two NHWC image arrays in [0, 255]."""
    real_images, fake_images = np.asarray(real_images), np.asarray(fake_images)
    accumulators = []
    for images in (real_images, fake_images):
        acc = SWDAccumulator(images.shape[1], patches_per_image, seed)
        for start in range(0, len(images), batch_size):
            acc.update(images[start:start + batch_size])
        accumulators.append(acc)
    return swd_from_accumulators(*accumulators, seed=seed)
