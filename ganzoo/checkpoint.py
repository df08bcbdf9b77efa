"""Atomic, checksummed training checkpoints that resume exactly.

A checkpoint is one file, `<dir>/ckpt-<D step, 9 digits>.weights.h5`: `gan.save_weights` (the
generator, the discriminator, their batch-norm statistics and spectral-norm vectors, both
optimizers' states, the EMA generator and the noise seed state) plus the run's metadata (step
counts, configuration, data order seed) as a JSON string in the HDF5 root attribute
`ganzoo_checkpoint`. Beside it, `<name>.sha256` holds the file's SHA-256 in `sha256sum` format
(`sha256sum -c ckpt-000005000.weights.h5.sha256` checks it by hand).

Writing: the weights and metadata go to a temporary file in the same folder, which is flushed to
disk and hashed; the checksum file is written the same way and renamed into place, then the
checkpoint is renamed over its final name with os.replace (atomic on POSIX and Windows). A run
killed at any moment, SIGKILL included, leaves the previous checkpoints and at most a temporary
file or a checksum without its checkpoint, never a half-written file under a checkpoint name.

Reading: a checkpoint is used only if its bytes match its checksum and its metadata parses;
otherwise the next older one is tried, and the reason is reported. Checkpoints written before
checksums existed (metadata format 1) carry none: they are still read, with a notice that they
cannot be verified. A format-2 checkpoint whose checksum file is missing is refused.

Temporary files of dead processes are removed by `remove_temporary_files()`, which the training
script calls while it holds the run folder's lock (ganzoo.runlock); files of a process that is
still alive are never touched. After a successful write only the newest `keep` checkpoints are
kept. Hashing and atomic writes are ganzoo.utils.files' (`sha256_file`, `atomic_output`,
`save_weights`).
"""
import json
import os
import re
import sys
import time

import numpy as np

from ganzoo.utils.files import atomic_output, save_weights, sha256_file, write_text

METADATA_ATTR = "ganzoo_checkpoint"
FORMAT_VERSION = 2  # 2: a .sha256 file beside each checkpoint; 1: no checksum
CHECKSUM_SUFFIX = ".sha256"
UNREADABLE_SUFFIX = ".unreadable"
_NAME = re.compile(r"^ckpt-(\d{9,})\.weights\.h5$")
# Temporary files and the pid of their writer: ganzoo.utils.files' `.partial-<pid>-<id>-<name>`,
# and `<stem>.tmp-<pid>.weights.h5` of the ganzoo versions before it.
_TEMP_PID = (re.compile(r"^\.partial-(\d+)-"), re.compile(r"\.tmp-(\d+)(?:\.|$)"))


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used, or a folder that cannot be resumed; the message says
    what is wrong and what to do."""


def checkpoint_name(step):
    return f"ckpt-{int(step):09d}.weights.h5"


def checksum_path(path):
    return os.fspath(path) + CHECKSUM_SUFFIX


def _log(message):
    print(f"ganzoo: {message}", file=sys.stderr, flush=True)


# The final weight files of a run (`ganzoo train`): `model.save_weights(path)` atomically.
save_weights_atomically = save_weights


def _read_checksum(path):
    """The hex digest stored beside `path`, or None when there is no checksum file."""
    sidecar = checksum_path(path)
    try:
        with open(sidecar, encoding="utf-8") as handle:
            text = handle.read(4096)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CheckpointError(f"{sidecar} cannot be read ({error}).") from None
    fields = text.split()
    if not fields or not re.fullmatch(r"[0-9a-f]{64}", fields[0]):
        raise CheckpointError(f"{sidecar} is not a sha256 checksum file (its content is "
                              f"{text[:80]!r}).")
    return fields[0]


def has_checksum(path):
    return os.path.exists(checksum_path(path))


def read_metadata(path, verify=True):
    """The metadata dict stored in a checkpoint file.

    With `verify` (the default) the file's bytes must match its checksum file first (files
    written before checksums, format 1, have none and are read as they are). Raises
    CheckpointError naming the problem for a corrupt, tampered, truncated or foreign file.
    """
    import h5py

    path = os.fspath(path)
    expected = _read_checksum(path) if verify else None
    if expected is not None:
        try:
            actual = sha256_file(path)
        except OSError as error:
            raise CheckpointError(f"{path} cannot be read ({error}).") from None
        if actual != expected:
            raise CheckpointError(
                f"{path} does not match its checksum (sha256 {actual[:12]}..., "
                f"{checksum_path(path)} says {expected[:12]}...): the file is corrupt, truncated "
                "or was modified.")
    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs[METADATA_ATTR]
    except KeyError:
        raise CheckpointError(f"{path} is an HDF5 file without ganzoo checkpoint metadata: not "
                              "a checkpoint written by ganzoo.") from None
    except Exception as error:  # OSError from HDF5 for truncated or random bytes, and others
        raise CheckpointError(f"{path} is not a readable ganzoo checkpoint: HDF5 cannot open "
                              f"it ({error}); it is truncated or corrupt.") from None
    try:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        metadata = json.loads(raw)
    except (UnicodeDecodeError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path} has malformed metadata ({error}).") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path} has malformed metadata: a {type(metadata).__name__}, "
                              "not a JSON object.")
    if verify and expected is None and int(metadata.get("format", 1)) >= 2:
        raise CheckpointError(f"{path} has no checksum file ({checksum_path(path)} is missing), "
                              "yet it was written with one: it cannot be verified.")
    return metadata


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


def _process_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists but not ours, or cannot tell: keep its files
        return True
    return True


def _writer_pid(name):
    for pattern in _TEMP_PID:
        match = pattern.search(name)
        if match:
            return int(match.group(1))
    return None


def remove_stale_temporary_files(directory):
    """Delete the temporary files (see `_TEMP_PID`) of processes that no longer exist: writes
    cut short by a kill. Files of a live process (this one included) are kept: it may be writing
    them. Returns the removed paths."""
    removed = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return removed
    for name in names:
        pid = _writer_pid(name)
        if pid is None or _process_alive(pid):
            continue
        try:
            os.remove(os.path.join(directory, name))
            removed.append(os.path.join(directory, name))
        except OSError:
            pass
    return removed


class CheckpointManager:
    """Saves, lists, rotates, verifies and restores the checkpoints of one training run.

        manager = CheckpointManager(os.path.join(model_dir, "checkpoints"), keep=3)
        manager.save(gan, step=gan_d_steps, metadata={...})
        metadata = manager.restore(gan)      # newest valid checkpoint; None if there is none
        manager.restored_path                # the file restore() really used

    Creating a manager touches nothing on disk; the folder is made by the first save.
    """

    def __init__(self, directory, keep=3):
        if int(keep) < 1:
            raise ValueError(f"keep must be at least 1 (the checkpoint being resumed), got {keep}.")
        self.directory = os.fspath(directory)
        self.keep = int(keep)
        self.restored_path = None
        self.skipped = []  # [(path, reason)] of newer checkpoints restore() could not use

    def remove_temporary_files(self):
        """Delete temporary files left by killed writers and checksum files whose checkpoint
        was never renamed into place. Call it only while holding the run's lock."""
        removed = remove_stale_temporary_files(self.directory)
        if not os.path.isdir(self.directory):
            return removed
        for name in os.listdir(self.directory):
            if name.endswith(CHECKSUM_SUFFIX) and _NAME.match(name[: -len(CHECKSUM_SUFFIX)]):
                target = os.path.join(self.directory, name[: -len(CHECKSUM_SUFFIX)])
                if not os.path.exists(target):
                    try:
                        os.remove(target + CHECKSUM_SUFFIX)
                        removed.append(target + CHECKSUM_SUFFIX)
                    except OSError:
                        pass
        return removed

    def checkpoints(self):
        """[(step, path)] of the files under a checkpoint name, oldest first (not verified)."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            match = _NAME.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(self.directory, name)))
        return sorted(found)

    def latest(self, problems=None):
        """(step, path, metadata) of the newest checkpoint that passes its checks, or None.

        `problems`, if a list, receives (path, reason) for each newer file that failed.
        """
        for step, path in reversed(self.checkpoints()):
            try:
                return step, path, read_metadata(path)
            except CheckpointError as error:
                if problems is not None:
                    problems.append((path, str(error)))
        return None

    def unreadable_error(self, problems, action="resume"):
        listing = "\n".join(f"  {os.path.basename(p)}: {reason}" for p, reason in problems)
        return CheckpointError(
            f"{self.directory} holds {len(problems)} checkpoint file(s) but none can be used to "
            f"{action}:\n{listing}\nNothing was changed or deleted. Put back a good copy of one "
            "of them (from a backup) and run again, or start a new run in another --model_dir "
            "(keep this folder until you no longer need it)."
        )

    def save(self, model, step, metadata=None):
        """Write `model.save_weights` + metadata atomically, with its checksum, as the
        checkpoint of `step`."""
        import h5py

        os.makedirs(self.directory, exist_ok=True)
        final = os.path.join(self.directory, checkpoint_name(step))
        record = dict(metadata or {})
        record.update(format=FORMAT_VERSION, step=int(step), saved_at=time.time())
        with atomic_output(final, what="checkpoint") as temp:
            model.save_weights(str(temp))
            # "r+", not "a": if the file vanished (removed by another process), fail instead of
            # writing a checkpoint that holds only metadata.
            try:
                handle = h5py.File(temp, "r+")
            except FileNotFoundError:
                raise CheckpointError(
                    f"{temp} disappeared while the checkpoint of step {step} was being written: "
                    "another process removed it. Only one process may train in a run folder."
                ) from None
            with handle:
                handle.attrs[METADATA_ATTR] = json.dumps(record, sort_keys=True)
            # The checksum first: a checkpoint name never appears without its checksum.
            write_text(checksum_path(final), f"{sha256_file(temp)}  {checkpoint_name(step)}\n",
                       what="checksum")
        self.rotate()
        return final

    def rotate(self):
        """Delete all but the newest `keep` checkpoints (with their checksum files)."""
        for _, path in self.checkpoints()[: -self.keep]:
            for victim in (path, checksum_path(path)):
                try:
                    os.remove(victim)
                except OSError:
                    pass

    def set_aside(self, path):
        """Rename an unusable checkpoint (and its checksum file) to `<name>.unreadable`, so it
        neither counts as a checkpoint nor gets rotated away. Returns the new path."""
        target = os.fspath(path) + UNREADABLE_SUFFIX
        number = 1
        while os.path.exists(target):
            number += 1
            target = f"{os.fspath(path)}{UNREADABLE_SUFFIX}{number}"
        os.replace(path, target)
        if os.path.exists(checksum_path(path)):
            os.replace(checksum_path(path), target + CHECKSUM_SUFFIX)
        return target

    def restore(self, model, path=None):
        """Load a checkpoint into a built model (its optimizers built first, so their states
        load) and return its metadata.

        Without `path`: the newest checkpoint that verifies, loads and holds only finite values;
        each newer one that fails is reported and listed in `self.skipped`. Returns None when
        the folder holds no checkpoint file; raises CheckpointError naming every file when it
        holds some but none is usable. `self.restored_path` is the file really used.
        """
        self.restored_path, self.skipped = None, []
        if path is not None:
            metadata = self._load(model, path)
            self.restored_path = os.fspath(path)
            return metadata
        candidates = self.checkpoints()
        if not candidates:
            return None
        for _, candidate in reversed(candidates):
            try:
                metadata = self._load(model, candidate)
            except Exception as error:  # unusable: fall back to the previous one
                reason = str(error) if isinstance(error, CheckpointError) else (
                    f"{candidate} could not be loaded ({type(error).__name__}: {error})")
                self.skipped.append((candidate, reason))
                _log(f"skipping checkpoint {os.path.basename(candidate)}: {reason}")
                continue
            self.restored_path = candidate
            if self.skipped:
                _log(f"using the older checkpoint {candidate} instead.")
            return metadata
        raise self.unreadable_error(self.skipped)

    def _load(self, model, path):
        path = os.fspath(path)
        metadata = read_metadata(path)
        model.load_weights(path)
        if not all_finite(model):
            raise CheckpointError(f"{path} loads NaN or infinite values, which a ganzoo "
                                  "checkpoint never holds: the file is corrupt.")
        if not has_checksum(path):
            _log(f"notice: {path} carries no checksum (written by a ganzoo version before "
                 "checkpoints had one), so it cannot be verified; it is loaded as it is. "
                 "Checkpoints written from now on carry a checksum.")
        return metadata
