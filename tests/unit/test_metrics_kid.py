"""KID: the block estimator is unbiased (checked against a closed-form MMD^2)."""
import numpy as np
import pytest

from ganzoo.metrics import kid


def gaussian_moments(mu, s):
    """E x, E x^2, E x^3 of N(mu, s^2)."""
    return np.array([mu, mu**2 + s**2, mu**3 + 3 * mu * s**2])


def closed_form_mmd2_1d(mu1, s1, mu2, s2):
    # d = 1: k(x, y) = (xy + 1)^3 = x^3 y^3 + 3 x^2 y^2 + 3 x y + 1, so
    # MMD^2 = (m3 - n3)^2 + 3 (m2 - n2)^2 + 3 (m1 - n1)^2.
    m, n = gaussian_moments(mu1, s1), gaussian_moments(mu2, s2)
    return float((m[2] - n[2]) ** 2 + 3 * (m[1] - n[1]) ** 2 + 3 * (m[0] - n[0]) ** 2)


def test_kid_is_unbiased_for_different_distributions():
    rng = np.random.default_rng(0)
    truth = closed_form_mmd2_1d(0.0, 1.0, 0.3, 0.8)
    estimates = [kid.kid(rng.normal(0.0, 1.0, (60, 1)), rng.normal(0.3, 0.8, (60, 1)), 20)
                 for _ in range(1500)]
    stderr = np.std(estimates) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - truth) < 4 * stderr, (np.mean(estimates), truth, stderr)


def test_kid_is_unbiased_for_equal_distributions():
    rng = np.random.default_rng(1)
    estimates, biased = [], []
    for _ in range(1000):
        x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
        estimates.append(kid.kid(x, y, max_block_size=30))
        kxx, kyy, kxy = kid.polynomial_kernel(x, x), kid.polynomial_kernel(y, y), kid.polynomial_kernel(x, y)
        biased.append(kxx.mean() + kyy.mean() - 2 * kxy.mean())  # the V-statistic
    stderr = np.std(estimates) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates)) < 4 * stderr
    assert np.mean(biased) > 10 * stderr  # the naive estimate is clearly biased upwards


def test_kid_blocks_and_stderr():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(103, 4)), rng.normal(0.5, 1.0, size=(57, 4))
    blocks = kid.kid_blocks(x, y, max_block_size=20)
    assert len(blocks) == 6
    value, stderr = kid.kid(x, y, max_block_size=20, return_stderr=True)
    assert value == pytest.approx(blocks.mean()) and stderr > 0
    assert np.isnan(kid.kid(x, y, max_block_size=1024, return_stderr=True)[1])


def test_kid_refuses_tiny_sets():
    with pytest.raises(ValueError, match="at least 2 samples per block"):
        kid.kid(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="same d"):
        kid.kid(np.zeros((5, 3)), np.zeros((5, 4)))


def test_kid_blocks_are_random_samples_of_a_set_in_class_order():
    """A reference set stored class by class (CIFAR10's test tar) against a mixed set from the
    same distribution: KID is about 0 once the sets are shuffled, and large in stored order
    (each real block one class), which is why kid() shuffles by default."""
    rng = np.random.default_rng(3)
    centres = rng.normal(0.0, 3.0, size=(5, 8))
    labels = np.sort(rng.integers(0, 5, 2000))
    real = centres[labels] + rng.normal(size=(2000, 8))
    fake = centres[rng.integers(0, 5, 2000)] + rng.normal(size=(2000, 8))
    value, stderr = kid.kid(real, fake, max_block_size=400, return_stderr=True)
    in_order = kid.kid(real, fake, max_block_size=400, seed=None)
    assert abs(value) < 4 * stderr + 1e-3, (value, stderr)
    assert in_order > 20 * abs(value) + 10 * stderr, (in_order, value, stderr)
    assert kid.kid(real, fake, max_block_size=400) == value  # deterministic for a given seed
