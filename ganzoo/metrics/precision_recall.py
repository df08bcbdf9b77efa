"""Improved precision and recall (Kynkäänniemi et al., 2019) in Inception feature space.

Each set's manifold is the union of balls around its samples, each ball reaching the sample's
k-th nearest neighbour in the same set (k = 3). Precision: the fraction of generated samples
inside the real manifold; recall: the fraction of real samples inside the generated one.
(The paper uses VGG-16 features; ganzoo uses the FID network's pool_3 features, so the values are
not comparable with that paper's.)
"""
import numpy as np


def _sq_norms(x):
    return np.einsum("ij,ij->i", x, x)


def pairwise_sq_distances(a, b):
    d = _sq_norms(a)[:, None] + _sq_norms(b)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def knn_radii(features, k=3, block=1024):
    """Squared distance from each sample to its k-th nearest other sample of the same set."""
    n = len(features)
    if n <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set, got {n}")
    radii = np.empty(n)
    for start in range(0, n, block):
        d = pairwise_sq_distances(features[start:start + block], features)
        # index k: the 0th smallest is the sample itself (distance 0)
        radii[start:start + block] = np.partition(d, k, axis=1)[:, k]
    return radii


def coverage_fraction(queries, manifold, radii, block=1024):
    """Fraction of queries within radius of at least one manifold sample."""
    inside = np.zeros(len(queries), bool)
    for start in range(0, len(queries), block):
        d = pairwise_sq_distances(queries[start:start + block], manifold)
        inside[start:start + block] = np.any(d <= radii[None, :], axis=1)
    return float(inside.mean())


def precision_recall(real, fake, k=3):
    """{"precision": ..., "recall": ...} between feature sets (N, d) and (M, d)."""
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, d) with the same d; got {real.shape}, {fake.shape}")
    precision = coverage_fraction(fake, real, knn_radii(real, k))
    recall = coverage_fraction(real, fake, knn_radii(fake, k))
    return {"precision": precision, "recall": recall}
