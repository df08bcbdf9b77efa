"""Orthogonality for GAN weights (issue 14): BigGAN's orthogonal regularisation and orthogonal
initialisation (Saxe et al. 2014; Brock et al. 2019, Sec. 3.1).

A kernel is seen as the matrix (rows, out_features) that spectral norm uses
(ganzoo.layers.spectral_norm.kernel_as_matrix: a conv's receptive field by its output channels),
so "orthogonal" means orthonormal output filters, W^T W = I, when rows >= out_features.
"""
import keras
import numpy as np
from keras import ops

from ganzoo.layers.spectral_norm import kernel_as_matrix

_KERNEL_LAYERS = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose)


def kernel_layers(model):
    """(position in model.trainable_variables, layer) of every Dense/conv kernel of `model`."""
    positions = {id(v): i for i, v in enumerate(model.trainable_variables)}
    return [(positions[id(layer.kernel)], layer)
            for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, _KERNEL_LAYERS) and id(layer.kernel) in positions]


def orthogonal_regularization(matrices):
    """sum over matrices W of ||W^T W * (1 - I)||_F^2: only the off-diagonal Gram entries, so
    filters are pushed apart without fixing their norms (BigGAN's relaxed form)."""
    total = 0.0
    for w in matrices:
        gram = ops.matmul(ops.transpose(w), w)
        off_diagonal = gram * (1.0 - ops.eye(gram.shape[0], dtype=gram.dtype))
        total = total + ops.sum(ops.square(off_diagonal))
    return total


def model_orthogonal_regularization(model, params):
    """orthogonal_regularization of `model`'s kernels, read from `params` (its trainable values
    in model.trainable_variables order, as the train step holds them)."""
    return orthogonal_regularization(
        [kernel_as_matrix(params[i], layer) for i, layer in kernel_layers(model)])


def orthogonal_matrix(rows, cols, rng):
    """A (rows, cols) matrix with orthonormal columns (rows >= cols) or rows: QR of a Gaussian,
    signs fixed by R's diagonal so the law is uniform (Haar)."""
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T


def orthogonal_initialize(model):
    """Re-draw every Dense/conv kernel of `model` orthogonal (biases and other weights kept).

    Drawn with NumPy from its global generator (which build_gan's seed sets), so the same seed
    gives the same weights on every backend, as ganzoo.random.PortableNormal does."""
    rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
    for _, layer in kernel_layers(model):
        shape = tuple(layer.kernel.shape)
        transposed = isinstance(layer, keras.layers.Conv2DTranspose)
        # Build the matrix kernel_as_matrix reads, then fold it back to the kernel's layout.
        matrix_shape = shape[:-2] + (shape[-1], shape[-2]) if transposed else shape
        rows, cols = int(np.prod(matrix_shape[:-1])), int(matrix_shape[-1])
        kernel = orthogonal_matrix(rows, cols, rng).reshape(matrix_shape)
        if transposed:
            kernel = np.swapaxes(kernel, -1, -2)
        layer.kernel.assign(kernel.astype("float32"))
