"""An Optuna study of GAN recipes: storage, samplers, the trial objective and the worker loop.

    space = SearchSpace("narrow", losses=("ns", "wgan"), steps=500)
    settings = TrialSettings(out_dir="runs/sweep", dataset="cifar10", metric="kid")
    run_worker("sqlite:///runs/sweep/study.db", "landscape", space, settings, n_trials=12)

Any number of workers (processes, machines) run `run_worker` on one storage: a SQLite file on
one machine, a PostgreSQL or MySQL URL across machines. Each trial is a `ganzoo train` run
(ganzoo.training.run, in this process) in `<out_dir>/trials/trial-NNNN`, scored every
`eval_every` discriminator steps (reported to Optuna, so a pruner can stop it) and at its end.

Workers send heartbeats. A worker that dies (SIGKILL, a lost node) stops beating; the next worker
to start a trial marks its trial FAIL and RetryFailedTrialCallback queues a copy with the same
parameters, which resumes the dead trial's run folder from its last checkpoint.
"""
import contextlib
import gc
import json
import math
import os
import socket
import time
import warnings

from ganzoo.sweep.spaces import SweepError

SAMPLERS = ("random", "tpe", "gp")
PRUNERS = ("median", "none")
METRICS = ("fid", "kid")
FEATURES = ("inception", "pixels")
DEFAULT_STUDY = "ganzoo-sweep"
# Trial user attributes: what export.py reads back.
ATTRS = ("recipe", "scores", "seconds", "run_dir", "metric", "eval_samples", "features", "worker",
         "diverged", "resumed_from_step")


@contextlib.contextmanager
def _quiet():
    """Optuna flags heartbeats and their retries as experimental (stable since v2.8): the
    warnings would repeat on every trial."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def default_storage(out_dir):
    return "sqlite:///" + os.path.abspath(os.path.join(out_dir, "study.db"))


def _shown(url):
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def open_storage(url, heartbeat_interval=60, grace_period=None, max_retry=3):
    """An RDBStorage with heartbeats and retries of dead workers' trials.

    Raises SweepError naming the URL when the database does not answer.
    """
    import optuna
    import sqlalchemy.exc

    if url.startswith("sqlite:///"):
        folder = os.path.dirname(url[len("sqlite:///"):])
        if folder:
            os.makedirs(folder, exist_ok=True)
    kwargs = {}
    if url.startswith("sqlite"):
        # Workers write one file: wait for its lock rather than fail at once.
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    elif url.startswith(("postgresql", "mysql")):
        kwargs["engine_kwargs"] = {"pool_pre_ping": True}
    # Workers that start together on a fresh database race to create its tables and to insert
    # its one schema-version row: the losers see a lock (SQLite's OperationalError) or a
    # duplicate row (IntegrityError, any database) and retry, finding the schema made.
    attempts = 5
    for attempt in range(attempts):
        try:
            with _quiet():
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                        max_retry=max_retry, inherit_intermediate_values=True),
                    **kwargs)
        except sqlalchemy.exc.ArgumentError as error:
            raise SweepError(f"storage {_shown(url)!r} is not a database URL ({error}). Use "
                             "sqlite:///PATH.db, postgresql://USER@HOST:PORT/DB or "
                             "mysql://USER@HOST/DB.") from None
        except ImportError as error:  # optuna re-raises the driver's ImportError without its name
            raise SweepError(f"storage {_shown(url)!r} needs its database driver ({error}): "
                             "pip install 'psycopg[binary]' for postgresql:// (SQLAlchemy 2.1's "
                             "default driver), psycopg2-binary for postgresql+psycopg2://, "
                             "pymysql for mysql+pymysql://.") from None
        except sqlalchemy.exc.IntegrityError:
            if attempt + 1 < attempts:
                time.sleep(1 + attempt)
                continue
            raise
        except sqlalchemy.exc.OperationalError as error:
            if url.startswith("sqlite") and attempt + 1 < attempts:
                time.sleep(1 + attempt)
                continue
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise SweepError(
                f"storage {_shown(url)!r} does not answer ({reason}). Start the database server "
                "(or check its host, port, user and password) and create the database, or omit "
                "--storage to use a SQLite file in --out.") from None


def make_sampler(name, seed=None):
    """random, tpe or gp (Gaussian-process Bayesian optimisation, the paper's)."""
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "gp":
        try:
            import scipy  # noqa: F401 - GPSampler's needs, checked here for a clear message
            import torch  # noqa: F401
        except ImportError as error:
            raise SweepError(f"the gp sampler needs torch and scipy ({error}); pip install torch "
                             "scipy, or use --sampler tpe or random.") from None
        return optuna.samplers.GPSampler(seed=seed)
    raise SweepError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}.")


def make_pruner(name):
    import optuna

    if name == "median":
        # Trials on one schedule compare at equal steps; the first few always finish.
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise SweepError(f"unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}.")


def create_or_load(storage, study_name, space, sampler="tpe", pruner="median", seed=None,
                   settings=None):
    """The study (created on first use). Its space and scoring are stored with it: a worker with
    another space or score would mix incomparable trials, so it is refused."""
    import optuna

    study = optuna.create_study(storage=storage, study_name=study_name, direction="minimize",
                                sampler=make_sampler(sampler, seed), pruner=make_pruner(pruner),
                                load_if_exists=True)
    described = {"space": space.describe()}
    if settings is not None:
        described["score"] = settings.score_protocol()
    for key, value in described.items():
        stored = study.user_attrs.get(key)
        if stored is None:
            study.set_user_attr(key, value)
        elif stored != json.loads(json.dumps(value)):
            raise SweepError(
                f"study {study_name!r} was created with another {key} ({json.dumps(stored)}); "
                f"this worker has {json.dumps(value)}. Use the study's own settings, or another "
                "--study name.")
    return study


class TrialSettings:
    """How a trial trains and is scored (everything but the recipe)."""

    def __init__(self, out_dir, dataset="cifar10", data_dir=None, metric="fid", eval_samples=2500,
                 eval_every=None, features="inception", eval_split="test", seed=0,
                 num_grid_samples=64, progress=False):
        if metric not in METRICS:
            raise SweepError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}.")
        if features not in FEATURES:
            raise SweepError(f"unknown features {features!r}; choose one of "
                             f"{', '.join(FEATURES)}.")
        if int(eval_samples) < 2:
            raise SweepError(f"eval_samples must be at least 2; got {eval_samples}.")
        if eval_every is not None and int(eval_every) < 1:
            raise SweepError(f"eval_every must be at least 1 (or unset: only at the end); got "
                             f"{eval_every}.")
        self.out_dir, self.dataset, self.data_dir = out_dir, dataset, data_dir
        self.metric, self.eval_samples, self.features = metric, int(eval_samples), features
        self.eval_every = None if eval_every is None else int(eval_every)
        self.eval_split, self.seed = eval_split, int(seed)
        self.num_grid_samples, self.progress = int(num_grid_samples), progress

    def score_protocol(self):
        return {"metric": self.metric, "samples": self.eval_samples, "features": self.features,
                "dataset": self.dataset, "split": self.eval_split, "every": self.eval_every}

    def check(self, space):
        """Refuse a score that cannot be computed, before any training."""
        dims = 2048 if self.features == "inception" else 3 * space.resolution ** 2
        if self.metric == "fid" and self.eval_samples <= dims:
            raise SweepError(
                f"FID on {self.features} features fits a {dims}x{dims} covariance and needs more "
                f"than {dims} samples; got --eval_samples {self.eval_samples}. Raise "
                "--eval_samples, or use --metric kid (unbiased with few samples).")
        if self.eval_every is not None and space.steps % self.eval_every:
            raise SweepError(f"--eval_every {self.eval_every} must divide --steps {space.steps} "
                             "(the final score is one of the reported ones).")


class Scorer:
    """FID or KID of a generator against `eval_samples` real images (features computed once)."""

    def __init__(self, settings, resolution):
        self.settings, self.resolution = settings, int(resolution)
        self._real = None
        self._network = None

    def _features(self, images):
        """images: float32 [0, 1], (N, H, W, 3)."""
        import numpy as np

        if self.settings.features == "pixels":
            return images.reshape(len(images), -1).astype(np.float64)
        if self._network is None:
            from ganzoo.metrics.inception import default_network

            self._network = default_network(50)
        return self._network.features((images * 255.0).astype(np.float32))

    def real_features(self):
        if self._real is None:
            self._real = self._reference()
        return self._real

    def _reference(self):
        import numpy as np

        s = self.settings
        if (s.features == "inception" and s.dataset == "cifar10" and self.resolution == 32
                and not s.data_dir):
            # The evaluator's cached features of the CIFAR10 split: a seeded subset of rows.
            from ganzoo.metrics import fid
            from ganzoo.metrics.evaluator import reference_features

            feats, _ = fid.load_features(reference_features("cifar10", s.eval_split,
                                                            progress=False),
                                         limit=s.eval_samples, seed=s.seed)
            return feats
        from ganzoo import data as gdata

        try:
            source = gdata.load_source(s.dataset, split=s.eval_split, data_dir=s.data_dir,
                                       synthetic_resolution=self.resolution)
        except gdata.DataError:  # no held-out split (synthetic data, one folder): the training one
            source = gdata.load_source(s.dataset, split="train", data_dir=s.data_dir,
                                       synthetic_resolution=self.resolution)
        images = gdata.take_images(source, s.eval_samples, seed=s.seed)
        if images.shape[1] != self.resolution:
            raise SweepError(f"the reference images of {s.dataset} are {images.shape[1]}x"
                             f"{images.shape[2]}; the study's resolution is {self.resolution}.")
        return self._features(np.asarray(images, dtype=np.float32))

    def __call__(self, gan):
        import numpy as np

        from ganzoo.metrics import fid, kid

        s = self.settings
        real = self.real_features()
        fake = self._features(np.asarray(gan.generate(s.eval_samples, seed=s.seed), np.float32))
        if s.metric == "kid":
            return float(kid.kid(real, fake, seed=s.seed))
        return float(fid.fid_from_stats(fid.FIDStats.from_features(fake),
                                        fid.FIDStats.from_features(real)))


def _score_callback(trial, scorer, every, total, earlier=()):
    """A ganzoo.callbacks.StepCallback scoring the GAN every `every` D steps and at `total`,
    reporting to the trial and pruning it when the pruner says so. `earlier`: the scores of the
    dead trial a resumed retry goes on from."""
    import optuna

    from ganzoo.callbacks import StepCallback

    class Score(StepCallback):
        def __init__(self):
            super().__init__()
            self.scores = [list(pair) for pair in earlier]

        def on_d_step(self, d_step, logs):
            if self.run_failed or not (d_step == total or self.crossed(d_step, every)):
                return
            value = scorer(self.model)
            self.scores.append([int(d_step), value])
            trial.set_user_attr("scores", self.scores)
            if not math.isfinite(value):
                return
            trial.report(value, int(d_step))
            if d_step < total and trial.should_prune():
                raise optuna.TrialPruned(f"{value:.4g} at D step {d_step}")

    return Score()


class SurplusTrial(RuntimeError):
    """Two workers started a trial at once when the study needed one more: the later one is
    marked FAIL (user attribute "surplus") before it trains, so the study gets exactly its count."""


class Objective:
    """One trial: draw a recipe, train it with `ganzoo train`'s code, return its final score."""

    def __init__(self, space, settings, n_trials=None):
        self.space, self.settings, self.n_trials = space, settings, n_trials
        self.scorer = Scorer(settings, space.resolution)

    def _check_not_surplus(self, trial):
        import optuna

        state = optuna.trial.TrialState
        ahead = [t for t in trial.study.get_trials(deepcopy=False, states=(
            state.COMPLETE, state.PRUNED, state.RUNNING, state.WAITING)) if t.number < trial.number]
        if self.n_trials is not None and len(ahead) >= self.n_trials:
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"trial {trial.number} is beyond the study's {self.n_trials} "
                               "trials (another worker took the last one); not trained")

    def run_dir(self, number):
        return os.path.join(self.settings.out_dir, "trials", f"trial-{number:04d}")

    def __call__(self, trial):
        import optuna

        from ganzoo import training
        from ganzoo.callbacks import NonFiniteLossError
        from ganzoo.checkpoint import CheckpointManager

        self._check_not_surplus(trial)
        recipe = self.space.suggest(trial)
        frozen = next(t for t in trial.study.get_trials(deepcopy=False)
                      if t.number == trial.number)
        retried = optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
        run_dir = self.run_dir(trial.number)
        resumed_step, earlier = None, []
        if retried is not None:  # a dead worker's trial: go on from its last checkpoint
            previous = self.run_dir(retried)
            latest = CheckpointManager(os.path.join(previous, "checkpoints")).latest([])
            if latest is not None:
                run_dir, resumed_step = previous, int(latest[2].get("d_step", latest[0]))
                # (user attributes come with the retry: the dead trial's scores up to here)
                earlier = [s for s in frozen.user_attrs.get("scores", []) if s[0] <= resumed_step]
        resume = resumed_step is not None
        trial.set_user_attr("resumed_from_step", resumed_step)
        s = self.settings
        trial.set_user_attr("recipe", recipe.to_dict())
        trial.set_user_attr("run_dir", os.path.abspath(run_dir))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        for key, value in s.score_protocol().items():
            trial.set_user_attr(key if key in ("metric", "features") else f"eval_{key}", value)
        every = s.eval_every or recipe.steps
        options = training.RunOptions(
            model_dir=run_dir, recipe=recipe, resume=resume, dataset=s.dataset,
            data_dir=s.data_dir, seed=s.seed, checkpoint_every=every, keep_checkpoints=1,
            sample_every=0, num_samples=s.num_grid_samples, log_every=min(100, every),
            fid_every=0, progress=s.progress)
        start = time.perf_counter()
        score = _score_callback(trial, self.scorer, every, recipe.steps, earlier)
        try:
            training.run(options, extra_callbacks=[score])
        except NonFiniteLossError as error:
            # A diverged run is a result of its recipe, not a failure to retry: pruned, marked.
            trial.set_user_attr("diverged", str(error))
            raise optuna.TrialPruned(f"diverged: {error}") from None
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
            _release_models()
        if not score.scores:
            raise SweepError(f"trial {trial.number} trained but was never scored (run folder "
                             f"{run_dir}).")
        return score.scores[-1][1]


def _release_models():
    import keras

    keras.backend.clear_session()
    gc.collect()


def _counts(study):
    """(finished, running, waiting) trials of the study: all workers' together."""
    import optuna

    state = optuna.trial.TrialState
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return (sum(s in (state.COMPLETE, state.PRUNED) for s in states),
            states.count(state.RUNNING), states.count(state.WAITING))


def run_worker(storage_url, study_name, space, settings, n_trials, sampler="tpe",
               pruner="median", seed=None, heartbeat_interval=60, grace_period=None,
               max_retry=3, log=print):
    """Join the study and run trials until it has `n_trials` finished ones (COMPLETE or PRUNED,
    counting those other workers run). Returns the numbers of the trials this worker ran.

    While the last trials run elsewhere the worker waits: if one of their workers dies, this one
    marks the trial failed (after the grace period) and runs its retry.
    """
    import optuna

    settings.check(space)
    with _quiet():
        return _work(storage_url, study_name, space, settings, n_trials, sampler, pruner, seed,
                     heartbeat_interval, grace_period, max_retry, log)


def _work(storage_url, study_name, space, settings, n_trials, sampler, pruner, seed,
          heartbeat_interval, grace_period, max_retry, log):
    import optuna

    storage = open_storage(storage_url, heartbeat_interval, grace_period, max_retry)
    study = create_or_load(storage, study_name, space, sampler, pruner, seed, settings)
    objective = Objective(space, settings, n_trials)
    ran = []

    def report(study, trial):
        ran.append(trial.number)
        value = "" if trial.value is None else f"{settings.metric} {trial.value:.4g} "
        log(f"ganzoo sweep: trial {trial.number} {trial.state.name} {value}"
            f"({_counts(study)[0]}/{n_trials} finished)")

    while True:
        optuna.storages.fail_stale_trials(study)  # dead workers' trials: FAIL, and a retry queued
        done, running, waiting = _counts(study)
        if done >= n_trials:
            break
        if done + running >= n_trials and not waiting:
            time.sleep(heartbeat_interval)  # the last trials run elsewhere
            continue
        study.optimize(objective, n_trials=1, callbacks=[report], gc_after_trial=True,
                       catch=(SurplusTrial,))
    return ran
