"""Threefry-2x32-20 in NumPy, and the uniform draws ganzoo's training noise is specified as.

Threefry is the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel random
numbers: as easy as 1, 2, 3" (SC 2011); this follows Random123's threefry.h (threefry2x32_R with
R = 20 rounds): rotation constants 13, 15, 26, 6, 17, 29, 16, 24, key-schedule parity constant
0x1BD11BDA, a key injection after every 4 rounds that also adds the injection number.
Written independently of ganzoo.random, to test it.

Noise specification (ganzoo): the state is (seed, counter), two int32. A draw of shape S takes one
counter value c; flat element i (row-major) is

    bits = threefry2x32(key=(seed mod 2^32, c mod 2^32), counter=(i, 0))[0]
    value = (bits >> 8) * 2^-24            (in [0, 1))

and the counter becomes c + 1.
"""
import numpy as np

ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
PARITY = np.uint32(0x1BD11BDA)


def _rotl(x, r):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(key, counter, rounds=20):
    """Threefry-2x32 of counter words (x0, x1) under key (k0, k1); uint32 arrays (broadcast).

    Returns the two output words (y0, y1) as uint32 arrays.
    """
    k0, k1 = (np.asarray(k, dtype=np.uint64).astype(np.uint32) for k in key)
    x0, x1 = (np.array(c, dtype=np.uint64).astype(np.uint32) for c in counter)
    x0, x1 = np.broadcast_arrays(x0, x1)
    x0, x1 = x0.copy(), x1.copy()
    ks = (k0, k1, k0 ^ k1 ^ PARITY)
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps modulo 2^32 on purpose
        x0 = x0 + ks[0]
        x1 = x1 + ks[1]
        for r in range(rounds):
            x0 = x0 + x1
            x1 = _rotl(x1, ROTATIONS[r % 8])
            x1 = x1 ^ x0
            if r % 4 == 3:  # key injection number s = (r + 1) / 4
                s = (r + 1) // 4
                x0 = x0 + ks[s % 3]
                x1 = x1 + ks[(s + 1) % 3] + np.uint32(s)
    return x0.astype(np.uint32), x1.astype(np.uint32)


def uniform(shape, seed, counter):
    """The draw of `shape` that ganzoo's noise state (seed, counter) specifies (float64 values
    that are exactly representable in float32). Returns (values, next_counter)."""
    shape = tuple(int(d) for d in shape)
    size = int(np.prod(shape, dtype=np.int64))
    index = np.arange(size, dtype=np.uint64).astype(np.uint32)
    key = (np.uint32(int(seed) % 2**32), np.uint32(int(counter) % 2**32))
    bits, _ = threefry2x32(key, (index, np.zeros_like(index)))
    values = (bits >> np.uint32(8)).astype(np.float64) * 2.0**-24
    return values.reshape(shape), int(counter) + 1


def state_to_seed_counter(state):
    """(seed, counter) as Python ints mod 2^32 from a noise state of two int32 (or uint32)."""
    state = np.asarray(state).reshape(-1)
    if state.shape != (2,):
        raise ValueError(f"A noise state holds two values (seed, counter); got shape {state.shape}.")
    words = state.astype(np.int64) % 2**32
    return int(words[0]), int(words[1])
