"""The truncation trick (issue 14): sample(..., truncation=t) and `ganzoo sample --truncation`.

ganzoo's prior is z ~ U(-1, 1); truncation at t keeps every component within [-t, t] (the law of
resampling each component until |z| <= t, drawn as t times the seed's untruncated z).
"""
import math
import pathlib

import numpy as np
import pytest
from PIL import Image

from ganzoo.architectures import build_generator, check_truncation, sample_noise
from ganzoo.cli.main import main as cli
from test_published_models import offline  # noqa: F401 - the repository's mirror, no network

ROOT = pathlib.Path(__file__).resolve().parents[2]
PUBLISHED = "sndcgan-ns-sn-cifar10"


@pytest.fixture(scope="module")
def generator():
    return build_generator("sndcgan", 32)


def test_truncated_z_are_bounded_deterministic_and_differ():
    untruncated = sample_noise(500, 128, seed=3)
    # The untruncated path is the seed's NumPy draw, unchanged (bit for bit).
    expected = np.random.default_rng(3).uniform(-1.0, 1.0, size=(500, 128)).astype("float32")
    assert np.array_equal(untruncated, expected)
    for t in (1.0, None):
        assert np.array_equal(sample_noise(500, 128, seed=3, truncation=t), untruncated)
    for t in (0.5, 0.01):
        z = sample_noise(500, 128, seed=3, truncation=t)
        assert z.dtype == np.float32 and z.shape == (500, 128)
        assert np.abs(z).max() <= t
        assert np.array_equal(z, sample_noise(500, 128, seed=3, truncation=t))
        assert not np.allclose(z, untruncated)
        # U(-t, t): the half-width and the spread of a uniform law on [-t, t] (64,000 values).
        assert np.abs(z).max() > 0.99 * t
        assert abs(z.std() - t / math.sqrt(3)) < 0.01 * t
    assert not np.array_equal(sample_noise(4, 8, seed=4, truncation=0.5), sample_noise(4, 8, seed=3, truncation=0.5))


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.5, float("nan"), float("inf"), True, "0.5"])
def test_bad_truncation_is_refused(bad, generator):
    with pytest.raises(ValueError, match="truncation"):
        check_truncation(bad)
    with pytest.raises(ValueError, match="truncation"):
        generator.sample(2, seed=0, truncation=bad)


def test_generator_sample_with_truncation(generator):
    plain = generator.sample(4, seed=1)
    assert np.array_equal(generator.sample(4, seed=1, truncation=1), plain)
    truncated = generator.sample(4, seed=1, truncation=0.3)
    assert truncated.shape == plain.shape and 0.0 <= truncated.min() and truncated.max() <= 1.0
    # Batches change float32 round-off only (an untrained G's images are all near 0.5).
    np.testing.assert_allclose(generator.sample(4, seed=1, truncation=0.3, batch_size=3), truncated, atol=1e-6)
    assert np.abs(truncated - plain).max() > 1e-5
    # The same images as the truncated z given explicitly.
    z = sample_noise(4, generator.z_dim, 1, truncation=0.3)
    np.testing.assert_allclose(generator.sample(4, z=z), truncated, atol=1e-6)
    with pytest.raises(ValueError, match="a given z"):
        generator.sample(4, z=z, truncation=0.3)


def test_cli_sample_with_truncation(offline, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert cli(["sample", PUBLISHED, "--num", "4", "--seed", "0", "--truncation", "0.5",
                "--out", str(grid), "--no-progress"]) == 0
    assert "truncation 0.5" in capsys.readouterr().out
    assert Image.open(grid).size[0] > 32
    arrays = tmp_path / "t.npz"
    assert cli(["sample", PUBLISHED, "--num", "3", "--seed", "2", "--truncation", "0.5",
                "--batch-size", "2", "--out", str(arrays), "--no-progress"]) == 0
    import ganzoo

    expected = ganzoo.load(PUBLISHED, progress=False).sample(3, seed=2, truncation=0.5)
    np.testing.assert_allclose(np.load(arrays)["images"], expected, atol=1e-5)


@pytest.mark.parametrize("bad", ["0", "-1", "1.5", "nan"])
def test_cli_refuses_a_bad_truncation_in_one_line(bad, offline, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert cli(["sample", PUBLISHED, "--num", "2", f"--truncation={bad}", "--out", str(out),
                "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "truncation" in err and "Traceback" not in err
    assert not out.exists()


def test_gan_generate_forwards_truncation(generator):
    import inspect

    import ganzoo
    from ganzoo.architectures import build_discriminator

    if "truncation" not in inspect.signature(ganzoo.GAN.generate).parameters:
        pytest.skip("GAN.generate does not take truncation yet (ganzoo/gan.py, issue 14)")
    gan = ganzoo.GAN(generator, build_discriminator("sndcgan", 32))
    np.testing.assert_allclose(gan.generate(3, seed=2, truncation=0.5),
                               generator.sample(3, seed=2, truncation=0.5), atol=1e-6)
    with pytest.raises(ValueError, match="truncation"):
        gan.generate(3, seed=2, truncation=0.0)
