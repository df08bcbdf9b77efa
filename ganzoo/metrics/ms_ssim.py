"""MS-SSIM (Wang et al., 2003) and the paper's diversity score of generated samples.

`ms_ssim(a, b)` follows tf.image.ssim_multiscale / compare_gan's image_similarity: 11x11
Gaussian window of sigma 1.5 (shrunk to the image size at coarse scales, as they do), k1 = 0.01,
k2 = 0.03, five scales with Wang's power factors, 2x2 average-pool downsampling with symmetric
padding of odd sizes, ReLU on the per-scale terms, mean over channels. Values in [0, 255].

`ms_ssim_diversity(images)` is the paper's score (compare_gan, after Fedus et al. 2018,
section 5.3): the average MS-SSIM over all pairs of distinct images within each of 5 random
batches of 64 generated images. Lower means more diverse samples.
"""
import keras
import numpy as np
from keras import ops

POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
K1, K2 = 0.01, 0.03


def _gaussian_kernel(size, sigma, channels):
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * (coords[:, None] ** 2 + coords[None, :] ** 2) / sigma**2)
    g /= g.sum()
    return np.tile(g[:, :, None, None], (1, 1, channels, 1)).astype(np.float32)


def _ssim_per_channel(x, y, filter_size, filter_sigma, max_val):
    size = min(filter_size, x.shape[1], x.shape[2])
    kernel = ops.convert_to_tensor(_gaussian_kernel(size, filter_sigma, x.shape[3]))

    def blur(t):
        return ops.depthwise_conv(t, kernel, strides=1, padding="valid")

    c1, c2 = (K1 * max_val) ** 2, (K2 * max_val) ** 2
    mu_x, mu_y = blur(x), blur(y)
    num0 = 2.0 * mu_x * mu_y
    den0 = mu_x * mu_x + mu_y * mu_y
    luminance = (num0 + c1) / (den0 + c1)
    num1 = 2.0 * blur(x * y)
    den1 = blur(x * x + y * y)
    cs = (num1 - num0 + c2) / (den1 - den0 + c2)
    return ops.mean(luminance * cs, axis=(1, 2)), ops.mean(cs, axis=(1, 2))


def _downsample(x):
    pad_h, pad_w = x.shape[1] % 2, x.shape[2] % 2
    if pad_h or pad_w:
        x = ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="symmetric")
    return ops.average_pool(x, 2, strides=2, padding="valid")


def _compiled(fn):
    """Compile fn once per input shape (eager JAX would compile every op separately)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn, static_argnums=(2, 3, 4, 5))
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=False)
    return fn


def ms_ssim(a, b, max_val=255.0, filter_size=11, filter_sigma=1.5, power_factors=POWER_FACTORS):
    """MS-SSIM of image pairs: a, b (N, H, W, C) float in [0, max_val] -> (N,) numpy."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"ms_ssim needs two batches (N, H, W, C) of one shape; got {a.shape}, {b.shape}")
    smallest = min(a.shape[1], a.shape[2]) / 2 ** (len(power_factors) - 1)
    if smallest < 1:
        raise ValueError(f"{a.shape[1]}x{a.shape[2]} images are too small for {len(power_factors)} scales")
    global _MS_SSIM
    if _MS_SSIM is None:
        _MS_SSIM = _compiled(_ms_ssim_graph)
    value = _MS_SSIM(a, b, float(max_val), int(filter_size), float(filter_sigma),
                     tuple(float(p) for p in power_factors))
    return ops.convert_to_numpy(value).astype(np.float64)


_MS_SSIM = None


def _ms_ssim_graph(a, b, max_val, filter_size, filter_sigma, power_factors):
    x, y = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    terms = []
    for scale in range(len(power_factors)):
        if scale:
            x, y = _downsample(x), _downsample(y)
        ssim, cs = _ssim_per_channel(x, y, filter_size, filter_sigma, max_val)
        terms.append(ops.relu(cs))
    terms[-1] = ops.relu(ssim)
    weights = ops.convert_to_tensor(np.asarray(power_factors, np.float32))
    value = ops.prod(ops.power(ops.stack(terms, axis=-1), weights), axis=-1)  # (N, C)
    return ops.mean(value, axis=-1)


def ms_ssim_diversity(images, num_batches=5, batch_size=64, seed=0, max_val=255.0):
    """Average MS-SSIM over all distinct pairs in `num_batches` random batches of images.

    images: (N, H, W, C) in [0, max_val], N >= batch_size. Returns (mean, std over batches).
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got {images.shape}")
    if len(images) < batch_size:
        raise ValueError(f"MS-SSIM diversity needs at least {batch_size} images, got {len(images)}")
    rng = np.random.default_rng(seed)
    first, second = np.triu_indices(batch_size, k=1)
    scores = []
    for _ in range(num_batches):
        batch = images[rng.choice(len(images), batch_size, replace=False)]
        scores.append(ms_ssim(batch[first], batch[second], max_val=max_val).mean())
    return float(np.mean(scores)), float(np.std(scores))
