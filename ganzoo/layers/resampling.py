"""Resampling layers of the paper's ResNets."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ganzoo")
class Unpool(keras.layers.Layer):
    """2x upsampling by zero insertion, compare_gan's `unpool`.

    [[1, 2], [3, 4]] becomes [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    (not nearest-neighbour repetition). Channels-last input (N, H, W, C).
    """

    def call(self, inputs):
        shape = ops.shape(inputs)
        n, h, w, c = shape[0], shape[1], shape[2], shape[3]
        zeros = ops.zeros_like(inputs)
        out = ops.stack([inputs, zeros], axis=3)  # (N, H, W, 2, C): zero after each column
        out = ops.reshape(out, (n, h, 2 * w, c))
        out = ops.stack([out, ops.zeros_like(out)], axis=2)  # zero row after each row
        return ops.reshape(out, (n, 2 * h, 2 * w, c))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else 2 * h, None if w is None else 2 * w, c)
