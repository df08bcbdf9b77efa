"""The accelerator-lease script (benchmarks/lease.py, lease_train.py, lease_bench.py), tested in
pieces on this CPU: split/join with sha256s, carrying the payload in chunks and staging it,
what comes back ($OUT limits), the NumPy data order on resume, the wall-clock budget stop, a
budget-stopped run resumed to the end, the TF-free benchmark runner, and one whole `call` in a
subprocess on tiny synthetic data. The lease on the GPU itself: docs/performance.md."""
import hashlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH))

import lease  # noqa: E402


def _random_file(path, size, seed=0):
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    pathlib.Path(path).write_bytes(data)
    return data


# ----------------------------------------------------------------------------- split / join
def test_split_join_round_trip_with_hashes(tmp_path):
    data = _random_file(tmp_path / "weights.h5", 2500)
    entry = lease.split_file(tmp_path / "weights.h5", tmp_path / "out", part_bytes=1000)
    assert [p["file"] for p in entry["parts"]] == [f"weights.h5.part-00{i}" for i in range(3)]
    assert [p["size"] for p in entry["parts"]] == [1000, 1000, 500]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    for part in entry["parts"]:
        assert part["sha256"] == lease.sha256_of(tmp_path / "out" / part["file"])
    joined = lease.join_file(entry, tmp_path / "out", tmp_path / "back" / "weights.h5")
    assert joined.read_bytes() == data


def test_small_file_is_one_part_under_its_own_name(tmp_path):
    _random_file(tmp_path / "g.h5", 300)
    entry = lease.split_file(tmp_path / "g.h5", tmp_path / "out", part_bytes=1000)
    assert [p["file"] for p in entry["parts"]] == ["g.h5"]
    assert lease.join_file(entry, tmp_path / "out", tmp_path / "g2.h5").read_bytes() == \
        (tmp_path / "g.h5").read_bytes()


def test_join_refuses_damaged_or_missing_parts(tmp_path):
    _random_file(tmp_path / "d.h5", 2100)
    entry = lease.split_file(tmp_path / "d.h5", tmp_path / "out", part_bytes=1000)
    part = tmp_path / "out" / "d.h5.part-001"
    original = part.read_bytes()
    part.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(lease.IntegrityError, match="part-001"):
        lease.join_file(entry, tmp_path / "out", tmp_path / "joined.h5")
    assert not (tmp_path / "joined.h5").exists()
    part.unlink()
    with pytest.raises(lease.IntegrityError, match="missing"):
        lease.join_file(entry, tmp_path / "out", tmp_path / "joined.h5")
    bad = dict(entry, sha256="0" * 64)
    part.write_bytes(original)
    with pytest.raises(lease.IntegrityError, match="joined file"):
        lease.join_file(bad, tmp_path / "out", tmp_path / "joined.h5")
    assert not list(tmp_path.glob("joined.h5*"))


# ------------------------------------------------------------------ payload: carry and stage
def _fake_sources(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    train = src / "train.tar"
    train.write_bytes(b"train-images " * 5000)  # compressible, as the JPEG tars are
    test = src / "test.tar"
    test.write_bytes(b"test-images " * 1000)
    inception = src / lease.INCEPTION_NAME
    _random_file(inception, 30_000, seed=3)
    return train, test, inception


def _device_copy(payload_dir, device_root, chunks):
    """What a call carries: only the named chunk folders appear in the device's checkout."""
    import shutil

    for chunk in chunks:
        target = device_root / lease.PAYLOAD_DIR / chunk
        if not target.exists():
            shutil.copytree(payload_dir / chunk, target)


def test_payload_carried_in_two_calls_and_staged(tmp_path):
    train, test, inception = _fake_sources(tmp_path)
    payload_dir = tmp_path / "here" / lease.PAYLOAD_DIR
    # A tiny "carry limit" so that the Inception weights must be split over the two calls.
    payload = lease.build_payload(payload_dir, train, test, inception, wheel_bytes=1000,
                                  tree=2000, limit=25_000, margin=1000)
    parts = payload["items"][2]["parts"]
    assert [p["chunk"] for p in parts] == ["c1", "c2"]
    assert sum(p["size"] for p in parts) == inception.stat().st_size
    # Call 1 is filled to the limit less the margin: its data + wheels + tree.
    payload_json = (payload_dir / "c1" / lease.PAYLOAD_NAME).stat().st_size
    assert payload["chunk_bytes"]["c1"] - payload_json + 1000 + 2000 == 25_000 - 1000

    device, home = tmp_path / "device", tmp_path / "home"
    assert lease.status(device, home)["carry_next"] == [".lease/c1"]
    _device_copy(payload_dir, device, ["c1"])
    first = lease.stage(device, home)
    assert first["items"]["train.tar"] == "ready" and first["items"]["test.tar"] == "ready"
    assert first["items"][lease.INCEPTION_NAME] == "needs c2"
    assert first["carry_next"] == [".lease/c2"]
    paths = lease.data_paths(home)
    assert paths["train"].read_bytes() == train.read_bytes()
    assert paths["test"].read_bytes() == test.read_bytes()
    assert not paths["inception"].exists()
    assert lease.ready(home, "train", device) and not lease.ready(home, "inception", device)

    # A later call on the warm machine: its checkout still holds c1 and now c2 as well.
    _device_copy(payload_dir, device, ["c2"])
    second = lease.stage(device, home)
    assert second["carry_next"] == [] and set(second["items"].values()) == {"ready"}
    assert paths["inception"].read_bytes() == inception.read_bytes()
    assert not any((home / "store" / "parts").iterdir())  # parts are dropped once joined
    # Staging again (a third call) changes nothing and needs nothing.
    assert lease.stage(device, home)["carry_next"] == []


def test_stage_refuses_a_damaged_chunk(tmp_path):
    train, test, inception = _fake_sources(tmp_path)
    payload_dir = tmp_path / "here" / lease.PAYLOAD_DIR
    lease.build_payload(payload_dir, train, test, inception, limit=25_000, margin=1000)
    device = tmp_path / "device"
    _device_copy(payload_dir, device, ["c1"])
    damaged = device / lease.PAYLOAD_DIR / "c1" / "train.tar.gz"
    damaged.write_bytes(damaged.read_bytes()[:-3])
    with pytest.raises(lease.IntegrityError, match="train.tar.gz"):
        lease.stage(device, tmp_path / "home")
    assert not lease.data_paths(tmp_path / "home")["train"].exists()


def test_payload_is_reproducible(tmp_path):
    train, test, inception = _fake_sources(tmp_path)
    a = lease.build_payload(tmp_path / "a", train, test, inception, limit=25_000, margin=1000)
    b = lease.build_payload(tmp_path / "b", train, test, inception, limit=25_000, margin=1000)
    assert a["id"] == b["id"]


def test_published_weights_wait_outside_the_tree_during_a_lease(tmp_path):
    """`aside` moves the large tracked files of hub_mirror/ into the ignored .lease/aside/ (the
    tree that travels shrinks by their size); `restore` puts the same bytes back."""
    repo = tmp_path / "repo"
    (repo / "hub_mirror" / "org" / "m").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    big = _random_file(repo / "hub_mirror" / "org" / "m" / "generator.weights.h5", 3000, seed=4)
    (repo / "hub_mirror" / "org" / "m" / "config.json").write_text("{}")
    (repo / "code.py").write_text("x = 1\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    before = lease.tree_bytes(repo)
    moved = lease.set_aside(repo, min_bytes=1000)
    assert moved == ["hub_mirror/org/m/generator.weights.h5"]
    assert lease.tree_bytes(repo) == before - 3000
    assert (repo / "hub_mirror" / "org" / "m" / "config.json").is_file()  # small files stay
    assert subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", ".lease/aside/x"]).returncode == 0
    # `prepare` after `aside` (the order its own refusal asks for) rebuilds the chunks only.
    train, test, inception = _fake_sources(tmp_path)
    lease.build_payload(repo / lease.PAYLOAD_DIR, train, test, inception, limit=25_000, margin=1000)
    lease.build_payload(repo / lease.PAYLOAD_DIR, train, test, inception, limit=25_000, margin=1000)
    assert lease.restore_aside(repo) == ["hub_mirror/org/m/generator.weights.h5"]
    assert (repo / "hub_mirror" / "org" / "m" / "generator.weights.h5").read_bytes() == big
    lease.set_aside(repo, min_bytes=1000)
    (repo / "hub_mirror" / "org" / "m" / "generator.weights.h5").write_bytes(b"other")  # came back changed
    with pytest.raises(SystemExit, match="differs"):
        lease.restore_aside(repo)


# ------------------------------------------------------------------------- what comes back
def test_pack_keeps_to_the_out_limits_and_joins_back(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    g = _random_file(run / "generator.weights.h5", 900, seed=1)
    d = _random_file(run / "discriminator.weights.h5", 1500, seed=2)
    (run / "samples" / "step_000000010.png").write_bytes(b"old")
    (run / "samples" / "step_000000020.png").write_bytes(b"png")
    (run / "eval.json").write_text('{"metrics": {}}')
    out = tmp_path / "out"
    out.mkdir()
    (out / "lease-log.txt").write_text("log\n")
    manifest = lease.pack(out, run, {"next": "done"}, part_bytes=1000)
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= lease.OUT_MAX_FILES
    assert {"report.json", "manifest.json", "lease-log.txt", "generator.weights.h5",
            "discriminator.weights.h5.part-001", "samples.png", "eval.json"} <= set(files)
    assert manifest["left_out"] == []
    report = json.loads((out / "report.json").read_text())
    assert report["returned"] == ["generator.weights.h5", "discriminator.weights.h5",
                                  "samples.png", "eval.json"]
    back = tmp_path / "back"
    lease.join(out, back)
    assert (back / "generator.weights.h5").read_bytes() == g
    assert (back / "discriminator.weights.h5").read_bytes() == d
    assert (back / "samples.png").read_bytes() == b"png"
    assert (back / "report.json").is_file() and (back / "lease-log.txt").is_file()


def test_pack_with_an_ema_returns_both_generators_and_join_restores_the_records(tmp_path):
    """With an EMA the 8 files are: log, report, manifest, G (EMA), G raw, D in two parts and
    the grid; the evaluation records travel in report.json and join writes them back out."""
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    _random_file(run / "generator.weights.h5", 900, seed=1)
    raw = _random_file(run / "generator_raw.weights.h5", 900, seed=3)
    _random_file(run / "discriminator.weights.h5", 1500, seed=2)
    (run / "samples" / "step_000000020.png").write_bytes(b"png")
    (run / "eval.json").write_text('{"generator": "ema"}')
    out = tmp_path / "out"
    out.mkdir()
    (out / "lease-log.txt").write_text("log\n")
    records = {"eval": {"generator": "ema", "fid": 30.0}, "eval_raw": {"generator": "raw", "fid": 29.0}}
    manifest = lease.pack(out, run, dict(records, fid_curve=[{"d_step": 10, "fid": 80.0}]), part_bytes=1000)
    assert len(list(out.iterdir())) == lease.OUT_MAX_FILES
    assert [e["name"] for e in manifest["files"]] == ["generator.weights.h5", "generator_raw.weights.h5",
                                                       "discriminator.weights.h5", "samples.png"]
    assert manifest["left_out"] and manifest["left_out"][0].startswith("eval.json")
    back = tmp_path / "back"
    lease.join(out, back)
    assert (back / "generator_raw.weights.h5").read_bytes() == raw
    assert json.loads((back / "eval.json").read_text()) == records["eval"]
    assert json.loads((back / "eval_raw.json").read_text()) == records["eval_raw"]
    assert json.loads((back / "fid.jsonl").read_text()) == {"d_step": 10, "fid": 80.0}


def test_ema_decay_is_a_run_setting_a_resumed_call_keeps():
    import lease_train

    _, hyper = lease_train.resolve_settings("sndcgan-ns-sn-cifar10", ema_decay=0.999)
    assert hyper["ema_decay"] == 0.999 and hyper["g_lr"] == 2e-4  # the recipe otherwise
    assert lease_train.resolve_settings("sndcgan-ns-sn-cifar10")[1]["ema_decay"] is None
    with pytest.raises(ValueError, match="ema_decay must be below 1"):
        lease_train.resolve_settings("sndcgan-ns-sn-cifar10", ema_decay=1.5)


def test_pack_leaves_out_what_would_exceed_the_file_count(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _random_file(run / "generator.weights.h5", 900)
    _random_file(run / "discriminator.weights.h5", 6500)  # 7 parts: over the 8-file limit
    (run / "eval.json").write_text("{}")
    manifest = lease.pack(tmp_path / "out", run, {}, part_bytes=1000)
    assert len(list((tmp_path / "out").iterdir())) <= lease.OUT_MAX_FILES
    assert manifest["left_out"] and "discriminator" in manifest["left_out"][0]
    assert [e["name"] for e in manifest["files"]] == ["generator.weights.h5", "eval.json"]


def test_sizes_of_the_real_payload_fit_the_carry_limit():
    """The SNDCGAN weights that come back: G in one file, D in two parts of under 16 MiB."""
    g_bytes = 3_828_739 * 4
    d_bytes = 5_860_865 * 4
    assert g_bytes < lease.PART_BYTES < lease.OUT_FILE_LIMIT
    assert -(-d_bytes // lease.PART_BYTES) == 2


# -------------------------------------------------------------------- data order and budget
def test_numpy_batches_resume_where_an_uninterrupted_run_is():
    import lease_train

    images = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    full = lease_train.numpy_batches(images, 3, seed=5)
    first = [next(full)[0] for _ in range(8)]  # 3 batches per epoch: crosses two epochs
    resumed = lease_train.numpy_batches(images, 3, seed=5, start_step=4)
    for expected in first[4:]:
        np.testing.assert_array_equal(next(resumed)[0], expected)
    batch = first[0]
    assert batch.dtype == np.float32 and batch.shape == (3, 4, 4, 3)
    assert 0.0 <= batch.min() and batch.max() <= 1.0
    # Every epoch is a permutation: no image twice within one epoch.
    epoch = np.concatenate(first[:3])
    assert len({img.tobytes() for img in epoch}) == 9
    with pytest.raises(ValueError):
        next(lease_train.numpy_batches(images, 11))


def test_budget_stop_ends_fit_at_the_deadline():
    import lease_train

    now = {"t": 0.0}

    class Model:
        stop_training = False

    stop = lease_train.make_budget_stop(10.0, clock=lambda: now["t"], disc_iters=5,
                                        initial_d_step=100)
    model = Model()
    stop.set_model(model)
    stop.on_train_batch_end(0, {})
    assert not model.stop_training and stop.stopped_at is None
    now["t"] = 10.0
    stop.on_train_batch_end(1, {})
    assert model.stop_training and stop.stopped_at == 110  # D steps: 100 + 2 fit steps x 5


# ------------------------------------------------------------------- training: stop, resume
TINY = dict(config="sndcgan-ns-sn-cifar10", dataset="synthetic:32", resolution=8, batch_size=4,
            steps=6, checkpoint_every=100, log_every=1, sample_every=100, snapshot_every=4,
            log=lambda m: None)


def _fake_clock():
    """A clock that reads the D step reached (set by a callback): a deadline counts steps."""
    import lease_train

    now = {"t": 0.0}
    Base = lease_train._callback_base()

    class Tick(Base):
        def on_d_step(self, d_step, logs):
            now["t"] = float(d_step)

    return (lambda: now["t"]), Tick


@pytest.mark.slow
def test_budget_stopped_run_resumes_to_the_end(tmp_path):
    import lease_train

    run = tmp_path / "run"
    clock, Tick = _fake_clock()
    first = lease_train.train(run, deadline=3.0, final_reserve_s=0.0, clock=clock,
                              callbacks=[Tick()], **TINY)
    assert first["d_step"] == 3 and first["stopped_by_budget"] and not first["complete"]
    assert (run / "checkpoints" / "ckpt-000000003.weights.h5").is_file()
    assert (run / "generator.weights.h5").is_file() and (run / "discriminator.weights.h5").is_file()

    second = lease_train.train(run, deadline=None, **TINY)
    assert second["initial_d_step"] == 3 and second["d_step"] == 6 and second["complete"]
    assert not second["stopped_by_budget"]
    steps = [r["d_step"] for r in lease_train._read_jsonl(run / "scalars.jsonl")]
    assert steps == [1, 2, 3, 4, 5, 6]
    # Snapshots for the FID curve: every snapshot_every steps and the last step of each call.
    assert [step for step, _ in lease_train.snapshots(run)] == [3, 4, 6]
    config = json.loads((run / "config.json").read_text())
    assert config["training"]["steps"] == 6 and config["data_order"] == lease_train.DATA_ORDER

    # A finished run: nothing left to train, the weights are written again.
    third = lease_train.train(run, deadline=None, **TINY)
    assert third["d_steps_this_call"] == 0 and third["complete"]

    with pytest.raises(RuntimeError, match="another run"):
        lease_train.train(run, **dict(TINY, batch_size=2))


class _FakeInception:
    """Stands in for the Inception network: 6 cheap features per image."""

    def __init__(self):
        self.images = 0

    def features(self, images):
        images = np.asarray(images, np.float32)
        self.images += len(images)
        flat = images.reshape(len(images), -1)
        return np.stack([flat[:, i::6].mean(axis=1) for i in range(6)], axis=1)


def test_fid_curve_measures_each_snapshot_once(tmp_path):
    import ganzoo
    import lease_train

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"training": {
        "architecture": "sndcgan", "resolution": 8, "z_dim": 128}}))
    gan = ganzoo.build_gan("sndcgan", resolution=8, normalization="spectral", loss="ns", seed=0)
    for step in (2, 4):
        lease_train.save_snapshot(gan, run / "snapshots", step)
    reference = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    network = _FakeInception()
    points = lease_train.fid_curve(run, reference, num_samples=20, network=network,
                                   log=lambda m: None)
    assert [p["d_step"] for p in points] == [2, 4]
    assert all(np.isfinite(p["fid"]) and p["protocol"] is False for p in points)
    assert network.images == 20 + 2 * 20
    lease_train.save_snapshot(gan, run / "snapshots", 6)
    points = lease_train.fid_curve(run, reference, num_samples=20, network=network,
                                   log=lambda m: None)
    assert [p["d_step"] for p in points] == [2, 4, 6] and network.images == 60 + 40
    # Past its deadline the curve measures nothing more (and says so).
    lease_train.save_snapshot(gan, run / "snapshots", 8)
    points = lease_train.fid_curve(run, reference, num_samples=20, network=network,
                                   deadline=0.0, clock=lambda: 1.0, log=lambda m: None)
    assert [p["d_step"] for p in points] == [2, 4, 6]


# ------------------------------------------------------------------------- benchmark runner
def test_array_fit_runner_trains_without_tf_data():
    import keras

    import ganzoo
    import lease_bench

    gan = ganzoo.build_gan("sndcgan", resolution=8, normalization="spectral", loss="ns", seed=0)
    images = np.random.default_rng(0).random((4, 8, 8, 3), dtype=np.float32)
    runner = lease_bench.ArrayFitRunner(gan, images)
    runner.run(2)
    assert gan.d_steps == 2
    assert runner.info()["backend"] == keras.backend.backend()
    assert "NumPy" in runner.info()["input"]


def test_bench_wrapper_starts_itself_as_the_peer_worker():
    import lease_bench
    import train_step

    saved = (train_step.FitRunner, train_step.__file__)
    try:
        lease_bench.patch()
        assert train_step.FitRunner is lease_bench.ArrayFitRunner
        assert train_step.__file__ == os.path.abspath(lease_bench.__file__)
    finally:
        train_step.FitRunner, train_step.__file__ = saved


# --------------------------------------------------------------------- one call, end to end
@pytest.mark.slow
def test_one_call_end_to_end_in_a_subprocess(tmp_path):
    """`lease.py call` as on the device, on synthetic data: train to a tiny budget-free end,
    no benchmark or evaluation, then check $OUT against the limits and join it back here."""
    home, out = tmp_path / "home", tmp_path / "out"
    env = dict(os.environ, GANZOO_LEASE_HOME=str(home), OUT=str(out),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, str(BENCH / "lease.py"), "call", "--payload_root",
               str(tmp_path / "nothing-carried"), "--dataset", "synthetic:32", "--resolution",
               "8", "--batch_size", "4", "--steps", "3", "--bench", "no", "--eval", "no",
               "--log_every", "1", "--call_minutes", "5"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= lease.OUT_MAX_FILES
    assert {"report.json", "manifest.json", "generator.weights.h5"} <= set(files)
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["d_step"] == 3 and report["training"]["complete"]
    assert report["status"]["carry_next"] == [".lease/c1"]
    back = tmp_path / "back"
    lease.join(out, back)
    assert lease.sha256_of(back / "discriminator.weights.h5") == \
        report["training"]["weights"]["discriminator.weights.h5"]


def test_a_call_too_short_to_train_does_not_start_training(tmp_path):
    """With less than --min_train_s left before the evaluation's reserves, the call skips
    training (loading, restoring and compiling would eat the time) and still packs a report."""
    env = dict(os.environ, GANZOO_LEASE_HOME=str(tmp_path / "home"), OUT=str(tmp_path / "out"))
    command = [sys.executable, str(BENCH / "lease.py"), "call", "--payload_root",
               str(tmp_path / "nothing-carried"), "--dataset", "synthetic:32", "--bench", "no",
               "--eval", "yes", "--call_minutes", "2"]  # 120 s < 155 s of reserves
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "no training in this call" in done.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "training" not in report and report["returned"] == []
