r"""Plot a training run's FID curve (fid.jsonl, written by train.py --fid_every) as a PNG.

    python training/plot_fid.py --run_dir runs/sndcgan --out docs/figures/fid_curve.png
"""
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Training run folder holding fid.jsonl.")
flags.DEFINE_string("out", "fid_curve.png", "Output PNG.")
flags.DEFINE_string("title", None, "Figure title (default: the FID protocol).")


def main(argv):
    del argv
    import os

    from ganzoo.figures import plot_fid_curve, read_fid_records

    if not FLAGS.run_dir:
        print("plot_fid.py: error: --run_dir is required (a train.py run folder).", file=sys.stderr)
        return 2
    path = os.path.join(FLAGS.run_dir, "fid.jsonl")
    if not os.path.isfile(path):
        print(f"plot_fid.py: error: {path} does not exist: train with --fid_every N to record "
              "FID during training.", file=sys.stderr)
        return 2
    try:
        records = read_fid_records(path)
    except ValueError as error:
        print(f"plot_fid.py: error: {error}", file=sys.stderr)
        return 2
    print(plot_fid_curve(records, FLAGS.out, title=FLAGS.title))
    return 0


if __name__ == "__main__":
    app.run(main)
