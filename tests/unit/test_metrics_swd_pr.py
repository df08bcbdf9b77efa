"""Sliced Wasserstein distance and improved precision/recall."""
import numpy as np
import pytest

from ganzoo.metrics import precision_recall as pr
from ganzoo.metrics import swd


def test_swd_is_zero_for_identical_sets_and_grows_with_difference():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (24, 32, 32, 3)).astype(np.float32)
    same = swd.swd(images, images.copy(), patches_per_image=16)
    assert set(same) == {32, 16, "avg"}
    assert same["avg"] == 0.0
    blurred = (images + np.roll(images, 1, axis=1) + np.roll(images, 1, axis=2)) / 3
    assert swd.swd(images, blurred, patches_per_image=16)["avg"] > 10.0


def test_laplacian_pyramid_reconstructs_the_image():
    batch = np.random.default_rng(1).uniform(0, 255, (2, 3, 32, 32)).astype(np.float32)
    pyramid = swd.laplacian_pyramid(batch, 3)
    assert [p.shape[-1] for p in pyramid] == [32, 16, 8]
    rebuilt = pyramid[-1]
    for level in pyramid[-2::-1]:
        rebuilt = swd._pyr_up(rebuilt) + level
    np.testing.assert_allclose(rebuilt, batch, atol=1e-3)


def test_sliced_wasserstein_of_shifted_sets_matches_1d_distance():
    # For a = b + c (a constant shift), every projection is shifted by c . dir, and W1 = |c . dir|.
    rng = np.random.default_rng(2)
    b = rng.standard_normal((500, 3)).astype(np.float32)
    shift = np.float32([1.0, 0.0, 0.0])
    value = swd.sliced_wasserstein(b + shift, b, dir_repeats=1, dirs_per_repeat=2000, seed=0)
    # E|x_1| for a uniformly random unit vector in R^3 is 1/2.
    assert value == pytest.approx(0.5, abs=0.02)


def test_swd_refuses_small_or_mismatched_images():
    with pytest.raises(ValueError, match="at least 16x16"):
        swd.SWDAccumulator(8)
    acc = swd.SWDAccumulator(32)
    with pytest.raises(ValueError, match="expects 32px"):
        acc.update(np.zeros((2, 16, 16, 3)))


def brute_force_precision(real, fake, k):
    radii = [np.sort(np.linalg.norm(real - r, axis=1))[k] for r in real]
    return np.mean([any(np.linalg.norm(f - r) <= rad for r, rad in zip(real, radii)) for f in fake])


def test_precision_recall_matches_brute_force():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((60, 5))
    fake = rng.standard_normal((45, 5)) * 1.5 + 0.5
    result = pr.precision_recall(real, fake, k=3)
    assert result["precision"] == pytest.approx(brute_force_precision(real, fake, 3))
    assert result["recall"] == pytest.approx(brute_force_precision(fake, real, 3))
    assert 0 < result["precision"] < 1 and 0 < result["recall"] < 1


def test_precision_recall_extremes():
    rng = np.random.default_rng(4)
    real = rng.standard_normal((40, 4))
    assert pr.precision_recall(real, real.copy()) == {"precision": 1.0, "recall": 1.0}
    assert pr.precision_recall(real, real + 100.0) == {"precision": 0.0, "recall": 0.0}
    with pytest.raises(ValueError, match="more than 3 samples"):
        pr.precision_recall(real[:3], real)
