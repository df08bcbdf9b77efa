"""Data-parallel training on several devices of one machine.

- JAX: keras.distribution.DataParallel over the local devices (the model's variables are
  replicated, each batch is split along its first axis; XLA inserts the gradient all-reduce).
- TensorFlow: tf.distribute.MirroredStrategy; the model must be built and compiled inside
  `strategy.scope()`.

    plan = ganzoo.distribute.data_parallel()          # all local devices; None-op on one device
    with plan.scope():
        gan = ganzoo.build_gan(...)
    gan.fit(dataset)                                  # global batches, split across devices

Every discriminator batch (`batch_size`) must divide evenly among the devices.
CPU testing: XLA_FLAGS=--xla_force_host_platform_device_count=4 (JAX, set before importing jax),
or `split_cpu(4)` (TensorFlow logical devices, before TensorFlow initialises).
"""
import contextlib
import dataclasses
from typing import Any, List, Optional

import keras


class DistributeError(ValueError):
    """A data-parallel setup that cannot work; the message names the fix."""


@dataclasses.dataclass
class Plan:
    backend: str
    devices: List[str]
    strategy: Any = None  # tf.distribute.MirroredStrategy on TensorFlow
    distribution: Any = None  # keras.distribution.DataParallel on JAX

    @property
    def num_replicas(self):
        return max(len(self.devices), 1)

    def scope(self):
        """Build and compile the model inside this context."""
        if self.strategy is not None:
            return self.strategy.scope()
        return contextlib.nullcontext()

    def check_batch(self, batch_size):
        if int(batch_size) % self.num_replicas:
            raise DistributeError(
                f"--batch_size {batch_size} does not split evenly across {self.num_replicas} "
                f"devices: use a multiple of {self.num_replicas}."
            )

    def describe(self):
        if self.num_replicas == 1:
            return f"one device ({self.devices[0] if self.devices else 'default'})"
        kind = "MirroredStrategy" if self.strategy is not None else "keras DataParallel"
        return f"data parallel over {self.num_replicas} devices ({kind}): {', '.join(self.devices)}"


def split_cpu(count):
    """TensorFlow: expose the CPU as `count` logical devices (call before TensorFlow starts)."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(int(count))]
        )
    except RuntimeError as error:
        raise DistributeError(
            f"TensorFlow is already initialised, so the CPU cannot be split now ({error}). "
            "Call split_cpu() first thing in the process."
        ) from None


def _tf_devices(device_type=None):
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if device_type == "gpu" or (device_type is None and gpus):
        return [d.name for d in gpus]
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def data_parallel(num_devices: Optional[int] = None, device_type: Optional[str] = None):
    """A data-parallel Plan over `num_devices` local devices (default: all of them).

    With one device it is a plain single-device Plan: nothing is distributed.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices(device_type)
    elif backend == "tensorflow":
        devices = _tf_devices(device_type)
    else:
        raise DistributeError(f"Data parallel training supports JAX and TensorFlow, not {backend}.")
    if num_devices is not None:
        if int(num_devices) > len(devices):
            raise DistributeError(
                f"{num_devices} devices were asked for but only {len(devices)} are visible "
                f"({', '.join(devices)}). Lower --num_devices."
            )
        devices = devices[: int(num_devices)]
    if len(devices) <= 1:
        return Plan(backend, list(devices))
    if backend == "jax":
        distribution = keras.distribution.DataParallel(devices=devices)
        keras.distribution.set_distribution(distribution)
        return Plan(backend, list(devices), distribution=distribution)
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(devices=devices)
    return Plan(backend, list(devices), strategy=strategy)


def single_device():
    backend = keras.backend.backend()
    return Plan(backend, [])
