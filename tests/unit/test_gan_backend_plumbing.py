"""Per-backend plumbing lives in ganzoo/backend/ alone (issue 11): gan.py holds the
backend-neutral step; the state layout and each backend's train_step, reading/writing of the
state and compiled sampling are in ganzoo.backend. On the current backend."""
import inspect

import keras
import numpy as np
import pytest
from keras import ops

import ganzoo
from ganzoo import backend, gan as gan_module
from ganzoo.architectures import build_generator, sample_noise
from ganzoo.backend.state import StateLayout

RES = 8


def test_gan_py_has_no_backend_branches():
    source = inspect.getsource(gan_module)
    for backend_specific in ("BACKEND", "keras.backend.backend()", '["d_opt"] is None', "class StateLayout"):
        assert backend_specific not in source, backend_specific
    assert ganzoo.GAN.train_step is backend.train_step
    assert backend.StateLayout is StateLayout


def test_state_layout_addresses_the_sub_models():
    gan = ganzoo.build_gan("sndcgan", resolution=RES, ema_decay=0.9, seed=0)
    layout = gan.state_layout
    assert isinstance(layout, StateLayout) and gan.state_layout is layout  # cached
    d = gan.discriminator
    us = [d.non_trainable_variables[i] for i in layout.d_sn_u]
    assert us and all(v.name == "u" for v in us)
    assert all(d.trainable_variables[i].name == "kernel" for i in layout.d_kernels)
    assert len(layout.ema_sources) == len(gan.generator.variables) == len(layout.ema)
    # restart_power_iteration takes the u vectors, and only them, from the source
    buffers, source = list(range(len(d.non_trainable_variables))), ["src"] * len(d.non_trainable_variables)
    restarted = layout.restart_power_iteration(buffers, source)
    assert [i for i, v in enumerate(restarted) if v == "src"] == layout.d_sn_u
    gan.compile()  # a new compile (new optimizers) builds a new layout
    assert gan.state_layout is not layout


def test_optimizer_iterations_after_fit(rng):
    gan = ganzoo.build_gan("sndcgan", resolution=RES, seed=0, disc_iters=2, ema_decay=0.5)
    gan.fit(rng.uniform(0, 1, (8, RES, RES, 3)).astype("float32"), batch_size=8, verbose=0)
    assert gan.d_steps == 2 and gan.g_steps == 1
    d_opt = gan.discriminator_optimizer
    values = [v.value for v in d_opt.variables] if backend.BACKEND == "jax" else None
    assert int(ops.convert_to_numpy(backend.optimizer_iterations(d_opt, values))) == 2


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's unpack/pack of fit()'s state")
def test_jax_unpack_and_pack_are_inverse():
    from ganzoo.backend import jax as jax_backend

    gan = ganzoo.build_gan("sndcgan", resolution=RES, ema_decay=0.9, seed=0)
    layout = gan.state_layout
    trainable = [f"t{i}" for i in range(len(gan.trainable_variables))]
    non_trainable = [f"n{i}" for i in range(len(gan.non_trainable_variables))]
    optimizer = [f"o{i}" for i in range(len(gan.optimizer.variables))]
    values = jax_backend.unpack(layout, trainable, non_trainable, optimizer)
    assert values["noise"] == f"n{layout.noise}" and len(values["g_opt"]) == layout.n_g_opt
    assert jax_backend.pack(layout, values, trainable, non_trainable) == (trainable, non_trainable, optimizer)


def test_sample_equals_the_plain_forward_pass():
    """Generator.sample (JAX: one compiled forward pass per batch shape) gives the images of
    the generator's eager call, batch by batch."""
    generator = build_generator("sndcgan", resolution=RES)
    z = sample_noise(5, generator.z_dim, seed=4)
    plain = np.concatenate(
        [ops.convert_to_numpy(generator(z[i : i + 2], training=False)) for i in range(0, 5, 2)]
    )
    images = generator.sample(5, seed=4, batch_size=2)
    assert images.dtype == np.float32 and images.shape == (5, RES, RES, 3)
    np.testing.assert_allclose(images, plain, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(generator.sample(5, seed=4, batch_size=2), images)  # deterministic
    np.testing.assert_allclose(generator.sample(5, z=z), plain, rtol=1e-5, atol=1e-6)
    if backend.BACKEND == "jax":
        assert generator.predict_function is not None  # compiled once, kept by the model
