"""training/train.py: flags, --config, conflicts and bad input, all refused before any model is
built (in-process, no training)."""
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "ganzoo_train_script", os.path.join(ROOT, "training", "train.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train = _load_script()


@pytest.fixture
def no_build(monkeypatch):
    """Fail the test if a model gets built: errors must come before that."""
    import ganzoo

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built before the input was checked")

    monkeypatch.setattr(ganzoo, "build_gan", refuse, raising=False)


def settings(*args):
    train.parse_flags(["train.py", *args])
    return train.resolve_settings()


def run(tmp_path, *args):
    train.parse_flags(["train.py", "--model_dir", str(tmp_path / "run"), "--noprogress", *args])
    return train.run(train.resolve_settings())


def test_help_says_steps_are_discriminator_steps():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "training", "train.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "DISCRIMINATOR steps" in result.stdout and "--disc_iters" in result.stdout


def test_config_gives_the_paper_settings_and_flags_override(tmp_path):
    s = settings("--config", "resnet_cifar-ns-sngp-cifar10", "--model_dir", str(tmp_path),
                 "--steps", "1000")
    hyper = s["hyper"]
    assert (hyper["architecture"], hyper["normalization"], hyper["penalty"]) == (
        "resnet_cifar", "spectral", "wgan_gp")
    assert hyper["penalty_weight"] == 1.0 and hyper["disc_iters"] == 5
    assert hyper["steps"] == 1000 and s["explicit"] == ["steps"]
    assert s["dataset"] == "cifar10"
    s = settings("--config", "sndcgan-ns-sn-cifar10", "--model_dir", str(tmp_path), "--lr", "1e-3")
    assert s["hyper"]["g_lr"] == s["hyper"]["d_lr"] == 1e-3


def test_explicit_flags_without_config(tmp_path):
    s = settings("--architecture", "sndcgan", "--loss", "hinge", "--penalty", "dragan",
                 "--penalty_weight", "10", "--g_lr", "1e-4", "--d_lr", "4e-4",
                 "--model_dir", str(tmp_path))
    assert s["hyper"]["loss"] == "hinge" and s["hyper"]["d_lr"] == 4e-4
    assert s["hyper"]["g_lr"] == 1e-4 and s["hyper"]["penalty_weight"] == 10.0


@pytest.mark.parametrize("args, message", [
    (["--config", "sndcgan-ns-sn-cifar11"], "Closest known names: sndcgan-ns-sn-cifar10"),
    (["--architecture", "sndcgan", "--lr", "1e-4", "--g_lr", "2e-4"], "conflicts with --g_lr"),
    (["--architecture", "sndcgan", "--penalty", "wgan_gp"], "needs --penalty_weight"),
    (["--architecture", "sndcgan", "--penalty_weight", "3"], "conflicts with --penalty none"),
    (["--lr", "1e-4"], "--config NAME .* or --architecture"),
    (["--architecture", "sndcgan", "--beta1", "1.5"], "beta1 must be in"),
    (["--architecture", "sndcgan", "--num_devices", "2"], "needs --distribute data_parallel"),
    (["--config", "sndcgan-ns-sn-cifar10", "--init_from", "sndcgan-ns-none-cifar10"],
     "conflicts with --init_from"),
])
def test_conflicting_or_missing_flags(tmp_path, args, message):
    with pytest.raises(train.UsageError, match=message):
        settings("--model_dir", str(tmp_path), *args)


def test_model_dir_is_required():
    with pytest.raises(train.UsageError, match="--model_dir is required"):
        settings("--architecture", "sndcgan")


def test_unknown_flag_is_refused():
    with pytest.raises(Exception, match="nosuchflag"):
        train.parse_flags(["train.py", "--nosuchflag=1"])


@pytest.mark.parametrize("args, error, message", [
    (["--dataset", "no/such/folder"], "DataError", "does not exist"),
    (["--dataset", "synthetic:10", "--batch_size", "8", "--disc_iters", "2", "--steps", "4"],
     "DataError", "needs 16 images"),
    (["--dataset", "synthetic:64", "--disc_iters", "5", "--steps", "12"], "UsageError",
     "multiple of --disc_iters"),
    (["--dataset", "cifar_ten"], "DataError", "Unknown data set"),
    (["--dataset", "synthetic:64", "--resume"], "UsageError", "holds no checkpoint"),
])
def test_bad_input_stops_before_building(tmp_path, no_build, args, error, message):
    from ganzoo import data

    kind = data.DataError if error == "DataError" else train.UsageError
    with pytest.raises(kind, match=message):
        run(tmp_path, "--architecture", "sndcgan", "--resolution", "8", *args)


def test_existing_run_needs_resume(tmp_path, no_build):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    import keras

    from ganzoo.checkpoint import CheckpointManager

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    CheckpointManager(folder).save(model, 3, {"hyper": {"steps": 10}})
    with pytest.raises(train.UsageError, match="already holds checkpoints.*--resume"):
        run(tmp_path, "--architecture", "sndcgan", "--dataset", "synthetic:8")


def test_main_reports_errors_as_exit_code(tmp_path, capsys):
    train.parse_flags(["train.py", "--model_dir", str(tmp_path), "--architecture", "sndcgan",
                       "--dataset", str(tmp_path / "missing.tar")])
    assert train.main(["train.py"]) == 2
    assert "does not exist" in capsys.readouterr().err
