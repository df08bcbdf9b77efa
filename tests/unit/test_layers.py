"""Spectral norm, unpool and the paper's layer norm against independent NumPy computations."""
import keras
import numpy as np
import pytest
from keras import ops

from ganzoo import backend
from ganzoo.layers import SpectralNormalization, Unpool, layer_norm


def _matrix(kernel, transpose):
    kernel = np.asarray(kernel, dtype=np.float64)
    if transpose:  # Conv2DTranspose kernels are (kh, kw, out, in)
        kernel = kernel.transpose(0, 1, 3, 2)
    return kernel.reshape(-1, kernel.shape[-1])


def _numpy_power_iteration(w, u, eps=1e-12):
    v = w.T @ u
    v = v / (np.sqrt(np.sum(v**2)) + eps)
    u = w @ v
    u = u / (np.sqrt(np.sum(u**2)) + eps)
    return (u.T @ w @ v).item(), u, v


LAYERS = {
    "dense": (lambda: keras.layers.Dense(6), (4, 5), False),
    "conv2d": (lambda: keras.layers.Conv2D(6, 3, strides=2, padding="same"), (2, 8, 8, 3), False),
    "conv2d_transpose": (
        lambda: keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same"),
        (2, 4, 4, 3),
        True,
    ),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_top_singular_value_is_one_after_power_iterations(kind, rng):
    make, shape, transpose = LAYERS[kind]
    layer = SpectralNormalization(make())
    x = rng.normal(size=shape).astype("float32")
    for _ in range(60):  # each training call runs one power iteration and stores u
        layer(x, training=True)
    normalized = ops.convert_to_numpy(layer.normalized_kernel(training=False))
    top = np.linalg.svd(_matrix(normalized, transpose), compute_uv=False)[0]
    assert abs(top - 1.0) < 1e-3


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_inference_uses_normalized_kernel_and_keeps_u(kind, rng):
    make, shape, transpose = LAYERS[kind]
    inner = make()
    layer = SpectralNormalization(inner)
    x = rng.normal(size=shape).astype("float32")
    layer(x, training=False)
    u_before = ops.convert_to_numpy(layer.u).copy()
    kernel = ops.convert_to_numpy(inner.kernel)
    sigma, _, _ = _numpy_power_iteration(_matrix(kernel, transpose), u_before.astype(np.float64))
    out = ops.convert_to_numpy(layer(x, training=False))
    # Independent reference: the plain layer run on W / sigma.
    reference = keras.layers.deserialize(keras.layers.serialize(inner))
    if not reference.built:
        reference.build(shape)
    reference.set_weights([kernel / sigma, ops.convert_to_numpy(inner.bias)])
    np.testing.assert_allclose(out, ops.convert_to_numpy(reference(x)), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.u), u_before)
    layer(x, training=True)
    assert not np.allclose(ops.convert_to_numpy(layer.u), u_before)


def test_gradient_flows_through_sigma(rng):
    """d/dW of sum(r * x (W / sigma)) with sigma = u^T W v (u, v held), in closed form."""
    inner = keras.layers.Dense(3, use_bias=False)
    layer = SpectralNormalization(inner)
    x = rng.normal(size=(5, 4)).astype("float32")
    r = rng.normal(size=(5, 3)).astype("float32")
    layer(x)
    w = ops.convert_to_numpy(inner.kernel).astype(np.float64)
    u0 = ops.convert_to_numpy(layer.u).astype(np.float64)
    sigma, u, v = _numpy_power_iteration(w, u0)
    g_sn = x.astype(np.float64).T @ r.astype(np.float64)  # dF / d(W_sn)
    expected = g_sn / sigma - np.sum(g_sn * w) / sigma**2 * (u @ v.T)

    def objective(params):
        out, _ = layer.stateless_call(params, [ops.convert_to_tensor(u0, "float32")], x, training=True)
        return ops.sum(out * r), ()

    (_, _), grads = backend.value_and_grad(objective)([ops.convert_to_tensor(w, "float32")])
    np.testing.assert_allclose(ops.convert_to_numpy(grads[0]), expected, rtol=1e-4, atol=1e-5)
    # Without the sigma term (weight projection, Keras' built-in layer on TF) it would differ:
    assert not np.allclose(expected, g_sn / sigma, atol=1e-3)


def test_spectral_norm_rejects_other_layers():
    with pytest.raises(ValueError, match="Dense, Conv2D or Conv2DTranspose"):
        SpectralNormalization(keras.layers.BatchNormalization())
    with pytest.raises(ValueError, match="power_iterations"):
        SpectralNormalization(keras.layers.Dense(2), power_iterations=0)


def test_spectral_norm_config_round_trip(rng):
    layer = SpectralNormalization(keras.layers.Conv2D(4, 3), power_iterations=2, epsilon=1e-10)
    clone = SpectralNormalization.from_config(layer.get_config())
    assert clone.power_iterations == 2 and clone.epsilon == 1e-10
    assert isinstance(clone.layer, keras.layers.Conv2D)


def test_unpool_inserts_zeros():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype="float32").reshape(1, 2, 2, 1)
    expected = np.array(
        [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]], dtype="float32"
    ).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(ops.convert_to_numpy(Unpool()(x)), expected)


def test_unpool_multichannel(rng):
    x = rng.normal(size=(2, 3, 5, 4)).astype("float32")
    out = ops.convert_to_numpy(Unpool()(x))
    assert out.shape == (2, 6, 10, 4)
    np.testing.assert_array_equal(out[:, ::2, ::2], x)
    assert np.count_nonzero(out[:, 1::2]) == 0 and np.count_nonzero(out[:, :, 1::2]) == 0


def test_layer_norm_normalizes_over_hwc(rng):
    x = rng.normal(loc=3.0, scale=2.0, size=(2, 4, 4, 3)).astype("float32")
    out = ops.convert_to_numpy(layer_norm()(x))
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    var = x.var(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-12), rtol=1e-4, atol=1e-4)
