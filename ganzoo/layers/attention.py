"""The self-attention (non-local) block of SAGAN (Zhang et al. 2019), as compare_gan's
arch_ops.non_local_block, which reproduces SAGAN and BigGAN exactly:

    theta = conv1x1(x, C/8)                     flattened to (N, HW, C/8)
    phi   = maxpool2x2(conv1x1(x, C/8))         (N, HW/4, C/8)
    g     = maxpool2x2(conv1x1(x, C/2))         (N, HW/4, C/2)
    attn  = softmax(theta phi^T)                (N, HW, HW/4), over the pooled positions
    out   = x + sigma * conv1x1(attn g, C)      sigma a scalar that starts at 0

All four 1x1 convolutions have no bias. sigma = 0 at the start makes the block the identity, so
a network gains it without changing what it computed before training.
"""
import keras
from keras import ops

from ganzoo.layers.spectral_norm import SpectralNormalization


@keras.saving.register_keras_serializable(package="ganzoo")
class SelfAttention(keras.layers.Layer):
    """SAGAN's self-attention on NHWC feature maps (C divisible by 8, H and W even).

    spectral_norm: wrap the 1x1 convolutions in SpectralNormalization (a spectrally normalised
    discriminator's block; compare_gan's use_sn). kernel_initializer: the convolutions' (the
    family's N(0, 0.02) by default).
    """

    def __init__(self, spectral_norm=False, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.spectral_norm = bool(spectral_norm)
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"SelfAttention takes NHWC feature maps; got shape {input_shape}.")
        _, h, w, channels = input_shape
        if channels % 8 or (h is not None and h % 2) or (w is not None and w % 2):
            raise ValueError(f"SelfAttention needs channels divisible by 8 and an even height and width "
                             f"(it pools 2x2); got {h}x{w}x{channels}.")
        self.channels = int(channels)

        def conv(units, name):
            layer = keras.layers.Conv2D(units, 1, use_bias=False, name=name,
                                        kernel_initializer=self.kernel_initializer or "glorot_uniform")
            return SpectralNormalization(layer, name=name + "_sn") if self.spectral_norm else layer

        self.theta = conv(channels // 8, "theta")
        self.phi = conv(channels // 8, "phi")
        self.g = conv(channels // 2, "g")
        self.attn_g = conv(channels, "attn_g")
        self.pool = keras.layers.MaxPooling2D(2, strides=2)
        self.theta.build(input_shape)
        self.phi.build(input_shape)
        self.g.build(input_shape)
        self.attn_g.build(tuple(input_shape[:3]) + (channels // 2,))
        self.sigma = self.add_weight(name="sigma", shape=(), initializer="zeros")

    def call(self, x, training=False):
        h, w = x.shape[1], x.shape[2]
        c = self.channels
        theta = ops.reshape(self.theta(x, training=training), (-1, h * w, c // 8))
        phi = ops.reshape(self.pool(self.phi(x, training=training)), (-1, (h // 2) * (w // 2), c // 8))
        g = ops.reshape(self.pool(self.g(x, training=training)), (-1, (h // 2) * (w // 2), c // 2))
        attention = ops.softmax(ops.matmul(theta, ops.transpose(phi, (0, 2, 1))), axis=-1)
        attended = ops.reshape(ops.matmul(attention, g), (-1, h, w, c // 2))
        return x + self.sigma * self.attn_g(attended, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "spectral_norm": self.spectral_norm,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)
                if self.kernel_initializer is not None else None}
