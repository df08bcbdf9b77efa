"""TensorFlow MirroredStrategy: replicas draw different noise and gradients average, not sum.

Runs in a subprocess: logical CPU devices must be configured before TensorFlow starts.
"""
import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, os
os.environ["KERAS_BACKEND"] = "tensorflow"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import ganzoo
from ganzoo import random as noise_random
from ganzoo.backend import tensorflow as tf_backend

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    gan = ganzoo.build_gan("sndcgan", resolution=8, seed=0)

def per_replica():
    state = tf.identity(gan.noise_state.value)
    z, _ = noise_random.uniform((3,), state, stream=tf_backend.replica_id())
    (_, _), grads = tf_backend.value_and_grad(lambda p: (p[0] * p[0], ()))([tf.constant(3.0)])
    return z, grads[0]

z, grads = strategy.run(tf.function(per_replica))
local_z = [t.numpy().tolist() for t in strategy.experimental_local_results(z)]
local_g = [float(t) for t in strategy.experimental_local_results(grads)]
print(json.dumps({"z": local_z, "grads": local_g}))
"""


def test_replicas_draw_their_own_noise_and_gradients_average():
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("checks the TensorFlow backend's plumbing; runs in the TensorFlow pass")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["z"][0] != out["z"][1]  # the two replicas' z differ
    # d(p^2)/dp = 6 at p = 3, divided by 2 replicas: the optimizer's sum is the mean
    assert out["grads"] == [3.0, 3.0]
