r"""Evaluate a GAN with the paper's protocol and write a JSON record.

This script is `ganzoo eval` (ganzoo/cli/evaluation.py), kept for the training/ layout: --model
NAME is ganzoo eval's MODEL, --noprogress its --no-progress, and every other option is the same,
in the underscore spelling too (--generator_weights, --num_samples).

    python training/eval.py --model sndcgan-ns-sn-cifar10 --out runs/eval/sndcgan-ns-sn.json
    python training/eval.py --architecture sndcgan --resolution 32 \
        --generator_weights runs/mine/generator.weights.h5 --dataset cifar10 --out mine.json
    python training/eval.py --model NAME --metrics fid,kid,precision_recall,ms_ssim,swd \
        --real path/to/images.tar --num_samples 10000 --sample_sets 3 --out NAME.eval.json

Protocol (CIFAR10, as the paper): 10,000 generated images per sample set against the 10,000
CIFAR10 test images, 3 sample sets (seeds seed, seed+1, seed+2), mean and std of each metric.
Inception features: the 2015-12-05 network (run `ganzoo fetch-inception` once), TF1 bilinear
resize to 299x299. The reference features of the CIFAR10 test split are computed once and cached
($GANZOO_CACHE/fid_stats). The record is printed, and written to --out. See docs/evaluation.md.
"""
import sys

from ganzoo.cli.main import main as ganzoo_main


def ganzoo_eval_argv(argv):
    """This script's command line -> `ganzoo eval`'s: --model NAME (or --model=NAME) becomes the
    positional MODEL, --noprogress becomes --no-progress (--progress, the default, is dropped)."""
    out, model = [], []
    args = iter(argv)
    for arg in args:
        if arg == "--model":
            model.append(next(args, ""))
        elif arg.startswith("--model="):
            model.append(arg.partition("=")[2])
        elif arg == "--noprogress":
            out.append("--no-progress")
        elif arg != "--progress":
            out.append(arg)
    return ["eval", *out, *model]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__)
    return ganzoo_main(ganzoo_eval_argv(argv))


if __name__ == "__main__":
    sys.exit(main())
