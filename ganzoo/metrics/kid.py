"""Kernel Inception Distance (Binkowski et al., 2018): unbiased MMD^2 with the cubic kernel.

k(x, y) = (x . y / d + 1)^3 on Inception pool_3 features. The estimate is TF-GAN's block
estimator: the sets are split into `n_blocks` blocks of at most `max_block_size` (default 1024)
samples, the unbiased MMD^2 U-statistic is computed per block and averaged; the spread of the
block estimates gives a standard error (NaN with fewer than 5 blocks, as TF-GAN).

Unlike compare_gan's / TF-GAN's code, the generated block's own size is used for its
normalisation (they use the real block's size for both), which only matters for unequal sets.
Each block must be a random sample of its set, which TF-GAN leaves to the caller: a reference
set read in class order (CIFAR10's test tar is in class folders) would put one class in each
real block and inflate KID several times over. So both sets are shuffled first, with a fixed seed
(the value is then a deterministic function of the two sets); seed=None keeps their order.
"""
import math

import numpy as np


def polynomial_kernel(a, b):
    d = a.shape[1]
    return (a @ b.T / d + 1.0) ** 3


def _block_sizes(n, n_blocks):
    sizes = np.full(n_blocks, n // n_blocks)
    sizes[: n % n_blocks] += 1
    return sizes


def kid_blocks(real, fake, max_block_size=1024, seed=0):
    """The per-block unbiased MMD^2 estimates (array of length n_blocks), after shuffling both
    sets with `seed` (None: blocks in the given order)."""
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, d) with the same d; got {real.shape}, {fake.shape}")
    if seed is not None:
        rng = np.random.default_rng(seed)
        real, fake = real[rng.permutation(len(real))], fake[rng.permutation(len(fake))]
    n_real, n_fake = len(real), len(fake)
    n_blocks = int(math.ceil(max(n_real, n_fake) / max_block_size))
    sizes_r, sizes_f = _block_sizes(n_real, n_blocks), _block_sizes(n_fake, n_blocks)
    if min(sizes_r.min(), sizes_f.min()) < 2:
        raise ValueError(
            f"KID needs at least 2 samples per block in each set; got {n_real} real and {n_fake} "
            f"generated samples in {n_blocks} blocks"
        )
    starts_r, starts_f = np.r_[0, np.cumsum(sizes_r)], np.r_[0, np.cumsum(sizes_f)]
    estimates = np.empty(n_blocks)
    for i in range(n_blocks):
        r = real[starts_r[i]:starts_r[i + 1]]
        g = fake[starts_f[i]:starts_f[i + 1]]
        m, n = len(r), len(g)
        k_rr, k_gg, k_rg = polynomial_kernel(r, r), polynomial_kernel(g, g), polynomial_kernel(r, g)
        estimates[i] = ((k_rr.sum() - np.trace(k_rr)) / (m * (m - 1))
                        + (k_gg.sum() - np.trace(k_gg)) / (n * (n - 1))
                        - 2.0 * k_rg.mean())
    return estimates


def kid(real, fake, max_block_size=1024, return_stderr=False, seed=0):
    """Unbiased KID between two feature sets (N, d); optionally (kid, standard error)."""
    estimates = kid_blocks(real, fake, max_block_size, seed=seed)
    value = float(estimates.mean())
    if not return_stderr:
        return value
    stderr = float(np.sqrt(estimates.var() / len(estimates))) if len(estimates) >= 5 else math.nan
    return value, stderr
