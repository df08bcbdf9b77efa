"""Argument checks of generate()/sample() and of training batches: refused with the fix, never
rounded, never a raw TypeError from deep inside NumPy or Keras."""
import numpy as np
import pytest

import ganzoo
from ganzoo.architectures import build_generator, sample_noise


@pytest.fixture(scope="module")
def gan():
    return ganzoo.build_gan("sndcgan", resolution=32, seed=0)


@pytest.mark.parametrize("kwargs,message", [
    ({"num": 2.5}, r"num must be a positive integer .* got 2\.5 of type float"),
    ({"num": None}, "num must be a positive integer .* got None"),
    ({"num": "4"}, "num must be a positive integer .* got '4' of type str"),
    ({"num": 0}, "num must be a positive integer .* got 0"),
    ({"num": True}, "num must be a positive integer"),
    ({"num": 2, "seed": -1}, "seed must be None or a non-negative integer; got -1"),
    ({"num": 2, "seed": 1.5}, r"seed .* got 1\.5 of type float"),
    ({"num": 2, "seed": "0"}, "seed .* got '0' of type str"),
    ({"num": 2, "batch_size": 0}, "batch_size must be a positive integer; got 0"),
])
def test_generate_refuses_bad_arguments(gan, kwargs, message):
    with pytest.raises(ValueError, match=f"generate: {message}"):
        gan.generate(**kwargs)
    with pytest.raises(ValueError, match=f"sample: {message}"):
        gan.generator.sample(**kwargs)


def test_generate_accepts_numpy_integers(gan):
    images = gan.generate(np.int64(2), seed=np.uint32(3), batch_size=np.int32(1))
    assert images.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(images, gan.generate(2, seed=3), atol=1e-6)  # batch round-off
    with pytest.raises(ValueError, match="sample_noise: seed"):
        sample_noise(2, 8, seed=-5)


def test_training_on_uint8_images_is_refused(gan):
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"dtype uint8.*divide by 255: "
                                         r"images.astype\('float32'\) / 255"):
        gan.fit(images, batch_size=4, epochs=1, verbose=0)


def test_generator_weights_of_another_resolution_through_the_zoo_wrapper(tmp_path):
    """What ganzoo.load meets when published files and config disagree: a clear error naming
    the model, not Keras' list of 'objects that could not be loaded'."""
    path = tmp_path / "g64.weights.h5"
    build_generator("sndcgan", resolution=64).save_weights(str(path))
    with pytest.raises(ValueError, match=r"does not fit the model 'generator' "
                                         r"\(SNDCGANGenerator, resolution 32, z_dim 128\)"):
        build_generator("sndcgan", resolution=32).load_weights(str(path))


# ------------------------------------------------------------- fit(): range of the first batch
def _images(n=4, low=0.0, high=1.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, (n, 32, 32, 3)).astype("float32")


@pytest.mark.parametrize("images,message", [
    (_images(high=255.0), r"have values in \[.*, 25\d.*\].*look like 0\.\.255 pixel values in a float "
                          r"array: divide by 255, images / 255\.0"),
    (_images(low=-1.0), r"have values in \[-0\.9.*look like \[-1, 1\] images: map them with "
                        r"\(images \+ 1\) / 2"),
    (_images(low=-3.0, high=3.0), r"have values .* rescale them into \[0, 1\]"),
    (np.full((4, 32, 32, 3), np.nan, "float32"), "contain NaN or infinite values"),
])
def test_fit_refuses_float_images_outside_0_1(gan, images, message):
    steps = gan.d_steps
    with pytest.raises(ValueError, match=r"GAN\.fit: the training images \(first batch\) " + message):
        gan.fit(images, batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"GAN\.fit: the training images"):  # a dict batch too
        gan.fit({"images": images}, None, 4, 1, 0)  # batch_size etc. by position
    assert gan.d_steps == steps  # refused before any step


def test_fit_checks_the_first_batch_of_tensors(gan):
    from keras import ops

    with pytest.raises(ValueError, match="look like 0..255 pixel values"):
        gan.fit(ops.convert_to_tensor(_images(high=255.0)), batch_size=4, epochs=1, verbose=0)


def test_fit_checks_only_the_first_batch():
    """The check reads batch_size images (free per step), not the whole array."""
    from ganzoo.gan import _first_images

    images = np.concatenate([_images(8), _images(8, high=255.0)])
    assert _first_images(images, 8).shape == (8, 32, 32, 3)
    assert _first_images(images, None).shape == (16, 32, 32, 3)  # Keras' default 32 > 16
    assert _first_images({"images": images, "z": None}, 4).shape == (4, 32, 32, 3)
    assert _first_images(iter([images]), 4) is None


# ---------------------------------------------- fit(): input that never says where it ends
def _batches():
    while True:
        yield (_images(4),)  # Keras wants tuples from generators


def test_fit_refuses_generators_without_steps_per_epoch(gan):
    steps = gan.d_steps
    with pytest.raises(ValueError, match="cannot tell where a Python generator or iterator ends.*"
                                         "pass steps_per_epoch"):
        gan.fit(_batches(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Python generator or iterator"):
        gan.fit(iter([(_images(4),)]), verbose=0)
    assert gan.d_steps == steps


def test_fit_refuses_tf_data_of_unknown_length_without_steps_per_epoch(gan):
    tf = pytest.importorskip("tensorflow")
    dataset = tf.data.Dataset.from_tensor_slices(_images(8)).batch(4).filter(lambda x: True)
    assert int(dataset.cardinality()) == int(tf.data.UNKNOWN_CARDINALITY)
    with pytest.raises(ValueError, match=r"unknown cardinality.*assert_cardinality.*"
                                         r"pass steps_per_epoch"):
        gan.fit(dataset, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="never ends"):
        gan.fit(dataset.repeat(), epochs=1, verbose=0)


def test_fit_refuses_an_infinite_py_dataset_without_steps_per_epoch(gan):
    import keras

    class Endless(keras.utils.PyDataset):
        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            return (_images(4),)

    with pytest.raises(ValueError, match=r"PyDataset declares itself infinite.*pass steps_per_epoch"):
        gan.fit(Endless(), epochs=1, verbose=0)


def test_fit_trains_on_a_generator_with_steps_per_epoch(gan):
    import keras

    steps = gan.d_steps
    if keras.backend.backend() == "tensorflow":  # traced for the generator's unknown batch size
        with pytest.raises(ValueError, match=r"no fixed size \(batch dimension None\).*"
                                             r"drop_remainder=True.*from_generator"):
            gan.fit(_batches(), epochs=1, steps_per_epoch=2, verbose=0)
        assert gan.d_steps == steps
        return
    history = gan.fit(_batches(), epochs=1, steps_per_epoch=2, verbose=0)
    assert gan.d_steps == steps + 2 and np.isfinite(history.history["d_loss"]).all()


def test_fit_refuses_batches_of_no_fixed_size():
    tf = pytest.importorskip("tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("JAX steps see concrete arrays: every batch has its size")
    gan = ganzoo.build_gan("sndcgan", resolution=8, seed=0)
    images = np.random.default_rng(0).uniform(0, 1, (6, 8, 8, 3)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4)  # last batch of 2
    with pytest.raises(ValueError, match=r"no fixed size.*drop_remainder=True"):
        gan.fit(dataset, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"no fixed size.*length is a multiple of batch_size"):
        gan.fit(images, batch_size=4, epochs=1, verbose=0)  # NumPy with a last batch of 2
    gan.fit(tf.data.Dataset.from_tensor_slices(images).batch(4, drop_remainder=True), verbose=0)
    assert gan.d_steps == 1
