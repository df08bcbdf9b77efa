"""benchmarks/train_step.py on a machine without TensorFlow (the accelerator lease).

train_step.py's Keras peers feed model.fit from `tf.data.Dataset.from_tensors(images).repeat()`
(its FitRunner imports tensorflow), so its ganzoo_jax peer cannot start where only JAX is
installed. This wrapper runs train_step.py unchanged except for that runner: `ArrayFitRunner`
feeds fit() from a Python generator that yields the same in-memory NumPy batch forever (Keras'
JAX trainer copies it to the device one batch ahead, as it does with a tf.data dataset), and
the peers' subprocesses start this wrapper instead of train_step.py.

    KERAS_BACKEND=jax python benchmarks/lease_bench.py --peers ganzoo_jax,torch_eager \
        --batch_size 64 --warmup 10 --steps 100 --repeats 5 --out b64.json

Every flag is train_step.py's. `run_all` is what benchmarks/lease.py calls on the device.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import train_step  # noqa: E402


class ArrayFitRunner(train_step.FitRunner):
    """train_step.FitRunner without tf.data: fit() on an endless generator of one batch."""

    def __init__(self, model, images):  # noqa: D107 - no super(): that one imports tensorflow
        self.model = model
        self.images = images

    def _batches(self):
        while True:
            yield (self.images,)

    def run(self, steps):
        import keras

        from lease_train import fit_input

        self.model.fit(fit_input(self._batches(), self.images.shape), epochs=1,
                       steps_per_epoch=steps, verbose=0, shuffle=False)
        keras.ops.convert_to_numpy(self.model.trainable_variables[-1])

    def info(self):
        info = super().info()
        info["input"] = "NumPy generator (benchmarks/lease_bench.py), not tf.data"
        return info


def patch():
    """Use ArrayFitRunner, and have the peers' subprocesses start this file."""
    train_step.FitRunner = ArrayFitRunner
    train_step.__file__ = os.path.abspath(__file__)


def main(argv=None):
    patch()
    return train_step.main(argv)


def run_all(out_dir, batch_sizes="64,256", peers="ganzoo_jax,torch_eager,torch_compile",
            warmup=10, steps=100, repeats=5, timeout=600.0, log=print, python=sys.executable):
    """Run the benchmark once per batch size (each in its own coordinator process, stopped at
    `timeout` seconds in all); returns {"b64": report or error, ...} and keeps the JSON files
    and the peers' logs in `out_dir`."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # (not imported here: it is slow to)
        peers = ",".join(p for p in peers.split(",") if not p.startswith("torch"))
        log("bench: no torch here: PyTorch peers left out")
    results, deadline = {}, time.time() + float(timeout)
    for batch in [int(b) for b in str(batch_sizes).split(",") if b.strip()]:
        key = f"b{batch}"
        left = deadline - time.time()
        if left < 30:
            results[key] = {"error": "no time left in the benchmark's budget"}
            continue
        out = out_dir / f"sndcgan_{key}.json"
        command = [python, os.path.abspath(__file__), "--peers", peers, "--batch_size", str(batch),
                   "--warmup", str(warmup), "--steps", str(steps), "--repeats", str(repeats),
                   "--out", str(out), "--log_dir", str(out_dir / f"logs_{key}")]
        log("bench: $ " + " ".join(command[1:]))
        started = time.time()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # Own process group: on a timeout the coordinator and every peer it started are ended.
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=left)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            code = "timeout"
        (out_dir / f"sndcgan_{key}.txt").write_text(output)
        for line in output.splitlines()[-14:]:
            log("bench| " + line)
        if out.is_file():
            report = json.loads(out.read_text())
            report["exit_code"] = code
            report["seconds"] = round(time.time() - started, 1)
            results[key] = report
        else:
            results[key] = {"error": f"exit {code}", "output_tail": output[-3000:]}
    return results


if __name__ == "__main__":
    sys.exit(main())
