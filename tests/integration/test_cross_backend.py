"""One seed reproduces a run on TensorFlow and JAX: the same initial weights, noise and steps.

The current backend runs in-process; the other one in a subprocess (a Keras backend is fixed per
process). Weights saved here are loaded there, so this also checks cross-backend loading.
"""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest


HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/
sys.path.insert(0, HERE)
import cross_backend_steps  # noqa: E402

STEPS = 5


def _other_backend():
    return "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"


def _available(backend_name):
    module = "jax" if backend_name == "jax" else "tensorflow"
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec('{module}') is None)"
    return subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_five_steps_agree_across_backends(tmp_path):
    if keras.backend.backend() != "tensorflow":
        # The comparison is symmetric: the TensorFlow pass runs JAX in its subprocess.
        pytest.skip("runs once, in the TensorFlow pass (JAX runs there in a subprocess)")
    other = _other_backend()
    if not _available(other):
        pytest.skip(f"the {other} backend is not installed")
    rng = np.random.default_rng(42)
    per_step = 4
    data = {"images": rng.uniform(0, 1, size=(STEPS, 2 * per_step, 8, 8, 3)).astype("float32")}
    data_path, weights_path = str(tmp_path / "data.npz"), str(tmp_path / "trained.weights.h5")
    np.savez(data_path, **data)

    gan = cross_backend_steps.build()
    initial = cross_backend_steps.flat_weights(gan)
    here = cross_backend_steps.run_steps(gan, data)
    gan.save_weights(weights_path)

    out_path = str(tmp_path / "other.npz")
    env = dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "cross_backend_steps.py"), data_path, out_path, weights_path],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    there = dict(np.load(out_path))

    # One seed, one network: ganzoo.random.PortableNormal draws the initial weights with NumPy.
    for key in ("generator", "discriminator", "ema"):
        np.testing.assert_array_equal(initial[key], there["initial_" + key], err_msg=key)
    # Weights saved here load there and give the same samples.
    np.testing.assert_allclose(there["other_samples"], gan.generate(4, seed=1), atol=1e-5)

    np.testing.assert_allclose(here["losses"], there["losses"], rtol=2e-3, atol=2e-4)
    assert np.all(here["losses"][:, 2] > 0)  # the WGAN-GP penalty (second-order gradients) was active
    # Adam normalises each coordinate, so a gradient that is ~0 on both backends can still give
    # updates of opposite sign: compare the updates as a whole and element-wise for nearly all.
    for key in ("generator", "discriminator", "ema"):
        update_here, update_there = here[key] - initial[key], there[key] - initial[key]
        assert np.linalg.norm(update_here) > 0, key
        relative = np.linalg.norm(update_here - update_there) / np.linalg.norm(update_here)
        assert relative < 0.05, f"{key}: updates differ by {relative:.3%}"
        outliers = np.mean(np.abs(here[key] - there[key]) > 2e-4)
        assert outliers < 1e-3, f"{key}: {outliers:.3%} of weights differ by more than 2e-4"
