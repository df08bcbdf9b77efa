"""Run a few GAN steps on the current Keras backend from saved weights and fixed data/noise.

Used by test_cross_backend.py: the test runs this once in its own process on the other
backend and compares the losses and weights with the in-process run.

    KERAS_BACKEND=jax python tests/cross_backend_steps.py INIT.weights.h5 DATA.npz OUT.npz
"""
import sys

import numpy as np

CONFIG = dict(
    architecture="sndcgan", resolution=8, normalization="spectral", loss="ns",
    penalty="wgan_gp", penalty_weight=1.0, disc_iters=2, ema_decay=0.9, seed=0,
)


def build():
    import ganzoo

    return ganzoo.build_gan(**CONFIG)


def flat_weights(gan):
    return {
        "generator": np.concatenate([np.ravel(w) for w in gan.generator.get_weights()]),
        "discriminator": np.concatenate([np.ravel(w) for w in gan.discriminator.get_weights()]),
        "ema": np.concatenate([np.ravel(w) for w in gan.ema_generator.get_weights()]),
    }


def run_steps(gan, data):
    losses = []
    # No z is fed: the step draws z and the WGAN-GP interpolation from ganzoo.random, which
    # gives the same numbers on every backend from the noise state saved with the weights.
    for images in data["images"]:
        logs = gan.train_on_batch(images, return_dict=True)
        losses.append([logs["d_loss"], logs["g_loss"], logs["penalty"]])
    return dict(flat_weights(gan), losses=np.array(losses))


def main(init_path, data_path, out_path):
    gan = build()
    gan.load_weights(init_path)
    np.savez(out_path, **run_steps(gan, dict(np.load(data_path))))


if __name__ == "__main__":
    main(*sys.argv[1:4])
