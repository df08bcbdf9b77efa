"""MS-SSIM: 1 for identical images; matches tf.image.ssim_multiscale and a direct NumPy
implementation on small cases; the diversity protocol."""
import importlib.util

import numpy as np
import pytest
import scipy.signal

from ganzoo.metrics import ms_ssim as mss


def numpy_ms_ssim(a, b, max_val=255.0):
    """Direct single-pair MS-SSIM (float64, scipy correlate2d), per Wang et al. 2003."""
    def gauss(size, sigma=1.5):
        c = np.arange(size) - (size - 1) / 2
        g = np.exp(-(c[:, None] ** 2 + c[None] ** 2) / (2 * sigma**2))
        return g / g.sum()

    def ssim_cs(x, y):
        w = gauss(min(11, x.shape[0], x.shape[1]))
        f = lambda t: scipy.signal.correlate2d(t, w, mode="valid")  # noqa: E731
        c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
        mx, my = f(x), f(y)
        sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        return np.mean((2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs), np.mean(cs)

    def down(t):
        if t.shape[0] % 2 or t.shape[1] % 2:
            t = np.pad(t, ((0, t.shape[0] % 2), (0, t.shape[1] % 2)), mode="symmetric")
        return (t[0::2, 0::2] + t[1::2, 0::2] + t[0::2, 1::2] + t[1::2, 1::2]) / 4

    per_channel = []
    for ch in range(a.shape[-1]):
        x, y = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)
        value = 1.0
        for scale, p in enumerate(mss.POWER_FACTORS):
            if scale:
                x, y = down(x), down(y)
            s, cs = ssim_cs(x, y)
            value *= max(s if scale == 4 else cs, 0.0) ** p
        per_channel.append(value)
    return np.mean(per_channel)


def pair(seed, shape=(32, 32, 3), noise=40.0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 255, shape)
    b = np.clip(a + rng.normal(0, noise, shape), 0, 255)
    return a, b


def test_ms_ssim_of_identical_images_is_one():
    a = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3))
    np.testing.assert_allclose(mss.ms_ssim(a, a), 1.0, atol=1e-5)


@pytest.mark.parametrize("shape", [(32, 32, 3), (33, 35, 1)])
def test_ms_ssim_matches_numpy_reference(shape):
    a, b = pair(1, shape)
    expected = numpy_ms_ssim(a, b)
    assert 0.05 < expected < 0.99
    assert mss.ms_ssim(a[None], b[None])[0] == pytest.approx(expected, rel=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                    reason="tensorflow not installed: no tf.image.ssim_multiscale reference")
def test_ms_ssim_matches_tf_image_ssim_multiscale():
    import tensorflow as tf

    a, b = pair(2, (2, 48, 48, 3))  # TF2 needs >= filter_size pixels at all 5 scales
    expected = tf.image.ssim_multiscale(a.astype(np.float32), b.astype(np.float32), 255.0,
                                        filter_size=3).numpy()
    np.testing.assert_allclose(mss.ms_ssim(a, b, filter_size=3), expected, rtol=1e-4)


def test_ms_ssim_diversity_protocol():
    rng = np.random.default_rng(3)
    noise = rng.uniform(0, 255, (70, 32, 32, 3))
    collapsed = np.repeat(noise[:1], 70, axis=0)
    mean, std = mss.ms_ssim_diversity(collapsed, num_batches=2, batch_size=8)
    assert mean == pytest.approx(1.0, abs=1e-5) and std < 1e-6
    diverse, _ = mss.ms_ssim_diversity(noise, num_batches=2, batch_size=8)
    assert diverse < 0.2
    with pytest.raises(ValueError, match="at least 64 images"):
        mss.ms_ssim_diversity(noise[:10])
