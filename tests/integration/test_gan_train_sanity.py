"""The GAN-train / GAN-test sanity studies (issue 13, seed 001 section 5.1): the salt-and-pepper
corruption and class-balanced subsets (ganzoo.analysis.sanity) checked against their definitions,
and training/gan_train_sanity.py run as a user runs it, on tiny labelled images, killed between
points and resumed without retraining a finished point."""
import json
import pathlib

import numpy as np
import pytest

from ganzoo.analysis.sanity import SEED_SUBSAMPLE_PERCENT, balanced_subset, salt_and_pepper

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_salt_and_pepper_corrupts_exactly_the_asked_share_of_pixels():
    images = np.full((6, 10, 20, 3), 0.5, dtype="float32")
    out = salt_and_pepper(images, 0.1, seed=3)
    changed = np.any(out != images, axis=-1)  # (N, H, W): corrupted pixel locations
    assert changed.sum(axis=(1, 2)).tolist() == [20] * 6  # round(0.1 * 200) per image
    values = out[changed]  # every channel of a corrupted pixel is 0 or every one is 1
    assert np.all((values == 0).all(axis=-1) | (values == 1).all(axis=-1))
    assert 0 < (values[:, 0] == 1).mean() < 1  # both salt and pepper
    assert np.array_equal(out[~changed], images[~changed]) and np.array_equal(images, np.full_like(images, 0.5))
    assert np.array_equal(out, salt_and_pepper(images, 0.1, seed=3))  # deterministic by seed
    assert not np.array_equal(out, salt_and_pepper(images, 0.1, seed=4))
    assert np.array_equal(salt_and_pepper(images, 0.0), images)
    assert np.all(np.any(salt_and_pepper(images, 1.0) != images, axis=-1))
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
        salt_and_pepper(images, 20)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        salt_and_pepper(images[0], 0.1)


def test_balanced_subset_takes_each_class_equally_without_repeats():
    labels = np.repeat(np.arange(4), [30, 10, 25, 40])
    index = balanced_subset(labels, 22, seed=1)
    assert len(np.unique(index)) == 22 and np.all(np.diff(index) > 0)
    assert np.bincount(labels[index]).tolist() == [6, 6, 5, 5]
    assert not np.array_equal(index, balanced_subset(labels, 22, seed=2))
    with pytest.raises(ValueError, match="class 1 has 10 examples, 12 were asked for"):
        balanced_subset(labels, 48)
    with pytest.raises(ValueError, match="ask for between 4 and 105"):
        balanced_subset(labels, 2)
    assert SEED_SUBSAMPLE_PERCENT == {2500: 73.4, 5000: 80.9, 10000: 85.8}  # seed 001's CIFAR10 table


def _run(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, str(ROOT / "training" / "gan_train_sanity.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.backend_neutral
def test_the_study_script_runs_resumes_and_writes_figure_and_table(tmp_path):
    """As a user runs it (a subprocess): three points, then a fourth added (the three are not
    trained again: their records, times included, are unchanged), then other settings refused."""
    markdown = tmp_path / "evaluation.md"
    markdown.write_text("# Evaluation\n\nkept text\n")
    common = ["--dataset", "synthetic:48", "--synthetic_resolution", "16", "--subsets", "8", "--epochs", "1",
              "--depth", "8", "--out", str(tmp_path / "out"), "--figures_dir", str(tmp_path / "figures"),
              "--markdown", str(markdown)]
    done = _run("--noise", "0,0.2", *common)
    assert done.returncode == 0, done.stderr[-2000:]
    first = json.loads((tmp_path / "out" / "results.json").read_text())["points"]
    assert sorted(first) == ["noise-0", "noise-0.2", "subset-8"]
    assert [first[k]["train_images"] for k in ("noise-0", "noise-0.2", "subset-8")] == [48, 48, 8]
    for point in first.values():
        assert 0.0 <= point["gan_train"] <= 1.0 and "gan_test" not in point  # no --classifier
    text = markdown.read_text()
    assert text.startswith("# Evaluation\n\nkept text\n") and text.count("<!-- gan-train sanity table") == 1
    assert "| subsample | 8 images | 8 |" in text and "| salt-and-pepper | 20% pixels | 48 |" in text
    assert (tmp_path / "figures" / "gan_train_sanity.png").stat().st_size > 1000
    again = _run("--noise", "0,0.1,0.2", *common)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("sanity: noise-0.1 ...") == 1 and "sanity: subset-8 ..." not in again.stdout
    second = json.loads((tmp_path / "out" / "results.json").read_text())["points"]
    assert {k: second[k] for k in first} == first and "noise-0.1" in second
    assert markdown.read_text().count("<!-- gan-train sanity table") == 1
    # Noise points on an 8-image subset are new points beside the full ones; subset-8 is kept (and
    # drawn as their 0% level: the same 8 images, clean).
    smaller = _run("--noise", "0.2", "--noise_train_images", "8", *common)
    assert smaller.returncode == 0, smaller.stderr[-2000:]
    assert "sanity: noise-0.2-of-8 ..." in smaller.stdout and "sanity: subset-8 ..." not in smaller.stdout
    third = json.loads((tmp_path / "out" / "results.json").read_text())["points"]
    assert {k: third[k] for k in second} == second and third["noise-0.2-of-8"]["train_images"] == 8
    text = markdown.read_text()
    assert "| salt-and-pepper | 20% pixels | 8 |" in text and "--noise_train_images=8" in text
    refused = _run("--noise", "0", *common, "--seed", "1")
    assert refused.returncode != 0 and "made with other settings" in refused.stderr


@pytest.mark.backend_neutral
def test_gan_test_only_needs_no_training(tmp_path):
    """--nogan_train: the salt-and-pepper study's GAN-test alone (the fixed classifier on corrupted
    test images), each value equal to the classifier's accuracy computed here; no classifier is
    trained, the subsample points are skipped, and without a classifier it is refused."""
    from ganzoo.analysis.sanity import salt_and_pepper
    from ganzoo.metrics import gan_train_test as gtt

    images, labels, classes = gtt.labelled_images("synthetic:48", "test", synthetic_resolution=16)
    classes = classes or int(labels.max()) + 1
    classifier = gtt.build_classifier(classes, 16, depth=8, seed=3)
    gtt.save_classifier(classifier, tmp_path / "c.keras", {"real_test_accuracy": 0.5})
    markdown = tmp_path / "evaluation.md"
    gan_train_table = ("<!-- gan-train sanity table: written by training/gan_train_sanity.py -->\n"
                       "| subsample | 2500 images |\n<!-- end of gan-train sanity table -->")
    markdown.write_text(f"# Evaluation\n\n{gan_train_table}\n")
    common = ["--dataset", "synthetic:48", "--synthetic_resolution", "16", "--depth", "8", "--out",
              str(tmp_path / "out"), "--figures_dir", str(tmp_path / "figures"), "--markdown", str(markdown)]
    refused = _run("--nogan_train", "--noise", "0", *common)
    assert refused.returncode != 0 and "needs --classifier" in refused.stderr
    done = _run("--nogan_train", "--noise", "0,0.2", "--classifier", str(tmp_path / "c.keras"), *common)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "subsample points (GAN-train only) are skipped" in done.stdout and "Epoch" not in done.stdout
    points = json.loads((tmp_path / "out" / "results.json").read_text())["points"]
    assert sorted(points) == ["noise-0", "noise-0.2"]
    for key, share in (("noise-0", 0.0), ("noise-0.2", 0.2)):
        corrupted = salt_and_pepper(images, share, seed=1)  # the script's seed 0 + 1 for the test images
        assert points[key]["gan_test"] == pytest.approx(gtt.accuracy(classifier, corrupted, labels), abs=1e-9)
        assert "gan_train" not in points[key] and points[key]["train_images"] == 0
        assert points[key]["classifier"] == "c.keras"  # recorded with each point it measured
    text = markdown.read_text()
    assert (tmp_path / "figures" / "gan_test_sanity.png").stat().st_size > 1000
    assert "<!-- gan-test sanity table" in text and gan_train_table in text  # its own table, beside
    assert "GAN-test only" in text and "the fixed classifier c.keras" in text and "| salt-and-pepper | 20% pixels |  | not trained |" in text
