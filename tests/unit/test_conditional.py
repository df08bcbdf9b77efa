"""Class-conditional models: conditional batch norm, the projection discriminator, labels in
training and sampling, parameter counts against a named reference, bad input, save/load.

Numerics are checked against NumPy (closed forms); parameter counts against mimicry's
SNGAN-projection CIFAR10 ResNet (kwotsin/mimicry, torch_mimicry/nets/cgan_pd/cgan_pd_32.py),
counted here layer by layer from that file's layer list.
"""
import numpy as np
import pytest

import ganzoo
from ganzoo.architectures import build_discriminator, build_generator, sample_labels, sample_noise
from ganzoo.layers.conditional import ClassProjection, ConditionalBatchNorm
from ganzoo.recipe import Recipe, RecipeError
from ganzoo.zoo import CIFAR10_CLASSES, class_index


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def _numpy_l2_normalize(x, epsilon=1e-12):
    return x / np.sqrt(max(float(np.sum(x * x)), epsilon))


# ------------------------------------------------------------------------------------- layers
def test_conditional_batch_norm_is_batch_norm_with_the_class_rows(rng):
    x = rng.normal(2.0, 3.0, size=(6, 4, 4, 5)).astype("float32")
    labels = np.array([0, 2, 1, 2, 0, 1])
    layer = ConditionalBatchNorm(3, epsilon=1e-5)
    condition = np.eye(3, dtype="float32")[labels]
    layer(x, condition, training=False)  # build
    gain = rng.normal(1.0, 0.5, size=(3, 5)).astype("float32")
    bias = rng.normal(0.0, 0.5, size=(3, 5)).astype("float32")
    layer.gain.assign(gain)
    layer.bias.assign(bias)
    out = np.asarray(layer(x, condition, training=True))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    want = (x - mean) / np.sqrt(var + 1e-5) * gain[labels][:, None, None, :] + bias[labels][:, None, None, :]
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    # Flat features (SNDCGAN's first batch norm is over its s*s*512 features).
    flat = x.reshape(6, -1)[:, :5]
    layer2 = ConditionalBatchNorm(3)
    out2 = np.asarray(layer2(flat, condition, training=True))
    want2 = (flat - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-5)  # gain 1, bias 0 at initialisation
    np.testing.assert_allclose(out2, want2, rtol=1e-4, atol=1e-4)


def test_shared_embedding_gain_is_one_plus_a_linear_map(rng):
    x = rng.normal(size=(4, 3)).astype("float32")
    e = rng.normal(size=(4, 7)).astype("float32")
    layer = ConditionalBatchNorm(7, shared=True)
    out = np.asarray(layer(x, e, training=True))
    wg, wb = np.asarray(layer.gain), np.asarray(layer.bias)
    normed = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    np.testing.assert_allclose(out, normed * (1.0 + e @ wg) + e @ wb, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_class_projection_is_the_inner_product_with_the_class_embedding(rng, spectral_norm):
    h = rng.normal(size=(5, 6)).astype("float32")
    labels = np.array([3, 0, 1, 3, 2])
    layer = ClassProjection(4, spectral_norm=spectral_norm)
    layer(h, labels, training=False)  # build
    if spectral_norm:
        kernel = np.asarray(layer.embed.layer.kernel, dtype="float64")
        u = np.asarray(layer.embed.u, dtype="float64")
    else:
        kernel = np.asarray(layer.embed.kernel, dtype="float64")
    out = np.asarray(layer(h, labels, training=False))
    embedding = kernel
    if spectral_norm:  # one power iteration from the stored u, as compare_gan
        v = _numpy_l2_normalize(kernel.T @ u)
        u2 = _numpy_l2_normalize(kernel @ v)
        sigma = (u2.T @ kernel @ v).item()
        embedding = kernel / sigma
        assert 0 < sigma <= np.linalg.svd(kernel, compute_uv=False)[0] + 1e-9  # power iteration: from below
    want = np.sum(embedding[labels] * h, axis=1, keepdims=True)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------- parameter counts
def _conv(k, cin, cout):
    return k * k * cin * cout + cout


def mimicry_sngan_projection_cifar10(num_classes=10, nz=128, ngf=256, ndf=128):
    """Trainable parameters of mimicry's cGAN-PD 32x32 ResNet, from its layer list: G = l1, three
    GBlocks (two 3x3 convs, a 1x1 learnable shortcut, two ConditionalBatchNorm2d whose embedding
    holds 2 * channels per class), b5 BatchNorm2d, c5; D = DBlockOptimized (3x3, 3x3, 1x1
    shortcut), DBlock(down, 1x1 shortcut), two DBlocks without shortcut conv, l5, l_y."""
    gblock = 2 * _conv(3, ngf, ngf) + _conv(1, ngf, ngf) + 2 * num_classes * 2 * ngf
    g = (nz * 16 * ngf + 16 * ngf) + 3 * gblock + 2 * ngf + _conv(3, ngf, 3)
    d = (_conv(3, 3, ndf) + _conv(3, ndf, ndf) + _conv(1, 3, ndf)
         + 2 * _conv(3, ndf, ndf) + _conv(1, ndf, ndf)
         + 2 * (2 * _conv(3, ndf, ndf))
         + (ndf + 1) + num_classes * ndf)
    return g, d


def test_parameter_counts_match_mimicry_sngan_projection_up_to_the_papers_3x3_shortcuts():
    g_ref, d_ref = mimicry_sngan_projection_cifar10()
    assert (g_ref, d_ref) == (4_304_387, 1_055_105)  # mimicry's published ~4.3M / ~1.0M
    generator = build_generator("resnet_cifar", num_classes=10)
    discriminator = build_discriminator("resnet_cifar", num_classes=10)
    # The one difference: compare_gan's (and the GAN Landscape's) ResNet blocks always have a 3x3
    # shortcut conv; mimicry's have a 1x1 one where needed (none in D's last two blocks).
    g_shortcuts = 3 * (_conv(3, 256, 256) - _conv(1, 256, 256))
    d_shortcuts = ((_conv(3, 3, 128) - _conv(1, 3, 128)) + (_conv(3, 128, 128) - _conv(1, 128, 128))
                   + 2 * _conv(3, 128, 128))
    assert _trainable(generator) == g_ref + g_shortcuts == 5_877_251
    assert _trainable(discriminator) == d_ref + d_shortcuts == 1_484_417
    # Conditioning adds only the class tables and the projection embedding to the unconditional nets.
    unconditional_g = _trainable(build_generator("resnet_cifar"))
    assert _trainable(generator) - unconditional_g == 3 * 2 * (10 - 1) * 2 * 256
    assert _trainable(discriminator) - _trainable(build_discriminator("resnet_cifar")) == 10 * 128


def test_sndcgan_conditional_parameter_counts():
    g0, g = build_generator("sndcgan", resolution=8), build_generator("sndcgan", resolution=8, num_classes=3)
    d0, d = build_discriminator("sndcgan", resolution=8), build_discriminator("sndcgan", resolution=8, num_classes=3)
    bn_features = 512 + 256 + 128 + 64  # fc_bn over 1*1*512 features at 8x8, then the three deconvs'
    assert _trainable(g) - _trainable(g0) == (3 - 1) * 2 * bn_features
    assert _trainable(d) - _trainable(d0) == 3 * 512  # the projection over the flat 1*1*512 features
    shared = build_generator("sndcgan", resolution=8, num_classes=3, class_embedding=4)
    assert _trainable(shared) - _trainable(g0) == 3 * 4 + (4 - 1) * 2 * bn_features


def test_unconditional_networks_are_unchanged_by_num_classes_zero():
    for architecture, resolution in (("sndcgan", 8), ("resnet_cifar", 32)):
        a = build_generator(architecture, resolution=resolution)
        b = build_generator(architecture, resolution=resolution, num_classes=0)
        assert [(v.path, v.shape) for v in a.variables] == [(v.path, v.shape) for v in b.variables]
        assert "num_classes" not in a.get_config()  # configs written before conditioning stay the same


# --------------------------------------------------------------------------------------- labels
@pytest.fixture(scope="module")
def conditional_gan():
    return ganzoo.build_gan("sndcgan", resolution=8, num_classes=3, loss="hinge", disc_iters=2, seed=0)


def test_generate_with_labels(conditional_gan, rng):
    gan = conditional_gan
    for layer in gan.generator._flatten_layers():  # class tables that differ (initially 1 and 0)
        if isinstance(layer, ConditionalBatchNorm):
            layer.gain.assign(rng.normal(1.0, 0.5, size=layer.gain.shape).astype("float32"))
            layer.bias.assign(rng.normal(0.0, 0.5, size=layer.bias.shape).astype("float32"))
    z = sample_noise(3, gan.z_dim, seed=5)
    one = gan.generate(3, seed=5, labels=[0, 1, 2])
    assert one.shape == (3, 8, 8, 3) and one.dtype == np.float32
    np.testing.assert_allclose(one, gan.generate(3, z=z, labels=np.array([0, 1, 2])), atol=1e-6)
    # An integer broadcasts; (N, 1) labels are accepted; each class gives its own images.
    same = gan.generate(3, seed=5, labels=1)
    np.testing.assert_allclose(same[1], one[1], atol=1e-6)
    np.testing.assert_allclose(gan.generate(3, seed=5, labels=[[0], [1], [2]]), one, atol=1e-6)
    assert np.abs(same[0] - one[0]).max() > 1e-3
    # Batching does not change the images.
    np.testing.assert_allclose(gan.generate(3, seed=5, labels=[0, 1, 2], batch_size=2), one, atol=1e-5)
    # Without labels: uniform classes drawn from the seed (documented), the same z as with labels.
    drawn = sample_labels(64, 3, seed=5)
    assert drawn.dtype == np.int32 and set(drawn) == {0, 1, 2}
    np.testing.assert_allclose(gan.generate(3, seed=5), gan.generate(3, seed=5, labels=drawn[:3]), atol=1e-6)


def test_conditional_training_reads_labels_and_draws_fake_classes(rng):
    # (WGAN-GP with labels: tests/integration/test_conditional_cross_backend.py)
    gan = ganzoo.build_gan("sndcgan", resolution=8, num_classes=3, loss="hinge", disc_iters=1, seed=1)
    images = rng.uniform(0, 1, size=(6, 8, 8, 3)).astype("float32")
    labels = (np.arange(6) % 3).astype("int32")
    before = int(np.asarray(gan.noise_state)[1])
    logs = gan.train_on_batch(images, labels, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    # z and the fake classes: two draws of the counter (an unconditional step draws no classes:
    # its noise, and so its numbers, are unchanged).
    assert int(np.asarray(gan.noise_state)[1]) - before == 2
    # The same batch without its labels is refused, naming the fix.
    with pytest.raises(ValueError, match="carry no labels"):
        gan.train_on_batch(images, return_dict=True)



def test_training_grids_of_a_conditional_run_have_one_row_per_class(tmp_path, rng):
    """SampleGrid on a conditional GAN (it failed on JAX, which called G without labels): one row
    per class, num // classes images each from the fixed noise, as `ganzoo sample` draws them."""
    from PIL import Image

    from ganzoo.callbacks import SampleGrid
    from ganzoo.utils.images import save_grid

    gan = ganzoo.build_gan("sndcgan", resolution=8, num_classes=3, loss="hinge", disc_iters=1, seed=2)
    images = rng.uniform(0, 1, size=(8, 8, 8, 3)).astype("float32")
    gan.fit(images, (np.arange(8) % 3).astype("int32"), batch_size=4, epochs=1, verbose=0,
            callbacks=[SampleGrid(tmp_path / "samples", every=1, num=7)])
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_000000001.png", "step_000000002.png"]
    expected = save_grid(gan.generate(6, seed=0, labels=[0, 0, 1, 1, 2, 2]), tmp_path / "expected.png", columns=2)
    written = np.asarray(Image.open(tmp_path / "samples" / "step_000000002.png"), dtype="int16")
    assert written.shape == np.asarray(Image.open(expected)).shape  # 3 rows of 2
    assert np.abs(written - np.asarray(Image.open(expected), dtype="int16")).max() <= 1


@pytest.mark.parametrize("architecture, resolution", [("sndcgan", 8)])  # (ResNets: the same D.head)
def test_conditional_models_take_the_stabilisation_options(architecture, resolution, rng):
    """Issue 14's D options sit before D's last layer, where the projection reads its features:
    both together train, and feature matching's features do not depend on the class."""
    gan = ganzoo.build_gan(architecture, resolution=resolution, num_classes=3, minibatch_stddev=2,
                           minibatch_discrimination=4, g_objective="feature_matching", seed=2)
    images = rng.uniform(0, 1, size=(4, resolution, resolution, 3)).astype("float32")
    labels = np.array([0, 1, 2, 0], dtype="int32")
    logits, features = gan.discriminator(images, labels=labels, return_features=True)
    other, same = gan.discriminator(images, labels=(labels + 1) % 3, return_features=True)
    np.testing.assert_allclose(np.asarray(same), np.asarray(features), atol=1e-6)
    assert np.abs(np.asarray(other) - np.asarray(logits)).max() > 0  # the projection reads the class
    logs = gan.train_on_batch(images, labels, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    with pytest.raises(ValueError, match="no class-conditional form"):
        ganzoo.build_gan("mlp2d", num_classes=3)

# ------------------------------------------------------------------------------------ bad input
def test_bad_labels_are_refused_with_the_fix(conditional_gan):
    gan = conditional_gan
    with pytest.raises(ValueError, match="label 3 is out of range.*3 classes"):
        gan.generate(2, seed=0, labels=[0, 3])
    with pytest.raises(ValueError, match="label -1 is out of range"):
        gan.generate(2, seed=0, labels=-1)
    with pytest.raises(ValueError, match=r"shape \(2,\).*got shape \(3,\)"):
        gan.generate(2, seed=0, labels=[0, 1, 2])
    with pytest.raises(ValueError, match="integer class indices.*float"):
        gan.generate(2, seed=0, labels=[0.0, 1.0])
    with pytest.raises(ValueError, match="integer class indices.*bool"):
        gan.generate(2, seed=0, labels=[True, False])
    with pytest.raises(ValueError, match="integer class indices"):
        gan.generate(2, seed=0, labels=["frog", "cat"])
    unconditional = build_generator("sndcgan", resolution=8)
    with pytest.raises(ValueError, match="unconditional.*drop labels="):
        unconditional.sample(2, seed=0, labels=[0, 1])


def test_fit_refuses_bad_labels_before_training(conditional_gan, rng):
    images = rng.uniform(0, 1, size=(4, 8, 8, 3)).astype("float32")
    with pytest.raises(ValueError, match="label 5 is out of range.*3 classes"):
        conditional_gan.fit(images, np.array([0, 1, 5, 2]), batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="integer class indices.*argmax"):
        conditional_gan.fit(images, np.eye(3, dtype="float32")[[0, 1, 2, 0]], batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        conditional_gan.train_on_batch(images, np.zeros((4, 2), "int32"))


def test_mismatched_networks_and_recipes_are_refused():
    with pytest.raises(ValueError, match="same num_classes"):
        ganzoo.GAN(build_generator("sndcgan", resolution=8, num_classes=3),
                   build_discriminator("sndcgan", resolution=8))
    with pytest.raises(RecipeError, match="num_classes >= 2"):
        Recipe("sndcgan", num_classes=1)
    with pytest.raises(RecipeError, match="class_embedding"):
        Recipe("sndcgan", class_embedding=8)
    with pytest.raises(RecipeError, match="num_classes must be at least 0"):
        Recipe("sndcgan", num_classes=-2)
    import keras

    with pytest.raises(ValueError, match="with labels="):
        build_discriminator("sndcgan", resolution=8, num_classes=3)(keras.KerasTensor((1, 8, 8, 3)))


def test_class_names():
    assert class_index("frog", 10, CIFAR10_CLASSES) == 6 == class_index("Frog", 10, CIFAR10_CLASSES)
    assert class_index("7", 10, CIFAR10_CLASSES) == 7 == class_index(7, 10)
    with pytest.raises(ValueError, match="Unknown class 'frgo'.*airplane.*Did you mean 'frog'"):
        class_index("frgo", 10, CIFAR10_CLASSES)
    with pytest.raises(ValueError, match="class 10 is out of range"):
        class_index(10, 10, CIFAR10_CLASSES)
    with pytest.raises(ValueError, match="names are not known; give an index"):
        class_index("frog", 4)
    with pytest.raises(ValueError, match="unconditional"):
        class_index("frog", 0)


# ------------------------------------------------------------------------------------ save/load
def test_save_load_round_trips_a_conditional_gan(tmp_path):
    import keras

    gan = ganzoo.build_gan("sndcgan", resolution=8, num_classes=3, class_embedding=4, ema_decay=0.9, seed=2)
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.num_classes == 3 and loaded.generator.class_embedding == 4
    np.testing.assert_allclose(loaded.generate(3, seed=1, labels=[2, 1, 0]),
                               gan.generate(3, seed=1, labels=[2, 1, 0]), atol=1e-6)
    weights = str(tmp_path / "g.weights.h5")
    gan.generator.save_weights(weights)
    other = build_generator("sndcgan", resolution=8, num_classes=3, class_embedding=4)
    other.load_weights(weights)
    np.testing.assert_allclose(other.sample(2, seed=3, labels=1), gan.generator.sample(2, seed=3, labels=1),
                               atol=1e-6)


def test_preset_round_trip_and_sample_by_class(tmp_path, capsys):
    from ganzoo.cli.main import main as cli
    from ganzoo.zoo import load, save_preset

    gan = ganzoo.build_gan("sndcgan", resolution=8, num_classes=10, seed=3)
    folder = tmp_path / "cond-preset"
    save_preset(gan, folder, name="tiny-cond", dataset="cifar10", recipe=gan.recipe.to_dict(), num_samples=4)
    generator = load(str(folder))
    assert generator.num_classes == 10
    # samples.png: one row per class (4 // 10 -> one image each), said in metadata.json and the card.
    import json

    from PIL import Image

    from ganzoo.utils.images import save_grid

    samples = json.loads((folder / "metadata.json").read_text())["samples"]
    assert samples["num"] == 4 and samples["per_class"] == 1
    expected = save_grid(gan.generator.sample(10, seed=samples["seed"], labels=np.arange(10)), tmp_path / "e.png",
                         columns=1)
    written = np.asarray(Image.open(folder / "samples.png"), dtype="int16")
    assert written.shape == np.asarray(Image.open(expected)).shape  # 10 rows of 1
    assert np.abs(written - np.asarray(Image.open(expected), dtype="int16")).max() <= 1
    assert "one row per class, 1 image each" in (folder / "README.md").read_text()
    np.testing.assert_array_equal(generator.sample(3, seed=2, labels=[6, 0, 9]),
                                  gan.generator.sample(3, seed=2, labels=[6, 0, 9]))
    fine_tune = load(str(folder), with_discriminator=True)
    assert fine_tune.num_classes == 10 and fine_tune.discriminator.num_classes == 10

    out = tmp_path / "frogs.npz"
    assert cli(["sample", str(folder), "--class", "frog", "--num", "3", "--seed", "2", "--out", str(out),
                "--no-progress"]) == 0
    saved = np.load(out)
    np.testing.assert_array_equal(saved["labels"], [6, 6, 6])
    np.testing.assert_array_equal(saved["images"], gan.generator.sample(3, seed=2, labels=6))
    assert "class frog" in capsys.readouterr().out
    # No class: one row per class, --num // 10 images each, in class order.
    assert cli(["sample", str(folder), "--num", "20", "--out", str(tmp_path / "rows.npz"), "--no-progress"]) == 0
    rows = np.load(tmp_path / "rows.npz")
    np.testing.assert_array_equal(rows["labels"], np.repeat(np.arange(10), 2))
    assert "one row per class (2 each)" in capsys.readouterr().out
    # An unknown class name: the command fails naming the classes.
    assert cli(["sample", str(folder), "--class", "unicorn", "--out", str(tmp_path / "x.npz"),
                "--no-progress"]) != 0
    assert "Unknown class 'unicorn'; the classes are airplane, automobile" in capsys.readouterr().err


def test_train_refuses_data_with_more_classes_than_the_recipe(tmp_path, capsys):
    from ganzoo.cli.main import main as cli

    code = cli(["train", "--architecture", "sndcgan", "--resolution", "8", "--num_classes", "2",
                "--dataset", "synthetic:16", "--steps", "2", "--batch_size", "4", "--model_dir", str(tmp_path / "run")])
    assert code == 2
    assert "label 2 is out of range: this model has 2 classes" in capsys.readouterr().err
