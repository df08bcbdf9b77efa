"""`ganzoo eval --generator-weights` and training/eval.py, the thin script that forwards to it:
flags -> generator -> evaluator -> JSON record (in process, with a stand-in network), and the
script as a user runs it (subprocesses)."""
import importlib.util
import hashlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from ganzoo.cli import main as cli

REPO = pathlib.Path(__file__).resolve().parents[2]


class PooledPixels:
    """Stand-in for the Inception network: 4x4 average-pooled pixels as features."""

    protocol = {"network": "pooled pixels (test)", "network_sha256": "f" * 64}

    def __init__(self, batch_size=50):
        self.batch_size = batch_size

    def features_of_batch(self, images):
        n, h, w, c = images.shape
        return images.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4)).reshape(n, -1) / 255.0


@pytest.fixture
def pooled_network(monkeypatch):
    from ganzoo.metrics import inception

    monkeypatch.setattr(inception, "default_network", PooledPixels)


def eval_script():
    spec = importlib.util.spec_from_file_location("ganzoo_eval_script", REPO / "training" / "eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_and_ganzoo_eval_write_the_same_record(pooled_network, generator_weights_and_images, tmp_path):
    weights, real = generator_weights_and_images
    out = tmp_path / "record.json"
    # training/eval.py's flags (absl spelling), forwarded to `ganzoo eval`.
    assert eval_script().main(["--generator_weights", str(weights), "--architecture", "sndcgan",
                               "--real", str(real), "--num_samples", "10", "--sample_sets", "2",
                               "--metrics", "kid,precision_recall", "--batch_size", "5", "--out", str(out),
                               "--noprogress"]) == 0
    record = json.loads(out.read_text())
    assert record["model"] == "mine" and record["dataset"] == "cifar10"
    assert record["protocol"]["n_generated"] == 10 and record["protocol"]["n_real"] == 10
    assert record["protocol"]["sample_sets"] == 2 and record["protocol"]["seeds"] == [0, 1]
    assert len(record["metrics"]["kid"]["values"]) == 2
    assert record["generator_weights"] == str(weights)
    # Which weights were measured, by hash (`ganzoo publish --add-metrics` checks it).
    assert record["generator_sha256"] == hashlib.sha256(pathlib.Path(weights).read_bytes()).hexdigest()
    # `ganzoo eval`'s own spelling: the same generator, seeds and numbers.
    again = tmp_path / "again.json"
    assert cli.main(["eval", "--generator-weights", str(weights), "--architecture", "sndcgan", "--resolution", "32",
                     "--real", str(real), "--num-samples", "10", "--sample-sets", "1", "--metrics", "kid",
                     "--batch-size", "5", "--out", str(again), "--no-progress"]) == 0
    second = json.loads(again.read_text())
    assert second["model"] == "mine" and second["generator_weights"] == str(weights)
    assert second["metrics"]["kid"]["values"] == record["metrics"]["kid"]["values"][:1]


def test_the_script_maps_its_flags_to_ganzoo_eval():
    forward = eval_script().ganzoo_eval_argv
    assert forward(["--model", "NAME", "--noprogress", "--num_samples", "5"]) == \
        ["eval", "--no-progress", "--num_samples", "5", "NAME"]
    assert forward(["--model=NAME", "--progress", "--out", "r.json"]) == ["eval", "--out", "r.json", "NAME"]


def _error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganzoo eval: error: ") and "Traceback" not in err
    return err


def test_ganzoo_eval_needs_one_model_and_a_described_generator(generator_weights_and_images, tmp_path, capsys):
    weights, _ = generator_weights_and_images
    assert cli.main(["eval"]) == 1
    assert "give exactly one of MODEL" in _error_line(capsys)
    assert cli.main(["eval", "sndcgan-ns-sn-cifar10", "--generator_weights", str(weights)]) == 1
    assert "give exactly one of MODEL" in _error_line(capsys)
    assert cli.main(["eval", "sndcgan-ns-sn-cifar10", "--architecture", "sndcgan", "--z_dim", "64"]) == 1
    assert "--architecture, --z-dim: only with --generator-weights" in _error_line(capsys)
    assert cli.main(["eval", "--generator-weights", str(weights)]) == 1
    assert "--generator-weights needs --architecture" in _error_line(capsys)
    assert cli.main(["eval", "--generator-weights", str(weights), "--architecture", "sndcgan",
                     "--resolution", "0"]) == 1
    assert "--resolution must be at least 1" in _error_line(capsys)
    assert not list(tmp_path.iterdir())


def _script(*args):
    import keras

    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(REPO / "training" / "eval.py"), *args], capture_output=True,
                          text=True, timeout=300, cwd=REPO, env=env)


def test_the_script_as_a_user_runs_it(generator_weights_and_images, tmp_path):
    result = _script("--help")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "--model NAME" in result.stdout and "usage: ganzoo eval" in result.stdout
    assert "--generator-weights PATH" in result.stdout
    # A real command line, up to the generator's weights: an SNDCGAN's are not a ResNet-CIFAR's.
    weights, _ = generator_weights_and_images
    result = _script("--generator_weights", str(weights), "--architecture", "resnet_cifar",
                     "--num_samples", "10", "--out", str(tmp_path / "r.json"), "--noprogress")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "ganzoo eval: error: " in result.stderr and str(weights) in result.stderr
    assert not (tmp_path / "r.json").exists()
