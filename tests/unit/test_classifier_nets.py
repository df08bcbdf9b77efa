"""The airbench94 classifier recipe (ganzoo/metrics/classifier_nets.py) against independent
computations written from airbench's source (github.com/KellerJordan/cifar10-airbench,
airbench/utils.py): its optimiser's param groups, whitening-bias freeze and lookahead
(torch.optim.SGD fed the same gradients), its learning-rate schedule (get_lr), its whitening
(the covariance it removes) and its test-time augmentation (NumPy views)."""
import numpy as np
import pytest

from ganzoo.metrics import classifier_nets as nets
from ganzoo.metrics import gan_train_test as gtt

K, RES = 3, 16


def class_images(labels, seed, res=RES):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.3, size=(len(labels), res, res, 3)).astype("float32")
    images[np.arange(len(labels)), :, :, labels] += 0.6  # class k: channel k bright
    return images


def airbench_get_lr(step, total, lr_peak=0.23, lr_end=0.07):
    """airbench/utils.py train(): get_lr, as written there."""
    warmup_steps = int(total * lr_peak)
    warmdown_steps = total - warmup_steps
    if step < warmup_steps:
        frac = step / warmup_steps
        return 0.2 * (1 - frac) + 1.0 * frac
    frac = (step - warmup_steps) / warmdown_steps
    return 1.0 * (1 - frac) + lr_end * frac


def test_triangular_schedule_is_airbenchs():
    for total in (10, 49, 784):
        schedule = nets.TriangularSchedule(1.5, total)
        got = [float(schedule(step)) for step in range(total)]
        assert got == pytest.approx([1.5 * airbench_get_lr(step, total) for step in range(total)], rel=1e-5, abs=1e-6)


def test_airbench_sgd_is_airbenchs_param_groups_freeze_and_lookahead():
    """Seven steps of AirbenchSGD on a small airbench net against torch.optim.SGD with airbench's
    two param groups (batch-norm offsets: 64x the learning rate, weight_decay = wd / lr_biases;
    the rest: weight_decay = wd / lr), the whitening bias skipped after 2 steps (requires_grad
    False), and LookaheadState's update every 5 steps, fed the data-loss gradients."""
    torch = pytest.importorskip("torch")
    import keras

    labels = np.arange(12) % K
    images = class_images(labels, 3)
    targets = np.eye(K, dtype="float32")[labels]
    decay = gtt.AIRBENCH_RECIPE["weight_decay"]
    lr, total, freeze, every = 0.05, 10, 2, 5
    model = nets.airbench(K, RES, 0, images, widths=(8, 8, 8), weight_decay=decay)
    model.compile(optimizer=nets.AirbenchSGD(lr, momentum=0.85, nesterov=True, offset_lr_multiplier=64.0,
                                             frozen_after={nets.WHITEN_BIAS: freeze}, lookahead_every=every,
                                             total_steps=total),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2))
    # The data-loss gradient, independently of the recipe's optimiser: one plain SGD step of learning
    # rate 1 on an undecayed copy moves each weight by -gradient.
    probe = nets.airbench(K, RES, 0, images, widths=(8, 8, 8), weight_decay=0.0)
    probe.compile(optimizer=keras.optimizers.SGD(1.0),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2))
    variables = model.trainable_variables
    start = [np.array(v.numpy(), dtype="float64") for v in variables]
    params = [torch.tensor(w.copy()) for w in start]
    names = [v.path for v in variables]
    offsets = [p for p, name in zip(params, names) if name.endswith("/beta")]
    others = [p for p, name in zip(params, names) if not name.endswith("/beta")]
    whiten_bias = params[names.index(f"{nets.WHITEN_BIAS}/bias")]
    assert len(offsets) == 6 and len(others) == 1 + 6 + 1  # the whitening bias, 6 convs, the dense kernel
    wd = decay * lr  # airbench: lr and wd per step; the groups' weight_decay = wd / their lr
    sgd = torch.optim.SGD([dict(params=offsets, lr=lr * 64, weight_decay=wd / (lr * 64)),
                           dict(params=others, lr=lr, weight_decay=wd / lr)], momentum=0.85, nesterov=True)
    lookahead = [p.clone() for p in params]  # LookaheadState: a copy of the initial net
    for step in range(1, 8):
        probe.set_weights(model.get_weights())
        before = [v.numpy() for v in probe.trainable_variables]
        probe.train_on_batch(images, targets)
        for p, b, v in zip(params, before, probe.trainable_variables):
            p.grad = torch.tensor(np.float64(b) - np.float64(v.numpy()))
        if step > freeze:
            whiten_bias.grad = None  # requires_grad False: SGD skips it
        sgd.step()
        if step % every == 0:
            decay_now = 0.95**5 * (step / total) ** 3
            for average, p in zip(lookahead, params):
                average.lerp_(p, 1 - decay_now)
                p.copy_(average)
        model.train_on_batch(images, targets)
    moved = np.concatenate([(v.numpy() - s).ravel() for v, s in zip(variables, start)])
    expected = np.concatenate([(p.numpy() - s).ravel() for p, s in zip(params, start)])
    assert np.linalg.norm(moved - expected) < 1e-4 * np.linalg.norm(expected)
    index = names.index(f"{nets.WHITEN_BIAS}/bias")
    assert not np.allclose(whiten_bias.numpy(), start[index])  # it moved in its 2 steps, then stayed
    # The end of training (Keras' finalize_variable_values): the weights become the lookahead copy,
    # airbench's final update(decay=1.0).
    model.optimizer.finalize_variable_values(variables)
    final = np.concatenate([v.numpy().ravel() for v in variables])
    copy = np.concatenate([a.numpy().ravel() for a in lookahead])
    assert np.linalg.norm(final - copy) < 1e-4 * np.linalg.norm(copy - np.concatenate([s.ravel() for s in start]))


def test_airbench_sgd_config_round_trips():
    optimizer = nets.AirbenchSGD(nets.TriangularSchedule(1.5, 100), momentum=0.85, nesterov=True,
                                 offset_lr_multiplier=64.0, frozen_after={"whiten_bias": 30}, lookahead_every=5,
                                 total_steps=100)
    again = nets.AirbenchSGD.from_config(optimizer.get_config())
    assert again.get_config() == optimizer.get_config()
    assert again.use_ema and again.ema_overwrite_frequency == 5 and again.frozen_after == {"whiten_bias": 30}


def test_whitening_kernel_whitens_the_patches():
    """The layer's first 12 outputs on the images' 2x2 patches have covariance diag(l / (l + eps))
    (l: the patch covariance's eigenvalues): whitened, up to the eps airbench adds."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, size=(200, 12, 12, 1))
    images = np.clip(np.concatenate([base, 0.5 * base + 0.2, rng.uniform(0, 1, size=(200, 12, 12, 1))], -1), 0, 1)
    kernel = nets.whitening_kernel(images, eps=5e-4).astype("float64")
    assert kernel.shape == (2, 2, 3, 24)
    np.testing.assert_allclose(kernel[..., 12:], -kernel[..., :12])
    x = (images - nets.AIRBENCH_MEAN) / nets.AIRBENCH_STD
    patches = np.stack([x[:, i:i + 11, j:j + 11] for i in (0, 1) for j in (0, 1)], axis=3).reshape(-1, 12)
    covariance = patches.T @ patches / len(patches)
    eigenvalues = np.sort(np.linalg.eigvalsh(covariance))[::-1]
    out = patches @ kernel[..., :12].reshape(12, 12)
    np.testing.assert_allclose(out.T @ out / len(out), np.diag(eigenvalues / (eigenvalues + 5e-4)), atol=1e-6)


def test_test_time_augmentation_is_the_mean_of_six_views():
    import keras

    inputs = keras.Input((RES, RES, 3))
    net = keras.Model(inputs, keras.layers.Dense(K)(keras.layers.Flatten()(inputs)))
    images = class_images(np.arange(5) % K, 1)
    tta = nets.with_test_time_augmentation(net)

    def logits(x):
        return net.predict(x, verbose=0)

    def mirrored(x):  # airbench's infer_mirror
        return 0.5 * logits(x) + 0.5 * logits(x[:, :, ::-1])

    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")  # F.pad(mode="reflect")
    shifted = 0.5 * (mirrored(padded[:, 0:RES, 0:RES]) + mirrored(padded[:, 2:RES + 2, 2:RES + 2]))
    np.testing.assert_allclose(tta.predict(images, verbose=0), 0.5 * mirrored(images) + 0.5 * shifted, atol=1e-5)


def test_airbench_recipe_trains_saves_and_loads(tmp_path):
    labels = np.arange(96) % K
    classifier = gtt.train_classifier(class_images(labels, 0), labels, K, epochs=3, batch_size=16, recipe="airbench94")
    test_labels = np.arange(30) % K
    test_images = class_images(test_labels, 7)
    assert gtt.accuracy(classifier, test_images, test_labels) > 0.9
    record = gtt.save_classifier(classifier, tmp_path / "c.keras", {"real_test_accuracy": 1.0})
    loaded, info = gtt.load_classifier(tmp_path / "c.keras", num_classes=K, image_shape=(RES, RES, 3))
    assert info["classifier_sha256"] == record["sha256"]
    np.testing.assert_allclose(loaded.predict(test_images, verbose=0), classifier.predict(test_images, verbose=0),
                               atol=1e-6)


def test_airbench_recipe_refuses_what_it_cannot_do():
    labels = np.arange(12) % K
    with pytest.raises(ValueError, match="at least 16x16.*resnet"):
        gtt.train_classifier(class_images(labels, 0, res=8), labels, K, epochs=1, recipe="airbench94")
    with pytest.raises(ValueError, match="depth applies to the resnet recipe.*drop depth"):
        gtt.train_classifier(class_images(labels, 0), labels, K, epochs=1, depth=8, recipe="airbench94")
    with pytest.raises(ValueError, match="unknown classifier recipe 'vgg'; choose from resnet20, airbench94"):
        gtt.train_classifier(class_images(labels, 0), labels, K, epochs=1, recipe="vgg")
