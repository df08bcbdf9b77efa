"""Copies and collapse from nearest-neighbour distances (metrics/nearest_neighbours.py): exact
distances, closed forms on synthetic features, and `ganzoo eval --metrics nearest_neighbours`."""
import json

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ganzoo.cli import main as cli
from ganzoo.metrics import evaluator
from ganzoo.metrics.nearest_neighbours import nearest_distances, nearest_neighbours
from test_eval import TinyGenerator, TinyNetwork, real_images
from test_eval_script import PooledPixels, pooled_network  # noqa: F401 - fixtures


def test_nearest_distances_equal_a_kd_tree_in_blocks(rng):
    queries, reference = rng.normal(size=(300, 5)), rng.normal(size=(700, 5))
    expected = cKDTree(reference).query(queries)[0]
    # memory_mb this small: blocks of 2 queries.
    np.testing.assert_allclose(nearest_distances(queries, reference, memory_mb=0.01), expected, rtol=1e-9)
    within = cKDTree(reference).query(reference, k=2)[0][:, 1]  # the nearest other point
    np.testing.assert_allclose(nearest_distances(reference, reference, exclude_self=True, memory_mb=0.01),
                               within, rtol=1e-9, atol=1e-12)


def test_a_lattice_gives_the_closed_form():
    """1-D lattices: train at the integers, test halfway between (0.5 away), generated a quarter
    of the way (0.25 away); every set's points are 1 apart."""
    grid = np.arange(400, dtype=float)[:, None]
    values = nearest_neighbours(grid[100:300] + 0.25, grid, grid[100:300] + 0.5)
    assert values["nn_gen_train_median"] == pytest.approx(0.25)
    assert values["nn_test_train_median"] == pytest.approx(0.5)
    assert values["nn_ratio_median"] == pytest.approx(0.5) and values["nn_ratio_p1"] == pytest.approx(0.5)
    assert values["nn_gen_gen_median"] == pytest.approx(1.0) and values["nn_real_real_median"] == pytest.approx(1.0)
    # Every generated sample is closer to train than every test image: all are flagged as copies;
    # none is closer to another sample than the real pairs (all exactly 1 apart, not below).
    assert values["nn_copy_share"] == 1.0 and values["nn_duplicate_share"] == 0.0


def _gaussian(rng, n, d=8):
    return rng.normal(size=(n, d))


def test_copies_of_the_training_set_are_flagged(rng):
    train, test = _gaussian(rng, 3000), _gaussian(rng, 1000)
    copies = train[rng.choice(len(train), 1000, replace=False)]
    values = nearest_neighbours(copies, train, test)
    assert values["nn_ratio_median"] < 1e-6 and values["nn_ratio_p1"] < 1e-6
    assert values["nn_copy_share"] == 1.0
    # Distinct training images are as diverse as real ones: not duplicates of each other.
    assert values["nn_duplicate_share"] < 0.05


def test_an_independent_draw_reads_as_new_and_diverse(rng):
    train, test, generated = _gaussian(rng, 3000), _gaussian(rng, 1000), _gaussian(rng, 1000)
    values = nearest_neighbours(generated, train, test)
    assert values["nn_ratio_median"] == pytest.approx(1.0, abs=0.05)
    assert values["nn_ratio_p1"] == pytest.approx(1.0, abs=0.35)  # 10 samples each side
    # The shares' expectation is the quantile (1%): generated and test are exchangeable.
    assert values["nn_copy_share"] < 0.04 and values["nn_duplicate_share"] < 0.04


def test_a_collapsed_generator_is_flagged(rng):
    train, test = _gaussian(rng, 3000), _gaussian(rng, 1000)
    collapsed = train[:1] + 1e-3 * rng.normal(size=(1000, 8))  # all near one training image
    values = nearest_neighbours(collapsed, train, test)
    assert values["nn_duplicate_share"] == 1.0
    assert values["nn_gen_gen_median"] < 0.01 * values["nn_real_real_median"]
    # A few modes (10 points, 100 samples each) are flagged too.
    modes = _gaussian(rng, 10)
    few = modes[np.arange(1000) % 10] + 1e-3 * rng.normal(size=(1000, 8))
    assert nearest_neighbours(few, train, test)["nn_duplicate_share"] == 1.0


def test_set_sizes_are_equalised_and_bad_input_refused(rng):
    train, test = _gaussian(rng, 500), _gaussian(rng, 400)
    values = nearest_neighbours(_gaussian(rng, 100), train, test)  # 100 generated vs 100 of test
    assert 0.0 <= values["nn_duplicate_share"] < 0.1
    with pytest.raises(ValueError, match="feature sizes"):
        nearest_neighbours(_gaussian(rng, 10, 3), train, test)
    with pytest.raises(ValueError, match="finite"):
        nearest_neighbours(np.full((10, 8), np.nan), train, test)
    with pytest.raises(ValueError, match="quantile"):
        nearest_neighbours(_gaussian(rng, 10), train, test, quantile=0.7)


def test_the_evaluator_equals_the_direct_call(tmp_path):
    net = TinyNetwork()
    train = real_images(150, seed=7)
    ev = evaluator.Evaluator(("nearest_neighbours", "precision_recall"), network=net, batch_size=32,
                             progress=False, seed=3, nn_train=train)
    result = ev.evaluate(TinyGenerator(), real_images(), num_generated=100)
    gen = np.concatenate([TinyGenerator().sample(n, seed=evaluator.sample_seed(3, i))
                          for i, n in enumerate([32, 32, 32, 4])]) * 255.0
    f_train, f_real = (net.features_of_batch(x.astype(np.float32)) for x in (train, real_images()))
    expected = nearest_neighbours(net.features_of_batch(gen), f_train, f_real, seed=3)
    for key, value in expected.items():
        assert result["metrics"][key] == pytest.approx(value, rel=1e-9), key
    p = result["protocol"]
    assert p["n_train"] == 150 and "nearest neighbours" in p["nearest_neighbours"]
    assert "nn_ratio_median" in evaluator.format_result(result)
    # Training features from a .npy give the same numbers.
    np.save(tmp_path / "train.npy", f_train)
    again = evaluator.Evaluator(("nearest_neighbours",), network=net, batch_size=32, progress=False,
                                seed=3, nn_train=str(tmp_path / "train.npy"))
    assert again.evaluate(TinyGenerator(), real_images(), num_generated=100)["metrics"] == \
        {k: result["metrics"][k] for k in expected}
    with pytest.raises(ValueError, match="needs the training set"):
        evaluator.Evaluator(("nearest_neighbours",), network=net, progress=False).evaluate(
            TinyGenerator(), real_images(), num_generated=10)


def test_ganzoo_eval_metrics_nearest_neighbours(pooled_network, generator_weights_and_images, tmp_path):  # noqa: F811
    weights, real = generator_weights_and_images
    train = tmp_path / "train.npy"
    pixels = np.random.default_rng(1).integers(0, 256, (40, 32, 32, 3)).astype(np.float32)
    np.save(train, PooledPixels().features_of_batch(pixels))
    out = tmp_path / "record.json"
    assert cli.main(["eval", "--generator-weights", str(weights), "--architecture", "sndcgan",
                     "--real", str(real), "--nn-train", str(train), "--num-samples", "10",
                     "--sample-sets", "2", "--metrics", "nearest_neighbours", "--batch-size", "5",
                     "--out", str(out), "--no-progress"]) == 0
    record = json.loads(out.read_text())
    metrics = record["metrics"]
    assert len(metrics["nn_ratio_median"]["values"]) == 2 and metrics["nn_copy_share"]["mean"] >= 0
    assert record["protocol"]["n_train"] == 40 and "nearest_neighbours" in record["protocol"]
