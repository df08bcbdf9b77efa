"""Data-parallel training on 4 virtual CPU devices gives the loss curve of one device.

JAX: XLA_FLAGS=--xla_force_host_platform_device_count=4 must be set before jax is imported, and
TensorFlow's logical devices before TensorFlow starts, so each check runs in a subprocess (this
file, run as a script).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

DEVICES = 4
STEPS = 4


def _train_curve(plan, steps, seed=0):
    """Per-step (d_loss, g_loss, penalty) of a tiny SNDCGAN trained under `plan`."""
    import ganzoo
    from ganzoo import data

    with plan.scope():
        gan = ganzoo.build_gan(architecture="sndcgan", resolution=8, normalization="spectral",
                               loss="ns", penalty="wgan_gp", penalty_weight=1.0, disc_iters=1,
                               g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999, seed=seed)
    dataset = data.make_dataset(data.synthetic(64, resolution=8), batch_size=8, seed=seed,
                                resolution=8)
    history = gan.fit(dataset, epochs=steps, steps_per_epoch=1, verbose=0).history
    return {name: [float(v) for v in history[name]] for name in ("d_loss", "g_loss", "penalty")}


def _worker():
    """Prints one JSON line: the curves on one device and on DEVICES devices."""
    import keras

    from ganzoo import distribute

    if keras.backend.backend() == "tensorflow":
        distribute.split_cpu(DEVICES)
    single = _train_curve(distribute.single_device(), STEPS)
    plan = distribute.data_parallel(DEVICES, device_type="cpu")
    assert plan.num_replicas == DEVICES, plan.describe()
    plan.check_batch(8)
    parallel = _train_curve(plan, STEPS)
    print("CURVES " + json.dumps({"single": single, "parallel": parallel,
                                  "plan": plan.describe()}))


def _run_worker(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={DEVICES}",
               JAX_DISABLE_MOST_OPTIMIZATIONS="0")  # as optimised_xla (conftest.py): 80 -> 49 s on JAX
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, os.path.abspath(__file__)], env=env, cwd=root,
                            capture_output=True, text=True, timeout=600)
    lines = [l for l in result.stdout.splitlines() if l.startswith("CURVES ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-5000:]
    return json.loads(lines[-1][len("CURVES "):])


def test_data_parallel_matches_one_device():
    import keras

    curves = _run_worker(keras.backend.backend())
    assert str(DEVICES) in curves["plan"]
    for name in ("d_loss", "g_loss", "penalty"):
        single, parallel = np.array(curves["single"][name]), np.array(curves["parallel"][name])
        assert len(single) == len(parallel) == STEPS
        np.testing.assert_allclose(parallel, single, rtol=2e-3, atol=2e-3, err_msg=name)


def test_batch_must_split_across_devices():
    from ganzoo.distribute import DistributeError, Plan

    plan = Plan("jax", ["cpu:0", "cpu:1", "cpu:2"])
    with pytest.raises(DistributeError, match="multiple of 3"):
        plan.check_batch(8)
    plan.check_batch(9)


if __name__ == "__main__":
    _worker()
