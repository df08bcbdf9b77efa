"""ganzoo.training from Python, without the CLI: RunOptions' checks, a run, its resume, and what a
resume refuses."""
import dataclasses
import json

import numpy as np
import pytest

from ganzoo import training
from ganzoo.checkpoint import read_metadata
from ganzoo.recipe import Recipe

TINY = Recipe("sndcgan", resolution=8, batch_size=4, steps=2)


def options(tmp_path, **changes):
    values = dict(model_dir=str(tmp_path / "run"), recipe=TINY, dataset="synthetic:16",
                  checkpoint_every=2, sample_every=0, num_samples=0, log_every=2, progress=False)
    values.update(changes)
    return training.RunOptions(**values)


@pytest.mark.parametrize("changes, message", [
    ({"recipe": None}, "A new run needs a recipe"),
    ({"recipe": Recipe("sndcgan", disc_iters=2, steps=3)}, "--steps 3 counts discriminator steps"),
    ({"checkpoint_every": 0}, "--checkpoint_every must be at least 1"),
    ({"sample_every": -1}, "--sample_every must be 0 or more"),
    ({"fid_every": 10, "fid_samples": 100}, "--fid_samples 100 is too few"),
    ({"distribute": "tpu"}, "--distribute tpu: choose one of"),
    ({"num_devices": 2}, "--num_devices needs --distribute data_parallel"),
    ({"model_dir": ""}, "--model_dir is required"),
])
def test_options_are_checked_when_made(tmp_path, changes, message):
    with pytest.raises(training.UsageError, match=message):
        options(tmp_path, **changes)
    assert not (tmp_path / "run").exists()


def test_a_model_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "run").write_text("x")
    with pytest.raises(training.UsageError, match="is a file, not a folder"):
        options(tmp_path)


def test_run_then_resume_from_python(tmp_path):
    first = options(tmp_path, seed=3)
    summary = training.run(first)
    assert (summary["d_step"], summary["g_step"]) == (2, 2)
    run_dir = tmp_path / "run"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["training"] == TINY.to_dict()
    assert (config["dataset"], config["seed"]) == ("synthetic:16", 3)
    assert (run_dir / "generator.weights.h5").is_file()
    assert (run_dir / "checkpoints" / "ckpt-000000002.weights.h5").is_file()

    # A second run in the same folder must say resume.
    with pytest.raises(training.UsageError, match="already holds checkpoints.*--resume"):
        training.run(first)
    # A resume that contradicts the checkpoint is refused before anything is built.
    resume = dataclasses.replace(first, resume=True, recipe=TINY.override(steps=4), seed=None)
    with pytest.raises(training.UsageError, match="--loss hinge conflicts with the run being "
                                                  "resumed .* has loss ns"):
        training.run(dataclasses.replace(resume, recipe=TINY.override(loss="hinge", steps=4)))
    with pytest.raises(training.UsageError, match="--seed 5 conflicts with the run being resumed"):
        training.run(dataclasses.replace(resume, seed=5))
    with pytest.raises(training.UsageError, match="--steps 1: the run is already past it"):
        training.run(dataclasses.replace(resume, recipe=None, checked_fields={"steps": 1}))

    # The recipe in full (every field it sets is checked) with a longer run; no data set or
    # seed given: both are the checkpoint's.
    assert training.run(dataclasses.replace(resume, dataset=None))["d_step"] == 4
    metadata = read_metadata(str(run_dir / "checkpoints" / "ckpt-000000004.weights.h5"))
    assert (metadata["seed"], metadata["dataset"], metadata["hyper"]["steps"]) == (
        3, "synthetic:16", 4)


def _image_folder(path, sizes):
    from PIL import Image

    path.mkdir()
    rng = np.random.default_rng(0)
    for index, (height, width) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
            path / f"{index}.png")
    return str(path)


def test_fid_reference_is_fitted_as_the_training_images_and_keyed_by_the_fit(tmp_path):
    """--resize / --crop_or_pad runs compare G with reference images fitted as their training
    images are (once native-size images, and a crash on mixed sizes), cached under their own key."""
    folder = _image_folder(tmp_path / "images", [(8, 8), (12, 16), (16, 16)])
    for fit in ({"resize": True}, {"crop_or_pad": True}):
        images = training.fid_reference(str(folder), "test", 3, 0, 4, data_dir=None,
                                        fallback_split="train", **fit)
        assert images.shape == (3, 4, 4, 3) and 0.0 <= images.min() and images.max() <= 1.0
    plain = training.fid_reference_key("cifar10", "test", 5000, 0, 32)
    assert plain == {"dataset": "cifar10", "split": "test", "count": 5000, "seed": 0,
                     "resolution": 32}  # the key of every earlier run's cache, unchanged
    assert training.fid_reference_key("x", "test", 5000, 0, 32, resize=True)["fit"] == "resize"
    assert training.fid_reference_key("x", "test", 5000, 0, 32, crop_or_pad=True)["fit"] == "crop_or_pad"


def test_a_run_with_fid_every_measures_fid_against_its_fitted_reference(tmp_path, monkeypatch, optimised_xla):
    """--fid_every through training.run: the reference is drawn, its statistics cached under the
    run's key, and one FID record written per measurement (a stand-in feature network keeps it
    fast; the real one is the evaluator's)."""
    from ganzoo.figures import read_fid_records
    from ganzoo.metrics import inception
    from ganzoo.metrics.fid import FIDStats

    drawn = []
    original = training.fid_reference

    def counted(*args, **kwargs):
        drawn.append(args)
        return original(*args, **kwargs)

    class MeanColour:
        def features(self, images):
            return np.asarray(images, np.float64).mean(axis=(1, 2))

    monkeypatch.setattr(training, "fid_reference", counted)
    monkeypatch.setattr(inception, "default_network", lambda batch_size=50: MeanColour())
    run = options(tmp_path, dataset="synthetic:2100", fid_every=2, fid_samples=2049,
                  fid_split="train", recipe=TINY.override(steps=4))
    training.run(run)
    records = read_fid_records(tmp_path / "run" / "fid.jsonl")
    assert [r["d_step"] for r in records] == [2, 4]
    assert all(np.isfinite(r["fid"]) and r["fid"] >= 0 for r in records)
    assert len(drawn) == 1  # once for the whole run
    cached = FIDStats.load(str(tmp_path / "run" / "fid_reference.npz"))
    assert cached.protocol == dict(training.fid_reference_key("synthetic:2100", "train", 2049,
                                                              training.DEFAULT_SEED, 8),
                                   purpose="fid_reference")


def test_a_recipe_without_a_resolution_takes_the_datas(tmp_path):
    folder = _image_folder(tmp_path / "images", [(16, 16)] * 8)
    recipe = Recipe("sndcgan", batch_size=4, steps=1)
    assert recipe.resolution is None
    training.run(options(tmp_path, recipe=recipe, dataset=folder, checkpoint_every=1))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["training"]["resolution"] == 16
    metadata = read_metadata(str(tmp_path / "run" / "checkpoints" / "ckpt-000000001.weights.h5"))
    assert metadata["hyper"]["resolution"] == 16


@pytest.mark.parametrize("sizes, message", [
    ([(20, 20)] * 8, r"The images of images are 20x20: resolution 20: SNDCGAN needs a resolution "
                     r"divisible by 8.*Pass such a --resolution \(with --resize\)"),
    ([(16, 24)] * 8, r"The images of images are not all square and of one size: pass --resolution"),
])
def test_data_a_recipe_without_a_resolution_cannot_take_is_refused_before_the_run(
        tmp_path, sizes, message):
    folder = _image_folder(tmp_path / "images", sizes)
    with pytest.raises(training.UsageError, match=message):
        training.run(options(tmp_path, recipe=Recipe("sndcgan", batch_size=4, steps=1),
                             dataset=folder))
    assert not (tmp_path / "run").exists()  # refused before anything was written
