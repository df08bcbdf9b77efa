"""TensorFlow: GradientTape gradients; optimizers update the variables in place."""
import os

import tensorflow as tf
from keras import ops


def _replicas():
    """(this replica's id, number of replicas) under a tf.distribute strategy; (0, 1) without."""
    context = tf.distribute.get_replica_context()
    replica_id = context.replica_id_in_sync_group if context is not None else 0
    return replica_id, tf.distribute.get_strategy().num_replicas_in_sync


def replica_id():
    """The noise stream of this replica (ganzoo.random): each replica draws its own noise."""
    return _replicas()[0]


def value_and_grad(fn):
    def wrapped(params, *args):
        params = list(params)
        _, replicas = _replicas()
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss, aux = fn(params, *args)
            # Under MirroredStrategy the optimizer sums gradients over replicas: scale the loss
            # so that the sum is the mean gradient of the global batch.
            scaled = loss / replicas if replicas > 1 else loss
        return (loss, aux), tape.gradient(scaled, params)

    return wrapped


def grad(fn):
    """fn(params, *args) -> (loss, aux); returns a function giving (d loss / d params, aux). Its
    own tape sits inside any enclosing one (value_and_grad's), which records the gradient's
    computation: differentiable again (second order, the unrolled discriminator's look-ahead).
    Unconnected parameters get zeros, sparse gradients (embedding lookups) become dense."""
    def wrapped(params, *args):
        params = list(params)
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss, aux = fn(params, *args)
        grads = tape.gradient(loss, params, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [tf.convert_to_tensor(g) for g in grads], aux

    return wrapped


def input_gradient(fn, x):
    # Recorded by any enclosing tape, so the penalty's own gradient is exact (second order).
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(fn(x))
    return tape.gradient(total, x)


def apply_gradients(optimizer, grads, variables, values, optimizer_values):
    # TF optimizers refuse stateless_apply (tf.distribute needs variables): update in place and
    # read the new values back; tf.function's automatic control dependencies order the reads.
    optimizer.apply(grads, variables)
    return [read_value(v) for v in variables], optimizer_values


def assign_values(variables, values):
    """New values of trainable variables (set outside the optimizer): written to the variables in
    place, as apply_gradients does, and read back."""
    for variable, value in zip(variables, values):
        variable.assign(value)
    return [read_value(v) for v in variables]


def optimizer_iterations(optimizer, optimizer_values):
    """The optimizer's step count: its variable, updated in place by apply_gradients (the
    step's optimizer_values are None on TensorFlow)."""
    del optimizer_values
    return ops.convert_to_tensor(optimizer.iterations)


def sample(generator, z, labels=None):
    """generator(z, training=False) as numpy float32 (eager TensorFlow is fast enough here);
    labels: the classes of a conditional generator."""
    if labels is not None:
        return ops.convert_to_numpy(generator(z, labels=labels, training=False)).astype("float32")
    return ops.convert_to_numpy(generator(z, training=False)).astype("float32")


def read_value(variable):
    # A tensor snapshot: passing the tf.Variable itself would let tapes and StatelessScope
    # see variable reads instead of the values being differentiated.
    return tf.identity(variable.value)


def read(model):
    """The step's named groups of values (see ganzoo.backend.state), read from the variables;
    g_opt and d_opt are None: the optimizers keep their state in their variables."""
    read_all = lambda variables: [read_value(v) for v in variables]  # noqa: E731
    return {
        "g_params": read_all(model.generator.trainable_variables),
        "d_params": read_all(model.discriminator.trainable_variables),
        "g_buffers": read_all(model.generator.non_trainable_variables),
        "d_buffers": read_all(model.discriminator.non_trainable_variables),
        "ema": read_all(model.ema_generator.variables) if model.ema_generator else [],
        "noise": read_value(model.noise_state),
        "g_opt": None,
        "d_opt": None,
    }


def write_buffers(model, values):
    """Assign the step's new non-trainable values (the trainable ones were updated in place)."""
    pairs = list(zip(model.generator.non_trainable_variables, values["g_buffers"]))
    pairs += zip(model.discriminator.non_trainable_variables, values["d_buffers"])
    if model.ema_generator:
        pairs += zip(model.ema_generator.variables, values["ema"])
    pairs.append((model.noise_state, values["noise"]))
    for variable, value in pairs:
        variable.assign(value)


def train_step(model, data):
    """The Keras TensorFlow trainer's train_step(data) (GAN.train_step is this function)."""
    state = read(model)
    state, logs = model.train_step_values(state, data)  # replicas advance the counter alike
    write_buffers(model, state)
    for metric in model.metrics:
        metric.update_state(logs[metric.name])
    return {metric.name: metric.result() for metric in model.metrics}


def _onednn_enabled():
    try:  # what TensorFlow decided when it loaded (a private module: fall back on the variable)
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0"


def enable_determinism():
    """Make training reproducible run to run, bit for bit (for this process, irreversibly). On
    the CPU that takes, each measured necessary: TensorFlow's op determinism; no oneDNN kernels
    (they round differently from one process to the next even single-threaded); one intra-op
    and one inter-op thread (with more, two runs of one seed drift apart in the last bits).
    oneDNN is chosen when TensorFlow loads, the threads when it runs its first op: RuntimeError
    when either is too late."""
    if _onednn_enabled():
        raise RuntimeError(
            "deterministic training on TensorFlow needs TF_ENABLE_ONEDNN_OPTS=0 before TensorFlow "
            "loads (oneDNN's CPU kernels round differently in each process); this process loaded "
            "it with oneDNN on. Set TF_ENABLE_ONEDNN_OPTS=0 in the environment (`ganzoo train "
            "--deterministic` does it itself) and start again.")
    threading = tf.config.threading
    for kind in ("intra", "inter"):
        try:
            getattr(threading, f"set_{kind}_op_parallelism_threads")(1)
        except RuntimeError:  # the runtime has started: only the environment could have set it
            variable = f"TF_NUM_{kind.upper()}OP_THREADS"
            if getattr(threading, f"get_{kind}_op_parallelism_threads")() != 1 and \
                    os.environ.get(variable) != "1":
                raise RuntimeError(
                    f"deterministic training on TensorFlow needs one {kind}-op thread, set before "
                    f"TensorFlow runs its first op; this process has run ops already. Set "
                    f"{variable}=1 in the environment (`ganzoo train --deterministic` does it "
                    "itself), or enable determinism before anything runs."
                ) from None
    tf.config.experimental.enable_op_determinism()
