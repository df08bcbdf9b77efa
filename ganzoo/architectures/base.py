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


class Generator(_WeightsFileCheck, keras.Model):
    """A generator maps z ~ U(-1, 1) of size `z_dim` to images in [0, 1] (NHWC)."""

    def __init__(self, resolution, z_dim=DEFAULT_Z_DIM, **kwargs):
        super().__init__(**kwargs)
        self.resolution = int(resolution)
        self.z_dim = int(z_dim)
        if self.z_dim < 1:
            raise ValueError(f"z_dim must be a positive integer; got {z_dim}.")

    def build(self, input_shape=None):
        if self.built:
            return
        # Subclassed models create variables on their first call: run one on a dummy z so a
        # constructed (or deserialised) generator is always complete.
        self.call(keras.KerasTensor((1, self.z_dim)), training=False)
        self.built = True

    @property
    def image_shape(self):
        return (self.resolution, self.resolution, 3)

    def sample(self, num, seed=None, batch_size=256, z=None, truncation=None):
        """Generate `num` images (numpy float32 in [0, 1], shape (num, H, W, 3)).

        `seed` fixes z (drawn with NumPy, identical on every backend); `z` may be given instead.
        `truncation` t in (0, 1]: the truncation trick, z within [-t, t] (see sample_noise);
        fidelity for diversity. None or 1: none. It applies to the z drawn here, not to a given z.
        """
        num, seed, batch_size = check_sample_args(num, seed, batch_size, "sample")
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

        outputs = [backend.sample(self, z[i : i + batch_size]) for i in range(0, num, batch_size)]
        return np.concatenate(outputs, axis=0).astype("float32")

    def get_config(self):
        return {"name": self.name, "resolution": self.resolution, "z_dim": self.z_dim}


class Discriminator(_WeightsFileCheck, keras.Model):
    """A discriminator maps images in [0, 1] (NHWC) to one logit per image, shape (N, 1)."""

    def __init__(self, resolution, normalization="spectral", minibatch_stddev=0,
                 minibatch_discrimination=0, **kwargs):
        super().__init__(**kwargs)
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

    def head(self, features, fc, training=False, return_features=False):
        """D's last linear layer `fc` on flat `features` (N, F), after the minibatch layers when
        they are on. return_features: (logits, features) -- the features feature matching
        compares, those before the minibatch layers."""
        x = features
        for layer in self.minibatch_layers:
            x = layer(x)
        logits = fc(x, training=training)
        return (logits, features) if return_features else logits

    def build(self, input_shape=None):
        if self.built:
            return
        self.call(keras.KerasTensor((1, self.resolution, self.resolution, 3)), training=False)
        self.built = True

    def get_config(self):
        config = {
            "name": self.name,
            "resolution": self.resolution,
            "normalization": self.normalization,
        }
        for option in ("minibatch_stddev", "minibatch_discrimination"):  # only when on
            if getattr(self, option):
                config[option] = getattr(self, option)
        return config
