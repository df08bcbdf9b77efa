"""A training run: a recipe trained with GAN.fit in a run folder, resumably.

    import dataclasses

    from ganzoo import training
    from ganzoo.zoo import manifest

    options = training.RunOptions("runs/sn", manifest.load_recipe("sndcgan-ns-sn-cifar10"),
                                  fid_every=1000)
    training.run(options)                                  # killed? run it again with resume:
    training.run(dataclasses.replace(options, resume=True))

This is what `ganzoo train` does once it has read its flags (ganzoo.cli.train), and what each
trial of a sweep does (ganzoo.sweep). The options are named as `ganzoo train`'s flags and their
messages spell them so (`--fid_samples 100 is too few ...`).

The run folder holds checkpoints/ (ganzoo.checkpoint: atomic, checksummed, rotated), samples/,
logs/ (TensorBoard), fid.jsonl, config.json and the final weights. It is locked for the whole run
(ganzoo.runlock): a second process on the same folder is refused before it changes anything.
Resuming restores the step, the optimiser states, the noise generator, the EMA and the data order.
"""
import dataclasses
import gc
import json
import os
import time
from typing import Optional

from ganzoo.recipe import Recipe, RecipeError

PROGRAM = "ganzoo train"  # the prefix of the run's messages
DEFAULT_DATASET = "cifar10"
DEFAULT_SEED = 0
# Recipe fields that may differ on resume (a longer run); the others must match the checkpoint's.
RESUMABLE_CHANGES = ("steps",)
# FID fits a 2048x2048 covariance to Inception features: it needs at least 2049 images.
FID_FEATURES = 2048
DISTRIBUTE = ("none", "data_parallel")


class UsageError(ValueError):
    """Options that cannot be trained with; the message names the fix."""


def recipe_usage_error(error):
    """A RecipeError as a UsageError, the field it starts with spelt as its flag: Recipe messages
    begin with the field's name ("beta1 must be below 1" -> "--beta1 must be below 1")."""
    message = str(error)
    if message.split(" ", 1)[0].split("=", 1)[0] in Recipe.field_names():
        message = "--" + message
    return UsageError(message)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Everything a training run needs besides the code: the recipe, the data, the folder and how
    often to checkpoint, sample and measure. Checked when made (UsageError); touches nothing.

    recipe: the ganzoo.recipe.Recipe to train; None with `resume` takes the checkpoint's.
    resume: continue the run in `model_dir` from its newest usable checkpoint. Its recipe wins:
        `checked_fields` (default: every field `recipe` sets) must agree with it, except steps,
        which may grow (a longer run).
    dataset, seed: None means the default (cifar10, 0) for a new run and the checkpoint's on
        resume; a dataset given on resume continues on that data set, a seed must match.
    resize, crop_or_pad: how images of another size are fitted (ganzoo.data.make_dataset).
    config, init_from: the manifest entry the recipe came from, recorded with the run;
        init_from also starts a new run from that published model's weights (fine-tuning).
    deterministic: reproducible kernels (ganzoo.backend.enable_determinism), so that two runs of
        one seed are bitwise equal; without it TensorFlow's CPU kernels already differ at step 1.
    """

    model_dir: str
    recipe: Optional[Recipe] = None
    resume: bool = False
    checked_fields: Optional[dict] = None
    dataset: Optional[str] = None
    data_dir: Optional[str] = None
    split: str = "train"
    resize: bool = False
    crop_or_pad: bool = False
    seed: Optional[int] = None
    config: Optional[str] = None
    init_from: Optional[str] = None
    checkpoint_every: int = 5000
    keep_checkpoints: int = 3
    sample_every: int = 5000
    num_samples: int = 64
    log_every: int = 100
    fid_every: int = 0
    fid_samples: int = 5000
    fid_split: str = "test"
    distribute: str = "none"
    num_devices: Optional[int] = None
    progress: bool = True
    deterministic: bool = False

    def __post_init__(self):
        if not self.model_dir:
            raise UsageError("--model_dir is required: the folder for checkpoints, samples and "
                             "logs.")
        if os.path.exists(self.model_dir) and not os.path.isdir(self.model_dir):
            raise UsageError(f"--model_dir {self.model_dir} is a file, not a folder. Give the path "
                             f"of a run folder (new, or one that {PROGRAM} wrote).")
        if self.recipe is None and not self.resume:
            raise UsageError("A new run needs a recipe: pass --config NAME (see `ganzoo list`) or "
                             "--architecture (sndcgan, resnet19, resnet_cifar) with the "
                             "hyper-parameters.")
        if self.recipe is not None:
            try:
                self.recipe.check_schedule()
            except RecipeError as error:
                raise recipe_usage_error(error) from None
        for name in ("checkpoint_every", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1; got {getattr(self, name)}.")
        for name, meaning in (("sample_every", "0: one grid at the end only"),
                              ("num_samples", "0: no sample grids"), ("fid_every", "0: no FID")):
            if getattr(self, name) < 0:
                raise UsageError(f"--{name} must be 0 or more ({meaning}); got "
                                 f"{getattr(self, name)}.")
        if self.fid_every and self.fid_samples <= FID_FEATURES:
            raise UsageError(
                f"--fid_samples {self.fid_samples} is too few: FID fits a {FID_FEATURES}x"
                f"{FID_FEATURES} covariance to Inception features and needs at least "
                f"{FID_FEATURES + 1} images (the paper's protocol uses 10,000; the default is "
                "5000). Raise --fid_samples, or pass --fid_every 0 and measure FID later with "
                "`ganzoo eval`.")
        if self.distribute not in DISTRIBUTE:
            raise UsageError(f"--distribute {self.distribute}: choose one of {DISTRIBUTE}.")
        if self.num_devices is not None and self.num_devices < 1:
            raise UsageError(f"--num_devices must be at least 1; got {self.num_devices}.")
        if self.num_devices is not None and self.distribute != "data_parallel":
            raise UsageError("--num_devices needs --distribute data_parallel.")

    @property
    def fields_to_check(self):
        """The recipe fields that must agree with a resumed checkpoint's recipe."""
        if self.checked_fields is not None:
            return dict(self.checked_fields)
        if self.recipe is None:
            return {}
        return {name: value for name, value in self.recipe.to_dict().items() if value is not None}


@dataclasses.dataclass(frozen=True)
class _Resolved:
    """The run's effective recipe and data settings (a new run's options, or a checkpoint's)."""

    recipe: Recipe
    dataset: str
    resize: bool
    crop_or_pad: bool
    seed: int
    config: Optional[str]
    init_from: Optional[str]


def _new_run(options):
    return _Resolved(options.recipe, options.dataset or DEFAULT_DATASET, bool(options.resize),
                     bool(options.crop_or_pad) and not options.resize,
                     DEFAULT_SEED if options.seed is None else int(options.seed),
                     options.config, options.init_from)


def _resumed_run(options, metadata, checkpoint_path):
    """On resume, the checkpoint's recipe and data settings win; the options must agree."""
    try:
        stored = Recipe.from_dict(metadata.get("hyper") or {}, where=f"{checkpoint_path}'s recipe")
    except RecipeError as error:
        raise UsageError(f"{error} The checkpoint was not written by {PROGRAM}; start a new run "
                         "in another --model_dir.") from None
    checked = options.fields_to_check
    for name, value in checked.items():
        if name in RESUMABLE_CHANGES:
            continue
        try:
            same = getattr(stored.override(**{name: value}), name) == getattr(stored, name)
        except RecipeError:
            same = False
        if not same:
            raise UsageError(
                f"--{name} {value} conflicts with the run being resumed ({checkpoint_path} has "
                f"{name} {getattr(stored, name)}). Drop --{name} to resume, or start a new run "
                "in another --model_dir."
            )
    try:
        recipe = stored.override(**{k: checked[k] for k in RESUMABLE_CHANGES
                                    if k in checked}).check_schedule()
    except RecipeError as error:
        raise recipe_usage_error(error) from None
    if options.seed is not None and options.seed != metadata.get("seed", options.seed):
        raise UsageError(f"--seed {options.seed} conflicts with the run being resumed (seed "
                         f"{metadata.get('seed')}). Drop --seed to resume.")
    dataset = options.dataset or metadata.get("dataset") or DEFAULT_DATASET
    if options.dataset and options.dataset != metadata.get("dataset"):
        print(f"{PROGRAM}: resuming on --dataset {options.dataset} (the run began on "
              f"{metadata.get('dataset')}).")
    return _Resolved(
        recipe, dataset, bool(metadata.get("resize", options.resize)),
        bool(metadata.get("crop_or_pad", options.crop_or_pad)),
        int(metadata.get("seed", DEFAULT_SEED if options.seed is None else options.seed)),
        metadata.get("config", options.config), metadata.get("init_from", options.init_from))


def fid_reference(dataset, split, count, seed, resolution, resize=False, crop_or_pad=False,
                  data_dir=None, fallback_split=None):
    """`count` images of a run's FID reference split (`fallback_split` when the data set has no
    such split), chosen by `seed` and fitted to `resolution` as the run's training images are
    (--resize, --crop_or_pad): what `--fid_every` and training/fid_curve.py compare G with."""
    from ganzoo import data as gdata

    def source(name):
        return gdata.load_source(dataset, split=name, data_dir=data_dir,
                                 synthetic_resolution=resolution,
                                 allow_mixed_sizes=bool(resize or crop_or_pad))

    try:
        images = source(split)
    except gdata.DataError:
        if fallback_split is None:
            raise
        images = source(fallback_split)
    return gdata.take_images(images, count, seed=seed, resolution=resolution,
                             crop_or_pad=bool(crop_or_pad) or None)


def fid_reference_key(dataset, split, count, seed, resolution, resize=False, crop_or_pad=False):
    """What names a run's FID reference (the key of its cached statistics, fid_reference.npz)."""
    from ganzoo import callbacks as gcallbacks

    key = gcallbacks.fid_reference_key(dataset, split, count, seed, resolution)
    if resize or crop_or_pad:  # (absent otherwise: the caches of earlier runs stay valid)
        key["fit"] = "crop_or_pad" if crop_or_pad else "resize"
    return key


def _final_weights(gan, model_dir):
    """Inference weights, laid out as the zoo publishes them, each written atomically:
    generator.weights.h5 is the inference generator (the EMA average when there is one; the
    raw G is then kept beside it as generator_raw.weights.h5)."""
    from ganzoo.checkpoint import save_weights_atomically

    written = []
    if gan.ema_generator is not None:
        parts = (("generator", gan.ema_generator), ("generator_raw", gan.generator))
    else:
        parts = (("generator", gan.generator),)
    for name, model in parts + (("discriminator", gan.discriminator),):
        written.append(save_weights_atomically(model, os.path.join(model_dir, f"{name}.weights.h5")))
    return written


def run(options, extra_callbacks=()):
    """Train as `options` (a RunOptions) say. Returns a summary dict; raises UsageError,
    ganzoo.data.DataError, ganzoo.checkpoint.CheckpointError, ganzoo.runlock.RunLockedError or
    ganzoo.distribute.DistributeError on bad input (before anything is written), and
    ganzoo.callbacks.NonFiniteLossError when a loss becomes NaN or infinite.

    `extra_callbacks` (ganzoo.callbacks.StepCallback instances) join the standard ones, told the
    schedule (disc_iters, the resumed D step) and the NaN guard; ganzoo.sweep scores its trials
    with one.

    A refused run that created `model_dir` removes it again (it is then empty).
    """
    from ganzoo.runlock import RunLock

    model_dir = options.model_dir
    created = not os.path.exists(model_dir)
    lock = RunLock(model_dir)
    try:
        lock.acquire()
    except (FileExistsError, NotADirectoryError, PermissionError) as error:
        raise UsageError(f"--model_dir {model_dir} cannot be created or locked ({error}). Give a "
                         "folder path you can write to.") from None
    try:
        return _run_locked(options, extra_callbacks)
    finally:
        gc.unfreeze()  # (run() may be called again in this process)
        lock.release()
        if created:  # refused before anything was written: leave no empty folder behind
            try:
                os.rmdir(model_dir)
            except OSError:
                pass


def _run_locked(options, extra_callbacks=()):
    import keras

    import ganzoo
    from ganzoo import callbacks as gcallbacks
    from ganzoo import data as gdata
    from ganzoo import distribute
    from ganzoo.checkpoint import CheckpointManager, remove_stale_temporary_files
    from ganzoo.utils.files import write_text

    if options.deterministic:  # first: JAX reads its GPU flag when it starts
        from ganzoo.backend import enable_determinism

        try:
            enable_determinism()
        except RuntimeError as error:
            raise UsageError(f"--deterministic: {error}") from None
    model_dir = options.model_dir
    manager = CheckpointManager(os.path.join(model_dir, "checkpoints"),
                                keep=options.keep_checkpoints)
    problems = []
    latest = manager.latest(problems)
    if manager.checkpoints() and not options.resume:
        if latest:
            raise UsageError(
                f"{model_dir} already holds checkpoints (newest {latest[1]}). Pass --resume to "
                "continue that run, or choose a new --model_dir."
            )
        raise manager.unreadable_error(problems, action="resume (and a new run would mix with "
                                       "them: choose a new --model_dir)")
    if options.resume:
        if not manager.checkpoints():
            raise UsageError(f"--resume: {model_dir} holds no checkpoint to resume from (no "
                             f"ckpt-*.weights.h5 in {manager.directory}). Drop --resume to start "
                             "a new run there.")
        if latest is None:
            raise manager.unreadable_error(problems)
        run = _resumed_run(options, latest[2], latest[1])
        reached = int(latest[2].get("d_step", latest[0]))
        if run.recipe.steps < reached:
            raise UsageError(
                f"--steps {run.recipe.steps}: the run is already past it ({latest[1]} is "
                f"at discriminator step {reached}). Pass a --steps above {reached} to train "
                "longer, or drop --steps to finish the run's own "
                f"{latest[2].get('hyper', {}).get('steps')} steps.")
    else:
        run = _new_run(options)
    recipe = run.recipe

    # Data first: every data problem stops the run before a model is built.
    source = gdata.load_source(
        run.dataset, split=options.split, data_dir=options.data_dir,
        allow_mixed_sizes=run.resize or run.crop_or_pad,
        synthetic_resolution=recipe.resolution or 32,
    )
    if recipe.resolution is None:
        shape = source.image_shape
        if shape is None or shape[0] != shape[1]:
            raise UsageError(f"The images of {source.name} are not all square and of one size: "
                             "pass --resolution (and --resize).")
        try:
            recipe = recipe.override(resolution=int(shape[0]))
        except RecipeError as error:
            raise UsageError(f"The images of {source.name} are {shape[0]}x{shape[1]}: {error} "
                             "Pass such a --resolution (with --resize).") from None
    hyper = recipe.to_dict()
    gdata.check_batch_fits(source, hyper["batch_size"], hyper["disc_iters"])

    fid_fn = None
    if options.fid_every:
        def reference_images():  # called once, and only when no cached statistics match
            reference = fid_reference(run.dataset, options.fid_split, options.fid_samples,
                                      run.seed, hyper["resolution"], run.resize, run.crop_or_pad,
                                      options.data_dir, fallback_split=options.split)
            if len(reference) <= FID_FEATURES:
                raise UsageError(
                    f"The FID reference of {run.dataset} (split {options.fid_split}) has "
                    f"only {len(reference)} images; FID needs at least {FID_FEATURES + 1}. Use "
                    "a larger data set, or pass --fid_every 0.")
            return reference

        fid_fn, reason = gcallbacks.make_fid_fn(
            reference_images, options.fid_samples, seed=run.seed,
            cache_path=os.path.join(model_dir, "fid_reference.npz"),
            cache_key=fid_reference_key(run.dataset, options.fid_split, options.fid_samples,
                                        run.seed, hyper["resolution"], run.resize,
                                        run.crop_or_pad))
        if fid_fn is None:
            print(f"{PROGRAM}: FID disabled: {reason}.")

    plan = (distribute.data_parallel(options.num_devices) if options.distribute == "data_parallel"
            else distribute.single_device())
    plan.check_batch(hyper["batch_size"])
    print(f"{PROGRAM}: {plan.describe()}; Keras backend {keras.backend.backend()}")

    with plan.scope():
        gan = ganzoo.build_gan(recipe, seed=run.seed)
    if run.init_from and not options.resume:
        pretrained = ganzoo.load(run.init_from, with_discriminator=True)
        gan.generator.set_weights(pretrained.generator.get_weights())
        gan.discriminator.set_weights(pretrained.discriminator.get_weights())
        if gan.ema_generator is not None:
            gan.ema_generator.set_weights(pretrained.generator.get_weights())
        print(f"{PROGRAM}: starting from the zoo model {run.init_from}")

    initial_d_step = 0
    if options.resume:
        metadata = manager.restore(gan)  # the newest usable checkpoint, older ones on failure
        initial_d_step = gan.d_steps
        if initial_d_step != metadata["d_step"]:
            raise RuntimeError(
                f"The restored optimizer is at D step {initial_d_step} but the checkpoint says "
                f"{metadata['d_step']}: the checkpoint does not match this model."
            )
        for path, _ in manager.skipped:
            moved = manager.set_aside(path)
            print(f"{PROGRAM}: set the unusable checkpoint {path} aside as {moved} (kept; it no "
                  "longer counts as a checkpoint)")
        print(f"{PROGRAM}: resumed from {manager.restored_path} at discriminator step "
              f"{initial_d_step}")
    # Leftovers of runs killed while writing (this process holds the folder's lock).
    manager.remove_temporary_files()
    remove_stale_temporary_files(model_dir)

    total = hyper["steps"]
    disc_iters = hyper["disc_iters"]
    remaining_fit_steps = (total - initial_d_step) // disc_iters
    if remaining_fit_steps < 0:
        raise UsageError(f"--steps {total}: the run is already at discriminator step "
                         f"{initial_d_step}. Pass a larger --steps to train longer.")
    if hyper.get("num_classes"):  # a conditional model: every image needs a class the model has
        from ganzoo.architectures import check_labels

        if source.labels is None:
            raise UsageError(f"num_classes {hyper['num_classes']}: the data set {run.dataset} has "
                             "no labels (a folder of class folders, CIFAR10, or a tfds set with "
                             "'label' has).")
        try:
            check_labels(source.labels, len(source.labels), hyper["num_classes"],
                         f"the data set {run.dataset}")
        except ValueError as error:  # a usage error: reported as one, no traceback
            raise UsageError(f"{error} Set --num_classes to the data's number of classes.") from None
    dataset = gdata.make_dataset(
        source, hyper["batch_size"], disc_iters, seed=run.seed,
        start_step=initial_d_step // disc_iters, resolution=hyper["resolution"],
        resize=run.resize, crop_or_pad=run.crop_or_pad or None,
    )
    metadata = {
        "hyper": hyper, "dataset": run.dataset, "resize": run.resize,
        "crop_or_pad": run.crop_or_pad, "seed": run.seed, "config": run.config,
        "init_from": run.init_from, "backend": keras.backend.backend(),
        "deterministic": bool(options.deterministic), "ganzoo_version": ganzoo.__version__,
    }
    config = {"training": hyper, **{k: v for k, v in metadata.items() if k != "hyper"}}
    write_text(os.path.join(model_dir, "config.json"), json.dumps(config, indent=2, sort_keys=True))

    callbacks, nan_guard = gcallbacks.standard_callbacks(
        model_dir, total, disc_iters=disc_iters, initial_d_step=initial_d_step,
        checkpoint_manager=manager, checkpoint_every=options.checkpoint_every, metadata=metadata,
        sample_every=options.sample_every, num_samples=options.num_samples,
        sample_seed=run.seed, log_every=options.log_every, fid_fn=fid_fn,
        fid_every=options.fid_every, progress=options.progress,
        fid_protocol={"generated": options.fid_samples, "reference": options.fid_samples,
                      "reference_split": options.fid_split, "dataset": run.dataset},
    )
    for callback in extra_callbacks:
        callback.disc_iters, callback.initial_d_step = disc_iters, initial_d_step
        callback.nan_guard = nan_guard
    # Before MetricWindow, which must stay last (it resets the loss means).
    callbacks[-1:-1] = list(extra_callbacks)
    print(f"{PROGRAM}: {total} discriminator steps ({total // disc_iters} generator steps, "
          f"{remaining_fit_steps} fit steps to go) on {source.name} ({len(source)} images)"
          + ("; the run is complete: writing its final weights" if not remaining_fit_steps
             else ""))
    # What exists now (the networks, their compiled steps, the data) lives until the end: take
    # it out of the garbage collector's sight. Each full collection walked all of it again, and
    # JAX's eager calls (the sample grids) trigger many: 24 s of the final grid, 14 s of exit.
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    if remaining_fit_steps > 0:
        gan.fit(dataset, epochs=1, steps_per_epoch=remaining_fit_steps, verbose=0, shuffle=False,
                callbacks=callbacks)
    elapsed = time.perf_counter() - start
    nan_guard.raise_if_failed()

    _final_weights(gan, model_dir)
    d_step = gan.d_steps
    done = d_step - initial_d_step
    summary = {
        "d_step": d_step, "g_step": gan.g_steps, "seconds": elapsed,
        "seconds_per_1000_d_steps": (1000 * elapsed / done) if done else None,
        "model_dir": model_dir,
    }
    print(f"{PROGRAM}: done " + json.dumps(summary))
    return summary
