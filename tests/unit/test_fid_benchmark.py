"""benchmarks/fid.py's driver: settings no peer can run are refused before any subprocess starts,
a failed peer makes the exit status non-zero, and the table names each peer's device (the workers
themselves are the Inception network's, tested in test_metrics_fid and the integration tests)."""
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

import fid as fid_benchmark  # noqa: E402


@pytest.fixture
def no_workers(monkeypatch):
    started = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: started.append(a) or pytest.fail(
        "a worker was started"))
    return started


@pytest.mark.parametrize("argv, message", [
    (["--num-images", "40", "--batch-size", "20"],
     r"--num-images 40 at --batch-size 20 is 2 batch\(es\); the first 2 are warm-up.*at least 41"),
    (["--peers", "tensorflow,pytorch"], r"--peers tensorflow,pytorch: choose from tensorflow, jax, torch"),
    (["--peers", ","], r"--peers ,: choose from"),
    (["--peers", "jax,jax"], r"names a peer twice"),
    (["--num-images", "20000"], r"--num-images 20000: CIFAR10's test split has 10,000"),
    (["--batch-size", "0"], r"--batch-size 0: must be at least 1"),
])
def test_settings_no_peer_can_run_are_refused_first(no_workers, capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        fid_benchmark.main(argv)
    assert stop.value.code == 2  # argparse's usage error, on stderr
    assert re.search(message, capsys.readouterr().err)
    assert not no_workers


def test_a_failed_peer_fails_the_run_and_the_others_are_still_reported(monkeypatch, capsys):
    def fake_run(cmd, **kwargs):
        peer = cmd[cmd.index("--worker") + 1]
        if peer == "jax":
            return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="jax: out of memory")
        np.save(cmd[cmd.index("--features-out") + 1], np.ones((3, 2)) * (2 if peer == "torch" else 2.5))
        record = {"peer": peer, "images_per_s": 10.0 if peer == "torch" else 40.0,
                  "timed_images": 3, "seconds": 0.3, "version": "v", "device": "cpu"}
        return subprocess.CompletedProcess(cmd, 0, stdout=json.dumps(record) + "\n", stderr="")

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert fid_benchmark.main(["--peers", "torch,jax,tensorflow"]) == 1
    out, err = capsys.readouterr()
    assert "jax: failed (exit 1)" in err and "jax: out of memory" in err
    assert "failed: jax" in err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(rows) == {"torch", "tensorflow"}
    assert rows["tensorflow"][1:4] == ["cpu", "40.00", "4.00x"]
    assert rows["tensorflow"][4] == "2.50e-01"  # |2.5 - 2| / 2
