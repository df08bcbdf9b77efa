"""The one place for ganzoo's file plumbing: hashes, output paths, atomic writes, weight files.

- `sha256_file(path)`: the hex sha256 of a file, read in chunks.
- `check_output_path(path, suffix=...)`: refuse an output before any work is done (a parent
  that is a file, a folder in the way, a suffix a writer would silently change).
- `atomic_output(path)`: a context manager giving a temporary path beside `path`; on success the
  file is flushed to disk and renamed over `path` (os.replace), so readers never see half a file;
  on failure the temporary file is removed and an `OSError` is raised whose message names the
  path and the cause ("no space left on device: <path>", a read-only file system, ...).
- `write_bytes(path, data)`, `write_text(path, text)`: atomic writes of a whole file.
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
    path = check_output_path(path, suffix, what)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(_describe_os_error(error, path.parent)) from None
    temp = path.with_name(f"{_TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        yield temp
        _fsync_file(temp)
        os.replace(temp, path)
    except OSError as error:
        _remove_quietly(temp)
        if isinstance(error, OutputError):
            raise
        raise OutputError(_describe_os_error(error, path)) from None
    except BaseException:
        _remove_quietly(temp)
        raise
    _fsync_dir(path.parent)


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
