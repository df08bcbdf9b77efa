"""`ganzoo features / stats / fid / eval`: bad inputs and outputs end in one clear line and a
non-zero exit status, never a traceback or a silent wrong result."""
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ganzoo.cli import main as cli
from ganzoo.data import image_files
from ganzoo.metrics import fid
from ganzoo.metrics.batches import iterate_batches


class TinyNetwork:
    """Stand-in for the Inception network: 16 pixel values per image, same call signature."""

    protocol = {"network": "tiny test network", "network_sha256": "0" * 64,
                "preprocessing": "none"}
    weights_sha256 = "0" * 64

    def __init__(self, batch_size=50):
        self.batch_size = batch_size

    def features(self, images, value_range=(0, 255), limit=None, progress=False, seed=0):
        return np.concatenate([b.reshape(len(b), -1)[:, :16].astype(np.float64)
                               for b in iterate_batches(images, self.batch_size, limit,
                                                        subset_seed=seed)])


@pytest.fixture
def tiny_network(monkeypatch):
    from ganzoo.metrics import inception

    monkeypatch.setattr(inception, "default_network", TinyNetwork)


def _error_line(capsys, command):
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ganzoo {command}: error: ") and "Traceback" not in err
    return err


@pytest.fixture
def class_sorted_folder(tmp_path):
    """20 images named by class: the first 10 names are all class a (dark), the rest class b."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(20):
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(
            folder / f"{'a' if i < 10 else 'b'}_{i:02d}.png")
    return folder


def _stats_file(path, d=2048, n=5000, mu=None, **extra):
    mu = np.zeros(d) if mu is None else mu
    arrays = {"mu": mu, "sigma": np.eye(d), **extra}
    if n is not None:
        arrays["n"] = np.int64(n)
    np.savez(path, **arrays)
    return str(path)


# ---- fid --------------------------------------------------------------------------------------


def test_fid_on_a_broken_npz_is_a_clear_error(tmp_path, capsys):
    good = _stats_file(tmp_path / "good.npz", d=4, n=100)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(open(good, "rb").read()[:300])
    assert cli.main(["fid", str(broken), good, "--allow-non-inception"]) == 1
    assert "truncated or corrupt" in _error_line(capsys, "fid")
    (tmp_path / "text.npz").write_text("hello")
    assert cli.main(["fid", str(tmp_path / "text.npz"), good, "--allow-non-inception"]) == 1
    assert "text.npz" in _error_line(capsys, "fid")


def test_fid_of_nan_statistics_fails_instead_of_printing_nan(tmp_path, capsys):
    mu = np.zeros(2048)
    mu[3] = np.nan
    nan = _stats_file(tmp_path / "nan.npz", mu=mu)
    good = _stats_file(tmp_path / "good.npz")
    assert cli.main(["fid", nan, good]) == 1
    assert "NaN" in _error_line(capsys, "fid")
    assert "FID nan" not in capsys.readouterr().out


def test_fid_needs_inception_statistics_with_a_sample_count(tmp_path, capsys):
    small = _stats_file(tmp_path / "small.npz", d=10, n=None)
    assert cli.main(["fid", small, small]) == 1
    assert "10-dimensional, not the 2048-d Inception" in _error_line(capsys, "fid")
    no_n = _stats_file(tmp_path / "no_n.npz", n=None)
    assert cli.main(["fid", no_n, _stats_file(tmp_path / "good.npz")]) == 1
    assert "no sample count" in _error_line(capsys, "fid")
    assert cli.main(["fid", small, small, "--allow-non-inception", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fid"] == 0.0


# ---- stats / features outputs --------------------------------------------------------------------


def test_stats_out_must_end_in_npz(tmp_path, capsys):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).standard_normal((50, 4)))
    assert cli.main(["stats", str(tmp_path / "f.npy"), "--out", str(tmp_path / "s.txt")]) == 1
    assert "must end in .npz" in _error_line(capsys, "stats")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npy"]  # no s.txt.npz
    assert cli.main(["stats", str(tmp_path / "f.npy"), "--out", str(tmp_path / "s.npz")]) == 0
    assert fid.FIDStats.load(tmp_path / "s.npz").n == 50


def test_outputs_are_checked_before_any_work(tmp_path, capsys, monkeypatch, class_sorted_folder):
    from ganzoo.metrics import inception

    def no_network(*args, **kwargs):
        raise AssertionError("the network must not be built for an output that cannot be written")

    monkeypatch.setattr(inception, "default_network", no_network)
    (tmp_path / "file").write_text("x")
    assert cli.main(["features", str(class_sorted_folder), "--out",
                     str(tmp_path / "file" / "f.npy")]) == 1
    assert "file is a file, not a folder" in _error_line(capsys, "features")
    assert cli.main(["features", str(class_sorted_folder), "--out", str(tmp_path / "f.txt")]) == 1
    assert "must end in .npy" in _error_line(capsys, "features")
    assert cli.main(["stats", str(class_sorted_folder), "--out",
                     str(tmp_path / "file" / "s.npz")]) == 1
    assert "not a folder" in _error_line(capsys, "stats")


def test_full_disk_ends_in_one_line(tmp_path, capsys, monkeypatch):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).standard_normal((50, 4)))

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", no_space)
    out = tmp_path / "s.npz"
    assert cli.main(["stats", str(tmp_path / "f.npy"), "--out", str(out)]) == 1
    assert f"no space left on device: {out}" in _error_line(capsys, "stats")
    assert not out.exists()


def test_features_limit_is_a_seeded_random_subset_recorded_in_the_protocol(
        tmp_path, capsys, tiny_network, class_sorted_folder):
    out = tmp_path / "f.npy"
    assert cli.main(["features", str(class_sorted_folder), "--out", str(out), "--limit", "6",
                     "--seed", "1", "--no-progress"]) == 0
    feats = np.load(out)
    chosen = image_files.subset_indices(20, 6, seed=1)
    np.testing.assert_array_equal(feats[:, 0], 10.0 * chosen)
    assert (chosen >= 10).any() and (chosen < 10).any()  # both classes, not the first 6 names
    protocol = json.loads((tmp_path / "f.npy.json").read_text())
    assert protocol["images"] == 6 and protocol["of"] == 20
    assert "default_rng(1)" in protocol["subset"] and protocol["shape"] == [6, 16]
    # The protocol travels into statistics computed from the features.
    assert cli.main(["stats", str(out), "--out", str(tmp_path / "s.npz"), "--min-samples", "2"]) == 0
    stats = fid.FIDStats.load(tmp_path / "s.npz")
    assert stats.protocol["network"] == "tiny test network" and "default_rng(1)" in stats.protocol[
        "subset"]
    # --limit on features: a seeded random subset of the rows, recorded too.
    assert cli.main(["stats", str(out), "--out", str(tmp_path / "s3.npz"), "--limit", "3",
                     "--min-samples", "2"]) == 0
    protocol = fid.FIDStats.load(tmp_path / "s3.npz").protocol
    assert "choice(6, 3" in protocol["row_subset"] and "default_rng(1)" in protocol["subset"]


def test_features_of_a_truncated_tar(tmp_path, capsys, tiny_network, class_sorted_folder):
    import tarfile

    tar = tmp_path / "imgs.tar"
    with tarfile.open(tar, "w") as archive:
        for path in sorted(class_sorted_folder.iterdir()):
            archive.add(path, arcname=f"imgs/{path.name}")
    payload = tar.read_bytes()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(payload[: len(payload) // 2 + 100])
    assert cli.main(["features", str(truncated), "--out", str(tmp_path / "f.npy"),
                     "--no-progress"]) == 1
    assert "truncated or corrupt" in _error_line(capsys, "features")
    assert not (tmp_path / "f.npy").exists()


def test_bad_numbers_on_the_command_line(tmp_path, capsys, class_sorted_folder):
    for flags, message in ((["--limit", "0"], "--limit must be at least 1"),
                           (["--batch-size", "0"], "--batch-size must be at least 1"),
                           (["--seed", "-2"], "--seed must be at least 0")):
        assert cli.main(["features", str(class_sorted_folder), "--out",
                         str(tmp_path / "f.npy")] + flags) == 1
        assert message in _error_line(capsys, "features")


# ---- eval: the zoo is resolved by the command line, not by ganzoo.metrics ---------------------


def test_evaluate_zoo_model_needs_the_generator_and_entry():
    from ganzoo.metrics import evaluator

    with pytest.raises(ValueError, match=r"ganzoo.load\('x'\)"):
        evaluator.evaluate_zoo_model("x")


def test_metrics_do_not_import_the_zoo():
    code = ("import sys; import ganzoo.metrics.evaluator, ganzoo.metrics.inception, "
            "ganzoo.metrics.fid, ganzoo.metrics.inception_weights; "
            "print(sorted(m for m in sys.modules if m.startswith('ganzoo.zoo')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


# ---- Keras backends ------------------------------------------------------------------------------


def test_unsupported_backend_on_the_command_line(monkeypatch, capsys):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert cli.main(["list"]) == 2
    err = capsys.readouterr().err
    assert "'tensorflow' and 'jax'" in err and "KERAS_BACKEND=tensorflow" in err
    assert "Traceback" not in err


def test_unsupported_backend_on_import():
    pytest.importorskip("torch")
    code = (
        "import sys\n"
        "for name in ('ganzoo.architectures', 'ganzoo.metrics.inception', 'ganzoo.gan'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "        print(name, 'IMPORTED')\n"
        "    except ImportError as error:\n"
        "        print(name, error)\n"
    )
    env = dict(os.environ, KERAS_BACKEND="torch")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("ganzoo.")]
    assert len(lines) == 3, result.stdout + result.stderr[-2000:]
    for line in lines:
        assert "IMPORTED" not in line and "Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax" in line
