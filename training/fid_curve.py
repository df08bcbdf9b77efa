r"""FID of a training run's kept checkpoints, after the fact: the FID curve without slowing training.

    python training/fid_curve.py --run_dir runs/sndcgan --every 1000 --samples 5000
    python training/plot_fid.py --run_dir runs/sndcgan --out fid_curve.png

For each checkpoint at a multiple of --every D steps that fid.jsonl does not hold yet, the GAN is
restored and its inference generator (and, with an EMA, its raw generator) measured exactly as
train.py --fid_every does during training (ganzoo.callbacks.measure_fid): --samples generated
images against as many images of the --split split, the reference statistics cached in the run
folder. Lines go to the run's fid.jsonl. Safe to run beside a training run on the same folder.
"""
import os
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "train.py run folder (checkpoints/ and config.json).")
flags.DEFINE_integer("every", 1000, "Measure checkpoints at multiples of this many D steps.")
flags.DEFINE_integer("samples", 5000, "Generated and reference images per FID.")
flags.DEFINE_string("split", "test", "Split of the run's data set used as the FID reference.")
flags.DEFINE_string("data_dir", None, "Folder of the data set (as train.py --data_dir).")


def main(argv):
    del argv
    if not FLAGS.run_dir or not os.path.isdir(os.path.join(FLAGS.run_dir, "checkpoints")):
        print(f"fid_curve.py: error: --run_dir {FLAGS.run_dir!r} is not a train.py run folder "
              "(it has no checkpoints/).", file=sys.stderr)
        return 2
    if FLAGS.every < 1 or FLAGS.samples < 2:
        print("fid_curve.py: error: --every must be >= 1 and --samples >= 2.", file=sys.stderr)
        return 2

    import ganzoo
    from ganzoo import callbacks, training
    from ganzoo.checkpoint import CheckpointManager, read_metadata

    record_path = os.path.join(FLAGS.run_dir, "fid.jsonl")
    done = callbacks.recorded_fid_steps(record_path)
    manager = CheckpointManager(os.path.join(FLAGS.run_dir, "checkpoints"), keep=10**9)
    todo = [(step, path) for step, path in manager.checkpoints()
            if step % FLAGS.every == 0 and step not in done]
    if not todo:
        print(f"fid_curve.py: nothing to measure (every checkpoint at a multiple of {FLAGS.every} "
              "D steps is in fid.jsonl already).")
        return 0

    fid_fn = None
    for step, path in todo:
        metadata = read_metadata(path)
        hyper, seed = dict(metadata["hyper"]), metadata.get("seed", 0)
        if fid_fn is None:
            fit = (hyper["resolution"], metadata.get("resize", False),
                   metadata.get("crop_or_pad", False))

            def reference():
                return training.fid_reference(metadata["dataset"], FLAGS.split, FLAGS.samples,
                                              seed, *fit, data_dir=FLAGS.data_dir)

            fid_fn, reason = callbacks.make_fid_fn(
                reference, FLAGS.samples, seed=seed,
                cache_path=os.path.join(FLAGS.run_dir, "fid_reference.npz"),
                cache_key=training.fid_reference_key(metadata["dataset"], FLAGS.split,
                                                     FLAGS.samples, seed, *fit))
            if fid_fn is None:
                print(f"fid_curve.py: error: {reason}.", file=sys.stderr)
                return 2
            protocol = {"generated": FLAGS.samples, "reference": FLAGS.samples,
                        "reference_split": FLAGS.split, "dataset": metadata["dataset"],
                        "measured": "after training, from the checkpoint"}
        gan = ganzoo.build_gan(**hyper, seed=seed)
        manager.restore(gan, path)
        callbacks.measure_fid(gan, fid_fn, step, record_path, protocol)
    return 0


if __name__ == "__main__":
    app.run(main)
