r"""Evaluate a GAN with the paper's protocol and write a JSON record.

    python training/eval.py --model sndcgan-ns-sn-cifar10 --out runs/eval/sndcgan-ns-sn.json
    python training/eval.py --architecture sndcgan --resolution 32 \
        --generator_weights runs/mine/generator.weights.h5 --dataset cifar10 --out mine.json
    python training/eval.py --model NAME --metrics fid,kid,precision_recall,ms_ssim,swd \
        --real path/to/images.tar --num_samples 10000 --sample_sets 3

Protocol (CIFAR10, as the paper): 10,000 generated images per sample set against the 10,000
CIFAR10 test images, 3 sample sets (seeds seed, seed+1, seed+2), mean and std of each metric.
Inception features: the 2015-12-05 network (run `ganzoo fetch-inception` once), TF1 bilinear
resize to 299x299. The reference features of the CIFAR10 test split are computed once and cached
($GANZOO_CACHE/fid_stats). Same as `ganzoo eval NAME`; this script adds un-published generators
(--generator_weights). See docs/evaluation.md.
"""
import pathlib
import sys

from absl import app, flags

FLAGS = flags.FlagValues()


def _define_flags(fv):
    f = flags
    f.DEFINE_string("model", None, "Zoo model name (`ganzoo list`), loaded with ganzoo.load.",
                    flag_values=fv)
    f.DEFINE_string("generator_weights", None, "A generator .weights.h5 to evaluate instead of "
                    "a zoo model (needs --architecture).", flag_values=fv)
    f.DEFINE_enum("architecture", None, ["sndcgan", "resnet19", "resnet_cifar"],
                  "Generator family for --generator_weights.", flag_values=fv)
    f.DEFINE_integer("resolution", 32, "Image size for --generator_weights.", flag_values=fv)
    f.DEFINE_integer("z_dim", 128, "Latent size for --generator_weights.", flag_values=fv)
    f.DEFINE_string("dataset", "cifar10", "Data set whose protocol to use for "
                    "--generator_weights (a zoo model's comes from the manifest).", flag_values=fv)
    f.DEFINE_string("real", None, "Real images (folder or tar), features .npy or statistics .npz "
                    "instead of the protocol's reference set.", flag_values=fv)
    f.DEFINE_string("metrics", "fid,kid", "Comma-separated: fid, kid, precision_recall, "
                    "ms_ssim, swd.", flag_values=fv)
    f.DEFINE_integer("num_samples", None, "Generated (and real) images per sample set (default: "
                     "the protocol's, 10,000 for CIFAR10).", flag_values=fv)
    f.DEFINE_integer("sample_sets", 3, "Independent sample sets.", flag_values=fv)
    f.DEFINE_integer("seed", 0, "Seed of the first sample set.", flag_values=fv)
    f.DEFINE_integer("batch_size", 50, "Images per Inception forward pass.", flag_values=fv)
    f.DEFINE_string("out", None, "JSON record to write (default: <name>.eval.json).",
                    flag_values=fv)
    f.DEFINE_bool("progress", True, "Show progress bars.", flag_values=fv)


_define_flags(FLAGS)


def _generator_and_entry():
    if bool(FLAGS.model) == bool(FLAGS.generator_weights):
        raise app.UsageError("give exactly one of --model NAME or --generator_weights PATH")
    if FLAGS.model:
        import ganzoo
        from ganzoo.zoo import manifest

        # The zoo is resolved here: ganzoo.metrics does not depend on ganzoo.zoo.
        return FLAGS.model, ganzoo.load(FLAGS.model), manifest.get_entry(FLAGS.model)
    if not FLAGS.architecture:
        raise app.UsageError("--generator_weights needs --architecture")
    from ganzoo.architectures import build_generator

    generator = build_generator(FLAGS.architecture, resolution=FLAGS.resolution, z_dim=FLAGS.z_dim)
    generator.load_weights(FLAGS.generator_weights)
    name = pathlib.Path(FLAGS.generator_weights).name.split(".")[0]
    return name, generator, {"dataset": FLAGS.dataset, "paper": {}}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from ganzoo.metrics import evaluator

    name, generator, entry = _generator_and_entry()
    record = evaluator.evaluate_zoo_model(
        name,
        metrics=[m.strip() for m in FLAGS.metrics.split(",") if m.strip()],
        num_samples=FLAGS.num_samples,
        sample_sets=FLAGS.sample_sets,
        seed=FLAGS.seed,
        real=FLAGS.real,
        batch_size=FLAGS.batch_size,
        progress=FLAGS.progress,
        generator=generator,
        entry=entry,
    )
    if FLAGS.generator_weights:
        record["generator_weights"] = str(FLAGS.generator_weights)
    print(evaluator.format_record(record))
    out = evaluator.write_record(record, FLAGS.out or f"{name}.eval.json")
    print(f"record -> {out}")
    return 0


def _parse_command_line(argv):
    """absl parsing on this script's own FlagValues (importing it defines no global flags).

    absl.app.run wants its global FLAGS parsed as well (they are unused here), and this
    FlagValues has no --help of its own: both are handled here.
    """
    if any(arg in ("-h", "--help", "-?", "--helpfull", "--helpshort") for arg in argv[1:]):
        print(__doc__)
        print(FLAGS.get_help(include_special_flags=False))
        sys.exit(0)
    try:
        remaining = FLAGS(argv)
        flags.FLAGS(argv[:1])
        return remaining
    except flags.Error as error:
        print(f"eval.py: error: {error}\nPass --help for the flags.", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_command_line)
