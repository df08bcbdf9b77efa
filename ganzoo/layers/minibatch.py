"""Layers that let the discriminator look at a whole minibatch, against mode collapse.

- MinibatchStdDev (Karras et al. 2018, PGGAN, Sec. 3): the standard deviation of each feature
  over a group of samples, averaged into one number per group, appended as one more feature.
- MinibatchDiscrimination (Salimans et al. 2016, Sec. 3.2): each sample's features are projected
  to B kernels of C dimensions; the closeness exp(-L1) of a sample to the other samples of the
  batch, summed per kernel, is appended as B more features.

Both are placed on the features entering D's last linear layer (ganzoo.architectures.base
.Discriminator.head), so a D that sees a collapsed batch of near-identical samples can tell.
"""
import keras
from keras import ops

from ganzoo.random import PortableNormal


@keras.saving.register_keras_serializable(package="ganzoo")
class MinibatchStdDev(keras.layers.Layer):
    """Appends the group standard deviation as one feature (channel, for NHWC inputs).

    The batch is split into groups of `group_size` strided samples (sample i is in group
    i mod (N / group_size), PGGAN's reshape); for each group: std over its members of every
    feature (sqrt(var + 1e-8)), averaged over the features. A batch smaller than group_size
    makes one group; a batch size not divisible by the group size is refused.
    """

    def __init__(self, group_size=4, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if int(group_size) != group_size or int(group_size) < 2:
            raise ValueError(f"MinibatchStdDev needs group_size >= 2 (a std of one sample is 0); "
                             f"got {group_size}.")
        self.group_size = int(group_size)
        self.epsilon = float(epsilon)

    def call(self, x):
        n = x.shape[0]
        group = self.group_size if n is None else min(self.group_size, int(n))
        if n is not None and int(n) % group:
            raise ValueError(f"MinibatchStdDev: a batch of {n} samples cannot be split into groups of "
                             f"{group}; use a batch size divisible by minibatch_stddev={group}.")
        rest = tuple(x.shape[1:])
        y = ops.reshape(x, (group, -1) + rest)                    # (G, M, ...)
        y = y - ops.mean(y, axis=0, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(y), axis=0) + self.epsilon)  # (M, ...)
        s = ops.mean(std, axis=tuple(range(1, len(rest) + 1)))     # (M,)
        s = ops.tile(s, (group,))                                  # sample i -> group i mod M
        s = ops.reshape(s, (-1,) + (1,) * len(rest))
        s = ops.broadcast_to(s, tuple(ops.shape(x)[:-1]) + (1,))
        return ops.concatenate([x, ops.cast(s, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + 1,)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="ganzoo")
class MinibatchDiscrimination(keras.layers.Layer):
    """Appends o_b(x_i) = sum_{j != i} exp(-||M_i,b - M_j,b||_1) for b = 1..num_kernels to
    flat features (N, F), where M = x T reshaped to (N, num_kernels, kernel_dim).

    T starts N(0, 0.05) as in Salimans et al.'s code (drawn with NumPy: the same on every
    backend); their per-kernel bias is left out, since D's next (linear) layer has its own.
    The pairwise tensor is (N, N, B, C): fine for batches of a few hundred.
    """

    def __init__(self, num_kernels=100, kernel_dim=5, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_kernels", num_kernels), ("kernel_dim", kernel_dim)):
            if int(value) != value or int(value) < 1:
                raise ValueError(f"MinibatchDiscrimination needs {name} >= 1; got {value}.")
        self.num_kernels = int(num_kernels)
        self.kernel_dim = int(kernel_dim)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"MinibatchDiscrimination takes flat features (N, F); got shape {input_shape}.")
        self.kernel = self.add_weight(
            shape=(int(input_shape[-1]), self.num_kernels * self.kernel_dim),
            initializer=PortableNormal(0.0, 0.05), name="kernel")

    def call(self, x):
        m = ops.reshape(ops.matmul(x, self.kernel), (-1, self.num_kernels, self.kernel_dim))
        l1 = ops.sum(ops.abs(ops.expand_dims(m, 1) - ops.expand_dims(m, 0)), axis=-1)  # (N, N, B)
        closeness = ops.sum(ops.exp(-l1), axis=1) - 1.0  # the j = i term is exp(0) = 1
        return ops.concatenate([x, closeness], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1] + self.num_kernels)

    def get_config(self):
        return {**super().get_config(), "num_kernels": self.num_kernels, "kernel_dim": self.kernel_dim}
