"""Time one GAN training step of ganzoo (TensorFlow and JAX, through model.fit) beside its peers.

    python benchmarks/train_step.py                          # SNDCGAN 32x32, NS + SN, batch 64
    python benchmarks/train_step.py --batch_size 256
    python benchmarks/train_step.py --architecture resnet_cifar --warmup 1 --steps 1 --repeats 3
    python benchmarks/train_step.py --peers ganzoo_tf,kerasio_tf --out results.json

One step is what one ganzoo fit() step does: `disc_iters` discriminator updates, each on its own
`batch_size` real images and `batch_size` generated ones, then one generator update on
`batch_size` generated images; Adam (lr 2e-4, betas 0.5/0.999, epsilon 1e-8) for both.
  sndcgan:      SNDCGAN 32x32, NS loss, spectral norm in D, disc_iters 1.
  resnet_cifar: ResNet-CIFAR 32x32, NS loss, spectral norm in D, WGAN-GP (lambda 1), disc_iters 5.

Peers (each in its own subprocess: the Keras backend is fixed per process):
  ganzoo_tf      ganzoo.build_gan(...) on KERAS_BACKEND=tensorflow, trained with model.fit
  ganzoo_jax     the same on KERAS_BACKEND=jax
  torch_eager    a straightforward PyTorch version (benchmarks/peers/torch_gan.py)
  torch_compile  the same with torch.compile on G and D (reported unavailable if it fails)
  kerasio_tf     a keras.io-style TF version (benchmarks/peers/kerasio_gan.py), model.fit

All peers are started together and warmed up (tracing, compilation), then timed in interleaved
rounds: each round runs `--steps` steps of every peer in turn (the order rotates every round),
so that load from other processes on a shared machine falls on all peers alike. A peer's time is
the median over `--repeats` rounds of the round's time divided by its steps. Keras peers are timed
around model.fit(dataset, steps_per_epoch=steps) on an in-memory tf.data dataset that repeats one
batch; the PyTorch peer around a Python loop over its step on a preallocated batch.

Before timing, each peer's trainable parameter counts are checked against the paper's
(shared/notes/REFERENCE.md section 1); a mismatch stops the run.
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# Trainable parameters (G, D) of the paper's models, REFERENCE.md section 1.
EXPECTED_PARAMS = {"sndcgan": (3_828_739, 5_860_865), "resnet_cifar": (5_849_603, 1_483_137)}

CONFIGS = {
    "sndcgan": dict(loss="ns", normalization="spectral", penalty="none", penalty_weight=0.0,
                    disc_iters=1, title="SNDCGAN 32x32, NS + SN"),
    "resnet_cifar": dict(loss="ns", normalization="spectral", penalty="wgan_gp",
                         penalty_weight=1.0, disc_iters=5,
                         title="ResNet-CIFAR 32x32, NS + SN + WGAN-GP (lambda 1), n_disc 5"),
}

PEERS = {
    "ganzoo_tf": ("tensorflow", "ganzoo, TensorFlow, model.fit"),
    "ganzoo_jax": ("jax", "ganzoo, JAX, model.fit"),
    "torch_eager": (None, "PyTorch, eager"),
    "torch_compile": (None, "PyTorch, torch.compile"),
    "kerasio_tf": ("tensorflow", "keras.io-style TF (GradientTape, keras SN), model.fit"),
}
DEFAULT_PEERS = "ganzoo_tf,ganzoo_jax,torch_eager,torch_compile,kerasio_tf"
RESOLUTION = 32
PROTOCOL = "@@train_step "


class Unavailable(Exception):
    """The peer cannot run on this machine (reported in the table, not an error)."""


# ----------------------------------------------------------------------------------- workers
def _images(n, seed, channels_first=False):
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (n, 3, RESOLUTION, RESOLUTION) if channels_first else (n, RESOLUTION, RESOLUTION, 3)
    return rng.random(shape, dtype=np.float32)


def _compile_kwargs(args):
    kwargs = {"steps_per_execution": args.steps_per_execution}
    if args.jit_compile != "auto":
        kwargs["jit_compile"] = args.jit_compile == "true"
    return kwargs


class FitRunner:
    """Runs n steps of a compiled Keras model through model.fit on a repeating in-memory batch."""

    def __init__(self, model, images):
        import tensorflow as tf

        self.model = model
        self.dataset = tf.data.Dataset.from_tensors(images).repeat()

    def run(self, steps):
        import keras

        self.model.fit(self.dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        # Wait for the last update (JAX dispatches asynchronously).
        keras.ops.convert_to_numpy(self.model.trainable_variables[-1])

    def info(self):
        import keras

        info = {"keras": keras.__version__, "backend": keras.backend.backend(),
                "jit_compile": getattr(self.model, "jit_compile", None),
                "steps_per_execution": getattr(self.model, "steps_per_execution", 1)}
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            info["tensorflow"] = tf.__version__
            info["threads"] = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                               "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
        else:
            import jax

            info["jax"] = jax.__version__
            info["jax_devices"] = [str(d) for d in jax.devices()]
        return info


def _count_keras(model):
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def build_ganzoo(args):
    import keras

    import ganzoo

    keras.utils.set_random_seed(args.seed)
    cfg = CONFIGS[args.architecture]
    gan = ganzoo.build_gan(
        architecture=args.architecture, resolution=RESOLUTION,
        normalization=cfg["normalization"], loss=cfg["loss"], penalty=cfg["penalty"],
        penalty_weight=cfg["penalty_weight"], disc_iters=cfg["disc_iters"],
        g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999, seed=args.seed, **_compile_kwargs(args))
    runner = FitRunner(gan, _images(cfg["disc_iters"] * args.batch_size, args.seed))
    return runner, (_count_keras(gan.generator), _count_keras(gan.discriminator))


def build_kerasio(args):
    import keras

    from peers import kerasio_gan

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("the keras.io-style peer needs KERAS_BACKEND=tensorflow")
    keras.utils.set_random_seed(args.seed)
    cfg = CONFIGS[args.architecture]
    gan = kerasio_gan.build_gan(args.architecture, cfg["disc_iters"], cfg["penalty_weight"])
    runner = FitRunner(gan, _images(cfg["disc_iters"] * args.batch_size, args.seed))
    return runner, (_count_keras(gan.generator), _count_keras(gan.discriminator))


class TorchRunner:
    def __init__(self, args, compiled):
        import torch

        from peers import torch_gan

        cfg = CONFIGS[args.architecture]
        device = "cuda" if torch.cuda.is_available() else "cpu"  # as JAX picks its device
        self.step = torch_gan.TorchGANStep(
            args.architecture, args.batch_size, cfg["disc_iters"], cfg["penalty_weight"],
            compile_models=compiled, seed=args.seed, device=device)
        self.images = torch.from_numpy(
            _images(cfg["disc_iters"] * args.batch_size, args.seed, channels_first=True)
        ).to(device)
        self.compiled = compiled

    def run(self, steps):
        for _ in range(steps):
            losses = self.step.step(self.images)
        [loss.item() for loss in losses]  # wait for the last step (asynchronous on a GPU)

    def info(self):
        import torch

        return {"torch": torch.__version__, "threads": torch.get_num_threads(),
                "device": str(self.step.device), "compiled": self.compiled}


def build_torch(args, compiled):
    runner = TorchRunner(args, compiled)
    return runner, (runner.step.g_params, runner.step.d_params)


BUILDERS = {
    "ganzoo_tf": build_ganzoo,
    "ganzoo_jax": build_ganzoo,
    "kerasio_tf": build_kerasio,
    "torch_eager": lambda args: build_torch(args, compiled=False),
    "torch_compile": lambda args: build_torch(args, compiled=True),
}


def worker(args):
    """Build one peer, check it, warm it up, then answer `run N` / `quit` lines on stdin."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the frameworks print goes to the log, not the protocol channel
    sys.path.insert(0, HERE)
    sys.path.insert(0, REPO)

    def send(kind, **payload):
        channel.write(PROTOCOL + json.dumps({"kind": kind, **payload}) + "\n")

    started = time.perf_counter()
    runner, (g_params, d_params) = BUILDERS[args.peer](args)
    expected = EXPECTED_PARAMS[args.architecture]
    if (g_params, d_params) != expected:
        send("error", reason=f"parameter counts G {g_params:,}, D {d_params:,} differ from the "
                             f"paper's G {expected[0]:,}, D {expected[1]:,}")
        return 1
    try:
        runner.run(args.warmup)
    except Exception as error:  # noqa: BLE001 - a compiler that fails makes the peer unavailable
        if args.peer != "torch_compile":
            raise
        reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
        send("unavailable", reason=reason)
        return 0
    send("ready", g_params=g_params, d_params=d_params, info=runner.info(),
         setup_seconds=round(time.perf_counter() - started, 1))
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        steps = int(command[1])
        start, cpu_start = time.perf_counter(), time.process_time()
        runner.run(steps)
        send("time", seconds=time.perf_counter() - start, steps=steps,
             cpu_seconds=time.process_time() - cpu_start)
    return 0


# ------------------------------------------------------------------------------ coordinator
class Peer:
    def __init__(self, name, args, log_dir):
        self.name = name
        backend, self.label = PEERS[name]
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
        if backend:
            env["KERAS_BACKEND"] = backend
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.log = open(self.log_path, "w")
        command = [sys.executable, os.path.abspath(__file__), "--peer", name,
                   "--architecture", args.architecture, "--batch_size", str(args.batch_size),
                   "--warmup", str(args.warmup), "--seed", str(args.seed),
                   "--steps_per_execution", str(args.steps_per_execution),
                   "--jit_compile", args.jit_compile]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.log, env=env, text=True, bufsize=1)
        self.status, self.reason, self.ready = "starting", None, {}
        self.seconds_per_step, self.cpu_seconds_per_step = [], []

    def receive(self):
        for line in self.process.stdout:
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL):])
        self.process.wait()
        with open(self.log_path) as log:
            tail = "".join(log.readlines()[-15:])
        return {"kind": "error", "reason": f"exited with {self.process.returncode}:\n{tail}"}

    def wait_ready(self):
        message = self.receive()
        if message["kind"] == "ready":
            self.status, self.ready = "ok", message
        else:
            self.status, self.reason = message["kind"], message["reason"]
            self.close()

    def time_steps(self, steps):
        self.process.stdin.write(f"run {steps}\n")
        message = self.receive()
        if message["kind"] != "time":
            self.status, self.reason = "error", message["reason"]
            self.close()
            return
        self.seconds_per_step.append(message["seconds"] / message["steps"])
        self.cpu_seconds_per_step.append(message["cpu_seconds"] / message["steps"])

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def _ratio_table(results, names, key="ms_per_step"):
    """ratios[a][b] = median time of b / median time of a: how many times faster a is than b."""
    return {a: {b: results[b][key] / results[a][key] for b in names if b != a} for a in names}


def coordinate(args):
    cfg = CONFIGS[args.architecture]
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peers {unknown}; valid: {', '.join(PEERS)}")
    images_per_step = cfg["disc_iters"] * args.batch_size
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="ganzoo_train_step_")
    os.makedirs(log_dir, exist_ok=True)
    load_before = os.getloadavg()
    print(f"{cfg['title']}, batch {args.batch_size}: starting {len(names)} peers "
          f"(logs in {log_dir})", flush=True)
    started = time.perf_counter()
    peers = [Peer(name, args, log_dir) for name in names]
    for peer in peers:
        peer.wait_ready()
        detail = (f"ready after {peer.ready['setup_seconds']} s" if peer.status == "ok"
                  else f"{peer.status}: {peer.reason}")
        print(f"  {peer.name}: {detail}", flush=True)
    for round_index in range(args.repeats):
        running = [p for p in peers if p.status == "ok"]
        if not running:
            break
        shift = round_index % len(running)
        for peer in running[shift:] + running[:shift]:
            peer.time_steps(args.steps)
        print(f"  round {round_index + 1}/{args.repeats}: " + ", ".join(
            f"{p.name} {1000 * p.seconds_per_step[-1]:.0f} ms" for p in running
            if p.status == "ok"), flush=True)
    for peer in peers:
        peer.close()

    results, timed = {}, []
    for peer in peers:
        entry = {"label": peer.label, "status": peer.status}
        if peer.status == "ok":
            ms = [1000 * s for s in peer.seconds_per_step]
            cpu_ms = [1000 * s for s in peer.cpu_seconds_per_step]
            median = statistics.median(ms)
            entry.update(
                ms_per_step=median, ms_per_step_min=min(ms), ms_per_step_all=ms,
                cpu_ms_per_step=statistics.median(cpu_ms), cpu_ms_per_step_all=cpu_ms,
                ms_per_d_step=median / cfg["disc_iters"],
                images_per_second=images_per_step / (median / 1000),
                g_params=peer.ready["g_params"], d_params=peer.ready["d_params"],
                setup_seconds=peer.ready["setup_seconds"], info=peer.ready["info"])
            timed.append(peer.name)
        else:
            entry["reason"] = peer.reason
        results[peer.name] = entry
    ratios = _ratio_table(results, timed)
    cpu_ratios = _ratio_table(results, timed, "cpu_ms_per_step")

    report = {
        "command": " ".join(["python"] + [os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
        "benchmark": cfg["title"], "architecture": args.architecture,
        "batch_size": args.batch_size, "disc_iters": cfg["disc_iters"],
        "images_per_step": images_per_step, "warmup_steps": args.warmup,
        "steps_per_round": args.steps, "rounds": args.repeats,
        "steps_per_execution": args.steps_per_execution, "jit_compile": args.jit_compile,
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": os.getloadavg()},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "peers": results, "ratios": ratios, "cpu_time_ratios": cpu_ratios,
    }
    print_table(report, timed)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.out}")
    failed = [p.name for p in peers if p.status == "error"]
    return 1 if failed else 0


def print_table(report, timed):
    peers = report["peers"]
    machine = report["machine"]
    print()
    print(f"{report['benchmark']}, batch {report['batch_size']} "
          f"({report['images_per_step']} real images per step); median of {report['rounds']} "
          f"interleaved rounds of {report['steps_per_round']} steps, after "
          f"{report['warmup_steps']} warm-up steps")
    print(f"command: {report['command']}")
    print(f"machine: {machine['cpu_count']} CPUs, load average {machine['load_average_before'][0]:.1f}"
          f" before, {machine['load_average_after'][0]:.1f} after")
    header = (f"{'peer':<14} {'ms/step':>9} {'min':>9} {'ms/D step':>9} {'img/s':>8} "
              f"{'CPU ms/step':>11}")
    print(header + "".join(f" {'vs ' + name:>16}" for name in timed))
    for name, entry in peers.items():
        if entry["status"] != "ok":
            print(f"{name:<14} {entry['status']}: {entry['reason']}")
            continue
        row = (f"{name:<14} {entry['ms_per_step']:>9.1f} {entry['ms_per_step_min']:>9.1f} "
               f"{entry['ms_per_d_step']:>9.1f} {entry['images_per_second']:>8.1f} "
               f"{entry['cpu_ms_per_step']:>11.1f}")
        for other in timed:
            cell = "" if other == name else (f"{report['ratios'][name][other]:.2f}x "
                                              f"({report['cpu_time_ratios'][name][other]:.2f}x)")
            row += f" {cell:>16}"
        print(row)
    print("vs columns: how many times faster the row's peer is than the column's, on median wall "
          "time (in brackets: on median CPU time of the peer's process, all threads).")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architecture", choices=sorted(CONFIGS), default="sndcgan")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--peers", default=DEFAULT_PEERS,
                        help=f"comma-separated, from {', '.join(PEERS)}")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per peer")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per peer per round")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed rounds")
    parser.add_argument("--steps_per_execution", type=int, default=1,
                        help="passed to ganzoo's compile (ganzoo peers only)")
    parser.add_argument("--jit_compile", choices=("auto", "true", "false"), default="auto",
                        help="passed to ganzoo's compile (ganzoo peers only); auto: Keras' default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--log_dir", help="where the peers' logs go (default: a temp folder)")
    parser.add_argument("--peer", choices=sorted(PEERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("batch_size", "warmup", "steps", "repeats", "steps_per_execution"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    spe = args.steps_per_execution
    if args.steps % spe or args.warmup % spe:
        parser.error("--steps and --warmup must be multiples of --steps_per_execution")
    return args


def main(argv=None):
    args = parse_args(argv)
    return worker(args) if args.peer else coordinate(args)


if __name__ == "__main__":
    sys.exit(main())
