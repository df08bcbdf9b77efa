"""benchmarks/sn_kernel_scale.py: sigma, rms, Adam's relative step and the spectrum's shape of
spectral-norm kernels, checked on kernels built with known singular values (c times a matrix of
orthonormal columns: sigma = c, rms = c / sqrt(rows); U diag(s) V^T)."""
import pathlib
import sys

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

import sn_kernel_scale  # noqa: E402

pytestmark = pytest.mark.backend_neutral


def _orthonormal_columns(rows, cols, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(rows, cols)))
    return q


def _weights_file(path):
    """A Keras-like .weights.h5: two wrapped kernels (a conv and a dense), their u vectors and
    biases, and an optimizer slot, which are not kernels."""
    conv = 3.0 * _orthonormal_columns(3 * 3 * 4, 8, 0)
    dense = 0.5 * _orthonormal_columns(32, 1, 1)
    with h5py.File(path, "w") as handle:
        handle["discriminator/convs/spectral_normalization/layer/vars/0"] = conv.reshape(3, 3, 4, 8)
        handle["discriminator/convs/spectral_normalization/layer/vars/1"] = np.zeros(8)
        handle["discriminator/convs/spectral_normalization/vars/0"] = np.ones((36, 1))
        handle["discriminator/fc/layer/vars/0"] = dense.astype(np.float16)
        handle["optimizer/vars/3"] = np.ones((3, 3, 4, 8))
    return conv, dense


def test_reads_only_the_wrapped_kernels_as_matrices(tmp_path):
    conv, dense = _weights_file(tmp_path / "d.weights.h5")
    found = dict(sn_kernel_scale.wrapped_kernels(tmp_path / "d.weights.h5"))
    assert sorted(found) == ["discriminator/convs/spectral_normalization", "discriminator/fc"]
    np.testing.assert_allclose(found["discriminator/convs/spectral_normalization"], conv, atol=1e-12)
    assert found["discriminator/fc"].shape == (32, 1)


def test_sigma_rms_and_relative_step_match_the_closed_form(tmp_path):
    _weights_file(tmp_path / "d.weights.h5")
    found = dict(sn_kernel_scale.wrapped_kernels(tmp_path / "d.weights.h5"))
    conv = sn_kernel_scale.kernel_scale(found["discriminator/convs/spectral_normalization"], lr=2e-4)
    assert conv["sigma"] == pytest.approx(3.0, rel=1e-9)
    assert conv["rms"] == pytest.approx(3.0 / np.sqrt(36), rel=1e-9)
    assert conv["relative_step"] == pytest.approx(2e-4 * np.sqrt(36) / 3.0, rel=1e-9)
    # All 8 singular values are 3: a flat spectrum passes all 8 directions at full gain.
    assert conv["stable_rank"] == pytest.approx(8.0, rel=1e-9)
    assert conv["gap"] == pytest.approx(1.0, rel=1e-9)
    dense = sn_kernel_scale.kernel_scale(found["discriminator/fc"], lr=1e-3)
    assert dense["sigma"] == pytest.approx(0.5, rel=1e-3)  # stored as float16
    assert dense["rms"] == pytest.approx(0.5 / np.sqrt(32), rel=1e-3)
    assert dense["stable_rank"] == pytest.approx(1.0) and dense["gap"] is None  # one column


def test_stable_rank_and_gap_of_a_known_spectrum():
    # U diag(4, 2, 1) V^T: stable rank (16 + 4 + 1) / 16, sigma_2 / sigma_1 = 1/2; the rank-1
    # part that dominates is what W / sigma keeps at gain 1 while it scales the rest down.
    u, v = _orthonormal_columns(20, 3, 2), _orthonormal_columns(3, 3, 3)
    scale = sn_kernel_scale.kernel_scale(u @ np.diag([4.0, 2.0, 1.0]) @ v.T, lr=2e-4)
    assert scale["sigma"] == pytest.approx(4.0, rel=1e-9)
    assert scale["stable_rank"] == pytest.approx(21.0 / 16.0, rel=1e-9)
    assert scale["gap"] == pytest.approx(0.5, rel=1e-9)


def test_init_scale_is_the_papers_initialiser():
    # N(0, 0.02) of a tall matrix: rms 0.02, and sigma near 0.02 (sqrt(rows) + sqrt(cols))
    # (the edge of the Marchenko-Pastur law).
    init = sn_kernel_scale.init_scale((4608, 512), lr=2e-4)
    assert init["rms"] == pytest.approx(0.02, rel=0.01)
    assert init["sigma"] == pytest.approx(0.02 * (np.sqrt(4608) + np.sqrt(512)), rel=0.03)


def test_command_prints_each_file_and_refuses_an_unreadable_one(tmp_path, capsys):
    _weights_file(tmp_path / "d.weights.h5")
    with h5py.File(tmp_path / "plain.weights.h5", "w") as handle:
        handle["dense/vars/0"] = np.ones((4, 4))
    assert sn_kernel_scale.main([str(tmp_path / "d.weights.h5"), str(tmp_path / "plain.weights.h5")]) == 0
    out = capsys.readouterr().out
    assert "36x8" in out and "   3.000" in out and "no spectral-norm-wrapped kernel" in out
    assert "srank" in out and "s2/s1" in out
    (tmp_path / "torn.weights.h5").write_bytes(b"torn")
    assert sn_kernel_scale.main([str(tmp_path / "torn.weights.h5")]) == 2
    assert "not a readable .weights.h5 file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sn_kernel_scale.main([str(tmp_path / "d.weights.h5"), "--lr", "0"])
