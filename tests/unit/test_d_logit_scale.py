"""benchmarks/d_logit_scale.py: the logit summary against closed forms and a pairwise count, and
the measurement's plumbing (real images with their labels, a conditional D scoring each image with
its class) on small models and synthetic data."""
import itertools
import json
import math
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

import d_logit_scale  # noqa: E402


def test_logits_all_zero_give_two_ln_two_and_chance():
    row = d_logit_scale.logit_summary(np.zeros(7), np.zeros(5))
    assert row["d_loss"] == pytest.approx(2 * math.log(2), rel=1e-12)
    assert row["auc"] == pytest.approx(0.5)  # every pair a tie
    assert row["real_std"] == 0 and row["fake_mean"] == 0


def test_summary_matches_a_pairwise_count_and_the_loss_by_hand():
    rng = np.random.default_rng(0)
    real = np.round(rng.normal(0.5, 1.0, 40), 1)  # rounded: ties between the sides occur
    fake = np.round(rng.normal(-0.5, 1.0, 30), 1)
    wins = sum(1.0 if r > f else 0.5 if r == f else 0.0 for r, f in itertools.product(real, fake))
    row = d_logit_scale.logit_summary(real, fake)
    assert row["auc"] == pytest.approx(wins / (40 * 30), rel=1e-12)
    by_hand = (np.mean([math.log1p(math.exp(-r)) for r in real])
               + np.mean([math.log1p(math.exp(f)) for f in fake]))
    assert row["d_loss"] == pytest.approx(by_hand, rel=1e-12)
    assert row["real_mean"] == pytest.approx(real.mean()) and row["fake_std"] == pytest.approx(fake.std())
    assert d_logit_scale.logit_summary([3.0, 2.0], [1.0, -1.0])["auc"] == 1.0


def test_take_images_with_labels_keeps_each_image_with_its_label():
    from ganzoo.data.pipeline import take_images
    from ganzoo.data.sources import synthetic

    source = synthetic(40, resolution=8, num_classes=4)
    images, labels = take_images(source, 12, seed=3, with_labels=True)
    assert np.array_equal(images, take_images(source, 12, seed=3))
    for image, label in zip(images, labels):
        matches = np.flatnonzero(np.all(source.images == np.rint(image * 255).astype(np.uint8), axis=(1, 2, 3)))
        assert len(matches) == 1 and source.labels[matches[0]] == label
    unlabelled = source.__class__(**{**source.__dict__, "labels": None})
    with pytest.raises(ValueError, match="has no labels"):
        take_images(unlabelled, 4, with_labels=True)


@pytest.mark.parametrize("num_classes", [0, 4])
def test_measure_scores_real_and_generated_images_with_their_classes(num_classes):
    import ganzoo

    gan = ganzoo.build_gan("sndcgan", resolution=32, num_classes=num_classes, seed=0)
    seen = []
    discriminator = gan.discriminator

    class Recording:  # records what D is called with, and answers as D does
        def __call__(self, images, training=False, **kwargs):
            seen.append((len(images), training, kwargs.get("labels")))
            return discriminator(images, training=training, **kwargs)

    gan.discriminator = Recording()
    row = d_logit_scale.measure(gan, "synthetic", 10, batch_size=4)
    assert [n for n, _, _ in seen] == [4, 4, 2, 4, 4, 2] and not any(t for _, t, _ in seen)
    if num_classes:
        real_labels = np.concatenate([labels for _, _, labels in seen[:3]])
        fake_labels = np.concatenate([labels for _, _, labels in seen[3:]])
        assert np.array_equal(real_labels, fake_labels) and real_labels.dtype == np.int32
    else:
        assert all(labels is None for _, _, labels in seen)
    assert 0.0 <= row["auc"] <= 1.0 and row["d_loss"] > 0


def test_command_refuses_a_folder_that_is_no_run(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"training": {}}))
    with pytest.raises(SystemExit):
        d_logit_scale.main([str(tmp_path), "--num", "1"])
    assert "--num must be 2 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        d_logit_scale.main([str(tmp_path), "--checkpoint", "ckpt-000000001.weights.h5"])
    assert "needs a run folder" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="is neither a run folder .* nor a zoo model: .*no metadata.json"):
        d_logit_scale.main([str(tmp_path)])


def test_command_refuses_a_run_without_the_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"training": {"architecture": "sndcgan"}}))
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(SystemExit, match="holds no checkpoint yet"):
        d_logit_scale.main([str(tmp_path)])
    with pytest.raises(SystemExit, match="no checkpoint .*ckpt-000000250.weights.h5"):
        d_logit_scale.main([str(tmp_path), "--checkpoint", "ckpt-000000250.weights.h5"])


def test_command_reads_a_run_folder_at_its_newest_or_a_named_checkpoint(tmp_path, capsys):
    from ganzoo import training
    from ganzoo.recipe import Recipe

    run_dir = tmp_path / "run"
    training.run(training.RunOptions(
        model_dir=str(run_dir), recipe=Recipe("sndcgan", resolution=8, batch_size=4, steps=2),
        dataset="synthetic:16", checkpoint_every=1, keep_checkpoints=2, sample_every=0,
        num_samples=0, log_every=2, progress=False))
    capsys.readouterr()
    assert d_logit_scale.main([str(run_dir), "--num", "6", "--train_d_steps", "2", "--batch_size", "4"]) == 0
    assert d_logit_scale.main([str(run_dir), "--num", "6", "--checkpoint", "ckpt-000000001.weights.h5"]) == 0
    out = capsys.readouterr().out
    assert out.count("then 2 steps of D alone") == 1
    rows = [line for line in out.splitlines() if " at D step " in line]
    assert len(rows) == 2
    assert "at D step 2 (ckpt-000000002.weights.h5)" in rows[0]
    assert "at D step 1 (ckpt-000000001.weights.h5)" in rows[1]
    # A tampered checkpoint is refused, never measured.
    path = run_dir / "checkpoints" / "ckpt-000000001.weights.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(Exception, match="does not match its checksum"):
        d_logit_scale.main([str(run_dir), "--num", "6", "--checkpoint", str(path)])


def test_training_d_alone_leaves_g_unchanged():
    import ganzoo

    gan = ganzoo.build_gan("sndcgan", resolution=8, seed=0)
    g_before = [np.array(w) for w in gan.generator.trainable_weights]
    d_before = [np.array(w) for w in gan.discriminator.trainable_weights]
    d_loss = d_logit_scale.train_discriminator_alone(gan, "synthetic:16", 3, batch_size=4)
    assert gan.d_steps == 3 and np.isfinite(d_loss)
    for before, after in zip(g_before, gan.generator.trainable_weights):
        np.testing.assert_array_equal(before, np.array(after))
    assert any(not np.array_equal(b, np.array(a)) for b, a in zip(d_before, gan.discriminator.trainable_weights))


def _peer_settings():
    return {"peer": "kerasio_tf", "architecture": "sndcgan", "loss": "ns", "lr": 2e-4,
            "beta1": 0.5, "beta2": 0.999, "batch_size": 8, "dataset": "synthetic", "seed": 0,
            "fid_samples": 2049, "fid_split": "test", "checkpoint_every": 2}


@pytest.mark.skipif(__import__("keras").backend.backend() != "tensorflow",
                    reason="the keras.io peer is TensorFlow code")
def test_command_reads_a_peer_run_at_its_newest_or_a_named_state(tmp_path, capsys):
    import peer_fid_curve

    run_dir = tmp_path / "peer"
    run_dir.mkdir()
    rng = np.random.default_rng(0)
    states = {}
    for step in (2, 4):  # two states of other weights, saved as peer_fid_curve.py saves them
        gan = peer_fid_curve.build_peer(_peer_settings())
        for variable in gan.discriminator.trainable_weights + gan.generator.trainable_weights:
            variable.assign(np.asarray(variable) + rng.normal(0, 0.05, variable.shape).astype("float32"))
        gan.save_weights(str(run_dir / peer_fid_curve.state_name(step)))
        states[step] = d_logit_scale.measure(
            d_logit_scale._PeerModels(gan, peer_fid_curve.PeerSampler(gan.generator)), "synthetic", 6)
    (run_dir / "progress.json").write_text(json.dumps({
        "d_step": 4, "weights": peer_fid_curve.state_name(4), "seed_state": [1337, 0],
        "settings": _peer_settings()}))
    assert states[2]["real_mean"] != pytest.approx(states[4]["real_mean"], rel=1e-3)

    for checkpoint, step in ((None, 4), ("peer-00000002.weights.h5", 2),
                             (str(run_dir / "peer-00000004.weights.h5"), 4)):
        models, dataset, label = d_logit_scale._peer_gan(str(run_dir), checkpoint)
        assert dataset == "synthetic" and f"(keras.io peer) at D step {step}" in label
        row = d_logit_scale.measure(models, dataset, 6)
        for key, value in states[step].items():
            assert row[key] == pytest.approx(value, rel=1e-5, abs=1e-6), (checkpoint, key)
    assert d_logit_scale.main([str(run_dir), "--num", "6"]) == 0
    assert "keras.io peer) at D step 4 (peer-00000004.weights.h5)" in capsys.readouterr().out

    with pytest.raises(SystemExit, match="no peer state .*peer-00000006.weights.h5"):
        d_logit_scale.main([str(run_dir), "--checkpoint", "peer-00000006.weights.h5"])
    with pytest.raises(SystemExit):
        d_logit_scale.main([str(run_dir), "--train_d_steps", "2"])
    assert "is a keras.io peer run" in capsys.readouterr().err
    (run_dir / "peer-00000002.weights.h5").write_bytes(b"torn")
    with pytest.raises(SystemExit, match="is not a state of this peer run"):
        d_logit_scale.main([str(run_dir), "--checkpoint", "peer-00000002.weights.h5"])
