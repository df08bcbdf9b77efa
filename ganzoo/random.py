"""Training noise that is the same on every backend: Threefry-2x32 written with keras.ops.

Keras' random ops draw different numbers on TensorFlow and JAX for the same seed, so a GAN run
could not be reproduced across backends. ganzoo's training noise (z, the WGAN-GP interpolation,
DRAGAN's perturbation) comes from here instead: the counter-based generator Threefry-2x32 with
20 rounds (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"; the generator
behind jax.random), in 32-bit unsigned integer arithmetic that both backends compute exactly.

The state is two int32 values, (seed, counter). A draw of any shape consumes one counter value
c; its flat element i (row-major) is the first output word of
threefry2x32(key=(seed, c), counter=(i, stream)), mapped to [0, 1) as (bits >> 8) * 2^-24.
`stream` separates parallel replicas drawing from one state.

Initial weights come from `PortableNormal`, drawn with NumPy, so `build_gan(seed=...)` builds the
same networks on every backend too: one seed reproduces a whole run on TensorFlow and on JAX.
"""
import keras
import numpy as np
from keras import ops

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA  # Threefish's key-schedule constant


def _u32(value):
    return ops.cast(value, "uint32")


def _rotate_left(x, bits):
    return ops.bitwise_or(ops.left_shift(x, _u32(bits)), ops.right_shift(x, _u32(32 - bits)))


def threefry2x32(key0, key1, x0, x1):
    """Threefry-2x32-20 of counters (x0, x1) under key (key0, key1); uint32 tensors in and out."""
    key0, key1, x0, x1 = (_u32(v) for v in (key0, key1, x0, x1))
    key2 = ops.bitwise_xor(ops.bitwise_xor(key0, key1), _u32(_PARITY))
    keys = (key0, key1, key2)
    x0 = ops.add(x0, key0)
    x1 = ops.add(x1, key1)
    for block in range(5):  # 5 blocks of 4 rounds, a key injection after each
        for bits in _ROTATIONS[block % 2]:
            x0 = ops.add(x0, x1)
            x1 = ops.bitwise_xor(_rotate_left(x1, bits), x0)
        x0 = ops.add(x0, keys[(block + 1) % 3])
        x1 = ops.add(ops.add(x1, keys[(block + 2) % 3]), _u32(block + 1))
    return x0, x1


def initial_state(seed=None):
    """(seed, 0) as int32; a None seed draws one from the operating system."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"A noise seed must be an integer in [0, 2**32); got {seed}.")
    return np.array([seed, 0], dtype="uint32").view("int32")


def uniform(shape, state, minval=0.0, maxval=1.0, stream=0):
    """Uniform float32 values in [minval, maxval) of `shape`; returns (values, new_state).

    `state` is the int32 (seed, counter) pair; the draw is a pure function of it, so the same
    state gives the same values on TensorFlow and JAX.
    """
    shape = tuple(int(d) for d in shape)
    size = int(np.prod(shape))
    state = ops.convert_to_tensor(state)
    key = _u32(state)  # int32 -> uint32 keeps the bits
    index = _u32(ops.arange(size, dtype="int32"))  # TF has no uint32 range kernel
    bits, _ = threefry2x32(key[0], key[1], index, ops.zeros_like(index) + _u32(stream))
    unit = ops.cast(ops.right_shift(bits, _u32(8)), "float32") * (2.0**-24)
    values = ops.reshape(minval + (maxval - minval) * unit, shape)
    new_state = ops.stack([state[0], state[1] + ops.cast(1, state.dtype)])
    return values, new_state


class NoiseStream:
    """Draws in sequence from a (seed, counter) state inside a traced step (no variables).

    The step creates one, hands `uniform` to whatever needs noise, and reads `state` at the end.
    """

    def __init__(self, state, stream=0):
        self.state = state
        self.stream = stream

    def uniform(self, shape, minval=0.0, maxval=1.0):
        values, self.state = uniform(shape, self.state, minval, maxval, self.stream)
        return values

    def direction(self, shape):
        """Unit vectors along the last axis, uniform on the sphere: N(0, 1) by Box-Muller from
        two uniform draws (u1 in (0, 1], so the log is finite), normalised."""
        u1 = 1.0 - self.uniform(shape)
        u2 = self.uniform(shape)
        normal = ops.sqrt(-2.0 * ops.log(u1)) * ops.cos(2.0 * np.pi * u2)
        return normal / ops.sqrt(ops.sum(ops.square(normal), axis=-1, keepdims=True) + 1e-12)


@keras.saving.register_keras_serializable(package="ganzoo")
class PortableNormal(keras.initializers.Initializer):
    """N(mean, stddev) weights drawn with NumPy: the same values on every Keras backend.

    `truncated` redraws values beyond two standard deviations (TF's TruncatedNormal). Each call
    takes its seed from NumPy's global generator, which keras.utils.set_random_seed (called by
    build_gan) seeds; layers are built in the same order on every backend, so the same seed
    gives the same weights everywhere.
    """

    def __init__(self, mean=0.0, stddev=0.02, truncated=False):
        self.mean = float(mean)
        self.stddev = float(stddev)
        self.truncated = bool(truncated)

    def __call__(self, shape, dtype=None):
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        values = rng.standard_normal(shape)
        if self.truncated:
            outside = np.abs(values) > 2.0
            while outside.any():
                values[outside] = rng.standard_normal(int(outside.sum()))
                outside = np.abs(values) > 2.0
        values = self.mean + self.stddev * values
        return ops.convert_to_tensor(values, dtype=dtype or "float32")

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "truncated": self.truncated}
