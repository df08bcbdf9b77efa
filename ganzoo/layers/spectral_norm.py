"""Spectral normalisation with the paper's semantics (Miyato et al. 2018, compare_gan).

The wrapped layer always computes with W / sigma(W), in training and in inference, and the
gradient flows through sigma. sigma is estimated with one power iteration per call from a
persistent, non-trainable vector u, which is written back only on training calls.

keras.layers.SpectralNormalization is not used: it overwrites the kernel variable with W / sigma,
which drops the sigma term from the gradient on TensorFlow and never normalises the stored
kernel on JAX (see docs/design.md).
"""
import keras
from keras import ops

from ganzoo.random import PortableNormal

_SUPPORTED = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose)


def l2_normalize(x, epsilon=1e-12):
    # tf.nn.l2_normalize(x, axis=None, epsilon), as compare_gan calls it: the epsilon bounds
    # the squared norm from below, x * rsqrt(max(sum(x^2), epsilon)).
    return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x)), epsilon))


def kernel_as_matrix(kernel, layer):
    """Reshape a kernel to (rows, out_features), the matrix whose top singular value is taken."""
    if isinstance(layer, keras.layers.Conv2DTranspose):
        # Keras stores transposed-conv kernels as (kh, kw, out, in): put the output axis last.
        kernel = ops.transpose(kernel, (0, 1, 3, 2))
    return ops.reshape(kernel, (-1, kernel.shape[-1]))


def power_iteration(matrix, u, epsilon=1e-12):
    """One power iteration. Returns (sigma, new_u); u and v carry no gradient."""
    u = ops.stop_gradient(u)
    v = l2_normalize(ops.matmul(ops.transpose(matrix), u), epsilon)
    u = l2_normalize(ops.matmul(matrix, v), epsilon)
    u = ops.stop_gradient(u)
    v = ops.stop_gradient(v)
    sigma = ops.matmul(ops.matmul(ops.transpose(u), matrix), v)
    return ops.reshape(sigma, ()), u


@keras.saving.register_keras_serializable(package="ganzoo")
class SpectralNormalization(keras.layers.Wrapper):
    """Wraps a Dense, Conv2D or Conv2DTranspose layer; computes with W / sigma(W).

    Args:
        layer: the layer to normalise (its bias is not normalised).
        power_iterations: power iterations per call (the paper uses 1).
        epsilon: added to norms in the power iteration (the paper uses 1e-12).
    """

    def __init__(self, layer, power_iterations=1, epsilon=1e-12, **kwargs):
        if not isinstance(layer, _SUPPORTED):
            raise ValueError(
                "SpectralNormalization wraps Dense, Conv2D or Conv2DTranspose layers; got "
                f"{type(layer).__name__}. Apply it to one of those layers."
            )
        if int(power_iterations) < 1:
            raise ValueError(
                f"power_iterations must be >= 1; got {power_iterations}."
            )
        super().__init__(layer, **kwargs)
        self.power_iterations = int(power_iterations)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        matrix_shape = kernel_as_matrix(
            ops.zeros(self.layer.kernel.shape), self.layer
        ).shape
        self.u = self.add_weight(
            name="u",
            shape=(matrix_shape[0], 1),
            initializer=PortableNormal(0.0, 1.0),  # the same u on every backend
            trainable=False,
        )
        self.built = True

    def normalized_kernel(self, training=False):
        """W / sigma(W); on training calls u is updated."""
        kernel = self.layer.kernel
        matrix = kernel_as_matrix(kernel, self.layer)
        u = ops.cast(self.u, matrix.dtype)
        for _ in range(self.power_iterations):
            sigma, u = power_iteration(matrix, u, self.epsilon)
        if training:
            self.u.assign(ops.cast(u, self.u.dtype))
        return kernel / sigma

    def call(self, inputs, training=False):
        kernel = self.normalized_kernel(training=bool(training))
        layer = self.layer
        if isinstance(layer, keras.layers.Dense):
            outputs = ops.matmul(inputs, kernel)
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            outputs = ops.conv_transpose(
                inputs,
                kernel,
                strides=layer.strides,
                padding=layer.padding,
                output_padding=layer.output_padding,
                data_format=layer.data_format,
                dilation_rate=layer.dilation_rate,
            )
        else:
            outputs = layer.convolution_op(inputs, kernel)
        if layer.use_bias:
            outputs = ops.add(outputs, layer.bias)
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(power_iterations=self.power_iterations, epsilon=self.epsilon)
        return config
