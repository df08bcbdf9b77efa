"""training/train.py: flags, --config, conflicts and bad input, all refused before any model is
built (in-process, no training)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


from ganzoo import training  # noqa: E402  (the run itself)
from ganzoo.cli import train  # noqa: E402  (`ganzoo train`; training/train.py forwards to it)


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
    return training.run(train.resolve_settings())


def test_help_says_steps_are_discriminator_steps():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "training", "train.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "DISCRIMINATOR steps" in result.stdout and "--disc_iters" in result.stdout


def test_config_gives_the_paper_settings_and_flags_override(tmp_path):
    s = settings("--config", "resnet_cifar-ns-sngp-cifar10", "--model_dir", str(tmp_path),
                 "--steps", "1000")
    hyper = s.recipe.to_dict()
    assert (hyper["architecture"], hyper["normalization"], hyper["penalty"]) == (
        "resnet_cifar", "spectral", "wgan_gp")
    assert hyper["penalty_weight"] == 1.0 and hyper["disc_iters"] == 5
    assert hyper["steps"] == 1000 and list(s.checked_fields) == ["steps"]
    assert s.dataset == "cifar10"
    s = settings("--config", "sndcgan-ns-sn-cifar10", "--model_dir", str(tmp_path), "--lr", "1e-3")
    assert s.recipe.g_lr == s.recipe.d_lr == 1e-3


def test_explicit_flags_without_config(tmp_path):
    s = settings("--architecture", "sndcgan", "--loss", "hinge", "--penalty", "dragan",
                 "--penalty_weight", "10", "--g_lr", "1e-4", "--d_lr", "4e-4",
                 "--model_dir", str(tmp_path))
    assert s.recipe.loss == "hinge" and s.recipe.d_lr == 4e-4
    assert s.recipe.g_lr == 1e-4 and s.recipe.penalty_weight == 10.0


@pytest.mark.parametrize("args, message", [
    (["--config", "sndcgan-ns-sn-cifar11"], "Closest known names: sndcgan-ns-sn-cifar10"),
    (["--architecture", "sndcgan", "--lr", "1e-4", "--g_lr", "2e-4"], "conflicts with --g_lr"),
    (["--architecture", "sndcgan", "--penalty", "wgan_gp"], "needs penalty_weight"),
    (["--architecture", "sndcgan", "--penalty_weight", "3"], "no effect with penalty 'none'"),
    (["--lr", "1e-4"], "--config NAME .* or --architecture"),
    (["--architecture", "sndcgan", "--beta1", "1.5"], "--beta1 must be below 1"),
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
     "must be a multiple of disc_iters 5"),
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


# ------------------------------------------------------------------ settings that used to slip by
def test_a_config_penalty_weight_does_not_carry_over_to_another_penalty(tmp_path):
    with pytest.raises(train.UsageError, match="needs its own penalty_weight.*belongs to penalty none"):
        settings("--config", "sndcgan-ns-sn-cifar10", "--penalty", "wgan_gp",
                 "--model_dir", str(tmp_path))
    s = settings("--config", "sndcgan-ns-sn-cifar10", "--penalty", "wgan_gp",
                 "--penalty_weight", "10", "--model_dir", str(tmp_path))
    assert (s.recipe.penalty, s.recipe.penalty_weight) == ("wgan_gp", 10.0)
    s = settings("--config", "sndcgan-ns-sngp-cifar10", "--penalty", "wgan_gp",
                 "--model_dir", str(tmp_path))  # the config's own penalty keeps its weight
    assert s.recipe.penalty_weight == 10.0
    with pytest.raises(train.UsageError, match="--penalty_weight must be at least 0"):
        settings("--architecture", "sndcgan", "--penalty", "r1", "--penalty_weight", "-1",
                 "--model_dir", str(tmp_path))


def test_build_gan_refuses_a_weight_without_a_penalty(monkeypatch):
    import ganzoo
    from ganzoo import gan as gan_module

    monkeypatch.setattr(gan_module, "build_generator", lambda *a, **k: pytest.fail("built"))
    with pytest.raises(ValueError, match="no effect with penalty 'none'"):
        ganzoo.build_gan("sndcgan", penalty="none", penalty_weight=10)


def test_d_lr_defaults_to_g_lr_as_in_build_gan(tmp_path):
    s = settings("--architecture", "sndcgan", "--g_lr", "1e-4", "--model_dir", str(tmp_path))
    assert s.recipe.g_lr == s.recipe.d_lr == 1e-4
    # What build_gan does with the same arguments:
    import ganzoo

    gan = ganzoo.build_gan("sndcgan", resolution=8, g_lr=1e-4)
    assert float(gan.discriminator_optimizer.learning_rate) == pytest.approx(1e-4)
    s = settings("--architecture", "sndcgan", "--model_dir", str(tmp_path))
    assert s.recipe.g_lr == s.recipe.d_lr == 2e-4
    # A config whose two rates are equal keeps them tied, as build_gan(recipe, g_lr=...) does;
    # a config with two different rates keeps its d_lr.
    s = settings("--config", "sndcgan-ns-sn-cifar10", "--g_lr", "1e-4", "--model_dir", str(tmp_path))
    assert (s.recipe.g_lr, s.recipe.d_lr) == (1e-4, 1e-4)
    from ganzoo.zoo import manifest

    gan = ganzoo.build_gan(manifest.load_recipe("sndcgan-ns-sn-cifar10"), resolution=8, g_lr=1e-4)
    assert float(gan.discriminator_optimizer.learning_rate) == pytest.approx(1e-4)
    s = settings("--config", "sndcgan-ns-sn-cifar10", "--g_lr", "1e-4", "--d_lr", "3e-4",
                 "--model_dir", str(tmp_path))
    assert (s.recipe.g_lr, s.recipe.d_lr) == (1e-4, 3e-4)
    untied = train.Recipe("sndcgan", g_lr=1e-4, d_lr=4e-4).override(g_lr=2e-4)
    assert (untied.g_lr, untied.d_lr) == (2e-4, 4e-4)


@pytest.mark.parametrize("flag", ["--sample_every", "--fid_every", "--num_samples"])
def test_negative_counts_are_refused(tmp_path, flag):
    with pytest.raises(train.UsageError, match=f"{flag} must be 0 or more"):
        settings("--architecture", "sndcgan", "--model_dir", str(tmp_path), flag, "-1")


def test_too_few_fid_samples_are_refused_naming_train_py_flags(tmp_path):
    with pytest.raises(train.UsageError) as caught:
        settings("--architecture", "sndcgan", "--model_dir", str(tmp_path), "--fid_every", "100",
                 "--fid_samples", "100")
    message = str(caught.value)
    assert "--fid_samples 100 is too few" in message and "at least 2049" in message
    assert "--min-samples" not in message  # a flag of `ganzoo fid`, not of train.py
    settings("--architecture", "sndcgan", "--model_dir", str(tmp_path), "--fid_samples", "100")


def test_model_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("x")
    with pytest.raises(train.UsageError, match="is a file, not a folder"):
        settings("--architecture", "sndcgan", "--model_dir", str(path))


@pytest.fixture
def no_data(monkeypatch):
    """Fail the test if data gets loaded: network checks must come before that."""
    from ganzoo import data

    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the flags were checked")

    monkeypatch.setattr(data, "load_source", refuse)


@pytest.mark.parametrize("args, message", [
    (["--architecture", "sndcgan", "--resolution", "36"], "--resolution 36: SNDCGAN needs a "
     "resolution divisible by 8"),
    (["--architecture", "resnet_cifar", "--resolution", "64"], "defined for 32x32 images only"),
    (["--architecture", "sndcgan", "--normalization", "layer"], "--normalization layer: the "
     "paper's SNDCGAN discriminator takes none or spectral only"),
])
def test_networks_are_checked_before_the_data_is_loaded(tmp_path, no_build, no_data, args,
                                                         message):
    if "--resolution" not in args:
        args = args + ["--resolution", "32"]
    with pytest.raises(train.UsageError, match=message):
        run(tmp_path, "--dataset", "cifar10", *args)


def _fake_run(tmp_path, step, keep=3):
    """A run folder whose checkpoint of `step` holds a run's full metadata (tiny weights)."""
    import keras

    from ganzoo.checkpoint import CheckpointManager

    hyper = train.Recipe("sndcgan", resolution=8, steps=step, batch_size=4).to_dict()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    manager = CheckpointManager(tmp_path / "run" / "checkpoints", keep=keep)
    return manager.save(model, step, {"hyper": hyper, "d_step": step, "dataset": "synthetic:16",
                                      "seed": 0, "resize": False})


def test_resume_below_the_reached_step_is_refused(tmp_path, no_build, no_data):
    _fake_run(tmp_path, 20)
    with pytest.raises(train.UsageError, match="--steps 10: the run is already past it .* at "
                                               "discriminator step 20"):
        run(tmp_path, "--resume", "--steps", "10")


def test_truncated_checkpoint_is_reported_as_unreadable_not_missing(tmp_path, no_build, no_data):
    path = _fake_run(tmp_path, 20)
    with open(path, "r+b") as handle:
        handle.truncate(200)
    from ganzoo.checkpoint import CheckpointError

    for extra in (["--resume"], ["--architecture", "sndcgan"]):
        with pytest.raises(CheckpointError) as caught:
            run(tmp_path, *extra)
        message = str(caught.value)
        assert "none can be used" in message and "ckpt-000000020.weights.h5" in message
        assert "holds no checkpoint" not in message and "Drop --resume" not in message
        assert "Nothing was changed or deleted" in message
    assert os.path.getsize(path) == 200  # kept as it is


# ------------------------------------------------------------------------------- --deterministic
@pytest.mark.parametrize("args, expected", [
    (["--deterministic"], True), (["-deterministic=1"], True), (["--deterministic=true"], True),
    (["--deterministic=false"], False), (["--deterministic", "--nodeterministic"], False),
    (["--steps", "4"], False),
])
def test_deterministic_sets_tensorflows_environment_before_it_loads(monkeypatch, args, expected):
    from ganzoo.cli import DETERMINISTIC_ENVIRONMENT, prepare_training_environment

    for name in DETERMINISTIC_ENVIRONMENT:  # set, then removed: monkeypatch restores it after
        monkeypatch.setenv(name, "set by the test")
        monkeypatch.delenv(name)
    assert prepare_training_environment(args) is expected
    assert {name: os.environ.get(name) for name in DETERMINISTIC_ENVIRONMENT} == (
        {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
        if expected else dict.fromkeys(DETERMINISTIC_ENVIRONMENT))
    train.parse_flags(["train.py", "--model_dir", "x", "--architecture", "sndcgan", *args])
    assert train.resolve_settings().deterministic is expected


def test_deterministic_in_a_process_that_loaded_onednn_is_refused_with_the_fix(tmp_path,
                                                                              no_build):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("oneDNN is TensorFlow's; JAX's CPU kernels are deterministic as they are")
    from tensorflow.python.util import _pywrap_util_port

    if not _pywrap_util_port.IsMklEnabled():
        pytest.skip("this TensorFlow runs without oneDNN (TF_ENABLE_ONEDNN_OPTS=0 or its build)")
    with pytest.raises(train.UsageError, match="--deterministic: .*TF_ENABLE_ONEDNN_OPTS=0"):
        run(tmp_path, "--architecture", "sndcgan", "--dataset", "synthetic:8", "--deterministic")
    assert not (tmp_path / "run").exists()
