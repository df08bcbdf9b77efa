"""Fréchet Inception Distance (Heusel et al., 2017).

FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)) between Gaussians fitted to Inception pool_3
features. Statistics are kept as `FIDStats` (mu, sigma, n and the protocol that produced them)
and saved as .npz, so a reference set is pushed through the network once.
"""
import json
import warnings

import numpy as np
import scipy.linalg


class FIDStats:
    """Mean, covariance and sample count of a feature set, with its protocol (a dict)."""

    def __init__(self, mu, sigma, n, protocol=None):
        self.mu = np.asarray(mu, np.float64)
        self.sigma = np.asarray(sigma, np.float64)
        self.n = int(n)
        self.protocol = dict(protocol or {})
        d = self.mu.shape[0] if self.mu.ndim == 1 else None
        if d is None or self.sigma.shape != (d, d):
            raise ValueError(
                f"statistics need mu of shape (d,) and sigma (d, d); got {self.mu.shape} and "
                f"{self.sigma.shape}"
            )

    @classmethod
    def from_features(cls, features, min_samples=None, **protocol):
        """Fit mean and (unbiased) covariance to features (N, d).

        min_samples: fewest samples accepted; by default d + 1, the fewest for which the
        covariance can be full rank. Pass 2 to accept a rank-deficient estimate.
        """
        features = np.asarray(features)
        if features.ndim != 2:
            raise ValueError(f"features must be (N, d), got shape {features.shape}")
        n, d = features.shape
        needed = d + 1 if min_samples is None else max(2, int(min_samples))
        if n < needed:
            raise ValueError(
                f"{n} samples of {d}-d features are too few for a covariance: at least {needed} "
                f"are needed ({d + 1} for a full-rank {d}x{d} covariance; the paper's protocol "
                "uses 10,000). Use more images, or pass min_samples=2 (ganzoo fid/stats: "
                "--min-samples 2) for a rank-deficient, biased estimate."
            )
        if not np.all(np.isfinite(features)):
            raise ValueError("features contain NaN or infinite values")
        features = features.astype(np.float64)
        mu = features.mean(axis=0)
        sigma = np.cov(features, rowvar=False)
        protocol = {k: v for k, v in protocol.items() if v is not None}
        return cls(mu, sigma, n, protocol)

    def save(self, path):
        np.savez(path, mu=self.mu, sigma=self.sigma, n=np.int64(self.n),
                 protocol=np.array(json.dumps(self.protocol, sort_keys=True)))

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as data:
            missing = {"mu", "sigma"} - set(data.files)
            if missing:
                raise ValueError(f"{path} is not a statistics file: it lacks {sorted(missing)}")
            n = int(data["n"]) if "n" in data.files else 0
            protocol = json.loads(str(data["protocol"])) if "protocol" in data.files else {}
            return cls(data["mu"], data["sigma"], n, protocol)


def trace_sqrt_product(sigma1, sigma2, method="eigh", eps=1e-6):
    """Tr(sqrtm(sigma1 @ sigma2)) for covariance matrices.

    method="eigh" (default): S1 S2 is similar to the symmetric PSD matrix S1^1/2 S2 S1^1/2, so
    the trace is the sum of the square roots of that matrix's eigenvalues (two symmetric
    eigendecompositions; several times faster than sqrtm for 2048x2048 and robust when the
    covariances are rank-deficient). method="sqrtm": scipy.linalg.sqrtm of the product, as the
    reference TTUR / compare_gan code (with its eps-offset fallback); the two agree to ~1e-10.
    """
    if method == "sqrtm":
        covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
        if not np.all(np.isfinite(covmean)):
            warnings.warn(f"FID: sqrtm(S1 S2) is singular; adding {eps} to the diagonals")
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
        if np.iscomplexobj(covmean):
            if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
                raise ValueError(
                    f"FID: sqrtm(S1 S2) has a large imaginary part "
                    f"({np.max(np.abs(covmean.imag)):.3g}); the covariances are ill-conditioned"
                )
            covmean = covmean.real
        return float(np.trace(covmean))
    if method != "eigh":
        raise ValueError(f"method must be 'eigh' or 'sqrtm', got {method!r}")
    w, v = scipy.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = root1 @ sigma2 @ root1
    eig = scipy.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, method="eigh"):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"statistics of different dimensions: mu {mu1.shape} vs {mu2.shape}, sigma "
            f"{sigma1.shape} vs {sigma2.shape}"
        )
    diff = mu1 - mu2
    trace_covmean = trace_sqrt_product(sigma1, sigma2, method)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean)


def fid_from_stats(a, b):
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def fid_from_features(features_a, features_b, min_samples=None):
    a = FIDStats.from_features(features_a, min_samples=min_samples)
    b = FIDStats.from_features(features_b, min_samples=min_samples)
    return fid_from_stats(a, b)


def combined_protocol(a, b):
    """The protocol facts of a comparison; warns when the two sides disagree on the network."""
    ha, hb = a.protocol.get("network_sha256"), b.protocol.get("network_sha256")
    if ha and hb and ha != hb:
        warnings.warn(f"FID between statistics from different networks ({ha[:12]} vs {hb[:12]})")
    return {"n_a": a.n, "n_b": b.n, "network_sha256": ha or hb}
