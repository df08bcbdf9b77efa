"""Fréchet Inception Distance (Heusel et al., 2017).

FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)) between Gaussians fitted to Inception pool_3
features. Statistics are kept as `FIDStats` (mu, sigma, n and the protocol that produced them)
and saved as .npz, so a reference set is pushed through the network once. Features are saved as
.npy with their protocol beside them (`<file>.npy.json`).

Files are checked when read: a truncated or foreign .npz/.npy, NaN or infinite values, a
covariance that is not a symmetric d x d matrix are refused with a ValueError naming the file.
"""
import json
import numbers
import pathlib
import warnings
import zipfile

import numpy as np
import scipy.linalg

INCEPTION_DIM = 2048
_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError)


class StatsFileError(ValueError):
    """A statistics or features file that is corrupt or not what it claims; it is not used."""


class FIDStats:
    """Mean, covariance and sample count of a feature set, with its protocol (a dict)."""

    def __init__(self, mu, sigma, n, protocol=None):
        self.mu = np.asarray(mu, np.float64)
        self.sigma = np.asarray(sigma, np.float64)
        self.n = int(n)
        self.protocol = dict(protocol or {})
        d = self.mu.shape[0] if self.mu.ndim == 1 else None
        if d is None or d == 0 or self.sigma.shape != (d, d):
            raise ValueError(
                f"statistics need mu of shape (d,) and sigma (d, d); got {self.mu.shape} and "
                f"{self.sigma.shape}"
            )
        if self.n < 0:
            raise ValueError(f"statistics have a negative sample count n={self.n}")
        if not (np.all(np.isfinite(self.mu)) and np.all(np.isfinite(self.sigma))):
            raise ValueError(
                "statistics contain NaN or infinite values (mu or sigma): they were computed from "
                "broken features; recompute them (ganzoo stats)"
            )
        scale = max(1.0, float(np.max(np.abs(self.sigma))))
        if not np.allclose(self.sigma, self.sigma.T, rtol=0, atol=1e-6 * scale):
            raise ValueError("statistics have a sigma that is not symmetric: not a covariance")
        if np.any(np.diagonal(self.sigma) < -1e-6 * scale):
            raise ValueError("statistics have negative variances on sigma's diagonal: not a "
                             "covariance")

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
        """Write the statistics to exactly `path` (.npz), atomically."""
        from ganzoo.utils.files import atomic_output

        with atomic_output(path, suffix=".npz", what="statistics file") as temp:
            with open(temp, "wb") as handle:
                np.savez(handle, mu=self.mu, sigma=self.sigma, n=np.int64(self.n),
                         protocol=np.array(json.dumps(self.protocol, sort_keys=True)))
        return pathlib.Path(path)

    @classmethod
    def load(cls, path):
        """Read statistics saved by `save`; anything else (truncated, NaN, foreign) is refused."""
        fix = "recompute it with `ganzoo stats`"
        try:
            with np.load(path, allow_pickle=False) as data:
                if not hasattr(data, "files"):
                    raise StatsFileError(f"{path} is a single array, not a statistics .npz: {fix}")
                missing = {"mu", "sigma"} - set(data.files)
                if missing:
                    raise StatsFileError(
                        f"{path} is not a statistics file: it lacks {sorted(missing)}; {fix}")
                mu, sigma = np.array(data["mu"]), np.array(data["sigma"])
                n = 0
                if "n" in data.files:
                    n_value = np.array(data["n"])
                    if n_value.shape != () or not np.issubdtype(n_value.dtype, np.integer):
                        raise StatsFileError(f"{path}: n is {n_value!r}, not an integer; {fix}")
                    n = int(n_value)
                protocol = {}
                if "protocol" in data.files:
                    protocol = json.loads(str(data["protocol"]))
                    if not isinstance(protocol, dict):
                        raise StatsFileError(f"{path}: its protocol is not a JSON object; {fix}")
        except FileNotFoundError:
            raise FileNotFoundError(f"statistics file {path} does not exist") from None
        except StatsFileError:
            raise
        except _READ_ERRORS as error:
            raise StatsFileError(
                f"{path} is not a readable statistics .npz ({type(error).__name__}: {error}): it "
                f"is truncated or corrupt; {fix}"
            ) from None
        if not (np.issubdtype(mu.dtype, np.floating) and np.issubdtype(sigma.dtype, np.floating)):
            raise StatsFileError(f"{path}: mu and sigma must be floating point; {fix}")
        try:
            return cls(mu, sigma, n, protocol)
        except ValueError as error:
            raise StatsFileError(f"{path}: {error}") from None

    def check_inception(self, what="statistics", allow_other=False):
        """Refuse statistics that are not 2048-d Inception pool_3 with a sample count, unless
        `allow_other` (ganzoo fid --allow-non-inception)."""
        if allow_other:
            return self
        d = self.mu.shape[0]
        if d != INCEPTION_DIM:
            raise ValueError(
                f"{what} are {d}-dimensional, not the 2048-d Inception pool_3 statistics an FID "
                "is defined on. Compute them with `ganzoo stats` (or pass --allow-non-inception "
                "to compare other features on purpose)."
            )
        if self.n < 2:
            raise ValueError(
                f"{what} record no sample count (n={self.n}): an FID without the number of "
                "images behind it cannot be compared with anything. Recompute them with `ganzoo "
                "stats` (or pass --allow-non-inception)."
            )
        return self


def _features_sidecar(path):
    path = pathlib.Path(path)
    return path.with_name(path.name + ".json")


def save_features(path, features, protocol=None):
    """Write features (N, d) to exactly `path` (.npy), atomically, and their protocol beside
    them as `<path>.json`."""
    from ganzoo.utils.files import atomic_output, write_text

    features = np.asarray(features)
    with atomic_output(path, suffix=".npy", what="features file") as temp:
        with open(temp, "wb") as handle:
            np.save(handle, features)
    record = {"shape": list(features.shape), **(protocol or {})}
    write_text(_features_sidecar(path), json.dumps(record, indent=2, sort_keys=True) + "\n",
               what="features protocol")
    return pathlib.Path(path)


def load_features(path, limit=None, seed=0):
    """(features (N, d) float, protocol) of a .npy written by `save_features` (or any 2-D .npy).

    With `limit`, a seeded random subset of the rows (numpy default_rng(seed)), recorded in the
    protocol as "row_subset", never the first `limit` rows (image sets are often sorted by
    class). The protocol is the one saved beside the file (`save_features`), if any.
    """
    from ganzoo.data.image_files import subset_indices, subset_protocol

    fix = "recompute it with `ganzoo features`"
    try:
        features = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"features file {path} does not exist") from None
    except _READ_ERRORS as error:
        raise StatsFileError(
            f"{path} is not a readable features .npy ({type(error).__name__}: {error}): it is "
            f"truncated or corrupt; {fix}"
        ) from None
    if not isinstance(features, np.ndarray) or features.ndim != 2 or not np.issubdtype(
            features.dtype, np.number):
        raise StatsFileError(
            f"{path} holds {getattr(features, 'shape', type(features).__name__)} "
            f"{getattr(features, 'dtype', '')}, not features (N, d); {fix}")
    if not np.all(np.isfinite(features)):
        raise StatsFileError(f"{path}: features contain NaN or infinite values; {fix}")
    protocol = {}
    sidecar = _features_sidecar(path)
    if sidecar.is_file():
        try:
            protocol = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise StatsFileError(f"{sidecar} is not valid JSON ({error}); {fix}") from None
        if not isinstance(protocol, dict):
            raise StatsFileError(f"{sidecar} is not a JSON object; {fix}")
        if protocol.get("shape", list(features.shape)) != list(features.shape):
            raise StatsFileError(
                f"{path} holds {list(features.shape)} features but {sidecar} describes "
                f"{protocol['shape']}: the two files do not belong together; {fix}")
        protocol.pop("shape", None)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        rows = subset_indices(len(features), limit, seed)
        protocol["row_subset"] = subset_protocol(len(features), limit, seed)["subset"]
        features = features[rows]
    return features, protocol


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
    for name, value in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"FID: {name} contains NaN or infinite values")
    diff = mu1 - mu2
    trace_covmean = trace_sqrt_product(sigma1, sigma2, method)
    value = float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean)
    if not np.isfinite(value):
        raise ValueError(f"FID is {value}: the statistics overflow or are not covariances")
    return value


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
