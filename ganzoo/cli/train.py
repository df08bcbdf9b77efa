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
import sys

from absl import flags

from ganzoo.recipe import Recipe, RecipeError
from ganzoo.training import (FID_FEATURES, PROGRAM, RunOptions, UsageError,  # noqa: F401
                             recipe_usage_error)

# The data set of a manifest entry -> the --dataset value that reads it.
MANIFEST_DATASETS = {
    "cifar10": "cifar10",
    "celebahq": "tfds:celeb_a_hq/128",
    "lsun_bedroom": "tfds:lsun/bedroom",
}
# compare_gan reads LSUN-Bedroom as the central patch at native resolution (no resize).
CROP_OR_PAD_DATASETS = ("lsun_bedroom",)
# Fields fine-tuning cannot change: the pretrained networks' shapes.
NETWORK_SHAPE = ("architecture", "resolution", "normalization", "z_dim")

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
    f.DEFINE_boolean("deterministic", False, "Reproducible kernels: two runs of one seed give "
                     "bitwise-equal weights (TensorFlow: op determinism, no oneDNN, one thread, "
                     "several times slower on a CPU; JAX on GPU: --xla_gpu_deterministic_ops). "
                     "Without it TensorFlow's CPU kernels make two such runs differ from the "
                     "first step.", flag_values=fv)


_define_flags(FLAGS)


def parse_flags(argv):
    """Parse argv (argv[0] is the program name) into FLAGS; returns the remaining arguments."""
    FLAGS.unparse_flags()
    return FLAGS(argv)


def _given(name):
    return FLAGS[name].present and FLAGS[name].value is not None


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
    """Check the flags and combine them with the config into the run's ganzoo.training.RunOptions
    (its recipe None when --resume takes it from the checkpoint).

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
    dataset, crop_or_pad = None, False
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
            recipe = base.override(**explicit)
        elif FLAGS.resume and "architecture" not in explicit:
            recipe = None  # the checkpoint's recipe
        elif "architecture" not in explicit:
            raise UsageError("Pass --config NAME (see `ganzoo list`) or --architecture "
                             "(sndcgan, resnet19, resnet_cifar) with the hyper-parameters.")
        else:
            recipe = Recipe(**explicit)  # (RunOptions checks the schedule)
    except RecipeError as error:
        raise recipe_usage_error(error) from None
    if _given("dataset"):
        dataset = FLAGS.dataset
    elif FLAGS.resume:
        dataset = None  # the checkpoint's
    resize = bool(FLAGS.resize)
    return RunOptions(
        model_dir=FLAGS.model_dir, recipe=recipe, resume=FLAGS.resume, checked_fields=explicit,
        dataset=dataset, data_dir=FLAGS.data_dir, split=FLAGS.split, resize=resize,
        crop_or_pad=crop_or_pad and not resize,
        seed=FLAGS.seed if FLAGS["seed"].present or not FLAGS.resume else None,
        config=FLAGS.config, init_from=FLAGS.init_from,
        checkpoint_every=FLAGS.checkpoint_every, keep_checkpoints=FLAGS.keep_checkpoints,
        sample_every=FLAGS.sample_every, num_samples=FLAGS.num_samples,
        log_every=FLAGS.log_every, fid_every=FLAGS.fid_every, fid_samples=FLAGS.fid_samples,
        fid_split=FLAGS.fid_split, distribute=FLAGS.distribute, num_devices=FLAGS.num_devices,
        progress=FLAGS.progress, deterministic=FLAGS.deterministic)


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

    from ganzoo import training

    try:
        training.run(resolve_settings())
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
