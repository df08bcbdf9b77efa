"""The FID Inception network: preprocessing, the weights converter, and agreement with the
TorchScript reference on real CIFAR10 images."""
import importlib.util
import io
import os
import pathlib
import pickle
import shutil
import zipfile

import numpy as np
import pytest

from ganzoo.metrics import inception, inception_weights

REPO = pathlib.Path(__file__).resolve().parents[2]
CIFAR10 = pathlib.Path(os.environ.get("GANZOO_CIFAR10_DIR", REPO.parent / "shared/data/cifar10-jpeg"))
HAVE_TF = importlib.util.find_spec("tensorflow") is not None
HAVE_TORCH = importlib.util.find_spec("torch") is not None
WEIGHTS = inception_weights.cached_weights()
TORCHSCRIPT = inception_weights.cached_torchscript()
NEED_WEIGHTS = pytest.mark.skipif(
    WEIGHTS is None,
    reason="FID Inception weights not cached: run `python3 -m ganzoo.cli.main fetch-inception`",
)


def numpy_legacy_resize(images, size):
    """Direct per-pixel TF1 resize_bilinear (align_corners=False, half_pixel_centers=False)."""
    n, h, w, c = images.shape
    out = np.zeros((n, size, size, c), np.float64)
    for oy in range(size):
        sy = oy * (h / size)
        y0 = int(np.floor(sy))
        y1, ly = min(y0 + 1, h - 1), sy - y0
        for ox in range(size):
            sx = ox * (w / size)
            x0 = int(np.floor(sx))
            x1, lx = min(x0 + 1, w - 1), sx - x0
            top = images[:, y0, x0] * (1 - lx) + images[:, y0, x1] * lx
            bottom = images[:, y1, x0] * (1 - lx) + images[:, y1, x1] * lx
            out[:, oy, ox] = top * (1 - ly) + bottom * ly
    return out


def keras_resize(images, size):
    import keras

    return keras.ops.convert_to_numpy(inception.LegacyBilinearResize(size)(images.astype("float32")))


@pytest.mark.parametrize("shape,size", [((2, 5, 7, 3), 11), ((1, 32, 32, 3), 299), ((1, 9, 4, 1), 6)])
def test_resize_matches_direct_tf1_formula(shape, size):
    images = np.random.default_rng(0).uniform(0, 255, shape)
    np.testing.assert_allclose(keras_resize(images, size), numpy_legacy_resize(images, size),
                               atol=2e-3)


@pytest.mark.skipif(not HAVE_TF, reason="tensorflow not installed: no tf.compat.v1 reference")
def test_resize_matches_tf_compat_v1_resize_bilinear():
    import tensorflow as tf

    images = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    expected = tf.compat.v1.image.resize_bilinear(
        images, [299, 299], align_corners=False, half_pixel_centers=False).numpy()
    np.testing.assert_allclose(keras_resize(images, 299), expected, atol=1e-3)
    # ... and it is not tf.image.resize (half-pixel centres), which differs visibly.
    assert np.abs(tf.image.resize(images, [299, 299]).numpy() - expected).max() > 1.0


def _torchscript_zip(pickled):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("m/data.pkl", pickled)
        archive.writestr("m/data/0", np.arange(6, dtype="<f4").tobytes())
    return buffer.getvalue()


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_restricted_unpickler_refuses_arbitrary_globals():
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        inception_weights.read_torchscript(_torchscript_zip(pickle.dumps(_Evil(), protocol=2)))


def test_restricted_unpickler_rebuilds_tensors_without_torch():
    # A hand-written pickle of the shape TorchScript writes: a module stand-in whose `weight` is
    # _rebuild_tensor_v2(persistent storage "0" (6 floats), offset 0, size (2, 3), stride (3, 1)).
    data = (
        b"\x80\x02c__torch__.mod\nLayer\n)\x81}(X\x06\x00\x00\x00weightctorch._utils\n"
        b"_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000"
        b"X\x03\x00\x00\x00cpuK\x06tQK\x00K\x02K\x03\x86K\x03K\x01\x86\x89ccollections\n"
        b"OrderedDict\n)RtRub."
    )
    module = inception_weights.read_torchscript(_torchscript_zip(data))
    assert module.torch_class == "__torch__.mod.Layer"
    np.testing.assert_array_equal(module.weight, np.arange(6, dtype=np.float32).reshape(2, 3))


def _tensor_pickle(offset=0, size=(2, 3), stride=(3, 1), numel=6, key=b"0"):
    """The pickle above with chosen storage numel, offset, size and stride (BININT opcodes)."""
    import struct

    def i(v):
        return b"J" + struct.pack("<i", v)

    def tup(values):
        return b"(" + b"".join(i(v) for v in values) + b"t"

    return (
        b"\x80\x02c__torch__.mod\nLayer\n)\x81}(X\x06\x00\x00\x00weightctorch._utils\n"
        b"_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
        + b"X" + struct.pack("<I", len(key)) + key + b"X\x03\x00\x00\x00cpu" + i(numel)
        + b"tQ" + i(offset) + tup(size) + tup(stride)
        + b"\x89ccollections\nOrderedDict\n)RtRub."
    )


def test_tensor_pickle_helper_builds_a_valid_file():
    module = inception_weights.read_torchscript(_torchscript_zip(_tensor_pickle(1, (2, 2), (1, 3))))
    np.testing.assert_array_equal(module.weight, [[1, 4], [2, 5]])


@pytest.mark.parametrize("kwargs,message", [
    ({"offset": 4}, "reaches element 9 of a storage holding 6"),
    ({"size": (3, 3)}, "reaches element 8 of a storage holding 6"),
    ({"stride": (1000, 1)}, "reaches element 1002"),
    ({"stride": (-3, 1)}, "not an int >= 0"),
    ({"offset": -1}, "offset -1"),
    ({"size": (100000, 100000), "stride": (0, 0)}, "larger than its storage"),
    ({"numel": 600}, "24 bytes, but 600 elements"),
    ({"numel": 2**31 - 1}, "declared"),
    ({"key": b"7"}, "no storage data/7"),
    ({"key": b"../../etc/passwd"}, "no storage data/../../etc/passwd"),
])
def test_torchscript_reader_refuses_out_of_bounds_tensors(kwargs, message):
    """Sizes and strides come from the file: every one is checked against the bytes there,
    so a crafted file is refused instead of read past its buffer (which can segfault)."""
    with pytest.raises(inception_weights.TorchScriptError, match=message):
        inception_weights.read_torchscript(_torchscript_zip(_tensor_pickle(**kwargs)))


def test_torchscript_reader_refuses_broken_archives(tmp_path):
    with pytest.raises(inception_weights.TorchScriptError, match="not a readable zip"):
        inception_weights.read_torchscript(b"PK\x03\x04 truncated")
    good = _torchscript_zip(_tensor_pickle())
    with pytest.raises(inception_weights.TorchScriptError, match="not a valid TorchScript"):
        inception_weights.read_torchscript(_torchscript_zip(_tensor_pickle()[:-20]))
    path = tmp_path / "x.pt"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(inception_weights.TorchScriptError, match=str(path)):
        inception_weights.read_torchscript(str(path))


def test_tampered_weights_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path))
    target = tmp_path / "inception" / inception_weights.WEIGHTS_FILENAME
    target.parent.mkdir(parents=True)
    if WEIGHTS is not None:
        shutil.copyfile(WEIGHTS, target)
        with open(target, "r+b") as handle:  # flip one byte in the middle
            handle.seek(target.stat().st_size // 2)
            byte = handle.read(1)
            handle.seek(-1, 1)
            handle.write(bytes([byte[0] ^ 0xFF]))
    else:
        target.write_bytes(b"not the weights")
    with pytest.raises(inception_weights.TamperedFileError, match="fetch-inception"):
        inception_weights.weights_path()
    with pytest.raises(inception_weights.TamperedFileError, match="expected 541d67da"):
        inception.InceptionFID(weights=target)


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path))
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    monkeypatch.setenv("GANZOO_HUB_DIR", str(tmp_path / "empty_mirror"))
    with pytest.raises(FileNotFoundError, match="ganzoo fetch-inception"):
        inception_weights.weights_path()


def test_weights_are_found_in_the_hub_mirror(tmp_path, monkeypatch):
    if WEIGHTS is None:
        pytest.skip("FID Inception weights not cached: run `python3 -m ganzoo.cli.main fetch-inception`")
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    monkeypatch.setenv("GANZOO_HUB_DIR", str(tmp_path / "mirror"))
    folder = tmp_path.joinpath("mirror", *inception_weights.INCEPTION_HUB_REPO.split("/"))
    folder.mkdir(parents=True)
    os.symlink(WEIGHTS, folder / inception_weights.WEIGHTS_FILENAME)
    # ganzoo.metrics does not know the zoo: the command line registers the zoo's lookup.
    from ganzoo.cli.evaluation import zoo_weights_lookup

    with pytest.raises(FileNotFoundError, match="fetch-inception"):
        inception_weights.weights_path(lookups=[])
    assert (inception_weights.weights_path(lookups=[zoo_weights_lookup])
            == folder / inception_weights.WEIGHTS_FILENAME)


def test_network_graph_has_the_reference_layout():
    specs = inception.conv_specs()
    assert len(specs) == 94
    assert specs["conv"] == inception.ConvSpec(3, 32, (3, 3), 2, "valid")
    assert specs["mixed_4.tower.conv_1"] == inception.ConvSpec(128, 128, (1, 7), 1, "same")
    assert specs["mixed_10.tower_2_conv"].in_channels == 2048
    net = inception.InceptionFID(weights=None)
    assert net.network.output_shape == (None, 2048)
    pools = {layer.name: type(layer).__name__ for layer in net.network.layers if "pool" in layer.name}
    assert pools["mixed_9.tower_2_pool"] == "AveragePooling2D"
    assert pools["mixed_10.tower_2_pool"] == "MaxPooling2D"


@pytest.mark.skipif(TORCHSCRIPT is None, reason="TorchScript file not cached: run fetch-inception")
def test_torchscript_layout_matches_the_keras_graph():
    root = inception_weights.read_torchscript(TORCHSCRIPT.read_bytes())
    convs = inception_weights.conv_layers(root)
    specs = inception.conv_specs()
    assert list(convs) == list(specs)
    for path, spec in specs.items():
        assert convs[path].weight.shape == (spec.filters, spec.in_channels) + spec.kernel


@pytest.fixture(scope="module")
def cifar_images():
    tar = CIFAR10 / "test.tar"
    if not tar.exists():
        pytest.skip(f"CIFAR10 JPEG copy not found at {tar} (set GANZOO_CIFAR10_DIR)")
    from ganzoo.data import image_files

    return image_files.read_images(tar, limit=5)


@pytest.fixture(scope="module")
def keras_features(cifar_images):
    if WEIGHTS is None:
        pytest.skip("FID Inception weights not cached: run `python3 -m ganzoo.cli.main fetch-inception`")
    # batch_size 4: the last batch of one image is padded, which must not change its features.
    return inception.default_network(batch_size=4).features(cifar_images)


@pytest.mark.torch
@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed: pip install torch==2.13.0 "
                    "to check the Keras port against the TorchScript reference")
def test_keras_port_matches_torchscript_on_cifar10(cifar_images, keras_features):
    import torch

    if TORCHSCRIPT is None:
        pytest.skip("TorchScript file not cached: run fetch-inception")
    resized = numpy_legacy_resize(cifar_images.astype(np.float64), 299)
    x = torch.from_numpy(((resized - 128.0) / 128.0).astype(np.float32)).permute(0, 3, 1, 2)
    net = torch.jit.load(str(TORCHSCRIPT), map_location="cpu").eval()
    with torch.no_grad():
        reference = net(x.contiguous()).numpy()
    assert keras_features.shape == reference.shape == (5, 2048)
    error = np.linalg.norm(keras_features - reference, axis=1) / np.linalg.norm(reference, axis=1)
    assert error.max() < 1e-3, error
    np.testing.assert_allclose(keras_features, reference, rtol=1e-3, atol=1e-3 * reference.max())


def test_features_refuse_bad_input():
    net = inception.InceptionFID(weights=None)
    with pytest.raises(ValueError, match="look like \\[0, 1\\]"):
        net.features(np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)))
    with pytest.raises(ValueError, match="NCHW"):
        net.features(np.zeros((2, 3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="1 channels.*grayscale"):
        net.features(np.zeros((2, 8, 8, 1), np.uint8))
    with pytest.raises(ValueError, match="look like \\[0, 255\\]"):
        net.features(np.full((2, 8, 8, 3), 200.0), value_range=(0, 1))
    with pytest.raises(ValueError, match="\\(x \\+ 1\\)"):
        net.features(np.full((2, 8, 8, 3), -0.5))
    with pytest.raises(ValueError, match="batch axis"):
        net.features(np.zeros((8, 8, 3), np.uint8))
