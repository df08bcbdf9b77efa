"""Training and evaluation for the accelerator lease, without TensorFlow.

ganzoo's training script (training/train.py) feeds GAN.fit from ganzoo.data.make_dataset, a
tf.data pipeline, and logs through ganzoo.callbacks.ScalarLogger (tf.summary): neither runs on
a machine without TensorFlow. This module trains the same recipe through the same GAN.fit with

- `numpy_batches`: an endless NumPy iterator over the decoded uint8 images (ganzoo.data's
  Pillow decoding), float32 in [0, 1] computed as the pipeline does (cast, then / 255), one
  stateless permutation per (seed, data epoch), so a resumed run continues the data order
  exactly. The order is NOT the tf.data pipeline's (a different shuffle).
- ganzoo's own callbacks (NaNGuard, Checkpoint, SampleGrid, MetricWindow), a JSON-lines
  scalar log instead of TensorBoard, generator snapshots every N steps (for the FID curve), and
  `BudgetStop`, which ends fit() at a wall-clock deadline so a call of the lease ends inside its
  limit; the Checkpoint callback then writes the end state and the next call resumes from it.

`fid_curve` measures FID (train.py's --fid_every protocol: 5,000 generated vs 5,000 test images)
for every snapshot, after training: the Inception weights reach the machine only in the lease's
last call, so the curve is computed there for the whole run at once.

`evaluate` runs ganzoo's evaluator (the paper's protocol: 3 sets of 10,000 generated images vs
the 10,000 CIFAR10 test images, Inception pool_3 in float32 "highest" precision).
"""
import json
import pathlib
import time

import numpy as np

from ganzoo.utils.files import atomic_output, sha256_file, write_text

DATA_ORDER = "numpy PCG64 permutation per (seed, data epoch); batches of disc_iters*batch_size"


def numpy_batches(images, batch, seed=0, start_step=0):
    """Endless (float32 [0, 1] batch,) tuples of `batch` images from uint8 (N, H, W, 3) `images`
    (one-element tuples: what Keras takes from a generator).

    Data epoch e is np.random.default_rng([seed, e]).permutation(N) cut into N // batch full
    batches; fit step s reads batch s of that sequence, so starting at `start_step` yields
    exactly what an uninterrupted iterator yields from its step `start_step` on.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, H, W, C); got {images.dtype} {images.shape}")
    per_epoch = len(images) // batch
    if per_epoch < 1:
        raise ValueError(f"a batch of {batch} images needs more than the {len(images)} given")
    epoch, skip = divmod(int(start_step), per_epoch)
    scale = np.float32(255.0)
    while True:
        order = np.random.default_rng([int(seed), epoch]).permutation(len(images))
        for index in range(skip, per_epoch):
            chosen = order[index * batch:(index + 1) * batch]
            yield (images[chosen].astype(np.float32) / scale,)
        epoch, skip = epoch + 1, 0


def fit_input(batches, batch_shape):
    """What GAN.fit takes from `batches` (a generator of (images,) tuples): the generator itself
    on JAX; on TensorFlow (tests, CI) a tf.data wrapper with the static batch shape ganzoo's
    train step needs (Keras' own generator adapter leaves the batch dimension unknown)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return batches
    import tensorflow as tf

    spec = (tf.TensorSpec(tuple(batch_shape), tf.float32),)
    return tf.data.Dataset.from_generator(lambda: batches, output_signature=spec)


def _callback_base():
    from ganzoo.callbacks import StepCallback

    return StepCallback


def make_budget_stop(deadline, clock=time.time, **common):
    """A callback that ends fit() after the first step that finishes at or past `deadline`
    (a `clock()` value). `stopped_at` is then the D step it stopped at."""
    StepCallback = _callback_base()

    class BudgetStop(StepCallback):
        def __init__(self):
            super().__init__(**common)
            self.deadline, self.clock, self.stopped_at = float(deadline), clock, None

        def on_d_step(self, d_step, logs):
            if self.stopped_at is None and self.clock() >= self.deadline:
                self.stopped_at = d_step
                self._model.stop_training = True  # a flag: no JAX state sync

    return BudgetStop()


def make_scalar_log(path, every, log=print, print_every_s=30.0, clock=time.time, **common):
    """JSON lines every `every` D steps: the window's mean losses, D steps/s, wall time.
    Also prints a progress line at most every `print_every_s` seconds."""
    StepCallback = _callback_base()

    class ScalarLog(StepCallback):
        def __init__(self):
            super().__init__(**common)
            self.path, self.every = pathlib.Path(path), int(every)
            self.first = None  # (clock, d_step) at the end of the first step (after compiling)
            self.last = None
            self._window = None
            self._printed = 0.0

        def on_train_begin(self, logs=None):
            self._window = (clock(), self.initial_d_step)

        def on_d_step(self, d_step, logs):
            now = clock()
            if self.first is None:
                self.first = (now, d_step)
                log(f"first step done (d_step {d_step}): "
                    f"{now - self._window[0]:.1f} s including compilation")
            self.last = (now, d_step)
            if self.crossed(d_step, self.every):
                rate = (d_step - self._window[1]) / max(now - self._window[0], 1e-9)
                self._window = (now, d_step)
                record = {"d_step": int(d_step), "steps_per_sec": round(rate, 3),
                          "time": round(now, 3)}
                record.update({k: float(v) for k, v in logs.items()
                               if k in ("d_loss", "g_loss", "penalty")})
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
                if now - self._printed >= print_every_s:
                    self._printed = now
                    log(f"d_step {d_step}: d_loss {record.get('d_loss', float('nan')):.4f} "
                        f"g_loss {record.get('g_loss', float('nan')):.4f} "
                        f"{rate:.1f} D steps/s")

        def steady_rate(self):
            """D steps per second after the first step (compilation excluded)."""
            if not self.first or not self.last or self.last[1] <= self.first[1]:
                return None
            return (self.last[1] - self.first[1]) / max(self.last[0] - self.first[0], 1e-9)

    return ScalarLog()


def make_snapshots(directory, every, **common):
    """Saves the inference generator (the EMA one if any) as
    `<directory>/generator-<D step, 9 digits>.weights.h5` every `every` D steps."""
    StepCallback = _callback_base()

    class Snapshots(StepCallback):
        def on_d_step(self, d_step, logs):
            if self.crossed(d_step, every) and not self.run_failed:
                save_snapshot(self.model, directory, d_step)

    return Snapshots(**common)


def save_snapshot(gan, directory, d_step):
    from ganzoo.checkpoint import save_weights_atomically

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = gan.ema_generator if gan.ema_generator is not None else gan.generator
    return save_weights_atomically(model, str(directory / f"generator-{int(d_step):09d}.weights.h5"))


def snapshots(run_dir):
    """[(d_step, path)] of the run's generator snapshots, oldest first."""
    found = []
    for path in sorted((pathlib.Path(run_dir) / "snapshots").glob("generator-*.weights.h5")):
        step = path.name[len("generator-"):-len(".weights.h5")]
        if step.isdigit():
            found.append((int(step), path))
    return found


def resolve_settings(config, steps=None, batch_size=None, resolution=None, ema_decay=None):
    """The manifest recipe of `config` (a ganzoo.recipe.Recipe), with the few overrides a tiny
    run needs, and an EMA copy of G beside the recipe's generator when `ema_decay` is given."""
    from ganzoo.zoo import manifest

    entry = manifest.get_entry(config)
    overrides = {name: int(value) for name, value in
                 (("steps", steps), ("batch_size", batch_size), ("resolution", resolution))
                 if value is not None}
    if ema_decay is not None:
        overrides["ema_decay"] = float(ema_decay)
    recipe = manifest.load_recipe(config).override(**overrides).check_schedule()
    return entry, recipe.to_dict()


class _Images:
    """The little of ganzoo.data.ImageSource that training needs (for the decoded cache)."""

    def __init__(self, name, images):
        self.name, self.images = name, images
        self.image_shape = images.shape[1:]

    def __len__(self):
        return len(self.images)


def _load_images(dataset, data_dir, split, resolution, cache_dir=None):
    """uint8 images of a split, decoded by ganzoo.data (Pillow). With `cache_dir`, the decoded
    CIFAR10 array is kept there as .npy, keyed by the tar's size and mtime, so the next call
    of the lease loads it in a second instead of decoding 50,000 JPEGs again."""
    from ganzoo import data as gdata

    cache = None
    if cache_dir is not None and dataset == "cifar10":
        tar = pathlib.Path(data_dir) / f"{split}.tar"
        if tar.is_file():
            stat = tar.stat()
            cache = pathlib.Path(cache_dir) / f"cifar10-{split}-{stat.st_size}-{int(stat.st_mtime)}.npy"
            if cache.is_file():
                return _Images(f"cifar10-{split}", np.load(cache))
    source = gdata.load_source(dataset, split=split,
                               data_dir=str(data_dir) if dataset == "cifar10" else None,
                               synthetic_resolution=resolution or 32)
    if source.images is None:
        raise ValueError(f"{source.name} is too large to keep in memory; the lease trains on "
                         "in-memory data only")
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(cache) as temp, open(temp, "wb") as handle:
            np.save(handle, source.images)
    return source


def _same_run(stored, hyper):
    keys = sorted((set(stored) | set(hyper)) - {"steps"})
    return [k for k in keys if stored.get(k) != hyper.get(k)]


def train(run_dir, config="sndcgan-ns-sn-cifar10", data_dir=None, dataset="cifar10",
          deadline=None, steps=None, batch_size=None, resolution=None, seed=0,
          checkpoint_every=20000, keep_checkpoints=2, log_every=1000, sample_every=50000,
          snapshot_every=25000, final_reserve_s=10.0, log=print, clock=time.time,
          build_gan=None, decoded_cache=None, callbacks=(), ema_decay=None):
    """Train `config`'s recipe in `run_dir` until its steps or `deadline` (a clock() value),
    resuming from the run's newest checkpoint. Returns a summary dict.

    decoded_cache: a folder for the decoded CIFAR10 arrays (see `_load_images`).
    callbacks: extra ganzoo StepCallbacks, run before the budget check (tests drive a fake
    clock with one)."""
    import keras

    import ganzoo
    from ganzoo import callbacks as gcallbacks
    from ganzoo.checkpoint import CheckpointManager, save_weights_atomically

    started = clock()
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    entry, hyper = resolve_settings(config, steps, batch_size, resolution, ema_decay)
    manager = CheckpointManager(run_dir / "checkpoints", keep=keep_checkpoints)
    latest = manager.latest()
    if manager.checkpoints() and latest is None:
        raise RuntimeError(f"{manager.directory} holds checkpoints but none is readable")
    if latest:
        stored = dict(latest[2].get("hyper", {}))
        if ema_decay is None:  # a resumed call need not repeat --ema_decay
            hyper["ema_decay"] = stored.get("ema_decay", hyper.get("ema_decay"))
        different = _same_run(stored, hyper)
        if different:
            raise RuntimeError(f"{run_dir} holds another run (its {different} differ): "
                               "use another run folder")
        if steps is None:
            hyper["steps"] = stored.get("steps", hyper["steps"])

    source = _load_images(dataset, data_dir, "train", hyper["resolution"], decoded_cache)
    if hyper["resolution"] is None:
        hyper["resolution"] = int(source.image_shape[0])
    disc_iters, per_step = int(hyper["disc_iters"]), int(hyper["batch_size"])
    t_data = clock()
    log(f"data: {source.name}, {len(source)} images {source.images.shape[1:]} "
        f"({t_data - started:.1f} s)")

    build_kwargs = {k: v for k, v in hyper.items() if k not in ("batch_size", "steps")}
    gan = (build_gan or ganzoo.build_gan)(**build_kwargs, seed=seed)
    initial = 0
    if latest:
        metadata = manager.restore(gan)
        initial = gan.d_steps
        if initial != int(metadata["d_step"]):
            raise RuntimeError(f"restored D step {initial} != checkpoint's {metadata['d_step']}")
        log(f"resumed from {manager.restored_path} at D step {initial}")
    t_build = clock()

    metadata = {"hyper": hyper, "dataset": dataset, "resize": False, "crop_or_pad": False,
                "seed": seed, "config": config, "init_from": None,
                "backend": keras.backend.backend(), "ganzoo_version": ganzoo.__version__,
                "trainer": "benchmarks/lease_train.py", "data_order": DATA_ORDER}
    config_json = {"training": hyper, **{k: v for k, v in metadata.items() if k != "hyper"}}

    write_text(run_dir / "config.json", json.dumps(config_json, indent=2, sort_keys=True) + "\n")

    total = int(hyper["steps"])
    remaining = max(0, (total - initial) // disc_iters)
    common = dict(disc_iters=disc_iters, initial_d_step=initial)
    nan_guard = gcallbacks.NaNGuard(checkpoint_manager=manager, **common)
    scalars = make_scalar_log(run_dir / "scalars.jsonl", log_every, log=log, clock=clock, **common)
    stop_at = float("inf") if deadline is None else float(deadline) - final_reserve_s
    budget = make_budget_stop(stop_at, clock=clock, **common)
    callbacks_list = [nan_guard,
                      gcallbacks.Checkpoint(manager, checkpoint_every, metadata=metadata,
                                            nan_guard=nan_guard, **common),
                      scalars,
                      gcallbacks.SampleGrid(run_dir / "samples", sample_every, num=64, seed=seed,
                                            **common)]
    if snapshot_every:
        callbacks_list.append(make_snapshots(run_dir / "snapshots", snapshot_every, **common))
    extra = list(callbacks)
    for callback in extra:  # they count D steps from this run's start, as ours do
        callback.initial_d_step, callback.disc_iters = initial, disc_iters
    callbacks = callbacks_list + extra + [budget, gcallbacks.MetricWindow(log_every, **common)]
    for callback in callbacks[1:]:
        callback.nan_guard = nan_guard

    log(f"training {config}: D steps {initial} -> {total} ({remaining} fit steps to go), "
        f"batch {per_step} x disc_iters {disc_iters}, backend {keras.backend.backend()}, "
        + (f"{stop_at - clock():.0f} s of budget" if deadline is not None else "no deadline"))
    t_fit = clock()
    if remaining and clock() < stop_at:
        batches = numpy_batches(source.images, per_step * disc_iters, seed=seed,
                                start_step=initial // disc_iters)
        shape = (per_step * disc_iters,) + tuple(source.images.shape[1:])
        gan.fit(fit_input(batches, shape), epochs=1, steps_per_epoch=remaining, verbose=0, shuffle=False,
                callbacks=callbacks)
    elif remaining:
        log("no budget left for training in this call")
    t_done = clock()
    nan_guard.raise_if_failed()

    written = []
    parts = ((("generator", gan.ema_generator), ("generator_raw", gan.generator))
             if gan.ema_generator is not None else (("generator", gan.generator),))
    for name, model in parts + (("discriminator", gan.discriminator),):
        written.append(save_weights_atomically(model, str(run_dir / f"{name}.weights.h5")))
    d_step = gan.d_steps
    if snapshot_every and d_step and d_step not in dict(snapshots(run_dir)):
        save_snapshot(gan, run_dir / "snapshots", d_step)  # the curve ends at the last step
    rate = scalars.steady_rate()
    summary = {
        "config": config, "steps": total, "d_step": d_step, "initial_d_step": initial,
        "d_steps_this_call": d_step - initial, "complete": d_step >= total,
        "stopped_by_budget": budget.stopped_at is not None,
        "seconds": {"data": round(t_data - started, 1), "build_restore": round(t_build - t_data, 1),
                    "fit": round(t_done - t_fit, 1), "save": round(clock() - t_done, 1),
                    "total": round(clock() - started, 1)},
        "first_step_seconds": (round(scalars.first[0] - t_fit, 1) if scalars.first else None),
        "steady_d_steps_per_sec": round(rate, 2) if rate else None,
        "steady_ms_per_d_step": round(1000.0 / rate, 3) if rate else None,
        "scalars": _read_jsonl(run_dir / "scalars.jsonl"),
        "weights": {pathlib.Path(p).name: sha256_file(p) for p in written},
        "data_order": DATA_ORDER, "hyper": hyper,
    }
    log(f"trained to D step {d_step} of {total}: {summary['d_steps_this_call']} steps in "
        f"{summary['seconds']['fit']} s; steady {summary['steady_ms_per_d_step']} ms per D step"
        + ("; stopped by the budget" if summary["stopped_by_budget"] else ""))
    return summary


def _read_jsonl(path):
    path = pathlib.Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fid_curve(run_dir, reference, num_samples=5000, seed=0, network=None, batch_size=50,
              deadline=None, clock=time.time, log=print):
    """FID of every generator snapshot that has none yet in <run_dir>/fid.jsonl, oldest first,
    until `deadline`; returns all points. As train.py's --fid_every: `num_samples` images from
    `generator.sample(n, seed)` against `reference` (the test images, uint8 or [0, 1]).

    Fewer than 2049 images cannot fill FID's 2048x2048 covariance: such a (smoke-test) curve
    is computed with the covariance's minimum lowered and its points say `"protocol": false`.
    """
    from ganzoo.architectures import build_generator
    from ganzoo.metrics.fid import FIDStats, fid_from_stats

    run_dir = pathlib.Path(run_dir)
    record_path = run_dir / "fid.jsonl"
    done = {r["d_step"] for r in _read_jsonl(record_path)}
    todo = [(step, path) for step, path in snapshots(run_dir) if step not in done]
    if not todo:
        return _read_jsonl(record_path)
    if network is None:
        from ganzoo.metrics.inception import default_network

        network = default_network(batch_size)
    reference = np.asarray(reference)
    if reference.dtype != np.uint8:
        reference = np.clip(np.rint(reference * 255.0), 0, 255).astype(np.uint8)
    protocol = min(num_samples, len(reference)) > 2048
    min_samples = None if protocol else 2
    hyper = json.loads((run_dir / "config.json").read_text())["training"]
    generator = build_generator(hyper["architecture"], resolution=hyper["resolution"],
                                z_dim=hyper["z_dim"])
    started = clock()
    reference_stats = FIDStats.from_features(network.features(reference.astype(np.float32)),
                                             min_samples)
    log(f"FID curve: {len(reference)} reference images in {clock() - started:.1f} s; "
        f"{len(todo)} snapshot(s) to measure")
    for step, path in todo:
        if deadline is not None and clock() >= deadline:
            log(f"FID curve: stopped at its deadline; {len(todo)} snapshot(s) left unmeasured")
            break
        started = clock()
        generator.load_weights(str(path))
        samples = generator.sample(int(num_samples), seed=seed).astype(np.float32) * 255.0
        value = fid_from_stats(FIDStats.from_features(network.features(samples), min_samples),
                               reference_stats)
        record = {"d_step": step, "fid": float(value), "seconds": round(clock() - started, 1),
                  "generated": int(num_samples), "reference": len(reference),
                  "reference_split": "test", "seed": seed, "protocol": protocol,
                  "snapshot": path.name}
        with open(record_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        todo = todo[1:]
        log(f"FID curve: D step {step}: {value:.3f} ({record['seconds']} s)")
    return _read_jsonl(record_path)


def curve(run_dir, dataset="cifar10", data_dir=None, num_samples=5000, seed=0, batch_size=50,
          deadline=None, decoded_cache=None, log=print):
    """`fid_curve` against `num_samples` test images chosen as train.py chooses its FID
    reference (ganzoo.data.take_images with the seed)."""
    from ganzoo import data as gdata

    hyper = json.loads((pathlib.Path(run_dir) / "config.json").read_text())["training"]
    test = _load_images(dataset, data_dir, "test", hyper["resolution"], decoded_cache)
    reference = gdata.take_images(test, num_samples, seed=seed)
    return fid_curve(run_dir, reference, num_samples, seed=seed, batch_size=batch_size,
                     deadline=deadline, log=log)


def evaluate_generators(run_dir, log=print, **kwargs):
    """evaluate() of every generator the run wrote: {"eval": record of generator.weights.h5 (the
    EMA one when the run keeps an EMA), "eval_raw": record of generator_raw.weights.h5, if any}."""
    run_dir = pathlib.Path(run_dir)
    records = {"eval": evaluate(run_dir, log=log, **kwargs)}
    if (run_dir / "generator_raw.weights.h5").is_file():
        records["eval_raw"] = evaluate(run_dir, weights_name="generator_raw.weights.h5",
                                       out_name="eval_raw.json", log=log, **kwargs)
    return records


def evaluate(run_dir, config="sndcgan-ns-sn-cifar10", test_tar=None, num_samples=None,
             sample_sets=3, batch_size=50, metrics=("fid",), seed=0, log=print,
             weights_name="generator.weights.h5", out_name="eval.json"):
    """The paper's protocol on one of the run's generators (default generator.weights.h5),
    through ganzoo's evaluator; the record goes to `out_name` in the run folder.

    num_samples None: the protocol (10,000 per set vs the 10,000 test images, reference
    features cached under $GANZOO_CACHE/fid_stats, read from $GANZOO_CIFAR10_DIR/test.tar).
    A smaller num_samples compares with the first num_samples test images (a smoke test, not
    the protocol: FID's covariance then needs min_samples lowered, and the record says so).
    """
    from ganzoo.architectures import build_generator
    from ganzoo.metrics import evaluator
    from ganzoo.zoo import manifest

    run_dir = pathlib.Path(run_dir)
    started = time.time()
    entry = manifest.get_entry(config)
    hyper = json.loads((run_dir / "config.json").read_text())["training"]
    generator = build_generator(hyper["architecture"], resolution=hyper["resolution"],
                                z_dim=hyper["z_dim"])
    weights = run_dir / weights_name
    generator.load_weights(str(weights))
    protocol = num_samples is None
    kwargs = {}
    if not protocol:
        kwargs = {"real": str(test_tar), "min_samples": 2}
    log(f"evaluating {weights} ({'the paper protocol' if protocol else f'{num_samples} samples'}"
        f", {sample_sets} sets, metrics {list(metrics)}) ...")
    record = evaluator.evaluate_zoo_model(
        config, metrics=tuple(metrics), num_samples=num_samples, sample_sets=sample_sets,
        seed=seed, batch_size=batch_size, progress=False, generator=generator, entry=entry,
        **kwargs)
    checkpoint_meta = None
    try:
        from ganzoo.checkpoint import CheckpointManager

        latest = CheckpointManager(run_dir / "checkpoints").latest()
        checkpoint_meta = {"d_step": latest[2].get("d_step"), "file": pathlib.Path(latest[1]).name}
    except Exception:  # noqa: BLE001 - informative only
        pass
    # Which generator this measured, as training/publish.py reads it (--metrics ema=/raw=).
    record["generator_weights"] = weights.name
    record["generator"] = ("raw" if weights_name == "generator_raw.weights.h5" or hyper.get("ema_decay") is None
                           else "ema")
    record["lease"] = {
        "generator_weights": weights.name, "generator_sha256": sha256_file(weights),
        "checkpoint": checkpoint_meta, "paper_protocol": protocol,
        "seconds": round(time.time() - started, 1),
        "matmul_precision": "float32 'highest' (ganzoo.metrics.inception.full_float32)",
        "data_note": "CIFAR10 JPEG copy (quality 75): FIDs are not comparable with published "
                     "ones computed on the original arrays",
        "data_order": DATA_ORDER,
    }
    evaluator.write_record(record, run_dir / out_name)
    log(evaluator.format_record(record))
    log(f"eval: {record['lease']['seconds']} s")
    return record
