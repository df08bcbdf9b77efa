"""One training process per run folder (ganzoo.runlock): a second train.py is refused before it
changes anything, two runs started together do not mix, and the lock of a killed run is stale."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ganzoo.checkpoint import CheckpointManager, checkpoint_name, read_metadata
from ganzoo.runlock import LOCK_NAME, RunLock, RunLockedError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "training", "train.py")


from ganzoo import training  # noqa: E402  (the run itself)
from ganzoo.cli import train  # noqa: E402  (`ganzoo train`; training/train.py forwards to it)


def _snapshot(folder):
    """{relative path: (size, mtime_ns)} of everything under a folder."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            stat = os.stat(path)
            found[os.path.relpath(path, folder)] = (stat.st_size, stat.st_mtime_ns)
    return found


def test_a_second_lock_is_refused_and_names_the_holder(tmp_path):
    first = RunLock(tmp_path / "run").acquire()
    try:
        before = _snapshot(tmp_path)
        with pytest.raises(RunLockedError, match=rf"in use by process {os.getpid()} .*nothing was "
                                                 "changed"):
            RunLock(tmp_path / "run").acquire()
        assert _snapshot(tmp_path) == before
    finally:
        first.release()
    assert not (tmp_path / "run" / LOCK_NAME).exists()  # a normal release leaves no file
    with RunLock(tmp_path / "run"):  # free again
        pass


@pytest.mark.skipif(os.name == "nt", reason="flock's per-file-description locks")
def test_a_refusal_in_the_moment_before_the_holder_writes_its_pid_still_names_it(tmp_path):
    """The holder locks, then writes its pid: a process refused in between used to name
    "another process" (seen once in CI, two train.py started together)."""
    import fcntl
    import threading

    path = tmp_path / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # locked, nothing written yet
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    late = threading.Timer(0.3, lambda: os.write(fd, json.dumps(
        {"pid": 4242, "host": "h", "started": time.time()}).encode()))
    late.start()
    try:
        with pytest.raises(RunLockedError, match="in use by process 4242 on h since"):
            RunLock(tmp_path).acquire()
    finally:
        late.join()
        os.close(fd)


def test_the_lock_of_a_killed_process_is_stale(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from ganzoo.runlock import RunLock; RunLock(sys.argv[1]).acquire(); "
         "print('locked', flush=True); time.sleep(600)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")))
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"process {holder.pid} "):
            RunLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    assert (tmp_path / LOCK_NAME).exists()  # left behind by the killed holder...
    with RunLock(tmp_path):  # ...and recognised as stale: no one holds it
        assert str(os.getpid()) in (tmp_path / LOCK_NAME).read_text()


def test_refused_run_touches_nothing_in_a_locked_folder(tmp_path, monkeypatch):
    """train.run() on a folder another process trains in: refused before any change, its
    half-written checkpoint included (it used to be deleted by the refused run)."""
    import keras

    import ganzoo

    monkeypatch.setattr(ganzoo, "build_gan", lambda *a, **k: pytest.fail("built a model"),
                        raising=False)
    run_dir = tmp_path / "run"
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    CheckpointManager(run_dir / "checkpoints").save(model, 2, {"hyper": {"steps": 10}})
    half = run_dir / "checkpoints" / f"ckpt-000000004.tmp-{os.getpid()}.weights.h5"
    half.write_bytes(b"the running run is writing this")
    running = RunLock(run_dir).acquire()  # the running run's lock (flock: per open file)
    try:
        before = _snapshot(run_dir)
        for extra in ([], ["--resume"]):
            train.parse_flags(["train.py", "--model_dir", str(run_dir), "--architecture",
                               "sndcgan", "--dataset", "synthetic:8", "--noprogress", *extra])
            with pytest.raises(RunLockedError, match="in use by process"):
                training.run(train.resolve_settings())
            assert _snapshot(run_dir) == before
    finally:
        running.release()


def test_refused_new_run_leaves_no_folder_behind(tmp_path):
    run_dir = tmp_path / "new"
    train.parse_flags(["train.py", "--model_dir", str(run_dir), "--architecture", "sndcgan",
                       "--dataset", str(tmp_path / "missing.tar"), "--noprogress"])
    from ganzoo.data import DataError

    with pytest.raises(DataError, match="does not exist"):
        training.run(train.resolve_settings())
    assert not run_dir.exists()


ARGS = ["--architecture", "sndcgan", "--resolution", "8", "--dataset", "synthetic:48",
        "--batch_size", "4", "--steps", "200", "--checkpoint_every", "50", "--keep_checkpoints",
        "2", "--num_samples", "0", "--log_every", "50", "--noprogress"]


def _start(model_dir, *extra):
    import keras

    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, TRAIN, "--model_dir", str(model_dir), *ARGS, *extra],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


@pytest.mark.slow
@pytest.mark.backend_neutral
def test_two_real_processes_on_one_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    first, second = _start(run_dir), _start(run_dir)  # started together
    manager = CheckpointManager(run_dir / "checkpoints")
    deadline = time.time() + 500
    while not manager.checkpoints():
        assert time.time() < deadline, "no checkpoint was written"
        if first.poll() is not None and second.poll() is not None:
            pytest.fail("both exited: " + first.communicate()[0][-3000:]
                        + second.communicate()[0][-3000:])
        time.sleep(0.02)
    # Exactly one of them trains (the lock file names it); freeze it mid-run.
    holder = json.loads((run_dir / LOCK_NAME).read_text())["pid"]
    winner, loser = (first, second) if holder == first.pid else (second, first)
    assert holder == winner.pid
    winner.send_signal(signal.SIGSTOP)
    try:
        loser_output = loser.communicate(timeout=300)[0]
        assert loser.returncode == 2, loser_output[-3000:]
        assert "is in use by process" in loser_output and str(winner.pid) in loser_output

        # A third train.py, with and without --resume, while the winner is writing a checkpoint.
        half = run_dir / "checkpoints" / f"ckpt-000999998.tmp-{winner.pid}.weights.h5"
        half.write_bytes(b"half-written by the running process")
        before = _snapshot(run_dir)
        # Both at once (the winner is stopped, so each has a core): the test's longest wait.
        thirds = [_start(run_dir, *extra) for extra in ([], ["--resume"])]
        for third in thirds:
            output = third.communicate(timeout=300)[0]
            assert third.returncode == 2 and "is in use by process" in output, output[-3000:]
        assert _snapshot(run_dir) == before
        half.unlink()
    finally:
        winner.send_signal(signal.SIGCONT)
    output = winner.communicate(timeout=500)[0]
    assert winner.returncode == 0, output[-3000:]
    steps = [step for step, _ in manager.checkpoints()]
    assert steps == [150, 200]
    for step in steps:  # complete, verified, and from the one run
        meta = read_metadata(run_dir / "checkpoints" / checkpoint_name(step))
        assert meta["d_step"] == step
    assert not (run_dir / LOCK_NAME).exists()
