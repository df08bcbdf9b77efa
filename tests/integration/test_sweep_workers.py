"""`ganzoo sweep run` workers as a user starts them: two processes on one storage (a SQLite file,
and a real PostgreSQL server) share a study; one is SIGKILLed in the middle of a trial; the other
marks that trial failed after the grace period, runs its retry from the dead trial's last
checkpoint, and the study ends with exactly its trials, none trained twice.

The doomed worker is a `ganzoo sweep run` process; the survivor runs the same command in this
test's process (ganzoo.cli.main.main, in a thread while the test watches the other), which saves
a Keras import per test. The study has one trial: the survivor joins while the doomed worker
runs it, must wait instead of training a second copy, then takes over its retry. The trials are
the smallest the sweep allows (8x8 SNDCGAN, batch 4, 15 D steps) and their recipes are queued in
the study (disc_iters 1: a 5-D-step fit step takes several times as long to compile); each worker
still draws them through the space's suggest() and trains them with `ganzoo train`'s code.
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 15  # the kill lands between the checkpoint at EVERY and the end (scoring, weights)
EVERY = 5
# One trial: a second would also show both workers training at once, for another trial's
# compile (10-30 s on a CPU here).
TRIALS = 1
# The recipe of every trial: a narrow-space draw (the retry repeats the dead trial's params).
PARAMS = {"cell": "sndcgan/ns/none/none", "lr": 2e-4, "adam_disc_iters": "0.5,0.999,1"}


def _postgres_bindir():
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")):
            return folder
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    if os.environ.get("GANZOO_TEST_POSTGRES_URL"):
        yield os.environ["GANZOO_TEST_POSTGRES_URL"]
        return
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server installed (apt-get install postgresql, as .ci/run does) "
                    "and GANZOO_TEST_POSTGRES_URL is not set")
    # initdb refuses root: as root, the cluster belongs to the postgres user.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = tempfile.mkdtemp(prefix="ganzoo-pg-", dir="/tmp")
    if as_user:
        shutil.chown(data, "postgres")
    port = _free_port()

    def pg(*command):
        subprocess.run(as_user + [os.path.join(bindir, command[0]), *command[1:]], check=True,
                       capture_output=True, timeout=120)

    try:
        pg("initdb", "-D", data, "-U", "postgres", "--auth=trust")
        pg("pg_ctl", "-D", data, "-l", os.path.join(data, "server.log"), "-w", "start", "-o",
           f"-p {port} -k {data} -c listen_addresses=127.0.0.1")
        try:
            subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c",
                            "CREATE DATABASE ganzoo_test"], check=True, capture_output=True,
                           timeout=60)
            yield f"postgresql://postgres@127.0.0.1:{port}/ganzoo_test"
        finally:
            pg("pg_ctl", "-D", data, "-m", "immediate", "stop")
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _arguments(out, storage, trials):
    return ["sweep", "run", "--out", str(out), "--storage", storage, "--study", "workers",
            "--trials", str(trials), "--space", "narrow", "--normalizations", "none",
            "--resolution", "8", "--steps", str(STEPS), "--batch_size", "4",
            "--dataset", "synthetic:48", "--metric", "kid", "--features", "pixels",
            "--eval_samples", "16", "--eval_every", str(EVERY), "--sampler", "random",
            "--pruner", "none", "--heartbeat", "1", "--grace", "4"]


def _worker_process(arguments, log):
    import keras

    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="2",
               JAX_DISABLE_MOST_OPTIMIZATIONS="0",  # as optimised_xla
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "ganzoo.cli.main", *arguments], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)


class _WorkerThread(threading.Thread):
    """`ganzoo sweep run` in this process; `status` is its exit status (or the exception)."""

    def __init__(self, arguments):
        super().__init__(daemon=True)
        self.arguments, self.status = arguments, None

    def run(self):
        from ganzoo.cli.main import main

        try:
            self.status = main(self.arguments)
        except BaseException as error:  # noqa: B036 - reported by the test
            self.status = error


def _trials(storage):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="workers", storage=storage).get_trials(deepcopy=False)


def _new_study(storage, trials):
    """The study, created empty (the workers store its space and score) with its recipes
    queued."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for summary in optuna.get_all_study_summaries(storage):  # PostgreSQL: both backends' runs
        if summary.study_name == "workers":
            optuna.delete_study(study_name="workers", storage=storage)
    queued = optuna.create_study(study_name="workers", storage=storage, direction="minimize")
    for _ in range(trials):
        queued.enqueue_trial(PARAMS)


def _running_trial_of(pid, storage, out):
    """(number, run folder) of the RUNNING trial of worker `pid` once its run folder exists (the
    database is asked only then: polling it would load the CPU), or None."""
    if not glob.glob(os.path.join(str(out), "trials", "*", "")):
        return None
    for trial in _trials(storage):
        if (trial.state.name == "RUNNING"
                and str(trial.user_attrs.get("worker", "")).endswith(f":{pid}")
                and os.path.isdir(trial.user_attrs.get("run_dir", "/none"))):
            return trial.number, trial.user_attrs["run_dir"]
    return None


def _wait_for(what, process, log, deadline=300):
    """Poll `what()` until it is true while `process` lives."""
    found, deadline = None, time.time() + deadline
    while not found and time.time() < deadline and process.poll() is None:
        found = what()
        if not found:
            time.sleep(0.1)
    assert found, "the first worker never got that far:\n" + _output(log.name)
    return found


def _output(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()[-6000:]


@pytest.mark.backend_neutral
@pytest.mark.parametrize("backend_db", ["sqlite", "postgresql"])
def test_two_workers_one_killed(backend_db, tmp_path, request, optimised_xla):
    storage = (f"sqlite:///{tmp_path / 'study.db'}" if backend_db == "sqlite"
               else request.getfixturevalue("postgres_url"))
    _new_study(storage, TRIALS)
    out = tmp_path / "sweep"
    arguments = _arguments(out, storage, TRIALS)
    log = open(tmp_path / "doomed.log", "wb")
    doomed = _worker_process(arguments, log)
    survivor = _WorkerThread(arguments)
    try:
        # The survivor joins once the doomed worker has taken a trial (the first queued one).
        killed, run_dir = _wait_for(lambda: _running_trial_of(doomed.pid, storage, out), doomed,
                                    log)
        survivor.start()
        _wait_for(lambda: glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-*.weights.h5")),
                  doomed, log)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
        survivor.join(timeout=400)
        assert not survivor.is_alive() and survivor.status == 0, survivor.status
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait()
        log.close()

    trials_by_number = {t.number: t for t in _trials(storage)}
    dead = trials_by_number[killed]
    assert dead.state.name == "FAIL", dead.state
    retries = [t for t in trials_by_number.values()
               if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1
    retry = retries[0]
    assert retry.state.name == "COMPLETE"
    assert retry.params == dead.params
    # The retry went on from the dead trial's checkpoint, in its run folder, to the end.
    assert retry.user_attrs["run_dir"] == dead.user_attrs["run_dir"]
    assert retry.user_attrs["resumed_from_step"] >= EVERY
    assert retry.user_attrs["scores"][-1][0] == STEPS
    assert retry.user_attrs["worker"].endswith(f":{os.getpid()}")
    complete = [t for t in trials_by_number.values() if t.state.name == "COMPLETE"]
    assert len(complete) == TRIALS
    assert all(t.params == PARAMS for t in complete)  # drawn through the space from the queue
    # Nothing trained twice: one run folder per finished trial, every trial fully scored once.
    assert len({t.user_attrs["run_dir"] for t in complete}) == TRIALS
    for t in complete:
        steps = [step for step, _ in t.user_attrs["scores"]]
        assert steps == sorted(set(steps)) and steps[-1] == STEPS
        assert t.value == t.user_attrs["scores"][-1][1]
    others = [t for t in trials_by_number.values() if t.number != killed and t not in retries]
    assert all(t.state.name == "COMPLETE" or t.user_attrs.get("surplus") for t in others)

    # The finished study exports.
    from ganzoo.sweep import export

    rows = export.load_rows(storage, "workers")
    assert {r["number"] for r in rows} == set(trials_by_number)
    assert next(r for r in rows if r["number"] == retry.number)["retried_from"] == killed


_JOIN_AT = r'''
import sys, time
import optuna
from ganzoo.sweep import study
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
storage = study.open_storage(study.default_storage(sys.argv[1]))
optuna.create_study(storage=storage, study_name="s", load_if_exists=True)
'''


@pytest.mark.backend_neutral
def test_workers_started_together_on_a_fresh_sqlite_file_all_join(tmp_path):
    # Started at the same instant on a database that does not exist yet, workers race to create
    # its tables and its schema-version row; before the retry on a duplicate row, one or two of
    # four lost with sqlite3.IntegrityError in every round tried.
    import optuna

    from ganzoo.sweep import study

    for round_ in range(2):
        folder = str(tmp_path / f"round{round_}")
        start = time.time() + 5  # after every child has imported optuna
        children = [subprocess.Popen([sys.executable, "-c", _JOIN_AT, folder, str(start)],
                                     stderr=subprocess.PIPE, text=True, cwd=ROOT)
                    for _ in range(4)]
        for child in children:
            _, err = child.communicate(timeout=120)
            assert child.returncode == 0, err[-2000:]
        studies = optuna.get_all_study_summaries(study.default_storage(folder))
        assert [s.study_name for s in studies] == ["s"]
