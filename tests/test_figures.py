"""FID curves from a run's fid.jsonl: reading, replacing re-measured steps, the PNG."""
import json
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib")

from ganzoo.figures import plot_fid_curve, read_fid_records  # noqa: E402


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
    missing = subprocess.run([sys.executable, "training/plot_fid.py", "--run_dir", str(tmp_path / "x")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "--fid_every" in missing.stderr
