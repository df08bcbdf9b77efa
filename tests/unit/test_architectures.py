"""Parameter counts (REFERENCE.md table), shapes, value ranges, configs and bad input."""
import keras
import numpy as np
import pytest
from keras import ops

from ganzoo.architectures import (
    ARCHITECTURES,
    architecture_name,
    build_discriminator,
    build_generator,
)


def _count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


PAPER_COUNTS = [
    ("sndcgan", 32, 3_828_739, 5_860_865),
    ("sndcgan", 128, 19_926_019, 5_983_745),
    ("resnet19", 128, 13_786_115, 15_086_529),
    ("resnet_cifar", 32, 5_849_603, 1_483_137),
]


@pytest.mark.parametrize("architecture,resolution,g_count,d_count", PAPER_COUNTS)
def test_parameter_counts_match_the_paper(architecture, resolution, g_count, d_count):
    generator = build_generator(architecture, resolution)
    discriminator = build_discriminator(architecture, resolution, normalization="spectral")
    assert _count(generator) == g_count
    assert _count(discriminator) == d_count
    assert generator.image_shape == (resolution, resolution, 3)


@pytest.mark.parametrize("normalization", ["none", "batch", "layer", "spectral", "spectral_layer"])
def test_resnet_cifar_discriminator_normalizations(normalization, rng):
    d = build_discriminator("resnet_cifar", 32, normalization=normalization)
    out = d(rng.uniform(size=(2, 32, 32, 3)).astype("float32"), training=True)
    assert tuple(out.shape) == (2, 1)
    has_sn = any(v.name == "u" for v in d.non_trainable_variables)
    assert has_sn == (normalization in ("spectral", "spectral_layer"))
    # batch/layer norm add gamma and beta per channel (the first norm sees the 3 image channels);
    # spectral norm adds no trainable weights
    extra = _count(d) - 1_483_137
    assert extra == (0 if normalization in ("none", "spectral") else 2 * (3 + 7 * 128))


@pytest.mark.parametrize("architecture,resolution", [("sndcgan", 32), ("sndcgan", 16), ("resnet_cifar", 32)])
def test_generator_outputs_images_in_unit_range(architecture, resolution):
    generator = build_generator(architecture, resolution)
    images = generator.sample(5, seed=0, batch_size=2)
    assert images.shape == (5, resolution, resolution, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    # batch size changes the convolution's summation order slightly, not the noise
    np.testing.assert_allclose(images, generator.sample(5, seed=0), atol=1e-5)
    assert not np.array_equal(images, generator.sample(5, seed=1))


def test_sample_noise_is_backend_independent():
    from ganzoo.architectures import sample_noise

    z = sample_noise(3, 4, seed=11)
    np.testing.assert_array_equal(z, np.random.default_rng(11).uniform(-1, 1, (3, 4)).astype("float32"))
    assert z.min() >= -1 and z.max() <= 1


def test_sndcgan_discriminator_sees_minus_one_to_one():
    d = build_discriminator("sndcgan", 16, normalization="none")
    # With every conv kernel zeroed the output is the dense bias chain; instead check the map:
    first = d.convs[0]
    x = np.full((1, 16, 16, 3), 0.5, dtype="float32")  # 0.5 maps to 0: first conv sees zeros
    out = ops.convert_to_numpy(first(x * 2.0 - 1.0))
    np.testing.assert_allclose(out, np.zeros_like(out) + ops.convert_to_numpy(first.bias), atol=1e-6)


@pytest.mark.parametrize("architecture,resolution", [("sndcgan", 16), ("resnet_cifar", 32)])
def test_config_round_trip(architecture, resolution, rng):
    generator = build_generator(architecture, resolution, z_dim=64)
    clone = generator.__class__.from_config(generator.get_config())
    clone.set_weights(generator.get_weights())
    z = rng.uniform(-1, 1, size=(2, 64)).astype("float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(clone(z)), ops.convert_to_numpy(generator(z)), rtol=1e-5, atol=1e-6
    )
    assert clone.z_dim == 64 and architecture_name(clone) == architecture
    discriminator = build_discriminator(architecture, resolution, normalization="none")
    d_clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(discriminator))
    assert d_clone.normalization == "none" and d_clone.resolution == resolution


def test_bad_input_errors():
    with pytest.raises(ValueError, match="valid choices: sndcgan, resnet19, resnet_cifar"):
        build_generator("dcgan")
    with pytest.raises(ValueError, match="Did you mean 'resnet19'"):
        build_generator("resnet_19x")
    for norm in ("batch", "layer", "spectral_layer"):
        with pytest.raises(ValueError, match="'none' or 'spectral' only"):
            build_discriminator("sndcgan", 32, normalization=norm)
    with pytest.raises(ValueError, match="valid choices: none, batch, layer, spectral, spectral_layer"):
        build_discriminator("resnet_cifar", 32, normalization="instance")
    with pytest.raises(ValueError, match="divisible by 8"):
        build_generator("sndcgan", 30)
    with pytest.raises(ValueError, match="128x128"):
        build_generator("resnet19", 64)
    with pytest.raises(ValueError, match="32x32"):
        build_discriminator("resnet_cifar", 64)
    with pytest.raises(ValueError, match="num must be"):
        build_generator("sndcgan", 8).sample(0)
    assert set(ARCHITECTURES) == {"sndcgan", "resnet19", "resnet_cifar", "mlp2d"}
