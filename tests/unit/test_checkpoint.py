"""Atomic checkpoints: metadata, checksums, rotation, stale temporary files, unreadable,
corrupt and old (checksum-less) files, NaN check."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from ganzoo.checkpoint import (
    METADATA_ATTR,
    CheckpointError,
    CheckpointManager,
    all_finite,
    checkpoint_name,
    checksum_path,
    read_metadata,
    save_weights_atomically,
)
from ganzoo.utils.files import sha256_file


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


def test_unreadable_newest_checkpoint_falls_back(tmp_path):
    model = _model()
    manager = CheckpointManager(tmp_path, keep=5)
    manager.save(model, 1, {"tag": "good"})
    (tmp_path / checkpoint_name(2)).write_bytes(b"garbage, not HDF5")
    assert manager.latest()[0] == 1
    with pytest.raises(CheckpointError, match="not a readable ganzoo checkpoint"):
        read_metadata(tmp_path / checkpoint_name(2))
    assert manager.restore(_model(seed=3))["tag"] == "good"
    assert manager.restored_path == str(tmp_path / checkpoint_name(1))
    assert [p for p, _ in manager.skipped] == [str(tmp_path / checkpoint_name(2))]


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


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_opening_a_folder_touches_nothing_and_only_dead_writers_files_are_removed(tmp_path):
    model = _model()
    CheckpointManager(tmp_path).save(model, 5)
    dead = tmp_path / f".partial-{_dead_pid()}-0a1b2c3d-ckpt-000000006.weights.h5"
    dead.write_bytes(b"half a file")
    dead_sum = tmp_path / f".partial-{_dead_pid()}-0a1b2c3e-ckpt-000000006.weights.h5.sha256"
    dead_sum.write_text("half")
    dead_old = tmp_path / f"ckpt-000000006.tmp-{_dead_pid()}.weights.h5"  # before utils.files
    dead_old.write_bytes(b"half a file")
    orphan_sum = tmp_path / (checkpoint_name(6) + ".sha256")  # its checkpoint never arrived
    orphan_sum.write_text("0" * 64 + "  " + checkpoint_name(6) + "\n")
    # A process that is alive (here: this one) may be writing its temporary file right now.
    live = tmp_path / f".partial-{os.getpid()}-0a1b2c3f-ckpt-000000007.weights.h5"
    live.write_bytes(b"being written")
    manager = CheckpointManager(tmp_path)  # opening the folder deletes nothing
    assert dead.exists() and live.exists() and orphan_sum.exists()
    assert [s for s, _ in manager.checkpoints()] == [5]
    removed = manager.remove_temporary_files()
    assert sorted(removed) == sorted(map(str, (dead, dead_sum, dead_old, orphan_sum)))
    assert live.exists() and not dead.exists() and not orphan_sum.exists()
    assert [s for s, _ in manager.checkpoints()] == [5]
    assert (tmp_path / (checkpoint_name(5) + ".sha256")).exists()


def test_checkpoint_has_a_sha256sum_file(tmp_path):
    path = CheckpointManager(tmp_path).save(_model(), 3)
    digest, name = open(checksum_path(path)).read().split()
    assert name == checkpoint_name(3) and digest == sha256_file(path)
    assert read_metadata(path)["format"] == 2


def _flip_bytes_in_the_middle(path, count=64):
    data = bytearray(open(path, "rb").read())
    middle = len(data) // 2
    data[middle: middle + count] = np.random.default_rng(0).integers(0, 256, count, "uint8").tobytes()
    open(path, "wb").write(bytes(data))


def test_random_bytes_in_the_newest_checkpoint_are_detected(tmp_path, capsys):
    model = _model()
    _train(model)
    manager = CheckpointManager(tmp_path, keep=5)
    manager.save(model, 1, {"tag": "good"})
    _train(model)
    newest = manager.save(model, 2, {"tag": "newest"})
    _flip_bytes_in_the_middle(newest)
    # The HDF5 structure and the metadata still read: only the checksum tells.
    assert read_metadata(newest, verify=False)["tag"] == "newest"
    with pytest.raises(CheckpointError, match="does not match its checksum"):
        read_metadata(newest)
    problems = []
    assert manager.latest(problems)[0] == 1
    assert problems and problems[0][0] == newest
    other = _model(seed=5)
    assert manager.restore(other)["tag"] == "good"
    assert manager.restored_path == str(tmp_path / checkpoint_name(1))
    err = capsys.readouterr().err
    assert f"skipping checkpoint {checkpoint_name(2)}" in err and "checksum" in err
    assert f"using the older checkpoint {manager.restored_path}" in err
    # set_aside keeps the bad file, out of the way of rotation and resumes.
    moved = manager.set_aside(newest)
    assert os.path.exists(moved) and os.path.exists(moved + ".sha256")
    assert [s for s, _ in manager.checkpoints()] == [1]


def _rewrite_metadata(path, raw):
    import h5py

    with h5py.File(path, "r+") as handle:
        handle.attrs[METADATA_ATTR] = raw
    with open(checksum_path(path), "w") as handle:  # a consistent checksum: only JSON is bad
        handle.write(f"{sha256_file(path)}  {os.path.basename(path)}\n")


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", np.void(b"\xff\xfe")])
def test_malformed_metadata_falls_back(tmp_path, raw):
    model = _model()
    manager = CheckpointManager(tmp_path, keep=5)
    manager.save(model, 1, {"tag": "good"})
    bad = manager.save(model, 2)
    _rewrite_metadata(bad, raw)
    with pytest.raises(CheckpointError, match="malformed metadata"):
        read_metadata(bad)
    assert manager.latest()[0] == 1
    assert manager.restore(_model(seed=2))["tag"] == "good"


def test_no_usable_checkpoint_is_a_clear_error_naming_every_file(tmp_path):
    model = _model()
    manager = CheckpointManager(tmp_path, keep=5)
    first, second = manager.save(model, 1), manager.save(model, 2)
    with open(first, "r+b") as handle:  # truncated
        handle.truncate(100)
    _flip_bytes_in_the_middle(second)
    assert manager.latest() is None
    with pytest.raises(CheckpointError) as caught:
        manager.restore(_model(seed=1))
    message = str(caught.value)
    assert "none can be used" in message and "Nothing was changed or deleted" in message
    assert checkpoint_name(1) in message and checkpoint_name(2) in message
    assert "truncated" in message and "checksum" in message
    assert CheckpointManager(tmp_path / "empty").restore(_model()) is None


def _old_format_checkpoint(model, path, **metadata):
    """A checkpoint as ganzoo wrote them before checksums (format 1, no .sha256 file)."""
    import h5py

    model.save_weights(str(path))
    record = dict(metadata, format=1)
    with h5py.File(path, "a") as handle:
        handle.attrs[METADATA_ATTR] = json.dumps(record, sort_keys=True)
    return str(path)


def test_checkpoint_from_before_checksums_resumes_with_a_notice(tmp_path, capsys):
    model = _model()
    _train(model)
    old = _old_format_checkpoint(model, tmp_path / checkpoint_name(4), step=4, tag="old")
    manager = CheckpointManager(tmp_path)
    assert manager.latest()[1] == old
    other = _model(seed=9)
    assert manager.restore(other)["tag"] == "old"
    np.testing.assert_array_equal(np.asarray(other.weights[0]), np.asarray(model.weights[0]))
    assert "carries no checksum" in capsys.readouterr().err


def test_new_format_without_its_checksum_is_refused(tmp_path):
    manager = CheckpointManager(tmp_path, keep=5)
    manager.save(_model(), 1, {"tag": "good"})
    second = manager.save(_model(), 2)
    os.remove(checksum_path(second))
    with pytest.raises(CheckpointError, match="no checksum file"):
        read_metadata(second)
    assert manager.latest()[0] == 1


def test_old_checkpoint_that_loads_nan_is_refused(tmp_path):
    model = _model()
    manager = CheckpointManager(tmp_path, keep=5)
    manager.save(model, 1, {"tag": "good"})
    broken = _model()
    kernel = broken.layers[0].kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    _old_format_checkpoint(broken, tmp_path / checkpoint_name(2), step=2)
    assert manager.restore(_model(seed=4))["tag"] == "good"
    assert "NaN" in manager.skipped[0][1]


def test_a_temporary_file_removed_mid_save_is_not_saved_as_an_empty_checkpoint(tmp_path):
    """Another process deleting the half-written file must not turn it into a checkpoint that
    holds only metadata."""
    model = _model()

    class Vanishing:
        def save_weights(self, path):
            model.save_weights(path)
            os.remove(path)  # what a second process's clean-up used to do

    manager = CheckpointManager(tmp_path)
    with pytest.raises(CheckpointError, match="disappeared"):
        manager.save(Vanishing(), 3)
    assert manager.checkpoints() == [] and os.listdir(tmp_path) == []


def test_save_weights_atomically_keeps_the_old_file_on_failure(tmp_path):
    model = _model()
    path = tmp_path / "generator.weights.h5"
    save_weights_atomically(model, path)
    before = path.read_bytes()

    class Exploding:
        def save_weights(self, temp):
            assert os.path.dirname(temp) == str(tmp_path) and str(temp).endswith(".weights.h5")
            with open(temp, "wb") as handle:
                handle.write(b"partial")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_weights_atomically(Exploding(), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["generator.weights.h5"]
