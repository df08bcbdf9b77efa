r"""`ganzoo train`: train a GAN of the GAN Landscape zoo with model.fit, resumably.

    ganzoo train --config sndcgan-ns-sn-cifar10 --model_dir runs/sndcgan-sn
    ganzoo train --config sndcgan-ns-sn-cifar10 --model_dir runs/sndcgan-sn --resume
    ganzoo train --architecture resnet_cifar --loss hinge --normalization spectral \
        --disc_iters 5 --lr 2e-4 --steps 100000 --dataset path/to/images --model_dir runs/mine

(training/train.py is the same command as a script.)

STEPS ARE DISCRIMINATOR STEPS, as in the paper: --steps 200000 with --disc_iters 5 makes 40,000
generator updates (fit() steps). --checkpoint_every, --sample_every, --log_every and --fid_every
count discriminator steps too.

The hyper-parameter flags are the fields of ganzoo.recipe.Recipe. --config NAME takes the paper's
best recipe for a manifest entry (weights_manifest.json, `ganzoo list`); any hyper-parameter flag
given explicitly overrides it (--g_lr alone moves --d_lr with it when the two were equal).
--init_from NAME starts from a published zoo model's weights (fine-tuning). See docs/training.md.
"""
import gc
import json
import os
import sys
import time

from absl import flags

from ganzoo.recipe import Recipe, RecipeError

PROGRAM = "ganzoo train"
# The data set of a manifest entry -> the --dataset value that reads it.
MANIFEST_DATASETS = {
    "cifar10": "cifar10",
    "celebahq": "tfds:celeb_a_hq/128",
    "lsun_bedroom": "tfds:lsun/bedroom",
}
# compare_gan reads LSUN-Bedroom as the central patch at native resolution (no resize).
CROP_OR_PAD_DATASETS = ("lsun_bedroom",)
# Recipe fields that may differ on --resume (a longer run); the others must match.
RESUMABLE_CHANGES = ("steps",)
# Fields fine-tuning cannot change: the pretrained networks' shapes.
NETWORK_SHAPE = ("architecture", "resolution", "normalization", "z_dim")
# FID fits a 2048x2048 covariance to Inception features: it needs at least 2049 images.
FID_FEATURES = 2048

FLAGS = flags.FlagValues()


def _define_flags(fv):
    f = flags
    f.DEFINE_string("config", None, "Manifest entry whose paper hyper-parameters to use "
                    "(`ganzoo list`); explicit flags override single values.", flag_values=fv)
    f.DEFINE_string("init_from", None, "Fine-tune: start from this published zoo model's "
                    "generator and discriminator (ganzoo.load(NAME, with_discriminator=True)); its "
                    "hyper-parameters are the defaults.", flag_values=fv)
    Recipe.define_flags(fv)
    f.DEFINE_float("lr", None, "Learning rate of both networks (or --g_lr and --d_lr).",
                   flag_values=fv)
    f.DEFINE_integer("seed", 0, "Seed of the weights, the noise and the data order.",
                     flag_values=fv)
    f.DEFINE_string("dataset", None, "cifar10 (the JPEG tars), a tar file or image folder, "
                    "synthetic[:N], or a tensorflow-datasets name (tfds:NAME). Default: the "
                    "config's data set, else cifar10.", flag_values=fv)
    f.DEFINE_string("data_dir", None, "Folder of the cifar10 tars (default "
                    "../shared/data/cifar10-jpeg beside the repository) or the tfds data dir.",
                    flag_values=fv)
    f.DEFINE_string("split", "train", "Data split to train on.", flag_values=fv)
    f.DEFINE_boolean("resize", None, "Resize (central crop + bilinear) images whose size is not "
                     "the model's resolution, instead of refusing them.", flag_values=fv)
    f.DEFINE_string("model_dir", None, "Run folder: checkpoints/, samples/, logs/ (TensorBoard), "
                    "final weights.", flag_values=fv)
    f.DEFINE_boolean("resume", False, "Continue the run in --model_dir from its last checkpoint "
                     "(same step, optimiser states, RNG state, EMA and data order).",
                     flag_values=fv)
    f.DEFINE_integer("checkpoint_every", 5000, "Checkpoint every N D steps.", flag_values=fv)
    f.DEFINE_integer("keep_checkpoints", 3, "How many checkpoints to keep.", flag_values=fv)
    f.DEFINE_integer("sample_every", 5000, "Sample grid PNG every N D steps (0: only at the end).",
                     flag_values=fv)
    f.DEFINE_integer("num_samples", 64, "Images in each sample grid.", flag_values=fv)
    f.DEFINE_integer("log_every", 100, "TensorBoard scalars every N D steps.", flag_values=fv)
    f.DEFINE_integer("fid_every", 0, "FID every N D steps (0: off). Needs ganzoo.metrics and the "
                     "Inception weights (`ganzoo fetch-inception`).", flag_values=fv)
    f.DEFINE_integer("fid_samples", 5000, "Generated and reference images per FID (at least "
                     f"{FID_FEATURES + 1}: FID fits a {FID_FEATURES}x{FID_FEATURES} covariance).",
                     flag_values=fv)
    f.DEFINE_string("fid_split", "test", "Split of the data set used as the FID reference.",
                    flag_values=fv)
    f.DEFINE_enum("distribute", "none", ["none", "data_parallel"], "data_parallel: split each "
                  "batch over the local devices (JAX DataParallel / TF MirroredStrategy).",
                  flag_values=fv)
    f.DEFINE_integer("num_devices", None, "With --distribute data_parallel: how many devices "
                     "(default all).", flag_values=fv)
    f.DEFINE_boolean("progress", True, "Show a progress bar.", flag_values=fv)


_define_flags(FLAGS)


class UsageError(ValueError):
    """Flags that cannot be trained with; the message names the fix."""


def parse_flags(argv):
    """Parse argv (argv[0] is the program name) into FLAGS; returns the remaining arguments."""
    FLAGS.unparse_flags()
    return FLAGS(argv)


def _given(name):
    return FLAGS[name].present and FLAGS[name].value is not None


def _recipe_error(error):
    """A RecipeError as a UsageError, the field it starts with spelt as its flag: Recipe messages
    begin with the field's name ("beta1 must be below 1" -> "--beta1 must be below 1")."""
    message = str(error)
    if message.split(" ", 1)[0].split("=", 1)[0] in Recipe.field_names():
        message = "--" + message
    return UsageError(message)


def _manifest_recipe(name, what):
    from ganzoo.zoo import manifest

    try:
        entry = manifest.get_entry(name)
    except ValueError as error:  # unknown name: the message lists the closest ones
        raise UsageError(f"--{what} {name}: {error}") from None
    return Recipe.from_dict(entry["training"], where=f"the manifest entry {name}"), entry.get("dataset")


def _explicit_fields():
    """The recipe fields given as flags ({name: value}); --lr sets both rates."""
    explicit = {name: FLAGS[name].value for name in Recipe.field_names() if _given(name)}
    if _given("lr"):
        explicit["g_lr"] = explicit["d_lr"] = FLAGS.lr
    return explicit


def resolve_settings():
    """Check the flags and combine them with the config into the run's settings (a dict whose
    "recipe" is a ganzoo.recipe.Recipe, or None when --resume takes it from the checkpoint).

    Raises UsageError for conflicting or missing flags; touches no data and builds nothing.
    """
    if FLAGS.config and FLAGS.init_from and FLAGS.config != FLAGS.init_from:
        raise UsageError(
            f"--config {FLAGS.config} conflicts with --init_from {FLAGS.init_from}: fine-tuning "
            "takes the hyper-parameters of the model it starts from. Give one of them."
        )
    if _given("lr") and (_given("g_lr") or _given("d_lr")):
        raise UsageError("--lr sets both learning rates; it conflicts with --g_lr/--d_lr. "
                         "Give --lr alone, or --g_lr and --d_lr.")
    if not FLAGS.model_dir:
        raise UsageError("--model_dir is required: the folder for checkpoints, samples and logs.")
    if os.path.exists(FLAGS.model_dir) and not os.path.isdir(FLAGS.model_dir):
        raise UsageError(f"--model_dir {FLAGS.model_dir} is a file, not a folder. Give the path "
                         f"of a run folder (new, or one that {PROGRAM} wrote).")
    _check_run_flags()

    dataset, resize, crop_or_pad = "cifar10", False, False
    base_name = FLAGS.config or FLAGS.init_from
    explicit = _explicit_fields()
    try:
        if base_name:
            base, manifest_dataset = _manifest_recipe(
                base_name, "config" if FLAGS.config else "init_from")
            if manifest_dataset in MANIFEST_DATASETS:
                dataset = MANIFEST_DATASETS[manifest_dataset]
                crop_or_pad = manifest_dataset in CROP_OR_PAD_DATASETS
            if FLAGS.init_from:
                for name in NETWORK_SHAPE:
                    if name in explicit and getattr(base.override(**{name: explicit[name]}),
                                                    name) != getattr(base, name):
                        raise UsageError(
                            f"--{name} {explicit[name]} conflicts with --init_from "
                            f"{FLAGS.init_from}, whose networks have {name} "
                            f"{getattr(base, name)}. Drop --{name}.")
            recipe = base.override(**explicit).check_schedule()
        elif FLAGS.resume and "architecture" not in explicit:
            recipe = None  # the checkpoint's recipe (_merge_resumed)
        elif "architecture" not in explicit:
            raise UsageError("Pass --config NAME (see `ganzoo list`) or --architecture "
                             "(sndcgan, resnet19, resnet_cifar) with the hyper-parameters.")
        else:
            recipe = Recipe(**explicit).check_schedule()
    except RecipeError as error:
        raise _recipe_error(error) from None
    if _given("dataset"):
        dataset = FLAGS.dataset
    if FLAGS.resize is not None:
        resize = FLAGS.resize
    return {
        "recipe": recipe,
        "explicit": explicit,
        "dataset": dataset,
        "resize": bool(resize),
        "crop_or_pad": bool(crop_or_pad) and not resize,
        "config": FLAGS.config,
        "init_from": FLAGS.init_from,
    }


def _check_run_flags():
    """The flags of the run itself (not the recipe): how often to checkpoint, sample, measure."""
    for name in ("checkpoint_every", "keep_checkpoints", "log_every"):
        if FLAGS[name].value < 1:
            raise UsageError(f"--{name} must be at least 1; got {FLAGS[name].value}.")
    for name, meaning in (("sample_every", "0: one grid at the end only"),
                          ("num_samples", "0: no sample grids"), ("fid_every", "0: no FID")):
        if FLAGS[name].value < 0:
            raise UsageError(f"--{name} must be 0 or more ({meaning}); got {FLAGS[name].value}.")
    if FLAGS.fid_every and FLAGS.fid_samples <= FID_FEATURES:
        raise UsageError(
            f"--fid_samples {FLAGS.fid_samples} is too few: FID fits a {FID_FEATURES}x"
            f"{FID_FEATURES} covariance to Inception features and needs at least "
            f"{FID_FEATURES + 1} images (the paper's protocol uses 10,000; the default is 5000). "
            "Raise --fid_samples, or pass --fid_every 0 and measure FID later with "
            "`ganzoo eval`.")
    if FLAGS.num_devices is not None and FLAGS.num_devices < 1:
        raise UsageError(f"--num_devices must be at least 1; got {FLAGS.num_devices}.")
    if FLAGS.num_devices is not None and FLAGS.distribute != "data_parallel":
        raise UsageError("--num_devices needs --distribute data_parallel.")


def _merge_resumed(settings, metadata, checkpoint_path):
    """On --resume, the checkpoint's recipe wins; explicit flags must agree with it."""
    try:
        stored = Recipe.from_dict(metadata.get("hyper") or {}, where=f"{checkpoint_path}'s recipe")
    except RecipeError as error:
        raise UsageError(f"{error} The checkpoint was not written by {PROGRAM}; start a new run "
                         "in another --model_dir.") from None
    explicit = settings["explicit"]
    for name, value in explicit.items():
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
        recipe = stored.override(**{k: explicit[k] for k in RESUMABLE_CHANGES
                                    if k in explicit}).check_schedule()
    except RecipeError as error:
        raise _recipe_error(error) from None
    settings = dict(settings, recipe=recipe)
    if FLAGS["seed"].present and FLAGS.seed != metadata.get("seed", FLAGS.seed):
        raise UsageError(f"--seed {FLAGS.seed} conflicts with the run being resumed (seed "
                         f"{metadata.get('seed')}). Drop --seed to resume.")
    for key in ("dataset", "resize", "crop_or_pad", "seed", "config", "init_from"):
        if key in metadata and not (key == "dataset" and _given("dataset")):
            settings[key] = metadata[key]
    if _given("dataset") and FLAGS.dataset != metadata.get("dataset"):
        print(f"{PROGRAM}: resuming on --dataset {FLAGS.dataset} (the run began on "
              f"{metadata.get('dataset')}).")
    return settings


def _fid_reference(settings, hyper):
    from ganzoo import data as gdata

    try:
        source = gdata.load_source(settings["dataset"], split=FLAGS.fid_split,
                                   data_dir=FLAGS.data_dir,
                                   synthetic_resolution=hyper["resolution"],
                                   allow_mixed_sizes=settings["resize"])
    except gdata.DataError:
        source = gdata.load_source(settings["dataset"], split=FLAGS.split,
                                   data_dir=FLAGS.data_dir,
                                   synthetic_resolution=hyper["resolution"],
                                   allow_mixed_sizes=settings["resize"])
    return gdata.take_images(source, FLAGS.fid_samples, seed=settings["seed"])


def _copy_weights(target, source):
    target.set_weights(source.get_weights())


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


def run(settings, extra_callbacks=()):
    """Train with resolved settings. Returns a summary dict; raises on bad input or NaN.

    `extra_callbacks` (ganzoo.callbacks.StepCallback instances) join the standard ones, told the
    schedule (disc_iters, the resumed D step) and the NaN guard; ganzoo.sweep scores its trials
    with one.

    The run folder is locked (ganzoo.runlock) for the whole run: a second process on the same
    --model_dir is refused before it changes anything. A refused run that created --model_dir
    removes it again (it is then empty).
    """
    from ganzoo.runlock import RunLock

    model_dir = FLAGS.model_dir
    created = not os.path.exists(model_dir)
    lock = RunLock(model_dir)
    try:
        lock.acquire()
    except (FileExistsError, NotADirectoryError, PermissionError) as error:
        raise UsageError(f"--model_dir {model_dir} cannot be created or locked ({error}). Give a "
                         "folder path you can write to.") from None
    try:
        return _run_locked(settings, model_dir, extra_callbacks)
    finally:
        gc.unfreeze()  # (run() may be called again in this process)
        lock.release()
        if created:  # refused before anything was written: leave no empty folder behind
            try:
                os.rmdir(model_dir)
            except OSError:
                pass


def _run_locked(settings, model_dir, extra_callbacks=()):
    import keras

    import ganzoo
    from ganzoo import callbacks as gcallbacks
    from ganzoo import data as gdata
    from ganzoo import distribute
    from ganzoo.checkpoint import CheckpointManager, remove_stale_temporary_files
    from ganzoo.utils.files import write_text

    settings = dict(settings, seed=FLAGS.seed)
    manager = CheckpointManager(os.path.join(model_dir, "checkpoints"),
                                keep=FLAGS.keep_checkpoints)
    problems = []
    latest = manager.latest(problems)
    if manager.checkpoints() and not FLAGS.resume:
        if latest:
            raise UsageError(
                f"{model_dir} already holds checkpoints (newest {latest[1]}). Pass --resume to "
                "continue that run, or choose a new --model_dir."
            )
        raise manager.unreadable_error(problems, action="resume (and a new run would mix with "
                                       "them: choose a new --model_dir)")
    if FLAGS.resume:
        if not manager.checkpoints():
            raise UsageError(f"--resume: {model_dir} holds no checkpoint to resume from (no "
                             f"ckpt-*.weights.h5 in {manager.directory}). Drop --resume to start "
                             "a new run there.")
        if latest is None:
            raise manager.unreadable_error(problems)
        settings = _merge_resumed(settings, latest[2], latest[1])
        reached = int(latest[2].get("d_step", latest[0]))
        if settings["recipe"].steps < reached:
            raise UsageError(
                f"--steps {settings['recipe'].steps}: the run is already past it ({latest[1]} is "
                f"at discriminator step {reached}). Pass a --steps above {reached} to train "
                "longer, or drop --steps to finish the run's own "
                f"{latest[2].get('hyper', {}).get('steps')} steps.")
    recipe = settings["recipe"]

    # Data first: every data problem stops the run before a model is built.
    source = gdata.load_source(
        settings["dataset"], split=FLAGS.split, data_dir=FLAGS.data_dir,
        allow_mixed_sizes=settings["resize"] or settings.get("crop_or_pad", False),
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
    if FLAGS.fid_every:
        def fid_reference():
            reference = _fid_reference(settings, hyper)
            if len(reference) <= FID_FEATURES:
                raise UsageError(
                    f"The FID reference of {settings['dataset']} (split {FLAGS.fid_split}) has "
                    f"only {len(reference)} images; FID needs at least {FID_FEATURES + 1}. Use "
                    "a larger data set, or pass --fid_every 0.")
            return reference

        fid_fn, reason = gcallbacks.make_fid_fn(
            fid_reference, FLAGS.fid_samples, seed=settings["seed"],
            cache_path=os.path.join(model_dir, "fid_reference.npz"),
            cache_key=gcallbacks.fid_reference_key(settings["dataset"], FLAGS.fid_split,
                                                   FLAGS.fid_samples, settings["seed"],
                                                   hyper["resolution"]))
        if fid_fn is None:
            print(f"{PROGRAM}: FID disabled: {reason}.")

    plan = (distribute.data_parallel(FLAGS.num_devices) if FLAGS.distribute == "data_parallel"
            else distribute.single_device())
    plan.check_batch(hyper["batch_size"])
    print(f"{PROGRAM}: {plan.describe()}; Keras backend {keras.backend.backend()}")

    with plan.scope():
        gan = ganzoo.build_gan(recipe, seed=settings["seed"])
    if settings.get("init_from") and not FLAGS.resume:
        pretrained = ganzoo.load(settings["init_from"], with_discriminator=True)
        _copy_weights(gan.generator, pretrained.generator)
        _copy_weights(gan.discriminator, pretrained.discriminator)
        if gan.ema_generator is not None:
            _copy_weights(gan.ema_generator, pretrained.generator)
        print(f"{PROGRAM}: starting from the zoo model {settings['init_from']}")

    initial_d_step = 0
    if FLAGS.resume:
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
            raise UsageError(f"num_classes {hyper['num_classes']}: the data set {settings['dataset']} has no "
                             "labels (a folder of class folders, CIFAR10, or a tfds set with 'label' has).")
        try:
            check_labels(source.labels, len(source.labels), hyper["num_classes"],
                         f"the data set {settings['dataset']}")
        except ValueError as error:  # a usage error: reported as one, no traceback
            raise UsageError(f"{error} Set --num_classes to the data's number of classes.") from None
    dataset = gdata.make_dataset(
        source, hyper["batch_size"], disc_iters, seed=settings["seed"],
        start_step=initial_d_step // disc_iters, resolution=hyper["resolution"],
        resize=settings["resize"], crop_or_pad=settings.get("crop_or_pad") or None,
    )
    metadata = {
        "hyper": hyper, "dataset": settings["dataset"], "resize": settings["resize"],
        "crop_or_pad": settings.get("crop_or_pad", False),
        "seed": settings["seed"], "config": settings.get("config"),
        "init_from": settings.get("init_from"), "backend": keras.backend.backend(),
        "ganzoo_version": ganzoo.__version__,
    }
    config = {"training": hyper, **{k: v for k, v in metadata.items() if k != "hyper"}}
    write_text(os.path.join(model_dir, "config.json"), json.dumps(config, indent=2, sort_keys=True))

    callbacks, nan_guard = gcallbacks.standard_callbacks(
        model_dir, total, disc_iters=disc_iters, initial_d_step=initial_d_step,
        checkpoint_manager=manager, checkpoint_every=FLAGS.checkpoint_every, metadata=metadata,
        sample_every=FLAGS.sample_every, num_samples=FLAGS.num_samples,
        sample_seed=settings["seed"], log_every=FLAGS.log_every, fid_fn=fid_fn,
        fid_every=FLAGS.fid_every, progress=FLAGS.progress,
        fid_protocol={"generated": FLAGS.fid_samples, "reference": FLAGS.fid_samples,
                      "reference_split": FLAGS.fid_split, "dataset": settings["dataset"]},
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


def main(argv):
    """Train with the parsed FLAGS; argv is what parsing left (only the program name is valid).
    Returns the exit status: 0 done, 2 a usage/data/checkpoint problem, 3 a non-finite loss."""
    if len(argv) > 1:
        print(f"{PROGRAM}: error: unexpected arguments: {' '.join(argv[1:])} (flags take the form "
              "--name value; pass --help for the flags).", file=sys.stderr)
        return 2
    from ganzoo.callbacks import NonFiniteLossError
    from ganzoo.checkpoint import CheckpointError
    from ganzoo.data import DataError
    from ganzoo.distribute import DistributeError
    from ganzoo.runlock import RunLockedError

    try:
        run(resolve_settings())
    except (UsageError, DataError, DistributeError, CheckpointError, RunLockedError) as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    except NonFiniteLossError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 3
    finally:
        # The process ends next: spare its final garbage collection the walk over everything.
        gc.freeze()
    return 0


def command(args):
    """`ganzoo train ARGS`: parse the flags (--help prints them and exits) and train."""
    argv = [PROGRAM, *args]
    if any(arg in ("-h", "--help", "-?", "--helpfull", "--helpshort") for arg in argv[1:]):
        print(__doc__)
        print(FLAGS.get_help(include_special_flags=False))
        return 0
    try:
        remaining = parse_flags(argv)
    except flags.Error as error:
        print(f"{PROGRAM}: error: {error}\nPass --help for the flags.", file=sys.stderr)
        return 2
    return main(remaining)
