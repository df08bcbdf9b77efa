"""The zoo's trained models as a user meets them: the published files in hub_mirror/, loaded
offline, sampled, fine-tuned; and the lease path that produced them (weights + report.json from
a lent accelerator -> a preset).

The first model, sndcgan-ns-sn-cifar10, was trained on an H200 with the JAX backend
(benchmarks/lease.py) and published with training/publish.py; these tests check what a fresh
clone holds, on both backends.
"""
import hashlib
import json
import os
import pathlib
import tarfile

import numpy as np
import pytest
from PIL import Image

import ganzoo
from ganzoo.zoo import load, manifest, preset, publishing

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "sndcgan-ns-sn-cifar10"
MIRROR = ROOT / "hub_mirror" / "ganzoo" / NAME


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """The repository's own manifest and mirror, no network, an empty cache."""
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("GANZOO_MANIFEST", "GANZOO_HUB_DIR", "GANZOO_HUB_ENDPOINT", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def _sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def test_the_manifest_pins_the_mirror_files():
    entry = manifest.get_entry(NAME)
    assert entry["status"] == "partial"
    files = entry["hub"]["files"]
    assert {"config.json", "metadata.json", "generator.weights.h5", "discriminator.weights.h5"} <= set(files)
    for filename, digest in files.items():  # {"sha256", "size"}
        assert _sha256(MIRROR / filename) == digest["sha256"], filename
        assert (MIRROR / filename).stat().st_size == digest["size"], filename


def test_sample_offline_reproduces_the_published_grid(offline):
    """`ganzoo.load` from a fresh clone: the files are sha256-checked, and sample(64, seed=0)
    gives the samples.png that publishing wrote (on the backend that wrote it or the other)."""
    generator = load(NAME, progress=False)
    info = generator.preset_info
    assert info.status == "partial" and info.d_steps == 83539
    images = generator.sample(64, seed=0)
    assert images.shape == (64, 32, 32, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    grid = np.asarray(Image.open(MIRROR / "samples.png").convert("RGB"), dtype=np.int16)
    assert grid.shape == (8 * 34 + 2, 8 * 34 + 2, 3)  # ganzoo.utils.images.make_grid: 2-pixel borders
    tiles = np.stack([grid[r * 34 + 2:r * 34 + 34, c * 34 + 2:c * 34 + 34] for r in range(8) for c in range(8)])
    ours = np.rint(images * 255.0).astype(np.int16)
    difference = np.abs(tiles - ours)
    # Rounding to 8 bits can fall either side on another backend or CPU: at most one level, rarely.
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01


def test_fine_tune_the_published_model_from_its_float16_discriminator(offline):
    """with_discriminator=True: the float16-stored D is a trained critic (on real CIFAR10 test
    images its loss is far below an untrained D's log 4 = 1.386), and fit() trains on from it."""
    tar_path = os.path.join(ganzoo.data.default_cifar10_dir(), "test.tar")
    if not os.path.isfile(tar_path):
        pytest.skip("the CIFAR10 copy is not beside the repository (../shared/data/cifar10-jpeg)")
    with tarfile.open(tar_path) as tar:  # 16 images spread over the class folders (one step on a CPU)
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".jpg")]
        real = np.stack([np.asarray(Image.open(tar.extractfile(m)).convert("RGB"))
                         for m in members[::len(members) // 16][:16]]).astype("float32") / 255.0
    gan = load(NAME, with_discriminator=True, progress=False)
    assert gan.d_steps == 0 and gan.disc_iters == 1
    history = gan.fit(real, batch_size=16, epochs=1, verbose=0)
    d_loss = history.history["d_loss"][0]
    assert np.isfinite(d_loss) and d_loss < 1.2, history.history
    assert np.isfinite(history.history["g_loss"][0])
    assert gan.d_steps == 1 and gan.g_steps == 1


# ------------------------------------------------------------------ the lease path -> preset
def _lease_folder(folder, d_step=3, ema_decay=None):
    """What `benchmarks/lease.py join` leaves: the inference weights and report.json."""
    hyper = {"architecture": "sndcgan", "resolution": 8, "normalization": "spectral", "loss": "ns",
             "penalty": "none", "penalty_weight": 0.0, "disc_iters": 1, "g_lr": 2e-4, "d_lr": 2e-4,
             "beta1": 0.5, "beta2": 0.999, "batch_size": 4, "steps": 10, "z_dim": 16, "ema_decay": ema_decay}
    gan = ganzoo.build_gan(**{k: v for k, v in hyper.items() if k in preset.BUILD_KEYS}, seed=1)
    folder.mkdir(parents=True)
    if ema_decay is None:
        gan.generator.save_weights(str(folder / "generator.weights.h5"))
    else:  # an EMA that has moved away from the raw G
        gan.ema_generator.set_weights([w * 0.5 for w in gan.generator.get_weights()])
        gan.ema_generator.save_weights(str(folder / "generator.weights.h5"))
        gan.generator.save_weights(str(folder / "generator_raw.weights.h5"))
    gan.discriminator.save_weights(str(folder / "discriminator.weights.h5"))
    names = [p.name for p in sorted(folder.glob("*.weights.h5"))]
    report = {
        "calls": [{"args": {"dataset": "synthetic:32", "seed": 0}}],
        "environment": {"device_kind": "NVIDIA H200", "jax": "0.11.2", "keras": "3.15.1"},
        "training": {"config": "sndcgan-ns-sn-cifar10", "d_step": d_step, "hyper": hyper,
                     "data_order": "numpy PCG64 permutation per (seed, data epoch)",
                     "weights": {n: _sha256(folder / n) for n in names}},
        "training_calls": [{"initial_d_step": 0, "d_step": d_step, "steady_ms_per_d_step": 6.3}],
        "fid_curve": [{"d_step": 2, "fid": 300.0, "generated": 8, "reference": 8}],
    }
    (folder / "report.json").write_text(json.dumps(report))
    return gan


def test_a_lease_folder_publishes_as_a_preset(tmp_path):
    gan = _lease_folder(tmp_path / "lease")
    records, summary = publishing.publish_run(tmp_path / "lease", tmp_path / "preset", name="lease-test")
    assert summary["d_steps"] == 3 and summary["g_steps"] == 3 and summary["status"] == "custom"
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert metadata["run"]["lease"]["trained_on"] == "NVIDIA H200"
    assert [r["d_step"] for r in metadata["fid_curve"]] == [2]
    card = (tmp_path / "preset" / "README.md").read_text()
    assert "Trained on one NVIDIA H200 with the jax backend" in card
    loaded = load(str(tmp_path / "preset"), progress=False)
    for a, b in zip(loaded.get_weights(), gan.generator.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_lease_with_an_ema_publishes_the_generator_with_the_lower_fid(tmp_path):
    gan = _lease_folder(tmp_path / "lease", ema_decay=0.999)
    for name, label, fid in (("eval.json", "ema", 31.0), ("eval_raw.json", "raw", 29.5)):
        weights = "generator.weights.h5" if label == "ema" else "generator_raw.weights.h5"
        record = {"metrics": {"fid": {"mean": fid, "std": 0.1}, "kid": {"mean": 0.05, "std": 0.01}},
                  "generator": label, "generator_weights": weights,
                  "protocol": {"n_generated": 8, "n_real": 8, "real": "test"}, "resolution": 8}
        (tmp_path / "lease" / name).write_text(json.dumps(record))
    _, summary = publishing.publish_run(
        tmp_path / "lease", tmp_path / "preset", name="lease-ema",
        metrics=[f"ema={tmp_path / 'lease' / 'eval.json'}", f"raw={tmp_path / 'lease' / 'eval_raw.json'}"],
        exclude_metrics=["kid"])
    assert summary["inference"]["generator"] == "raw"
    assert [m["name"] for m in summary["metrics"]] == ["fid"]  # kid left out as asked
    with pytest.raises(publishing.PublishError, match="cannot leave out fid"):
        publishing.publish_run(tmp_path / "lease", tmp_path / "other", name="x", exclude_metrics=["fid"])
    loaded = load(str(tmp_path / "preset"), progress=False)
    for a, b in zip(loaded.get_weights(), gan.generator.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_changed_lease_weight_file_is_refused(tmp_path):
    _lease_folder(tmp_path / "lease")
    path = tmp_path / "lease" / "discriminator.weights.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte inside the weights
    path.write_bytes(bytes(data))
    with pytest.raises(publishing.PublishError, match="not the file the lease trained"):
        publishing.publish_run(tmp_path / "lease", tmp_path / "preset", name="lease-test")
    assert not (tmp_path / "preset" / "metadata.json").exists()


def test_machine_paths_are_not_published():
    record = {"metrics": {"fid": {"mean": 24.0, "std": 0.2}},
              "protocol": {"real": "/root/lease/store/cache/fid_stats/cifar10_jpeg_test_features.npy",
                           "network": "Inception 2015-12-05 pool_3"}}
    (fid,) = publishing.normalize_metrics(record)
    assert "/root" not in fid["protocol"] and "real: cifar10_jpeg_test_features.npy" in fid["protocol"]


def test_the_published_card_says_whether_it_copies_its_training_images():
    """The nearest-neighbour measurement added after publication (`ganzoo publish --add-metrics`):
    the four numbers in metadata.json and the manifest, each with its protocol (the full training
    set, no machine path), and the card's section quoting them; the FID measured at publication
    is still the card's FID."""
    metadata = json.loads((MIRROR / "metadata.json").read_text())
    metrics = {m["name"]: m for m in metadata["metrics"]}
    copy_metrics = ("nn_ratio_median", "nn_ratio_p1", "nn_copy_share", "nn_duplicate_share")
    assert set(copy_metrics) <= set(metrics) and "measurements_updated" in metadata
    assert metadata["fid"]["ours"]["value"] == metrics["fid"]["value"]
    entry = manifest.get_entry(NAME)
    assert {m["name"]: m["value"] for m in entry["metrics"]} == {k: m["value"] for k, m in metrics.items()}
    for name in copy_metrics:
        protocol = metrics[name]["protocol"]
        assert "(50000 training samples)" in protocol and "/root" not in protocol and "/work" not in protocol, protocol
    card = (MIRROR / "README.md").read_text()
    assert "## Does it copy its training images?" in card
    assert f"{metrics['nn_ratio_median']['value']:.3g} times as far" in card
    assert f"{metrics['nn_copy_share']['value']:.2%} of the samples" in card
