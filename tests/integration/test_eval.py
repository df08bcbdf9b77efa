"""The evaluator (one pass, all metrics), the CLI commands and the zoo-model protocol."""
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from ganzoo.cli import main as cli
from ganzoo.data import image_files
from ganzoo.metrics import evaluator, fid, inception_weights, kid, precision_recall

REPO = pathlib.Path(__file__).resolve().parents[2]


class TinyNetwork:
    """A stand-in feature extractor (8x8 average-pooled pixels): lets the tests check the
    evaluator's plumbing against direct metric calls without running Inception."""

    protocol = {"network": "tiny test network", "network_sha256": "0" * 64}

    def __init__(self):
        self.batches = 0

    def features_of_batch(self, images):
        self.batches += 1
        n, h, w, c = images.shape
        return images.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4)).reshape(n, -1) / 255.0


class TinyGenerator:
    resolution = 16

    def sample(self, n, seed=None, batch_size=64):
        rng = np.random.default_rng(seed)
        return rng.uniform(0.2, 0.8, (n, 16, 16, 3)).astype(np.float32)


def real_images(n=120, seed=5):
    return (np.random.default_rng(seed).uniform(0, 1, (n, 16, 16, 3)) * 255).astype(np.uint8)


def test_one_pass_gives_the_same_numbers_as_direct_metric_calls():
    net = TinyNetwork()
    ev = evaluator.Evaluator(("fid", "kid", "precision_recall", "swd"), network=net,
                             batch_size=32, progress=False, seed=3, min_samples=2,
                             swd_patches=8)
    real = real_images()
    result = ev.evaluate(TinyGenerator(), real, num_generated=100)
    m, p = result["metrics"], result["protocol"]
    # The same generated images, sampled chunk by chunk with the documented seeds.
    gen = np.concatenate([TinyGenerator().sample(n, seed=evaluator.sample_seed(3, i))
                          for i, n in enumerate([32, 32, 32, 4])]) * 255.0
    f_gen, f_real = net.features_of_batch(gen), net.features_of_batch(real.astype(np.float32))
    assert m["fid"] == pytest.approx(fid.fid_from_features(f_gen, f_real, min_samples=2), rel=1e-6)
    assert m["kid"] == pytest.approx(kid.kid(f_real, f_gen), rel=1e-6)
    assert m["precision"] == precision_recall.precision_recall(f_real, f_gen)["precision"]
    assert m["swd"]["avg"] > 0 and set(m["swd"]) == {16, "avg"}
    assert p["n_generated"] == 100 and p["n_real"] == 120 and p["network_sha256"] == "0" * 64
    assert "299x299" in p["resize"]
    # A fixed seed gives the same numbers; another seed other numbers.
    again = ev.evaluate(TinyGenerator(), real, num_generated=100)["metrics"]
    assert again["fid"] == m["fid"]
    assert ev.evaluate(TinyGenerator(), real, num_generated=100, seed=4)["metrics"]["fid"] != m["fid"]


def test_sources_arrays_callables_iterables_and_tar(tmp_path):
    images = real_images(10)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    import tarfile

    with tarfile.open(tmp_path / "imgs.tar", "w") as tar:
        for i in reversed(range(10)):  # stored out of order: read back in sorted order
            tar.add(folder / f"{i:03d}.png", arcname=f"x/{i:03d}.png")
    for source in (images, iter(np.split(images, 5)), [(b, np.zeros(2)) for b in np.split(images, 5)]):
        got = np.concatenate(list(evaluator.iterate_batches(source, 4, limit=7)))
        np.testing.assert_array_equal(got, images[:7])  # streams: the first 7
    # Folders and tars: a seeded random subset of 7 names, in sorted order (never the first 7:
    # data sets are often sorted by class).
    chosen = image_files.subset_indices(10, 7, seed=3)
    assert not np.array_equal(chosen, np.arange(7))
    for source in (str(folder), tmp_path / "imgs.tar"):
        got = np.concatenate(list(evaluator.iterate_batches(source, 4, limit=7, subset_seed=3)))
        np.testing.assert_array_equal(got, images[chosen])
        whole = np.concatenate(list(evaluator.iterate_batches(source, 4)))
        np.testing.assert_array_equal(whole, images)
    calls = []
    got = list(evaluator.iterate_batches(lambda n: calls.append(n) or images[:n], 4, limit=10))
    assert calls == [4, 4, 2] and sum(len(b) for b in got) == 10
    with pytest.raises(ValueError, match="ran out after 10"):
        list(evaluator.iterate_batches(iter([images]), 4, limit=11))
    with pytest.raises(ValueError, match="needs the number of images"):
        list(evaluator.iterate_batches(TinyGenerator(), 4))


def test_evaluator_refuses_confused_ranges_and_unknown_metrics():
    ev = evaluator.Evaluator(("fid",), network=TinyNetwork(), progress=False, min_samples=2)
    real = real_images(20)
    with pytest.raises(ValueError, match="look like \\[0, 255\\]"):
        ev.evaluate(real.astype(np.float32), real, generated_range=(0, 1))
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluator.Evaluator(("fidd",), network=TinyNetwork())
    with pytest.raises(ValueError, match="1008-class logits"):
        evaluator.Evaluator(("inception_score",), network=TinyNetwork())


def test_zoo_protocol_record_has_mean_std_over_sample_sets(tmp_path):
    real = real_images(80)
    np.save(tmp_path / "real.npy", TinyNetwork().features_of_batch(real.astype(np.float32)))
    record = evaluator.evaluate_zoo_model(
        "tiny", metrics=("fid", "kid"), num_samples=60, sample_sets=3, real=str(tmp_path / "real.npy"),
        batch_size=20, progress=False, generator=TinyGenerator(), network=TinyNetwork(),
        entry={"dataset": "cifar10", "paper": {"fid": 1.0}}, min_samples=2)
    fids = record["metrics"]["fid"]["values"]
    assert len(fids) == 3 and len(set(fids)) == 3
    assert record["metrics"]["fid"]["mean"] == pytest.approx(np.mean(fids))
    assert record["protocol"]["seeds"] == [0, 1, 2] and record["protocol"]["n_real"] == 60
    evaluator.write_record(record, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["metrics"]["fid"]["std"] >= 0
    assert "paper FID" in evaluator.format_record(record)


def test_cli_stats_and_fid_on_feature_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((300, 8)), rng.standard_normal((300, 8)) + 0.5
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    assert cli.main(["stats", str(tmp_path / "a.npy"), "--out", str(tmp_path / "a.npz")]) == 0
    other = ["--allow-non-inception"]  # 8-d test features, not Inception's 2048
    np.save(tmp_path / "few.npy", a[:5])
    assert cli.main(["fid", str(tmp_path / "few.npy"), str(tmp_path / "b.npy")] + other) == 1
    assert "too few for a covariance" in capsys.readouterr().err
    assert cli.main(["fid", str(tmp_path / "few.npy"), str(tmp_path / "b.npy"), "--min-samples", "2"]
                    + other) == 0
    capsys.readouterr()
    assert cli.main(["fid", str(tmp_path / "a.npz"), str(tmp_path / "b.npy"), "--json"] + other) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fid"] == pytest.approx(fid.fid_from_features(a, b))
    assert cli.main(["fid", str(tmp_path / "a.npz"), str(tmp_path / "missing.npz")] + other) == 1
    assert "missing.npz does not exist" in capsys.readouterr().err


def test_cli_registers_every_evaluation_command():
    parser = cli.build_parser()
    for command in ("features", "fid", "stats", "eval", "fetch-inception"):
        args = parser.parse_args([command] + {"features": ["p", "--out", "o"], "fid": ["a", "b"],
                                              "stats": ["p", "--out", "o"], "eval": ["m"],
                                              "fetch-inception": []}[command])
        assert callable(args.func)


@pytest.mark.skipif(inception_weights.cached_weights() is None,
                    reason="FID Inception weights not cached: run `python3 -m ganzoo.cli.main fetch-inception`")
def test_eval_of_an_untrained_sndcgan_with_the_real_network(tmp_path):
    tar = evaluator.cifar10_dir() / "test.tar"
    if not tar.exists():
        pytest.skip(f"CIFAR10 JPEG copy not found at {tar} (set GANZOO_CIFAR10_DIR)")
    from ganzoo.architectures import build_generator

    # KID and precision/recall only: FID's plumbing is covered above, and two 2048x2048
    # eigendecompositions per set would dominate this test's time on a small CPU.
    record = evaluator.evaluate_zoo_model(
        "sndcgan-untrained", metrics=("kid", "precision_recall"), num_samples=6, sample_sets=2,
        real=str(tar), batch_size=4, progress=False,  # the network of test_inception.py
        generator=build_generator("sndcgan", resolution=32), entry={"dataset": "cifar10"})
    assert record["protocol"]["n_generated"] == 6 and record["protocol"]["n_real"] == 6
    assert record["protocol"]["network_sha256"] == inception_weights.WEIGHTS_SHA256
    assert record["metrics"]["kid"]["mean"] > 0.05  # an untrained generator is far from CIFAR10
    assert record["metrics"]["precision"]["mean"] == 0.0
