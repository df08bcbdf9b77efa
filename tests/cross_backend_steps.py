"""Build a GAN from a seed and run a few steps on the current Keras backend.

Used by test_cross_backend.py: the test runs this in its own process on the other backend and
compares initial weights, losses and trained weights with its in-process run, and loads the
weights it saved to check that they give the same samples here.

    KERAS_BACKEND=jax python tests/cross_backend_steps.py DATA.npz OUT.npz [OTHER.weights.h5 [conditional]]

"conditional" runs CONDITIONAL (test_conditional_cross_backend.py): DATA.npz then holds labels too.
"""
import sys

import numpy as np

CONFIG = dict(
    architecture="sndcgan", resolution=8, normalization="spectral", loss="ns",
    penalty="wgan_gp", penalty_weight=1.0, disc_iters=2, ema_decay=0.9, seed=0,
)

# A class-conditional model: CBN in G, projection D, fake classes drawn from ganzoo.random.
CONDITIONAL = dict(CONFIG, num_classes=3)


def build(config=None):
    import ganzoo

    return ganzoo.build_gan(**(config or CONFIG))


def flat_weights(gan, prefix=""):
    return {
        prefix + "generator": np.concatenate([np.ravel(w) for w in gan.generator.get_weights()]),
        prefix + "discriminator": np.concatenate([np.ravel(w) for w in gan.discriminator.get_weights()]),
        prefix + "ema": np.concatenate([np.ravel(w) for w in gan.ema_generator.get_weights()]),
    }


def run_steps(gan, data):
    # No z is fed: the step draws z and the WGAN-GP interpolation from ganzoo.random, which
    # gives the same numbers on every backend for the same seed.
    losses = []
    labels = data.get("labels", [None] * len(data["images"]))
    for images, batch_labels in zip(data["images"], labels):
        logs = gan.train_on_batch(images, batch_labels, return_dict=True)
        losses.append([logs["d_loss"], logs["g_loss"], logs["penalty"]])
    return dict(flat_weights(gan), losses=np.array(losses))


def main(data_path, out_path, other_weights=None, which=None):
    config = CONDITIONAL if which == "conditional" else CONFIG
    gan = build(config)  # from the seed alone: the initial weights must not depend on the backend
    out = flat_weights(gan, prefix="initial_")
    out.update(run_steps(gan, dict(np.load(data_path))))
    if other_weights:
        other = build(config)
        other.load_weights(other_weights)
        labels = {"labels": [0, 1, 2, 1]} if which == "conditional" else {}
        out["other_samples"] = other.generate(4, seed=1, **labels)
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
