"""`ganzoo sweep run` workers as a user starts them: two processes on one storage (a SQLite file,
and a real PostgreSQL server) share a study; one is SIGKILLed in the middle of a trial; the other
marks that trial failed after the grace period, runs its retry from the dead trial's last
checkpoint, and the study ends with exactly its trials, none trained twice.

PostgreSQL: $GANZOO_TEST_POSTGRES_URL, else a throwaway cluster started here from the installed
server binaries (Debian's postgresql package; .ci/run installs it).
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 40  # the kill lands between the checkpoint at EVERY and the end (scoring, weights)
EVERY = 20
TRIALS = 2


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


def _worker(out, storage, log):
    import keras

    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "ganzoo.cli.main", "sweep", "run", "--out", str(out),
               "--storage", storage, "--study", "workers", "--trials", str(TRIALS),
               "--space", "narrow", "--normalizations", "none", "--resolution", "8",
               "--steps", str(STEPS), "--batch_size", "4", "--dataset", "synthetic:48",
               "--metric", "kid", "--features", "pixels", "--eval_samples", "16",
               "--eval_every", str(EVERY), "--sampler", "random", "--pruner", "none",
               "--heartbeat", "1", "--grace", "4"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _trials(storage):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="workers", storage=storage).get_trials(deepcopy=False)


def _checkpointed_trial_of(pid, storage, out):
    """The number of the RUNNING trial of worker `pid` once its run folder has a checkpoint
    (the database is asked only once a checkpoint exists: polling it would load the CPU)."""
    if not glob.glob(os.path.join(str(out), "trials", "*", "checkpoints", "ckpt-*.weights.h5")):
        return None
    for trial in _trials(storage):
        if (trial.state.name == "RUNNING" and str(trial.user_attrs.get("worker", "")).endswith(
                f":{pid}") and glob.glob(os.path.join(trial.user_attrs.get("run_dir", "/none"),
                                                      "checkpoints", "ckpt-*.weights.h5"))):
            return trial.number
    return None


def _output(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()[-6000:]


@pytest.mark.parametrize("backend_db", ["sqlite", "postgresql"])
def test_two_workers_one_killed(backend_db, tmp_path, request):
    storage = (f"sqlite:///{tmp_path / 'study.db'}" if backend_db == "sqlite"
               else request.getfixturevalue("postgres_url"))
    if backend_db == "postgresql":  # one database for both backends' runs: a fresh study name
        import optuna

        for summary in optuna.get_all_study_summaries(storage):
            if summary.study_name == "workers":
                optuna.delete_study(study_name="workers", storage=storage)
    out = tmp_path / "sweep"
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in (1, 2)]
    doomed = _worker(out, storage, logs[0])
    time.sleep(2)  # the first worker creates the study; the second joins it
    survivor = _worker(out, storage, logs[1])
    try:
        killed = None
        deadline = time.time() + 300
        while killed is None and time.time() < deadline and doomed.poll() is None:
            try:
                killed = _checkpointed_trial_of(doomed.pid, storage, out)
            except Exception:  # the study is not created yet
                killed = None
            if killed is None:
                time.sleep(0.1)
        assert killed is not None, "the first worker never checkpointed a trial:\n" + _output(
            logs[0].name)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
        assert survivor.wait(timeout=400) == 0, _output(logs[1].name)
    finally:
        for process in (doomed, survivor):
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()

    trials = {t.number: t for t in _trials(storage)}
    dead = trials[killed]
    assert dead.state.name == "FAIL", (dead.state, _output(logs[1].name))
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1, _output(logs[1].name)
    retry = retries[0]
    assert retry.state.name == "COMPLETE"
    assert retry.params == dead.params
    # The retry went on from the dead trial's checkpoint, in its run folder, to the end.
    assert retry.user_attrs["run_dir"] == dead.user_attrs["run_dir"]
    assert retry.user_attrs["resumed_from_step"] >= EVERY
    assert retry.user_attrs["scores"][-1][0] == STEPS
    assert retry.user_attrs["worker"].endswith(f":{survivor.pid}")
    complete = [t for t in trials.values() if t.state.name == "COMPLETE"]
    assert len(complete) == TRIALS
    # Nothing trained twice: one run folder per finished trial, every trial fully scored once.
    assert len({t.user_attrs["run_dir"] for t in complete}) == TRIALS
    for t in complete:
        steps = [step for step, _ in t.user_attrs["scores"]]
        assert steps == sorted(set(steps)) and steps[-1] == STEPS
        assert t.value == t.user_attrs["scores"][-1][1]
    others = [t for t in trials.values() if t.number != killed and t not in retries]
    assert all(t.state.name == "COMPLETE" or t.user_attrs.get("surplus") for t in others)

    # The finished study exports and plots.
    from ganzoo.sweep import export

    rows = export.load_rows(storage, "workers")
    assert {r["number"] for r in rows} == set(trials)
    assert next(r for r in rows if r["number"] == retry.number)["retried_from"] == killed
