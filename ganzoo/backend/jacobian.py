"""Forward-mode derivatives (Jacobian-vector products) on either backend, for the generator
conditioning metric (ganzoo/metrics/jacobian.py).

jvp_function(fn)(x, tangent) -> d fn(x) / dx applied to tangent, exact (autodiff, no finite
differences) and compiled: jax.jvp under jax.jit on JAX, tf.autodiff.ForwardAccumulator under
tf.function on TensorFlow. Forward mode costs one pass per input direction: a generator has far
fewer inputs (z_dim) than outputs (pixels). Call it with one shape to compile once.
"""
import keras

BACKEND = keras.backend.backend()


def jvp_function(fn):
    if BACKEND == "jax":
        import jax

        # fn's variables are read at trace time, as constants of the compiled program.
        return jax.jit(lambda x, tangent: jax.jvp(fn, (x,), (tangent,))[1])
    if BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function
        def push(x, tangent):
            with tf.autodiff.ForwardAccumulator(primals=x, tangents=tangent) as accumulator:
                y = fn(x)
            return accumulator.jvp(y)

        return push
    raise ImportError(
        f"ganzoo's Jacobians support the 'tensorflow' and 'jax' Keras backends; KERAS_BACKEND is "
        f"{BACKEND!r}."
    )
