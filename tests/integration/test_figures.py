"""FID curves from a run's fid.jsonl: reading, replacing re-measured steps, the PNG."""
import json
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib")

from ganzoo.figures import plot_fid_curve, read_fid_records, series_labels  # noqa: E402


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_records_sorted_and_a_remeasured_step_replaces_the_old_one(tmp_path):
    path = tmp_path / "fid.jsonl"
    _write(path, [{"d_step": 2000, "fid": 90.0}, {"d_step": 1000, "fid": 150.0},
                  {"d_step": 2000, "fid": 80.0, "fid_raw": 70.0}])
    records = read_fid_records(path)
    assert [(r["d_step"], r["fid"]) for r in records] == [(1000, 150.0), (2000, 80.0)]


def test_bad_records_name_the_line(tmp_path):
    path = tmp_path / "fid.jsonl"
    path.write_text('{"d_step": 1, "fid": 2}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        read_fid_records(path)
    path.write_text("\n")
    with pytest.raises(ValueError, match="no FID record"):
        read_fid_records(path)


def test_series_are_named_by_generator_and_by_run_when_labelled():
    ema = [{"d_step": 1000, "fid": 9.0, "fid_raw": 8.0}]
    raw = [{"d_step": 1000, "fid": 9.0}]
    assert series_labels(ema) == {"fid": "EMA generator", "fid_raw": "raw generator"}
    assert series_labels(raw) == {"fid": "generator"}
    assert series_labels(ema, "ganzoo") == {"fid": "ganzoo: EMA generator",
                                            "fid_raw": "ganzoo: raw generator"}
    assert series_labels(raw, "ganzoo") == {"fid": "ganzoo"}


def test_plot_writes_a_png_and_the_script_runs(tmp_path):
    from PIL import Image

    _write(tmp_path / "fid.jsonl", [{"d_step": s, "fid": 300.0 / s ** 0.3, "fid_raw": 250.0 / s ** 0.3,
                                     "generated": 5000, "reference": 5000} for s in (1000, 2000, 3000)])
    out = plot_fid_curve(read_fid_records(tmp_path / "fid.jsonl"), str(tmp_path / "a.png"),
                         references=[("peer", [(1000, 300.0), (2000, 250.0)])])
    assert Image.open(out).size[0] > 300
    result = subprocess.run([sys.executable, "training/plot_fid.py", "--run_dir", str(tmp_path),
                             "--out", str(tmp_path / "b.png")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "b.png").is_file()
    peer = tmp_path / "peer"
    peer.mkdir()
    _write(peer / "fid.jsonl", [{"d_step": 1000, "fid": 310.0}, {"d_step": 2000, "fid": 260.0}])
    both = subprocess.run([sys.executable, "training/plot_fid.py", "--run_dir", str(tmp_path),
                           "--peer_run_dir", str(peer), "--peer_label", "keras.io peer",
                           "--out", str(tmp_path / "c.png")], capture_output=True, text=True)
    assert both.returncode == 0, both.stderr
    # The peer's curve is drawn: the figure differs from the one without it.
    assert Image.open(tmp_path / "c.png").tobytes() != Image.open(tmp_path / "b.png").tobytes()
    # The records files themselves (a run whose folder is gone) draw the same figure.
    files = subprocess.run([sys.executable, "training/plot_fid.py", "--run_dir", str(tmp_path / "fid.jsonl"),
                            "--peer_run_dir", str(peer / "fid.jsonl"), "--peer_label", "keras.io peer",
                            "--out", str(tmp_path / "d.png")], capture_output=True, text=True)
    assert files.returncode == 0, files.stderr
    assert Image.open(tmp_path / "d.png").tobytes() == Image.open(tmp_path / "c.png").tobytes()
    labelled = subprocess.run([sys.executable, "training/plot_fid.py", "--run_dir", str(tmp_path),
                               "--label", "ganzoo", "--peer_run_dir", str(peer), "--peer_label",
                               "keras.io peer", "--out", str(tmp_path / "e.png")],
                              capture_output=True, text=True)
    assert labelled.returncode == 0, labelled.stderr
    assert Image.open(tmp_path / "e.png").tobytes() != Image.open(tmp_path / "c.png").tobytes()
    no_peer = subprocess.run([sys.executable, "training/plot_fid.py", "--run_dir", str(tmp_path),
                              "--peer_run_dir", str(tmp_path / "y")], capture_output=True, text=True)
    assert no_peer.returncode == 2 and "y/fid.jsonl does not exist" in no_peer.stderr
    missing = subprocess.run([sys.executable, "training/plot_fid.py", "--run_dir", str(tmp_path / "x")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "--fid_every" in missing.stderr


@pytest.mark.slow
@pytest.mark.backend_neutral
def test_fid_curve_measures_kept_checkpoints_once(tmp_path, monkeypatch):
    """training/fid_curve.py on a real tiny run: one record per checkpoint, none twice."""
    import os

    import numpy as np

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    train = [sys.executable, "training/train.py", "--architecture", "sndcgan", "--dataset",
             "synthetic:64", "--resolution", "8", "--steps", "4", "--batch_size", "4",
             "--checkpoint_every", "2", "--keep_checkpoints", "10", "--num_samples", "0",
             "--noprogress", "--ema_decay", "0.9", "--model_dir", str(tmp_path / "run")]
    result = subprocess.run(train, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    # A stand-in feature network keeps this fast; the real one is the evaluator's.
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "sitecustomize.py").write_text(
        "import numpy as np\n"
        "from ganzoo.metrics import inception\n"
        "class _Mean:\n"
        "    def features(self, images):\n"
        "        return np.asarray(images, np.float64).mean(axis=(1, 2))\n"
        "inception.default_network = lambda batch_size=50: _Mean()\n")
    env["PYTHONPATH"] = os.pathsep.join([str(stub), env.get("PYTHONPATH", "")])
    curve = [sys.executable, "training/fid_curve.py", "--run_dir", str(tmp_path / "run"),
             "--every", "2", "--samples", "16", "--split", "train"]
    result = subprocess.run(curve, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    records = read_fid_records(tmp_path / "run" / "fid.jsonl")
    assert [r["d_step"] for r in records] == [2, 4]
    assert all(np.isfinite(r["fid"]) and np.isfinite(r["fid_raw"]) for r in records)
    again = subprocess.run(curve, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "nothing to measure" in again.stdout
