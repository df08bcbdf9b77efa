"""Atomic training checkpoints that resume exactly.

A checkpoint is one file, `<dir>/ckpt-<D step, 9 digits>.weights.h5`: `gan.save_weights` (the
generator, the discriminator, their batch-norm statistics and spectral-norm vectors, both
optimizers' states, the EMA generator and the noise seed state) plus the run's metadata (step
counts, configuration, data order seed) as a JSON string in the HDF5 root attribute
`ganzoo_checkpoint`.

It is written to a temporary file in the same folder, flushed to disk, then renamed over its
final name with os.replace (atomic on POSIX and Windows), so a run killed at any moment, SIGKILL
included, leaves either the previous checkpoints or the new one, never a half-written file under
a checkpoint name. Stale temporary files are removed the next time the folder is opened. After a
successful write only the newest `keep` checkpoints are kept.
"""
import json
import os
import re
import time

import numpy as np

METADATA_ATTR = "ganzoo_checkpoint"
FORMAT_VERSION = 1
_NAME = re.compile(r"^ckpt-(\d{9,})\.weights\.h5$")
_TEMP_MARK = ".tmp-"


class CheckpointError(RuntimeError):
    """A checkpoint folder that cannot be resumed from; the message says what to do."""


def checkpoint_name(step):
    return f"ckpt-{int(step):09d}.weights.h5"


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; rename durability is the OS's business there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_metadata(path):
    """The metadata dict stored in a checkpoint file (raises CheckpointError if unreadable)."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs[METADATA_ATTR]
    except (OSError, KeyError) as error:
        raise CheckpointError(f"{path} is not a readable ganzoo checkpoint ({error}).") from None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return json.loads(raw)


def all_finite(model):
    """True when every variable of the model (optimizer state included) is finite."""
    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables += list(optimizer.variables)
    for variable in variables:
        value = np.asarray(variable)
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            return False
    return True


class CheckpointManager:
    """Saves, lists, rotates and restores the checkpoints of one training run.

        manager = CheckpointManager(os.path.join(model_dir, "checkpoints"), keep=3)
        manager.save(gan, step=gan_d_steps, metadata={...})
        metadata = manager.restore(gan)      # newest valid checkpoint; None if there is none
    """

    def __init__(self, directory, keep=3):
        if int(keep) < 1:
            raise ValueError(f"keep must be at least 1 (the checkpoint being resumed), got {keep}.")
        self.directory = os.fspath(directory)
        self.keep = int(keep)
        os.makedirs(self.directory, exist_ok=True)
        self.remove_temporary_files()

    def remove_temporary_files(self):
        """Delete temporary files left by a run that was killed while writing."""
        for name in os.listdir(self.directory):
            if _TEMP_MARK in name:
                try:
                    os.remove(os.path.join(self.directory, name))
                except OSError:
                    pass

    def checkpoints(self):
        """[(step, path)] of the checkpoint files, oldest first."""
        found = []
        for name in os.listdir(self.directory):
            match = _NAME.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(self.directory, name)))
        return sorted(found)

    def latest(self):
        """(step, path, metadata) of the newest readable checkpoint, or None."""
        for step, path in reversed(self.checkpoints()):
            try:
                return step, path, read_metadata(path)
            except CheckpointError:
                continue
        return None

    def save(self, model, step, metadata=None):
        """Write `model.save_weights` + metadata atomically as the checkpoint of `step`."""
        import h5py

        final = os.path.join(self.directory, checkpoint_name(step))
        temp = os.path.join(
            self.directory, f"ckpt-{int(step):09d}{_TEMP_MARK}{os.getpid()}.weights.h5"
        )
        record = dict(metadata or {})
        record.update(format=FORMAT_VERSION, step=int(step), saved_at=time.time())
        try:
            model.save_weights(temp)
            with h5py.File(temp, "a") as handle:
                handle.attrs[METADATA_ATTR] = json.dumps(record, sort_keys=True)
            with open(temp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temp, final)
        finally:
            if os.path.exists(temp):
                os.remove(temp)
        _fsync_dir(self.directory)
        self.rotate()
        return final

    def rotate(self):
        """Delete all but the newest `keep` checkpoints."""
        for _, path in self.checkpoints()[: -self.keep]:
            try:
                os.remove(path)
            except OSError:
                pass

    def restore(self, model, path=None):
        """Load a checkpoint (default: the newest readable one) into a built model.

        The model's optimizers must be built first so their states load. Returns the metadata,
        or None when the folder holds no checkpoint.
        """
        if path is None:
            for _, candidate in reversed(self.checkpoints()):
                try:
                    return self.restore(model, candidate)
                except Exception as error:  # an unreadable file: fall back to the previous one
                    print(f"ganzoo: skipping unreadable checkpoint {candidate}: {error}")
            return None
        metadata = read_metadata(path)
        model.load_weights(path)
        return metadata
