"""GAN-train / GAN-test (ganzoo/metrics/gan_train_test.py) with tiny made-up data: classes whose
images differ by colour, "generators" that return such images for the asked classes (right or
shifted by one), and a depth-8 classifier of the recipe trained for a few epochs."""
import numpy as np
import pytest

from ganzoo.metrics import gan_train_test as gtt

K, RES = 3, 8


def class_images(labels, seed):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.3, size=(len(labels), RES, RES, 3)).astype("float32")
    images[np.arange(len(labels)), :, :, labels] += 0.6  # class k: channel k bright
    return images


class FakeGenerator:
    """Images of the asked classes (shift 0) or of the next class (shift 1: wrong labels)."""

    def __init__(self, num_classes=K, shift=0):
        self.num_classes, self.shift = num_classes, shift

    def sample(self, num, seed=None, batch_size=256, labels=None):
        if labels is None:
            labels = np.random.default_rng(seed).integers(0, K, size=num)
        return class_images((np.asarray(labels) + self.shift) % K, seed)


@pytest.fixture(scope="module")
def classifier():
    labels = np.arange(120) % K
    return gtt.train_classifier(class_images(labels, 0), labels, K, epochs=6, batch_size=16, depth=8, augment=False)


def test_classifier_recipe_parameter_count_is_resnet20s():
    # He et al.'s ResNet-20 with 1x1 projection shortcuts, counted layer by layer (BN: 4 per channel).
    conv = lambda k, i, o: k * k * i * o + o  # noqa: E731
    stem = conv(3, 3, 16) + 4 * 16
    stage1 = 3 * 2 * (conv(3, 16, 16) + 4 * 16)
    stage2 = conv(3, 16, 32) + conv(3, 32, 32) + 2 * 4 * 32 + conv(1, 16, 32) + 2 * 2 * (conv(3, 32, 32) + 4 * 32)
    stage3 = conv(3, 32, 64) + conv(3, 64, 64) + 2 * 4 * 64 + conv(1, 32, 64) + 2 * 2 * (conv(3, 64, 64) + 4 * 64)
    total = stem + stage1 + stage2 + stage3 + (64 * 10 + 10)
    assert gtt.build_classifier(10, 8, depth=20).count_params() == total == 274_442  # any resolution
    with pytest.raises(ValueError, match="6n \\+ 2"):
        gtt.build_classifier(10, 8, depth=10)


def test_gan_test_separates_right_from_wrong_labels(classifier):
    test_labels = np.arange(60) % K
    assert gtt.accuracy(classifier, class_images(test_labels, 9), test_labels) > 0.9
    right = gtt.gan_test(FakeGenerator(), classifier, 60, seed=1, real_accuracy=0.95)
    wrong = gtt.gan_test(FakeGenerator(shift=1), classifier, 60, seed=1)
    assert right["value"] > 0.9 and wrong["value"] < 0.1
    assert right["labels"] == "the generator's classes"
    assert right["protocol"]["classifier_sha256"] == gtt.classifier_sha256(classifier)
    assert right["protocol"]["classifier_real_accuracy"] == 0.95 and right["protocol"]["n_generated"] == 60
    # Unconditional: the classifier's own labels, reported as its mean confidence, and said so.
    unconditional = gtt.gan_test(FakeGenerator(num_classes=0), classifier, 30, seed=2)
    probabilities = gtt.predict(classifier, FakeGenerator(0).sample(30, seed=2))
    assert unconditional["value"] == pytest.approx(probabilities.max(axis=1).mean(), rel=1e-6)
    assert "mean confidence" in unconditional["labels"]


def test_gan_train_trains_on_generated_images_and_tests_on_real(classifier):
    test_labels = np.arange(60) % K
    test_images = class_images(test_labels, 5)
    good = gtt.gan_train(FakeGenerator(), test_images, test_labels, 120, epochs=6, seed=3, depth=8, train_batch_size=16, augment=False)
    assert good["value"] > 0.9 and good["protocol"]["epochs"] == 6 and good["protocol"]["n_generated"] == 120
    shifted = gtt.gan_train(FakeGenerator(shift=1), test_images, test_labels, 120, epochs=6, seed=3, depth=8, train_batch_size=16,
                            augment=False)
    assert shifted["value"] < 0.1  # images of class k+1 labelled k: wrong on every real class
    with pytest.raises(ValueError, match="GAN-train needs labelled images.*classifier="):
        gtt.gan_train(FakeGenerator(num_classes=0), test_images, test_labels, 30, epochs=1)
    pseudo = gtt.gan_train(FakeGenerator(num_classes=0), test_images, test_labels, 120, epochs=6, seed=3,
                           classifier=classifier, depth=8, train_batch_size=16, augment=False)
    assert pseudo["value"] > 0.9 and "fixed classifier's predictions" in pseudo["labels"]


def test_reference_classifier_script_writes_the_classifier_and_its_record(tmp_path):
    import json
    import pathlib
    import runpy
    import sys

    import keras

    out = tmp_path / "c.keras"
    argv = sys.argv
    sys.argv = ["train_classifier.py", "--dataset", "synthetic:48", "--epochs", "1", "--depth", "8", "--out", str(out)]
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(pathlib.Path(__file__).parents[2] / "training" / "train_classifier.py"),
                           run_name="__main__")
    finally:
        sys.argv = argv
    assert exit_info.value.code == 0
    record = json.loads((tmp_path / "c.keras.json").read_text())
    classifier = keras.saving.load_model(str(out))
    assert record["sha256"] == gtt.classifier_sha256(classifier) and record["epochs"] == 1
    assert 0.0 <= record["real_test_accuracy"] <= 1.0 and record["num_classes"] == 4
