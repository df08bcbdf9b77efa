"""ganzoo.sweep's study plumbing, export and figures, and `ganzoo sweep`'s errors (in-process,
no training: tests/integration/test_sweep_workers.py runs real trials)."""
import os
import socket

import numpy as np
import optuna
import pytest
from PIL import Image

from ganzoo.cli.main import main
from ganzoo.sweep import export, figures, study
from ganzoo.sweep.spaces import SearchSpace, SweepError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_samplers_by_name():
    assert isinstance(study.make_sampler("random", 0), optuna.samplers.RandomSampler)
    assert isinstance(study.make_sampler("tpe", 0), optuna.samplers.TPESampler)
    assert isinstance(study.make_sampler("gp", 0), optuna.samplers.GPSampler)
    with pytest.raises(SweepError, match="unknown sampler 'bayes'; choose one of random, tpe, gp"):
        study.make_sampler("bayes")


def test_storage_that_does_not_answer_is_named_without_its_password():
    url = f"postgresql://user:secret@127.0.0.1:{_closed_port()}/sweeps"
    with pytest.raises(SweepError) as error:
        study.open_storage(url)
    message = str(error.value)
    assert "does not answer" in message and "127.0.0.1" in message
    assert "secret" not in message
    assert "Start the database server" in message


def test_storage_url_that_is_no_database():
    with pytest.raises(SweepError, match="not a database URL"):
        study.open_storage("nonsense://where")


def test_a_worker_with_another_space_is_refused(tmp_path):
    url = study.default_storage(tmp_path)
    settings = study.TrialSettings(tmp_path, metric="kid", eval_samples=16)
    storage = study.open_storage(url)
    study.create_or_load(storage, "s", SearchSpace(losses=("ns",)), settings=settings)
    # The same space joins; another one would mix incomparable trials.
    study.create_or_load(storage, "s", SearchSpace(losses=("ns",)), settings=settings)
    with pytest.raises(SweepError, match="created with another space"):
        study.create_or_load(storage, "s", SearchSpace(losses=("wgan",)), settings=settings)


def test_scores_that_cannot_be_computed_are_refused_before_training(tmp_path):
    space = SearchSpace(resolution=32, steps=100)
    with pytest.raises(SweepError, match="needs more than 2048 samples"):
        study.TrialSettings(tmp_path, metric="fid", eval_samples=1000).check(space)
    with pytest.raises(SweepError, match="must divide --steps 100"):
        study.TrialSettings(tmp_path, metric="kid", eval_samples=100, eval_every=30).check(space)
    with pytest.raises(SweepError, match="unknown metric"):
        study.TrialSettings(tmp_path, metric="is")


def _rows(tmp_path):
    rows = []
    grid = tmp_path / "trial" / "samples"
    grid.mkdir(parents=True)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(grid / "step_000000010.png")
    values = {"ns": [30.0, 20.0, 25.0], "wgan": [50.0, 40.0, 45.0]}
    number = 0
    for loss, scores in values.items():
        for value in scores:
            rows.append({"number": number, "state": "COMPLETE", "value": value, "metric": "fid",
                         "eval_samples": 2500, "cell": f"sndcgan/{loss}/none/spectral",
                         "loss": loss, "penalty": "none", "normalization": "spectral",
                         "run_dir": str(tmp_path / "trial"), "scores": "[]"})
            number += 1
    rows.append({"number": number, "state": "PRUNED", "value": None, "loss": "ns"})
    return rows


def test_best_per_group_and_budget_curves(tmp_path):
    rows = _rows(tmp_path)
    assert figures.best_per_group(rows, "loss", top=0.05) == {"ns": [20.0], "wgan": [40.0]}
    assert figures.best_per_group(rows, "loss", top=0.5) == {"ns": [20.0, 25.0],
                                                             "wgan": [40.0, 45.0]}
    assert figures.best_so_far(rows) == {"ns": [30.0, 20.0, 20.0], "wgan": [50.0, 40.0, 40.0]}
    with pytest.raises(SweepError, match="no completed trial"):
        figures.finished([{"number": 0, "state": "FAIL", "value": None}])


def test_csv_round_trip_and_figures(tmp_path):
    rows = _rows(tmp_path)
    path = tmp_path / "out" / "trials.csv"
    assert export.write_csv(rows, path) == len(rows)
    back = export.read_csv(path)
    assert [r["value"] for r in back] == [r["value"] for r in rows]
    assert back[0]["loss"] == "ns" and back[0]["run_dir"] == str(tmp_path / "trial")
    written = figures.write_all(back, tmp_path / "figures")
    assert sorted(os.path.basename(p) for p in written) == [
        "best_loss.png", "best_normalization.png", "best_penalty.png", "budget.png",
        "samples.png"]
    for p in written:
        with Image.open(p) as image:
            assert image.size[0] > 100


@pytest.mark.parametrize("args, words", [
    (["--space", "medium"], ["unknown search space 'medium'", "wide, narrow"]),
    (["--sampler", "bayes"], ["unknown sampler 'bayes'"]),
    (["--resolution", "12"], ["excludes every valid recipe", "resolution 12"]),
    (["--storage", "postgresql://u@127.0.0.1:{port}/db"], ["does not answer", "127.0.0.1"]),
])
def test_cli_errors_are_one_line(args, words, tmp_path, capsys):
    args = [a.format(port=_closed_port()) for a in args]
    status = main(["sweep", "run", "--trials", "1", "--out", str(tmp_path), "--metric", "kid",
                   *args])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("ganzoo sweep: error: ") and "Traceback" not in err
    for word in words:
        assert word in err
    assert not os.path.exists(tmp_path / "trials")  # nothing trained


def test_scores_are_reported_at_each_step_and_a_bad_trial_is_pruned():
    """The scoring callback of a trial: scores every `every` D steps and at the end, reported
    to Optuna; the pruner stops the run at an intermediate score, never after the last."""
    scored = iter([0.5, 0.4, 0.3, 0.2])
    runs = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.45))
    trial = runs.ask()
    callback = study._score_callback(trial, lambda gan: next(scored), every=10, total=30)
    callback.disc_iters, callback.initial_d_step = 5, 0
    callback.set_model(object())
    with pytest.raises(optuna.TrialPruned, match="0.5 at D step 10"):
        for batch in range(6):
            callback.on_train_batch_end(batch)
    assert callback.scores == [[10, 0.5]]
    assert trial.user_attrs["scores"] == [[10, 0.5]]

    good = runs.ask()
    scored = iter([0.4, 0.3, 0.2])
    callback = study._score_callback(good, lambda gan: next(scored), every=10, total=30,
                                     earlier=[[10, 0.4]])  # a resumed retry's first score
    callback.disc_iters, callback.initial_d_step = 5, 10
    callback.set_model(object())
    for batch in range(4):
        callback.on_train_batch_end(batch)
    assert callback.scores == [[10, 0.4], [20, 0.4], [30, 0.3]]
