r"""How far apart a discriminator scores real test images and its own generator's samples.

    python benchmarks/d_logit_scale.py runs/sndcgan-cpu-tf                 # its newest checkpoint
    python benchmarks/d_logit_scale.py runs/sndcgan-cpu-tf --checkpoint ckpt-000002000.weights.h5
    python benchmarks/d_logit_scale.py sndcgan-ns-sn-cifar10               # a zoo model or preset
    python benchmarks/d_logit_scale.py runs/peer-kerasio --checkpoint peer-00003000.weights.h5

The losses a run logs are averages; this shows what is behind them. For each source it prints the
logits of `--num` real images (the data set's test split, the same seeded subset every time) and of
as many samples of the raw generator: their mean and std, the non-saturating D loss on them
(softplus(-real) + softplus(fake), 2 ln 2 = 1.386 when every logit is 0), and the AUC, the chance
that a real image scores above a fake one (0.5: D cannot tell them apart). Both networks run in
inference mode (G's batch norm with its moving statistics), as in sampling.

`--train_d_steps N` then trains D alone for N steps of the model's own training step with G frozen
(G's learning rate 0) on the training split, and measures again: whether D can still tell G's
samples from real images when G does not answer. A D that separates them within a few dozen steps
is not stuck; a loss near 1.386 during training then means G follows D's every move.

A run folder of benchmarks/peer_fid_curve.py (the keras.io peer, TensorFlow only) is measured the
same way, at its newest state or at `--checkpoint` (a peer-XXXXXXXX.weights.h5 file), so that the
peer's D and a ganzoo run's can be compared at equal steps.

A discriminator under the paper's spectral norm starts with logits of order 0.01 (each normalised
layer scales a typical input down), so the loss sits near 1.386 until D learns to pass its input
through; benchmarks/sn_kernel_scale.py shows the kernels' side of it.
"""
import argparse
import json
import os
import sys

import numpy as np

PROGRAM = "d_logit_scale.py"


def softplus(x):
    return np.logaddexp(0.0, x)


def logit_summary(real, fake):
    """Mean and std of each side, the NS D loss and the AUC (ties count half) of two logit arrays."""
    real, fake = np.asarray(real, np.float64).ravel(), np.asarray(fake, np.float64).ravel()
    from scipy.stats import rankdata

    # AUC = P(real > fake) + P(real == fake) / 2: the Mann-Whitney U of the pooled ranks.
    ranks = rankdata(np.concatenate([real, fake]))  # ties get their average rank
    auc = (ranks[: len(real)].sum() - len(real) * (len(real) + 1) / 2.0) / (len(real) * len(fake))
    return {"real_mean": real.mean(), "real_std": real.std(), "fake_mean": fake.mean(),
            "fake_std": fake.std(), "d_loss": softplus(-real).mean() + softplus(fake).mean(),
            "auc": auc}


def _run_gan(run_dir, checkpoint):
    """(GAN, data set name, label) of a ganzoo train run folder at one of its checkpoints."""
    import ganzoo
    from ganzoo.checkpoint import CheckpointManager

    config_path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(config_path):
        raise SystemExit(f"{PROGRAM}: {run_dir} has no config.json: give a folder `ganzoo train "
                         "--model_dir` wrote, or a zoo name or preset folder.")
    with open(config_path) as handle:
        config = json.load(handle)
    manager = CheckpointManager(os.path.join(run_dir, "checkpoints"))
    path = None if checkpoint is None else (
        checkpoint if os.path.isabs(checkpoint) or os.path.exists(checkpoint)
        else os.path.join(run_dir, "checkpoints", checkpoint))
    if path is not None and not os.path.isfile(path):
        raise SystemExit(f"{PROGRAM}: no checkpoint {path}; list {run_dir}/checkpoints for the names.")
    if path is None and not manager.checkpoints():
        raise SystemExit(f"{PROGRAM}: {run_dir}/checkpoints holds no checkpoint yet.")
    gan = ganzoo.build_gan(config["training"], seed=config.get("seed", 0))
    manager.restore(gan, path)  # a file that fails its checksum or does not load is refused
    label = f"{run_dir} at D step {gan.d_steps} ({os.path.basename(manager.restored_path)})"
    return gan, config.get("dataset", "cifar10"), label


class _PeerModels:
    """The keras.io peer's two networks as `measure` reads a ganzoo GAN: an unconditional D, and
    G behind ganzoo's `sample`."""

    num_classes = 0

    def __init__(self, gan, sampler):
        self.discriminator = gan.discriminator
        self.generator = sampler


def _peer_gan(run_dir, checkpoint):
    """(the peer's models, data set name, label) of a benchmarks/peer_fid_curve.py run folder at
    its newest state or at `checkpoint` (a state file, in the folder or a path)."""
    import keras

    import peer_fid_curve

    if keras.backend.backend() != "tensorflow":
        raise SystemExit(f"{PROGRAM}: {run_dir} is a keras.io peer run, which is TensorFlow code: "
                         "set KERAS_BACKEND=tensorflow.")
    try:
        d_step, _, path, settings = peer_fid_curve.read_progress(run_dir)
    except peer_fid_curve.UsageError as error:
        raise SystemExit(f"{PROGRAM}: {error}") from None
    if checkpoint is not None:
        path = checkpoint if os.path.exists(checkpoint) else os.path.join(run_dir, checkpoint)
        match = peer_fid_curve.STATE_PATTERN.fullmatch(os.path.basename(path))
        if not os.path.isfile(path) or not match:
            raise SystemExit(f"{PROGRAM}: no peer state {path}: give a peer-XXXXXXXX.weights.h5 "
                             f"file that benchmarks/peer_fid_curve.py wrote for {run_dir}.")
        d_step = int(match.group(1))
    gan = peer_fid_curve.build_peer(settings)
    try:
        gan.load_weights(path)
    except (OSError, ValueError) as error:
        raise SystemExit(f"{PROGRAM}: {path} is not a state of this peer run ({error}).") from None
    label = f"{run_dir} (keras.io peer) at D step {d_step} ({os.path.basename(path)})"
    return _PeerModels(gan, peer_fid_curve.PeerSampler(gan.generator)), settings["dataset"], label


def _zoo_gan(spec):
    import ganzoo

    from ganzoo.zoo.hub import ZooError

    try:
        gan = ganzoo.load(spec, with_discriminator=True)
    except (ValueError, ZooError) as error:  # an unknown name, or a folder that is no preset
        raise SystemExit(f"{PROGRAM}: {spec} is neither a run folder (config.json and "
                         f"checkpoints/) nor a zoo model: {error}") from None
    return gan, gan.preset_info.dataset, f"{spec} at D step {gan.preset_info.d_steps}"


def measure(gan, dataset, num, seed=0, data_dir=None, batch_size=128):
    """logit_summary of `num` real test images against `num` raw-generator samples (a conditional
    model's samples take the real images' classes, and D scores each image with its class)."""
    from ganzoo.data.pipeline import take_images
    from ganzoo.data.sources import load_source

    resolution = gan.generator.resolution
    source = load_source(dataset, split="test", data_dir=data_dir, synthetic_resolution=resolution)
    if source.image_shape is None or tuple(source.image_shape[:2]) != (resolution, resolution):
        raise SystemExit(f"{PROGRAM}: the {dataset} test images are {source.image_shape} and the "
                         f"model's are {resolution}x{resolution}; this tool reads images at their "
                         "own size: give a data set of the model's resolution.")
    if gan.num_classes:
        real, labels = take_images(source, num, seed=seed, with_labels=True)
    else:
        real, labels = take_images(source, num, seed=seed), None
    fake = gan.generator.sample(len(real), seed=seed, batch_size=batch_size, labels=labels)

    def logits(images):
        return np.concatenate([
            np.asarray(gan.discriminator(
                images[i:i + batch_size], training=False,
                **({} if labels is None else {"labels": labels[i:i + batch_size]})))
            for i in range(0, len(images), batch_size)])

    return logit_summary(logits(real), logits(fake))


def train_discriminator_alone(gan, dataset, steps, batch_size, seed=0, data_dir=None):
    """`steps` D steps of the GAN's own step with G frozen (its optimiser's learning rate 0; its
    batch-norm statistics still move, as in any training step); returns the mean D loss logged."""
    from ganzoo.data.pipeline import load

    resolution = gan.generator.resolution
    pipeline, _ = load(dataset, batch_size, gan.disc_iters, split="train", data_dir=data_dir,
                       seed=seed, resolution=resolution, labels=bool(gan.num_classes))
    gan.generator_optimizer.learning_rate.assign(0.0)
    history = gan.fit(pipeline, steps_per_epoch=max(1, steps // gan.disc_iters), epochs=1, verbose=0,
                      shuffle=False)
    return float(history.history["d_loss"][-1])


def _print_row(label, row):
    print(f"{label[-80:]:80s} {row['real_mean']:+7.3f} ± {row['real_std']:6.3f} "
          f"{row['fake_mean']:+7.3f} ± {row['fake_std']:6.3f} {row['d_loss']:9.3f} {row['auc']:6.3f}",
          flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="+", help="a ganzoo train run folder, a zoo name, a preset folder "
                        "or a benchmarks/peer_fid_curve.py run folder")
    parser.add_argument("--checkpoint", help="a run folder's checkpoint file, or a peer run's state file "
                        "(default: its newest)")
    parser.add_argument("--num", type=int, default=512, help="real images and samples (each)")
    parser.add_argument("--seed", type=int, default=0, help="the real subset's and the samples' seed")
    parser.add_argument("--data_dir", help="where the data set's files are (default: ganzoo's)")
    parser.add_argument("--train_d_steps", type=int, default=0,
                        help="then train D alone this many steps (G frozen) and measure again")
    parser.add_argument("--batch_size", type=int, default=64, help="batch of --train_d_steps")
    args = parser.parse_args(argv)
    if args.num < 2:
        parser.error(f"--num must be 2 or more; got {args.num}.")
    if args.seed < 0:
        parser.error(f"--seed must be non-negative; got {args.seed}.")
    if args.train_d_steps < 0 or args.batch_size < 1:
        parser.error("--train_d_steps must be 0 or more and --batch_size 1 or more; got "
                     f"{args.train_d_steps} and {args.batch_size}.")
    print(f"{'source':80s} {'real logits':>16s} {'fake logits':>16s} {'NS d_loss':>9s} {'AUC':>6s}")
    for source in args.source:
        is_run = os.path.isfile(os.path.join(source, "config.json")) and os.path.isdir(
            os.path.join(source, "checkpoints"))
        is_peer = os.path.isfile(os.path.join(source, "progress.json"))
        if args.checkpoint and not (is_run or is_peer):
            parser.error(f"--checkpoint needs a run folder; {source} is not one.")
        if is_peer and args.train_d_steps:
            parser.error(f"--train_d_steps trains a ganzoo model's D; {source} is a keras.io "
                         "peer run.")
        if is_run:
            gan, dataset, label = _run_gan(source, args.checkpoint)
        elif is_peer:
            gan, dataset, label = _peer_gan(source, args.checkpoint)
        else:
            gan, dataset, label = _zoo_gan(source)
        _print_row(label, measure(gan, dataset, args.num, seed=args.seed, data_dir=args.data_dir))
        if args.train_d_steps:
            train_discriminator_alone(gan, dataset, args.train_d_steps, args.batch_size,
                                      seed=args.seed, data_dir=args.data_dir)
            _print_row(f"  then {args.train_d_steps} steps of D alone",
                       measure(gan, dataset, args.num, seed=args.seed, data_dir=args.data_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
