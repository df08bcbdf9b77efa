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
    new = ("real_label_smoothing", "fake_label_smoothing", "updates", "d_weight_clip", "minibatch_stddev",
           "minibatch_discrimination", "weight_init", "g_objective", "orthogonal_reg")
    hyper = {k: v for k, v in entry["training"].items() if k not in new}

    def run(hyper):
        return publishing.Run(folder=None, checkpoint="ckpt", hyper=hyper, dataset="cifar10", d_steps=1,
                              g_steps=1, seed=0, fid_curve=[])

    assert publishing.check_run_matches_entry(run(hyper), entry) == {}
    with pytest.raises(publishing.PublishError, match="real_label_smoothing 0.1 \\(the recipe: 0.0\\)"):
        publishing.check_run_matches_entry(run(dict(hyper, real_label_smoothing=0.1)), entry)


# ---------------------------------------------------------------------------------------------
# Minibatch standard deviation, minibatch discrimination, feature matching, orthogonality
# (each against NumPy written from the papers' definitions).
# ---------------------------------------------------------------------------------------------
from ganzoo.layers import MinibatchDiscrimination, MinibatchStdDev  # noqa: E402


def _np_minibatch_stddev(x, group):
    """PGGAN: sample i belongs to group i mod (N / group); std over the group, averaged."""
    x = x.astype(np.float64)
    n = len(x)
    group = min(group, n)
    groups = n // group
    out = []
    for i in range(n):
        members = x[[j for j in range(n) if j % groups == i % groups]]
        std = np.sqrt(members.var(axis=0) + 1e-8).mean()
        out.append(np.concatenate([x[i], np.full(x.shape[1:-1] + (1,), std)], axis=-1))
    return np.stack(out)


@pytest.mark.parametrize("shape, group", [((8, 5), 4), ((8, 5), 2), ((3, 5), 4), ((4, 2, 2, 3), 2)])
def test_minibatch_stddev_matches_numpy(rng, shape, group):
    x = rng.normal(size=shape).astype("float32")
    got = ops.convert_to_numpy(MinibatchStdDev(group)(ops.convert_to_tensor(x)))
    np.testing.assert_allclose(got, _np_minibatch_stddev(x, group), rtol=1e-5, atol=1e-6)


def test_minibatch_stddev_refuses_bad_groups():
    with pytest.raises(ValueError, match="cannot be split into groups of 4"):
        MinibatchStdDev(4)(ops.zeros((6, 3)))
    with pytest.raises(ValueError, match="group_size >= 2"):
        MinibatchStdDev(1)
    with pytest.raises(RecipeError, match="minibatch_stddev 1"):
        Recipe("sndcgan", minibatch_stddev=1)


def test_minibatch_discrimination_matches_numpy(rng):
    x = rng.normal(size=(6, 7)).astype("float32")
    layer = MinibatchDiscrimination(num_kernels=3, kernel_dim=4)
    got = ops.convert_to_numpy(layer(ops.convert_to_tensor(x)))
    t = ops.convert_to_numpy(layer.kernel).astype(np.float64)
    assert t.shape == (7, 12) and 0.03 < t.std() < 0.07  # N(0, 0.05)
    m = (x.astype(np.float64) @ t).reshape(6, 3, 4)
    want = np.zeros((6, 3))
    for i in range(6):
        for j in range(6):
            if i != j:
                want[i] += np.exp(-np.abs(m[i] - m[j]).sum(-1))
    np.testing.assert_allclose(got, np.concatenate([x, want], 1), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"flat features \(N, F\)"):
        MinibatchDiscrimination(2)(ops.zeros((2, 3, 3, 1)))


def test_minibatch_options_are_off_by_default_and_placed_before_the_last_layer():
    recipe = Recipe("sndcgan")
    assert (recipe.minibatch_stddev, recipe.minibatch_discrimination, recipe.weight_init,
            recipe.g_objective, recipe.orthogonal_reg) == (0, 0, "default", "loss", 0.0)
    plain = ganzoo.build_gan("sndcgan", resolution=RES, seed=0)
    assert plain.discriminator.minibatch_layers == []
    assert "minibatch_stddev" not in plain.discriminator.get_config()  # configs of old models unchanged
    gan = ganzoo.build_gan("sndcgan", resolution=RES, minibatch_stddev=2, minibatch_discrimination=3, seed=0)
    d = gan.discriminator
    # The last linear layer sees the 1 x 1 x 512 features plus 1 stddev feature plus 3 kernels.
    assert [type(layer).__name__ for layer in d.minibatch_layers] == ["MinibatchStdDev", "MinibatchDiscrimination"]
    assert tuple(d.fc.layer.kernel.shape) == (512 + 1 + 3, 1)
    clone = type(d).from_config(d.get_config())
    assert (clone.minibatch_stddev, clone.minibatch_discrimination) == (2, 3)
    for family, res in (("resnet_cifar", 32), ("mlp2d", 1)):
        d = ganzoo.build_gan(family, resolution=res, minibatch_stddev=2, z_dim=4, seed=0).discriminator
        assert d.fc.layer.kernel.shape[0] == {"resnet_cifar": 128, "mlp2d": 128}[family] + 1


def _np_mlp(x, weights, layers):
    """A ReLU MLP in float64 from (kernel, bias) pairs: ReLU after each of the first `layers`."""
    x = x.astype(np.float64)
    for kernel, bias in weights[:layers]:
        x = np.maximum(x @ kernel + bias, 0.0)
    return x


def _pairs(model):
    w = [np.asarray(v, np.float64) for v in model.get_weights()]
    return list(zip(w[0::2], w[1::2]))


def _objective(gan, z, real):
    values = lambda vs: [v.value for v in vs]  # noqa: E731
    g, d = gan.generator, gan.discriminator
    loss, _ = gan._generator_objective(values(g.trainable_variables), values(g.non_trainable_variables),
                                       values(d.trainable_variables), values(d.non_trainable_variables),
                                       ops.convert_to_tensor(z), ops.convert_to_tensor(real))
    return float(ops.convert_to_numpy(loss))


def test_feature_matching_objective_matches_numpy(rng):
    gan = ganzoo.build_gan("mlp2d", normalization="none", z_dim=3, g_objective="feature_matching", seed=1)
    z = rng.uniform(-1, 1, size=(16, 3)).astype("float32")
    real = rng.normal(size=(16, 2)).astype("float32")
    g, d = _pairs(gan.generator), _pairs(gan.discriminator)
    fake = _np_mlp(z, g, 2) @ g[2][0] + g[2][1]
    want = np.sum((_np_mlp(real, d, 2).mean(0) - _np_mlp(fake, d, 2).mean(0)) ** 2)
    np.testing.assert_allclose(_objective(gan, z, real), want, rtol=1e-4)
    # Trains through fit, and the G loss it logs is this objective (small, >= 0).
    history = gan.fit(real, batch_size=16, epochs=1, verbose=0)
    assert history.history["g_loss"][0] >= 0 and gan.get_compile_config()["g_objective"] == "feature_matching"
    with pytest.raises(RecipeError, match="valid choices: loss, feature_matching"):
        Recipe("mlp2d", g_objective="mean_matching")


def _np_kernel_matrix(kernel, transposed):
    kernel = np.swapaxes(kernel, -1, -2) if transposed else kernel
    return kernel.reshape(-1, kernel.shape[-1])


def test_orthogonal_init_gives_orthonormal_kernels():
    gan = ganzoo.build_gan("sndcgan", resolution=RES, z_dim=16, weight_init="orthogonal", seed=0)
    seen = 0
    for model in (gan.generator, gan.discriminator):
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
                w = _np_kernel_matrix(ops.convert_to_numpy(layer.kernel).astype(np.float64),
                                      isinstance(layer, keras.layers.Conv2DTranspose))
                gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
                np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-5)
                seen += 1
    assert seen == 5 + 8  # G: fc, 3 deconvs, to_rgb; D: 7 convs, fc
    # The same seed, the same weights; "default" keeps the paper's N(0, 0.02).
    again = ganzoo.build_gan("sndcgan", resolution=RES, z_dim=16, weight_init="orthogonal", seed=0)
    np.testing.assert_array_equal(again.generator.get_weights()[0], gan.generator.get_weights()[0])
    paper = ganzoo.build_gan("sndcgan", resolution=RES, z_dim=16, seed=0)
    assert abs(np.std(paper.generator.get_weights()[0]) - 0.02) < 0.002


def test_orthogonal_regularization_added_to_g_loss_matches_numpy(rng):
    beta = 0.5
    plain = ganzoo.build_gan("sndcgan", resolution=RES, z_dim=16, seed=3)
    reg = ganzoo.build_gan("sndcgan", resolution=RES, z_dim=16, seed=3, orthogonal_reg=beta)
    z = rng.uniform(-1, 1, size=(4, 16)).astype("float32")
    real = rng.uniform(0, 1, size=(4, RES, RES, 3)).astype("float32")
    want = 0.0
    for layer in reg.generator._flatten_layers(include_self=False):
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            w = _np_kernel_matrix(ops.convert_to_numpy(layer.kernel).astype(np.float64),
                                  isinstance(layer, keras.layers.Conv2DTranspose))
            gram = w.T @ w
            want += np.sum((gram * (1 - np.eye(len(gram)))) ** 2)
    got = _objective(reg, z, real) - _objective(plain, z, real)
    np.testing.assert_allclose(got, beta * want, rtol=1e-3)
    with pytest.raises(RecipeError, match="orthogonal_reg must be at least 0"):
        Recipe("sndcgan", orthogonal_reg=-1.0)


@pytest.mark.parametrize("fields", [dict(minibatch_stddev=4), dict(minibatch_discrimination=8),
                                    dict(weight_init="orthogonal", orthogonal_reg=1e-4)])
def test_new_options_train_through_fit(fields):
    gan = ganzoo.build_gan("mlp2d", z_dim=4, seed=0, **fields)
    points = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    history = gan.fit(points, batch_size=8, epochs=1, verbose=0)
    assert gan.d_steps == 2 and np.isfinite(history.history["d_loss"]).all()


# ------------------------------------------------------------------- Jacobian clamping (seed 004)
def _np_clamping(gan, z, delta, low, high):
    """Odena et al. 2018, Algorithm 1, in float64 on mlp2d's generator (no batch norm)."""
    g = _pairs(gan.generator)
    forward = lambda x: _np_mlp(x, g, 2) @ g[2][0] + g[2][1]  # noqa: E731
    q = np.linalg.norm(forward(z) - forward(z + delta), axis=1) / np.linalg.norm(delta, axis=1)
    penalty = np.zeros_like(q)
    if high is not None:
        penalty += (np.maximum(q, high) - high) ** 2
    if low is not None:
        penalty += (np.minimum(q, low) - low) ** 2
    return penalty.mean(), q


@pytest.mark.parametrize("low, high", [(1.0, 20.0), (5.0, None), (None, 0.05), (0.0, 1e-3)])
def test_jacobian_clamping_adds_odenas_penalty_to_g_loss(rng, low, high):
    plain = ganzoo.build_gan("mlp2d", normalization="none", z_dim=3, seed=4)
    gan = ganzoo.build_gan("mlp2d", normalization="none", z_dim=3, seed=4, jacobian_clamp_min=low,
                           jacobian_clamp_max=high)
    z = rng.uniform(-1, 1, size=(16, 3)).astype("float32")
    delta = rng.normal(size=(16, 3))
    delta = (delta / np.linalg.norm(delta, axis=1, keepdims=True)).astype("float32")
    real = rng.normal(size=(16, 2)).astype("float32")
    values = lambda vs: [v.value for v in vs]  # noqa: E731
    g, d = gan.generator, gan.discriminator
    loss, _ = gan._generator_objective(values(g.trainable_variables), values(g.non_trainable_variables),
                                       values(d.trainable_variables), values(d.non_trainable_variables),
                                       ops.convert_to_tensor(z), ops.convert_to_tensor(real), None,
                                       ops.convert_to_tensor(delta))
    want, q = _np_clamping(gan, z, delta, low, high)
    got = float(ops.convert_to_numpy(loss)) - _objective(plain, z, real)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6)
    assert want > 0  # every case has samples outside its bounds (q of a fresh mlp2d is about 0.1-1)


def test_jacobian_clamping_raises_gs_gain_in_training():
    """With a lower bound far above G's initial gain, a few G updates raise the gain along random
    directions (the penalty's gradient reaches G through both of its calls)."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(64, 2)).astype("float32")
    z = rng.uniform(-1, 1, size=(256, 3)).astype("float32")
    delta = rng.normal(size=(256, 3))
    delta = (delta / np.linalg.norm(delta, axis=1, keepdims=True)).astype("float32")
    gains = {}
    for low in (None, 10.0):
        gan = ganzoo.build_gan("mlp2d", normalization="none", z_dim=3, seed=0, g_lr=1e-2,
                               jacobian_clamp_min=low)
        before = _np_clamping(gan, z, delta, 1.0, None)[1].mean()
        gan.fit(points, batch_size=16, epochs=5, verbose=0)
        gains[low] = (before, _np_clamping(gan, z, delta, 1.0, None)[1].mean())
    assert gains[10.0][0] == pytest.approx(gains[None][0])  # the same initial G
    assert gains[10.0][1] > 3 * gains[None][1] and gains[10.0][1] > 2.0, gains


def test_jacobian_clamping_draws_its_directions_after_the_steps_other_noise(rng):
    """The direction comes after z in the noise stream: clamping off keeps the old step's noise
    (one draw), on adds two (Box-Muller's two uniforms); the recipe round-trips; bad bounds are
    refused with the fix."""
    points = rng.normal(size=(8, 2)).astype("float32")
    draws = {}
    for bounds in ((None, None), (1.0, 20.0)):
        gan = ganzoo.build_gan("mlp2d", z_dim=3, seed=0, jacobian_clamp_min=bounds[0],
                               jacobian_clamp_max=bounds[1])
        before = int(np.asarray(gan.noise_state)[1])
        gan.train_on_batch(points)
        draws[bounds] = int(np.asarray(gan.noise_state)[1]) - before
    assert draws == {(None, None): 1, (1.0, 20.0): 3}
    recipe = Recipe("mlp2d", jacobian_clamp_min=1.0, jacobian_clamp_max=20.0)
    assert Recipe.from_dict(recipe.to_dict()).jacobian_clamping == (1.0, 20.0)
    assert gan.get_compile_config()["jacobian_clamping"] == (1.0, 20.0)
    assert Recipe("mlp2d").jacobian_clamping is None
    with pytest.raises(RecipeError, match="must be below jacobian_clamp_max"):
        Recipe("mlp2d", jacobian_clamp_min=20.0, jacobian_clamp_max=1.0)
    with pytest.raises(ValueError, match="pair"):
        gan.compile(jacobian_clamping=3.0)


# --------------------------------------------------------------- unrolled discriminator (Metz et al.)
def _np_d_forward(x, d):
    """mlp2d's discriminator (no normalisation) in float64: logits and what backprop needs."""
    pre1 = x @ d[0][0] + d[0][1]
    pre2 = np.maximum(pre1, 0.0) @ d[1][0] + d[1][1]
    return np.maximum(pre2, 0.0) @ d[2][0] + d[2][1], (x, pre1, pre2)


def _np_d_backward(dlogits, cache, d):
    """d (sum of dlogits * logits) / d D's (kernel, bias) pairs: hand-written backprop."""
    x, pre1, pre2 = cache
    h1, h2 = np.maximum(pre1, 0.0), np.maximum(pre2, 0.0)
    dh2 = (dlogits @ d[2][0].T) * (pre2 > 0)
    dh1 = (dh2 @ d[1][0].T) * (pre1 > 0)
    return [(x.T @ dh1, dh1.sum(0)), (h1.T @ dh2, dh2.sum(0)), (h2.T @ dlogits, dlogits.sum(0))]


def _np_sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _np_lookahead(d, real, fake, steps, lr):
    """D after `steps` SGD steps of rate lr on the ns loss mean softplus(-D(real)) + mean
    softplus(D(fake))."""
    for _ in range(steps):
        real_logits, real_cache = _np_d_forward(real, d)
        fake_logits, fake_cache = _np_d_forward(fake, d)
        on_real = _np_d_backward(-_np_sigmoid(-real_logits) / len(real), real_cache, d)
        on_fake = _np_d_backward(_np_sigmoid(fake_logits) / len(fake), fake_cache, d)
        d = [(w - lr * (a[0] + b[0]), bias - lr * (a[1] + b[1]))
             for (w, bias), a, b in zip(d, on_real, on_fake)]
    return d


def _np_unrolled_objective(g, d, z, real, steps, lr, g_objective="loss"):
    """G's ns loss (or feature matching) against D advanced `steps` look-ahead steps, float64."""
    fake = _np_mlp(z, g, 2) @ g[2][0] + g[2][1]
    d = _np_lookahead(d, real.astype(np.float64), fake, steps, lr)
    if g_objective == "feature_matching":
        return np.sum((_np_mlp(real, d, 2).mean(0) - _np_mlp(fake, d, 2).mean(0)) ** 2)
    return np.logaddexp(0.0, -_np_d_forward(fake, d)[0]).mean()


def _unrolled_pair(steps, lr=1.0, **fields):
    """The same mlp2d GAN without and with unrolling (D's rate lr: large, so the look-ahead moves D)."""
    return [ganzoo.build_gan("mlp2d", normalization="none", z_dim=3, seed=5, d_lr=lr, unrolled_steps=k,
                             **fields) for k in (0, steps)]


def _g_gradient(gan, z, real):
    from ganzoo import backend

    values = lambda vs: [v.value for v in vs]  # noqa: E731
    g, d = gan.generator, gan.discriminator
    (loss, _), grads = backend.value_and_grad(gan._generator_objective)(
        values(g.trainable_variables), values(g.non_trainable_variables), values(d.trainable_variables),
        values(d.non_trainable_variables), ops.convert_to_tensor(z), ops.convert_to_tensor(real))
    return float(ops.convert_to_numpy(loss)), [np.asarray(ops.convert_to_numpy(x), np.float64) for x in grads]


def test_unrolled_steps_zero_is_the_old_objective(rng):
    default = ganzoo.build_gan("mlp2d", normalization="none", z_dim=3, seed=5)
    off = ganzoo.build_gan("mlp2d", normalization="none", z_dim=3, seed=5, unrolled_steps=0)
    assert (off.unrolled_steps, off.unrolled_lr, default.unrolled_steps) == (0, None, 0)
    z = rng.uniform(-1, 1, size=(16, 3)).astype("float32")
    real = rng.normal(size=(16, 2)).astype("float32")
    assert _objective(off, z, real) == _objective(default, z, real)
    g, d = _pairs(off.generator), _pairs(off.discriminator)
    np.testing.assert_allclose(_objective(off, z, real), _np_unrolled_objective(g, d, z, real, 0, 1.0), rtol=1e-5)


@pytest.mark.parametrize("steps, g_objective", [(1, "loss"), (2, "loss"), (2, "feature_matching")])
def test_unrolled_g_loss_is_taken_against_the_look_ahead_discriminator(rng, steps, g_objective):
    plain, gan = _unrolled_pair(steps, g_objective=g_objective)
    assert gan.unrolled_lr == 1.0
    z = rng.uniform(-1, 1, size=(32, 3)).astype("float32")
    real = rng.normal(size=(32, 2)).astype("float32")
    g, d = _pairs(gan.generator), _pairs(gan.discriminator)
    want = _np_unrolled_objective(g, d, z, real, steps, 1.0, g_objective)
    got = _objective(gan, z, real)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    # The look-ahead moved D: the loss is far from the one at D's own weights.
    assert abs(want - _objective(plain, z, real)) > 20 * 1e-4 * abs(want)


def test_unrolled_g_gradient_goes_through_the_look_ahead(rng):
    steps, lr = 2, 1.0
    plain, gan = _unrolled_pair(steps, lr)
    z = rng.uniform(-1, 1, size=(32, 3)).astype("float32")
    real = rng.normal(size=(32, 2)).astype("float32")
    g, d = _pairs(gan.generator), _pairs(gan.discriminator)
    _, grads = _g_gradient(gan, z, real)
    _, plain_grads = _g_gradient(plain, z, real)
    frozen = _np_lookahead(d, real.astype(np.float64), _np_mlp(z, g, 2) @ g[2][0] + g[2][1], steps, lr)
    # Central differences in float64 of the whole unrolled objective (G -> look-ahead -> loss), and
    # of G's loss against the look-ahead D held fixed (what a gradient that stopped at the
    # look-ahead's parameters would be).
    picks = [(2, 1, (0,)), (2, 1, (1,)), (2, 0, (3, 0)), (2, 0, (7, 1)), (1, 1, (5,)), (0, 0, (1, 2))]
    eps = 1e-6
    autodiffs, numerics, helds = [], [], []
    for layer, part, index in picks:
        def at(sign, objective):
            moved = [[w.copy() for w in pair] for pair in g]
            moved[layer][part][index] += sign * eps
            return objective(moved)

        def through(moved):
            return _np_unrolled_objective(moved, d, z, real, steps, lr)

        def held(moved):
            fake = _np_mlp(z, moved, 2) @ moved[2][0] + moved[2][1]
            return np.logaddexp(0.0, -_np_d_forward(fake, frozen)[0]).mean()

        numerics.append((at(1, through) - at(-1, through)) / (2 * eps))
        helds.append((at(1, held) - at(-1, held)) / (2 * eps))
        autodiffs.append(grads[2 * layer + part][index])
    autodiffs, numerics, helds = map(np.array, (autodiffs, numerics, helds))
    np.testing.assert_allclose(autodiffs, numerics, rtol=2e-3, atol=1e-6)
    # The path through the look-ahead's steps counts: the gradient with the look-ahead D held
    # fixed is off by more than 15 times the tolerance above (about 7% on TensorFlow's weights,
    # 60% on JAX's: the backends initialise differently).
    assert np.linalg.norm(autodiffs - helds) > 0.03 * np.linalg.norm(numerics)
    assert max(np.abs(a - b).max() for a, b in zip(grads, plain_grads)) > 0.05 * max(
        np.abs(a).max() for a in plain_grads)


def test_unrolled_gan_trains_and_leaves_ds_update_unchanged():
    points = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    gans = [ganzoo.build_gan("mlp2d", normalization="spectral", z_dim=3, seed=0, unrolled_steps=k)
            for k in (0, 2)]
    for gan in gans:
        gan.fit(points, batch_size=16, epochs=1, verbose=0)  # one step
    plain, unrolled = gans
    # D's update (its weights and its spectral-norm u) is the same; G's is not.
    for a, b in zip(plain.discriminator.get_weights(), unrolled.discriminator.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert any(not np.allclose(a, b) for a, b in zip(plain.generator.get_weights(),
                                                      unrolled.generator.get_weights()))
    history = unrolled.fit(points, batch_size=16, epochs=3, verbose=0)
    assert all(np.isfinite(history.history[key]).all() for key in ("d_loss", "g_loss"))
    assert unrolled.g_steps == 4 and unrolled.get_compile_config()["unrolled_steps"] == 2


def test_unrolled_steps_recipe_and_refusals():
    recipe = Recipe("mlp2d", unrolled_steps=5)
    assert Recipe.from_dict(recipe.to_dict()).unrolled_steps == 5 and Recipe("mlp2d").unrolled_steps == 0
    assert "unrolled_steps" in Recipe.keys("optimizer")
    for bad, message in ((-1, "unrolled_steps must be at least 0"), (1.5, "unrolled_steps must be a whole number")):
        with pytest.raises(RecipeError, match=message):
            Recipe("mlp2d", unrolled_steps=bad)
    gan = ganzoo.build_gan("mlp2d", z_dim=3, seed=0)
    with pytest.raises(ValueError, match="unrolled_steps must be a whole number >= 0"):
        gan.compile(unrolled_steps=-2)
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.5)
    with pytest.raises(ValueError, match="learning-rate schedule"):
        gan.compile(d_optimizer=keras.optimizers.Adam(schedule), unrolled_steps=1)
