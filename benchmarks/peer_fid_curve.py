r"""The keras.io peer's FID curve, measured exactly as a ganzoo run's, to put the two side by side.

    KERAS_BACKEND=tensorflow python benchmarks/peer_fid_curve.py --run_dir runs/peer-kerasio \
        --steps 10000 --fid_every 1000
    python training/plot_fid.py --run_dir runs/sndcgan-cpu --peer_run_dir runs/peer-kerasio \
        --out docs/figures/sndcgan-cpu-vs-peer.png

It trains benchmarks/peers/kerasio_gan.py (SNDCGAN, NS loss, Keras' SpectralNormalization, Adam
2e-4 / 0.5 / 0.999, batch 64: the recipe of sndcgan-ns-sn-cifar10) with model.fit on ganzoo's
data pipeline: the same CIFAR10 images in the same order as `ganzoo train --seed` gives a ganzoo
run. Every --fid_every D steps it measures FID as `ganzoo train --fid_every` does
(ganzoo.callbacks.make_fid_fn and measure_fid: --fid_samples generated images, z drawn from
the seed as ganzoo's Generator.sample draws it, against as many --fid_split images chosen by the
same seed) and appends
the record to the run folder's fid.jsonl, so `training/plot_fid.py` draws both curves.

Resumable: every --checkpoint_every D steps (one fit epoch) the peer's weights and both optimisers'
states go to a new file named by the step (peer-00001000.weights.h5), then progress.json, written
atomically, names that file beside the step and the z generator's state, and only then is the
previous state file removed; so a kill between two writes leaves the older pair whole. A rerun
with the same settings goes on from there (a run killed at any moment loses at most that many
steps), and a rerun with other settings is refused. The run folder is locked for the run, as `ganzoo train` locks its own.
"""
import importlib
import json
import os
import pathlib
import re
import sys

from absl import app, flags

HERE = pathlib.Path(__file__).resolve().parent
FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Folder of the peer's run (created; resumed when it exists).")
flags.DEFINE_integer("steps", 10000, "D steps to train in all.")
flags.DEFINE_integer("fid_every", 1000, "FID every N D steps.")
flags.DEFINE_integer("fid_samples", 5000, "Generated and reference images per FID (> 2048).")
flags.DEFINE_string("fid_split", "test", "Split of the data set used as the FID reference.")
flags.DEFINE_integer("checkpoint_every", 250, "Checkpoint every N D steps (divides --fid_every).")
flags.DEFINE_string("dataset", "cifar10", "Training data, as `ganzoo train --dataset`.")
flags.DEFINE_string("data_dir", None, "Folder of the data set, as `ganzoo train --data_dir`.")
flags.DEFINE_integer("seed", 0, "Initial weights, data order, FID sample and reference seed.")
flags.DEFINE_integer("batch_size", 64, "Images per D update.")

PROGRAM = "peer_fid_curve.py"
PROGRESS = "progress.json"
STATE_PATTERN = re.compile(r"peer-(\d{8})\.weights\.h5")  # the state files this script writes


def state_name(d_step):
    return f"peer-{d_step:08d}.weights.h5"


class UsageError(ValueError):
    """Bad flags or a run folder of other settings: one line, exit status 2."""


def _settings():
    return {"peer": "kerasio_tf", "architecture": "sndcgan", "loss": "ns", "lr": 2e-4,
            "beta1": 0.5, "beta2": 0.999, "batch_size": FLAGS.batch_size,
            "dataset": FLAGS.dataset, "seed": FLAGS.seed, "fid_samples": FLAGS.fid_samples,
            "fid_split": FLAGS.fid_split, "checkpoint_every": FLAGS.checkpoint_every}


def _check_flags():
    if not FLAGS.run_dir:
        raise UsageError("--run_dir is required (the peer's run folder).")
    for name in ("steps", "fid_every", "checkpoint_every", "batch_size"):
        if getattr(FLAGS, name) < 1:
            raise UsageError(f"--{name} must be at least 1; got {getattr(FLAGS, name)}.")
    if FLAGS.fid_every % FLAGS.checkpoint_every:
        raise UsageError(f"--checkpoint_every {FLAGS.checkpoint_every} must divide --fid_every "
                         f"{FLAGS.fid_every}: FID is measured at checkpoints.")
    if FLAGS.steps % FLAGS.checkpoint_every:
        raise UsageError(f"--checkpoint_every {FLAGS.checkpoint_every} must divide --steps "
                         f"{FLAGS.steps}: training stops at a checkpoint.")
    if FLAGS.fid_samples <= 2048:
        raise UsageError(f"--fid_samples {FLAGS.fid_samples} is too few: FID fits a 2048x2048 "
                         "covariance; use more than 2048.")


def read_progress(run_dir, settings=None):
    """(D steps already taken, z generator state, state file, the run's settings):
    (0, None, None, None) for a new run; refuses a folder of other settings than `settings`
    (None: any settings), or one whose named state file is missing."""
    path = os.path.join(run_dir, PROGRESS)
    if not os.path.isfile(path):
        return 0, None, None, None
    try:
        with open(path, encoding="utf-8") as handle:
            progress = json.load(handle)
        int(progress["d_step"]), list(progress["seed_state"]), dict(progress["settings"])
        if progress["weights"] != state_name(int(progress["d_step"])):
            raise ValueError(f"weights {progress['weights']!r} is not step {progress['d_step']}'s")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path} is not a peer run's progress file ({error!r}): give another "
                         "--run_dir, or delete that folder to start over.") from None
    if settings is not None and progress["settings"] != settings:
        changed = sorted(k for k in set(settings) | set(progress["settings"])
                         if settings.get(k) != progress["settings"].get(k))
        raise UsageError(f"{run_dir} holds a peer run of other settings ({', '.join(changed)} "
                         "differ): rerun with its settings, or give another --run_dir.")
    state = os.path.join(run_dir, progress["weights"])
    if not os.path.isfile(state):
        raise UsageError(f"{path} names {progress['weights']}, which is not in {run_dir}: the "
                         "state was moved or deleted; restore it, or give another --run_dir.")
    return int(progress["d_step"]), progress["seed_state"], state, progress["settings"]


def build_peer(settings):
    """The keras.io peer GAN of a run's settings, built with both optimisers, ready to take a
    state file's weights (`gan.load_weights(path)`)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from peers import kerasio_gan

    gan = kerasio_gan.build_gan(settings["architecture"], lr=settings["lr"],
                                beta1=settings["beta1"], beta2=settings["beta2"])
    gan.built = True  # a train_step-only model: its sub-models are built (functional)
    gan.d_optimizer.build(gan.discriminator.trainable_variables)
    gan.g_optimizer.build(gan.generator.trainable_variables)
    return gan


class PeerSampler:
    """The peer's generator behind ganzoo's `Generator.sample` (what fid_fn and
    benchmarks/d_logit_scale.py call): z drawn from the seed as ganzoo draws it."""

    def __init__(self, generator):
        self.generator = generator
        self.resolution = int(generator.output_shape[1])

    def sample(self, num, seed=None, batch_size=250, labels=None):
        from ganzoo.architectures.base import sample_noise

        if labels is not None:
            raise ValueError("the keras.io peer is unconditional: it takes no labels.")
        z = sample_noise(num, self.generator.input_shape[-1], seed)
        return self.generator.predict(z, batch_size=batch_size, verbose=0)


def main(argv):
    del argv
    try:
        _check_flags()
        # Refusals and a finished run answer before TensorFlow loads (again under the lock below).
        d_step = read_progress(FLAGS.run_dir, _settings())[0]
        if d_step >= FLAGS.steps:
            print(f"{PROGRAM}: {FLAGS.run_dir} is at D step {d_step}, --steps {FLAGS.steps}: done.")
            return 0
        return _run()
    except UsageError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2


def _run():
    import keras
    import numpy as np

    if keras.backend.backend() != "tensorflow":
        raise UsageError("the keras.io peer is TensorFlow code: set KERAS_BACKEND=tensorflow.")
    from ganzoo import callbacks as gcallbacks
    from ganzoo import data as gdata
    from ganzoo.runlock import RunLock, RunLockedError
    from ganzoo.utils.files import save_weights, write_text

    sys.path.insert(0, str(HERE))
    # Before the import (build_peer's): the peer's module-level initializer takes its seed when
    # it is made.
    keras.utils.set_random_seed(FLAGS.seed)
    importlib.import_module("peers.kerasio_gan")

    run_dir = FLAGS.run_dir
    os.makedirs(run_dir, exist_ok=True)
    lock = RunLock(run_dir)
    try:
        lock.acquire()
    except RunLockedError as error:
        raise UsageError(str(error)) from None
    try:
        settings = _settings()
        d_step, seed_state, state, _ = read_progress(run_dir, settings)
        if d_step >= FLAGS.steps:
            print(f"{PROGRAM}: {run_dir} is at D step {d_step}, --steps {FLAGS.steps}: done.")
            return 0

        gan = build_peer(settings)
        if d_step:
            gan.load_weights(state)
            gan.seed_generator.state.assign(np.asarray(seed_state, dtype="int64")
                                            .astype(gan.seed_generator.state.dtype))
            print(f"{PROGRAM}: resuming {run_dir} at D step {d_step}.")

        dataset, _ = gdata.load(settings["dataset"], settings["batch_size"],
                                data_dir=FLAGS.data_dir, seed=settings["seed"], start_step=d_step,
                                resolution=32, labels=False)
        reference = gdata.take_images(
            gdata.load_source(settings["dataset"], split=FLAGS.fid_split, data_dir=FLAGS.data_dir,
                              synthetic_resolution=32),
            FLAGS.fid_samples, seed=settings["seed"])
        fid_fn, reason = gcallbacks.make_fid_fn(
            reference, FLAGS.fid_samples, seed=settings["seed"],
            cache_path=os.path.join(run_dir, "fid_reference.npz"),
            cache_key=gcallbacks.fid_reference_key(settings["dataset"], FLAGS.fid_split,
                                                   FLAGS.fid_samples, settings["seed"], 32))
        if fid_fn is None:
            raise UsageError(f"no FID: {reason}.")
        protocol = {"generated": FLAGS.fid_samples, "reference": FLAGS.fid_samples,
                    "dataset": settings["dataset"], "reference_split": FLAGS.fid_split,
                    "sample_seed": settings["seed"], "peer": settings["peer"]}
        record_path = os.path.join(run_dir, "fid.jsonl")
        sampler = PeerSampler(gan.generator)

        def measure_if_due(step):
            measured = set()
            if os.path.isfile(record_path):
                from ganzoo.figures import read_fid_records
                measured = {r["d_step"] for r in read_fid_records(record_path)}
            if step % FLAGS.fid_every == 0 and step not in measured:
                gcallbacks.measure_fid(sampler, fid_fn, step, record_path, protocol)

        class Checkpoint(keras.callbacks.Callback):
            """The new state file, then the progress file naming it, then the old state files
            removed, then FID: a kill between any two leaves a whole state to resume from (and
            measures again on resume)."""

            def on_epoch_end(self, epoch, logs=None):
                step = (epoch + 1) * FLAGS.checkpoint_every
                save_weights(gan, os.path.join(run_dir, state_name(step)), what="peer state")
                write_text(os.path.join(run_dir, PROGRESS), json.dumps({
                    "d_step": step, "weights": state_name(step), "settings": settings,
                    "seed_state": [int(v) for v in np.asarray(gan.seed_generator.state)],
                    "logs": {k: float(v) for k, v in (logs or {}).items()}}, indent=1))
                for name in os.listdir(run_dir):  # only this script's own older state files
                    if STATE_PATTERN.fullmatch(name) and name != state_name(step):
                        os.remove(os.path.join(run_dir, name))
                measure_if_due(step)

        if d_step:
            measure_if_due(d_step)
        every = FLAGS.checkpoint_every  # one fit epoch per checkpoint
        gan.fit(dataset, epochs=FLAGS.steps // every, initial_epoch=d_step // every,
                steps_per_epoch=every, callbacks=[Checkpoint()], verbose=2)
        return 0
    finally:
        lock.release()


if __name__ == "__main__":
    app.run(main)
