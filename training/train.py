r"""Train a GAN of the GAN Landscape zoo with model.fit, resumably.

    python training/train.py --config sndcgan-ns-sn-cifar10 --model_dir runs/sndcgan-sn
    python training/train.py --config sndcgan-ns-sn-cifar10 --model_dir runs/sndcgan-sn --resume
    python training/train.py --architecture resnet_cifar --loss hinge --normalization spectral \
        --disc_iters 5 --lr 2e-4 --steps 100000 --dataset path/to/images --model_dir runs/mine

STEPS ARE DISCRIMINATOR STEPS, as in the paper: --steps 200000 with --disc_iters 5 makes 40,000
generator updates (fit() steps). --checkpoint_every, --sample_every, --log_every and --fid_every
count discriminator steps too.

--config NAME takes the paper's best hyper-parameters for a manifest entry (weights_manifest.json,
`ganzoo list`); any hyper-parameter flag given explicitly overrides it. --init_from NAME starts
from a published zoo model's weights (fine-tuning). See docs/training.md.
"""
import json
import os
import sys
import time

from absl import app, flags

HYPER_PARAMETERS = (
    "architecture", "resolution", "normalization", "loss", "penalty", "penalty_weight",
    "disc_iters", "g_lr", "d_lr", "beta1", "beta2", "batch_size", "steps", "z_dim", "ema_decay",
    "ema_start_step",
)
DEFAULTS = {
    "normalization": "spectral", "loss": "ns", "penalty": "none", "penalty_weight": None,
    "disc_iters": 1, "g_lr": 2e-4, "d_lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "batch_size": 64,
    "steps": 200000, "z_dim": 128, "ema_decay": None, "ema_start_step": 0, "resolution": None,
}
# The data set of a manifest entry -> the --dataset value that reads it.
MANIFEST_DATASETS = {
    "cifar10": "cifar10",
    "celebahq": "tfds:celeb_a_hq/128",
    "lsun_bedroom": "tfds:lsun/bedroom",
}
# compare_gan reads LSUN-Bedroom as the central patch at native resolution (no resize).
CROP_OR_PAD_DATASETS = ("lsun_bedroom",)
# Hyper-parameters that may differ on --resume (a longer run); the others must match.
RESUMABLE_CHANGES = ("steps",)

FLAGS = flags.FlagValues()


def _define_flags(fv):
    f = flags
    f.DEFINE_string("config", None, "Manifest entry whose paper hyper-parameters to use "
                    "(`ganzoo list`); explicit flags override single values.", flag_values=fv)
    f.DEFINE_string("init_from", None, "Fine-tune: start from this published zoo model's "
                    "generator and discriminator (ganzoo.load(NAME, with_discriminator=True)); its "
                    "hyper-parameters are the defaults.", flag_values=fv)
    f.DEFINE_enum("architecture", None, ["sndcgan", "resnet19", "resnet_cifar"],
                  "Network family.", flag_values=fv)
    f.DEFINE_integer("resolution", None, "Image size (default: the data's).", flag_values=fv)
    f.DEFINE_enum("normalization", None, ["none", "batch", "layer", "spectral", "spectral_layer"],
                  "Discriminator normalisation (default spectral).", flag_values=fv)
    f.DEFINE_enum("loss", None, ["ns", "minimax", "wgan", "ls", "ls_raw", "hinge"],
                  "GAN loss (default ns).", flag_values=fv)
    f.DEFINE_enum("penalty", None, ["none", "wgan_gp", "dragan", "r1", "l2"],
                  "Discriminator penalty (default none).", flag_values=fv)
    f.DEFINE_float("penalty_weight", None, "Penalty weight lambda (required with a penalty).",
                   flag_values=fv)
    f.DEFINE_float("lr", None, "Learning rate of both networks (or --g_lr and --d_lr).",
                   flag_values=fv)
    f.DEFINE_float("g_lr", None, "Generator learning rate (default 2e-4).", flag_values=fv)
    f.DEFINE_float("d_lr", None, "Discriminator learning rate (default 2e-4).", flag_values=fv)
    f.DEFINE_float("beta1", None, "Adam beta1 (default 0.5).", flag_values=fv)
    f.DEFINE_float("beta2", None, "Adam beta2 (default 0.999).", flag_values=fv)
    f.DEFINE_integer("disc_iters", None, "Discriminator updates per generator update (1 or 5 "
                     "in the paper; default 1).", flag_values=fv)
    f.DEFINE_integer("steps", None, "Total DISCRIMINATOR steps, as counted in the paper (default "
                     "200000); generator updates = steps / disc_iters.", flag_values=fv)
    f.DEFINE_integer("batch_size", None, "Images per discriminator update (default 64).",
                     flag_values=fv)
    f.DEFINE_integer("z_dim", None, "Latent size (default 128).", flag_values=fv)
    f.DEFINE_float("ema_decay", None, "Keep an exponential moving average of G (e.g. 0.999).",
                   flag_values=fv)
    f.DEFINE_integer("ema_start_step", None, "D step from which the EMA averages (before: copies).",
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
    f.DEFINE_integer("fid_samples", 5000, "Generated and reference images per FID.",
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


def _manifest_training(name, what):
    from ganzoo.zoo import manifest

    try:
        entry = manifest.get_entry(name)
    except ValueError as error:  # unknown name: the message lists the closest ones
        raise UsageError(f"--{what} {name}: {error}") from None
    training = dict(entry["training"])
    return training, entry.get("dataset")


def resolve_settings():
    """Check the flags and combine them with the config into the run's settings (a dict).

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

    settings = dict(DEFAULTS)
    dataset, resize, crop_or_pad = "cifar10", False, False
    base_name = FLAGS.config or FLAGS.init_from
    if base_name:
        training, manifest_dataset = _manifest_training(
            base_name, "config" if FLAGS.config else "init_from")
        settings.update({k: v for k, v in training.items() if k in HYPER_PARAMETERS})
        if manifest_dataset in MANIFEST_DATASETS:
            dataset = MANIFEST_DATASETS[manifest_dataset]
            crop_or_pad = manifest_dataset in CROP_OR_PAD_DATASETS
    elif not _given("architecture") and not FLAGS.resume:
        raise UsageError("Pass --config NAME (see `ganzoo list`) or --architecture "
                         "(sndcgan, resnet19, resnet_cifar) with the hyper-parameters.")

    explicit = {}
    for name in HYPER_PARAMETERS:
        if _given(name):
            explicit[name] = FLAGS[name].value
    if _given("lr"):
        explicit["g_lr"] = explicit["d_lr"] = FLAGS.lr
    if FLAGS.init_from:
        for name in ("architecture", "resolution", "normalization", "z_dim"):
            if name in explicit and explicit[name] != settings.get(name):
                raise UsageError(
                    f"--{name} {explicit[name]} conflicts with --init_from {FLAGS.init_from}, "
                    f"whose networks have {name} {settings.get(name)}. Drop --{name}."
                )
    settings.update(explicit)
    if _given("dataset"):
        dataset = FLAGS.dataset
    if FLAGS.resize is not None:
        resize = FLAGS.resize

    penalty = settings["penalty"]
    if penalty == "none":
        if settings["penalty_weight"] not in (None, 0, 0.0):
            if "penalty_weight" in explicit:
                raise UsageError(f"--penalty_weight {settings['penalty_weight']} conflicts with "
                                 "--penalty none. Choose a penalty or drop --penalty_weight.")
        settings["penalty_weight"] = 0.0
    elif settings["penalty_weight"] is None:
        raise UsageError(f"--penalty {penalty} needs --penalty_weight (the paper's best settings "
                         "use 1 or 10 for wgan_gp).")
    for name in ("disc_iters", "steps", "batch_size", "z_dim"):
        if settings[name] is not None and int(settings[name]) < 1:
            raise UsageError(f"--{name} must be positive; got {settings[name]}.")
    for name in ("g_lr", "d_lr"):
        if not settings[name] or settings[name] <= 0:
            raise UsageError(f"--{name} must be positive; got {settings[name]}.")
    for name in ("beta1", "beta2"):
        if not 0.0 <= settings[name] < 1.0:
            raise UsageError(f"--{name} must be in [0, 1); got {settings[name]}.")
    for name in ("checkpoint_every", "keep_checkpoints", "log_every"):
        if FLAGS[name].value < 1:
            raise UsageError(f"--{name} must be at least 1; got {FLAGS[name].value}.")
    if FLAGS.num_devices is not None and FLAGS.distribute != "data_parallel":
        raise UsageError("--num_devices needs --distribute data_parallel.")
    return {
        "hyper": settings,
        "explicit": sorted(explicit),
        "dataset": dataset,
        "resize": bool(resize),
        "crop_or_pad": bool(crop_or_pad) and not resize,
        "config": FLAGS.config,
        "init_from": FLAGS.init_from,
    }


def _check_steps(hyper):
    if hyper["steps"] % hyper["disc_iters"]:
        raise UsageError(
            f"--steps {hyper['steps']} counts discriminator steps and must be a multiple of "
            f"--disc_iters {hyper['disc_iters']} (each fit step makes disc_iters D steps)."
        )


def _merge_resumed(settings, metadata, checkpoint_path):
    """On --resume, the checkpoint's hyper-parameters win; explicit flags must agree."""
    stored = metadata.get("hyper") or {}
    for name in settings["explicit"]:
        if name in RESUMABLE_CHANGES or name not in stored:
            continue
        if settings["hyper"][name] != stored[name]:
            raise UsageError(
                f"--{name} {settings['hyper'][name]} conflicts with the run being resumed "
                f"({checkpoint_path} has {name} {stored[name]}). Drop --{name} to resume, or "
                "start a new run in another --model_dir."
            )
    hyper = dict(stored)
    for name in RESUMABLE_CHANGES:
        if name in settings["explicit"]:
            hyper[name] = settings["hyper"][name]
    settings = dict(settings, hyper=hyper)
    if FLAGS["seed"].present and FLAGS.seed != metadata.get("seed", FLAGS.seed):
        raise UsageError(f"--seed {FLAGS.seed} conflicts with the run being resumed (seed "
                         f"{metadata.get('seed')}). Drop --seed to resume.")
    for key in ("dataset", "resize", "crop_or_pad", "seed", "config", "init_from"):
        if key in metadata and not (key == "dataset" and _given("dataset")):
            settings[key] = metadata[key]
    if _given("dataset") and FLAGS.dataset != metadata.get("dataset"):
        print(f"train.py: resuming on --dataset {FLAGS.dataset} (the run began on "
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


def run(settings):
    """Train with resolved settings. Returns a summary dict; raises on bad input or NaN."""
    import keras

    import ganzoo
    from ganzoo import callbacks as gcallbacks
    from ganzoo import data as gdata
    from ganzoo import distribute
    from ganzoo.checkpoint import CheckpointManager

    settings = dict(settings, seed=FLAGS.seed)
    model_dir = FLAGS.model_dir
    manager = CheckpointManager(os.path.join(model_dir, "checkpoints"),
                                keep=FLAGS.keep_checkpoints)
    latest = manager.latest()
    if latest and not FLAGS.resume:
        raise UsageError(
            f"{model_dir} already holds checkpoints (newest {latest[1]}). Pass --resume to "
            "continue that run, or choose a new --model_dir."
        )
    if FLAGS.resume:
        if not latest:
            raise UsageError(f"--resume: {model_dir} holds no checkpoint to resume from. "
                             "Drop --resume to start a new run there.")
        settings = _merge_resumed(settings, latest[2], latest[1])
    hyper = dict(settings["hyper"])
    _check_steps(hyper)

    # Data first: every data problem stops the run before a model is built.
    source = gdata.load_source(
        settings["dataset"], split=FLAGS.split, data_dir=FLAGS.data_dir,
        allow_mixed_sizes=settings["resize"] or settings.get("crop_or_pad", False),
        synthetic_resolution=hyper["resolution"] or 32,
    )
    if hyper["resolution"] is None:
        shape = source.image_shape
        if shape is None or shape[0] != shape[1]:
            raise UsageError(f"The images of {source.name} are not all square and of one size: "
                             "pass --resolution (and --resize).")
        hyper["resolution"] = int(shape[0])
    gdata.check_batch_fits(source, hyper["batch_size"], hyper["disc_iters"])

    plan = (distribute.data_parallel(FLAGS.num_devices) if FLAGS.distribute == "data_parallel"
            else distribute.single_device())
    plan.check_batch(hyper["batch_size"])
    print(f"train.py: {plan.describe()}; Keras backend {keras.backend.backend()}")

    build_kwargs = {k: v for k, v in hyper.items() if k not in ("batch_size", "steps")}
    with plan.scope():
        gan = ganzoo.build_gan(**build_kwargs, seed=settings["seed"])
    if settings.get("init_from") and not FLAGS.resume:
        pretrained = ganzoo.load(settings["init_from"], with_discriminator=True)
        _copy_weights(gan.generator, pretrained.generator)
        _copy_weights(gan.discriminator, pretrained.discriminator)
        if gan.ema_generator is not None:
            _copy_weights(gan.ema_generator, pretrained.generator)
        print(f"train.py: starting from the zoo model {settings['init_from']}")

    initial_d_step = 0
    if FLAGS.resume:
        metadata = manager.restore(gan)
        initial_d_step = gan.d_steps
        if initial_d_step != metadata["d_step"]:
            raise RuntimeError(
                f"The restored optimizer is at D step {initial_d_step} but the checkpoint says "
                f"{metadata['d_step']}: the checkpoint does not match this model."
            )
        print(f"train.py: resumed from {latest[1]} at discriminator step {initial_d_step}")

    total = hyper["steps"]
    disc_iters = hyper["disc_iters"]
    remaining_fit_steps = (total - initial_d_step) // disc_iters
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
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.json"), "w", encoding="utf-8") as handle:
        json.dump({"training": hyper, **{k: v for k, v in metadata.items() if k != "hyper"}},
                  handle, indent=2, sort_keys=True)

    fid_fn = None
    if FLAGS.fid_every:
        fid_fn, reason = gcallbacks.make_fid_fn(
            lambda: _fid_reference(settings, hyper), FLAGS.fid_samples, seed=settings["seed"],
            cache_path=os.path.join(model_dir, "fid_reference.npz"),
            cache_key={"dataset": settings["dataset"], "split": FLAGS.fid_split,
                       "count": FLAGS.fid_samples, "seed": settings["seed"],
                       "resolution": hyper["resolution"]})
        if fid_fn is None:
            print(f"train.py: FID disabled: {reason}.")
    callbacks, nan_guard = gcallbacks.standard_callbacks(
        model_dir, total, disc_iters=disc_iters, initial_d_step=initial_d_step,
        checkpoint_manager=manager, checkpoint_every=FLAGS.checkpoint_every, metadata=metadata,
        sample_every=FLAGS.sample_every, num_samples=FLAGS.num_samples,
        sample_seed=settings["seed"], log_every=FLAGS.log_every, fid_fn=fid_fn,
        fid_every=FLAGS.fid_every, progress=FLAGS.progress,
        fid_protocol={"generated": FLAGS.fid_samples, "reference": FLAGS.fid_samples,
                      "reference_split": FLAGS.fid_split, "dataset": settings["dataset"]},
    )
    print(f"train.py: {total} discriminator steps ({total // disc_iters} generator steps, "
          f"{remaining_fit_steps} fit steps to go) on {source.name} ({len(source)} images)")
    start = time.perf_counter()
    if remaining_fit_steps > 0:
        gan.fit(dataset, epochs=1, steps_per_epoch=remaining_fit_steps, verbose=0, shuffle=False,
                callbacks=callbacks)
    elapsed = time.perf_counter() - start
    nan_guard.raise_if_failed()

    # Inference weights, laid out as the zoo publishes them: generator.weights.h5 is the
    # inference generator (the EMA average when there is one; the raw G is then kept beside it).
    if gan.ema_generator is not None:
        gan.ema_generator.save_weights(os.path.join(model_dir, "generator.weights.h5"))
        gan.generator.save_weights(os.path.join(model_dir, "generator_raw.weights.h5"))
    else:
        gan.generator.save_weights(os.path.join(model_dir, "generator.weights.h5"))
    gan.discriminator.save_weights(os.path.join(model_dir, "discriminator.weights.h5"))
    d_step = gan.d_steps
    done = d_step - initial_d_step
    summary = {
        "d_step": d_step, "g_step": gan.g_steps, "seconds": elapsed,
        "seconds_per_1000_d_steps": (1000 * elapsed / done) if done else None,
        "model_dir": model_dir,
    }
    print("train.py: done " + json.dumps(summary))
    return summary


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from ganzoo.callbacks import NonFiniteLossError
    from ganzoo.data import DataError
    from ganzoo.distribute import DistributeError

    try:
        run(resolve_settings())
    except (UsageError, DataError, DistributeError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    except NonFiniteLossError as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 3
    return 0


def _parse_command_line(argv):
    """absl parsing on this script's own FlagValues (so importing it defines no global flags)."""
    if any(arg in ("-h", "--help", "-?", "--helpfull", "--helpshort") for arg in argv[1:]):
        print(__doc__)
        print(FLAGS.get_help(include_special_flags=False))
        sys.exit(0)
    try:
        remaining = FLAGS(argv)
        flags.FLAGS(argv[:1])  # absl.app wants its global FLAGS parsed too (they are unused)
        return remaining
    except flags.Error as error:
        print(f"train.py: error: {error}\nPass --help for the flags.", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_command_line)
