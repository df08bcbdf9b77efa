"""The only per-backend code of ganzoo: gradients and optimizer/state plumbing.

Everything else (losses, penalties, the order of D and G updates, EMA) is written once with
keras.ops in ganzoo/gan.py. Each backend module provides:

- value_and_grad(fn): fn(params, *args) -> (loss, aux); returns ((loss, aux), grads wrt params)
- grad(fn): fn(params, *args) -> (loss, aux); returns a function giving (grads wrt params, aux)
  that is differentiable again (the unrolled discriminator's look-ahead, second order)
- input_gradient(fn, x): d sum(fn(x)) / dx, differentiable again (for gradient penalties)
- apply_gradients(optimizer, grads, variables, values, optimizer_values) -> (values, opt_values)
- optimizer_iterations(optimizer, optimizer_values): the optimizer's step count within the step
- assign_values(variables, values) -> values: new values of trainable variables set outside the
  optimizer (D's weight clipping); TensorFlow writes them to the variables, JAX returns them
- replica_id(): which data-parallel replica traces this step (its noise stream)
- train_step: the Keras train_step of that backend's trainer (GAN.train_step is this function):
  it turns fit()'s state into the named values of the backend-neutral step and back (JAX:
  unpack/pack of the jitted state lists; TensorFlow: read the variables, write the buffers)
- sample(generator, z, labels=None): a generator's forward pass at inference, as numpy (JAX:
  compiled); labels: a conditional generator's classes
- enable_determinism(): reproducible kernels run to run (train --deterministic)

state.py holds `StateLayout`, where each named value sits, shared by both.
"""
import keras

BACKEND = keras.backend.backend()

if BACKEND == "jax":
    from ganzoo.backend.jax import (
        apply_gradients,
        assign_values,
        enable_determinism,
        grad,
        input_gradient,
        optimizer_iterations,
        replica_id,
        sample,
        train_step,
        value_and_grad,
    )
elif BACKEND == "tensorflow":
    from ganzoo.backend.tensorflow import (
        apply_gradients,
        assign_values,
        enable_determinism,
        grad,
        input_gradient,
        optimizer_iterations,
        replica_id,
        sample,
        train_step,
        value_and_grad,
    )
else:
    raise ImportError(
        f"ganzoo supports the 'tensorflow' and 'jax' Keras backends; KERAS_BACKEND is "
        f"{BACKEND!r}. Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax."
    )

from ganzoo.backend.state import StateLayout  # noqa: E402 - after the backend check

__all__ = [
    "BACKEND",
    "StateLayout",
    "apply_gradients",
    "assign_values",
    "enable_determinism",
    "grad",
    "input_gradient",
    "optimizer_iterations",
    "replica_id",
    "sample",
    "train_step",
    "value_and_grad",
]
