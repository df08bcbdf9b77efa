"""Copies and mode collapse without a classifier: nearest-neighbour distances in feature space.

    values = nearest_neighbours(generated, train, test)     # (N, d) feature arrays

Two questions, each answered against the same question asked of real data, so that no threshold
has to be guessed:

- **Does it copy its training images?** For each generated sample, the distance to its nearest
  training sample (generated -> train), compared with the same distance for held-out real
  images (test -> train): a generator that draws new images from the data distribution is as far
  from the training set as the test images are, so `nn_ratio_median` (median generated -> train
  over median test -> train) is about 1; copies give a ratio well below 1 (0 for exact copies).
  `nn_ratio_p1` compares the 1st percentiles (a few copies among many new images), and
  `nn_copy_share` is the share of generated samples closer to the training set than the
  `quantile` (1%) of the test images are: about `quantile` for a generator that does not copy,
  up to 1 for one that does.
- **Does it collapse?** For each generated sample, the distance to its nearest *other* generated
  sample (generated -> generated), against real -> real within a set of the same size (the test
  images; the set size changes nearest-neighbour distances, so both sides use the same number,
  a seeded subset of the larger set). `nn_duplicate_share` is the share of generated samples
  whose nearest generated neighbour is closer than the `quantile` of the real pairs: about
  `quantile` for a diverse generator, near 1 when the samples crowd a few points.

Distances are Euclidean, exact, computed in blocks of batched matrix products (float64, at most
about `memory_mb` of distances at a time): in 2048 dimensions a k-d tree prunes nothing. The
evaluator uses the Inception pool_3 features of FID and precision/recall; any features work.
"""
import numpy as np

from ganzoo.metrics.precision_recall import pairwise_sq_distances

DEFAULT_QUANTILE = 0.01
DEFAULT_MEMORY_MB = 256


def _features(x, what):
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) < 2 or not np.isfinite(x).all():
        raise ValueError(f"nearest_neighbours: {what} must be a finite (N, d) array with N >= 2; "
                         f"got shape {x.shape}")
    return x


def nearest_distances(queries, reference, exclude_self=False, memory_mb=DEFAULT_MEMORY_MB):
    """Euclidean distance from each query row to its nearest reference row, float64 (N,).

    exclude_self: queries and reference are the same set; a row is not its own neighbour.
    Blocks of queries keep about memory_mb of float64 distances in memory at a time.
    """
    queries, reference = np.asarray(queries, np.float64), np.asarray(reference, np.float64)
    if exclude_self and queries.shape != reference.shape:
        raise ValueError("exclude_self needs the same set as queries and reference")
    block = max(1, min(len(queries), int(memory_mb * 2**20 // (8 * max(1, len(reference))))))
    out = np.empty(len(queries))
    for start in range(0, len(queries), block):
        d = pairwise_sq_distances(queries[start:start + block], reference)
        if exclude_self:
            rows = np.arange(len(d))
            d[rows, start + rows] = np.inf
        out[start:start + block] = d.min(axis=1)
    return np.sqrt(out)


def _subset(x, n, rng):
    return x if len(x) == n else x[np.sort(rng.choice(len(x), n, replace=False))]


def nearest_neighbours(generated, train, test, quantile=DEFAULT_QUANTILE, seed=0,
                       memory_mb=DEFAULT_MEMORY_MB):
    """The copy and collapse numbers of the module doc, as a dict of floats.

    generated, train, test: (N, d) features of generated images, of the training images and of
    held-out real images (not in train). quantile: where the real distances are cut for the
    shares (default 1%). seed: the subset that equalises the within-set sizes.
    """
    generated = _features(generated, "generated")
    train = _features(train, "train")
    test = _features(test, "test (held-out real)")
    if not generated.shape[1] == train.shape[1] == test.shape[1]:
        raise ValueError(f"nearest_neighbours: feature sizes differ: generated {generated.shape}, "
                         f"train {train.shape}, test {test.shape}")
    if not 0.0 < quantile < 0.5:
        raise ValueError(f"nearest_neighbours: quantile must be in (0, 0.5); got {quantile!r}")
    gen_train = nearest_distances(generated, train, memory_mb=memory_mb)
    test_train = nearest_distances(test, train, memory_mb=memory_mb)
    rng = np.random.default_rng(seed)
    n = min(len(generated), len(test))
    gen_set, real_set = _subset(generated, n, rng), _subset(test, n, rng)
    gen_gen = nearest_distances(gen_set, gen_set, exclude_self=True, memory_mb=memory_mb)
    real_real = nearest_distances(real_set, real_set, exclude_self=True, memory_mb=memory_mb)
    copy_cut, pair_cut = np.quantile(test_train, quantile), np.quantile(real_real, quantile)
    median_gt, median_tt = float(np.median(gen_train)), float(np.median(test_train))
    low_gt, low_tt = float(np.quantile(gen_train, 0.01)), float(np.quantile(test_train, 0.01))
    return {
        "nn_ratio_median": median_gt / median_tt if median_tt > 0 else float("nan"),
        "nn_ratio_p1": low_gt / low_tt if low_tt > 0 else float("nan"),
        "nn_copy_share": float(np.mean(gen_train < copy_cut)),
        "nn_duplicate_share": float(np.mean(gen_gen < pair_cut)),
        "nn_gen_train_median": median_gt,
        "nn_test_train_median": median_tt,
        "nn_gen_gen_median": float(np.median(gen_gen)),
        "nn_real_real_median": float(np.median(real_real)),
    }


def protocol(quantile=DEFAULT_QUANTILE, n_train=None, space="Inception pool_3"):
    """The protocol string of an evaluation record."""
    return (f"Euclidean nearest neighbours in {space} space: generated->train vs real->train "
            f"({n_train} training samples), generated->generated vs real->real at equal set "
            f"sizes; ratios of medians and of 1st percentiles, shares below the real "
            f"{quantile:g} quantile")
