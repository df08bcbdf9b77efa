"""ganzoo.utils.files (outputs, atomic writes, weight-file checks) and ganzoo.utils.images (the
one image-range check, grids)."""
import errno
import os

import h5py
import numpy as np
import pytest

from ganzoo.metrics import fid
from ganzoo.utils import files, images


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


# ---- outputs ---------------------------------------------------------------------------------


def test_output_whose_parent_is_a_file_is_refused(tmp_path):
    (tmp_path / "plain").write_text("a file")
    with pytest.raises(files.OutputError, match="plain is a file, not a folder"):
        files.check_output_path(tmp_path / "plain" / "sub" / "x.png")
    with pytest.raises(files.OutputError, match="plain is a file, not a folder"):
        images.save_grid(np.zeros((1, 4, 4, 3)), tmp_path / "plain" / "grid.png")
    with pytest.raises(files.OutputError, match="existing folder"):
        files.check_output_path(tmp_path)


def test_suffix_is_required_not_appended(tmp_path):
    with pytest.raises(files.OutputError, match=r"must end in \.npz"):
        files.check_output_path(tmp_path / "s.txt", suffix=".npz")
    stats = fid.FIDStats(np.zeros(3), np.eye(3), 10)
    with pytest.raises(files.OutputError, match=r"must end in \.npz"):
        stats.save(tmp_path / "s.txt")
    assert not list(tmp_path.iterdir())  # no s.txt.npz behind the user's back
    stats.save(tmp_path / "s.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_full_disk_gives_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch, where):
    target = tmp_path / "stats.npz"
    fid.FIDStats(np.zeros(3), np.eye(3), 10).save(target)
    before = target.read_bytes()
    if where == "write":
        monkeypatch.setattr(np, "savez", _no_space)
    else:
        monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(OSError, match=f"no space left on device: {target}"):
        fid.FIDStats(np.ones(3), 2 * np.eye(3), 10).save(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.npz"]  # no partial file


def test_full_disk_for_features_and_grids(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "save", _no_space)
    with pytest.raises(OSError, match=f"no space left on device: {tmp_path / 'f.npy'}"):
        fid.save_features(tmp_path / "f.npy", np.zeros((3, 4)))
    from PIL import Image

    monkeypatch.setattr(Image.Image, "save", _no_space)
    with pytest.raises(OSError, match=f"no space left on device: {tmp_path / 'g.png'}"):
        images.save_grid(np.zeros((2, 4, 4, 3)), tmp_path / "g.png")
    assert list(tmp_path.iterdir()) == []


def test_write_bytes_is_atomic_and_sha256(tmp_path):
    path = files.write_bytes(tmp_path / "a" / "b.bin", b"hello")
    assert path.read_bytes() == b"hello"
    assert files.sha256_file(path) == (
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")



def test_file_record_and_check_file(tmp_path):
    path = files.write_bytes(tmp_path / "w.bin", b"hello")
    record = files.file_record(path)
    assert record == {"sha256": files.sha256_file(path), "size": 5}
    assert files.check_file(path, record) is None
    assert files.check_file(path, dict(record, size=None)) is None
    path.write_bytes(b"hell")
    assert "truncated or replaced" in files.check_file(path, record)
    path.write_bytes(b"jello")
    assert "corrupt or tampered" in files.check_file(path, record)


def test_atomic_stream_hashes_while_writing(tmp_path):
    import hashlib

    target = tmp_path / "sub" / "joined.bin"
    with files.atomic_stream(target) as out:
        out.write(b"thrown ")
        out.restart()  # e.g. a server that ignored Range: start again
        for block in (b"abc", b"def"):
            out.write(block)
        assert (out.size, out.hexdigest()) == (6, hashlib.sha256(b"abcdef").hexdigest())
        assert not target.exists()  # nothing under the name before the end
    assert target.read_bytes() == b"abcdef" and out.path == target
    assert sorted(p.name for p in target.parent.iterdir()) == ["joined.bin"]
    # Content-addressed: named by its sha256 in the folder, as huggingface_hub's blobs/.
    with files.atomic_stream(tmp_path / "blobs", name_by_hash=True) as out:
        out.write(b"blob")
    assert out.path == tmp_path / "blobs" / hashlib.sha256(b"blob").hexdigest()
    assert [p.name for p in (tmp_path / "blobs").iterdir()] == [out.path.name]
    assert out.path.read_bytes() == b"blob"


@pytest.mark.parametrize("failure", ["check", "full disk"])
def test_atomic_stream_failure_mid_write_keeps_the_old_file(tmp_path, failure):
    target = tmp_path / "joined.bin"
    target.write_bytes(b"old")
    error = (RuntimeError, "sha256 differs") if failure == "check" else (
        files.OutputError, f"no space left on device: {target}")
    with pytest.raises(error[0], match=error[1]):
        with files.atomic_stream(target) as out:
            out.write(b"new, but only half")
            if failure == "check":
                raise RuntimeError("sha256 differs")
            _no_space()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.bin"]  # no temporary behind
    with pytest.raises(RuntimeError, match="refused"):
        with files.atomic_stream(tmp_path / "blobs", name_by_hash=True) as out:
            out.write(b"x")
            raise RuntimeError("refused")
    assert list((tmp_path / "blobs").iterdir()) == []


class _FakeModel:
    """save_weights as Keras' (one file at the given path), optionally failing half-way."""

    def __init__(self, data, fail=False):
        self.data, self.fail = data, fail

    def save_weights(self, path):
        assert path.endswith(".weights.h5")  # Keras insists on the suffix: the temporary has it
        with open(path, "wb") as handle:
            handle.write(self.data[: len(self.data) // 2])
            if self.fail:
                _no_space()
            handle.write(self.data[len(self.data) // 2:])


def test_save_weights_is_atomic(tmp_path):
    target = tmp_path / "generator.weights.h5"
    assert files.save_weights(_FakeModel(b"first weights"), target) == str(target)
    assert target.read_bytes() == b"first weights"
    with pytest.raises(files.OutputError, match=f"no space left on device: {target}"):
        files.save_weights(_FakeModel(b"second weights", fail=True), target)
    assert target.read_bytes() == b"first weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generator.weights.h5"]
    with pytest.raises(files.OutputError, match=r"must end in \.weights\.h5"):
        files.save_weights(_FakeModel(b"x"), tmp_path / "generator.h5")
    from ganzoo import checkpoint

    assert checkpoint.save_weights_atomically is files.save_weights


# ---- the one image check: FID, grids and training use the same function ------------------------


def test_grid_refuses_0_255_floats_and_minus1_1_images(tmp_path):
    batch = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3))
    with pytest.raises(ValueError, match=r"look like \[0, 255\] images: divide by 255"):
        images.save_grid(batch, tmp_path / "white.png")
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        images.save_grid(batch / 127.5 - 1.0, tmp_path / "dark.png")
    with pytest.raises(ValueError, match=r"look like \[0, 255\]"):
        images.to_uint8(batch)
    assert not list(tmp_path.iterdir())
    images.save_grid(batch / 255.0, tmp_path / "ok.png")
    images.save_grid(batch.astype(np.uint8), tmp_path / "ok_uint8.png")
    images.save_grid(np.zeros((2, 8, 8, 1)), tmp_path / "grey.png")


def test_grid_of_nothing_or_of_the_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        images.save_grid(np.zeros((0, 8, 8, 3)), tmp_path / "g.png")
    with pytest.raises(ValueError, match="batch axis"):
        images.save_grid(np.zeros((8, 8, 3)), tmp_path / "g.png")
    with pytest.raises(ValueError, match="NCHW"):
        images.save_grid(np.zeros((2, 3, 8, 8)), tmp_path / "g.png")
    with pytest.raises(files.OutputError, match="suffix"):
        images.save_grid(np.zeros((2, 8, 8, 3)), tmp_path / "grid.unknownformat")
    with pytest.raises(ValueError, match="columns"):
        images.make_grid(np.zeros((2, 8, 8, 3)), columns=0)


def test_the_inception_check_is_the_shared_one():
    from ganzoo.metrics import inception

    assert inception.check_images is images.check_images
    with pytest.raises(ValueError, match=r"uint8 but value_range=\(0, 1\)"):
        images.check_images(np.zeros((1, 4, 4, 3), np.uint8), (0, 1))


def test_training_images_must_be_float_0_1():
    ok = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    images.check_training_images(ok)
    with pytest.raises(ValueError, match="dtype uint8.*divide by 255"):
        images.check_training_images((ok * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        images.check_training_images(ok * 2 - 1)
    with pytest.raises(ValueError, match="divide by 255"):
        images.check_training_images(ok * 255)


# ---- weight files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator_file(tmp_path_factory):
    from ganzoo.architectures import build_generator

    path = tmp_path_factory.mktemp("w") / "g.weights.h5"
    build_generator("sndcgan", resolution=32).save_weights(str(path))
    return path


def test_weights_round_trip_passes_the_check(generator_file):
    from ganzoo.architectures import build_discriminator, build_generator

    g = build_generator("sndcgan", resolution=32)
    g.load_weights(str(generator_file))
    for arch, norm in (("resnet_cifar", "spectral"), ("sndcgan", "none")):
        d = build_discriminator(arch, resolution=32, normalization=norm)
        path = generator_file.with_name(f"d_{arch}_{norm}.weights.h5")
        d.save_weights(str(path))
        build_discriminator(arch, resolution=32, normalization=norm).load_weights(str(path))


def test_weights_of_another_architecture_or_resolution_are_refused(generator_file):
    from ganzoo.architectures import build_generator

    with pytest.raises(files.WeightsFileError, match="does not fit the model.*ResNetCIFARGenerator"
                       ".*another architecture, resolution or z_dim"):
        build_generator("resnet_cifar", resolution=32).load_weights(str(generator_file))
    with pytest.raises(files.WeightsFileError, match="resolution 64"):
        build_generator("sndcgan", resolution=64).load_weights(str(generator_file))


def test_truncated_weights_file_is_refused(generator_file, tmp_path):
    from ganzoo.architectures import build_generator

    truncated = tmp_path / "t.weights.h5"
    data = generator_file.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(files.WeightsFileError, match="truncated or corrupt"):
        build_generator("sndcgan", resolution=32).load_weights(str(truncated))
    (tmp_path / "x.weights.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(files.WeightsFileError, match="not a readable HDF5 file"):
        build_generator("sndcgan", resolution=32).load_weights(str(tmp_path / "x.weights.h5"))


def test_declared_huge_array_is_refused_before_reading(generator_file, tmp_path):
    """A file whose hash may well be 'right' (a crafted manifest) but that declares a 16 GB
    array in place of a kernel: refused from the metadata, without reading or allocating."""
    import time

    from ganzoo.architectures import build_generator

    crafted = tmp_path / "huge.weights.h5"
    crafted.write_bytes(generator_file.read_bytes())
    with h5py.File(crafted, "a") as handle:
        del handle["fc/vars/0"]
        handle.create_dataset("fc/vars/0", shape=(1 << 16, 1 << 16), dtype="f4",
                              chunks=(1024, 1024))  # nothing written: the file stays small
    assert crafted.stat().st_size < 50 * 1024**2
    start = time.perf_counter()
    with pytest.raises(files.WeightsFileError, match="65536x65536"):
        build_generator("sndcgan", resolution=32).load_weights(str(crafted))
    assert time.perf_counter() - start < 5.0


def test_external_data_is_refused(generator_file, tmp_path):
    from ganzoo.architectures import build_generator

    crafted = tmp_path / "ext.weights.h5"
    crafted.write_bytes(generator_file.read_bytes())
    outside = tmp_path / "outside.bin"
    outside.write_bytes(np.zeros(8192, np.float32).tobytes())
    with h5py.File(crafted, "a") as handle:
        del handle["fc_bn/vars/0"]
        handle.create_dataset("fc_bn/vars/0", shape=(8192,), dtype="<f4",
                              external=[(str(outside), 0, 8192 * 4)])
    with pytest.raises(files.WeightsFileError, match="outside the file"):
        build_generator("sndcgan", resolution=32).load_weights(str(crafted))
