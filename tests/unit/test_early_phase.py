"""benchmarks/early_phase.py: its variants differ from their baselines in exactly the one way they
name (G's z drawn once or twice a step), and bad arguments are refused."""
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
