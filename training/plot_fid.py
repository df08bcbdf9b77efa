r"""Plot a training run's FID curve (fid.jsonl, written by train.py --fid_every) as a PNG.

    python training/plot_fid.py --run_dir runs/sndcgan --out docs/figures/fid_curve.png
    python training/plot_fid.py --run_dir runs/sndcgan --label ganzoo \
        --peer_run_dir runs/peer-kerasio --peer_label "keras.io peer (TF)" \
        --out docs/figures/fid_vs_peer.png

--peer_run_dir: a run measured the same way (benchmarks/peer_fid_curve.py writes one), drawn dashed.
Either flag also takes a fid.jsonl file itself: the records of a run whose folder is gone
(docs/figures/data/ keeps those of the figures in docs/).
"""
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Training run folder holding fid.jsonl, or such a file.")
flags.DEFINE_string("out", "fid_curve.png", "Output PNG.")
flags.DEFINE_string("title", None, "Figure title (default: the FID protocol).")
flags.DEFINE_string("peer_run_dir", None, "Another run folder with a fid.jsonl (or the file), "
                    "drawn dashed.")
flags.DEFINE_string("label", None, "The legend's name of --run_dir's run (default: its curves "
                    "are named by generator alone).")
flags.DEFINE_string("peer_label", "peer", "The legend's name of --peer_run_dir's curve.")


def main(argv):
    del argv
    import os

    from ganzoo.figures import plot_fid_curve, read_fid_records

    if not FLAGS.run_dir:
        print("plot_fid.py: error: --run_dir is required (a train.py run folder or its fid.jsonl).", file=sys.stderr)
        return 2
    runs = [FLAGS.run_dir] + ([FLAGS.peer_run_dir] if FLAGS.peer_run_dir else [])
    loaded = []
    for run_dir in runs:
        path = run_dir if os.path.isfile(run_dir) else os.path.join(run_dir, "fid.jsonl")
        if not os.path.isfile(path):
            print(f"plot_fid.py: error: {path} does not exist: train with --fid_every N to record "
                  "FID during training.", file=sys.stderr)
            return 2
        try:
            loaded.append(read_fid_records(path))
        except ValueError as error:
            print(f"plot_fid.py: error: {error}", file=sys.stderr)
            return 2
    references = []
    if FLAGS.peer_run_dir:
        references.append((FLAGS.peer_label, [(r["d_step"], r["fid"]) for r in loaded[1]]))
    print(plot_fid_curve(loaded[0], FLAGS.out, title=FLAGS.title, references=references,
                         label=FLAGS.label))
    return 0


if __name__ == "__main__":
    app.run(main)
