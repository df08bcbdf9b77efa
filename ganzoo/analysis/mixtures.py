"""The 2-D mixtures test bed: 8 Gaussians on a ring and 25 on a grid, and how close a sample is.

Parameters are the standard ones of the toy experiments (Metz et al. 2017, "Unrolled GANs";
Srivastava et al. 2017, VEEGAN, Sec. 5.1; Lin et al. 2018, PacGAN):

- ring: 8 modes evenly spaced on a circle of radius 2, each an isotropic Gaussian of std 0.02;
- grid: 25 modes at (i, j) for i, j in {-4, -2, 0, 2, 4}, std 0.05.

Metrics (NumPy, exact on the given samples):

- `high_quality_share`: share of samples within 3 std (Euclidean) of their nearest mode (VEEGAN);
- `modes_covered`: modes holding at least `min_share` of the uniform share N / K of high-quality
  samples (PacGAN counts a grid mode as lost with fewer than 20 of 2,500 samples: 0.2 * 2500 / 25);
- `mode_kl`: KL(p || uniform) of the histogram p of high-quality samples over the modes,
  log K - H(p): 0 for a perfect balance, log K when every good sample sits at one mode;
- `energy_distance`: Szekely's energy distance to fresh target samples,
  2 E|X - Y| - E|X - X'| - E|Y - Y'| (V-statistic over all pairs; 0 iff the laws agree).
"""
import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Mixture:
    name: str
    modes: np.ndarray  # (K, 2)
    std: float

    def sample(self, num, seed=None):
        """`num` points, modes chosen uniformly, float32."""
        rng = np.random.default_rng(seed)
        which = rng.integers(0, len(self.modes), size=num)
        return (self.modes[which] + self.std * rng.standard_normal((num, 2))).astype("float32")


def ring(num_modes=8, radius=2.0, std=0.02):
    angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
    return Mixture("ring", np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1), float(std))


def grid(low=-4.0, high=4.0, step=2.0, std=0.05):
    axis = np.arange(low, high + step / 2, step)
    modes = np.array([(x, y) for x in axis for y in axis], dtype=np.float64)
    return Mixture("grid", modes, float(std))


MIXTURES = {"ring": ring, "grid": grid}


def get_mixture(name):
    if name not in MIXTURES:
        raise ValueError(f"Unknown mixture {name!r}; valid choices: {', '.join(MIXTURES)}.")
    return MIXTURES[name]()


def _check_points(points):
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"samples must be a non-empty (N, 2) array of points; got shape {points.shape}.")
    if not np.all(np.isfinite(points)):
        raise ValueError("samples contain NaN or infinite values (the generator diverged).")
    return points


def nearest_mode(points, mixture):
    """(index of the nearest mode, distance to it) for each point."""
    points = _check_points(points)
    distances = np.linalg.norm(points[:, None, :] - mixture.modes[None, :, :], axis=-1)
    index = distances.argmin(1)
    return index, distances[np.arange(len(points)), index]


def mode_counts(points, mixture, num_std=3.0):
    """High-quality samples (within num_std std of their nearest mode) per mode, shape (K,)."""
    index, distance = nearest_mode(points, mixture)
    good = distance <= num_std * mixture.std
    return np.bincount(index[good], minlength=len(mixture.modes))


def high_quality_share(points, mixture, num_std=3.0):
    return float(mode_counts(points, mixture, num_std).sum() / len(_check_points(points)))


def modes_covered(points, mixture, num_std=3.0, min_share=0.2):
    """Modes with at least min_share * N / K high-quality samples (at least one sample)."""
    counts = mode_counts(points, mixture, num_std)
    threshold = max(1.0, min_share * len(_check_points(points)) / len(mixture.modes))
    return int((counts >= threshold).sum())


def mode_kl(points, mixture, num_std=3.0):
    """KL(p || uniform) over the modes of the high-quality samples; log K when there are none."""
    counts = mode_counts(points, mixture, num_std).astype(np.float64)
    k = len(mixture.modes)
    if counts.sum() == 0:
        return float(np.log(k))
    p = counts / counts.sum()
    nonzero = p > 0
    return float(np.log(k) + np.sum(p[nonzero] * np.log(p[nonzero])))


def _mean_pairwise_distance(a, b, chunk=1024):
    total = 0.0
    for start in range(0, len(a), chunk):
        total += np.linalg.norm(a[start:start + chunk, None, :] - b[None, :, :], axis=-1).sum()
    return total / (len(a) * len(b))


def energy_distance(points, target):
    """2 E|X - Y| - E|X - X'| - E|Y - Y'| over all pairs of two samples (>= 0)."""
    x, y = _check_points(points), _check_points(target)
    return float(2.0 * _mean_pairwise_distance(x, y) - _mean_pairwise_distance(x, x)
                 - _mean_pairwise_distance(y, y))


def evaluate(points, mixture, target_seed=12345, num_target=None):
    """Every metric of `points` against `mixture` as a dict (the driver's table row)."""
    points = _check_points(points)
    target = mixture.sample(num_target or len(points), seed=target_seed)
    return {
        "modes": modes_covered(points, mixture),
        "num_modes": len(mixture.modes),
        "high_quality": high_quality_share(points, mixture),
        "mode_kl": mode_kl(points, mixture),
        "energy": energy_distance(points, target),
    }
