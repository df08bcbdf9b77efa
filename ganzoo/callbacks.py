"""Keras callbacks for GAN training: progress, TensorBoard scalars, sample grids, FID, NaN stop,
checkpoints.

Steps are the paper's: discriminator steps (`gan.d_steps`). A fit() step makes `disc_iters` of
them, so every callback here counts `initial_d_step + fit_steps * disc_iters` itself instead of
reading the model's counter: on JAX, reading a variable mid-epoch forces fit() to sync its state
back into the model. Callbacks that do need the model's variables (samples, FID, checkpoints)
reach them through `self.model` (which syncs on JAX) and only on the steps where they act.

Order matters: put `NaNGuard` first (it marks the run failed, so `Checkpoint` does not write the
broken state) and `MetricWindow` last (it resets the loss means after everyone has read them).
`standard_callbacks(...)` assembles them in that order.
"""
import json
import math
import os
import sys
import time

import keras
import numpy as np

LOSS_NAMES = ("d_loss", "g_loss", "penalty")


class NonFiniteLossError(RuntimeError):
    """Training stopped because a loss became NaN or infinite."""


class StepCallback(keras.callbacks.Callback):
    """Tracks the discriminator step without touching the model's variables."""

    def __init__(self, disc_iters=1, initial_d_step=0):
        super().__init__()
        self.disc_iters = int(disc_iters)
        self.initial_d_step = int(initial_d_step)
        self.fit_steps = 0
        self.nan_guard = None  # set by standard_callbacks: outputs are skipped once it fails

    @property
    def run_failed(self):
        return bool(self.nan_guard is not None and self.nan_guard.failed)

    @property
    def d_step(self):
        return self.initial_d_step + self.fit_steps * self.disc_iters

    def on_train_batch_end(self, batch, logs=None):
        self.fit_steps += 1
        self.on_d_step(self.d_step, logs or {})

    def on_d_step(self, d_step, logs):
        pass

    def crossed(self, d_step, every):
        """True when the last fit step crossed a multiple of `every` D steps."""
        return bool(every) and d_step // every > (d_step - self.disc_iters) // every


class NaNGuard(StepCallback):
    """Stops training at the first NaN/Inf loss, with a message naming the step and what to do.

    `Checkpoint` consults `failed`, so the last checkpoint on disk stays the last good one.
    After fit() returns, `raise_if_failed()` turns the stop into a NonFiniteLossError.
    """

    def __init__(self, disc_iters=1, initial_d_step=0, checkpoint_manager=None):
        super().__init__(disc_iters, initial_d_step)
        self.checkpoint_manager = checkpoint_manager
        self.failed = None

    def on_d_step(self, d_step, logs):
        bad = {k: v for k, v in logs.items() if isinstance(v, (int, float)) and not math.isfinite(v)}
        if not bad or self.failed:
            return
        last = None
        if self.checkpoint_manager is not None:
            latest = self.checkpoint_manager.latest()
            last = latest[1] if latest else None
        values = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        fixes = ("after lowering the learning rates (--lr/--g_lr/--d_lr), raising the penalty "
                 "weight, or choosing another normalisation.")
        self.failed = f"Training stopped at discriminator step {d_step}: {values}. " + (
            f"The last good checkpoint is {last}: resume from it with --resume {fixes}" if last
            else f"No checkpoint was written before the failure: start again {fixes}")
        print("\n" + self.failed, file=sys.stderr, flush=True)
        self._model.stop_training = True  # a flag, not a variable: no JAX sync needed

    def raise_if_failed(self):
        if self.failed:
            raise NonFiniteLossError(self.failed)


class Checkpoint(StepCallback):
    """Atomic checkpoints every `every` D steps and at the end of training (see ganzoo.checkpoint).

    `metadata` is a dict (or a callable returning one) stored with each checkpoint. Nothing is
    written when `nan_guard` has failed or when a variable is not finite.
    """

    def __init__(self, manager, every, disc_iters=1, initial_d_step=0, metadata=None,
                 nan_guard=None, save_at_end=True):
        super().__init__(disc_iters, initial_d_step)
        self.manager = manager
        self.every = int(every)
        self.metadata = metadata
        self.nan_guard = nan_guard
        self.save_at_end = save_at_end
        self.last_saved_step = None
        self.skipped = None

    def _save(self, d_step):
        from ganzoo.checkpoint import all_finite

        if self.run_failed:
            return
        model = self.model  # syncs JAX state into the variables
        if not all_finite(model):
            self.skipped = d_step
            print(f"\nganzoo: not checkpointing step {d_step}: the weights hold NaN/Inf.",
                  file=sys.stderr)
            model.stop_training = True
            if self.nan_guard is not None and not self.nan_guard.failed:
                self.nan_guard.failed = (
                    f"The weights became NaN/Inf by discriminator step {d_step}; the last good "
                    f"checkpoint is kept. Lower the learning rates and resume with --resume."
                )
            return
        metadata = self.metadata() if callable(self.metadata) else dict(self.metadata or {})
        metadata.update(d_step=int(d_step), fit_step=int(d_step // self.disc_iters))
        self.manager.save(model, d_step, metadata)
        self.last_saved_step = d_step

    def on_d_step(self, d_step, logs):
        if self.crossed(d_step, self.every):
            self._save(d_step)

    def on_train_end(self, logs=None):
        if self.save_at_end and self.fit_steps and self.last_saved_step != self.d_step:
            self._save(self.d_step)


class SampleGrid(StepCallback):
    """PNG grids of `num` samples from fixed noise every `every` D steps (and at the end).

    Files: `<directory>/step_<D step, 9 digits>.png` from the inference generator (the EMA
    average when there is one) and, beside it, `..._raw.png` from the raw generator: an average
    that starts at step 0 shows one flat colour for thousands of steps while G already learns.
    """

    def __init__(self, directory, every, num=64, seed=0, disc_iters=1, initial_d_step=0,
                 at_end=True):
        super().__init__(disc_iters, initial_d_step)
        self.directory = os.fspath(directory)
        self.every = int(every)
        self.num = int(num)
        self.seed = int(seed)
        self.at_end = at_end
        self.written = []

    def _write(self, d_step):
        from ganzoo.utils.images import save_grid

        path = os.path.join(self.directory, f"step_{int(d_step):09d}.png")
        model = self.model  # (syncs the JAX training state into the variables)
        generators = [(model.ema_generator or model.generator, path)]
        if model.ema_generator is not None:
            generators.append((model.generator, os.path.join(self.directory, f"step_{int(d_step):09d}_raw.png")))
        for generator, file in generators:  # a conditional G: one row per class
            images, columns = generator.sample_grid(self.num, seed=self.seed)
            save_grid(images, file, columns=columns)
        self.written.append(path)

    def on_d_step(self, d_step, logs):
        if self.crossed(d_step, self.every) and not self.run_failed:
            self._write(d_step)

    def on_train_end(self, logs=None):
        if self.run_failed or not (self.at_end and self.fit_steps):
            return
        if not (self.written and self.written[-1].endswith(f"step_{self.d_step:09d}.png")):
            self._write(self.d_step)


class ScalarLogger(StepCallback):
    """TensorBoard scalars (tf.summary) every `every` D steps: the losses and penalty (means over
    the window, see MetricWindow), D steps per second, and any value passed to `scalar()` (FID).

    The x axis is the discriminator step, as in the paper.
    """

    def __init__(self, log_dir, every=100, disc_iters=1, initial_d_step=0):
        super().__init__(disc_iters, initial_d_step)
        self.log_dir = os.fspath(log_dir)
        self.every = int(every)
        self._writer = None
        self._metadata = None
        self._window_start = None
        self._window_step = None
        self.steps_per_sec = None

    @property
    def writer(self):
        if self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(self.log_dir)
        return self._writer

    def scalar(self, name, value, d_step):
        """One scalar event. Written with tf.summary.write and the scalars plugin's metadata
        (what tf.summary.scalar writes), which needs no tensorboard package installed."""
        import tensorflow as tf

        if self._metadata is None:
            proto = tf.compat.v1.SummaryMetadata
            self._metadata = proto(plugin_data=proto.PluginData(plugin_name="scalars"))
        with self.writer.as_default():
            tf.summary.write(name, tf.constant(float(value), tf.float32), step=int(d_step),
                             metadata=self._metadata)

    def on_train_begin(self, logs=None):
        self._window_start, self._window_step = time.perf_counter(), self.initial_d_step

    def on_d_step(self, d_step, logs):
        if not self.crossed(d_step, self.every):
            return
        now = time.perf_counter()
        self.steps_per_sec = (d_step - self._window_step) / max(now - self._window_start, 1e-9)
        self._window_start, self._window_step = now, d_step
        for name in LOSS_NAMES:
            if name in logs:
                self.scalar(name, logs[name], d_step)
        self.scalar("steps_per_sec", self.steps_per_sec, d_step)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()


class FID(StepCallback):
    """FID every `every` D steps through `fid_fn(model) -> float` (see `make_fid_fn`).

    "fid" measures the inference generator (the EMA average when there is one) and, with an
    EMA, "fid_raw" the raw generator. Results go to `history` [(d_step, fid)], to the
    ScalarLogger, to the console and, with `record_path`, as one JSON line per measurement
    (the curve survives restarts of a resumed run).
    """

    def __init__(self, fid_fn, every, disc_iters=1, initial_d_step=0, logger=None, at_end=False,
                 record_path=None, protocol=None):
        super().__init__(disc_iters, initial_d_step)
        self.fid_fn = fid_fn
        self.every = int(every)
        self.logger = logger
        self.at_end = at_end
        self.record_path = record_path
        self.protocol = dict(protocol or {})
        self.history = []

    def _measure(self, d_step):
        values = measure_fid(self.model, self.fid_fn, d_step, self.record_path, self.protocol)
        self.history.append((d_step, values["fid"]))
        if self.logger is not None:
            for name in ("fid", "fid_raw"):
                if name in values:
                    self.logger.scalar(name, values[name], d_step)

    def on_train_begin(self, logs=None):
        # A run killed after its checkpoint at a multiple of `every` but before this measurement
        # resumes from that checkpoint, past the step: measure it now, or the curve loses it.
        step = self.initial_d_step
        if step and self.every and step % self.every == 0 and self.record_path \
                and step not in recorded_fid_steps(self.record_path):
            self._measure(step)

    def on_d_step(self, d_step, logs):
        if self.crossed(d_step, self.every) and not self.run_failed:
            self._measure(d_step)

    def on_train_end(self, logs=None):
        if self.run_failed or not (self.at_end and self.fit_steps):
            return
        if not (self.history and self.history[-1][0] == self.d_step):
            self._measure(self.d_step)


def recorded_fid_steps(record_path):
    """The D steps a run's fid.jsonl holds (none when there is no file yet)."""
    from ganzoo.figures import read_fid_records

    if not os.path.isfile(record_path) or not os.path.getsize(record_path):
        return set()
    return {int(record["d_step"]) for record in read_fid_records(record_path)}


def measure_fid(gan, fid_fn, d_step, record_path=None, protocol=None):
    """FID of a GAN's inference generator ("fid") and, with an EMA, of its raw one ("fid_raw").

    Printed, and appended as one JSON line to `record_path` (a run's fid.jsonl) with the
    protocol. Used during training (the FID callback) and afterwards (training/fid_curve.py).
    """
    start = time.perf_counter()
    values = {"fid": float(fid_fn(gan))}
    if getattr(gan, "ema_generator", None) is not None:
        values["fid_raw"] = float(fid_fn(gan.generator))
    values["seconds"] = round(time.perf_counter() - start, 1)
    if record_path:
        record = dict(d_step=int(d_step), **values, **dict(protocol or {}))
        with open(record_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    shown = ", ".join(f"{k} {v:.3f}" for k, v in values.items() if k != "seconds")
    print(f"\nstep {d_step}: {shown} ({values['seconds']:.0f} s)", flush=True)
    return values


def fid_reference_key(dataset, split, count, seed, resolution):
    """What names a FID reference set (the cache key of make_fid_fn)."""
    return {"dataset": dataset, "split": split, "count": int(count), "seed": int(seed),
            "resolution": resolution}


def make_fid_fn(reference_images, num_samples=5000, seed=0, batch_size=50, cache_path=None,
                cache_key=None):
    """A `fid_fn(model)` comparing `num_samples` generated images with `reference_images`
    (float [0, 1] or uint8 array, or a callable returning one), through ganzoo.metrics'
    Inception network.

    With `cache_path`, the reference statistics are kept there (an .npz) together with
    `cache_key` (a dict naming the reference: data set, split, count, seed) and reused when the
    key matches, so a resumed run does not run the reference images through Inception again.

    Returns (fid_fn, None), or (None, reason) when the evaluator or its weights are unavailable,
    so training goes on without FID.
    """
    try:
        from ganzoo.metrics.fid import FIDStats, fid_from_stats
        from ganzoo.metrics.inception import default_network
    except ImportError as error:
        return None, f"ganzoo.metrics is not available ({error})"
    try:
        network = default_network(batch_size)  # shared with the evaluator: compiled once
    except Exception as error:  # weights not fetched, hash mismatch, ...
        return None, (f"the FID Inception weights are unavailable ({error}); "
                      "fetch them with `ganzoo fetch-inception`")
    key = json.loads(json.dumps(dict(cache_key or {}, purpose="fid_reference"), sort_keys=True))
    reference_stats = None
    if cache_path and os.path.isfile(cache_path):
        try:
            cached = FIDStats.load(cache_path)
            if cached.protocol == key:
                reference_stats = cached
        except (OSError, ValueError) as error:  # unreadable: measure again and overwrite
            print(f"FID: ignoring the unreadable reference cache {cache_path} ({error})")
    if reference_stats is None:
        reference = reference_images() if callable(reference_images) else reference_images
        reference = np.asarray(reference)
        if reference.dtype != np.uint8:
            reference = np.clip(np.rint(reference * 255.0), 0, 255).astype(np.uint8)
        reference_stats = FIDStats.from_features(network.features(reference.astype(np.float32)))
        if cache_path:
            reference_stats.protocol = key
            reference_stats.save(cache_path)  # atomically (ganzoo.utils.files.atomic_output)

    def fid_fn(model):
        """FID of a GAN's inference generator (GAN.generate) or of a bare generator (.sample)."""
        draw = model.generate if hasattr(model, "generate") else model.sample
        samples = draw(int(num_samples), seed=seed).astype(np.float32) * 255.0
        return fid_from_stats(FIDStats.from_features(network.features(samples)), reference_stats)

    return fid_fn, None


class Progress(StepCallback):
    """A keras.utils.Progbar over the D steps of this run: losses, D steps per second and ETA."""

    def __init__(self, total_d_steps, disc_iters=1, initial_d_step=0, interval=None):
        super().__init__(disc_iters, initial_d_step)
        self.total_d_steps = int(total_d_steps)
        interactive = sys.stdout.isatty()
        self.interval = interval if interval is not None else (0.5 if interactive else 30.0)
        self.bar = None
        self._last_time = self._last_step = None
        self.rate = None

    def on_train_begin(self, logs=None):
        names = list(LOSS_NAMES) + ["step", "steps/s"]
        # Target: the D steps of this run, so the ETA is right after a resume.
        self.bar = keras.utils.Progbar(
            target=max(self.total_d_steps - self.initial_d_step, 1), stateful_metrics=names,
            interval=self.interval, unit_name="D step",
        )
        self._last_time, self._last_step = time.perf_counter(), self.initial_d_step

    def on_d_step(self, d_step, logs):
        now = time.perf_counter()
        if now - self._last_time >= min(self.interval, 5.0) or d_step >= self.total_d_steps:
            self.rate = (d_step - self._last_step) / max(now - self._last_time, 1e-9)
            self._last_time, self._last_step = now, d_step
        values = [(k, logs[k]) for k in LOSS_NAMES if k in logs]
        values.append(("step", d_step))
        if self.rate is not None:
            values.append(("steps/s", self.rate))
        self.bar.update(d_step - self.initial_d_step, values=values,
                        finalize=d_step >= self.total_d_steps)


class MetricWindow(StepCallback):
    """Resets the loss means every `every` D steps, so logs are means over the last window.

    (Keras' Mean trackers otherwise average from the start of the epoch, and a training run is
    one epoch.) Put it last: the other callbacks read the window's mean first.
    """

    def __init__(self, every, disc_iters=1, initial_d_step=0):
        super().__init__(disc_iters, initial_d_step)
        self.every = int(every)

    def on_d_step(self, d_step, logs):
        if self.crossed(d_step, self.every):
            self.model.reset_metrics()


def standard_callbacks(model_dir, total_d_steps, disc_iters=1, initial_d_step=0,
                       checkpoint_manager=None, checkpoint_every=5000, metadata=None,
                       sample_every=5000, num_samples=64, sample_seed=0, log_every=100,
                       fid_fn=None, fid_every=0, fid_protocol=None, progress=True):
    """The training script's callbacks, in the order that keeps them consistent.

    Returns (callbacks, nan_guard).
    """
    common = dict(disc_iters=disc_iters, initial_d_step=initial_d_step)
    nan_guard = NaNGuard(checkpoint_manager=checkpoint_manager, **common)
    callbacks = [nan_guard]
    if checkpoint_manager is not None:
        callbacks.append(Checkpoint(checkpoint_manager, checkpoint_every, metadata=metadata,
                                    nan_guard=nan_guard, **common))
    logger = ScalarLogger(os.path.join(model_dir, "logs"), log_every, **common)
    callbacks.append(logger)
    if num_samples:  # sample_every=0: one grid at the end only
        callbacks.append(SampleGrid(os.path.join(model_dir, "samples"), sample_every,
                                    num=num_samples, seed=sample_seed, **common))
    if fid_fn is not None and fid_every:
        callbacks.append(FID(fid_fn, fid_every, logger=logger, at_end=True,
                             record_path=os.path.join(model_dir, "fid.jsonl"),
                             protocol=fid_protocol, **common))
    if progress:
        callbacks.append(Progress(total_d_steps, **common))
    callbacks.append(MetricWindow(log_every, **common))
    for callback in callbacks[1:]:
        callback.nan_guard = nan_guard
    return callbacks, nan_guard
