"""The residual block of the paper's ResNets (compare_gan v2 resnet_architecture.resnet_block)."""
import keras
from keras import ops

from ganzoo.architectures.base import weight_init
from ganzoo.layers import SpectralNormalization, Unpool, batch_norm, make_feature_norm
from ganzoo.layers.normalization import uses_spectral_norm

SCALES = ("up", "down", "none")


class ResampledConv(keras.layers.Layer):
    """3x3 conv with the block's resampling: unpool before ("up") or avg-pool after ("down")."""

    def __init__(self, channels, scale, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}; got {scale!r}.")
        self.scale = scale
        conv = keras.layers.Conv2D(
            channels, 3, padding="same", kernel_initializer=weight_init(truncated=True), name="conv"
        )
        self.conv = SpectralNormalization(conv, name="conv_sn") if spectral_norm else conv
        self.unpool = Unpool() if scale == "up" else None
        self.pool = (
            keras.layers.AveragePooling2D(2, strides=2, padding="same") if scale == "down" else None
        )

    def call(self, x, training=False):
        if self.unpool is not None:
            x = self.unpool(x)
        x = self.conv(x, training=training)
        if self.pool is not None:
            x = self.pool(x)
        return x


class ResNetBlock(keras.layers.Layer):
    """main: [norm] ReLU conv(scale1) [norm] ReLU conv(scale2); shortcut: conv(scale); sum.

    Generator blocks upsample in the first conv and use batch norm; discriminator blocks
    downsample after the second conv and use the discriminator's normalisation. The shortcut
    is always a 3x3 conv, also when the channel counts match, as in the paper's code.
    """

    def __init__(self, channels, scale, generator_block, normalization="none", **kwargs):
        super().__init__(**kwargs)
        if generator_block:
            scale1, scale2 = scale, "none"
            self.norm1, self.norm2 = batch_norm(name="bn1"), batch_norm(name="bn2")
            use_sn = False
        else:
            scale1, scale2 = "none", scale
            self.norm1 = make_feature_norm(normalization, name="norm1")
            self.norm2 = make_feature_norm(normalization, name="norm2")
            use_sn = uses_spectral_norm(normalization)
        self.shortcut = ResampledConv(channels, scale, use_sn, name="shortcut")
        self.conv1 = ResampledConv(channels, scale1, use_sn, name="conv1")
        self.conv2 = ResampledConv(channels, scale2, use_sn, name="conv2")

    @staticmethod
    def _norm(norm, x, training):
        return x if norm is None else norm(x, training=training)

    def call(self, x, training=False):
        shortcut = self.shortcut(x, training=training)
        x = ops.relu(self._norm(self.norm1, x, training))
        x = self.conv1(x, training=training)
        x = ops.relu(self._norm(self.norm2, x, training))
        x = self.conv2(x, training=training)
        return x + shortcut
