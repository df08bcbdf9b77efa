"""Atomic checkpoints: metadata, rotation, stale temporary files, unreadable files, NaN check."""
import os

import keras
import numpy as np
import pytest

from ganzoo.checkpoint import (
    CheckpointError,
    CheckpointManager,
    all_finite,
    checkpoint_name,
    read_metadata,
)


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _train(model, steps=2):
    x = np.arange(12, dtype="float32").reshape(4, 3)
    model.fit(x, np.ones((4, 2), "float32"), batch_size=4, epochs=steps, verbose=0)


def test_save_restore_round_trip_with_metadata(tmp_path):
    model = _model()
    _train(model)
    manager = CheckpointManager(tmp_path / "ckpt", keep=2)
    path = manager.save(model, 2, {"hyper": {"lr": 0.01}})
    assert os.path.basename(path) == checkpoint_name(2) == "ckpt-000000002.weights.h5"
    meta = read_metadata(path)
    assert meta["step"] == 2 and meta["hyper"] == {"lr": 0.01}

    other = _model(seed=1)
    restored = manager.restore(other)
    assert restored["step"] == 2
    for a, b in zip(model.weights + model.optimizer.variables,
                    other.weights + other.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(np.asarray(other.optimizer.iterations)) == 2


def test_rotation_keeps_newest(tmp_path):
    model = _model()
    manager = CheckpointManager(tmp_path, keep=2)
    for step in (1, 2, 3, 4):
        manager.save(model, step)
    assert [s for s, _ in manager.checkpoints()] == [3, 4]
    assert manager.latest()[0] == 4
    with pytest.raises(ValueError, match="at least 1"):
        CheckpointManager(tmp_path, keep=0)


def test_stale_temporary_files_are_removed_and_ignored(tmp_path):
    model = _model()
    CheckpointManager(tmp_path).save(model, 5)
    stale = tmp_path / "ckpt-000000006.tmp-12345.weights.h5"
    stale.write_bytes(b"half a file")
    manager = CheckpointManager(tmp_path)  # opening the folder cleans up
    assert not stale.exists()
    assert [s for s, _ in manager.checkpoints()] == [5]


def test_unreadable_newest_checkpoint_falls_back(tmp_path):
    model = _model()
    manager = CheckpointManager(tmp_path, keep=5)
    manager.save(model, 1, {"tag": "good"})
    (tmp_path / checkpoint_name(2)).write_bytes(b"garbage, not HDF5")
    assert manager.latest()[0] == 1
    with pytest.raises(CheckpointError, match="not a readable ganzoo checkpoint"):
        read_metadata(tmp_path / checkpoint_name(2))
    assert manager.restore(_model(seed=3))["tag"] == "good"


def test_failed_write_leaves_no_file(tmp_path):
    class Exploding:
        def save_weights(self, path):
            with open(path, "wb") as handle:
                handle.write(b"partial")
            raise OSError("disk full")

    manager = CheckpointManager(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        manager.save(Exploding(), 7)
    assert os.listdir(tmp_path) == []


def test_all_finite_sees_nan_weights():
    model = _model()
    assert all_finite(model)
    kernel = model.layers[0].kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    assert not all_finite(model)
