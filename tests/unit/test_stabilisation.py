"""Stabilisation options of issue 14 (each a Recipe field, off by default): label smoothing
against its closed form, on the current backend."""
import keras
import numpy as np
import pytest
from keras import ops

import ganzoo
from ganzoo.losses import LOSSES, SMOOTHABLE, get_loss, with_label_smoothing
from ganzoo.recipe import Recipe, RecipeError

RES = 8

# Fixed logits, some large enough that a naive log(sigmoid) would overflow in float32.
REAL = np.array([-30.0, -2.5, -0.3, 0.0, 0.7, 3.0, 40.0], dtype="float32")
FAKE = np.array([-45.0, -1.2, 0.0, 0.4, 2.2, 25.0], dtype="float32")


def _np_smoothed_ce(logits, target):
    """-t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)), in float64 via log-sum-exp."""
    x = logits.astype(np.float64)
    log_sig = -np.logaddexp(0.0, -x)         # log sigmoid(x)
    log_one_minus = -np.logaddexp(0.0, x)    # log (1 - sigmoid(x))
    return -(target * log_sig + (1.0 - target) * log_one_minus)


@pytest.mark.parametrize("loss", SMOOTHABLE)
@pytest.mark.parametrize("real_s, fake_s", [(0.1, 0.0), (0.2, 0.0), (0.1, 0.1), (0.0, 0.3), (0.45, 0.25)])
def test_label_smoothing_matches_the_closed_form(loss, real_s, fake_s):
    smoothed = with_label_smoothing(loss, real_s, fake_s)
    want = _np_smoothed_ce(REAL, 1.0 - real_s).mean() + _np_smoothed_ce(FAKE, fake_s).mean()
    got = float(ops.convert_to_numpy(smoothed.discriminator(ops.convert_to_tensor(REAL),
                                                            ops.convert_to_tensor(FAKE))))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # G's loss is untouched: smoothing changes D's targets only.
    assert smoothed.generator is get_loss(loss).generator and smoothed.name == loss


def test_label_smoothing_off_is_the_unchanged_loss():
    for name in LOSSES:
        assert with_label_smoothing(name, 0.0, 0.0) is LOSSES[name]
    recipe = Recipe("sndcgan")
    assert (recipe.real_label_smoothing, recipe.fake_label_smoothing) == (0.0, 0.0)


@pytest.mark.parametrize("loss", sorted(set(LOSSES) - set(SMOOTHABLE)))
def test_label_smoothing_is_refused_for_losses_without_sigmoid_targets(loss):
    with pytest.raises(RecipeError, match="label smoothing applies to the sigmoid cross-entropy losses"):
        Recipe("sndcgan", loss=loss, real_label_smoothing=0.1)
    with pytest.raises(RecipeError, match="use loss ns or minimax"):
        Recipe("sndcgan", loss=loss, fake_label_smoothing=0.1)
    with pytest.raises(ValueError, match="use loss ns or minimax"):
        ganzoo.build_gan("sndcgan", resolution=RES, loss=loss, real_label_smoothing=0.1)
    with pytest.raises(RecipeError, match="use loss ns or minimax"):
        Recipe("sndcgan", real_label_smoothing=0.1).override(loss=loss)


@pytest.mark.parametrize("fields, message", [
    (dict(real_label_smoothing=0.5), "real_label_smoothing must be below 0.5"),
    (dict(fake_label_smoothing=-0.1), "fake_label_smoothing must be at least 0"),
])
def test_label_smoothing_range(fields, message):
    with pytest.raises(RecipeError, match=message):
        Recipe("sndcgan", **fields)


def test_build_gan_trains_with_label_smoothing(rng):
    gan = ganzoo.build_gan("sndcgan", resolution=RES, real_label_smoothing=0.1, fake_label_smoothing=0.05,
                           seed=0)
    assert (gan.recipe.real_label_smoothing, gan.recipe.fake_label_smoothing) == (0.1, 0.05)
    assert (gan.real_label_smoothing, gan.fake_label_smoothing) == (0.1, 0.05)
    config = gan.get_compile_config()
    assert (config["real_label_smoothing"], config["fake_label_smoothing"]) == (0.1, 0.05)
    want = _np_smoothed_ce(REAL, 0.9).mean() + _np_smoothed_ce(FAKE, 0.05).mean()
    got = float(ops.convert_to_numpy(gan.gan_loss.discriminator(ops.convert_to_tensor(REAL),
                                                                ops.convert_to_tensor(FAKE))))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    images = rng.uniform(0, 1, size=(4, RES, RES, 3)).astype("float32")
    history = gan.fit(images, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"]).all() and gan.d_steps == 1


# ------------------------------------------------------------------------- weight clipping
def test_weight_clipping_keeps_every_discriminator_weight_in_range(rng):
    clip = 0.01
    gan = ganzoo.build_gan("sndcgan", resolution=RES, normalization="none", loss="wgan",
                           d_weight_clip=clip, seed=0)
    assert gan.recipe.d_weight_clip == clip and gan.get_compile_config()["d_weight_clip"] == clip
    assert max(np.abs(w).max() for w in gan.discriminator.get_weights()) > clip  # initial: unclipped
    g_before = [w.copy() for w in gan.generator.get_weights()]
    images = rng.uniform(0, 1, size=(8, RES, RES, 3)).astype("float32")
    gan.fit(images, batch_size=4, epochs=1, verbose=0)  # two fit steps
    assert gan.d_steps == 2
    for variable in gan.discriminator.trainable_variables:
        value = ops.convert_to_numpy(variable)
        assert np.abs(value).max() <= clip, variable.path
    assert any(np.abs(ops.convert_to_numpy(v)).max() == pytest.approx(clip)
               for v in gan.discriminator.trainable_variables)
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, gan.generator.get_weights()))


def test_weight_clip_must_be_positive():
    with pytest.raises(RecipeError, match="d_weight_clip must be above 0"):
        Recipe("sndcgan", d_weight_clip=0.0)
    assert Recipe("sndcgan").d_weight_clip is None


def _wgan_warnings(**fields):
    import warnings

    from ganzoo.gan import UnconstrainedWGANWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ganzoo.build_gan("sndcgan", resolution=RES, seed=0, **fields)
    return [w for w in caught if issubclass(w.category, UnconstrainedWGANWarning)]


def test_wgan_without_a_lipschitz_constraint_warns_exactly_then():
    unconstrained = _wgan_warnings(loss="wgan", normalization="none")
    assert len(unconstrained) == 1
    message = str(unconstrained[0].message)
    assert "no Lipschitz constraint" in message and "d_weight_clip 0.01" in message
    assert "wgan_gp" in message and "spectral" in message
    assert _wgan_warnings(loss="wgan", normalization="none", penalty="l2", penalty_weight=1.0)  # l2 bounds nothing
    for fields in (dict(loss="wgan"),  # spectral norm, the default
                   dict(loss="wgan", normalization="none", d_weight_clip=0.01),
                   dict(loss="wgan", normalization="none", penalty="wgan_gp", penalty_weight=10.0),
                   dict(loss="wgan", normalization="none", penalty="r1", penalty_weight=1.0),
                   dict(loss="wgan", normalization="none", penalty="dragan", penalty_weight=1.0),
                   dict(loss="hinge", normalization="none"),
                   dict(normalization="none")):
        assert _wgan_warnings(**fields) == [], fields


# --------------------------------------------------------- simultaneous vs alternating updates
class _PointGenerator(keras.Model):
    """The Dirac-GAN's generator: every sample is the point theta (a 1x1x1 image)."""

    z_dim = 1

    def __init__(self, theta, **kwargs):
        super().__init__(**kwargs)
        self.theta = self.add_weight(shape=(), initializer=keras.initializers.Constant(theta), name="theta")
        self.built = True

    def call(self, z, training=False):
        return ops.reshape(0.0 * z + self.theta, (-1, 1, 1, 1))


class _LinearDiscriminator(keras.Model):
    """The Dirac-GAN's discriminator D(x) = psi * x (a logit)."""

    def __init__(self, psi, **kwargs):
        super().__init__(**kwargs)
        self.psi = self.add_weight(shape=(), initializer=keras.initializers.Constant(psi), name="psi")
        self.built = True

    def call(self, x, training=False):
        return ops.reshape(x, (-1, 1)) * self.psi


def _dirac_step(updates, theta, psi, h):
    gan = ganzoo.GAN(_PointGenerator(theta), _LinearDiscriminator(psi), seed=0)
    gan.compile(g_optimizer=keras.optimizers.SGD(h), d_optimizer=keras.optimizers.SGD(h), loss="ns",
                updates=updates)
    gan.fit(np.zeros((4, 1, 1, 1), "float32"), batch_size=4, epochs=1, verbose=0)  # data: a Dirac at 0
    return (float(ops.convert_to_numpy(gan.generator.theta)),
            float(ops.convert_to_numpy(gan.discriminator.psi)))


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


@pytest.mark.parametrize("updates", ["alternating", "simultaneous"])
def test_one_step_of_the_dirac_gan_matches_the_closed_form(updates):
    # ns loss, real logit psi * 0 = 0: D's loss log 2 + softplus(psi theta), gradient
    # sigmoid(psi theta) theta; G's loss softplus(-psi theta), gradient -sigmoid(-psi theta) psi,
    # taken at D's new psi (alternating) or at the psi D's gradient was taken at (simultaneous).
    theta, psi, h = 1.0, 0.5, 0.3
    psi_new = psi - h * _sigmoid(psi * theta) * theta
    psi_g = psi_new if updates == "alternating" else psi
    theta_new = theta + h * _sigmoid(-psi_g * theta) * psi_g
    got = _dirac_step(updates, theta, psi, h)
    np.testing.assert_allclose(got, (theta_new, psi_new), rtol=1e-6)


def test_updates_is_a_recipe_choice():
    assert Recipe("sndcgan").updates == "alternating"
    assert Recipe("sndcgan", updates="Simultaneous").updates == "simultaneous"
    assert Recipe.choices("updates") == ("alternating", "simultaneous")
    with pytest.raises(RecipeError, match="Unknown updates 'simultanous'.*Did you mean 'simultaneous'"):
        Recipe("sndcgan", updates="simultanous")
    gan = ganzoo.build_gan("sndcgan", resolution=RES, updates="simultaneous", seed=0)
    assert gan.updates == "simultaneous" and gan.get_compile_config()["updates"] == "simultaneous"


def test_a_run_written_before_these_fields_still_matches_its_recipe():
    # Checkpoint metadata from before the options lacks their keys: a missing field had its
    # default (as Recipe.from_dict reads it), so publishing such a run under its entry works.
    from ganzoo.zoo import manifest, publishing

    name = "sndcgan-ns-sn-cifar10"
    entry = dict(manifest.get_entry(name), name=name)
    new = ("real_label_smoothing", "fake_label_smoothing", "updates", "d_weight_clip")
    hyper = {k: v for k, v in entry["training"].items() if k not in new}

    def run(hyper):
        return publishing.Run(folder=None, checkpoint="ckpt", hyper=hyper, dataset="cifar10", d_steps=1,
                              g_steps=1, seed=0, fid_curve=[])

    assert publishing.check_run_matches_entry(run(hyper), entry) == {}
    with pytest.raises(publishing.PublishError, match="real_label_smoothing 0.1 \\(the recipe: 0.0\\)"):
        publishing.check_run_matches_entry(run(dict(hyper, real_label_smoothing=0.1)), entry)
