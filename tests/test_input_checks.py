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
