"""training/train.py end to end: a run killed with SIGKILL resumes from its last checkpoint with
nothing corrupted, and ends in exactly the state of an uninterrupted run (weights, both optimizer
states, EMA generator, batch-norm and spectral-norm buffers, noise seed state, data order); with
--deterministic, two runs of one seed are bitwise equal step for step.

The uninterrupted reference and the run to be killed train side by side in subprocesses.
"""
import glob
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from ganzoo import training  # the run itself (`ganzoo train` reads its flags into it)
from ganzoo.checkpoint import read_metadata

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "training", "train.py")
STEPS = 16  # discriminator steps; disc_iters 2 -> 8 fit steps
ARGS = [
    "--architecture", "sndcgan", "--resolution", "8", "--dataset", "synthetic:48",
    "--batch_size", "4", "--disc_iters", "2", "--steps", str(STEPS), "--checkpoint_every", "2",
    "--keep_checkpoints", "3", "--sample_every", "8", "--num_samples", "4", "--log_every", "4",
    "--ema_decay", "0.9", "--penalty", "wgan_gp", "--penalty_weight", "1", "--seed", "3",
    "--noprogress", "--deterministic",
]


def _start(model_dir, *extra, cache=None):
    import keras

    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               JAX_DISABLE_MOST_OPTIMIZATIONS="0")  # as optimised_xla (conftest.py): 95 -> 68 s on JAX
    if cache:  # JAX: the resumed run reuses the compilations of the first two
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache),
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    return subprocess.Popen([sys.executable, TRAIN, "--model_dir", str(model_dir), *ARGS, *extra],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _finish(process, timeout=500):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


def _steps(model_dir):
    """Steps of the files under a final checkpoint name (not the temporary files)."""
    names = (os.path.basename(p) for p in
             glob.glob(os.path.join(model_dir, "checkpoints", "ckpt-*.weights.h5")))
    return sorted(int(m.group(1)) for m in map(re.compile(r"ckpt-(\d+)\.weights\.h5$").match,
                                               names) if m)


def _h5_arrays(path):
    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: arrays.__setitem__(name, np.asarray(obj))
                          if isinstance(obj, h5py.Dataset) else None)
    return arrays


def _scalar_tags(model_dir):
    import tensorflow as tf

    tags = {}
    for path in glob.glob(os.path.join(model_dir, "logs", "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    return tags


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    reference_dir, victim_dir = tmp_path / "reference", tmp_path / "victim"
    cache = tmp_path / "jax-cache"
    reference = _start(reference_dir, "--keep_checkpoints", "100", cache=cache)  # keeps every one
    victim = _start(victim_dir, cache=cache)

    deadline = time.time() + 500
    while not any(step >= 6 for step in _steps(victim_dir)):
        assert victim.poll() is None, victim.communicate()[0][-4000:]
        assert time.time() < deadline, "the run never wrote its checkpoint of step 6"
        time.sleep(0.02)
    time.sleep(random.uniform(0.0, 0.4))  # somewhere in the next step or checkpoint write
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    killed_at = _steps(victim_dir)
    assert killed_at and max(killed_at) < STEPS, killed_at

    # Nothing under a checkpoint name is damaged.
    before_kill = {}
    for step in killed_at:
        path = os.path.join(victim_dir, "checkpoints", f"ckpt-{step:09d}.weights.h5")
        assert read_metadata(path)["d_step"] == step
        before_kill[step] = _h5_arrays(path)
        assert before_kill[step]

    output = _finish(_start(victim_dir, "--resume", cache=cache))
    _finish(reference)

    # --deterministic: up to the kill, the two processes ran one seed from scratch and wrote
    # bitwise-equal checkpoints (without it, TensorFlow's CPU kernels made two such runs of this
    # model differ by 4e-3 in an Adam moment after 16 steps).
    for step, second in before_kill.items():
        name = f"checkpoints/ckpt-{step:09d}.weights.h5"
        first = _h5_arrays(os.path.join(reference_dir, name))
        assert first.keys() == second.keys()
        for key in first:
            np.testing.assert_array_equal(second[key], first[key], err_msg=f"{name}: {key}")

    assert "resumed from" in output and f"at discriminator step {max(killed_at)}" in output

    # Same end state, bit for bit on both backends: every variable of the GAN and both
    # optimizers, the EMA, the batch-norm and spectral-norm buffers, the noise state. (Without
    # --deterministic, TensorFlow reached it only to round-off, up to 4e-5 in a few buffers.)
    final = f"checkpoints/ckpt-{STEPS:09d}.weights.h5"
    expected = _h5_arrays(os.path.join(reference_dir, final))
    resumed = _h5_arrays(os.path.join(victim_dir, final))
    assert expected.keys() == resumed.keys()
    assert any("optimizer" in k for k in expected) and any("ema" in k for k in expected)
    assert any("noise_state" in k for k in expected)  # the noise stream continues too
    for key in expected:
        np.testing.assert_array_equal(resumed[key], expected[key], err_msg=key)
    meta = read_metadata(os.path.join(victim_dir, final))
    assert (meta["d_step"], meta["fit_step"]) == (STEPS, STEPS // 2)
    assert meta["hyper"]["ema_decay"] == 0.9

    # Rotation, sample grids, TensorBoard scalars, config.json and inference weights.
    assert _steps(victim_dir) == [STEPS - 4, STEPS - 2, STEPS]
    assert sorted(os.listdir(reference_dir / "samples")) == [  # EMA grids and raw-G grids
        "step_000000008.png", "step_000000008_raw.png", "step_000000016.png",
        "step_000000016_raw.png"]
    for step in _steps(victim_dir):  # the resumed run's checkpoints carry their checksums
        assert os.path.isfile(os.path.join(victim_dir, "checkpoints",
                                           f"ckpt-{step:09d}.weights.h5.sha256"))
    tags = _scalar_tags(str(reference_dir))
    for tag in ("d_loss", "g_loss", "penalty", "steps_per_sec"):
        assert tags.get(tag) == [4, 8, 12, 16], (tag, tags)
    config = json.loads((reference_dir / "config.json").read_text())
    assert config["training"]["steps"] == STEPS and config["dataset"] == "synthetic:48"
    assert config["deterministic"] is True
    for name in ("generator.weights.h5", "generator_raw.weights.h5", "discriminator.weights.h5"):
        assert (reference_dir / name).is_file()
    assert not glob.glob(os.path.join(victim_dir, "checkpoints", "*.tmp-*"))
    assert not glob.glob(os.path.join(victim_dir, "checkpoints", ".partial-*"))


# ------------------------------------------------------------- corrupt checkpoints, final weights
def _load_train_script():
    from ganzoo.cli import train  # `ganzoo train`; training/train.py forwards to it

    return train


SMALL = ["--architecture", "sndcgan", "--resolution", "8", "--dataset", "synthetic:16",
         "--batch_size", "4", "--checkpoint_every", "2", "--keep_checkpoints", "5",
         "--sample_every", "0", "--num_samples", "0", "--log_every", "2", "--seed", "1",
         "--noprogress"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A finished 4-step run (checkpoints of steps 2 and 4, final weights), trained in-process."""
    train = _load_train_script()
    model_dir = tmp_path_factory.mktemp("small") / "run"
    train.parse_flags(["train.py", "--model_dir", str(model_dir), "--steps", "4", *SMALL])
    training.run(train.resolve_settings())
    return train, model_dir


def _copy_run(small_run, tmp_path):
    import shutil

    train, model_dir = small_run
    copy = tmp_path / "run"
    shutil.copytree(model_dir, copy)
    return train, copy


@pytest.mark.slow
def test_resume_falls_back_from_a_corrupt_newest_checkpoint(small_run, tmp_path, capsys):
    train, run_dir = _copy_run(small_run, tmp_path)
    newest = run_dir / "checkpoints" / "ckpt-000000004.weights.h5"
    data = bytearray(newest.read_bytes())
    middle = len(data) // 2
    data[middle: middle + 256] = np.random.default_rng(0).integers(0, 256, 256, "uint8").tobytes()
    newest.write_bytes(bytes(data))  # random bytes in the weights: HDF5 still opens it
    capsys.readouterr()
    train.parse_flags(["train.py", "--model_dir", str(run_dir), "--resume", "--steps", "6", *SMALL])
    summary = training.run(train.resolve_settings())
    out, err = capsys.readouterr()
    assert "skipping checkpoint ckpt-000000004.weights.h5" in err and "checksum" in err
    used = run_dir / "checkpoints" / "ckpt-000000002.weights.h5"
    assert f"resumed from {used} at discriminator step 2" in out
    # The bad file is kept aside (not deleted, not rotated, not resumed from again).
    assert (run_dir / "checkpoints" / "ckpt-000000004.weights.h5.unreadable").exists()
    assert summary["d_step"] == 6
    assert read_metadata(run_dir / "checkpoints" / "ckpt-000000006.weights.h5")["d_step"] == 6
    assert read_metadata(run_dir / "checkpoints" / "ckpt-000000004.weights.h5")["d_step"] == 4


def test_nan_message_names_a_verified_checkpoint(tmp_path):
    """The NaN stop's "last good checkpoint" is one that passes its checksum."""
    import keras

    from ganzoo.callbacks import NaNGuard
    from ganzoo.checkpoint import CheckpointManager

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    manager = CheckpointManager(tmp_path)
    good = manager.save(model, 2)
    bad = manager.save(model, 4)
    with open(bad, "r+b") as handle:
        handle.seek(os.path.getsize(bad) // 2)
        handle.write(b"\x00garbage\x00" * 8)
    guard = NaNGuard(checkpoint_manager=manager)
    guard.set_model(model)
    guard.on_d_step(5, {"d_loss": float("nan")})
    assert f"The last good checkpoint is {good}" in guard.failed


@pytest.mark.slow
def test_final_weights_are_replaced_atomically(small_run, tmp_path, monkeypatch):
    """A failure while writing generator.weights.h5 leaves the previous complete file."""
    from ganzoo.architectures.base import Generator

    train, run_dir = _copy_run(small_run, tmp_path)
    final = run_dir / "generator.weights.h5"
    before = final.read_bytes()

    def failing_save(self, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a weights file")
        raise OSError("disk full")

    monkeypatch.setattr(Generator, "save_weights", failing_save)
    train.parse_flags(["train.py", "--model_dir", str(run_dir), "--resume", "--steps", "6", *SMALL])
    with pytest.raises(OSError, match="disk full"):
        training.run(train.resolve_settings())
    assert final.read_bytes() == before
    assert not [name for name in os.listdir(run_dir) if name.startswith(".partial-")]
