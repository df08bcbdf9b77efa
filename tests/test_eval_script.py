"""training/eval.py: flags -> generator -> evaluator -> JSON record (with a stand-in network)."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]


class PooledPixels:
    """Stand-in for the Inception network: 4x4 average-pooled pixels as features."""

    protocol = {"network": "pooled pixels (test)", "network_sha256": "f" * 64}

    def __init__(self, batch_size=50):
        self.batch_size = batch_size

    def features_of_batch(self, images):
        n, h, w, c = images.shape
        return images.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4)).reshape(n, -1) / 255.0


@pytest.fixture
def eval_script(monkeypatch):
    from ganzoo.metrics import inception

    monkeypatch.setattr(inception, "default_network", PooledPixels)
    spec = importlib.util.spec_from_file_location("ganzoo_eval_script", REPO / "training" / "eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eval_script_writes_a_record_for_generator_weights(eval_script, tmp_path):
    from ganzoo.architectures import build_generator

    generator = build_generator("sndcgan", resolution=32)
    weights = tmp_path / "mine.generator.weights.h5"
    generator.save_weights(str(weights))
    real = tmp_path / "real"
    real.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(real / f"{i:02d}.png")
    out = tmp_path / "record.json"
    eval_script.FLAGS(["eval.py", "--generator_weights", str(weights), "--architecture", "sndcgan",
                       "--real", str(real), "--num_samples", "10", "--sample_sets", "2",
                       "--metrics", "kid,precision_recall", "--batch_size", "5", "--out", str(out),
                       "--noprogress"])
    assert eval_script.main(["eval.py"]) == 0
    record = json.loads(out.read_text())
    assert record["model"] == "mine" and record["dataset"] == "cifar10"
    assert record["protocol"]["n_generated"] == 10 and record["protocol"]["n_real"] == 10
    assert record["protocol"]["sample_sets"] == 2 and record["protocol"]["seeds"] == [0, 1]
    assert len(record["metrics"]["kid"]["values"]) == 2
    assert record["generator_weights"] == str(weights)


def test_eval_script_needs_one_model(eval_script):
    from absl import app

    eval_script.FLAGS(["eval.py"])
    with pytest.raises(app.UsageError, match="exactly one"):
        eval_script.main(["eval.py"])
