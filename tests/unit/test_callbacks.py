"""Training callbacks: step counting, TensorBoard scalars, progress bar, and, on a real tiny GAN,
the NaN stop that keeps the last good checkpoint, checkpoints, sample grids and FID hooks."""
import glob
import json
import os

import numpy as np
import pytest

from ganzoo import callbacks as gcb
from ganzoo.checkpoint import CheckpointManager, read_metadata


class _Model:
    stop_training = False


def _drive(callback, steps, logs=None):
    callback.set_model(_Model())
    callback.set_params({"epochs": 1, "steps": steps})
    callback.on_train_begin()
    for batch in range(steps):
        callback.on_train_batch_end(batch, dict(logs or {"d_loss": 1.0, "g_loss": 2.0,
                                                         "penalty": 0.0}))
    callback.on_train_end()
    return callback


def test_steps_are_discriminator_steps_and_resume_offsets():
    seen = []

    class Recorder(gcb.StepCallback):
        def on_d_step(self, d_step, logs):
            if self.crossed(d_step, 10):
                seen.append(d_step)

    _drive(Recorder(disc_iters=5, initial_d_step=15), 7)  # D steps 20, 25, ..., 50
    assert seen == [20, 30, 40, 50]


def test_scalar_logger_writes_tensorboard_events(tmp_path):
    import tensorflow as tf

    logger = _drive(gcb.ScalarLogger(tmp_path, every=2, disc_iters=1), 4)
    logger.scalar("fid", 12.5, 4)
    logger.on_train_end()
    found = {}
    for path in glob.glob(str(tmp_path / "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(
                    (event.step, float(tf.make_ndarray(value.tensor))))
                assert value.metadata.plugin_data.plugin_name == "scalars"
    assert found["d_loss"] == [(2, 1.0), (4, 1.0)] and found["g_loss"][-1] == (4, 2.0)
    assert [step for step, _ in found["steps_per_sec"]] == [2, 4]
    assert all(rate > 0 for _, rate in found["steps_per_sec"])
    assert found["fid"] == [(4, 12.5)]


def test_progress_bar_shows_rate_and_eta(capsys):
    progress = _drive(gcb.Progress(total_d_steps=20, disc_iters=2, initial_d_step=10,
                                   interval=0.0), 5)
    out = capsys.readouterr().out
    assert "steps/s" in out and "d_loss" in out and "10/10" in out  # D steps of this run
    assert progress.rate is not None and progress.rate > 0


def test_nan_guard_stops_with_a_clear_message(tmp_path):
    guard = gcb.NaNGuard(disc_iters=1, checkpoint_manager=CheckpointManager(tmp_path))
    _drive(guard, 2, {"d_loss": float("nan"), "g_loss": 1.0})
    assert guard.model.stop_training
    assert "discriminator step 1" in guard.failed and "d_loss=nan" in guard.failed
    assert "No checkpoint was written" in guard.failed
    with pytest.raises(gcb.NonFiniteLossError, match="lowering the learning rates"):
        guard.raise_if_failed()


def test_fid_fn_is_skipped_cleanly_without_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path))  # no Inception weights in an empty cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fid_fn, reason = gcb.make_fid_fn(np.zeros((4, 8, 8, 3), np.float32), num_samples=4)
    assert fid_fn is None and reason


def test_fid_reference_statistics_are_cached_per_reference(monkeypatch, tmp_path):
    """A resumed run reuses the reference statistics; another reference is measured anew."""
    from ganzoo.metrics import inception

    class MeanColour:  # a stand-in feature network: per-image mean of each channel
        def features(self, images):
            return np.asarray(images, np.float64).mean(axis=(1, 2))

    monkeypatch.setattr(inception, "default_network", lambda batch_size: MeanColour())
    rng = np.random.default_rng(0)
    calls = []

    def reference():
        calls.append(1)
        return rng.uniform(0, 1, size=(16, 4, 4, 3)).astype(np.float32)

    cache = str(tmp_path / "fid_reference.npz")
    key = {"dataset": "d", "split": "test", "count": 16}
    first, _ = gcb.make_fid_fn(reference, num_samples=16, cache_path=cache, cache_key=key)
    again, _ = gcb.make_fid_fn(reference, num_samples=16, cache_path=cache, cache_key=key)
    assert len(calls) == 1  # the second run read the cache

    class Constant:
        def sample(self, num, seed=None):
            return np.random.default_rng(seed).uniform(0, 1, size=(num, 4, 4, 3))

    assert first(Constant()) == pytest.approx(again(Constant()), rel=1e-12)
    gcb.make_fid_fn(reference, num_samples=16, cache_path=cache, cache_key=dict(key, count=8))
    assert len(calls) == 2  # another reference: measured again
    open(cache, "wb").write(b"not an npz")
    gcb.make_fid_fn(reference, num_samples=16, cache_path=cache, cache_key=key)
    assert len(calls) == 3  # an unreadable cache is measured again, not trusted



def test_a_resume_measures_the_fid_that_the_kill_skipped(tmp_path):
    """Killed after the checkpoint at step 20 but before its FID: the resume (at 20) measures 20
    first; a resume at a step already recorded, or between multiples, measures nothing extra."""
    record = tmp_path / "fid.jsonl"
    record.write_text(json.dumps({"d_step": 10, "fid": 50.0}) + "\n")
    measured = []

    def fid_fn(model):
        measured.append(model)
        return 40.0 - len(measured)

    def steps():
        return [json.loads(line)["d_step"] for line in record.read_text().splitlines()]

    _drive(gcb.FID(fid_fn, 10, initial_d_step=20, record_path=str(record)), 15)  # to D step 35
    assert steps() == [10, 20, 30]
    _drive(gcb.FID(fid_fn, 10, initial_d_step=30, record_path=str(record)), 5)  # 30 is recorded
    _drive(gcb.FID(fid_fn, 10, initial_d_step=35, record_path=str(record)), 3)  # 35: no multiple
    assert steps() == [10, 20, 30] and len(measured) == 2
    fresh = tmp_path / "fresh.jsonl"  # a run resumed at 20 that never had a record file
    _drive(gcb.FID(fid_fn, 10, initial_d_step=20, record_path=str(fresh)), 1)
    assert [json.loads(line)["d_step"] for line in fresh.read_text().splitlines()] == [20]


@pytest.mark.slow
def test_nan_stop_keeps_last_good_checkpoint_on_a_real_gan(tmp_path):
    """Two good steps, then NaN images: training stops at step 3, checkpoint 2 stays newest."""
    import tensorflow as tf

    import ganzoo
    from ganzoo import data

    gan = ganzoo.build_gan(architecture="sndcgan", resolution=8, normalization="spectral",
                           loss="ns", penalty="none", disc_iters=1, g_lr=2e-4, d_lr=2e-4,
                           beta1=0.5, beta2=0.999, ema_decay=0.9, seed=0)
    images = data.synthetic(16, resolution=8).images.astype(np.float32) / 255.0
    images[8:] = np.nan  # batches of 4: steps 1 and 2 are good, step 3 is NaN
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4, drop_remainder=True)
    manager = CheckpointManager(tmp_path / "checkpoints", keep=5)
    measured = []
    callbacks, guard = gcb.standard_callbacks(
        str(tmp_path), total_d_steps=4, disc_iters=1, checkpoint_manager=manager,
        checkpoint_every=1, metadata={"hyper": {"steps": 4}}, sample_every=1, num_samples=4,
        log_every=1, fid_fn=lambda model: measured.append(type(model).__name__) or 1.0, fid_every=2,
        progress=False,
    )
    gan.fit(dataset, epochs=1, steps_per_epoch=4, verbose=0, shuffle=False, callbacks=callbacks)

    assert [step for step, _ in manager.checkpoints()] == [1, 2]
    last = manager.latest()
    assert last[0] == 2 and read_metadata(last[1])["fit_step"] == 2
    with pytest.raises(gcb.NonFiniteLossError, match=r"step 3.*ckpt-000000002\.weights\.h5"):
        guard.raise_if_failed()
    # FID ran once, at step 2 and not on the broken model: the EMA (the GAN) and the raw G.
    assert measured == ["GAN", "SNDCGANGenerator"]
    records = [json.loads(line) for line in open(tmp_path / "fid.jsonl")]
    assert [(r["d_step"], sorted(r)) for r in records] == [(2, ["d_step", "fid", "fid_raw", "seconds"])]
    assert sorted(os.listdir(tmp_path / "samples")) == [
        "step_000000001.png", "step_000000001_raw.png", "step_000000002.png", "step_000000002_raw.png"]

    # The last good checkpoint restores into a fresh model with finite weights.
    from ganzoo.checkpoint import all_finite

    manager.restore(gan)
    assert all_finite(gan) and gan.d_steps == 2
