r"""The scale of the kernels under spectral norm in saved weights: one half of why the keras.io
peer's FID curve differs from a ganzoo run's.

    python benchmarks/sn_kernel_scale.py \
        hub_mirror/ganzoo/sndcgan-ns-sn-cifar10/discriminator.weights.h5 \
        runs/sndcgan-cpu-tf/checkpoints/ckpt-000010000.weights.h5 \
        runs/peer-kerasio/peer-00010000.weights.h5

The paper's spectral norm (compare_gan, ganzoo) keeps the raw kernel W and computes with W / sigma(W),
gradients flowing through sigma. Such a loss does not change when W is scaled, so its gradient is
nearly orthogonal to W and W grows as it trains. Adam moves each weight by about lr a step,
whatever the weight's size, so the normalised kernel W / sigma moves by about lr / rms(W),
relatively, and that step shrinks as W grows. Keras' SpectralNormalization (the peer's) writes
W / sigma back into the kernel on every training call, so its kernel always has sigma 1 and
Adam's relative step stays what it is at the start. The table gives, per wrapped kernel (as a
matrix of rows kh*kw*c_in and columns c_out), its largest singular value sigma, its rms, the
relative step lr / rms, and the same for the paper's initialisation N(0, 0.02) of that shape.

Two more columns give the shape of the spectrum, which W / sigma keeps and scaling does not
change: the stable rank ||W||_F^2 / sigma^2 (about how many directions the normalised layer passes
at full gain; the initialiser's is given beside it) and sigma_2 / sigma_1 (near 1: the top of the
spectrum is flat, as in a trained SN discriminator; well below 1: one direction dominates and
W / sigma scales every other direction down).

Reads any Keras .weights.h5 (a preset's or run's discriminator, a ganzoo training checkpoint, the
peer's state): every dataset named .../layer/vars/0 of two or more dimensions is a kernel that a
spectral-norm wrapper holds. Needs only NumPy and h5py.
"""
import argparse
import sys

import numpy as np

INIT_STD = 0.02  # the paper's (compare_gan's) kernel initialiser, N(0, 0.02)


def wrapped_kernels(path):
    """[(name, kernel as float64 rows x c_out)] of every spectral-norm-wrapped kernel in the file."""
    import h5py

    found = []
    with h5py.File(path, "r") as handle:
        def visit(name, item):
            if isinstance(item, h5py.Dataset) and name.endswith("layer/vars/0") and item.ndim >= 2:
                value = item[()].astype(np.float64)
                found.append((name[: -len("/layer/vars/0")], value.reshape(-1, value.shape[-1])))
        handle.visititems(visit)
    return found


def kernel_scale(matrix, lr):
    """sigma (largest singular value), rms, the relative step lr / rms, the stable rank
    ||W||_F^2 / sigma^2 and sigma_2 / sigma_1 (None for a single column) of one kernel."""
    singular = np.linalg.svd(matrix, compute_uv=False)
    sigma = float(singular[0])
    rms = float(np.sqrt(np.mean(np.square(matrix))))
    return {"sigma": sigma, "rms": rms, "relative_step": lr / rms if rms else float("inf"),
            "stable_rank": float(np.sum(np.square(singular)) / sigma ** 2) if sigma else 0.0,
            "gap": float(singular[1] / sigma) if len(singular) > 1 and sigma else None}


def init_scale(shape, lr, seed=0):
    """kernel_scale of a draw of the paper's initialiser N(0, 0.02) of this shape."""
    return kernel_scale(np.random.default_rng(seed).normal(0.0, INIT_STD, shape), lr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="+", help=".weights.h5 files")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam's learning rate (the recipe's)")
    args = parser.parse_args(argv)
    if args.lr <= 0:
        parser.error(f"--lr must be positive; got {args.lr}.")
    status = 0
    for path in args.weights:
        try:
            kernels = wrapped_kernels(path)
        except OSError as error:
            print(f"sn_kernel_scale.py: {path}: not a readable .weights.h5 file ({error}).",
                  file=sys.stderr)
            status = 2
            continue
        print(f"\n{path}")
        if not kernels:
            print("  no spectral-norm-wrapped kernel (no .../layer/vars/0 of 2 or more dims)")
            continue
        print(f"  {'layer':44s} {'matrix':>12s} {'sigma':>8s} {'rms':>8s} {'lr/rms':>8s}"
              f"   init: {'sigma':>6s} {'lr/rms':>8s}   step vs init"
              f"   {'srank':>7s} {'init':>7s} {'s2/s1':>6s}")
        for name, matrix in kernels:
            now, init = kernel_scale(matrix, args.lr), init_scale(matrix.shape, args.lr)
            shape = f"{matrix.shape[0]}x{matrix.shape[1]}"
            print(f"  {name[-44:]:44s} {shape:>12s} {now['sigma']:8.3f} {now['rms']:8.4f} "
                  f"{now['relative_step']:8.2e}         {init['sigma']:6.3f} "
                  f"{init['relative_step']:8.2e}   {now['relative_step'] / init['relative_step']:11.2f}x"
                  f"   {now['stable_rank']:7.1f} {init['stable_rank']:7.1f} "
                  f"{'-' if now['gap'] is None else format(now['gap'], '6.2f'):>6s}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
