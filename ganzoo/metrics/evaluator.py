"""One pass over the samples for every metric.

    ev = Evaluator(metrics=("fid", "kid", "precision_recall", "ms_ssim", "swd"))
    result = ev.evaluate(generator, real="cifar10-jpeg/test.tar", num_generated=10000)
    print(format_result(result))

Generated images stream from a generator (`.sample(n, seed, batch_size)`), a callable, an
array, a tf.data dataset or any iterable of batches, in batches, with a progress bar and a fixed
seed; each batch goes through the Inception network once and feeds every requested metric
(features for FID / KID / precision-recall, pyramids for SWD, the first images for MS-SSIM, a
classifier for IS). Every number comes back with its protocol: N generated, N real, the real
split, the resize, the network's hash.

`evaluate_zoo_model(name)` is the paper's protocol for a zoo model (CIFAR10: 10k generated vs
the 10k test images, 3 sample sets, mean and std), used by `ganzoo eval` and training/eval.py.
"""
import datetime
import json
import os
import pathlib

import numpy as np

METRICS = ("fid", "kid", "precision_recall", "ms_ssim", "swd", "inception_score")
FEATURE_METRICS = ("fid", "kid", "precision_recall")
CIFAR10_DIR_ENV = "GANZOO_CIFAR10_DIR"
# The paper's protocol per dataset: generated images per set, and the real split compared with.
PROTOCOLS = {
    "cifar10": {"num_generated": 10000, "real_split": "test", "num_real": 10000},
}


def _first_images(element):
    """A dataset element may be images, (images, labels, ...) or {"image": ...}."""
    if isinstance(element, dict):
        for key in ("image", "images", "x"):
            if key in element:
                return element[key]
        raise ValueError(f"dataset elements are dicts without an 'image' key: {sorted(element)}")
    if isinstance(element, (tuple, list)) and not isinstance(element, np.ndarray):
        return element[0]
    return element


def sample_seed(seed, index):
    """The seed of the index-th chunk of a sample set: independent streams per (seed, index)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] & 0x7FFFFFFF)


def iterate_batches(source, batch_size=50, limit=None, progress=False, desc=None, seed=0):
    """Yield numpy batches (n, H, W, C) from any image source, at most `limit` images in all.

    source:
      - a path (str / os.PathLike): an image folder or a tar of images (sorted names, uint8);
      - a numpy array (N, H, W, C);
      - a generator model: any object with `.sample(n, seed=..., batch_size=...)` (needs
        `limit`; chunk i is sampled with seed `sample_seed(seed, i)`, so a fixed seed gives a
        fixed sample set);
      - a callable `fn(n) -> n images` (needs `limit`);
      - a tf.data.Dataset, or any iterable of batches (or of single images); elements may be
        (images, labels) tuples or {"image": ...} dicts.
    """
    from ganzoo.metrics import image_files

    if limit is not None:
        limit = int(limit)
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
    if isinstance(source, (str, os.PathLike)):
        total = image_files.count_images(source, limit)
        batches = image_files.iter_image_batches(source, batch_size, limit)
        yield from _progress_batches(batches, total, desc or str(source), progress)
        return
    if isinstance(source, np.ndarray):
        array = np.asarray(source)
        total = len(array) if limit is None else min(limit, len(array))
        gen = (array[i:min(i + batch_size, total)] for i in range(0, total, batch_size))
        yield from _progress_batches(gen, total, desc or "images", progress)
        return
    if hasattr(source, "sample") or callable(source) and not hasattr(source, "__iter__"):
        if limit is None:
            raise ValueError("sampling from a generator needs the number of images (limit)")
        sample = source.sample if hasattr(source, "sample") else None

        def chunks():
            for index, start in enumerate(range(0, limit, batch_size)):
                n = min(batch_size, limit - start)
                if sample is not None:
                    batch = sample(n, seed=sample_seed(seed, index), batch_size=batch_size)
                else:
                    batch = source(n)
                batch = np.asarray(batch)
                if len(batch) != n:
                    raise ValueError(f"the generator returned {len(batch)} images, asked for {n}")
                yield batch

        yield from _progress_batches(chunks(), limit, desc or "samples", progress)
        return
    iterable = source.as_numpy_iterator() if hasattr(source, "as_numpy_iterator") else source
    yield from _progress_batches(_rebatch(iterable, batch_size, limit), limit,
                                 desc or "images", progress)


def _rebatch(iterable, batch_size, limit):
    """Normalise an iterable of batches or single images to batches, stopping at limit."""
    taken, pending = 0, []
    for element in iterable:
        images = np.asarray(_first_images(element))
        if images.ndim == 3:
            images = images[None]
        if limit is not None and taken + len(images) > limit:
            images = images[: limit - taken]
        pending.append(images)
        taken += len(images)
        if sum(len(p) for p in pending) >= batch_size:
            yield np.concatenate(pending)
            pending = []
        if limit is not None and taken >= limit:
            break
    if pending:
        yield np.concatenate(pending)
    if limit is not None and taken < limit:
        raise ValueError(f"the image source ran out after {taken} images; {limit} were asked for")


def _progress_batches(batches, total, desc, enabled):
    if not enabled:
        yield from batches
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit="img") as bar:
        for batch in batches:
            yield batch
            bar.update(len(batch))


# --------------------------------------------------------------------------------------------
# The evaluator
# --------------------------------------------------------------------------------------------


class _Pass:
    """What one pass over an image set collects for the requested metrics."""

    def __init__(self, evaluator, keep_images):
        self.ev = evaluator
        self.features, self.outputs, self.kept = [], [], []
        self.keep_images = keep_images
        self.swd = None
        self.n = 0
        self.shape = None

    def update(self, batch, value_range):
        from ganzoo.metrics.inception import check_images

        images = check_images(batch, value_range)  # float32 in [0, 255]
        if self.shape is None:
            self.shape = images.shape[1:]
        elif images.shape[1:] != self.shape:
            raise ValueError(f"image size changed from {self.shape} to {images.shape[1:]} mid-set")
        ev = self.ev
        if ev.needs_features:
            self.features.append(ev.network.features_of_batch(images))
        if "swd" in ev.metrics:
            if self.swd is None:
                from ganzoo.metrics.swd import SWDAccumulator

                self.swd = SWDAccumulator(images.shape[1], ev.swd_patches, ev.seed)
            self.swd.update(images)
        if "inception_score" in ev.metrics:
            self.outputs.append(np.asarray(ev.classifier(images)))
        if self.keep_images:
            room = self.keep_images - sum(len(k) for k in self.kept)
            if room > 0:
                self.kept.append(images[:room])
        self.n += len(images)

    def feature_array(self):
        return np.concatenate(self.features) if self.features else None


class Evaluator:
    """Computes the requested metrics from one pass over generated (and real) images.

    metrics: names from METRICS. network: an InceptionFID (default: the cached weights).
    classifier: for "inception_score", a callable [0, 255] NHWC batch -> logits/probabilities
    (the standard Inception logits are not available offline; see inception_score.py).
    """

    def __init__(self, metrics=("fid", "kid"), network=None, batch_size=50, seed=0,
                 progress=True, classifier=None, kid_block_size=1024, pr_k=3,
                 ms_ssim_batches=5, ms_ssim_batch_size=64, swd_patches=64, is_splits=10,
                 min_samples=None):
        unknown = sorted(set(metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(METRICS)}")
        self.metrics = tuple(metrics)
        if "inception_score" in self.metrics and classifier is None:
            from ganzoo.metrics.inception_score import STANDARD_LOGITS_UNAVAILABLE

            raise ValueError(STANDARD_LOGITS_UNAVAILABLE)
        self.needs_features = any(m in self.metrics for m in FEATURE_METRICS)
        self.batch_size, self.seed, self.progress = int(batch_size), int(seed), progress
        self.classifier, self.kid_block_size, self.pr_k = classifier, kid_block_size, pr_k
        self.ms_ssim_batches, self.ms_ssim_batch_size = ms_ssim_batches, ms_ssim_batch_size
        self.swd_patches, self.is_splits = swd_patches, is_splits
        self.min_samples = min_samples  # for FID's covariances; None: feature dim + 1
        if network is None and self.needs_features:
            from ganzoo.metrics import inception

            network = inception.default_network(self.batch_size)
        self.network = network

    def run_pass(self, source, limit=None, value_range=(0, 1), desc="images", keep_images=0,
                 seed=None):
        """Stream one image set through everything the metrics need."""
        collected = _Pass(self, keep_images)
        for batch in iterate_batches(source, self.batch_size, limit, self.progress, desc,
                                     self.seed if seed is None else seed):
            collected.update(batch, value_range)
        if collected.n == 0:
            raise ValueError(f"{desc}: the source gave no images")
        if limit is not None and collected.n < limit:
            raise ValueError(f"{desc}: only {collected.n} images, {limit} were asked for")
        return collected

    def real_reference(self, real, num_real=None, value_range=(0, 255)):
        """A reference for the real side: a _Pass over images, or precomputed features/stats.

        real: an image source (path, array, dataset), a features .npy path, a statistics .npz
        path (FID only), an FIDStats, or a (N, 2048) features array (pass real_features=...).
        """
        from ganzoo.metrics import fid

        if isinstance(real, fid.FIDStats) or str(real).endswith(".npz"):
            stats = real if isinstance(real, fid.FIDStats) else fid.FIDStats.load(real)
            extra = sorted(set(self.metrics) - {"fid", "ms_ssim", "inception_score"})
            if extra:
                raise ValueError(f"{extra} need real features or images, not only FID statistics")
            return {"stats": stats, "n": stats.n, "source": stats.protocol.get("source", str(real))}
        if isinstance(real, (str, os.PathLike)) and str(real).endswith(".npy"):
            if "swd" in self.metrics:
                raise ValueError("SWD needs real images, not features")
            feats = np.load(real)
            feats = feats[:num_real] if num_real else feats
            return {"features": feats, "n": len(feats), "source": str(real)}
        needs_real = self.needs_features or "swd" in self.metrics
        if not needs_real:
            return {"n": 0, "source": None}
        collected = self.run_pass(real, num_real, value_range, "real images")
        return {"features": collected.feature_array(), "swd": collected.swd, "n": collected.n,
                "source": str(real) if isinstance(real, (str, os.PathLike)) else type(real).__name__}

    def evaluate(self, generated, real=None, num_generated=None, num_real=None,
                 generated_range=(0, 1), real_range=(0, 255), seed=None, reference=None):
        """Metrics of `generated` against `real` (or a prepared `reference`); see module doc."""
        from ganzoo.metrics import fid, kid, precision_recall

        if reference is None:
            needs_real = self.needs_features or "swd" in self.metrics
            if real is None and needs_real:
                raise ValueError(f"{self.metrics} need real images (or statistics / features)")
            reference = self.real_reference(real, num_real, real_range) if needs_real else {"n": 0}
        keep = self.ms_ssim_batches * self.ms_ssim_batch_size if "ms_ssim" in self.metrics else 0
        seed = self.seed if seed is None else int(seed)
        gen = self.run_pass(generated, num_generated, generated_range, "generated", keep, seed)
        values = {}
        fake = gen.feature_array()
        real_feats = reference.get("features")
        if "fid" in self.metrics:
            real_stats = reference.get("stats") or fid.FIDStats.from_features(
                real_feats, self.min_samples)
            values["fid"] = fid.fid_from_stats(
                fid.FIDStats.from_features(fake, self.min_samples), real_stats)
        if "kid" in self.metrics:
            values["kid"], values["kid_stderr"] = kid.kid(real_feats, fake, self.kid_block_size,
                                                          return_stderr=True)
        if "precision_recall" in self.metrics:
            values.update(precision_recall.precision_recall(real_feats, fake, self.pr_k))
        if "ms_ssim" in self.metrics:
            from ganzoo.metrics.ms_ssim import ms_ssim_diversity

            kept = np.concatenate(gen.kept)
            values["ms_ssim"], values["ms_ssim_std"] = ms_ssim_diversity(
                kept, self.ms_ssim_batches, self.ms_ssim_batch_size, seed)
        if "swd" in self.metrics:
            from ganzoo.metrics.swd import swd_from_accumulators

            values["swd"] = swd_from_accumulators(reference["swd"], gen.swd, seed=seed)
        if "inception_score" in self.metrics:
            from ganzoo.metrics.inception_score import inception_score_from_probs

            values["inception_score"], values["inception_score_std"] = inception_score_from_probs(
                np.concatenate(gen.outputs), self.is_splits)
        return {"metrics": values, "protocol": self.protocol(gen, reference, seed)}

    def protocol(self, gen, reference, seed):
        from ganzoo.metrics.inception import PREPROCESSING

        out = {"n_generated": gen.n, "n_real": reference.get("n", 0),
               "real": reference.get("source"), "seed": seed, "batch_size": self.batch_size,
               "image_shape": list(gen.shape)}
        if self.needs_features:
            out.update(self.network.protocol)
        out["resize"] = PREPROCESSING
        if "kid" in self.metrics:
            out["kid"] = f"unbiased block estimator, cubic kernel, blocks of <= {self.kid_block_size}"
        if "precision_recall" in self.metrics:
            out["precision_recall"] = f"k={self.pr_k} nearest neighbours in Inception pool_3 space"
        if "ms_ssim" in self.metrics:
            out["ms_ssim"] = (f"mean MS-SSIM over all pairs in {self.ms_ssim_batches} batches of "
                              f"{self.ms_ssim_batch_size} generated images")
        if "swd" in self.metrics:
            out["swd"] = f"x1e3, Laplacian pyramid to 16px, 7x7 patches, {self.swd_patches} per image"
        return out


def format_result(result):
    """Human-readable lines: each number with its protocol."""
    p = result["protocol"]
    lines = []
    for name, value in result["metrics"].items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v:.3f}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.5g}"
        lines.append(f"{name:>20s}  {value}")
    lines.append(f"{'protocol':>20s}  {p['n_generated']} generated vs {p['n_real']} real "
                 f"({p.get('real')}); seed {p['seed']}; {p.get('resize', '')}; network sha256 "
                 f"{str(p.get('network_sha256'))[:16]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The paper's protocol for zoo models
# --------------------------------------------------------------------------------------------


def cifar10_dir():
    """$GANZOO_CIFAR10_DIR, else ../shared/data/cifar10-jpeg beside the checkout."""
    if os.environ.get(CIFAR10_DIR_ENV):
        return pathlib.Path(os.environ[CIFAR10_DIR_ENV])
    return pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar10-jpeg"


def reference_features(dataset="cifar10", split="test", network=None, batch_size=50,
                       progress=True):
    """Inception features of a dataset split, cached in cache_dir("fid_stats")."""
    from ganzoo.cache import cache_dir

    if dataset != "cifar10":
        raise ValueError(
            f"no reference images for {dataset!r} here (only the CIFAR10 JPEG copy is at hand); "
            "pass real=PATH (an image folder or tar) instead"
        )
    path = cache_dir("fid_stats") / f"cifar10_jpeg_{split}_features.npy"
    if path.exists():
        return path
    source = cifar10_dir() / f"{split}.tar"
    if not source.exists():
        raise FileNotFoundError(
            f"CIFAR10 {split} images not found at {source}: set ${CIFAR10_DIR_ENV} to the folder "
            "holding train.tar and test.tar"
        )
    if network is None:
        from ganzoo.metrics import inception

        network = inception.default_network(batch_size)
    feats = network.features(str(source), progress=progress)
    tmp = path.with_name(path.name + ".partial.npy")
    np.save(tmp, feats)
    os.replace(tmp, path)
    return path


def evaluate_zoo_model(name, metrics=("fid", "kid"), num_samples=None, sample_sets=3, seed=0,
                       real=None, batch_size=50, progress=True, generator=None, entry=None,
                       network=None, min_samples=None):
    """The paper's protocol for a zoo model: `sample_sets` sets of generated images against the
    real reference; the mean and std of every metric over the sets, and each set's values.

    generator / entry: a generator and manifest entry to use instead of ganzoo.load(name) and
    the manifest (for models that are not published yet).
    """
    if entry is None:
        from ganzoo.zoo import manifest

        entry = manifest.get_entry(name)
    if generator is None:
        import ganzoo

        generator = ganzoo.load(name)
    dataset = entry.get("dataset")
    protocol = PROTOCOLS.get(dataset, {})
    num_generated = int(num_samples or protocol.get("num_generated", 10000))
    evaluator = Evaluator(metrics, network=network, batch_size=batch_size, seed=seed,
                          progress=progress, min_samples=min_samples)
    if real is None:
        real = reference_features(dataset, protocol.get("real_split", "test"), evaluator.network,
                                  batch_size, progress)
    num_real = num_samples or protocol.get("num_real")
    reference = evaluator.real_reference(real, num_real)
    runs = [evaluator.evaluate(generator, num_generated=num_generated, reference=reference,
                               seed=seed + i) for i in range(int(sample_sets))]
    summary = {}
    for key in runs[0]["metrics"]:
        values = [r["metrics"][key] for r in runs]
        if all(isinstance(v, float) for v in values):
            summary[key] = {"mean": float(np.mean(values)), "std": float(np.std(values)),
                            "values": values}
    resolution = getattr(generator, "resolution", None)
    return {
        "model": name,
        "dataset": dataset,
        "resolution": resolution,
        "metrics": summary,
        "sample_sets": [r["metrics"] for r in runs],
        "protocol": {**runs[0]["protocol"], "seed": seed, "sample_sets": int(sample_sets),
                     "seeds": [seed + i for i in range(int(sample_sets))],
                     "real_split": protocol.get("real_split") if real is None else None},
        "paper": entry.get("paper", {}),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def format_record(record):
    lines = [f"{record['model']} ({record['dataset']}), {record['protocol']['sample_sets']} sample sets"]
    for key, s in record["metrics"].items():
        lines.append(f"{key:>20s}  {s['mean']:.5g} +- {s['std']:.2g}")
    p = record["protocol"]
    lines.append(f"{'protocol':>20s}  {p['n_generated']} generated vs {p['n_real']} real "
                 f"({p.get('real')}); seeds {p['seeds']}; network sha256 "
                 f"{str(p.get('network_sha256'))[:16]}")
    paper = record.get("paper", {})
    if paper.get("fid") is not None:
        lines.append(f"{'paper FID':>20s}  {paper['fid']}")
    return "\n".join(lines)


def write_record(record, path):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
