"""Class conditioning: conditional batch norm for generators, the projection for discriminators.

- `ConditionalBatchNorm`: batch norm without its own gamma/beta, whose gain and bias come from
  the class (de Vries et al. 2017, Miyato & Koyama 2018): per-class tables, or, with BigGAN's
  shared class embedding (Brock et al. 2019), linear maps of that embedding (gain = 1 + W_g e).
- `ClassProjection`: the projection discriminator's term sum(embed(y) * h) (Miyato & Koyama
  2018), with spectral norm on the embedding when the discriminator uses it.

Both take the class as a vector `condition` of the generator's making (`class_condition`): the
one-hot label (per-class tables: one_hot @ table is the table's row) or the shared embedding.
One-hot products rather than gathers: the same arithmetic on TensorFlow and JAX, where an
out-of-range gather would raise on one and clamp on the other.
"""
import keras
from keras import ops

from ganzoo.layers.spectral_norm import SpectralNormalization
from ganzoo.random import PortableNormal


def one_hot(labels, num_classes):
    """float32 one-hot rows of int labels (N,): the condition of per-class tables."""
    return ops.one_hot(ops.cast(labels, "int32"), int(num_classes), dtype="float32")


@keras.saving.register_keras_serializable(package="ganzoo")
class ConditionalBatchNorm(keras.layers.Layer):
    """Batch norm (statistics as ganzoo's batch_norm) with a class-dependent gain and bias.

    Args:
        condition_dim: size of the condition vector (num_classes for one-hot labels, the shared
            embedding's size otherwise).
        shared: False: per-class tables, gain initialised to 1 and bias to 0 (at initialisation
            the layer is plain batch norm for every class); True: gain = 1 + condition @ W_g and
            bias = condition @ W_b with W ~ N(0, 0.02) (BigGAN's linear maps of the shared
            embedding).
        momentum, epsilon: of the underlying batch norm.
    """

    def __init__(self, condition_dim, shared=False, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.condition_dim = int(condition_dim)
        self.shared = bool(shared)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.bn = keras.layers.BatchNormalization(
            axis=-1, momentum=self.momentum, epsilon=self.epsilon, center=False, scale=False, name="bn")

    def build(self, x_shape, condition_shape=None):  # Keras names build's arguments after call's
        channels = int(x_shape[-1])
        self.bn.build(x_shape)
        gain_init = PortableNormal(0.0, 0.02) if self.shared else "ones"
        bias_init = PortableNormal(0.0, 0.02) if self.shared else "zeros"
        self.gain = self.add_weight(name="gain", shape=(self.condition_dim, channels), initializer=gain_init)
        self.bias = self.add_weight(name="bias", shape=(self.condition_dim, channels), initializer=bias_init)
        self.built = True

    def call(self, x, condition, training=False):
        x = self.bn(x, training=training)
        gain = ops.matmul(condition, self.gain)
        if self.shared:
            gain = gain + 1.0
        bias = ops.matmul(condition, self.bias)
        # (N, C) -> (N, 1, ..., 1, C) to broadcast over the spatial axes
        shape = (-1,) + (1,) * (len(x.shape) - 2) + (int(x.shape[-1]),)
        return x * ops.reshape(gain, shape) + ops.reshape(bias, shape)

    def get_config(self):
        config = super().get_config()
        config.update(condition_dim=self.condition_dim, shared=self.shared, momentum=self.momentum,
                      epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="ganzoo")
class ClassProjection(keras.layers.Layer):
    """The projection discriminator's class term: sum(embed(y) * h, axis=1), shape (N, 1).

    The embedding is a bias-free Dense on the one-hot label (its kernel is the (num_classes,
    features) embedding matrix, N(0, 0.02) as every ganzoo weight), wrapped in ganzoo's spectral
    norm when `spectral_norm` (as compare_gan and mimicry's SNEmbedding: sigma of that matrix).
    """

    def __init__(self, num_classes, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.spectral_norm = bool(spectral_norm)
        self.embed = None

    def build(self, features_shape, labels_shape=None):
        dense = keras.layers.Dense(int(features_shape[-1]), use_bias=False,
                                   kernel_initializer=PortableNormal(0.0, 0.02), name="embed")
        self.embed = SpectralNormalization(dense, name="embed_sn") if self.spectral_norm else dense
        self.embed.build((None, self.num_classes))
        self.built = True

    def call(self, features, labels, training=False):
        embedded = self.embed(one_hot(labels, self.num_classes), training=training)
        return ops.sum(embedded * features, axis=1, keepdims=True)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, spectral_norm=self.spectral_norm)
        return config
