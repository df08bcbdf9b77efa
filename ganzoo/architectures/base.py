"""Base classes shared by every generator and discriminator family."""
import numbers

import keras
import numpy as np

from ganzoo.random import PortableNormal

DEFAULT_Z_DIM = 128


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_sample_args(num, seed=None, batch_size=256, what="sample"):
    """Validate (num, seed, batch_size) of sample()/generate(); returns them as Python ints.

    num: a positive integer (2.5, "4", None refused: never rounded). seed: None or a
    non-negative integer. batch_size: a positive integer.
    """
    if not _is_int(num) or num < 1:
        raise ValueError(
            f"{what}: num must be a positive integer (the number of images); got {num!r}"
            + (f" of type {type(num).__name__}" if not _is_int(num) and num is not None else "")
            + "."
        )
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise ValueError(
            f"{what}: seed must be None or a non-negative integer; got {seed!r}"
            + (f" of type {type(seed).__name__}" if not _is_int(seed) else "") + "."
        )
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"{what}: batch_size must be a positive integer; got {batch_size!r}.")
    return int(num), (None if seed is None else int(seed)), int(batch_size)


class _WeightsFileCheck:
    """load_weights refuses a .weights.h5 file that is truncated or of another architecture,
    resolution or z_dim, from the file's metadata, before Keras reads any array."""

    def load_weights(self, filepath, *args, **kwargs):
        from ganzoo.utils.files import check_weights_file

        if str(filepath).endswith(".weights.h5"):
            self.build()
            check_weights_file(filepath, self, f"{type(self).__name__} weights")
        return super().load_weights(filepath, *args, **kwargs)


def weight_init(truncated=False):
    """N(0, 0.02), as compare_gan (truncated for the ResNet convolutions); backend-independent."""
    return PortableNormal(0.0, 0.02, truncated=truncated)


def check_truncation(truncation, what="sample"):
    """The truncation threshold t of sample()/generate(): None (or 1: no truncation) or a real
    number in (0, 1]; returns None or t as a float. 0, negative, > 1, NaN and bools are refused."""
    if truncation is None:
        return None
    if isinstance(truncation, bool) or not isinstance(truncation, numbers.Real):
        raise ValueError(f"{what}: truncation must be None or a number in (0, 1]; got {truncation!r} "
                         f"of type {type(truncation).__name__}.")
    t = float(truncation)
    if not 0.0 < t <= 1.0:  # NaN fails this too
        raise ValueError(f"{what}: truncation must be in (0, 1] (z ~ U(-1, 1) is kept within "
                         f"[-t, t]; 1 or None: no truncation); got {truncation!r}.")
    return None if t == 1.0 else t


def sample_noise(num, z_dim, seed=None, truncation=None):
    """z ~ U(-1, 1), drawn with NumPy so the same seed gives the same z on every backend.

    truncation t in (0, 1] (the truncation trick, Brock et al. 2019, for ganzoo's uniform prior):
    every component of z is kept within [-t, t]. Resampling each component until |z| <= t, as
    BigGAN does for its normal prior, gives exactly U(-t, t) for a uniform one, which is the law
    of t * z: ganzoo draws the untruncated z of the seed and scales it by t, so a seed's
    truncated images are its untruncated ones pulled toward the prior's centre (no loop, the
    same on every backend). None or 1: no truncation, bit-identical to the untruncated draw.
    """
    num, seed, _ = check_sample_args(num, seed, what="sample_noise")
    truncation = check_truncation(truncation, "sample_noise")
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1.0, 1.0, size=(num, int(z_dim))).astype("float32")
    if truncation is not None:
        z = (z * np.float32(truncation)).astype("float32")
    return z


def sample_labels(num, num_classes, seed=None):
    """Class labels drawn uniformly from 0 .. num_classes - 1 (int32, shape (num,)), with NumPy as
    sample_noise, from a stream of `seed` apart from z's: the z of a seed is the same with or
    without labels."""
    num, seed, _ = check_sample_args(num, seed, what="sample_labels")
    rng = np.random.default_rng(None if seed is None else [int(seed), 1])
    return rng.integers(0, int(num_classes), size=num).astype("int32")


def class_rows(num_classes, per_class):
    """Labels of a grid with one row per class: per_class images of class 0, then of class 1, ...
    (int32), what `ganzoo sample` and the training grids draw for a conditional model."""
    return np.repeat(np.arange(int(num_classes), dtype="int32"), int(per_class))


def check_labels(labels, num, num_classes, what="sample"):
    """Class labels of `num` images as int32 (num,): an integer (every image that class) or an
    integer array of shape (num,) or (num, 1), each in 0 .. num_classes - 1. Refused with a
    message: labels for an unconditional model, floats, bools, strings, wrong shapes, out of range.
    (Class names are the command line's and the data set's: ganzoo.zoo.class_index.)"""
    if not num_classes:
        raise ValueError(f"{what}: labels were given, but this model is unconditional (num_classes 0): "
                         "drop labels=, or use a conditional model (recipe num_classes > 0).")
    array = np.asarray(labels)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what}: labels must be integer class indices 0 .. {num_classes - 1}; got "
                         f"dtype {array.dtype} (class names: ganzoo.zoo.class_index(name); one-hot "
                         "rows: labels.argmax(axis=1)).")
    if array.ndim == 0:
        array = np.full((num,), int(array))
    elif array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (num,):
        raise ValueError(f"{what}: labels must be one integer or an array of shape ({num},), one class per "
                         f"image; got shape {np.asarray(labels).shape}.")
    bad = array[(array < 0) | (array >= num_classes)]
    if bad.size:
        raise ValueError(f"{what}: label {int(bad[0])} is out of range: this model has {num_classes} "
                         f"classes, 0 .. {num_classes - 1}.")
    return array.astype("int32")


class _ClassConditioning:
    """num_classes (0: unconditional) and class_embedding (0: per-class tables; > 0: BigGAN's
    shared class embedding of that size) of a generator or discriminator."""

    def _set_classes(self, num_classes, class_embedding=0):
        self.num_classes = int(num_classes or 0)
        self.class_embedding = int(class_embedding or 0)
        if self.num_classes < 0 or self.num_classes == 1:
            raise ValueError(f"num_classes must be 0 (unconditional) or at least 2; got {num_classes}.")
        if self.class_embedding < 0 or (self.class_embedding and not self.num_classes):
            raise ValueError(f"class_embedding {class_embedding} needs a conditional model (num_classes > 0) "
                             "and a positive size; 0 keeps per-class tables.")

    def _class_config(self):
        # Only conditional models write these keys: unconditional configs stay as they were.
        config = {}
        if self.num_classes:
            config["num_classes"] = self.num_classes
        if self.class_embedding:
            config["class_embedding"] = self.class_embedding
        return config

    def _symbolic_labels(self):
        return {"labels": keras.KerasTensor((1,), dtype="int32")} if self.num_classes else {}


class Generator(_ClassConditioning, _WeightsFileCheck, keras.Model):
    """A generator maps z ~ U(-1, 1) of size `z_dim` to images in [0, 1] (NHWC); a conditional
    one (num_classes > 0) maps (z, labels) with call(z, labels=...)."""

    def __init__(self, resolution, z_dim=DEFAULT_Z_DIM, num_classes=0, class_embedding=0, **kwargs):
        super().__init__(**kwargs)
        self._set_classes(num_classes, class_embedding)
        # The class condition of conditional batch norm: one-hot labels, or the shared embedding.
        self.shared_embedding = None
        if self.class_embedding:
            self.shared_embedding = keras.layers.Dense(
                self.class_embedding, use_bias=False, kernel_initializer=weight_init(), name="class_embedding")
        self.resolution = int(resolution)
        self.z_dim = int(z_dim)
        if self.z_dim < 1:
            raise ValueError(f"z_dim must be a positive integer; got {z_dim}.")

    def build(self, input_shape=None):
        if self.built:
            return
        # Subclassed models create variables on their first call: run one on a dummy z so a
        # constructed (or deserialised) generator is always complete.
        self.call(keras.KerasTensor((1, self.z_dim)), training=False, **self._symbolic_labels())
        self.built = True

    def class_condition(self, labels):
        """The condition vector of conditional batch norm for int labels (N,)."""
        from ganzoo.layers.conditional import one_hot

        if labels is None:
            raise ValueError(f"{type(self).__name__} is conditional ({self.num_classes} classes): call it "
                             "with labels=, one class index per z.")
        condition = one_hot(labels, self.num_classes)
        return condition if self.shared_embedding is None else self.shared_embedding(condition)

    @property
    def image_shape(self):
        return (self.resolution, self.resolution, 3)

    def sample(self, num, seed=None, batch_size=256, z=None, truncation=None, labels=None):
        """Generate `num` images (numpy float32 in [0, 1], shape (num, H, W, 3)).

        `seed` fixes z (drawn with NumPy, identical on every backend); `z` may be given instead.
        `truncation` t in (0, 1]: the truncation trick, z within [-t, t] (see sample_noise);
        fidelity for diversity. None or 1: none. It applies to the z drawn here, not to a given z.
        `labels` (conditional models only): one class index or one per image; None draws them
        uniformly from `seed` (sample_labels), as training draws the fake images' classes.
        """
        num, seed, batch_size = check_sample_args(num, seed, batch_size, "sample")
        if labels is not None:
            labels = check_labels(labels, num, self.num_classes, "sample")
        elif self.num_classes:
            labels = sample_labels(num, self.num_classes, seed)
        truncation = check_truncation(truncation, "sample")
        if z is not None and truncation is not None:
            raise ValueError("sample: truncation applies to the z drawn from seed; a given z is used "
                             "as it is (scale or clip it yourself, or pass seed= instead).")
        if z is None:
            z = sample_noise(num, self.z_dim, seed, truncation)
        z = np.asarray(z, dtype="float32")
        if z.shape != (num, self.z_dim):
            raise ValueError(f"z must have shape ({num}, {self.z_dim}); got {z.shape}.")
        from ganzoo import backend  # JAX: one compiled forward pass per batch shape

        if labels is None:
            outputs = [backend.sample(self, z[i : i + batch_size]) for i in range(0, num, batch_size)]
        else:
            outputs = [backend.sample(self, z[i : i + batch_size], labels[i : i + batch_size])
                       for i in range(0, num, batch_size)]
        return np.concatenate(outputs, axis=0).astype("float32")

    def sample_grid(self, num, seed=None):
        """(images, grid columns) of a sample grid: `num` images from `seed`, columns None (the grid's
        default); a conditional generator draws one row per class, num // classes images each (so a
        grid shows every class), columns that number. The training grids and a preset's samples.png."""
        num, seed, _ = check_sample_args(num, seed, what="sample_grid")
        if not self.num_classes:
            return self.sample(num, seed=seed), None
        per_class = max(1, num // self.num_classes)
        labels = class_rows(self.num_classes, per_class)
        return self.sample(len(labels), seed=seed, labels=labels), per_class

    def get_config(self):
        return {"name": self.name, "resolution": self.resolution, "z_dim": self.z_dim, **self._class_config()}


class Discriminator(_ClassConditioning, _WeightsFileCheck, keras.Model):
    """A discriminator maps images in [0, 1] (NHWC) to one logit per image, shape (N, 1); a
    conditional one (num_classes > 0, a projection discriminator) maps (images, labels)."""

    def __init__(self, resolution, normalization="spectral", num_classes=0, minibatch_stddev=0,
                 minibatch_discrimination=0, **kwargs):
        super().__init__(**kwargs)
        self._set_classes(num_classes)
        self.projection = None
        if self.num_classes:
            from ganzoo.layers.conditional import ClassProjection
            from ganzoo.layers.normalization import uses_spectral_norm

            self.projection = ClassProjection(self.num_classes, uses_spectral_norm(normalization),
                                              name="projection")
        self.resolution = int(resolution)
        self.normalization = normalization
        # Stabilisation options (issue 14), off (0) by default: layers on the features entering
        # D's last linear layer, see `head`.
        self.minibatch_stddev = int(minibatch_stddev)
        self.minibatch_discrimination = int(minibatch_discrimination)
        from ganzoo.layers import MinibatchDiscrimination, MinibatchStdDev

        self.minibatch_layers = []
        if self.minibatch_stddev:
            self.minibatch_layers.append(MinibatchStdDev(self.minibatch_stddev, name="minibatch_stddev"))
        if self.minibatch_discrimination:
            self.minibatch_layers.append(
                MinibatchDiscrimination(self.minibatch_discrimination, name="minibatch_discrimination"))

    def head(self, features, fc, training=False, labels=None, return_features=False):
        """D's last linear layer `fc` on flat `features` (N, F), after the minibatch layers when
        they are on, plus the class projection of a conditional D (on `features`, as
        compare_gan's project_y). return_features: (logits, features) -- the features feature
        matching compares, those before the minibatch layers."""
        x = features
        for layer in self.minibatch_layers:
            x = layer(x)
        logits = self.project(fc(x, training=training), features, labels, training)
        return (logits, features) if return_features else logits

    def build(self, input_shape=None):
        if self.built:
            return
        self.call(keras.KerasTensor((1, self.resolution, self.resolution, 3)), training=False,
                  **self._symbolic_labels())
        self.built = True

    def project(self, logits, features, labels, training=False):
        """logits + sum(embed(labels) * features) for a conditional discriminator, logits otherwise."""
        if self.projection is None:
            return logits
        if labels is None:
            raise ValueError(f"{type(self).__name__} is conditional ({self.num_classes} classes): call it "
                             "with labels=, the class of each image.")
        return logits + self.projection(features, labels, training=training)

    def get_config(self):
        config = {
            "name": self.name,
            "resolution": self.resolution,
            "normalization": self.normalization,
            **self._class_config(),
        }
        for option in ("minibatch_stddev", "minibatch_discrimination"):  # only when on
            if getattr(self, option):
                config[option] = getattr(self, option)
        return config
