"""TensorFlow: GradientTape gradients; optimizers update the variables in place."""
import tensorflow as tf


def value_and_grad(fn):
    def wrapped(params, *args):
        params = list(params)
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss, aux = fn(params, *args)
        return (loss, aux), tape.gradient(loss, params)

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


def read_value(variable):
    # A tensor snapshot: passing the tf.Variable itself would let tapes and StatelessScope
    # see variable reads instead of the values being differentiated.
    return tf.identity(variable.value)


def train_step(model, data):
    state = model.state_layout.read(read_value)
    state, logs = model.train_step_values(state, data)
    model.state_layout.write_buffers(state)
    for metric in model.metrics:
        metric.update_state(logs[metric.name])
    return {metric.name: metric.result() for metric in model.metrics}
