"""GAN-train / GAN-test (ganzoo/metrics/gan_train_test.py) with tiny made-up data: classes whose
images differ by colour, "generators" that return such images for the asked classes (right or
shifted by one), and a depth-8 classifier of the recipe trained for a few epochs."""
import shutil

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


def test_classifier_weight_decay_is_pytorchs_coupled_sgd():
    """Three recipe steps on the depth-8 ResNet against torch.optim.SGD(nesterov, weight_decay=5e-4 on
    the conv and dense kernels) fed the data-loss gradients. Keras' SGD(weight_decay=) (decoupled,
    w -= lr * wd * w, the recipe before) is off by 1.5e-3 of the displacement here, this by 3e-7."""
    torch = pytest.importorskip("torch")
    import keras

    labels = np.arange(8) % K
    images = class_images(labels, 3)
    model = gtt.compile_classifier(gtt.build_classifier(K, 8, depth=8, seed=0), total_steps=10**9)  # lr ~ 0.1
    # The data-loss gradient, independently of the recipe's optimiser: one plain SGD step of learning
    # rate 1 on an undecayed copy moves each weight by -gradient.
    probe = gtt.build_classifier(K, 8, depth=8, seed=0, weight_decay=0.0)
    probe.compile(optimizer=keras.optimizers.SGD(1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    variables = model.trainable_variables
    start = [np.array(v.numpy(), dtype="float64") for v in variables]
    reference = [torch.tensor(w.copy()) for w in start]
    kernels = [p for p, v in zip(reference, variables) if v.path.endswith("kernel")]
    others = [p for p, v in zip(reference, variables) if not v.path.endswith("kernel")]
    assert len(kernels) == 10 and others  # 9 convs (one shortcut) and the dense layer
    sgd = torch.optim.SGD([{"params": kernels, "weight_decay": gtt.CLASSIFIER_RECIPE["weight_decay"]},
                           {"params": others, "weight_decay": 0.0}],
                          lr=gtt.CLASSIFIER_RECIPE["learning_rate"], momentum=0.9, nesterov=True)
    for _ in range(3):
        probe.set_weights(model.get_weights())
        before = [v.numpy() for v in probe.trainable_variables]
        probe.train_on_batch(images, labels)
        for p, b, v in zip(reference, before, probe.trainable_variables):
            p.grad = torch.tensor(np.float64(b) - np.float64(v.numpy()))
        sgd.step()
        model.train_on_batch(images, labels)
    moved = np.concatenate([(v.numpy() - s).ravel() for v, s in zip(variables, start)])
    expected = np.concatenate([(p.numpy() - s).ravel() for p, s in zip(reference, start)])
    assert np.linalg.norm(moved - expected) < 1e-5 * np.linalg.norm(expected)


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


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0", "--depth", "8"], "--epochs must be at least 1; got 0."),
    (["--epochs", "1", "--depth", "9"], "depth must be 6n \\+ 2"),
])
def test_reference_classifier_script_refuses_bad_input_in_one_line(tmp_path, args, message):
    """Run as a user runs it: a subprocess; exit status 2 and the message, not a traceback."""
    import os
    import pathlib
    import re
    import subprocess
    import sys

    script = pathlib.Path(__file__).parents[2] / "training" / "train_classifier.py"
    result = subprocess.run([sys.executable, str(script), "--dataset", "synthetic:16", *args, "--out",
                             str(tmp_path / "c.keras")], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 2 and re.search("train_classifier.py: error: " + message, result.stderr), result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "c.keras").exists()


def test_classifier_training_resumes_after_a_crash_and_refuses_a_second_process(tmp_path, monkeypatch):
    """Keras' BackupAndRestore: a run stopped after epoch 1 of 3 resumes at epoch 2 with the same
    folder and settings (other settings are refused); the lock of train_reference_classifier refuses a second process on the same OUT."""
    import keras

    from ganzoo.runlock import RunLock, RunLockedError

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise RuntimeError("killed")

    class Epochs(keras.callbacks.Callback):
        seen = []

        def on_epoch_begin(self, epoch, logs=None):
            self.seen.append(epoch)

    labels = np.arange(48) % K
    images, backup = class_images(labels, 0), tmp_path / "backup"
    small = dict(epochs=3, batch_size=16, depth=8, augment=False, backup_dir=backup)
    with pytest.raises(RuntimeError, match="killed"):
        gtt.train_classifier(images, labels, K, callbacks=[Crash()], **small)
    assert backup.is_dir() and any(backup.iterdir())  # epoch 0's state kept
    kept = {p.name: p.read_bytes() for p in backup.iterdir() if p.is_file()}
    # A state of other settings is refused, not resumed into a mixed training, and is left as it was:
    # other epochs (the schedule's length), other data, another recipe.
    with pytest.raises(ValueError, match="other settings \\(epochs: 3 there, 4 now\\).*delete"):
        gtt.train_classifier(images, labels, K, **dict(small, epochs=4))
    with pytest.raises(ValueError, match="other settings \\(data_sha256: "):
        gtt.train_classifier(images[::-1], labels[::-1], K, **small)
    recipe = dict(gtt.CLASSIFIER_RECIPE, weight_decay_kind="decoupled")
    with monkeypatch.context() as patch:
        patch.setitem(gtt.CLASSIFIER_RECIPES, "resnet20", recipe)
        with pytest.raises(ValueError, match="other settings \\(recipe: "):
            gtt.train_classifier(images, labels, K, **small)
    assert {p.name: p.read_bytes() for p in backup.iterdir() if p.is_file()} == kept
    gtt.train_classifier(images, labels, K, callbacks=[Epochs()], **small)
    assert Epochs.seen == [1, 2] and not backup.exists()  # resumed; Keras removed its state
    # A Keras state without its settings (an older ganzoo's) cannot be checked: refused.
    with pytest.raises(RuntimeError, match="killed"):
        gtt.train_classifier(images, labels, K, callbacks=[Crash()], **small)
    (backup / gtt.TrainingSettings.FILE).unlink()
    with pytest.raises(ValueError, match="without a readable record of its settings.*start the training over"):
        gtt.train_classifier(images, labels, K, **small)
    shutil.rmtree(backup)
    out = tmp_path / "c.keras"
    with RunLock(str(out) + ".backup"):
        with pytest.raises(RunLockedError, match="in use by"):
            gtt.train_reference_classifier(out, "synthetic:48", epochs=1, depth=8)
    assert not out.exists()


def test_reference_classifier_time_is_summed_over_resumed_processes(tmp_path, monkeypatch):
    """A run killed after its first epoch leaves that epoch's time beside Keras' state; the resumed
    run's record adds it to its own time. A run started over (Keras' state gone) counts from zero."""
    import json
    import time

    import keras

    out, state = tmp_path / "c.keras", tmp_path / "c.keras.backup" / "keras"
    elapsed = state / gtt.TrainingClock.FILE
    train = gtt.train_classifier

    class Killed(Exception):
        pass

    def killed_after_the_first_epoch(*args, callbacks=(), **kwargs):
        def kill(epoch, logs):
            raise Killed()
        return train(*args, callbacks=list(callbacks) + [keras.callbacks.LambdaCallback(on_epoch_end=kill)],
                     **kwargs)

    monkeypatch.setattr(gtt, "train_classifier", killed_after_the_first_epoch)
    started = time.time()
    with pytest.raises(Killed):
        gtt.train_reference_classifier(out, "synthetic:48", epochs=2, depth=8, verbose=0, synthetic_resolution=8)
    first = json.loads(elapsed.read_text())
    assert first["epochs"] == 1 and 0 < first["seconds"] <= time.time() - started + 0.1  # kept to 0.1 s
    monkeypatch.undo()
    elapsed.write_text(json.dumps({"seconds": 1000.0, "epochs": 1}))  # as if the first epoch took 1000 s
    started = time.time()
    record = gtt.train_reference_classifier(out, "synthetic:48", epochs=2, depth=8, verbose=0,
                                            synthetic_resolution=8)
    assert 1000.0 < record["seconds"] <= 1000.0 + time.time() - started + 0.1
    assert json.loads((tmp_path / "c.keras.json").read_text())["seconds"] == record["seconds"]
    assert not (tmp_path / "c.keras.backup").exists()
    # started over: no earlier time is carried
    started = time.time()
    record = gtt.train_reference_classifier(out, "synthetic:48", epochs=1, depth=8, verbose=0,
                                            synthetic_resolution=8)
    assert 0 < record["seconds"] <= time.time() - started + 0.1
    state.mkdir(parents=True)
    elapsed.write_text("not json")
    with pytest.raises(ValueError, match="not a ganzoo training-time file"):
        gtt.train_reference_classifier(out, "synthetic:48", epochs=1, depth=8, verbose=0, synthetic_resolution=8)


# --- gan_test / gan_train through the Evaluator and `ganzoo eval` -----------------------------------

SMALL = {"depth": 8, "augment": False, "train_batch_size": 16}  # deviations from the recipe, recorded


class LabelBlind(FakeGenerator):
    """Ignores the asked classes: each image's class is drawn from the seed (GAN-test about 1 / K)."""

    def sample(self, num, seed=None, batch_size=256, labels=None):
        return class_images(np.random.default_rng([seed, 7]).integers(0, K, size=num), seed)


@pytest.fixture(scope="module")
def classifier_file(classifier, tmp_path_factory):
    out = tmp_path_factory.mktemp("classifier") / "c.keras"
    gtt.save_classifier(classifier, out, {"real_test_accuracy": 0.97})
    return out


def real_test_set(n=60, seed=5):
    labels = np.arange(n) % K
    return class_images(labels, seed), labels


def test_the_evaluator_records_gan_test(classifier, classifier_file):
    """GAN-test through the Evaluator (GAN-train through it: the `ganzoo eval` test below)."""
    from ganzoo.metrics import evaluator

    ev = evaluator.Evaluator(("gan_test",), progress=False, seed=1, gan_classifier=str(classifier_file))
    result = ev.evaluate(FakeGenerator(), num_generated=90)
    assert result["metrics"]["gan_test"] > 0.95
    p = result["protocol"]["gan_train_test"]
    assert p["classifier"] == "c.keras" and p["classifier_sha256"] == gtt.classifier_sha256(classifier)
    assert p["classifier_real_accuracy"] == 0.97 and p["classifier_record"] == "c.keras.json"
    assert p["n_generated"] == 90 and p["n_per_class"] == 30 and "gan_train_epochs" not in p
    assert str(classifier_file.parent) not in str(result["protocol"])  # file names, no machine paths
    assert "c.keras" in evaluator.format_result(result)
    # A generator that ignores the asked classes: GAN-test at chance (1 / K), GAN-test only.
    blind = evaluator.Evaluator(("gan_test",), progress=False, seed=2, gan_classifier=classifier)
    assert blind.evaluate(LabelBlind(), num_generated=300)["metrics"]["gan_test"] == pytest.approx(1 / K, abs=0.1)


def test_class_metrics_refuse_what_they_cannot_measure(classifier_file, tmp_path):
    import json

    from ganzoo.metrics import evaluator

    def gan_test(generator=FakeGenerator(), path=classifier_file):
        return evaluator.Evaluator(("gan_test",), progress=False, gan_classifier=str(path)).evaluate(
            generator, num_generated=30)

    with pytest.raises(ValueError, match="unconditional.*--classifier.*num_classes > 0"):
        evaluator.Evaluator(("gan_train",), progress=False, gan_train_real=real_test_set()).evaluate(
            FakeGenerator(num_classes=0), num_generated=30)
    with pytest.raises(ValueError, match="needs the fixed classifier.*--classifier"):
        evaluator.Evaluator(("gan_test",), progress=False)
    with pytest.raises(ValueError, match="needs the real labelled test set"):
        evaluator.Evaluator(("gan_train",), progress=False)
    with pytest.raises(ValueError, match="not found.*train_classifier.py"):
        gan_test(path=tmp_path / "missing.keras")
    (tmp_path / "bad.keras").write_bytes(b"not a keras file")
    with pytest.raises(ValueError, match="could not be loaded.*corrupt"):
        gan_test(path=tmp_path / "bad.keras")
    gtt.build_classifier(5, RES, depth=8).save(str(tmp_path / "five.keras"))
    with pytest.raises(ValueError, match="has 5 classes and the generator 3"):
        gan_test(path=tmp_path / "five.keras")
    changed = tmp_path / "changed.keras"  # the file of another classifier than its record names
    (tmp_path / "changed.keras").write_bytes((tmp_path / "five.keras").read_bytes())
    (tmp_path / "changed.keras.json").write_text(json.dumps({"sha256": "0" * 64}))
    with pytest.raises(ValueError, match="changed since it was trained"):
        gtt.load_classifier(changed)
    images, labels = real_test_set()
    with pytest.raises(ValueError, match="has 4 classes and the generator 3"):
        evaluator.Evaluator(("gan_train",), progress=False, gan_train_real=(images, labels + 1)).evaluate(
            FakeGenerator(), num_generated=30)


def _class_folders(root, n=60, seed=5):
    from PIL import Image

    images, labels = real_test_set(n, seed)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / "test" / f"c{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


def test_ganzoo_eval_metrics_gan_test_gan_train(classifier_file, tmp_path, monkeypatch, capsys):
    import functools
    import json

    from ganzoo.cli import evaluation
    from ganzoo.cli import main as cli
    from ganzoo.metrics import evaluator

    generators = {"right": FakeGenerator(), "blind": LabelBlind(), "unconditional": FakeGenerator(num_classes=0)}
    monkeypatch.setattr(evaluation, "_eval_target", lambda args: (args.model, generators[args.model], {"dataset": None}))
    monkeypatch.setattr(evaluator, "evaluate_zoo_model",
                        functools.partial(evaluator.evaluate_zoo_model, gan_train_options=SMALL))
    real = _class_folders(tmp_path / "labelled")

    def ganzoo_eval(model, metrics, *more):
        out = tmp_path / f"{model}.json"
        code = cli.main(["eval", model, "--metrics", metrics, "--classifier", str(classifier_file), "--out", str(out),
                         "--no-progress", *more])
        return code, (json.loads(out.read_text()) if code == 0 else None)

    code, record = ganzoo_eval("right", "gan_test,gan_train", "--gan-train-real", str(real), "--gan-train-epochs", "3",
                               "--num-samples", "90", "--sample-sets", "1")
    assert code == 0
    assert record["metrics"]["gan_test"]["mean"] > 0.95 and record["metrics"]["gan_train"]["mean"] > 0.9
    p = record["protocol"]["gan_train_test"]
    assert (p["classifier"], p["n_per_class"], p["gan_train_epochs"], p["n_test"], p["gan_train_real"]) == \
        ("c.keras", 30, 3, 60, "labelled")
    assert p["gan_train_recipe"]["depth"] == 8 and p["gan_train_recipe"]["augmentation"] == "none"
    assert str(tmp_path) not in json.dumps(record["protocol"])
    code, record = ganzoo_eval("blind", "gan_test", "--num-samples", "150", "--sample-sets", "2")
    assert code == 0 and len(record["metrics"]["gan_test"]["values"]) == 2
    assert record["metrics"]["gan_test"]["mean"] == pytest.approx(1 / K, abs=0.1)
    # An unconditional generator: the classifier labels its images (issue 13). GAN-test is the
    # classifier's mean confidence in its own label (computed here from the model's outputs),
    # GAN-train trains on those labels; the record says so.
    code, record = ganzoo_eval("unconditional", "gan_test,gan_train", "--gan-train-real", str(real),
                               "--gan-train-epochs", "6", "--num-samples", "90", "--sample-sets", "1")
    assert code == 0
    import keras

    model = keras.saving.load_model(str(classifier_file), compile=False)
    images = FakeGenerator(num_classes=0).sample(90, seed=0)  # (any seed: the classes are clear-cut)
    confidence = np.asarray(keras.ops.softmax(model(images, training=False))).max(axis=1).mean()
    assert record["metrics"]["gan_test"]["mean"] == pytest.approx(confidence, abs=0.05)
    assert record["metrics"]["gan_train"]["mean"] > 0.6  # chance: 1 / 3
    p = record["protocol"]["gan_train_test"]
    assert "unconditional" in p["labels"] and "not an accuracy" in p["labels"] and p["classifier"] == "c.keras"
    capsys.readouterr()
    assert cli.main(["eval", "unconditional", "--metrics", "gan_test", "--no-progress"]) == 1
    assert "gan_test needs the fixed classifier" in capsys.readouterr().err
    # --gan-train-recipe reaches GAN-train: airbench94 refuses these 8x8 images, saying why.
    code, _ = ganzoo_eval("right", "gan_train", "--gan-train-real", str(real), "--gan-train-recipe", "airbench94",
                          "--num-samples", "90", "--sample-sets", "1")
    assert code == 1 and "airbench classifier needs images of at least 16x16" in capsys.readouterr().err


def test_ganzoo_eval_generator_weights_of_a_conditional_run(tmp_path, capsys):
    """--num-classes rebuilds a conditional run's generator; the classifier is checked against it
    before any image is drawn."""
    from ganzoo.architectures import build_generator
    from ganzoo.cli import main as cli

    weights = tmp_path / "cond.generator.weights.h5"
    build_generator("sndcgan", resolution=32, num_classes=3).save_weights(str(weights))
    gtt.build_classifier(5, 32, depth=8).save(str(tmp_path / "five.keras"))
    argv = ["eval", "--generator-weights", str(weights), "--architecture", "sndcgan", "--metrics", "gan_test",
            "--classifier", str(tmp_path / "five.keras"), "--no-progress"]
    assert cli.main(argv + ["--num-classes", "3"]) == 1
    assert "has 5 classes and the generator 3" in capsys.readouterr().err
