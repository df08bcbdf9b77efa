"""JAX: jax.value_and_grad; optimizers and metrics applied statelessly to fit()'s jitted state."""
import os

import jax
import jax.numpy as jnp
import keras
import numpy as np


def value_and_grad(fn):
    return jax.value_and_grad(fn, has_aux=True)


def grad(fn):
    """fn(params, *args) -> (loss, aux); returns a function giving (d loss / d params, aux) that
    can itself be differentiated (the unrolled discriminator's look-ahead)."""
    return jax.grad(fn, has_aux=True)


def input_gradient(fn, x):
    return jax.grad(lambda inputs: jnp.sum(fn(inputs)))(x)


def replica_id():
    # keras.distribution shards one global computation: one noise stream serves every device.
    return 0


def apply_gradients(optimizer, grads, variables, values, optimizer_values):
    return optimizer.stateless_apply(optimizer_values, grads, values)


def assign_values(variables, values):
    """New values of trainable variables (set outside the optimizer): the state carries them."""
    del variables
    return list(values)


def optimizer_iterations(optimizer, optimizer_values):
    """The optimizer's step count in this step's state (its updates so far included)."""
    position = [id(v) for v in optimizer.variables].index(id(optimizer.iterations))
    return optimizer_values[position]


def sample(generator, z, labels=None):
    """generator(z, training=False) as numpy float32, through one compiled forward pass (Keras'
    predict function: jitted once per batch shape, kept by the model). Eager JAX compiles op by
    op: 64 images of a fresh SNDCGAN-32 took 6-7 s on a 2-core CPU, 1.8-2 s compiled, the same
    images. Under a keras.distribution, the eager call (the distribution lays the variables
    out). With labels (a conditional generator): a jitted stateless call, since predict's one
    input is z."""
    if labels is not None:
        return _conditional_sample(generator, z, labels)
    if keras.distribution.distribution() is not None:
        return np.asarray(keras.ops.convert_to_numpy(generator(z, training=False)), dtype="float32")
    return np.asarray(generator.predict_on_batch(z), dtype="float32")


def _conditional_sample(generator, z, labels):
    if keras.distribution.distribution() is not None:
        return np.asarray(keras.ops.convert_to_numpy(generator(z, labels=labels, training=False)),
                          dtype="float32")
    forward = getattr(generator, "_ganzoo_conditional_forward", None)
    if forward is None:
        forward = jax.jit(lambda params, buffers, z, labels: generator.stateless_call(
            params, buffers, z, labels=labels, training=False)[0])
        generator._ganzoo_conditional_forward = forward
    images = forward([v.value for v in generator.trainable_variables],
                     [v.value for v in generator.non_trainable_variables], jnp.asarray(z), jnp.asarray(labels))
    return np.asarray(images, dtype="float32")


def unpack(layout, trainable, non_trainable, optimizer_values):
    """fit()'s state lists -> the step's named groups of values (see ganzoo.backend.state)."""
    return {
        "g_params": [trainable[i] for i in layout.g_params],
        "d_params": [trainable[i] for i in layout.d_params],
        "g_buffers": [non_trainable[i] for i in layout.g_buffers],
        "d_buffers": [non_trainable[i] for i in layout.d_buffers],
        "ema": [non_trainable[i] for i in layout.ema],
        "noise": non_trainable[layout.noise],
        "g_opt": list(optimizer_values[: layout.n_g_opt]),
        "d_opt": list(optimizer_values[layout.n_g_opt :]),
    }


def pack(layout, values, trainable, non_trainable):
    """The step's named groups of values -> fit()'s state lists (the inverse of `unpack`)."""
    trainable, non_trainable = list(trainable), list(non_trainable)
    for key, positions, target in (
        ("g_params", layout.g_params, trainable),
        ("d_params", layout.d_params, trainable),
        ("g_buffers", layout.g_buffers, non_trainable),
        ("d_buffers", layout.d_buffers, non_trainable),
        ("ema", layout.ema, non_trainable),
    ):
        for position, value in zip(positions, values[key]):
            target[position] = value
    non_trainable[layout.noise] = values["noise"]
    return trainable, non_trainable, values["g_opt"] + values["d_opt"]


def train_step(model, state, data):
    """The Keras JAX trainer's train_step(state, data) (GAN.train_step is this function)."""
    trainable, non_trainable, optimizer_values, metric_values = state
    values = unpack(model.state_layout, trainable, non_trainable, optimizer_values)
    values, logs = model.train_step_values(values, data)
    trainable, non_trainable, optimizer_values = pack(
        model.state_layout, values, trainable, non_trainable
    )
    new_metric_values, results, offset = [], {}, 0
    for metric in model.metrics:
        count = len(metric.variables)
        own = metric.stateless_update_state(metric_values[offset : offset + count], logs[metric.name])
        results[metric.name] = metric.stateless_result(own)
        new_metric_values.extend(own)
        offset += count
    return results, (trainable, non_trainable, optimizer_values, new_metric_values)


DETERMINISTIC_XLA_FLAG = "--xla_gpu_deterministic_ops=true"


def enable_determinism():
    """Make every op reproducible run to run. XLA's CPU kernels already are; on GPU XLA needs
    DETERMINISTIC_XLA_FLAG, which it reads once, when JAX starts its backends."""
    from jax._src import xla_bridge

    if DETERMINISTIC_XLA_FLAG in os.environ.get("XLA_FLAGS", ""):
        return
    if not xla_bridge.backends_are_initialized():
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_XLA_FLAG}".strip()
        return
    if jax.default_backend() != "cpu":
        raise RuntimeError(
            f"deterministic ops on {jax.default_backend()} need XLA_FLAGS={DETERMINISTIC_XLA_FLAG} "
            "before JAX starts: JAX has already started in this process. Set XLA_FLAGS in the "
            "environment and start again.")
