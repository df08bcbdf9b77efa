"""FID: zero for a set with itself, the closed form for Gaussians, statistics files, errors."""
import numpy as np
import pytest

from ganzoo.metrics import fid


def psd_sqrt(m):
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def closed_form_fid(mu1, s1, mu2, s2):
    """Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) by eigendecompositions, not scipy.linalg.sqrtm."""
    r = psd_sqrt(s1)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(psd_sqrt(r @ s2 @ r)))


def random_cov(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fid_of_a_set_with_itself_is_zero():
    feats = np.random.default_rng(0).standard_normal((600, 64)) ** 2
    stats = fid.FIDStats.from_features(feats)
    assert abs(fid.fid_from_stats(stats, stats)) < 1e-6


def test_fid_of_two_gaussians_matches_closed_form():
    rng = np.random.default_rng(1)
    d = 16
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = random_cov(rng, d), random_cov(rng, d)
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        closed_form_fid(mu1, s1, mu2, s2), rel=1e-8)
    # Commuting (diagonal) case by hand: sum (sqrt a - sqrt b)^2 + |mu1 - mu2|^2.
    a, b = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    assert fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_eigh_and_sqrtm_methods_agree_also_when_rank_deficient():
    rng = np.random.default_rng(4)
    for n in (400, 20):  # full rank, then rank 19 of 64
        a, b = rng.standard_normal((n, 64)), rng.standard_normal((n, 64)) * 1.3 + 0.2
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        assert fid.frechet_distance(0, s1, 0, s2, method="eigh") == pytest.approx(
            fid.frechet_distance(0, s1, 0, s2, method="sqrtm"), rel=1e-6)


def test_fid_from_samples_converges_to_population_value():
    rng = np.random.default_rng(2)
    d = 4
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    s1, s2 = random_cov(rng, d), random_cov(rng, d)
    x = rng.multivariate_normal(mu1, s1, 40000)
    y = rng.multivariate_normal(mu2, s2, 40000)
    assert fid.fid_from_features(x, y) == pytest.approx(closed_form_fid(mu1, s1, mu2, s2), abs=0.1)


def test_statistics_roundtrip(tmp_path):
    feats = np.random.default_rng(3).standard_normal((50, 8))
    stats = fid.FIDStats.from_features(feats, source="x", network_sha256="abc")
    stats.save(tmp_path / "s.npz")
    back = fid.FIDStats.load(tmp_path / "s.npz")
    assert back.n == 50 and back.protocol == {"source": "x", "network_sha256": "abc"}
    np.testing.assert_allclose(back.sigma, np.cov(feats, rowvar=False))
    np.savez(tmp_path / "bad.npz", mu=np.zeros(3))
    with pytest.raises(ValueError, match="lacks"):
        fid.FIDStats.load(tmp_path / "bad.npz")


def test_too_few_samples_for_a_covariance():
    with pytest.raises(ValueError, match="too few for a covariance.*at least 2049"):
        fid.FIDStats.from_features(np.ones((10, 2048)))
    with pytest.raises(ValueError, match="at least 2 "):
        fid.FIDStats.from_features(np.ones((1, 4)), min_samples=2)
    stats = fid.FIDStats.from_features(np.random.default_rng(0).random((10, 2048)), min_samples=2)
    assert stats.n == 10


def test_mismatched_dimensions_are_refused():
    with pytest.raises(ValueError, match="different dimensions"):
        fid.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        fid.FIDStats.from_features(np.zeros((5, 2, 2)))
