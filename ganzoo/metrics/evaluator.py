"""One pass over the samples for every metric.

    ev = Evaluator(metrics=("fid", "kid", "precision_recall", "ms_ssim", "swd"))
    result = ev.evaluate(generator, real="cifar10-jpeg/test.tar", num_generated=10000)
    print(format_result(result))

Generated images stream from a generator (`.sample(n, seed, batch_size)`), a callable, an
array, a tf.data dataset or any iterable of batches, in batches, with a progress bar and a fixed
seed; each batch goes through the Inception network once and feeds every requested metric
(features for FID / KID / precision-recall, pyramids for SWD, the first images for MS-SSIM, a
classifier for IS). Every number comes back with its protocol: N generated, N real, the real
split, the resize, the network's hash. "jacobian" (generator conditioning, metrics/jacobian.py)
needs no images: it differentiates the generator model itself at `jacobian_z` sampled z.
"nearest_neighbours" (copies and collapse, metrics/nearest_neighbours.py) also needs the training
set's features (`nn_train`); the real set is its held-out side. "gan_test" and "gan_train"
(Shmelkov et al. 2018, metrics/gan_train_test.py) need a class-conditional generator and draw
their own labelled images (num_generated per set, classes balanced): GAN-test scores them with a
fixed classifier (`gan_classifier`: a .keras file, a Keras model, or the (model, info) of
ganzoo.load_classifier, which `ganzoo eval` passes), GAN-train trains the classifier recipe on
them and scores it on the real labelled test set (`gan_train_real`).

`evaluate_zoo_model(name, generator=..., entry=...)` is the paper's protocol for a zoo model
(CIFAR10: 10k generated vs the 10k test images, 3 sample sets, mean and std), used by
`ganzoo eval`. The caller loads the generator and its manifest entry
(ganzoo.load, ganzoo.zoo.manifest): ganzoo.metrics does not depend on ganzoo.zoo.

A `limit` on an image folder or tar, or on a features file, takes a seeded random subset (never
the first N names: data sets are often sorted by class); the protocol records it.
"""
import datetime
import json
import os
import pathlib

import numpy as np

from ganzoo.data.sources import CIFAR10_DIR_ENV
from ganzoo.metrics.batches import iterate_batches, sample_seed  # noqa: F401 - public here too
from ganzoo.utils.images import check_images

METRICS = ("fid", "kid", "precision_recall", "ms_ssim", "swd", "inception_score", "jacobian",
           "nearest_neighbours", "gan_train", "gan_test")
FEATURE_METRICS = ("fid", "kid", "precision_recall", "nearest_neighbours")
CLASS_METRICS = ("gan_train", "gan_test")  # class-conditional: labelled images drawn for them
# Computed from the generator model, not from the pass's images.
MODEL_METRICS = ("jacobian",) + CLASS_METRICS
# The paper's protocol per dataset: generated images per set, and the real split compared with.
PROTOCOLS = {
    "cifar10": {"num_generated": 10000, "real_split": "test", "num_real": 10000},
}


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
    jacobian_z: how many z the "jacobian" metric differentiates G at (jacobian_batch_size
    generator inputs per forward pass; each z takes z_dim of them).
    nn_train: for "nearest_neighbours", the training set: a features .npy path, an (N, 2048)
    array, or images (folder, tar, array); the real set must be held out from it (test split).
    nn_quantile: where that metric cuts the real distances (default 1%).
    gan_classifier: for "gan_test", the fixed classifier trained on real data: a .keras path
    (checked by gan_train_test.load_classifier: classes, input shape, its record's sha256), a Keras
    model, or (model, info) from ganzoo.load_classifier (a published classifier by name).
    gan_train_real: for "gan_train", the real labelled test set: (images in [0, 1], labels) or a
    labelled data set name or path (ganzoo.data.load_source, its test split).
    gan_train_epochs: epochs of the recipe on the generated images; gan_train_options: other
    deviations from the recipe passed to gan_train (recipe: a CLASSIFIER_RECIPES name; depth, augment,
    train_batch_size; recorded).
    """

    def __init__(self, metrics=("fid", "kid"), network=None, batch_size=50, seed=0,
                 progress=True, classifier=None, kid_block_size=1024, pr_k=3,
                 ms_ssim_batches=5, ms_ssim_batch_size=64, swd_patches=64, is_splits=10,
                 min_samples=None, jacobian_z=64, jacobian_batch_size=256, nn_train=None,
                 nn_quantile=0.01, gan_classifier=None, gan_train_real=None, gan_train_epochs=None,
                 gan_train_options=None):
        unknown = sorted(set(metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(METRICS)}")
        self.metrics = tuple(metrics)
        if "inception_score" in self.metrics and classifier is None:
            from ganzoo.metrics.inception_score import STANDARD_LOGITS_UNAVAILABLE

            raise ValueError(STANDARD_LOGITS_UNAVAILABLE)
        self.needs_features = any(m in self.metrics for m in FEATURE_METRICS)
        self.needs_images = any(m not in MODEL_METRICS for m in self.metrics)
        for name, value in (("jacobian_z", jacobian_z),
                            ("jacobian_batch_size", jacobian_batch_size)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        self.jacobian_z, self.jacobian_batch_size = int(jacobian_z), int(jacobian_batch_size)
        self.batch_size, self.seed, self.progress = int(batch_size), int(seed), progress
        self.classifier, self.kid_block_size, self.pr_k = classifier, kid_block_size, pr_k
        self.ms_ssim_batches, self.ms_ssim_batch_size = ms_ssim_batches, ms_ssim_batch_size
        self.swd_patches, self.is_splits = swd_patches, is_splits
        self.min_samples = min_samples  # for FID's covariances; None: feature dim + 1
        self.nn_train, self.nn_quantile, self._nn_train_features = nn_train, float(nn_quantile), None
        self._set_class_metrics(gan_classifier, gan_train_real, gan_train_epochs, gan_train_options)
        if network is None and self.needs_features:
            from ganzoo.metrics import inception

            network = inception.default_network(self.batch_size)
        self.network = network

    def _set_class_metrics(self, classifier, train_real, epochs, options):
        from ganzoo.metrics.gan_train_test import TRAIN_COMMAND, classifier_recipe

        if "gan_test" in self.metrics and classifier is None:
            raise ValueError("gan_test needs the fixed classifier trained on real data: gan_classifier= (ganzoo "
                             "eval: --classifier NAME or PATH.keras, the data set's published classifier by default; "
                             f"Python: ganzoo.load_classifier(NAME)); train one with {TRAIN_COMMAND}")
        if "gan_train" in self.metrics and train_real is None:
            raise ValueError("gan_train needs the real labelled test set: gan_train_real= (images in [0, 1], "
                             "labels) or a labelled data set (ganzoo eval: --gan-train-real, default the data "
                             "set's test split)")
        options = dict(options or {})
        epochs = classifier_recipe(options.get("recipe"))["epochs"] if epochs is None else epochs
        if int(epochs) != epochs or epochs < 1:
            raise ValueError(f"gan_train_epochs must be a positive integer; got {epochs!r}")
        self.gan_classifier, self.gan_train_real = classifier, train_real
        self.gan_train_epochs, self.gan_train_options = int(epochs), options
        self._gan_classifier = self._gan_real = None

    def check_class_metrics(self, generator):
        """For gan_train / gan_test: the generator must be conditional, the classifier and the real
        test set must match its classes; loads both once (errors before any long work)."""
        from ganzoo.metrics import gan_train_test as gtt

        wanted = [m for m in CLASS_METRICS if m in self.metrics]
        if not wanted:
            return
        num_classes = int(getattr(generator, "num_classes", 0) or 0)
        if not num_classes and self.gan_classifier is None:
            gtt.require_conditional(generator, " and ".join(wanted))  # says what labels it
        shape = getattr(generator, "image_shape", None)
        # An unconditional generator's images are labelled by the fixed classifier (for GAN-train
        # too), so it is loaded whenever one is given.
        if self.gan_classifier is not None and self._gan_classifier is None:
            classifier = self.gan_classifier
            if isinstance(classifier, (str, os.PathLike)):
                self._gan_classifier = gtt.load_classifier(classifier, num_classes or None, shape)
            elif isinstance(classifier, tuple):  # (model, info) from ganzoo.load_classifier
                gtt.check_classifier(classifier[0], num_classes or None, shape, classifier[1]["classifier"])
                self._gan_classifier = classifier
            else:
                gtt.check_classifier(classifier, num_classes or None, shape)
                self._gan_classifier = (classifier, {
                    "classifier": getattr(classifier, "name", type(classifier).__name__),
                    "classifier_sha256": gtt.classifier_sha256(classifier), "classifier_record": None,
                    "classifier_real_accuracy": None})
        if not num_classes:
            num_classes = int(self._gan_classifier[0].outputs[0].shape[-1])
        if "gan_train" in self.metrics and self._gan_real is None:
            real = self.gan_train_real
            if isinstance(real, (str, os.PathLike)):
                images, labels, classes = gtt.labelled_images(real, "test")
                name = pathlib.Path(str(real)).name if os.path.exists(str(real)) else str(real)
            else:
                (images, labels), classes, name = real, None, "given arrays"
                images, labels = np.asarray(images, dtype="float32"), np.asarray(labels)
            classes = classes or int(labels.max()) + 1
            if classes > num_classes or labels.min() < 0:
                raise ValueError(f"gan_train: the real test set {name} has {classes} classes and the generator "
                                 f"{num_classes}: give the test split of the generator's data set (the same "
                                 "classes, in the same order).")
            if shape is not None and images.shape[1:] != tuple(shape):
                raise ValueError(f"gan_train: the real test images have shape {images.shape[1:]} and the "
                                 f"generator makes {tuple(shape)}: give the generator's data set at its "
                                 "resolution.")
            self._gan_real = (images, labels, name)

    def class_metrics(self, generator, num, seed):
        """gan_test / gan_train of `num` balanced labelled images drawn with `seed`: (values, protocol)."""
        from ganzoo.metrics import gan_train_test as gtt

        self.check_class_metrics(generator)
        conditional = bool(getattr(generator, "num_classes", 0))
        classifier, info = self._gan_classifier or (None, {})
        values, protocol = {}, {"n_generated": int(num)}
        if conditional:
            protocol["labels"] = "the generator's classes, balanced, shuffled with the seed"
        else:  # the fixed classifier labels the images (gtt.gan_test / gan_train say how)
            protocol["labels"] = ("unconditional generator: the fixed classifier's predictions label the images; "
                                  "gan_test is then the classifier's mean confidence in its own label, not an "
                                  "accuracy")
        if "gan_test" in self.metrics:
            result = gtt.gan_test(generator, classifier, num, seed, self.batch_size,
                                  info["classifier_real_accuracy"])
            values["gan_test"] = result["value"]
            protocol.update(info)
            if "n_per_class" in result["protocol"]:
                protocol["n_per_class"] = result["protocol"]["n_per_class"]
        if "gan_train" in self.metrics:
            images, labels, name = self._gan_real
            result = gtt.gan_train(generator, images, labels, num, self.gan_train_epochs, seed,
                                   classifier=None if conditional else classifier,
                                   batch_size=self.batch_size, **self.gan_train_options)
            values["gan_train"] = result["value"]
            protocol.update(info)
            protocol.update(n_per_class=result["protocol"]["n_per_class"], gan_train_epochs=self.gan_train_epochs,
                            gan_train_real=name, n_test=int(len(labels)),
                            gan_train_recipe=result["protocol"]["recipe"])
        return values, protocol

    def run_pass(self, source, limit=None, value_range=(0, 1), desc="images", keep_images=0,
                 seed=None):
        """Stream one image set through everything the metrics need."""
        collected = _Pass(self, keep_images)
        for batch in iterate_batches(source, self.batch_size, limit, self.progress, desc,
                                     self.seed if seed is None else seed, subset_seed=self.seed):
            collected.update(batch, value_range)
        if collected.n == 0:
            raise ValueError(f"{desc}: the source gave no images")
        if limit is not None and collected.n < limit:
            raise ValueError(f"{desc}: only {collected.n} images, {limit} were asked for")
        return collected

    def train_features(self):
        """The training set's features for "nearest_neighbours" (computed once)."""
        if self._nn_train_features is None:
            train = self.nn_train
            if train is None:
                raise ValueError("nearest_neighbours needs the training set: nn_train= a features .npy, "
                                 "an (N, 2048) features array, or training images (folder, tar)")
            if isinstance(train, np.ndarray) and train.ndim == 2:
                self._nn_train_features = train
            elif isinstance(train, (str, os.PathLike)) and str(train).endswith(".npy"):
                from ganzoo.metrics.fid import load_features

                self._nn_train_features = load_features(train)[0]
            else:
                self._nn_train_features = self.run_pass(train, None, (0, 255),
                                                        "training images").feature_array()
        return self._nn_train_features

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
            feats, protocol = fid.load_features(real, limit=num_real, seed=self.seed)
            return {"features": feats, "n": len(feats), "source": str(real),
                    "subset": protocol.get("row_subset")}
        needs_real = self.needs_features or "swd" in self.metrics
        if not needs_real:
            return {"n": 0, "source": None}
        collected = self.run_pass(real, num_real, value_range, "real images")
        reference = {"features": collected.feature_array(), "swd": collected.swd,
                     "n": collected.n, "source": type(real).__name__}
        if isinstance(real, (str, os.PathLike)):
            from ganzoo.data.image_files import list_images, subset_protocol

            reference["source"] = str(real)
            reference["subset"] = subset_protocol(len(list_images(real)), num_real,
                                                  self.seed)["subset"]
        return reference

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
        values, class_protocol = {}, None
        if any(m in self.metrics for m in CLASS_METRICS):
            if num_generated is None:
                raise ValueError(f"{[m for m in CLASS_METRICS if m in self.metrics]} need num_generated "
                                 "(labelled images drawn from the generator)")
            values, class_protocol = self.class_metrics(generated, int(num_generated), seed)
        if "jacobian" in self.metrics:
            from ganzoo.metrics.jacobian import generator_conditioning

            values.update(generator_conditioning(generated, self.jacobian_z, seed,
                                                 self.jacobian_batch_size, self.progress))
        if not self.needs_images:  # only model metrics: no image pass
            return {"metrics": values, "protocol": self.protocol(None, reference, seed, generated,
                                                                 class_protocol)}
        gen = self.run_pass(generated, num_generated, generated_range, "generated", keep, seed)
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
        if "nearest_neighbours" in self.metrics:
            from ganzoo.metrics.nearest_neighbours import nearest_neighbours

            values.update(nearest_neighbours(fake, self.train_features(), real_feats,
                                             self.nn_quantile, seed))
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
        return {"metrics": values, "protocol": self.protocol(gen, reference, seed, generated,
                                                             class_protocol)}

    def protocol(self, gen, reference, seed, generated=None, class_protocol=None):
        from ganzoo.metrics.inception import PREPROCESSING

        out = {"n_generated": gen.n if gen else 0, "n_real": reference.get("n", 0),
               "real": reference.get("source"), "seed": seed, "batch_size": self.batch_size,
               "image_shape": list(gen.shape) if gen else None}
        if "jacobian" in self.metrics:
            from ganzoo.metrics.jacobian import protocol as jacobian_protocol

            out["n_jacobian_z"] = self.jacobian_z
            out["jacobian"] = jacobian_protocol(self.jacobian_z, getattr(generated, "z_dim", None))
        if class_protocol:
            out["gan_train_test"] = class_protocol
        if not self.needs_images:
            return out
        if reference.get("subset"):
            out["real_subset"] = reference["subset"]
        if self.needs_features:
            out.update(self.network.protocol)
        out["resize"] = PREPROCESSING
        if "kid" in self.metrics:
            out["kid"] = (f"unbiased block estimator, cubic kernel, blocks of <= {self.kid_block_size} "
                          "drawn at random (both sets shuffled, seed 0)")
        if "precision_recall" in self.metrics:
            out["precision_recall"] = f"k={self.pr_k} nearest neighbours in Inception pool_3 space"
        if "nearest_neighbours" in self.metrics:
            from ganzoo.metrics.nearest_neighbours import protocol as nn_protocol

            out["n_train"] = len(self.train_features())
            out["nearest_neighbours"] = nn_protocol(self.nn_quantile, out["n_train"])
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
        elif isinstance(value, list):  # per-sample values (jacobian): their range
            value = f"{len(value)} values, {min(value):.5g} .. {max(value):.5g}"
        elif isinstance(value, float):
            value = f"{value:.5g}"
        lines.append(f"{name:>20s}  {value}")
    lines += _protocol_lines(p, f"seed {p['seed']}", f"; {p.get('resize', '')}")
    return "\n".join(lines)


def _protocol_lines(p, seeds, resize=""):
    """The protocol of a result or record: the image sets (if any), then the jacobian metric's."""
    lines = []
    if p["n_generated"]:
        lines.append(f"{'protocol':>20s}  {p['n_generated']} generated vs {p['n_real']} real "
                     f"({p.get('real')}); {seeds}{resize}; network sha256 "
                     f"{str(p.get('network_sha256'))[:16]}")
    if "jacobian" in p:
        lines.append(f"{'jacobian':>20s}  {p['jacobian']}; {seeds}")
    if "gan_train_test" in p:
        g = p["gan_train_test"]
        parts = [f"{g['n_generated']} labelled images ({g['n_per_class']} per class)"]
        if "classifier" in g:
            parts.append(f"GAN-test classifier {g['classifier']} (sha256 {g['classifier_sha256'][:16]}, real "
                         f"accuracy {g['classifier_real_accuracy']})")
        if "gan_train_epochs" in g:
            parts.append(f"GAN-train {g['gan_train_epochs']} epochs, tested on {g['n_test']} real "
                         f"({g['gan_train_real']})")
        lines.append(f"{'gan_train_test':>20s}  {'; '.join(parts)}; {seeds}")
    return lines


# --------------------------------------------------------------------------------------------
# The paper's protocol for zoo models
# --------------------------------------------------------------------------------------------


def cifar10_dir():
    """The CIFAR10 JPEG folder: ganzoo.data.default_cifar10_dir() ($GANZOO_CIFAR10_DIR, else
    ../shared/data/cifar10-jpeg beside the checkout)."""
    from ganzoo.data.sources import default_cifar10_dir

    return pathlib.Path(default_cifar10_dir())


def reference_features(dataset="cifar10", split="test", network=None, batch_size=50,
                       progress=True):
    """Inception features of a dataset split, cached in cache_dir("fid_stats")."""
    from ganzoo.cache import cache_dir
    from ganzoo.metrics import fid

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
    fid.save_features(path, feats, {"source": str(source), **network.protocol})
    return path


def evaluate_zoo_model(name, metrics=("fid", "kid"), num_samples=None, sample_sets=3, seed=0,
                       real=None, batch_size=50, progress=True, generator=None, entry=None,
                       network=None, min_samples=None, jacobian_z=64, nn_train=None, gan_classifier=None,
                       gan_train_real=None, gan_train_epochs=None, gan_train_options=None):
    """The paper's protocol for a zoo model: `sample_sets` sets of generated images against the
    real reference; the mean and std of every metric over the sets, and each set's values.

    generator: the model to sample (anything with `.sample(n, seed=..., batch_size=...)`), e.g.
    ganzoo.load(name). entry: its manifest entry (a dict with "dataset" and optionally "paper"),
    e.g. ganzoo.zoo.manifest.get_entry(name). Both are required: the caller resolves the zoo.
    nn_train: the training set of "nearest_neighbours" (default: the data set's cached train
    split features, computed once: 50,000 CIFAR10 images through Inception).
    gan_classifier, gan_train_real, gan_train_epochs, gan_train_options: for "gan_test" and
    "gan_train" (see Evaluator); gan_train_real defaults to the data set's test split.
    """
    if generator is None or entry is None:
        raise ValueError(
            f"evaluate_zoo_model({name!r}) needs generator= and entry=: load them with "
            f"ganzoo.load({name!r}) and ganzoo.zoo.manifest.get_entry({name!r}) (`ganzoo eval "
            f"{name}` does this), or pass your own generator and {{'dataset': ...}}."
        )
    dataset = entry.get("dataset")
    protocol = PROTOCOLS.get(dataset, {})
    num_generated = int(num_samples or protocol.get("num_generated", 10000))
    evaluator = Evaluator(metrics, network=network, batch_size=batch_size, seed=seed,
                          progress=progress, min_samples=min_samples, jacobian_z=jacobian_z,
                          nn_train=nn_train, gan_classifier=gan_classifier,
                          gan_train_real=dataset if gan_train_real is None else gan_train_real,
                          gan_train_epochs=gan_train_epochs, gan_train_options=gan_train_options)
    evaluator.check_class_metrics(generator)  # a wrong classifier or generator: before any long work
    if "nearest_neighbours" in evaluator.metrics and nn_train is None:
        evaluator.nn_train = reference_features(dataset, "train", evaluator.network, batch_size,
                                                progress)
    # Only FID/KID/PR/SWD compare with real images; the jacobian metric alone needs none.
    protocol_reference = real is None and (evaluator.needs_features or "swd" in evaluator.metrics)
    if protocol_reference:
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
                     "real_split": protocol.get("real_split") if protocol_reference else None},
        "paper": entry.get("paper", {}),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def format_record(record):
    lines = [f"{record['model']} ({record['dataset']}), {record['protocol']['sample_sets']} sample sets"]
    for key, s in record["metrics"].items():
        lines.append(f"{key:>20s}  {s['mean']:.5g} +- {s['std']:.2g}")
    p = record["protocol"]
    lines += _protocol_lines(p, f"seeds {p['seeds']}")
    paper = record.get("paper", {})
    if paper.get("fid") is not None:
        lines.append(f"{'paper FID':>20s}  {paper['fid']}")
    return "\n".join(lines)


def write_record(record, path):
    """Write a JSON record atomically (a full disk or a bad path gives a clear OSError)."""
    from ganzoo.utils.files import write_text

    write_text(path, json.dumps(record, indent=2) + "\n", what="evaluation record")
    return pathlib.Path(path)
