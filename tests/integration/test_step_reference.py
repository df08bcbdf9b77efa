"""One ganzoo fit() step against an independent reference of compare_gan v2's training step.

The reference (tests/reference/compare_gan_step.py) is written from compare_gan's code (branch
v2) in PyTorch float64; ganzoo runs on the Keras backend pytest was started with. Both start
from the same weights (drawn here with NumPy and assigned to ganzoo's variables), see the same
images, the same z (one per D update; the G update reuses z[0]) and, for WGAN-GP, the same
interpolation weights alpha, which ganzoo draws from its (seed, counter) Threefry noise state
(tests/reference/threefry.py re-implements that specification).

Compared:
  * the logged d_loss / g_loss / penalty, 1e-5 relative;
  * every trainable weight through its update in units of lr, r = (new - old) / lr. Adam makes
    r = sum_t m_hat_t / (sqrt(v_hat_t) + eps_hat_t): about sign(g) per step where |g| >> eps_hat
    (~3e-7), but proportional to g where the gradient is ~0, so float32 noise in a tiny gradient
    shows up as an O(1) difference. A coordinate passes when its r is within 1e-3 plus what a
    gradient error of GRADIENT_NOISE x (rms gradient of the network) explains; at most 1e-4 of
    a variable's coordinates may miss. The assertion lists the worst coordinates;
  * SN vectors u and BN moving statistics, 1e-4 absolute (x max(1, |values|)); float32 gives
    ~2e-7 where they follow the weights' legitimate differences, a wrong decay or batch 5e-2.

The WGAN-GP and batch-norm cases run ganzoo in float64 (a subprocess: JAX's x64 switch and
Keras' floatx are process-wide; the batch-norm case's comment gives its reason). A ReLU
network's gradient jumps by a finite amount when a pre-activation changes sign, and float32
rounding moves a near-zero pre-activation across 0 on some CPUs and not others. Measured on an
AMD EPYC machine, WGAN-GP case: JAX float32 missed at 114 coordinates of B2/same_conv1, all in
output channel 13 (up to 8x the tolerance; TF float32 and JAX float64 there: 0.02x), where
earlier machines passed; the reference's B2/same_conv1 outputs for D update 1's real images
hold a value of 1.2e-6 x their rms in channel 13, the closest to 0 of any channel.
"""
import importlib.util
import os
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/
sys.path.insert(0, HERE)
from reference import threefry  # noqa: E402

HAVE_TORCH = importlib.util.find_spec("torch") is not None
TORCH_REASON = (
    "torch not installed: pip install torch==2.13.0 (CPU) to check ganzoo's training step "
    "against the compare_gan reference"
)

# Tolerances.
LOSS_RTOL = 1e-5
UPDATE_ATOL = 1e-3  # on (new - old) / lr
UPDATE_MISS_FRACTION = 1e-4  # of a variable's coordinates allowed beyond the tolerance
GRADIENT_NOISE = 1e-3  # explainable gradient error, relative to the network's rms gradient
STATE_ATOL = 1e-4  # u (unit vectors) and BN moving statistics, times max(1, max|ref|)


# ---------------------------------------------------------------------------- Threefry
KNOWN_ANSWERS = [  # Random123 kat_vectors, threefry2x32_20: (key, counter, output)
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("key, counter, expected", KNOWN_ANSWERS)
def test_threefry_known_answers(key, counter, expected):
    y0, y1 = threefry.threefry2x32(key, counter)
    assert (int(y0), int(y1)) == expected, f"got ({int(y0):#010x}, {int(y1):#010x})"


def test_threefry_matches_jax():
    jax_random = pytest.importorskip("jax.extend.random", reason="jax not installed")
    import jax.numpy as jnp

    rng = np.random.default_rng(7)
    key = rng.integers(0, 2**32, size=2, dtype=np.uint64).astype(np.uint32)
    x0 = rng.integers(0, 2**32, size=64, dtype=np.uint64).astype(np.uint32)
    x1 = rng.integers(0, 2**32, size=64, dtype=np.uint64).astype(np.uint32)
    # jax's threefry_2x32 splits an even-length count array into (x0 half, x1 half).
    out = np.asarray(
        jax_random.threefry_2x32((jnp.uint32(key[0]), jnp.uint32(key[1])), jnp.asarray(np.concatenate([x0, x1])))
    )
    y0, y1 = threefry.threefry2x32(key, (x0, x1))
    np.testing.assert_array_equal(out[:64], y0)
    np.testing.assert_array_equal(out[64:], y1)


def test_threefry_uniform_spec():
    values, counter = threefry.uniform((2, 3), seed=5, counter=9)
    assert counter == 10 and values.shape == (2, 3)
    bits, _ = threefry.threefry2x32((5, 9), (np.arange(6), np.zeros(6)))
    np.testing.assert_array_equal(values.reshape(-1), (bits >> 8).astype(np.float64) / 2**24)
    assert np.all(values >= 0) and np.all(values < 1)
    assert np.all(values == values.astype(np.float32))


# ------------------------------------------------------ the reference's own hand-checks
@pytest.mark.torch
@pytest.mark.skipif(not HAVE_TORCH, reason=TORCH_REASON)
def test_reference_spectral_norm_matches_svd(rng):
    import torch

    from reference import compare_gan_step as ref

    w = torch.as_tensor(rng.normal(size=(3, 3, 4, 6)))
    state = {"k/w/u_var": torch.as_tensor(rng.normal(size=(36, 1)))}
    for _ in range(200):  # each run starts from the stored u and stores its one iteration
        run = ref.Run(state)
        normalised = ref.spectral_norm(run, w, "k/w")
        run.commit()
    sigma = np.linalg.svd(w.numpy().reshape(36, 6), compute_uv=False)[0]
    np.testing.assert_allclose((w / normalised).numpy(), sigma, rtol=1e-10)
    # d sigma / dW = u v^T: the gradient flows through sigma.
    wg = w.clone().requires_grad_(True)
    run = ref.Run(dict(state))
    normalised = ref.spectral_norm(run, wg, "k/w")
    sigma_t = (wg / normalised).reshape(-1)[0]
    (grad,) = torch.autograd.grad(sigma_t, wg)
    u = run.written["k/w/u_var"].numpy()
    v = ref.l2_normalize(w.reshape(36, 6).t() @ torch.as_tensor(u)).numpy()
    np.testing.assert_allclose(grad.numpy().reshape(36, 6), u @ v.T, atol=1e-10)


@pytest.mark.torch
@pytest.mark.skipif(not HAVE_TORCH, reason=TORCH_REASON)
def test_reference_unpool_and_its_fast_conv(rng):
    import torch

    from reference import compare_gan_step as ref

    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64).reshape(1, 2, 2, 1)
    expected = [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(ref.unpool(x)[0, :, :, 0].numpy(), expected)
    p = {"c/w": torch.as_tensor(rng.normal(size=(3, 3, 3, 5))), "c/biases": torch.as_tensor(rng.normal(size=5))}
    x = torch.as_tensor(rng.normal(size=(2, 4, 3, 3)))
    run = ref.Run({})
    np.testing.assert_allclose(
        ref.conv2d_of_unpooled(p, run, x, "c").numpy(), ref.conv2d(p, run, ref.unpool(x), "c").numpy(), atol=1e-12
    )


@pytest.mark.torch
@pytest.mark.skipif(not HAVE_TORCH, reason=TORCH_REASON)
def test_reference_penalty_gradient_finite_differences(rng):
    """The penalty's second-order D gradient against central differences (SNDCGAN 8x8, no SN
    so that the function has no stop-gradient)."""
    import torch

    from reference import compare_gan_step as ref

    config = ref.Config("sndcgan", 8, d_norm="none", penalty="wgangp", lambd=1.0)
    weights = ref.random_weights(config, seed=3)
    p = {k: torch.as_tensor(v) for k, v in weights.items()}
    x = torch.as_tensor(rng.uniform(size=(2, 8, 8, 3)))
    fake = torch.as_tensor(rng.uniform(size=(2, 8, 8, 3)))
    alpha = torch.as_tensor(rng.uniform(size=(2, 1, 1, 1)))
    name = "discriminator/d_conv2/w"

    def penalty(w):
        q = dict(p, **{name: w})
        return ref.wgangp_penalty(config, q, ref.Run({}), x, fake, alpha)

    w = p[name].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(penalty(w), w)
    flat = grad.reshape(-1)
    for index in np.argsort(-np.abs(flat.numpy()))[:3]:
        step = torch.zeros_like(w).reshape(-1)
        step[index] = 1e-5
        step = step.reshape(w.shape)
        numeric = float((penalty(p[name] + step) - penalty(p[name] - step)).detach()) / 2e-5
        analytic = float(flat[index])
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(numeric)), (
            f"coordinate {index}: autograd {analytic}, finite differences {numeric}"
        )


# ------------------------------------------------------------ ganzoo <-> compare_gan names
def _reference_name(path, architecture, d_norm):
    """compare_gan's variable name (as in tests/reference) for a ganzoo variable path."""
    parts = path.split("/")
    net, leaf = parts[0], parts[-1]
    # Drop the SN wrapper level ("conv0_sn/conv0/kernel" -> "conv0/kernel"; "x_sn/u" -> "x/u").
    parts = [q for q in parts[1:-1] if not q.endswith("_sn")] if leaf != "u" else [
        q[: -len("_sn")] if q.endswith("_sn") else q for q in parts[1:-1]
    ]
    conv_leaf = {"kernel": "w", "bias": "biases", "u": "w/u_var"}
    dense_leaf = {"kernel": "Matrix", "bias": "bias", "u": "Matrix/u_var"}
    bn_leaves = ("gamma", "beta", "moving_mean", "moving_variance")
    if architecture == "sndcgan":
        layer = parts[-1] if parts else ""
        if net == "generator":
            if layer == "fc":
                return f"generator/g_fc1/{dense_leaf[leaf]}"
            if layer == "fc_bn" and leaf in bn_leaves:
                return f"generator/g_bn1/{leaf}"
            if layer.startswith("deconv") and layer.endswith("_bn") and leaf in bn_leaves:
                return f"generator/g_bn{int(layer[len('deconv'):-len('_bn')]) + 1}/{leaf}"
            if layer.startswith("deconv"):
                return f"generator/g_dc{int(layer[len('deconv'):]) + 1}/{conv_leaf[leaf]}"
            if layer == "to_rgb":
                return f"generator/g_dc5/{conv_leaf[leaf]}"
        else:
            if layer.startswith("conv"):
                return f"discriminator/d_conv{int(layer[len('conv'):]) + 1}/{conv_leaf[leaf]}"
            if layer == "fc":
                return f"discriminator/d_fc1/{dense_leaf[leaf]}"
    else:  # resnet_cifar
        if net == "generator":
            if parts == ["fc"]:
                return f"generator/fc_noise/{dense_leaf[leaf]}"
            if parts == ["final_bn"]:
                return f"generator/final_norm/{leaf}"
            if parts == ["to_rgb"]:
                return f"generator/final_conv/{conv_leaf[leaf]}"
            if parts and parts[0].startswith("block"):
                block = f"generator/B{parts[0][len('block'):]}"
                if parts[1] in ("bn1", "bn2"):
                    return f"{block}/{parts[1]}/{leaf}"
                conv = {"shortcut": "up_conv_shortcut", "conv1": "up_conv1", "conv2": "same_conv2"}[parts[1]]
                return f"{block}/{conv}/{conv_leaf[leaf]}"
        else:
            if parts and parts[0] == "fc":
                return f"discriminator/disc_final_fc/{dense_leaf[leaf]}"
            if parts and parts[0].startswith("block"):
                index = int(parts[0][len("block"):])
                block = f"discriminator/B{index}"
                if parts[1] in ("norm1", "norm2"):
                    kind = {"batch_norm": "bn", "layer_norm": "ln"}[d_norm]
                    return f"{block}/{kind}{parts[1][-1]}/{leaf}"
                scale = "down" if index <= 1 else "same"
                conv = {"shortcut": f"{scale}_conv_shortcut", "conv1": "same_conv1", "conv2": f"{scale}_conv2"}[parts[1]]
                return f"{block}/{conv}/{conv_leaf[leaf]}"
    raise KeyError(f"no compare_gan counterpart known for ganzoo variable {path!r}")


def _variable_map(gan, config):
    """{reference name: ganzoo variable}, checked to cover every reference variable once."""
    from reference import compare_gan_step as ref

    mapping = {}
    for model in (gan.generator, gan.discriminator):
        for variable in model.variables:
            name = _reference_name(variable.path, config.architecture, config.d_norm)
            if name in mapping:
                raise AssertionError(f"{variable.path} and {mapping[name].path} both map to {name}")
            mapping[name] = variable
    specs = {name: shape for name, shape, _ in ref.variable_specs(config)}
    missing, extra = sorted(set(specs) - set(mapping)), sorted(set(mapping) - set(specs))
    assert not missing and not extra, f"unmapped reference variables {missing}; unknown ganzoo ones {extra}"
    bad = [(n, tuple(mapping[n].shape), specs[n]) for n in specs if tuple(mapping[n].shape) != tuple(specs[n])]
    assert not bad, f"shape mismatches (name, ganzoo, reference): {bad}"
    return mapping


# ---------------------------------------------------------------------------- the cases
CASES = {
    # id: ganzoo build_gan kwargs, reference Config kwargs, per-D-update batch, the seed of the
    # starting weights, the G gradient noise allowed (see _gradient_noise), ganzoo's floatx
    # (float32 unless given; see the module docstring).
    "sndcgan8-sn-ns": dict(
        gan=dict(architecture="sndcgan", resolution=8, normalization="spectral", penalty="none", disc_iters=1),
        ref=dict(architecture="sndcgan", resolution=8, d_norm="spectral", penalty="none", disc_iters=1),
        batch=8, weights_seed=5, generator_noise=GRADIENT_NOISE,
    ),
    # disc_iters 2 (not the paper's 5) to keep the CPU time down; 2 already exercises the
    # schedule: D update 0, G (z[0]), D update 1 with G's new weights, alpha counters c0, c0 + 1.
    "resnet_cifar-sn-wgangp1-n2": dict(
        gan=dict(architecture="resnet_cifar", normalization="spectral", penalty="wgan_gp", penalty_weight=1.0, disc_iters=2),
        ref=dict(architecture="resnet_cifar", resolution=32, d_norm="spectral", penalty="wgangp", lambd=1.0, disc_iters=2),
        batch=4, weights_seed=5, generator_noise=GRADIENT_NOISE, floatx="float64",
    ),
    # A batch-norm D at batch 4 amplifies the error of the CPU convolution kernels: in float32,
    # XLA:CPU with JAX_DISABLE_MOST_OPTIMIZATIONS=1 (tests/conftest.py) and torch's mkldnn path
    # gave D gradients off by up to 0.4 of the network's rms gradient for weights seed 5, and
    # Keras-TF / optimised XLA G gradients off by 1e-3 .. 0.3, so G could only be checked
    # loosely. In float64 (a 1e-7 perturbation moves those gradients by 1e-4: the problem is
    # well conditioned) G, D, u and every moving statistic are checked strictly; measured worst
    # coordinate at 0.01 of its tolerance on both backends. disc_iters 1 keeps D's update
    # upstream of G's.
    "resnet_cifar-bn-n1": dict(
        gan=dict(architecture="resnet_cifar", normalization="batch", penalty="none", disc_iters=1),
        ref=dict(architecture="resnet_cifar", resolution=32, d_norm="batch_norm", penalty="none", disc_iters=1),
        batch=4, weights_seed=3, generator_noise=GRADIENT_NOISE, floatx="float64",
    ),
    "resnet_cifar-ln-n1": dict(
        gan=dict(architecture="resnet_cifar", normalization="layer", penalty="none", disc_iters=1),
        ref=dict(architecture="resnet_cifar", resolution=32, d_norm="layer_norm", penalty="none", disc_iters=1),
        batch=4, weights_seed=5, generator_noise=GRADIENT_NOISE,
    ),
}
SLOW_CASES = {case for case in CASES if case.startswith("resnet")}
LR, BETA1, BETA2 = 2e-4, 0.5, 0.999


def _noise_state(gan):
    import keras

    if not hasattr(gan, "noise_state"):
        pytest.fail(
            "ganzoo's GAN has no `noise_state` (the (seed, counter) Threefry state the WGAN-GP "
            "alphas are drawn from): the backend-independent noise is not in place yet."
        )
    return threefry.state_to_seed_counter(keras.ops.convert_to_numpy(gan.noise_state))


def _gradient_noise(optimizer, relative=None):
    """Per variable: the gradient error that float32 arithmetic can explain, GRADIENT_NOISE
    times the larger of the rms of its reference gradients and the rms of all of the network's.

    Measured (tests/reference, cases below): ganzoo's float32 gradients differ from float64 by
    up to ~5e-4 of the network's rms gradient on 99.99 % of the coordinates, mostly where a
    variable's gradient is a near-cancelling sum (early ResNet generator layers) or where the
    previous updates' legitimate differences feed forward (D update 1 sees G's update).
    """
    everything = np.concatenate([g.reshape(-1) for step in optimizer.gradients for g in step.values()])
    network_rms = float(np.sqrt(np.mean(everything**2)))
    noise = {}
    for name in optimizer.gradients[0]:
        rms = float(np.sqrt(np.mean(np.stack([step[name] for step in optimizer.gradients]) ** 2)))
        noise[name] = (GRADIENT_NOISE if relative is None else relative) * max(rms, network_rms)
    return noise


def _compare_updates(label, name, old, new_ganzoo, result, noise, lr):
    """Problems with a trainable variable's update, as a list of strings (empty when fine).

    The update, in units of lr, is sum_t m_hat_t / (sqrt(v_hat_t) + eps_hat_t) over the Adam
    steps t. Where a gradient is ~0 (below Adam's eps_hat ~ 3e-7), that update is proportional
    to the gradient and float32 noise in it shows: a coordinate passes when its error is within
    UPDATE_ATOL plus what a gradient error of `noise` explains (2 noise / denominator per step).
    """
    optimizer = result.g_optimizer if name.startswith("generator/") else result.d_optimizer
    got = (new_ganzoo.astype(np.float64) - old) / lr
    want = (result.weights[name] - old) / lr
    tolerance = UPDATE_ATOL + 2.0 * noise[name] * sum(1.0 / d[name] for d in optimizer.denominators)
    error = np.abs(got - want)
    missed = error > tolerance
    misses = int(missed.sum())
    allowed = int(UPDATE_MISS_FRACTION * error.size)
    if misses <= allowed:
        return []
    excess = (error - tolerance).reshape(-1)
    gradient = optimizer.gradients[0][name].reshape(-1)
    detail = ", ".join(
        f"[{int(i)}] ganzoo {got.reshape(-1)[i]:+.5f} ref {want.reshape(-1)[i]:+.5f} "
        f"(tol {tolerance.reshape(-1)[i]:.2g}, first ref gradient {gradient[i]:.3g})"
        for i in np.argsort(-excess)[:3]
    )
    return [f"{label}: {misses}/{error.size} coordinates of (new - old)/lr off by more than the "
            f"tolerance (allowed {allowed}); max error {error.max():.3g}; worst: {detail}"]


def _compare_state(name, new_ganzoo, new_ref):
    got = new_ganzoo.astype(np.float64)
    tol = STATE_ATOL * max(1.0, float(np.abs(new_ref).max()))
    error = np.abs(got - new_ref)
    if float(error.max()) <= tol:
        return []
    i = int(np.argmax(error))
    return [f"{name}: max |ganzoo - ref| = {error.max():.3g} > {tol:.3g} at [{i}] "
            f"(ganzoo {got.reshape(-1)[i]:.6g}, ref {new_ref.reshape(-1)[i]:.6g})"]


@pytest.mark.torch
@pytest.mark.skipif(not HAVE_TORCH, reason=TORCH_REASON)
@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CASES else c for c in CASES]
)
def test_one_step_matches_compare_gan(case):
    import keras

    floatx = CASES[case].get("floatx", "float32")
    if floatx == keras.config.floatx():
        problems, timing = _check_case(case)
    else:
        problems, timing = _check_case_in_subprocess(case, floatx)
    assert not problems, (
        f"ganzoo's step differs from compare_gan v2's ({keras.backend.backend()} backend, "
        f"{floatx}) {timing}:\n  " + "\n  ".join(problems)
    )


def _check_case_in_subprocess(case, floatx):
    """_check_case in a fresh Python whose Keras floatx (and JAX x64 switch) is `floatx`."""
    import json
    import subprocess

    code = (
        "import json, sys, keras\n"
        f"keras.config.set_floatx({floatx!r})\n"
        f"sys.path[:0] = [{HERE!r}, {os.path.join(HERE, 'integration')!r}]\n"
        "import test_step_reference as t\n"
        f"problems, timing = t._check_case({case!r})\n"
        "print('RESULT ' + json.dumps([problems, timing]))\n"
    )
    env = dict(os.environ, JAX_ENABLE_X64="1" if floatx == "float64" else "0")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    if run.returncode or not lines:
        pytest.fail(f"the {floatx} check of {case} failed to run (exit {run.returncode}):\n"
                    f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    problems, timing = json.loads(lines[-1][len("RESULT "):])
    return problems, timing


def _check_case(case):
    """(problems, timing): the differences between ganzoo's and the reference's step for a case
    (an empty list when they agree), in the current process's Keras floatx."""
    import keras

    import ganzoo
    from reference import compare_gan_step as ref

    spec = CASES[case]
    gan_kwargs, ref_kwargs, per_step = spec["gan"], spec["ref"], spec["batch"]
    config = ref.Config(learning_rate=LR, beta1=BETA1, beta2=BETA2, **ref_kwargs)
    n = config.disc_iters
    started = time.time()
    gan = ganzoo.build_gan(loss="ns", g_lr=LR, beta1=BETA1, beta2=BETA2, seed=11, **gan_kwargs)
    mapping = _variable_map(gan, config)

    # Same starting point for both: NumPy weights (rounded to float32) into ganzoo's variables.
    weights = {k: v.astype(np.float32).astype(np.float64) for k, v in ref.random_weights(config, seed=spec["weights_seed"]).items()}
    for name, variable in mapping.items():
        variable.assign(weights[name].astype(np.float32))
    rng = np.random.default_rng(17)
    res = config.resolution
    images = rng.uniform(size=(n * per_step, res, res, 3)).astype(np.float32)
    z = rng.uniform(-1.0, 1.0, size=(n, per_step, config.z_dim)).astype(np.float32)

    alphas = None
    if config.penalty == "wgangp":
        seed, counter = _noise_state(gan)
        # With z given, D update j's alpha is the draw at counter c0 + j.
        alphas = np.stack([threefry.uniform((per_step, 1, 1, 1), seed, counter + j)[0] for j in range(n)])

    try:
        logs = gan.train_on_batch({"images": images, "z": z}, return_dict=True)
    except ValueError as error:
        pytest.fail(f"ganzoo refused the batch (images {images.shape}, z {z.shape}: one z per D "
                    f"update, the G update reuses z[0]): {error}")
    ganzoo_seconds = time.time() - started

    started = time.time()
    result = ref.train_step(config, weights, images, z, alphas)
    reference_seconds = time.time() - started

    problems = []
    want_logs = {"d_loss": result.d_loss, "g_loss": result.g_loss, "penalty": result.penalty}
    for key, want in want_logs.items():
        got = float(logs[key])
        if abs(got - want) > LOSS_RTOL * max(abs(want), 1e-3):
            problems.append(f"log {key}: ganzoo {got:.8g}, reference {want:.8g} "
                            f"(per D update: {result.d_losses if key == 'd_loss' else result.penalties})")
    if gan.d_steps != n or gan.g_steps != 1:
        problems.append(f"optimizer steps: D {gan.d_steps} (want {n}), G {gan.g_steps} (want 1)")
    if alphas is not None:
        seed_after, counter_after = _noise_state(gan)
        if (seed_after, counter_after) != (seed, counter + n):
            problems.append(f"noise state after the step ({seed_after}, {counter_after}), expected "
                            f"({seed}, {counter + n}): one alpha draw per D update")

    specs = {name: kind for name, _, kind in ref.variable_specs(config)}
    noise = {**_gradient_noise(result.g_optimizer, spec["generator_noise"]), **_gradient_noise(result.d_optimizer)}
    for name, variable in mapping.items():
        new = np.asarray(keras.ops.convert_to_numpy(variable))
        if specs[name] == "trainable":
            problems += _compare_updates(f"{variable.path} ({name})", name, weights[name], new, result, noise, LR)
        else:
            problems += _compare_state(f"{variable.path} ({name})", new, result.weights[name])

    timing = f"[{case}: ganzoo build+step {ganzoo_seconds:.1f}s, reference {reference_seconds:.1f}s]"
    return problems, timing
