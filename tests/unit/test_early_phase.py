"""benchmarks/early_phase.py: its variants differ from their baselines in exactly the one way they
name (G's z drawn once or twice a step; the gradient through sigma; kernels projected to sigma 1),
checked against closed forms, and bad arguments are refused."""
import contextlib
import pathlib
import sys

import keras
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

import early_phase  # noqa: E402

tensorflow_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                     reason="the keras.io peer is TensorFlow code")


@tensorflow_only
@pytest.mark.parametrize("reuse_z, draws", [(False, 2), (True, 1)])
def test_peer_variant_draws_one_z_per_step_when_it_reuses_it(reuse_z, draws, monkeypatch):
    from peers import kerasio_gan

    calls = []
    original = kerasio_gan.GAN._latent

    def counted(self, batch_size):
        calls.append(batch_size)
        return original(self, batch_size)

    monkeypatch.setattr(kerasio_gan.GAN, "_latent", counted)
    gan = early_phase._peer(0, reuse_z=reuse_z)
    images = np.random.default_rng(0).uniform(0, 1, (8, 32, 32, 3)).astype("float32")
    gan.fit(images, batch_size=8, epochs=1, verbose=0)  # one step, traced once
    assert len(calls) == draws
    # A subclass for the reused z alone; the module's class is left as it was.
    assert (type(gan) is not kerasio_gan.GAN) == reuse_z
    assert np.isfinite(gan.d_loss_metric.result())


def test_ganzoo_variants_differ_in_the_generator_z_alone():
    paper, fresh = early_phase._ganzoo(0, False), early_phase._ganzoo(0, True)
    assert not paper.resample_generator_z and fresh.resample_generator_z
    for a, b in zip(paper.discriminator.get_weights(), fresh.discriminator.get_weights()):
        np.testing.assert_array_equal(a, b)  # the same seed: the same initial weights


@pytest.mark.parametrize("argv, message", [
    (["--variants", "paper,nope"], "unknown ['nope']"),
    (["--steps", "250", "--window", "60"], "must be at least 1 and divide --steps"),
    (["--variants", ""], "unknown []"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        early_phase.main(argv)
    assert message in capsys.readouterr().err


def test_kernels_scaled_to_sigma_one_leave_d_the_same_function():
    paper = early_phase._ganzoo(0, False)
    images = np.random.default_rng(1).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    before = np.asarray(paper.discriminator(images, training=False))
    sigmas = early_phase.scale_kernels_to_sigma_one(paper.discriminator)
    assert len(sigmas) == 8  # SNDCGAN's D: seven convolutions and the dense layer
    # N(0, 0.02) kernels: sigma about 0.02 (sqrt(rows) + sqrt(cols)), below 1 for the narrow first
    # convolution (27 x 64) and above it for the wide last ones (4608 x 512).
    assert sigmas[0] == pytest.approx(0.02 * (27 ** 0.5 + 64 ** 0.5), rel=0.15)
    assert sigmas[6] == pytest.approx(0.02 * (4608 ** 0.5 + 512 ** 0.5), rel=0.1)
    after = np.asarray(paper.discriminator(images, training=False))
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-7)
    from ganzoo.layers.spectral_norm import SpectralNormalization, kernel_as_matrix

    for layer in paper.discriminator._flatten_layers(include_self=False):
        if isinstance(layer, SpectralNormalization):
            matrix = np.asarray(kernel_as_matrix(np.asarray(layer.layer.kernel), layer.layer))
            assert np.linalg.svd(matrix, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-5)


def _sigma_from_u(matrix, u):
    """compare_gan's one power iteration from u (ops.py spectral_norm), in NumPy float64."""
    matrix, u = matrix.astype(np.float64), u.astype(np.float64)
    v = matrix.T @ u
    v /= np.linalg.norm(v)
    u_new = matrix @ v
    u_new /= np.linalg.norm(u_new)
    return (u_new.T @ matrix @ v).item(), u_new, v


def _kernel_gradient(layer, x, c):
    """d sum(layer(x) * c) / d kernel, on the backend in use."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=False) * c)
        return np.asarray(tape.gradient(loss, layer.layer.kernel.value))
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        frozen = [v.value for v in layer.non_trainable_variables]

        def loss(values):
            outputs, _ = layer.stateless_call(values, frozen, x, training=False)
            return (outputs * c).sum()

        index = [v is layer.layer.kernel for v in layer.trainable_variables].index(True)
        return np.asarray(jax.grad(loss)(trainable)[index])
    pytest.skip(f"no gradient helper for the {backend} backend")


@pytest.mark.parametrize("stopped", [False, True])
def test_sigma_without_gradient_drops_the_sigma_term_alone(stopped):
    from ganzoo.layers.spectral_norm import SpectralNormalization

    rng = np.random.default_rng(2)
    layer = SpectralNormalization(keras.layers.Dense(5, use_bias=False))
    layer.build((None, 7))
    layer.layer.kernel.assign(rng.normal(0, 0.3, (7, 5)).astype("float32"))
    x = rng.normal(size=(3, 7)).astype("float32")
    c = rng.normal(size=(3, 5)).astype("float32")
    with early_phase.sigma_without_gradient() if stopped else contextlib.nullcontext():
        gradient = _kernel_gradient(layer, x, c)
    # y = x W / sigma with sigma = u'^T W v (u', v held): the loss's gradient is x^T c / sigma,
    # less (tr(c^T x W) / sigma^2) u' v^T when the gradient runs through sigma.
    kernel = np.asarray(layer.layer.kernel).astype(np.float64)
    sigma, u, v = _sigma_from_u(kernel, np.asarray(layer.u))
    expected = x.T.astype(np.float64) @ c / sigma
    if not stopped:
        expected -= np.sum(c * (x @ kernel)) / sigma ** 2 * (u @ v.T)
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-6)
    from ganzoo.layers import spectral_norm

    assert spectral_norm.power_iteration.__name__ == "power_iteration"  # restored


def test_projected_kernels_keep_d_the_same_function_with_sigma_one_from_u():
    gan = early_phase._ganzoo(0, False)
    images = np.random.default_rng(3).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    before = np.asarray(gan.discriminator(images, training=False))
    layers = early_phase._spectral_norm_layers(gan.discriminator)
    us = [np.asarray(layer.u).copy() for layer in layers]
    kernels = [np.asarray(layer.layer.kernel).copy() for layer in layers]
    sigmas = early_phase.project_kernels(gan.discriminator)
    from ganzoo.layers.spectral_norm import kernel_as_matrix

    for layer, u, kernel, sigma in zip(layers, us, kernels, sigmas):
        expected, _, _ = _sigma_from_u(np.asarray(kernel_as_matrix(kernel, layer.layer)), u)
        assert sigma == pytest.approx(expected, rel=1e-4)
        np.testing.assert_allclose(np.asarray(layer.layer.kernel), kernel / expected, rtol=1e-4,
                                   atol=1e-8)
        np.testing.assert_array_equal(np.asarray(layer.u), u)  # u moves on training calls alone
    # The power iteration from the same u is scale-equivariant: D computes what it did.
    np.testing.assert_allclose(np.asarray(gan.discriminator(images, training=False)), before,
                               rtol=1e-4, atol=1e-6)


def test_projecting_callback_leaves_every_kernel_at_sigma_one_after_each_step():
    gan = early_phase._ganzoo(0, False)
    images = np.random.default_rng(4).uniform(0, 1, (16, 32, 32, 3)).astype("float32")
    gan.fit(images, batch_size=8, epochs=1, verbose=0,
            callbacks=[early_phase._projecting_callback()])
    from ganzoo.layers.spectral_norm import kernel_as_matrix

    for layer in early_phase._spectral_norm_layers(gan.discriminator):
        matrix = np.asarray(kernel_as_matrix(np.asarray(layer.layer.kernel), layer.layer))
        sigma, _, _ = _sigma_from_u(matrix, np.asarray(layer.u))
        assert sigma == pytest.approx(1.0, rel=1e-4)
