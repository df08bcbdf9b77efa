"""mlp2d: small MLPs for the 2-D mixtures test bed (ganzoo.analysis.mixtures).

Not an image family: samples are points in the plane, shape (N, 2), as in the unrolled-GAN and
VEEGAN/PacGAN toy experiments (two hidden layers of 128 ReLU units; D outputs one logit). They
go through the same GAN class, losses, penalties and fit() as the image families, so each
stabilisation option can be watched on a CPU in seconds. `resolution` is fixed at 1 (a point):
the recipe field is kept for the registry's sake and means nothing else here.
"""
import keras
from keras import ops

from ganzoo.architectures.base import Discriminator, Generator
from ganzoo.layers import SpectralNormalization

HIDDEN = (128, 128)
POINT_DIM = 2
MLP2D_D_NORMALIZATIONS = ("none", "spectral")


def _check(resolution, kwargs):
    if int(resolution) != 1:
        raise ValueError(f"mlp2d makes 2-D points, not images: its resolution is 1; got {resolution}.")
    if kwargs.get("num_classes"):
        raise ValueError("mlp2d has no class-conditional form (the mixtures are unlabelled); use "
                         "num_classes=0, or an image family (sndcgan, resnet_cifar, resnet19).")


def _dense(units, name):
    # Glorot uniform, Keras' default: the toy experiments' MLPs use framework defaults.
    return keras.layers.Dense(units, name=name)


@keras.saving.register_keras_serializable(package="ganzoo")
class MLP2DGenerator(Generator):
    """z -> 128 ReLU -> 128 ReLU -> 2 (linear: points are not bounded to [0, 1])."""

    RESOLUTION = 1

    def __init__(self, resolution=1, z_dim=128, **kwargs):
        _check(resolution, kwargs)
        super().__init__(resolution=1, z_dim=z_dim, **kwargs)
        self.hidden = [_dense(units, f"fc{i}") for i, units in enumerate(HIDDEN)]
        self.out = _dense(POINT_DIM, "out")
        self.build()

    @property
    def image_shape(self):
        return (POINT_DIM,)

    def call(self, z, training=False):
        x = z
        for layer in self.hidden:
            x = ops.relu(layer(x))
        return self.out(x)


@keras.saving.register_keras_serializable(package="ganzoo")
class MLP2DDiscriminator(Discriminator):
    """2 -> 128 ReLU -> 128 ReLU -> 1 logit; normalization 'spectral' wraps every Dense."""

    RESOLUTION = 1
    sample_shape = (POINT_DIM,)  # what GAN._unpack_batch expects instead of (H, W, 3)

    def __init__(self, resolution=1, normalization="spectral", **kwargs):  # kwargs: base options
        _check(resolution, kwargs)
        if normalization not in MLP2D_D_NORMALIZATIONS:
            raise ValueError(f"mlp2d's discriminator takes normalization "
                             f"{' or '.join(MLP2D_D_NORMALIZATIONS)}; got {normalization!r}.")
        super().__init__(resolution=1, normalization=normalization, **kwargs)
        wrap = ((lambda layer: SpectralNormalization(layer, name=layer.name + "_sn"))
                if normalization == "spectral" else (lambda layer: layer))
        self.hidden = [wrap(_dense(units, f"fc{i}")) for i, units in enumerate(HIDDEN)]
        self.fc = wrap(_dense(1, "out"))
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        self.call(keras.KerasTensor((1, POINT_DIM)), training=False)
        self.built = True

    def call(self, points, training=False, labels=None, return_features=False):
        x = points
        for layer in self.hidden:
            x = ops.relu(layer(x, training=training))
        return self.head(x, self.fc, training, labels, return_features)
