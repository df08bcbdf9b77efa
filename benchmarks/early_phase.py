r"""Which difference between ganzoo's step and the keras.io peer's makes ganzoo's early phase slow.

    KERAS_BACKEND=tensorflow python benchmarks/early_phase.py --steps 250 \
        --variants paper,fresh_z,paper_sigma1,peer_reused_z,peer
    KERAS_BACKEND=tensorflow python benchmarks/early_phase.py --steps 250 \
        --variants paper,stop_sigma,projected,projected_stop_sigma

On CIFAR10 with the recipe of sndcgan-ns-sn-cifar10, ganzoo's step (the paper's) logs a D loss of
1.37-1.39 (2 ln 2 = 1.386: D's logits near 0) for its first thousands of steps, where the peer's
is about 1.07 over its first 250 steps. The two differ in two ways (benchmarks/peers/kerasio_gan.py):

  spectral norm   the paper's keeps the raw kernel W, computes with W / sigma(W) and differentiates
                  through sigma; Keras' SpectralNormalization writes W / sigma back into the
                  kernel on each training call and differentiates the normalised kernel alone.
  G's z           the paper's G update reuses the z of the D update it follows; the peer draws a
                  fresh one.

Each variant trains from its seed on the same CIFAR10 batches in the same order (ganzoo's data
pipeline) for --steps D steps, and the script prints its mean D and G loss in windows of --window
steps, then, at the end, its D's logits on --num real test images and as many of its G's samples
(benchmarks/d_logit_scale.py: mean, NS loss, AUC), and of its spectral-norm kernels
(benchmarks/sn_kernel_scale.py) the range of sigma_2 / sigma_1 and of Adam's step relative to the
kernel, lr / rms, as a multiple of its value at the paper's initialisation (lr / 0.02):

  paper           ganzoo.build_gan of the zoo recipe: the paper's step
  fresh_z         the same with resample_generator_z=True: the peer's z, the paper's spectral norm
  paper_sigma1    the paper's step from D's kernels divided by their sigma: the same function
                  (W / sigma does not change), at the scale Keras' spectral norm gives the peer's
                  kernels on its first call, so that Adam's steps (about lr a weight) are as large
                  relative to each kernel as the peer's are
  peer_reused_z   the peer with G reusing the D update's z: Keras' spectral norm, the paper's z
  peer            the keras.io peer as benchmarks/peer_fid_curve.py trains it

and the two halves of Keras' spectral norm, one at a time and together, on the paper's step (its
z, its data, its weights):

  stop_sigma      W / sigma(W) with no gradient through sigma: each kernel's gradient is
                  G / sigma (G: the gradient with respect to W / sigma), without the paper's
                  term -(<G, W / sigma> / sigma) u v^T along its top singular pair
  projected       after each step, every spectral-norm kernel is divided by its sigma (one power
                  iteration from its u, as Keras' layer does at its next training call), so the
                  stored kernels stay at sigma 1 and Adam's steps grow relative to them
  projected_stop_sigma   both: Keras' spectral norm on ganzoo's step

The peer variants need KERAS_BACKEND=tensorflow.
"""
import argparse
import contextlib
import os
import sys
import tempfile
import time

import numpy as np


HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ("paper", "fresh_z", "paper_sigma1", "peer_reused_z", "peer", "stop_sigma",
            "projected", "projected_stop_sigma")
CONFIG = "sndcgan-ns-sn-cifar10"


def _ganzoo(seed, resample_generator_z):
    import ganzoo
    from ganzoo.recipe import Recipe
    from ganzoo.zoo import manifest

    recipe = Recipe.from_dict(manifest.training_config(CONFIG))
    return ganzoo.build_gan(recipe, seed=seed, resample_generator_z=resample_generator_z)


def _peer(seed, reuse_z):
    import keras

    keras.utils.set_random_seed(seed)
    sys.path.insert(0, HERE)
    import peer_fid_curve
    from peers import kerasio_gan

    settings = {"architecture": "sndcgan", "lr": 2e-4, "beta1": 0.5, "beta2": 0.999}
    if not reuse_z:
        return peer_fid_curve.build_peer(settings)

    class PeerReusingZ(kerasio_gan.GAN):
        """The peer's step with one z per step: the D update's fakes and the G update's."""

        def _latent(self, batch_size):
            return self._step_z

        def train_step(self, real_images):
            self._step_z = kerasio_gan.GAN._latent(self, keras.ops.shape(real_images)[0])
            return super().train_step(real_images)

    original = kerasio_gan.GAN
    kerasio_gan.GAN = PeerReusingZ  # build_gan builds kerasio_gan.GAN
    try:
        return peer_fid_curve.build_peer(settings)
    finally:
        kerasio_gan.GAN = original


def _spectral_norm_layers(discriminator):
    from ganzoo.layers.spectral_norm import SpectralNormalization

    return [layer for layer in discriminator._flatten_layers(include_self=False)
            if isinstance(layer, SpectralNormalization)]


def scale_kernels_to_sigma_one(discriminator):
    """Divide each spectral-norm kernel of a ganzoo D by its largest singular value (NumPy's
    SVD). D computes the same function (it divides by sigma itself); what changes is the size of
    the stored kernel that Adam steps on. Returns the sigmas divided by."""
    from ganzoo.layers.spectral_norm import kernel_as_matrix

    sigmas = []
    for layer in _spectral_norm_layers(discriminator):
        kernel = layer.layer.kernel
        matrix = np.asarray(kernel_as_matrix(np.asarray(kernel), layer.layer))
        sigma = float(np.linalg.svd(matrix.astype(np.float64), compute_uv=False)[0])
        kernel.assign(np.asarray(kernel) / sigma)
        sigmas.append(sigma)
    return sigmas


@contextlib.contextmanager
def sigma_without_gradient():
    """While open, ganzoo's spectral norm divides by sigma with its gradient stopped (the models
    traced meanwhile keep it): the gradient Keras' layer gives its kernel, up to the factor
    1 / sigma, which Adam's step does not see."""
    from keras import ops

    from ganzoo.layers import spectral_norm

    original = spectral_norm.power_iteration

    def stopped(matrix, u, epsilon=1e-12):
        sigma, u = original(matrix, u, epsilon)
        return ops.stop_gradient(sigma), u

    spectral_norm.power_iteration = stopped
    try:
        yield
    finally:
        spectral_norm.power_iteration = original


def project_kernels(discriminator):
    """Divide each spectral-norm kernel by sigma estimated with one power iteration from its u (u
    itself is left as it is: it moves on training calls alone). Returns the sigmas divided by."""
    from keras import ops

    from ganzoo.layers.spectral_norm import kernel_as_matrix, power_iteration

    sigmas = []
    for layer in _spectral_norm_layers(discriminator):
        kernel = layer.layer.kernel
        sigma, _ = power_iteration(kernel_as_matrix(kernel, layer.layer),
                                   ops.cast(layer.u, kernel.dtype), layer.epsilon)
        kernel.assign(kernel / sigma)
        sigmas.append(float(sigma))
    return sigmas


def _projecting_callback():
    import keras

    class ProjectKernels(keras.callbacks.Callback):
        """After each D step: the kernels Keras' spectral norm would hold at its next call."""

        def on_train_batch_end(self, batch, logs=None):
            project_kernels(self.model.discriminator)  # self.model brings JAX's state back first

    return ProjectKernels()


def build(variant, seed):
    """(model to fit, measurable models for d_logit_scale.measure, D to save for its kernels)."""
    if not variant.startswith("peer"):  # ganzoo's step (main() refuses the peer off TensorFlow)
        gan = _ganzoo(seed, resample_generator_z=variant == "fresh_z")
        if variant == "paper_sigma1":
            scale_kernels_to_sigma_one(gan.discriminator)
        return gan, gan, gan.discriminator
    import d_logit_scale
    import peer_fid_curve

    gan = _peer(seed, reuse_z=variant == "peer_reused_z")
    return gan, d_logit_scale._PeerModels(gan, peer_fid_curve.PeerSampler(gan.generator)), \
        gan.discriminator


def run_variant(variant, steps, window, seed, num, dataset="cifar10"):
    import keras

    import d_logit_scale
    import sn_kernel_scale
    from ganzoo import data as gdata

    model, measurable, discriminator = build(variant, seed)
    pipeline, _ = gdata.load(dataset, 64, seed=seed, resolution=32, labels=False)
    callbacks = [_projecting_callback()] if variant.startswith("projected") else []
    stop_sigma = variant.endswith("stop_sigma")
    start = time.perf_counter()
    with sigma_without_gradient() if stop_sigma else contextlib.nullcontext():
        history = model.fit(pipeline, epochs=steps // window, steps_per_epoch=window, verbose=0,
                            callbacks=callbacks)
    seconds = time.perf_counter() - start
    row = d_logit_scale.measure(measurable, dataset, num, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "d.weights.h5")
        discriminator.save_weights(path)
        kernels = [matrix for _, matrix in sn_kernel_scale.wrapped_kernels(path)]
    scales = [sn_kernel_scale.kernel_scale(matrix, 2e-4) for matrix in kernels]
    # Adam's step relative to each kernel now, as a multiple of the paper's initial one (lr / 0.02).
    steps_vs_init = [scale["relative_step"] * sn_kernel_scale.INIT_STD / 2e-4 for scale in scales]
    keras.backend.clear_session()
    return {"d_loss": history.history["d_loss"], "g_loss": history.history["g_loss"],
            "seconds": seconds, "logits": row, "steps_vs_init": steps_vs_init,
            "gaps": [scale["gap"] for scale in scales if scale["gap"] is not None]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--steps", type=int, default=250, help="D steps per variant")
    parser.add_argument("--window", type=int, default=50, help="D steps per printed loss mean")
    parser.add_argument("--seed", type=int, default=0, help="weights, data order and z seed")
    parser.add_argument("--num", type=int, default=512, help="real images and samples scored")
    parser.add_argument("--dataset", default="cifar10", help="training data, as `ganzoo train "
                        "--dataset` (32x32 images)")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        parser.error(f"--variants {args.variants!r}: unknown {unknown}; valid: {', '.join(VARIANTS)}.")
    if args.window < 1 or args.steps < args.window or args.steps % args.window:
        parser.error(f"--window {args.window} must be at least 1 and divide --steps {args.steps}.")
    import keras

    if keras.backend.backend() != "tensorflow" and any(v.startswith("peer") for v in variants):
        parser.error("the peer variants are TensorFlow code: set KERAS_BACKEND=tensorflow.")
    sys.path.insert(0, HERE)
    windows = [f"{(i + 1) * args.window}" for i in range(args.steps // args.window)]
    print(f"mean D loss (G loss) per {args.window} D steps, then D's logits at step {args.steps} "
          f"on {args.num} real test images and {args.num} samples; seed {args.seed}")
    print(f"{'variant':20s} " + " ".join(f"{'..' + w:>13s}" for w in windows)
          + f" {'real':>7s} {'fake':>7s} {'AUC':>5s} {'s2/s1':>10s} {'lr/rms':>11s} {'s/step':>6s}",
          flush=True)
    for variant in variants:
        result = run_variant(variant, args.steps, args.window, args.seed, args.num,
                             args.dataset)
        losses = " ".join(f"{d:6.3f}({g:5.2f})" for d, g in zip(result["d_loss"], result["g_loss"]))
        logits = result["logits"]
        print(f"{variant:20s} {losses} {logits['real_mean']:+7.3f} {logits['fake_mean']:+7.3f} "
              f"{logits['auc']:5.2f} {min(result['gaps']):4.2f}-{max(result['gaps']):4.2f} "
              f"{min(result['steps_vs_init']):4.2f}-{max(result['steps_vs_init']):5.2f}x "
              f"{result['seconds'] / args.steps:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
