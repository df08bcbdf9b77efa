"""JAX: jax.value_and_grad; optimizers and metrics applied statelessly to fit()'s jitted state."""
import jax
import jax.numpy as jnp


def value_and_grad(fn):
    return jax.value_and_grad(fn, has_aux=True)


def input_gradient(fn, x):
    return jax.grad(lambda inputs: jnp.sum(fn(inputs)))(x)


def replica_id():
    # keras.distribution shards one global computation: one noise stream serves every device.
    return 0


def apply_gradients(optimizer, grads, variables, values, optimizer_values):
    return optimizer.stateless_apply(optimizer_values, grads, values)


def train_step(model, state, data):
    trainable, non_trainable, optimizer_values, metric_values = state
    values = model.state_layout.unpack(trainable, non_trainable, optimizer_values)
    values, logs = model.train_step_values(values, data)
    trainable, non_trainable, optimizer_values = model.state_layout.pack(
        values, trainable, non_trainable
    )
    new_metric_values, results, offset = [], {}, 0
    for metric in model.metrics:
        count = len(metric.variables)
        own = metric.stateless_update_state(metric_values[offset : offset + count], logs[metric.name])
        results[metric.name] = metric.stateless_result(own)
        new_metric_values.extend(own)
        offset += count
    return results, (trainable, non_trainable, optimizer_values, new_metric_values)
