"""Where a TensorFlow training step's time goes: tf.profiler over a few fit() steps, by op type.

    KERAS_BACKEND=tensorflow python benchmarks/profile_tf_step.py --peer ganzoo_tf
    KERAS_BACKEND=tensorflow python benchmarks/profile_tf_step.py --peer kerasio_tf --steps 3

Builds the peer as benchmarks/train_step.py does (same model, data, warm-up), records `--steps`
fit() steps with tf.profiler, reads the trace (XSpace protobuf, no TensorBoard needed) and prints
the time of the executed TensorFlow ops per step, grouped by op type, with the share taken by
convolutions. Op times are summed over threads: ops that run concurrently both count, and on a
loaded machine every op's time stretches alike, so read the shares, not the absolute numbers.
"""
import argparse
import collections
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_step  # noqa: E402  (the benchmark's builders and arguments)


def op_times(logdir):
    """{op type: total ms} over every TF op event in the trace under logdir."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise RuntimeError(f"tf.profiler wrote no trace under {logdir}")
    space = xplane_pb2.XSpace()
    with open(paths[0], "rb") as f:
        space.ParseFromString(f.read())
    totals, counts = collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # TF op events are named "op_name:OpType"; executor and function events are not.
                if "/" not in name or ":" not in name:
                    continue
                op_type = name.rsplit(":", 1)[1]
                totals[op_type] += event.duration_ps / 1e9
                counts[op_type] += 1
    return totals, counts


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Every other flag (--architecture, --batch_size, --warmup, --steps, ...) is "
               "benchmarks/train_step.py's: see its --help.")
    parser.add_argument("--peer", choices=("ganzoo_tf", "kerasio_tf"), default="ganzoo_tf")
    parser.add_argument("--top", type=int, default=15, help="op types to list")
    own, rest = parser.parse_known_args(argv)
    # The rest (--architecture, --batch_size, --warmup, --steps, ...) as in train_step.py.
    args = train_step.parse_args(rest + ["--peer", own.peer])
    args.top = own.top
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.path.insert(0, train_step.REPO)
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("set KERAS_BACKEND=tensorflow")
    runner, _ = train_step.BUILDERS[args.peer](args)
    runner.run(args.warmup)
    logdir = tempfile.mkdtemp(prefix="ganzoo_tf_profile_")
    tf.profiler.experimental.start(logdir)
    start, cpu_start = time.perf_counter(), time.process_time()
    runner.run(args.steps)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    tf.profiler.experimental.stop()
    totals, counts = op_times(logdir)
    steps = args.steps
    total = sum(totals.values())
    conv = sum(v for k, v in totals.items() if "Conv2D" in k)
    print(f"{args.peer}, {args.architecture}, batch {args.batch_size}: {1000 * wall / steps:.0f} ms "
          f"wall and {1000 * cpu / steps:.0f} ms CPU per step over {steps} profiled steps")
    print(f"TF op time per step (summed over threads): {total / steps:.0f} ms, of which "
          f"convolutions {conv / steps:.0f} ms ({100 * conv / total:.1f}%)")
    print(f"{'op type':<42} {'ms/step':>9} {'share':>7} {'ops/step':>9}")
    for op_type, ms in totals.most_common(args.top):
        print(f"{op_type:<42} {ms / steps:>9.1f} {100 * ms / total:>6.1f}% "
              f"{counts[op_type] / steps:>9.0f}")
    print(f"(trace in {logdir})")


if __name__ == "__main__":
    sys.exit(main())
