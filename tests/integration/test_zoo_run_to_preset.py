"""End to end: a model you train yourself with training/train.py becomes a preset folder
(`ganzoo publish` without --config, as training/publish.py runs it, or `ganzoo export-preset`),
which ganzoo.load, `ganzoo sample`, the evaluator and plain Keras all use; uploaded to the loopback
Hub it loads as hf://owner/repo@COMMIT with the hashes publishing prints.

The run is real: four discriminator steps of SNDCGAN at 8x8 on synthetic images with an EMA
generator, by training/train.py in this process. fid.jsonl and the two evaluation records are
written here in the formats of ganzoo.callbacks.FID and `ganzoo eval --generator-weights`
(real FIDs need the Inception network and thousands of samples).
"""
import json
import os
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

import ganzoo
from ganzoo.cli.main import main as cli
from ganzoo.zoo import IntegrityError, load, preset, publishing
from ganzoo.zoo.loading import evaluation_target
from hub_server import HubServer
from ganzoo import training  # the run itself
from ganzoo.cli import train  # `ganzoo train`

ROOT = pathlib.Path(__file__).resolve().parents[2]
REPO = "alice/tiny-gan"
TRAIN_ARGS = ["--architecture", "sndcgan", "--resolution", "8", "--dataset", "synthetic:16", "--batch_size", "4",
              "--steps", "4", "--ema_decay", "0.999", "--checkpoint_every", "2", "--sample_every", "4",
              "--num_samples", "4", "--seed", "0", "--noprogress"]
PLAIN_KERAS = r"""
import sys

class NoGanzoo:  # this interpreter has Keras only: importing ganzoo fails
    def find_spec(self, name, path=None, target=None):
        if name == "ganzoo" or name.startswith("ganzoo."):
            raise ImportError("ganzoo is not installed here")

sys.meta_path.insert(0, NoGanzoo())
import keras
import numpy as np

model = keras.saving.load_model(sys.argv[1])
z = np.load(sys.argv[2])
np.save(sys.argv[3], keras.ops.convert_to_numpy(model(z)))
print(type(model).__name__, "ganzoo" in sys.modules)
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own")
    run_dir = tmp / "run"
    train.parse_flags(["train.py", "--model_dir", str(run_dir), *TRAIN_ARGS])
    summary = training.run(train.resolve_settings())
    assert summary["d_step"] == 4
    curve = [{"d_step": s, "fid": f, "fid_raw": r, "seconds": 2.0, "generated": 16, "reference": 16,
              "reference_split": "test", "dataset": "synthetic:16"} for s, f, r in ((2, 90.0, 95.0), (4, 80.0, 85.0))]
    (run_dir / "fid.jsonl").write_text("".join(json.dumps(c) + "\n" for c in curve))
    records = {}
    for label, weights, fid in (("ema", "generator.weights.h5", 50.0), ("raw", "generator_raw.weights.h5", 60.0)):
        record = {"model": weights.split(".")[0], "dataset": "synthetic:16", "resolution": 8,
                  "metrics": {"fid": {"mean": fid, "std": 1.0, "values": [fid - 1, fid + 1]}},
                  "protocol": {"n_generated": 16, "n_real": 16, "real": "synthetic:16 test"},
                  "generator_weights": str(run_dir / weights)}
        records[label] = tmp / f"eval_{label}.json"
        records[label].write_text(json.dumps(record))
    # The run's own networks, from its newest checkpoint, to compare against.
    from ganzoo.checkpoint import CheckpointManager

    config = json.loads((run_dir / "config.json").read_text())
    gan = ganzoo.build_gan(**config["training"])
    CheckpointManager(run_dir / "checkpoints").restore(gan)
    assert gan.d_steps == 4
    return types.SimpleNamespace(tmp=tmp, dir=run_dir, gan=gan, hyper=config["training"],
                                 metrics=[f"ema={records['ema']}", f"raw={records['raw']}"])


@pytest.fixture(scope="module")
def preset_dir(run):
    """training/publish.py (a thin script forwarding to `ganzoo publish`) as a user runs it: a subprocess
    with the command-line flags, in the script's underscore spelling."""
    import keras

    out = run.tmp / "preset"
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(
        [sys.executable, str(ROOT / "training" / "publish.py"), "--checkpoint", str(run.dir), "--out_dir", str(out),
         "--name", "tiny-gan", "--num_samples", "4", *[f"--metrics={m}" for m in run.metrics]],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "inference generator ema (its FID 50 is lower than the raw generator's 60" in result.stdout
    assert f'ganzoo.load("{out}")' in result.stdout
    return out


def test_the_preset_describes_the_run(run, preset_dir):
    assert sorted(p.name for p in preset_dir.iterdir()) == sorted(preset.LAYOUT)
    metadata = json.loads((preset_dir / "metadata.json").read_text())
    config = json.loads((preset_dir / "config.json").read_text())
    assert metadata["status"] == "custom" and metadata["name"] == "tiny-gan"
    assert metadata["trained"] == {"d_steps": 4, "g_steps": 4, "recipe_steps": 4, "ema_decay": 0.999}
    assert metadata["dataset"] == {"name": "synthetic:16", "source": "synthetic:16", "resolution": 8}
    assert metadata["inference_generator"]["generator"] == "ema"
    assert metadata["fid"]["ours"]["value"] == 50.0 and metadata["fid"]["paper"] is None
    assert [c["d_step"] for c in metadata["fid_curve"]] == [2, 4]
    assert metadata["run"]["checkpoint"] == "ckpt-000000004.weights.h5"
    assert config["training"]["resolution"] == 8 and config["recipe"]["ema_decay"] == 0.999
    card = (preset_dir / "README.md").read_text()
    assert "library_name: keras" in card and "trained with `ganzoo train` for **4 discriminator steps**" in card
    assert "the exponential moving average (EMA) of the generator's weights: its FID 50 is lower" in card


def test_load_sample_and_evaluate_the_preset(run, preset_dir, tmp_path, capsys):
    generator = load(str(preset_dir))
    assert "tiny-gan [custom]" in capsys.readouterr().err
    np.testing.assert_array_equal(generator.sample(4, seed=3), run.gan.ema_generator.sample(4, seed=3))
    assert cli(["sample", str(preset_dir), "--num", "4", "--seed", "3", "--out", str(tmp_path / "s.npz"),
                "--no-progress"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "s.npz")["images"], run.gan.ema_generator.sample(4, seed=3))
    name, evaluated, entry = evaluation_target(str(preset_dir), progress=False)
    assert name == "tiny-gan" and entry == {"dataset": "synthetic:16", "paper": {}}
    np.testing.assert_array_equal(evaluated.sample(2, seed=0), generator.sample(2, seed=0))


def test_plain_keras_loads_the_generator_with_equal_outputs(run, preset_dir, tmp_path):
    """No ganzoo in the interpreter: keras.saving.load_model alone, and the same images."""
    import keras

    z = np.random.default_rng(7).uniform(-1, 1, (5, 128)).astype("float32")
    np.save(tmp_path / "z.npy", z)
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-c", PLAIN_KERAS, str(preset_dir / "generator.keras"), str(tmp_path / "z.npy"),
         str(tmp_path / "out.npy")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "Functional False"
    plain = np.load(tmp_path / "out.npy")
    ours = keras.ops.convert_to_numpy(load(str(preset_dir), progress=False)(z, training=False))
    np.testing.assert_array_equal(plain, ours)
    np.testing.assert_array_equal(plain, keras.ops.convert_to_numpy(run.gan.ema_generator(z, training=False)))
    # sample() runs one compiled forward pass on JAX, whose fused kernels may round the last bit
    # differently from the eager call.
    np.testing.assert_allclose(plain, run.gan.ema_generator.sample(5, z=z), rtol=1e-6, atol=1e-6)


def test_fine_tune_the_preset(run, preset_dir):
    gan = load(str(preset_dir), with_discriminator=True, progress=False)
    assert gan.ema_decay == 0.999
    for loaded, original in zip(gan.discriminator.weights, run.gan.discriminator.weights):
        np.testing.assert_allclose(np.asarray(loaded), np.asarray(original), rtol=2.0 ** -11, atol=2.0 ** -25)
    images = np.random.default_rng(0).random((8, 8, 8, 3), dtype=np.float32)
    history = gan.fit(images, batch_size=4, epochs=1, verbose=0)
    assert gan.d_steps == 2
    assert all(np.isfinite(history.history["d_loss"] + history.history["g_loss"]))


def test_upload_and_load_by_hub_handle(run, preset_dir, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    with HubServer() as server:
        monkeypatch.setenv("GANZOO_HUB_ENDPOINT", server.endpoint)
        monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("HF_TOKEN", "hf_not_for_this_server")

        def upload_folder(self, *, repo_id, folder_path, **kwargs):
            files = {p.name: p.read_bytes() for p in pathlib.Path(folder_path).iterdir()}
            return types.SimpleNamespace(oid=server.commit(repo_id, files))

        monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: None)
        monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
        out, records, revision = publishing.publish(
            None, str(run.dir), out_dir=str(tmp_path / "upload"), repo_id=REPO, token="hf_alice",
            endpoint=server.endpoint, metrics=run.metrics, name="tiny-gan", num_samples=4)
        printed = capsys.readouterr().out
        assert f'ganzoo.load("hf://{REPO}@{revision}", sha256=' in printed
        hashes = json.loads(printed.split("sha256=", 1)[1].split(")")[0])
        handle = f"hf://{REPO}@{revision}"
        with pytest.raises(IntegrityError, match="has no sha256 that ganzoo trusts"):
            load(handle, progress=False)
        generator = load(handle, sha256=hashes, progress=False)
        assert generator.preset_info.verified == "sha256" and generator.preset_info.name == "tiny-gan"
        np.testing.assert_array_equal(generator.sample(3, seed=1), run.gan.ema_generator.sample(3, seed=1))
        assert all(auth is None for _, _, auth in server.authorizations)  # $HF_TOKEN stayed home
        flags = [f"--sha256={f}={h}" for f, h in hashes.items()]
        assert cli(["sample", handle, *flags, "--num", "2", "--out", str(tmp_path / "h.npz"), "--no-progress"]) == 0
        np.testing.assert_array_equal(np.load(tmp_path / "h.npz")["images"], run.gan.ema_generator.sample(2, seed=0))


def test_export_preset_command_and_zoo_refusal(run, tmp_path, capsys):
    out = tmp_path / "exported"
    assert cli(["export-preset", str(run.dir), "--out", str(out), "--num-samples", "4"]) == 0
    assert f"ganzoo sample {out}" in capsys.readouterr().out
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["name"] == "run" and metadata["inference_generator"]["generator"] == "ema"
    assert metadata["inference_generator"]["reason"].startswith("neither generator was evaluated")
    # The same run is not a zoo model: another resolution and data set.
    with pytest.raises(ValueError, match="resolution 8 \\(the recipe: 32\\)"):
        publishing.publish("sndcgan-ns-sn-cifar10", str(run.dir), out_dir=str(tmp_path / "z"), dry_run=True,
                           status="partial")
    assert cli(["publish", "--config", "sndcgan-ns-sn-cifar10", "--checkpoint", str(run.dir), "--out-dir",
                str(tmp_path / "z"), "--dry-run", "--status", "partial"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ganzoo publish: error: ") and "resolution 8 (the recipe: 32)" in err
    assert not (tmp_path / "z").exists()


def test_export_preset_of_a_conditional_run(tmp_path, capsys):
    """A finished conditional run exports (its final generator.weights.h5 is checked against the
    newest checkpoint with the conditional generator's own config); stale final weights are refused."""
    run_dir = tmp_path / "cond"
    args = ["--architecture", "sndcgan", "--resolution", "8", "--num_classes", "10", "--dataset", "synthetic:16",
            "--batch_size", "4", "--steps", "2", "--checkpoint_every", "2", "--sample_every", "2",
            "--num_samples", "4", "--seed", "0", "--noprogress"]
    train.parse_flags(["train.py", "--model_dir", str(run_dir), *args])
    assert training.run(train.resolve_settings())["d_step"] == 2
    assert (run_dir / "generator.weights.h5").is_file()
    out = tmp_path / "exported"
    assert cli(["export-preset", str(run_dir), "--out", str(out), "--num-samples", "4"]) == 0, capsys.readouterr().err
    generator = load(str(out))
    assert generator.num_classes == 10
    gan = ganzoo.build_gan(**json.loads((run_dir / "config.json").read_text())["training"])
    from ganzoo.checkpoint import CheckpointManager

    CheckpointManager(run_dir / "checkpoints").restore(gan)
    for got, want in zip(generator.get_weights(), gan.generator.get_weights()):
        np.testing.assert_array_equal(got, want)
    # Final weights that are not the newest checkpoint's (another conditional generator's).
    other = ganzoo.build_gan(architecture="sndcgan", resolution=8, num_classes=10, seed=5)
    other.generator.save_weights(str(run_dir / "generator.weights.h5"))
    capsys.readouterr()
    assert cli(["export-preset", str(run_dir), "--out", str(tmp_path / "again"), "--num-samples", "4"]) == 1
    assert "is not the generator of the newest checkpoint" in capsys.readouterr().err
