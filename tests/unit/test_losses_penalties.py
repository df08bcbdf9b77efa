"""Every loss and penalty against an independent NumPy computation."""
import numpy as np
import pytest
from keras import ops

from ganzoo import backend
from ganzoo.losses import LOSSES, get_loss
from ganzoo.penalties import PENALTIES, get_penalty


def _np_ce(logits, label):
    return np.log1p(np.exp(-logits)) if label == 1 else np.log1p(np.exp(logits))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


NUMPY_LOSSES = {
    "ns": (
        lambda r, f: _np_ce(r, 1).mean() + _np_ce(f, 0).mean(),
        lambda f: _np_ce(f, 1).mean(),
    ),
    "minimax": (
        lambda r, f: _np_ce(r, 1).mean() + _np_ce(f, 0).mean(),
        lambda f: -_np_ce(f, 0).mean(),
    ),
    "wgan": (lambda r, f: -r.mean() + f.mean(), lambda f: -f.mean()),
    "ls": (
        lambda r, f: 0.5 * (((_sigmoid(r) - 1) ** 2).mean() + (_sigmoid(f) ** 2).mean()),
        lambda f: 0.5 * ((_sigmoid(f) - 1) ** 2).mean(),
    ),
    "ls_raw": (
        lambda r, f: 0.5 * (((r - 1) ** 2).mean() + (f**2).mean()),
        lambda f: 0.5 * ((f - 1) ** 2).mean(),
    ),
    "hinge": (
        lambda r, f: np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(),
        lambda f: -f.mean(),
    ),
}


def test_every_loss_has_a_reference():
    assert set(NUMPY_LOSSES) == set(LOSSES)


@pytest.mark.parametrize("name", sorted(NUMPY_LOSSES))
def test_loss_matches_numpy(name, rng):
    real = rng.normal(scale=3.0, size=(16, 1))
    fake = rng.normal(scale=3.0, size=(16, 1))
    loss = get_loss(name)
    d_ref, g_ref = NUMPY_LOSSES[name]
    d = ops.convert_to_numpy(loss.discriminator(real.astype("float32"), fake.astype("float32")))
    g = ops.convert_to_numpy(loss.generator(fake.astype("float32")))
    np.testing.assert_allclose(d, d_ref(real, fake), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, g_ref(fake), rtol=1e-5, atol=1e-6)


def test_sigmoid_cross_entropy_is_stable_for_large_logits():
    logits = np.array([[80.0], [-80.0]], dtype="float32")
    value = ops.convert_to_numpy(get_loss("ns").generator(logits))
    assert np.isfinite(value) and abs(value - 40.0) < 1e-3


def test_loss_aliases_and_errors():
    assert get_loss("non_saturating").name == "ns"
    assert get_loss("least_squares").name == "ls"
    with pytest.raises(ValueError, match="valid choices: ns, minimax, wgan, ls, ls_raw, hinge"):
        get_loss("nonsaturating-ish")


# A quadratic "discriminator" D(x) = sum(a * x^2), whose input gradient 2 a x is known exactly.
def _quadratic_d(a):
    return lambda x: ops.sum(a * ops.square(x), axis=(1, 2, 3))[:, None]


def _np_slope_penalty(grads):
    slopes = np.sqrt(1e-4 + np.sum(grads**2, axis=(1, 2, 3)))
    return np.mean((slopes - 1.0) ** 2)


@pytest.fixture
def images(rng):
    real = rng.uniform(0, 1, size=(4, 3, 3, 2)).astype("float32")
    fake = rng.uniform(0, 1, size=(4, 3, 3, 2)).astype("float32")
    a = rng.uniform(0.2, 1.5, size=(1, 3, 3, 2)).astype("float32")
    return real, fake, a


def rng_uniform(seed):
    """A uniform(shape) whose first draw is the same NumPy array every time it is built."""
    return lambda shape: np.random.default_rng(seed).uniform(size=shape).astype("float32")


def test_wgan_gp_matches_numpy(images):
    real, fake, a = images
    alpha = rng_uniform(7)((4, 1, 1, 1))
    value = get_penalty("wgan_gp")(_quadratic_d(a), real, fake, [], rng_uniform(7))
    x_hat = real + alpha * (fake - real)
    np.testing.assert_allclose(ops.convert_to_numpy(value), _np_slope_penalty(2 * a * x_hat), rtol=1e-5)


def test_dragan_matches_numpy(images):
    real, fake, a = images
    noise = rng_uniform(3)(real.shape)
    value = get_penalty("dragan")(_quadratic_d(a), real, fake, [], rng_uniform(3))
    noisy = np.clip(real + real.std() * (noise - 0.5), 0.0, 1.0)
    np.testing.assert_allclose(ops.convert_to_numpy(value), _np_slope_penalty(2 * a * noisy), rtol=1e-5)


def test_r1_matches_numpy(images):
    real, fake, a = images
    value = get_penalty("r1")(_quadratic_d(a), real, fake, [], None)
    expected = 0.5 * np.mean(np.sum((2 * a * real) ** 2, axis=(1, 2, 3)))
    np.testing.assert_allclose(ops.convert_to_numpy(value), expected, rtol=1e-5)


def test_l2_matches_numpy(rng):
    kernels = [rng.normal(size=(3, 3, 2, 4)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")]
    value = get_penalty("l2")(None, None, None, kernels, None)
    expected = np.mean([0.5 * np.sum(k.astype(np.float64) ** 2) for k in kernels])
    np.testing.assert_allclose(ops.convert_to_numpy(value), expected, rtol=1e-5)


def test_none_penalty_is_zero(images):
    real, fake, a = images
    assert float(ops.convert_to_numpy(get_penalty("none")(_quadratic_d(a), real, fake, [], None))) == 0.0


def test_gradient_penalty_is_differentiable_in_d_parameters(images):
    """Second order: d R1 / d a_j = 4 a_j mean_i x_ij^2, through the backend's gradient."""
    real, fake, a = images

    def objective(params):
        return get_penalty("r1")(_quadratic_d(params[0]), real, fake, [], None), ()

    (_, _), grads = backend.value_and_grad(objective)([ops.convert_to_tensor(a)])
    expected = 4 * a * np.mean(real**2, axis=0, keepdims=True)
    np.testing.assert_allclose(ops.convert_to_numpy(grads[0]), expected, rtol=1e-4)


def test_penalty_names_and_errors():
    assert set(PENALTIES) == {"none", "wgan_gp", "dragan", "r1", "l2"}
    assert get_penalty(None) is PENALTIES["none"]
    with pytest.raises(ValueError, match="valid choices: none, wgan_gp, dragan, r1, l2"):
        get_penalty("gradient")
