"""The 2-D mixtures test bed: the metrics against closed-form cases, and the mlp2d family
building and training through GAN.fit on the current backend."""
import numpy as np
import pytest

import ganzoo
from ganzoo.analysis import mixtures
from ganzoo.architectures import ARCHITECTURES, build_discriminator, build_generator
from ganzoo.recipe import Recipe, RecipeError


def test_standard_parameters():
    ring, grid = mixtures.ring(), mixtures.grid()
    np.testing.assert_allclose(np.linalg.norm(ring.modes, axis=1), 2.0)
    np.testing.assert_allclose(ring.modes[2], [0.0, 2.0], atol=1e-12)
    assert len(ring.modes) == 8 and ring.std == 0.02
    assert len(grid.modes) == 25 and grid.std == 0.05
    assert {tuple(m) for m in grid.modes} == {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    points = ring.sample(20000, seed=0)
    assert points.dtype == np.float32
    # Every ring sample lies within 5 std of a mode; the radial spread is the mode std.
    index, distance = mixtures.nearest_mode(points, ring)
    assert distance.max() < 5 * 0.02 and np.bincount(index).min() > 2000
    np.testing.assert_allclose(np.std(points - ring.modes[index]), 0.02, rtol=0.03)


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_samples_at_the_modes_cover_all_with_full_quality(name):
    mixture = mixtures.get_mixture(name)
    points = np.repeat(mixture.modes, 10, axis=0)
    assert mixtures.modes_covered(points, mixture) == len(mixture.modes)
    assert mixtures.high_quality_share(points, mixture) == 1.0
    assert mixtures.mode_kl(points, mixture) == pytest.approx(0.0, abs=1e-12)
    # Energy distance of a sample to itself is exactly 0.
    assert mixtures.energy_distance(points, points) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_samples_from_one_mode_cover_one(name):
    mixture = mixtures.get_mixture(name)
    one = mixture.modes[3] + mixture.std * np.random.default_rng(0).standard_normal((1000, 2)) * 0.5
    assert mixtures.modes_covered(one, mixture) == 1
    assert mixtures.high_quality_share(one, mixture) == 1.0
    assert mixtures.mode_kl(one, mixture) == pytest.approx(np.log(len(mixture.modes)))


def test_quality_threshold_and_coverage_rule():
    ring = mixtures.ring()
    # A point 2.9 std from mode 0 counts, one at 3.1 std does not; one far away never does.
    points = np.array([[2.0 + 2.9 * 0.02, 0.0], [2.0 + 3.1 * 0.02, 0.0], [0.0, 0.0], [0.0, 2.0]])
    assert mixtures.mode_counts(points, ring).tolist() == [1, 0, 1, 0, 0, 0, 0, 0]
    assert mixtures.high_quality_share(points, ring) == 0.5
    # 80 points: uniform share 10, a mode needs >= 2 good samples; mode 0 has 71, mode 2 has 1.
    points = np.concatenate([np.repeat(ring.modes[:1], 71, 0), ring.modes[2:3], np.zeros((8, 2))])
    assert mixtures.modes_covered(points, ring) == 1
    p = np.array([71, 1]) / 72
    assert mixtures.mode_kl(points, ring) == pytest.approx(np.log(8) + np.sum(p * np.log(p)))


def test_energy_distance_closed_form():
    # Two point masses a, b: 2|a - b| - 0 - 0.
    a, b = np.zeros((5, 2)), np.tile([3.0, 4.0], (7, 1))
    assert mixtures.energy_distance(a, b) == pytest.approx(10.0)
    # Half at 0 and half at 1 (1-D along x) against all at 0: 2 * 0.5 - 0.5 - 0 = 0.5.
    x = np.array([[0.0, 0.0], [1.0, 0.0]] * 50)
    assert mixtures.energy_distance(x, np.zeros((10, 2))) == pytest.approx(0.5)


def test_metrics_refuse_bad_samples():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        mixtures.high_quality_share(np.zeros((4, 3)), mixtures.ring())
    with pytest.raises(ValueError, match="diverged"):
        mixtures.evaluate(np.full((4, 2), np.nan), mixtures.ring())
    with pytest.raises(ValueError, match="valid choices: ring, grid"):
        mixtures.get_mixture("spiral")


def test_mlp2d_family_builds_and_refuses_images():
    assert "mlp2d" in ARCHITECTURES
    g = build_generator("mlp2d", z_dim=4)
    d = build_discriminator("mlp2d", normalization="none")
    assert tuple(g(np.zeros((3, 4), "float32")).shape) == (3, 2)
    assert tuple(d(np.zeros((3, 2), "float32")).shape) == (3, 1)
    with pytest.raises(RecipeError, match="mlp2d makes 2-D points"):
        Recipe("mlp2d", resolution=32)
    with pytest.raises(RecipeError, match="none or spectral"):
        Recipe("mlp2d", resolution=1, normalization="batch")


@pytest.mark.parametrize("fields", [
    dict(normalization="none"),
    dict(normalization="spectral", loss="wgan", penalty="wgan_gp", penalty_weight=0.1),
    dict(normalization="none", penalty="r1", penalty_weight=1.0),
])
def test_mlp2d_trains_through_fit(fields):
    gan = ganzoo.build_gan("mlp2d", z_dim=4, seed=0, **fields)
    assert gan.recipe.resolution == 1
    points = mixtures.ring().sample(32, seed=0)
    before = gan.generate(8, seed=1)
    history = gan.fit(points, batch_size=16, epochs=1, verbose=0)
    assert gan.d_steps == 2 and gan.g_steps == 2
    assert np.isfinite(history.history["d_loss"]).all() and np.isfinite(history.history["g_loss"]).all()
    after = gan.generate(8, seed=1)
    assert after.shape == (8, 2) and not np.allclose(before, after)
    with pytest.raises(ValueError, match=r"must have shape \(N, 2\)"):
        gan.fit(np.zeros((16, 3), "float32"), batch_size=16, epochs=1, verbose=0)
