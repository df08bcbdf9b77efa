"""SAGAN's self-attention block (ganzoo/layers/attention.py) against a float64 NumPy port of
compare_gan's arch_ops.non_local_block, its placement in the ResNet families, and the recipe."""
import keras
import numpy as np
import pytest

import ganzoo
from ganzoo.architectures import build_generator
from ganzoo.layers import SelfAttention
from ganzoo.recipe import Recipe, RecipeError


def _np_non_local_block(x, theta_k, phi_k, g_k, attn_k, sigma):
    """compare_gan master arch_ops.non_local_block, in NumPy: 1x1 convs as matmuls, 2x2 max pool."""
    n, h, w, c = x.shape

    def conv(t, kernel):
        return t @ kernel[0, 0]

    def pool(t):
        return t.reshape(n, h // 2, 2, w // 2, 2, t.shape[-1]).max(axis=(2, 4))

    theta = conv(x, theta_k).reshape(n, h * w, c // 8)
    phi = pool(conv(x, phi_k)).reshape(n, -1, c // 8)
    g = pool(conv(x, g_k)).reshape(n, -1, c // 2)
    logits = theta @ phi.transpose(0, 2, 1)
    attn = np.exp(logits - logits.max(-1, keepdims=True))
    attn /= attn.sum(-1, keepdims=True)
    attn_g = (attn @ g).reshape(n, h, w, c // 2)
    return x + sigma * conv(attn_g, attn_k)


def test_self_attention_matches_compare_gans_non_local_block(rng):
    x = rng.normal(size=(2, 8, 6, 16)).astype("float32")  # H != W catches a transposed reshape
    layer = SelfAttention(name="attention")
    out = np.asarray(layer(x))
    np.testing.assert_array_equal(out, x)  # sigma starts at 0: the identity
    layer.sigma.assign(0.7)
    kernels = [np.asarray(conv.kernel, np.float64) for conv in (layer.theta, layer.phi, layer.g, layer.attn_g)]
    assert [k.shape for k in kernels] == [(1, 1, 16, 2), (1, 1, 16, 2), (1, 1, 16, 8), (1, 1, 8, 16)]
    assert not any(conv.use_bias for conv in (layer.theta, layer.phi, layer.g, layer.attn_g))
    want = _np_non_local_block(x.astype(np.float64), *kernels, 0.7)
    np.testing.assert_allclose(np.asarray(layer(x)), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="channels divisible by 8 and an even height"):
        SelfAttention()(np.zeros((1, 5, 4, 16), "float32"))


def _trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def test_placed_after_the_named_block_in_g_and_d():
    plain = ganzoo.build_gan("resnet_cifar", seed=0)
    gan = ganzoo.build_gan("resnet_cifar", self_attention=16, seed=0)
    g, d = gan.generator, gan.discriminator
    # G: 4 -> 8 -> 16 -> 32, after block 2 (index 1); D: 32 -> 16 -> 8 -> 8 -> 8, after block 0.
    assert (g.attention_after, d.attention_after) == (1, 0)
    # 1x1 convs to C/8, C/8, C/2 and back to C, no biases, and sigma: 1.25 C^2 + 1 weights.
    assert _trainable_count(g) - _trainable_count(plain.generator) == 1.25 * 256**2 + 1
    assert _trainable_count(d) - _trainable_count(plain.discriminator) == 1.25 * 128**2 + 1
    # A spectrally normalised D's block is too; G has no spectral norm anywhere.
    assert isinstance(d.attention.theta, ganzoo.layers.SpectralNormalization)
    assert isinstance(g.attention.theta, keras.layers.Conv2D)
    assert g.get_config()["self_attention"] == 16 and "self_attention" not in plain.generator.get_config()


def test_training_reaches_sigma_and_the_weights_and_preset_round_trip(rng, tmp_path):
    gan = ganzoo.build_gan("resnet_cifar", self_attention=8, seed=1)
    images = rng.uniform(0, 1, size=(4, 32, 32, 3)).astype("float32")
    logs = gan.train_on_batch(images, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    # One Adam step moves sigma off 0 in both networks: the gradient flows through the block.
    assert float(gan.generator.attention.sigma) != 0 and float(gan.discriminator.attention.sigma) != 0
    path = str(tmp_path / "g.weights.h5")
    gan.generator.save_weights(path)
    other = build_generator("resnet_cifar", self_attention=8)
    other.load_weights(path)
    np.testing.assert_allclose(other.sample(2, seed=3), gan.generator.sample(2, seed=3), atol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(gan.generator))
    assert restored.self_attention == 8 and restored.attention_after == 0

    # A preset of it (the recipe left to take the data's resolution): the generator alone, the GAN
    # to fine-tune, and the plain-Keras generator.keras all compute the trained generator.
    from ganzoo.zoo.preset import save_preset

    recipe = Recipe("resnet_cifar", self_attention=8, batch_size=4, steps=1)
    assert recipe.resolution is None
    folder = tmp_path / "preset"
    save_preset(gan, folder, name="sagan-test", dataset="synthetic", recipe=recipe.to_dict(),
                num_samples=4)
    z = np.random.default_rng(5).uniform(-1, 1, (3, 128)).astype("float32")
    want = keras.ops.convert_to_numpy(gan.generator(z, training=False))
    generator = ganzoo.load(str(folder))
    finetune = ganzoo.load(str(folder), with_discriminator=True)
    plain = keras.saving.load_model(str(folder / "generator.keras"))  # safe mode: built-in layers
    assert generator.self_attention == finetune.discriminator.self_attention == 8
    for model in (generator, finetune.generator, plain):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(z, training=False)), want)


@pytest.mark.parametrize("fields, message", [
    (dict(architecture="sndcgan", self_attention=16), "placed in the ResNet families"),
    (dict(architecture="resnet_cifar", self_attention=32), "only at 8, 16"),
    (dict(architecture="resnet19", self_attention=128), "only at 8, 16, 32, 64"),
])
def test_recipe_refuses_a_side_without_blocks(fields, message):
    with pytest.raises(RecipeError, match=message):
        Recipe(**fields)
    assert Recipe.from_dict(Recipe("resnet19", self_attention=64).to_dict()).self_attention == 64
