"""The scripts as a user runs them (subprocesses with real command lines), README's Python API
block as pasted, and GAN.fit on the endless data sets of ganzoo.data."""
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(command, timeout=600):
    """A command line as a user runs it, on this test session's Keras backend."""
    import keras

    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def _script(name, *args, timeout=600):
    return _run([sys.executable, os.path.join(ROOT, "training", name), *args], timeout)


@pytest.mark.parametrize("name, flag", [("train.py", "--model_dir"), ("eval.py", "--model"),
                                        ("publish.py", "--checkpoint")])
def test_help(name, flag):
    result = _script(name, "--help")
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert flag in result.stdout, result.stdout[-3000:]
    assert result.returncode == 0


def _ganzoo(*args, timeout=600):
    return _run([sys.executable, "-m", "ganzoo.cli.main", *args], timeout)


def test_ganzoo_train_is_the_package_command(tmp_path):
    """`ganzoo train` (no script path needed by a pip user): listed, its --help, its refusals,
    and a real 2-step run whose checkpoint stores the whole Recipe."""
    listing = _ganzoo("--help")
    assert listing.returncode == 0 and "train" in listing.stdout and "publish" in listing.stdout
    result = _ganzoo("train", "--help")
    assert result.returncode == 0 and "--penalty_weight" in result.stdout
    assert "--ema_start_step" in result.stdout and "Traceback" not in result.stderr
    result = _ganzoo("train", "--architecture", "sndcgan", "--penalty", "wgan_gp",
                     "--model_dir", str(tmp_path / "refused"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--penalty 'wgan_gp' needs penalty_weight" in result.stderr
    assert not (tmp_path / "refused").exists()
    result = _ganzoo("train", "--nosuch", "1")
    assert result.returncode == 2 and "Unknown command line flag 'nosuch'" in result.stderr
    run_dir = tmp_path / "run"
    result = _ganzoo("train", "--architecture", "sndcgan", "--resolution", "8", "--dataset",
                     "synthetic:16", "--batch_size", "4", "--steps", "2", "--checkpoint_every", "2",
                     "--sample_every", "0", "--num_samples", "0", "--noprogress",
                     "--ema_decay", "0.9", "--ema_start_step", "1", "--model_dir", str(run_dir))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    from ganzoo.checkpoint import CheckpointManager
    from ganzoo.recipe import Recipe

    _, path, metadata = CheckpointManager(run_dir / "checkpoints").latest()
    recipe = Recipe.from_dict(metadata["hyper"])
    assert recipe == Recipe("sndcgan", resolution=8, batch_size=4, steps=2, ema_decay=0.9,
                            ema_start_step=1)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["training"] == recipe.to_dict()


def test_eval_script_refuses_bad_command_lines_with_a_message():
    # eval.py forwards to `ganzoo eval`, whose messages these are.
    result = _script("eval.py", "--no_such_flag")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unrecognized arguments: --no_such_flag" in result.stderr
    result = _script("eval.py")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "exactly one of MODEL (a zoo name, hf://owner/repo@REV or a preset folder) or --generator-weights PATH" \
        in result.stderr


def _inception_available():
    from ganzoo.metrics import inception

    try:
        inception.default_network(5)
    except Exception:  # weights not fetched (`ganzoo fetch-inception`)
        return False
    return True


@pytest.mark.slow
def test_eval_script_evaluates_generator_weights_from_the_command_line(generator_weights_and_images, tmp_path):
    if not _inception_available():
        pytest.skip("the Inception weights are not fetched (`ganzoo fetch-inception`)")
    weights, real = generator_weights_and_images
    out = tmp_path / "record.json"
    result = _script("eval.py", "--generator_weights", str(weights), "--architecture", "sndcgan",
                     "--real", str(real), "--num_samples", "10", "--sample_sets", "1",
                     "--metrics", "kid", "--batch_size", "5", "--out", str(out), "--noprogress")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    record = json.loads(out.read_text())
    assert record["model"] == "mine" and len(record["metrics"]["kid"]["values"]) == 1


def test_gan_fit_refuses_an_endless_dataset_without_steps_per_epoch():
    import ganzoo
    from ganzoo import data

    import keras

    gan = ganzoo.build_gan("sndcgan", resolution=8, seed=0)
    dataset = data.make_dataset(data.load_source("synthetic:16", synthetic_resolution=8),
                                batch_size=4, resolution=8)

    class Bound(keras.callbacks.Callback):
        """Ends a fit() that started anyway (it would never return) after a few steps."""

        def on_train_batch_end(self, batch, logs=None):
            if batch >= 2:
                self.model.stop_training = True

    with pytest.raises(ValueError, match="never ends.*pass steps_per_epoch"):
        gan.fit(dataset, callbacks=[Bound()], verbose=0)
    with pytest.raises(ValueError, match="never ends"):
        gan.fit(dataset, None, None, 1, 0, [Bound()])  # positional arguments
    assert gan.d_steps == 0  # refused before any step
    history = gan.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
    assert gan.d_steps == 1 and "d_loss" in history.history


def _readme_block(heading):
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _cifar10_available():
    folder = os.environ.get("GANZOO_CIFAR10_DIR") or os.path.join(
        os.path.dirname(ROOT), "shared", "data", "cifar10-jpeg")
    return os.path.isdir(folder)


@pytest.mark.slow
def test_readme_python_api_block_runs_as_pasted(tmp_path):
    if not _cifar10_available():
        pytest.skip("the CIFAR10 copy is not beside the repository")
    block = _readme_block("## Python API")
    assert "dataset = " in block and "steps_per_epoch" in block
    import keras

    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               JAX_DISABLE_MOST_OPTIMIZATIONS="0")  # as optimised_xla (conftest.py): 265 -> 195 s on JAX
    code = block + ("\nassert gan.d_steps == 10, gan.d_steps\nassert pretrained.d_steps == 0, pretrained.d_steps"
                    "\nassert summary['d_step'] == 4, summary"
                    "\nprint('README block ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=1200, cwd=tmp_path, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "README block ok" in result.stdout
    assert (tmp_path / "runs" / "sn" / "checkpoints" / "ckpt-000000004.weights.h5").is_file()
