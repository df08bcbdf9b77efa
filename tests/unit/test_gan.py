"""The GAN model: fit, optimizer state, EMA, saving, the first step against an independent
forward computation, callbacks and bad input, on the current backend."""

import keras
import numpy as np
import pytest
from keras import ops

import ganzoo
from ganzoo.architectures import build_discriminator, build_generator, sample_noise
from ganzoo.losses import get_loss

RES = 8  # SNDCGAN at 8x8: the paper's layers, small enough for CPU tests


def _images(rng, n):
    return rng.uniform(0, 1, size=(n, RES, RES, 3)).astype("float32")


def _gan(**kwargs):
    kwargs.setdefault("seed", 3)
    return ganzoo.build_gan("sndcgan", resolution=RES, **kwargs)


def test_fit_updates_weights_and_both_optimizers(rng):
    gan = _gan(disc_iters=2, penalty="wgan_gp", penalty_weight=10.0)
    g_before = [w.copy() for w in gan.generator.get_weights()]
    d_before = [w.copy() for w in gan.discriminator.get_weights()]
    history = gan.fit(_images(rng, 24), batch_size=8, epochs=2, verbose=0)
    assert gan.g_steps == 6 and gan.d_steps == 12  # 3 fit steps per epoch, 2 D updates each
    assert int(ops.convert_to_numpy(gan.optimizer.iterations)) == gan.d_steps
    assert any(not np.allclose(a, b) for a, b in zip(g_before, gan.generator.get_weights()))
    assert any(not np.allclose(a, b) for a, b in zip(d_before, gan.discriminator.get_weights()))
    # Adam's moments moved for both models (their state travels through the jitted step on JAX)
    for optimizer in (gan.generator_optimizer, gan.discriminator_optimizer):
        moments = [ops.convert_to_numpy(v) for v in optimizer.variables[2:]]
        assert any(np.abs(m).sum() > 0 for m in moments)
    for key in ("d_loss", "g_loss", "penalty"):
        assert len(history.history[key]) == 2 and np.isfinite(history.history[key]).all()
    assert history.history["penalty"][-1] > 0


def test_first_step_losses_match_an_independent_forward(rng):
    """Fixed z: the logged d_loss equals NS loss computed by calling G and D directly."""
    gan = _gan(normalization="spectral")
    reference_g = build_generator("sndcgan", RES)
    reference_d = build_discriminator("sndcgan", RES, normalization="spectral")
    reference_g.set_weights(gan.generator.get_weights())
    reference_d.set_weights(gan.discriminator.get_weights())
    images = _images(rng, 8)
    z = np.stack([sample_noise(8, 128, seed=s) for s in (1,)])
    logs = gan.train_on_batch({"images": images, "z": z}, return_dict=True)
    fake = reference_g(z[0], training=True)
    u_before = [ops.convert_to_numpy(v) for v in reference_d.non_trainable_variables]
    real_logits = reference_d(images, training=True)
    for variable, value in zip(reference_d.non_trainable_variables, u_before):
        variable.assign(value)  # compare_gan: the fake call starts from the stored u too
    fake_logits = reference_d(fake, training=True)
    expected = ops.convert_to_numpy(get_loss("ns").discriminator(real_logits, fake_logits))
    np.testing.assert_allclose(logs["d_loss"], expected, rtol=1e-4)
    assert logs["penalty"] == 0.0


def test_fixed_noise_makes_steps_deterministic(rng):
    images = _images(rng, 8)
    z = np.stack([sample_noise(8, 128, seed=s) for s in (5,)])
    results = []
    for _ in range(2):
        gan = _gan(seed=11)
        logs = [gan.train_on_batch({"images": images, "z": z}, return_dict=True) for _ in range(2)]
        results.append((logs[-1]["d_loss"], logs[-1]["g_loss"], gan.generator.get_weights()[0]))
    # equal up to float rounding (multi-threaded CPU kernels may sum in another order)
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-4, atol=1e-7)


def test_ema_follows_its_formula(rng):
    decay = 0.9
    gan = _gan(ema_decay=decay, ema_start_step=0)
    ema_before = [w.copy() for w in gan.ema_generator.get_weights()]
    gan.train_on_batch(_images(rng, 8))
    trainable = {id(v) for v in gan.generator.trainable_variables}
    for g_var, ema_var, before in zip(gan.generator.variables, gan.ema_generator.variables, ema_before):
        g_value, ema_value = ops.convert_to_numpy(g_var), ops.convert_to_numpy(ema_var)
        expected = decay * before + (1 - decay) * g_value if id(g_var) in trainable else g_value
        np.testing.assert_allclose(ema_value, expected, rtol=1e-5, atol=1e-7)
    # generate() samples the averaged generator
    np.testing.assert_allclose(gan.generate(2, seed=0), gan.ema_generator.sample(2, seed=0))


def test_ema_copies_before_its_start_step(rng):
    gan = _gan(ema_decay=0.99, ema_start_step=100)
    gan.fit(_images(rng, 16), batch_size=8, verbose=0)
    for g_w, ema_w in zip(gan.generator.get_weights(), gan.ema_generator.get_weights()):
        np.testing.assert_allclose(ema_w, g_w, rtol=1e-6)


def test_save_and_load_give_identical_samples(rng, tmp_path):
    gan = _gan(ema_decay=0.9, penalty="l2", penalty_weight=0.1)
    gan.fit(_images(rng, 16), batch_size=8, verbose=0)
    samples = gan.generate(4, seed=7)

    keras_path = str(tmp_path / "gan.keras")
    gan.save(keras_path)
    restored = keras.saving.load_model(keras_path)
    np.testing.assert_allclose(restored.generate(4, seed=7), samples, rtol=1e-6, atol=1e-6)
    assert restored.penalty_name == "l2" and restored.penalty_weight == 0.1 and restored.d_steps == 2

    weights_path = str(tmp_path / "gan.weights.h5")
    gan.save_weights(weights_path)
    fresh = _gan(seed=99, ema_decay=0.9, penalty="l2", penalty_weight=0.1)
    fresh.load_weights(weights_path)
    np.testing.assert_allclose(fresh.generate(4, seed=7), samples, rtol=1e-6, atol=1e-6)
    assert fresh.d_steps == gan.d_steps
    np.testing.assert_array_equal(  # the noise state travels too: the next z is the same
        ops.convert_to_numpy(fresh.noise_state), ops.convert_to_numpy(gan.noise_state)
    )
    for a, b in zip(fresh.optimizer.variables, gan.optimizer.variables):
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b))

    generator_path = str(tmp_path / "generator.weights.h5")
    gan.generator.save_weights(generator_path)
    bare = build_generator("sndcgan", RES)
    bare.load_weights(generator_path)
    np.testing.assert_allclose(bare.sample(3, seed=1), gan.generator.sample(3, seed=1), rtol=1e-6, atol=1e-6)
    # training continues from the restored state
    fresh.fit(_images(rng, 8), batch_size=8, verbose=0)
    assert fresh.d_steps == gan.d_steps + 1


def test_steps_per_execution_and_callbacks(rng):
    seen = []

    class StepRecorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((self.model.d_steps, sorted(logs)))

    gan = _gan(steps_per_execution=2)
    gan.fit(_images(rng, 32), batch_size=8, epochs=2, verbose=0, callbacks=[StepRecorder()])
    assert seen == [(4, ["d_loss", "g_loss", "penalty"]), (8, ["d_loss", "g_loss", "penalty"])]


def test_tf_data_input_with_labels(rng):
    tf = pytest.importorskip("tensorflow")
    images = _images(rng, 16)
    labels = np.arange(16) % 10
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8, drop_remainder=True)
    gan = _gan()
    gan.fit(dataset, epochs=1, verbose=0)
    assert gan.d_steps == 2


def test_bad_input_errors(rng):
    gan = _gan(disc_iters=3)
    with pytest.raises(ValueError, match="cannot be split into disc_iters=3"):
        gan.train_on_batch(_images(rng, 8))
    with pytest.raises(ValueError, match=r"shape \(N, 8, 8, 3\)"):
        gan.train_on_batch(rng.uniform(size=(6, 16, 16, 3)).astype("float32"))
    with pytest.raises(ValueError, match="Unknown loss"):
        _gan(loss="wasserstein-gp")
    with pytest.raises(ValueError, match="Unknown penalty"):
        _gan(penalty="gp2")
    with pytest.raises(ValueError, match="needs penalty_weight"):
        _gan(penalty="wgan_gp")
    with pytest.raises(ValueError, match="disc_iters must be at least 1"):
        _gan(disc_iters=0)
    with pytest.raises(ValueError, match="takes none or spectral only"):
        _gan(normalization="batch")
    with pytest.raises(ValueError, match="two optimizer instances"):
        adam = ganzoo.paper_adam()
        ganzoo.GAN(build_generator("sndcgan", RES), build_discriminator("sndcgan", RES)).compile(adam, adam)
    with pytest.raises(ValueError, match="ema_decay must be in"):
        ganzoo.GAN(build_generator("sndcgan", RES), build_discriminator("sndcgan", RES), ema_decay=1.5)
    with pytest.raises(ValueError, match="does not take 'optimizer'"):
        ganzoo.GAN(build_generator("sndcgan", RES), build_discriminator("sndcgan", RES)).compile(optimizer="adam")


def test_paper_adam_settings():
    adam = ganzoo.paper_adam(1e-4, 0.5, 0.9)
    assert adam.epsilon == 1e-8 and adam.beta_1 == 0.5 and adam.beta_2 == 0.9
    gan = ganzoo.build_gan("sndcgan", resolution=RES, g_lr=1e-4, d_lr=3e-4)
    assert np.isclose(float(ops.convert_to_numpy(gan.generator_optimizer.learning_rate)), 1e-4)
    assert np.isclose(float(ops.convert_to_numpy(gan.discriminator_optimizer.learning_rate)), 3e-4)
