"""A class-conditional GAN reproduces across backends: the same initial weights, fake classes
(drawn with ganzoo.random, like z), losses with WGAN-GP on labelled interpolates, and weights
saved on one backend give the same class-chosen samples on the other.

Kept short (three steps of an 8x8 SNDCGAN): test_cross_backend.py holds the full comparison of
the unconditional step; this one checks what conditioning adds. Runs in the TensorFlow pass.
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

STEPS = 3


def test_conditional_steps_agree_across_backends(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("runs once, in the TensorFlow pass (JAX runs there in a subprocess)")
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('jax') is None)"
    if subprocess.run([sys.executable, "-c", code]).returncode:
        pytest.skip("the jax backend is not installed")
    rng = np.random.default_rng(7)
    data = {"images": rng.uniform(0, 1, size=(STEPS, 8, 8, 8, 3)).astype("float32"),
            "labels": rng.integers(0, 3, size=(STEPS, 8)).astype("int32")}
    data_path, weights_path = str(tmp_path / "data.npz"), str(tmp_path / "trained.weights.h5")
    np.savez(data_path, **data)

    gan = cross_backend_steps.build(cross_backend_steps.CONDITIONAL)
    initial = cross_backend_steps.flat_weights(gan)
    here = cross_backend_steps.run_steps(gan, data)
    gan.save_weights(weights_path)

    out_path = str(tmp_path / "other.npz")
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "cross_backend_steps.py"), data_path, out_path, weights_path,
         "conditional"], env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    there = dict(np.load(out_path))

    for key in ("generator", "discriminator", "ema"):
        np.testing.assert_array_equal(initial[key], there["initial_" + key], err_msg=key)
    np.testing.assert_allclose(there["other_samples"], gan.generate(4, seed=1, labels=[0, 1, 2, 1]), atol=1e-5)
    np.testing.assert_allclose(here["losses"], there["losses"], rtol=2e-3, atol=2e-4)
    assert np.all(here["losses"][:, 2] > 0)  # WGAN-GP on the conditional D was active
    for key in ("generator", "discriminator"):
        update_here, update_there = here[key] - initial[key], there[key] - initial[key]
        relative = np.linalg.norm(update_here - update_there) / np.linalg.norm(update_here)
        assert relative < 0.05, f"{key}: updates differ by {relative:.3%}"
