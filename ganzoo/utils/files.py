"""The one place for ganzoo's file plumbing: hashes, output paths, atomic writes, weight files.

- `sha256_file(path)`: the hex sha256 of a file, read in chunks; `file_record(path)` its
  {"sha256", "size"} as manifests and presets store them, `check_file(path, expected)` how a file
  differs from such a record (None when it matches).
- `check_output_path(path, suffix=...)`: refuse an output before any work is done (a parent
  that is a file, a folder in the way, a suffix a writer would silently change).
- `atomic_output(path)`: a context manager giving a temporary path beside `path`; on success the
  file is flushed to disk and renamed over `path` (os.replace), so readers never see half a file;
  on failure the temporary file is removed and an `OSError` is raised whose message names the
  path and the cause ("no space left on device: <path>", a read-only file system, ...).
- `write_bytes(path, data)`, `write_text(path, text)`, `copy_file(src, dst)`: atomic writes of a
  whole file; `save_weights(model, path)`: `model.save_weights` (a Keras `.weights.h5`), atomically.
- `atomic_stream(path)`: `atomic_output` for a file written piece by piece (a download, parts
  joined): yields a `HashingWriter` that hashes and counts while it writes, so the body can check
  size and sha256 -- and raise to discard the file -- before it is moved into place;
  `name_by_hash=True` names the file by its sha256 in a folder (huggingface_hub's blobs/).
- `check_weights_file(path, model)`: refuse a Keras `.weights.h5` file that is truncated, not
  HDF5, points outside itself, or declares arrays that are not the model's (another architecture
  or resolution, or a crafted huge array) -- from the file's metadata, before any array is read.
"""
import contextlib
import errno
import hashlib
import os
import pathlib
import uuid

_CHUNK = 1 << 20
_TEMP_PREFIX = ".partial-"


class OutputError(OSError):
    """An output file cannot be written; the message names the path, the cause and the fix."""


class WeightsFileError(ValueError):
    """A weights file is corrupt or does not belong to the model it is loaded into."""


def sha256_file(path, chunk=_CHUNK):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(path):
    """{"sha256", "size"} of a local file, as the manifest and preset metadata store it."""
    return {"sha256": sha256_file(path), "size": os.path.getsize(path)}


def check_file(path, expected):
    """None when `path` matches expected {"sha256", "size"} (size None: not checked), else a
    sentence saying how it differs. The size is compared first, so a truncated file is not hashed."""
    size = os.path.getsize(path)
    if expected.get("size") is not None and size != expected["size"]:
        return f"it has {size} bytes, expected {expected['size']} (truncated or replaced)"
    actual = sha256_file(path)
    if actual != expected["sha256"]:
        return f"its sha256 is {actual}, expected {expected['sha256']} (corrupt or tampered)"
    return None


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def check_output_path(path, suffix=None, what="output"):
    """Return `path` as a pathlib.Path if a file can be created there, else raise OutputError.

    suffix: the ending the file must have (a string or a tuple of them), for writers that would
    otherwise append their own (np.save adds .npy, np.savez .npz) or pick a format from it.
    Nothing is created: call this before a long computation whose result goes to `path`.
    """
    path = pathlib.Path(os.fspath(path))
    if suffix is not None:
        suffixes = (suffix,) if isinstance(suffix, str) else tuple(suffix)
        if not path.name.lower().endswith(tuple(s.lower() for s in suffixes)):
            raise OutputError(
                f"{what} {path} must end in {' or '.join(suffixes)}: that is the format written "
                f"and how ganzoo recognises it when reading it back. Use e.g. "
                f"{path.with_name(path.name.split('.')[0] + suffixes[0])}."
            )
    if path.is_dir():
        raise OutputError(f"{what} {path} is an existing folder: give a file name inside it.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(
                    f"cannot write {what} {path}: {parent} is a file, not a folder. Choose another "
                    "output path, or move that file away."
                )
            break
    return path


def _describe_os_error(error, path):
    code = getattr(error, "errno", None)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        cause = "no space left on device" if code == errno.ENOSPC else "disk quota exceeded"
        return (f"{cause}: {path}. Free some space (or choose an output on another disk) and run "
                "again; nothing was written.")
    if code == errno.EROFS:
        return f"read-only file system: {path}. Choose an output on a writable disk."
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied: {path}. Choose an output folder you can write to."
    if code == errno.ENOTDIR:
        return f"cannot write {path}: a part of its folder path is a file, not a folder."
    if code == errno.ENAMETOOLONG:
        return f"file name too long: {path}."
    reason = getattr(error, "strerror", None) or str(error)
    return f"cannot write {path}: {reason}."


def _fsync_file(path):
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some file systems (and Windows) cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path, suffix=None, what="output"):
    """Yield a temporary path beside `path`; on success move it over `path` atomically.

    The temporary name ends with `path`'s own name (writers that look at the suffix -- Keras'
    `.weights.h5`, Pillow's `.png`, NumPy's `.npy` -- behave as for `path`). Parent folders are
    created. Any OSError while writing or syncing (a full disk above all) removes the partial file
    and is raised again as an OutputError naming `path`; an earlier file at `path` is kept.
    """
    with _atomic(path, suffix, what) as (temp, _):
        yield temp


@contextlib.contextmanager
def _atomic(path, suffix, what, shown=None):
    """atomic_output's work. Yields (temp, final): `final[0]` is where the file goes, which the
    body may change to another name in the same folder. `shown`: the path error messages name."""
    path = check_output_path(path, suffix, what)
    shown = path if shown is None else shown
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(_describe_os_error(error, path.parent)) from None
    temp = path.with_name(f"{_TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
    final = [path]
    try:
        yield temp, final
        _fsync_file(temp)
        os.replace(temp, final[0])
    except OSError as error:
        _remove_quietly(temp)
        if isinstance(error, OutputError):
            raise
        raise OutputError(_describe_os_error(error, shown)) from None
    except BaseException:
        _remove_quietly(temp)
        raise
    _fsync_dir(path.parent)


class HashingWriter:
    """A binary file being written that keeps the sha256 and the size of what went into it.

    `write(data)` as a file's (so `shutil.copyfileobj(source, writer)` works); `size`, the bytes
    written; `hexdigest()`; `restart()` empties the file and the hash (a server that ignored a
    Range request sends the whole file again); `path`, where the file goes (with
    `name_by_hash`, known once the `atomic_stream` block has ended).
    """

    def __init__(self, handle, path):
        self._handle = handle
        self._digest = hashlib.sha256()
        self.size = 0
        self.path = path

    def write(self, data):
        self._handle.write(data)
        self._digest.update(data)
        self.size += len(data)
        return len(data)

    def restart(self):
        self._handle.seek(0)
        self._handle.truncate()
        self._digest = hashlib.sha256()
        self.size = 0

    def hexdigest(self):
        return self._digest.hexdigest()


_HASH_PLACEHOLDER = "sha256"


@contextlib.contextmanager
def atomic_stream(path, suffix=None, what="output", name_by_hash=False):
    """`atomic_output` for a file written piece by piece: yields a `HashingWriter` open on the
    temporary file beside `path`. The body checks `writer.size` / `writer.hexdigest()` and raises
    to discard the file (the temporary is removed, an earlier file at `path` is kept); otherwise
    the file is flushed to disk and renamed over `path` as atomic_output does.

    name_by_hash: `path` is a folder, and the file is named there by its hex sha256 (a
    content-addressed store such as huggingface_hub's blobs/); `writer.path` says which.
    """
    if name_by_hash:
        folder = pathlib.Path(os.fspath(path))
        context = _atomic(folder / _HASH_PLACEHOLDER, suffix, what, shown=folder)
    else:
        context = _atomic(path, suffix, what)
    with context as (temp, final):
        with open(temp, "wb") as handle:
            writer = HashingWriter(handle, final[0])
            yield writer
        if name_by_hash:
            final[0] = writer.path = final[0].with_name(writer.hexdigest())


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def write_bytes(path, data, suffix=None, what="output"):
    """Write `data` to `path` atomically (see `atomic_output`); returns the path."""
    with atomic_output(path, suffix, what) as temp:
        with open(temp, "wb") as handle:
            handle.write(data)
    return pathlib.Path(path)


def write_text(path, text, suffix=None, what="output"):
    return write_bytes(path, text.encode("utf-8"), suffix, what)


def save_weights(model, path, what="weights"):
    """`model.save_weights(path)` through a temporary file beside it, fsync and os.replace:
    `path` holds its previous content or the complete new one, never half a file. `path` must end
    in `.weights.h5` (Keras' own rule, checked before anything is written). Returns it as a str."""
    with atomic_output(path, suffix=".weights.h5", what=what) as temp:
        model.save_weights(str(temp))
    return os.fspath(path)


def copy_file(src, dst, what="output"):
    """Copy `src` to `dst` atomically (works across file systems)."""
    with atomic_output(dst, what=what) as temp:
        with open(src, "rb") as source, open(temp, "wb") as target:
            for block in iter(lambda: source.read(_CHUNK), b""):
                target.write(block)
    return pathlib.Path(dst)


# --------------------------------------------------------------------------------------------
# Keras weight files
# --------------------------------------------------------------------------------------------


def _model_description(model):
    parts = [type(model).__name__]
    for attribute in ("resolution", "z_dim", "normalization"):
        value = getattr(model, attribute, None)
        if value is not None:
            parts.append(f"{attribute} {value}")
    return f"{model.name!r} ({', '.join(parts)})"


def _shape_summary(counts, limit=4):
    items = sorted(counts.items(), key=lambda kv: (-_numel(kv[0]), kv[0]))[:limit]
    return ", ".join(f"{'x'.join(map(str, shape)) or 'scalar'}" + (f" (x{n})" if n > 1 else "")
                     for shape, n in items)


def _numel(shape):
    total = 1
    for dim in shape:
        total *= int(dim)
    return total


def check_weights_file(path, model, what="weights"):
    """Refuse a `.weights.h5` file that cannot be the saved weights of `model`.

    Reads only the HDF5 metadata: the file must open (a truncated or non-HDF5 file is refused),
    hold no external or virtual arrays (data outside the file), and declare exactly the array
    shapes of `model.weights` (as a multiset). So weights of another architecture, resolution or
    z_dim -- and a crafted file declaring a huge array -- are refused before any data is read.
    """
    import collections

    import h5py

    path = pathlib.Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist.")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise WeightsFileError(
            f"{what} file {path} is not a readable HDF5 file ({str(error).splitlines()[0]}): it is "
            "truncated or corrupt. Copy or download it again, or save the weights again."
        ) from None
    found = collections.Counter()
    problems = []
    with handle:
        def visit(name, item):
            if isinstance(item, h5py.Dataset):
                if item.is_virtual or item.external:
                    problems.append(f"array {name} keeps its data outside the file")
                found[tuple(int(d) for d in (item.shape or ()))] += 1

        try:
            handle.visititems(visit)
        except (OSError, RuntimeError, KeyError) as error:
            raise WeightsFileError(
                f"{what} file {path} has a damaged structure ({error}): it is truncated or corrupt. "
                "Copy or download it again, or save the weights again."
            ) from None
    if problems:
        raise WeightsFileError(f"{what} file {path} is refused: {problems[0]}.")
    expected = collections.Counter(tuple(int(d) for d in w.shape) for w in model.weights)
    if found != expected:
        n_found, n_expected = sum(found.values()), sum(expected.values())
        size_found = sum(_numel(s) * n for s, n in found.items())
        size_expected = sum(_numel(s) * n for s, n in expected.items())
        extra, missing = found - expected, expected - found
        detail = []
        if extra:
            detail.append(f"arrays the model lacks: {_shape_summary(extra)}")
        if missing:
            detail.append(f"arrays the file lacks: {_shape_summary(missing)}")
        raise WeightsFileError(
            f"{what} file {path} does not fit the model {_model_description(model)}: the file "
            f"declares {n_found} arrays ({size_found:,} values), the model has {n_expected} "
            f"({size_expected:,} values); {'; '.join(detail)}. The file was saved from another "
            "architecture, resolution or z_dim (or is not a weights file of a single model): "
            "build the model it was saved from, or pick the right file."
        )
    return path
