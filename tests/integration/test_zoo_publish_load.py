"""A zoo entry published from a training run folder and loaded back through the loopback Hub.

The run is simulated once for this module, as training/train.py --config NAME --ema_decay 0.999
writes it (checkpoints/ with the run's metadata, config.json, final generator / raw generator /
discriminator weights, fid.jsonl), after two fit steps of NAME's 32x32 recipe (batch 2, EMA) on
random images labelled as the CIFAR10 run they stand in for: reading the real CIFAR10 tar is too
slow for a unit test. It is published with ganzoo.zoo.publishing.publish (what `ganzoo publish`
runs) as a "partial" entry (two of the recipe's 200,000 steps), from evaluation records of both
generators, with HfApi's two network calls patched to commit into the loopback Hub
(tests/hub_server.py); `ganzoo publish --dry-run` itself writes the same folder. The run-folder
route of a model of your own, trained by training/train.py itself, is tests/integration/test_zoo_run_to_preset.py.
"""
import hashlib
import json
import os
import pathlib
import shutil
import stat
import types

import numpy as np
import pytest

import ganzoo
from ganzoo.cli.main import main as cli
from ganzoo.zoo import IntegrityError, UnverifiedFilesWarning, hub, load, manifest, preset, publishing
from ganzoo.zoo.loading import list_models, published_files
from hub_server import HubServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "sndcgan-ns-sn-cifar10"
REPO = f"ganzoo/{NAME}"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zoo")
    (tmp / "weights_manifest.json").write_text((ROOT / "weights_manifest.json").read_text())
    with pytest.MonkeyPatch.context() as mp, HubServer() as server:
        mp.setenv("GANZOO_MANIFEST", str(tmp / "weights_manifest.json"))
        mp.setenv("GANZOO_CACHE", str(tmp / "cache"))
        mp.setenv("GANZOO_HUB_DIR", str(tmp / "mirror"))
        mp.setenv("GANZOO_HUB_ENDPOINT", server.endpoint)
        for name in ("GANZOO_OFFLINE", "HF_HUB_OFFLINE", "HF_TOKEN"):
            mp.delenv(name, raising=False)
        yield types.SimpleNamespace(tmp=tmp, server=server, manifest=tmp / "weights_manifest.json")


def eval_record(run_dir, weights, fid):
    """An evaluation record as `ganzoo eval --generator-weights` writes it."""
    return {"model": weights.split(".")[0], "dataset": "cifar10", "resolution": 32,
            "metrics": {"fid": {"mean": fid, "std": 0.5, "values": [fid - 0.5, fid, fid + 0.5]}},
            "protocol": {"n_generated": 8, "n_real": 8, "real": "random test images", "sample_sets": 3},
            "generator_weights": str(run_dir / weights)}


def write_run(folder, gan, hyper, dataset="cifar10", fid_curve=((1, 320.0, 330.0), (2, 310.0, 315.0))):
    """A run folder as training/train.py leaves it at the end of a run."""
    from ganzoo.checkpoint import CheckpointManager

    metadata = {"hyper": hyper, "dataset": dataset, "resize": False, "crop_or_pad": False, "seed": 0,
                "config": NAME, "init_from": None, "backend": "test", "d_step": gan.d_steps,
                "fit_step": gan.d_steps // hyper["disc_iters"]}
    CheckpointManager(folder / "checkpoints").save(gan, step=gan.d_steps, metadata=metadata)
    (folder / "config.json").write_text(json.dumps({"training": hyper, **{k: v for k, v in metadata.items()
                                                                         if k not in ("hyper", "d_step", "fit_step")}}))
    if gan.ema_generator is not None:
        gan.ema_generator.save_weights(str(folder / "generator.weights.h5"))
        gan.generator.save_weights(str(folder / "generator_raw.weights.h5"))
    else:
        gan.generator.save_weights(str(folder / "generator.weights.h5"))
    gan.discriminator.save_weights(str(folder / "discriminator.weights.h5"))
    lines = [{"d_step": s, "fid": f, "fid_raw": r, "seconds": 1.0, "generated": 8, "reference": 8,
              "reference_split": "test", "dataset": dataset} for s, f, r in fid_curve]
    (folder / "fid.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


@pytest.fixture(scope="module")
def trained(env):
    hyper = dict(manifest.training_config(NAME), batch_size=2, ema_decay=0.999, ema_start_step=0)
    gan = ganzoo.build_gan(**hyper, seed=0)
    images = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    gan.fit(images, batch_size=2, epochs=1, verbose=0)
    assert gan.d_steps == 2
    run_dir = write_run(env.tmp / "run", gan, hyper)
    (env.tmp / "eval_ema.json").write_text(json.dumps(eval_record(run_dir, "generator.weights.h5", 250.0)))
    (env.tmp / "eval_raw.json").write_text(json.dumps(eval_record(run_dir, "generator_raw.weights.h5", 240.0)))
    metrics = [str(env.tmp / "eval_ema.json"), str(env.tmp / "eval_raw.json")]
    return types.SimpleNamespace(gan=gan, run_dir=run_dir, hyper=hyper, images=images, metrics=metrics)


@pytest.fixture(scope="module")
def published(env, trained):
    """Upload through the real publish() with HfApi's network calls patched."""
    import huggingface_hub

    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, self.token, self.endpoint, kwargs))

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls.append(("upload_folder", repo_id, self.token, self.endpoint, kwargs))
        allowed = kwargs["allow_patterns"]
        files = {p.name: p.read_bytes() for p in pathlib.Path(folder_path).iterdir() if p.name in allowed}
        return types.SimpleNamespace(oid=env.server.commit(repo_id, files))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
        mp.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
        out_dir, records, revision = publishing.publish(
            NAME, str(trained.run_dir), token="hf_test_token", endpoint=env.server.endpoint,
            metrics=trained.metrics, status="partial", num_samples=4,
        )
    return types.SimpleNamespace(out_dir=out_dir, records=records, revision=revision, calls=calls)


def test_ganzoo_publish_dry_run_on_the_command_line(env, trained, capsys):
    """`ganzoo publish` takes both spellings (training/publish.py's --out_dir, --dry_run and its own
    --out-dir, --dry-run); a refusal is one line and exit status 1."""
    before = env.manifest.read_bytes()
    out = env.tmp / "dry-cli"
    assert cli(["publish", "--config", NAME, "--checkpoint", str(trained.run_dir), "--out_dir", str(out), "--dry-run",
                "--status", "partial", "--num-samples", "2", "--sample_seed", "1", "--exclude-metrics", "kid",
                *[f"--metrics={m}" for m in trained.metrics]]) == 0
    printed = capsys.readouterr().out
    assert f"publish: {NAME} [partial]: 2 discriminator steps on cifar10; inference generator raw" in printed
    assert "publish: dry run: folder written; manifest unchanged, nothing uploaded." in printed
    assert publishing.check_layout(out) == [] and env.manifest.read_bytes() == before and env.server.count() == 0
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["status"] == "partial" and (metadata["samples"]["num"], metadata["samples"]["seed"]) == (2, 1)
    assert metadata["inference_generator"]["generator"] == "raw"
    assert cli(["publish", "--config", NAME, "--checkpoint", str(trained.run_dir), "--repo-id", "../x", "--dry_run",
                "--status", "partial"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ganzoo publish: error: Invalid --repo_id") and "Traceback" not in err


def test_publish_dry_run_writes_the_preset_from_the_run(env, trained):
    before = env.manifest.read_bytes()
    out = env.tmp / "dry"
    out_dir, records, revision = publishing.publish(
        NAME, str(trained.run_dir), out_dir=str(out), dry_run=True, num_samples=4, status="partial",
        metrics=trained.metrics,
    )
    assert revision is None and out_dir == out
    assert sorted(p.name for p in out.iterdir()) == sorted(preset.LAYOUT)
    assert publishing.check_layout(out) == []
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask  # a mkdir'd folder's mode, not the stage's 0700
    assert env.manifest.read_bytes() == before  # a dry run leaves the manifest alone
    assert env.server.count() == 0  # and uploads nothing
    for filename, record in records.items():
        assert hub.file_record(out / filename) == record
    config = json.loads((out / "config.json").read_text())
    metadata = json.loads((out / "metadata.json").read_text())
    # config.json: the generator's Keras config (keras-hub's layout) and the recipe.
    assert config["registered_name"] == "ganzoo>SNDCGANGenerator" and config["config"]["resolution"] == 32
    assert config["discriminator"]["config"]["normalization"] == "spectral"
    assert config["recipe"] == manifest.training_config(NAME)
    assert config["differs_from_recipe"] == {"batch_size": 2, "ema_decay": 0.999}
    # metadata.json: provenance from the run itself (hole 7), the generator choice, both FIDs.
    assert metadata["status"] == "partial"
    assert metadata["trained"] == {"d_steps": 2, "g_steps": 2, "recipe_steps": 200000, "ema_decay": 0.999}
    assert metadata["dataset"] == {"name": "cifar10", "source": "cifar10", "resolution": 32}
    assert metadata["inference_generator"]["generator"] == "raw"  # FID 240 < 250
    assert metadata["fid"]["ours"]["value"] == 240.0 and metadata["fid"]["ours"]["generator"] == "raw"
    assert metadata["fid"]["paper"]["value"] == 25.27
    assert [p["d_step"] for p in metadata["fid_curve"]] == [1, 2] and metadata["fid_curve"][1]["fid_raw"] == 315.0
    assert metadata["parameter_count"]["generator"] == trained.gan.generator.count_params()
    assert metadata["files"]["discriminator.weights.h5"]["dtype"] == "float16"
    assert metadata["files"]["generator.weights.h5"] == {**records["generator.weights.h5"], "dtype": "float32"}
    from huggingface_hub import ModelCard

    card = ModelCard((out / "README.md").read_text())
    assert card.data.library_name == "keras"
    for needle in ("**Status: partial.**", "**2 discriminator steps**", "of the recipe's 200,000",
                   "| the paper | 25.27 |", "| this checkpoint (raw generator) | 240 ± 0.5 (3 sample sets)",
                   "the raw generator (the weights the optimiser trained): its FID 240 is lower than",
                   "| the ema generator (not published) | 250 |", "## FID during training", "| 2 | 310 | 315 |",
                   "keras.saving.load_model(\"generator.keras\")", "`ema_decay` = 0.999", "`batch_size` = 2",
                   records["generator.weights.h5"]["sha256"], records["config.json"]["sha256"]):
        assert needle in card.text, needle
    # The published weights are the raw generator of the checkpoint.
    from PIL import Image

    from ganzoo.utils.images import make_grid

    grid = make_grid(trained.gan.generator.sample(4, seed=0))
    assert np.array_equal(np.asarray(Image.open(out / "samples.png")), grid)


def test_upload_path_updates_the_manifest(env, published):
    kinds = [c[0] for c in published.calls]
    assert kinds == ["create_repo", "upload_folder"]
    for _, repo_id, token, endpoint, _ in published.calls:
        assert (repo_id, token, endpoint) == (REPO, "hf_test_token", env.server.endpoint)
    assert sorted(published.calls[1][4]["allow_patterns"]) == sorted(preset.LAYOUT)
    assert hub.COMMIT_RE.match(published.revision)
    assert published.out_dir == env.tmp / "mirror" / "ganzoo" / NAME
    entry = manifest.get_entry(NAME)
    assert entry["status"] == "partial" and entry["hub"]["revision"] == published.revision
    assert entry["trained"] == {"d_steps": 2, "g_steps": 2}
    assert entry["hub"]["files"] == published.records
    assert entry["metrics"][0]["name"] == "fid" and entry["metrics"][0]["value"] == 240.0
    assert manifest.validate(json.loads(env.manifest.read_text())) == []


def test_list_and_info_show_steps_and_both_fids(env, published, capsys):
    (row,) = [r for r in list_models(status="partial")]
    assert (row["name"], row["trained_steps"], row["steps"], row["paper_fid"], row["fid"]) == (
        NAME, 2, 200000, 25.27, 240.0)
    assert cli(["list", "--status", "partial"]) == 0
    out = capsys.readouterr().out
    assert NAME in out and "2/200k" in out and "25.27" in out and "240.00" in out and "1 partial" in out
    assert cli(["info", NAME]) == 0
    out = capsys.readouterr().out
    assert "status: partial" in out and "trained: 2 of the recipe's 200,000 discriminator steps" in out
    assert "measured fid: 240 +- 0.5   (paper: 25.27)  (protocol: " in out


def test_load_downloads_verifies_and_reports(env, trained, published, monkeypatch, capsys):
    monkeypatch.setenv("GANZOO_HUB_DIR", str(env.tmp / "empty-mirror"))  # force the Hub path
    generator = load(NAME)
    assert env.server.count("GET", "/generator.weights.h5") == 1
    np.testing.assert_array_equal(generator.sample(4, seed=1), trained.gan.generator.sample(4, seed=1))
    info = generator.preset_info
    assert (info.status, info.d_steps, info.recipe_steps, info.fid, info.paper_fid, info.verified) == (
        "partial", 2, 200000, 240.0, 25.27, "sha256")
    assert "2 of the recipe's 200,000 discriminator steps; FID 240 (raw generator) vs paper FID 25.27" in \
        capsys.readouterr().err
    # Cache hit: nothing more is asked of the Hub, also offline; an hf:// handle of the entry is the entry.
    requests = len(env.server.requests)
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    paths = published_files(NAME, files=["config.json", "generator.weights.h5"])
    assert all("snapshots" in p for p in paths.values())
    again = load(f"hf://{REPO}", progress=False)
    assert again.preset_info.verified == "sha256"
    assert len(env.server.requests) == requests


def test_fine_tune_from_the_float16_discriminator(env, trained, published):
    gan = load(NAME, with_discriminator=True, progress=False)  # from the mirror this time
    assert isinstance(gan, ganzoo.GAN)
    for optimizer in (gan.generator_optimizer, gan.discriminator_optimizer):
        assert float(optimizer.learning_rate) == pytest.approx(2e-4)
        assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.5, 0.999, 1e-8)
    assert gan.disc_iters == 1 and gan.d_steps == 0 and gan.ema_decay == 0.999
    for loaded, original in zip(gan.discriminator.weights, trained.gan.discriminator.weights):
        loaded, original = np.asarray(loaded), np.asarray(original)
        assert loaded.dtype == np.float32
        # float16 rounding: half a unit in the last place (2**-11 relative), subnormals 2**-25 absolute.
        np.testing.assert_allclose(loaded, original, rtol=2.0 ** -11, atol=2.0 ** -25)
    assert any(not np.array_equal(np.asarray(a), np.asarray(b))
               for a, b in zip(gan.discriminator.weights, trained.gan.discriminator.weights))
    history = gan.fit(trained.images, batch_size=2, epochs=1, verbose=0)
    assert gan.d_steps == 2 and gan.g_steps == 2
    for key in ("d_loss", "g_loss"):
        assert all(np.isfinite(history.history[key])), history.history


def test_another_revision_needs_trusted_hashes(env, trained, published, tmp_path, monkeypatch):
    """Hole 5: a revision's own metadata cannot vouch for itself (zeroed weights would pass)."""
    monkeypatch.setenv("GANZOO_HUB_DIR", str(tmp_path / "no-mirror"))
    files = dict(env.server.repos[REPO]["commits"][published.revision])
    zeroed_model = ganzoo.architectures.build_generator("sndcgan", resolution=32)
    zeroed_model.set_weights([np.zeros_like(w) for w in zeroed_model.get_weights()])
    zeroed_model.save_weights(str(tmp_path / "zero.weights.h5"))
    zeroed = (tmp_path / "zero.weights.h5").read_bytes()
    metadata = json.loads(files["metadata.json"])
    metadata["files"]["generator.weights.h5"] = {"sha256": hashlib.sha256(zeroed).hexdigest(), "size": len(zeroed),
                                                 "dtype": "float32"}
    files.update({"generator.weights.h5": zeroed, "metadata.json": json.dumps(metadata).encode()})
    sha_v2 = env.server.commit(REPO, files)  # main moves on to a self-consistent, zeroed revision
    gets = env.server.count("GET")
    with pytest.raises(IntegrityError, match="has no sha256 that ganzoo trusts.*vouch for itself"):
        load(NAME, revision=sha_v2, progress=False)
    with pytest.raises(IntegrityError, match="has no sha256 that ganzoo trusts"):
        load(f"hf://{REPO}@{sha_v2}", progress=False)
    assert env.server.count("GET") == gets  # refused before any download
    # With hashes the caller trusts, that revision is verified against them ...
    trusted = {f: hashlib.sha256(files[f]).hexdigest() for f in ("config.json", "metadata.json", "generator.weights.h5")}
    generator = load(NAME, revision=sha_v2, sha256=trusted, progress=False)
    assert generator.preset_info.verified == "sha256"
    assert not np.any(generator.sample(2, seed=0) - 0.5)  # zero weights: tanh(0) -> 0.5 everywhere
    bad = dict(trusted, **{"generator.weights.h5": hashlib.sha256(b"other").hexdigest()})
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cold-cache"))
    with pytest.raises(IntegrityError, match="Refused generator.weights.h5"):
        load(f"hf://{REPO}@{sha_v2}", sha256=bad, progress=False)
    # ... or, explicitly unverified, it loads with a loud warning and says so.
    with pytest.warns(UnverifiedFilesWarning, match="LOADING UNVERIFIED FILES"):
        unverified = load(f"hf://{REPO}@main", verify=False, progress=False)
    assert unverified.preset_info.verified == "none" and "FILES NOT VERIFIED" in unverified.preset_info.summary()
    # The pinned revision is still the default.
    assert load(NAME, progress=False).preset_info.verified == "sha256"


def test_load_refuses_a_tampered_hub_file(env, published, tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_HUB_DIR", str(tmp_path / "no-mirror"))
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cold-cache"))
    files = env.server.repos[REPO]["commits"][published.revision]
    original = files["generator.weights.h5"]
    flipped = bytes(b ^ 0xFF for b in original[4096:4112])  # same size, 16 bytes changed
    tampered = original[:4096] + flipped + original[4112:]
    env.server.tamper(REPO, "generator.weights.h5", tampered, revision=published.revision)
    try:
        with pytest.raises(IntegrityError, match="Refused generator.weights.h5 .*not loaded"):
            load(NAME, progress=False)
    finally:
        env.server.tamper(REPO, "generator.weights.h5", original, revision=published.revision)
    cached = [p.name for p in (tmp_path / "cold-cache").rglob("*") if p.is_file()]
    assert hashlib.sha256(tampered).hexdigest() not in cached and "generator.weights.h5" not in cached, cached


def test_nan_weights_are_refused(env, trained, published, tmp_path):
    folder = tmp_path / "nan-preset"
    shutil.copytree(published.out_dir, folder)
    import h5py

    with h5py.File(folder / "generator.weights.h5", "r+") as handle:
        kernels = []
        handle.visititems(lambda name, item: kernels.append(name) if isinstance(item, h5py.Dataset) else None)
        data = handle[kernels[0]][()]
        data.flat[0] = np.nan
        handle[kernels[0]][...] = data
    metadata = json.loads((folder / "metadata.json").read_text())  # consistent hashes: only the NaN check is left
    metadata["files"]["generator.weights.h5"].update(hub.file_record(folder / "generator.weights.h5"))
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(IntegrityError, match="NaN/Inf in .*never loaded"):
        load(str(folder), progress=False)
    # Publishing a diverged model is refused too.
    diverged = ganzoo.build_gan(**trained.hyper)
    diverged.set_weights(trained.gan.get_weights())
    diverged.discriminator.weights[0].assign(np.full(diverged.discriminator.weights[0].shape, np.inf, "float32"))
    with pytest.raises(ValueError, match="holds NaN/Inf"):
        preset.save_preset(diverged, tmp_path / "never", name="x", dataset="cifar10", recipe=trained.hyper)
    assert not (tmp_path / "never").exists()


def test_a_local_preset_checks_its_files(env, published, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(published.out_dir, folder)
    assert load(str(folder), progress=False).preset_info.verified == "local"
    blob = bytearray((folder / "generator.weights.h5").read_bytes())
    blob[-100] ^= 0xFF
    (folder / "generator.weights.h5").write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="corrupt or was changed after the preset was written"):
        load(str(folder), progress=False)
    with pytest.raises(preset.PresetError, match="(?s)is a training run folder, not a preset.*ganzoo publish --checkpoint"):
        load(str(env.tmp / "run"), progress=False)
    with pytest.raises(preset.PresetError, match="is not a folder"):
        load(str(tmp_path / "nowhere" / "x"), progress=False)


def test_a_preset_config_builds_only_ganzoo_generators(env, published, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(published.out_dir, folder)
    original = json.loads((folder / "config.json").read_text())
    for change, needle in (
        ({"registered_name": "builtins>eval", "module": "builtins", "class_name": "eval"}, "is not one of ganzoo's"),
        ({"config": dict(original["config"], resolution=100_000)}, "asks for resolution 100000"),
        ({"format": "something-else"}, "is not a ganzoo preset file"),
    ):
        (folder / "config.json").write_text(json.dumps(dict(original, **change)))
        with pytest.raises(preset.PresetError, match=needle):
            load(str(folder), progress=False)


def test_cli_sample_and_fetch(env, trained, published, tmp_path, capsys):
    out = tmp_path / "samples.npz"
    assert cli(["sample", NAME, "--num", "3", "--seed", "5", "--batch-size", "2", "--out", str(out),
                "--no-progress"]) == 0
    # Batches of 2 instead of 3: the same z, convolutions batched differently (float round-off).
    np.testing.assert_allclose(np.load(out)["images"], trained.gan.generator.sample(3, seed=5), atol=1e-6)
    assert cli(["fetch", NAME, "--all-files", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert all(f"{NAME}: {f} verified" in printed for f in manifest.PUBLISHED_FILES)
    # A preset folder works the same way.
    assert cli(["sample", str(published.out_dir), "--num", "2", "--out", str(tmp_path / "b.npz"), "--no-progress"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "b.npz")["images"], trained.gan.generator.sample(2, seed=0))


def test_sample_writers(tmp_path):
    from ganzoo.cli.zoo import _write_images

    images = np.random.default_rng(0).random((5, 8, 8, 3), dtype=np.float32)
    _write_images(images, str(tmp_path / "grid.png"), columns=5)
    _write_images(images, str(tmp_path / "folder"))
    _write_images(images, str(tmp_path / "a.npz"))
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == [f"{i:06d}.png" for i in range(5)]
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["images"], images)
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").size == (5 * 10 + 2, 12)


# -- hole 2: publishing never deletes what ganzoo did not write; ids and names are validated ------


def test_publish_never_deletes_a_folder_it_did_not_write(env, trained, tmp_path):
    mine = tmp_path / "my-documents"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    (mine / "sub").mkdir()
    for dry_run in (True, False):
        with pytest.raises(preset.PresetError, match="holds files ganzoo did not write .*never deletes"):
            publishing.publish(NAME, str(trained.run_dir), out_dir=str(mine), dry_run=dry_run, status="partial",
                               token="t" if not dry_run else None, repo_id="someone/else", num_samples=2)
    assert (mine / "thesis.tex").read_text() == "years of work" and (mine / "sub").is_dir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    with pytest.raises(preset.PresetError, match="is not a folder"):
        publishing.publish(NAME, str(trained.run_dir), out_dir=str(a_file), dry_run=True, status="partial")
    assert a_file.read_text() == "keep"
    # A preset ganzoo wrote is replaced whole; an empty folder is filled.
    target = tmp_path / "preset"
    publishing.publish(NAME, str(trained.run_dir), out_dir=str(target), dry_run=True, status="partial",
                       num_samples=2)
    first = (target / "metadata.json").read_text()
    publishing.publish(NAME, str(trained.run_dir), out_dir=str(target), dry_run=True, status="partial",
                       num_samples=4)
    assert json.loads((target / "metadata.json").read_text())["samples"]["num"] == 4 != json.loads(first)["samples"]["num"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "my-documents", "preset"]  # no leftovers
    (tmp_path / "empty").mkdir()
    publishing.publish(NAME, str(trained.run_dir), out_dir=str(tmp_path / "empty"), dry_run=True,
                       status="partial", num_samples=2)
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == sorted(preset.LAYOUT)
    (target / "extra.txt").write_text("not ganzoo's")
    with pytest.raises(preset.PresetError, match="extra.txt"):
        publishing.publish(NAME, str(trained.run_dir), out_dir=str(target), dry_run=True, status="partial")
    assert (target / "extra.txt").exists()


@pytest.mark.parametrize("repo_id", ["../x", "ganzoo/../../etc", "a/b/c", "nobody", "a/..", "a--b/c", "/abs"])
def test_publish_refuses_bad_repo_ids(env, trained, repo_id):
    before = sorted(p.as_posix() for p in env.tmp.rglob("*"))
    with pytest.raises(ValueError, match="Invalid --repo_id"):
        publishing.publish(NAME, str(trained.run_dir), repo_id=repo_id, dry_run=True, status="partial")
    assert sorted(p.as_posix() for p in env.tmp.rglob("*")) == before


def test_manifest_entries_with_unsafe_paths_are_refused_on_read(env, tmp_path, monkeypatch):
    data = json.loads(env.manifest.read_text())
    for mutate, needle in (
        (lambda e: e["hub"].__setitem__("repo_id", "../../outside"), "Invalid hub.repo_id"),
        (lambda e: e["hub"]["files"].__setitem__("../../evil.h5", {"sha256": "0" * 64, "size": 1}),
         "not a file of the preset layout"),
        (lambda e: e["hub"].__setitem__("revision", "../main"), "not a 40-hex commit"),
    ):
        broken = json.loads(json.dumps(data))
        mutate(broken["models"]["resnet19-ns-sn-celebahq"])
        path = tmp_path / "m.json"
        path.write_text(json.dumps(broken))
        monkeypatch.setenv("GANZOO_MANIFEST", str(path))
        with pytest.raises(manifest.ManifestError, match=needle):
            load("resnet19-ns-sn-celebahq")
        with pytest.raises(manifest.ManifestError, match="unsafe entry"):
            list_models()


# -- hole 7: steps and data set come from the run; mismatches with the entry are refused -----------


def test_a_finished_run_publishes_its_own_steps(env, trained, tmp_path):
    """The old publisher took a finished run folder's final weights and reported 0 steps."""
    records, summary = publishing.publish_run(trained.run_dir, tmp_path / "p", config=NAME, status="partial",
                                              num_samples=2)
    metadata = json.loads((tmp_path / "p" / "metadata.json").read_text())
    assert summary["d_steps"] == metadata["trained"]["d_steps"] == 2
    assert "**2 discriminator steps**" in (tmp_path / "p" / "README.md").read_text()
    # Without its checkpoints, a folder of weights has no provenance: refused.
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ("generator.weights.h5", "discriminator.weights.h5"):
        shutil.copy(trained.run_dir / f, bare / f)
    with pytest.raises(publishing.PublishError, match="has no checkpoints/ folder"):
        publishing.publish_run(bare, tmp_path / "q", config=NAME, status="partial")
    assert not (tmp_path / "q").exists()


def test_a_run_on_other_data_is_not_published_as_cifar10(env, trained, tmp_path):
    run = write_run(tmp_path / "synthetic-run", trained.gan, trained.hyper, dataset="synthetic:64")
    with pytest.raises(publishing.PublishError, match="read its images from 'synthetic:64'.*not the zoo's cifar10"):
        publishing.publish_run(run, tmp_path / "p", config=NAME, status="partial")
    with pytest.raises(publishing.PublishError, match="--dataset_name cifar10 contradicts|not a copy"):
        publishing.publish_run(run, tmp_path / "p", config=NAME, status="partial", dataset_name="cifar10")
    celeba = write_run(tmp_path / "celeba-run", trained.gan, trained.hyper, dataset="tfds:celeb_a_hq/128")
    with pytest.raises(publishing.PublishError, match="trained on celebahq .*is a cifar10 model"):
        publishing.publish_run(celeba, tmp_path / "p", config=NAME, status="partial")
    folder_run = write_run(tmp_path / "folder-run", trained.gan, trained.hyper, dataset="/data/my-cifar-copy")
    records, summary = publishing.publish_run(folder_run, tmp_path / "p", config=NAME, status="partial",
                                              dataset_name="cifar10", num_samples=2)
    metadata = json.loads((tmp_path / "p" / "metadata.json").read_text())
    assert metadata["dataset"]["name"] == "cifar10" and metadata["dataset"]["source"] == "/data/my-cifar-copy"
    # An evaluation record on another data set, or of other weights, is refused.
    other = dict(eval_record(trained.run_dir, "generator.weights.h5", 1.0), dataset="celebahq")
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(publishing.PublishError, match="measured FID on celebahq, not on cifar10"):
        publishing.publish_run(trained.run_dir, tmp_path / "r", config=NAME, status="partial",
                               metrics=[f"ema={tmp_path / 'other.json'}"])
    stale = tmp_path / "stale-run"
    shutil.copytree(trained.run_dir, stale)
    shutil.copy(stale / "generator_raw.weights.h5", stale / "generator.weights.h5")  # not the EMA any more
    with pytest.raises(publishing.PublishError, match="is not the generator of the newest checkpoint"):
        publishing.publish_run(stale, tmp_path / "r", config=NAME, status="partial")
    assert not (tmp_path / "r").exists()


def test_status_must_match_the_steps_trained(env, trained, tmp_path):
    with pytest.raises(publishing.PublishError, match="trained 2 of the recipe's 200000 .*--status partial"):
        publishing.publish_run(trained.run_dir, tmp_path / "p", config=NAME)
    with pytest.raises(publishing.PublishError, match="--status published, but the run trained 2"):
        publishing.publish_run(trained.run_dir, tmp_path / "p", config=NAME, status="published")
    assert publishing.decide_status("partial", 10, 20) == "partial"
    assert publishing.decide_status(None, 20, 20) == "published"
    with pytest.raises(publishing.PublishError, match="use --status published"):
        publishing.decide_status("partial", 20, 20)
    other = json.loads(json.dumps(manifest.get_entry("sndcgan-ns-none-cifar10")))
    with pytest.raises(publishing.PublishError, match="normalization 'spectral' \\(the recipe: 'none'\\)"):
        publishing.publish_run(trained.run_dir, tmp_path / "p", config=other["name"], status="partial")
    assert not (tmp_path / "p").exists()


def test_the_one_decision_of_the_inference_generator():
    choose = preset.choose_inference_generator
    assert choose(True, {"ema": 20.0, "raw": 21.0})["generator"] == "ema"
    assert choose(True, {"ema": 22.0, "raw": 21.0})["generator"] == "raw"
    assert choose(True, {"ema": 21.0, "raw": 21.0})["generator"] == "ema"
    assert choose(True, {"raw": 30.0})["generator"] == "raw"  # what was measured is what is published
    assert choose(True, {})["reason"].startswith("neither generator was evaluated")
    assert choose(False, {"raw": 30.0})["generator"] == "raw"
    with pytest.raises(ValueError, match="kept no EMA"):
        choose(False, {"ema": 30.0})


def test_metrics_from_evaluation_records():
    record = {  # as `ganzoo eval --out` writes it
        "model": NAME, "dataset": "cifar10",
        "metrics": {"fid": {"mean": 30.5, "std": 0.25, "values": [30.2, 30.8]}},
        "protocol": {"num_generated": 10000, "real": "cifar10 test", "network": "inception-2015-12-05"},
    }
    (fid,) = publishing.normalize_metrics(record)
    assert fid["name"] == "fid" and fid["value"] == 30.5
    assert fid["details"] == {"std": 0.25, "values": [30.2, 30.8]}
    assert "num_generated: 10000" in fid["protocol"] and "network: inception-2015-12-05" in fid["protocol"]
    assert publishing.normalize_metrics([fid]) == [fid]  # idempotent
    flat = publishing.normalize_metrics({"fid": 12.0, "a": {}, "protocol": {"n": 5}})
    assert flat == [{"name": "fid", "value": 12.0, "protocol": "n: 5"}]
    with pytest.raises(ValueError, match="has no protocol"):
        publishing.normalize_metrics({"fid": 12.0})
    with pytest.raises(ValueError, match="no finite numeric value"):
        publishing.normalize_metrics({"fid": float("nan"), "protocol": "x"})


def test_the_fid_curve_of_a_resumed_run(tmp_path):
    path = tmp_path / "fid.jsonl"
    assert publishing.read_fid_curve(path) == []
    path.write_text('{"d_step": 4, "fid": 3.0}\n{"d_step": 2, "fid": 5.0}\n{"d_step": 4, "fid": 2.5, "fid_raw": 2.7}\n')
    assert publishing.read_fid_curve(path) == [{"d_step": 2, "fid": 5.0}, {"d_step": 4, "fid": 2.5, "fid_raw": 2.7}]
    path.write_text('{"d_step": 4, "fid": 3.0}\nnot json\n')
    with pytest.raises(publishing.PublishError, match="line 2: not a FID record"):
        publishing.read_fid_curve(path)
    path.write_text('{"d_step": 4, "fid": "n/a"}\n')
    with pytest.raises(publishing.PublishError, match="no numeric 'fid'"):
        publishing.read_fid_curve(path)


# --------------------------------------------------------------------------------------------
# `ganzoo publish --add-metrics`: more measurements of the published weights
# --------------------------------------------------------------------------------------------

NN = {"nn_ratio_median": 0.93, "nn_ratio_p1": 0.71, "nn_copy_share": 0.02, "nn_duplicate_share": 0.04}


def nn_record(generator_sha256, dataset="cifar10", **metrics):
    """A record as `ganzoo eval NAME --metrics nearest_neighbours --out` writes it."""
    values = dict(NN, **metrics)
    return {"model": NAME, "dataset": dataset, "resolution": 32, "generator": "raw",
            "generator_sha256": generator_sha256,
            "metrics": {k: {"mean": v, "std": 0.0, "values": [v]} for k, v in values.items()},
            "protocol": {"n_generated": 8, "n_real": 8, "real": "random test images", "sample_sets": 1,
                         "nearest_neighbours": "Euclidean, pool_3, quantile 0.01, 50000 training images"}}


@pytest.fixture
def copy_of_the_zoo(env, published, tmp_path, monkeypatch):
    """The published entry's mirror folder and the manifest, copied: these tests change them."""
    mirror = tmp_path / "mirror"
    shutil.copytree(published.out_dir, mirror / "ganzoo" / NAME)
    shutil.copy(env.manifest, tmp_path / "weights_manifest.json")
    monkeypatch.setenv("GANZOO_HUB_DIR", str(mirror))
    monkeypatch.setenv("GANZOO_MANIFEST", str(tmp_path / "weights_manifest.json"))
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    folder = mirror / "ganzoo" / NAME
    generator_sha = json.loads((folder / "metadata.json").read_text())["files"]["generator.weights.h5"]["sha256"]
    return types.SimpleNamespace(folder=folder, manifest=tmp_path / "weights_manifest.json", tmp=tmp_path,
                                 generator_sha=generator_sha)


def _bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_add_metrics_keeps_the_weights_and_updates_card_metadata_and_manifest(copy_of_the_zoo, trained, capsys):
    zoo = copy_of_the_zoo
    before = _bytes(zoo.folder)
    record = zoo.tmp / "nn.json"
    record.write_text(json.dumps(nn_record(zoo.generator_sha)))
    assert cli(["publish", "--config", NAME, "--add-metrics", str(record)]) == 0
    out = capsys.readouterr().out
    assert f"publish: {NAME}: nn_ratio_median = 0.93" in out and "records 5 metrics" in out
    after = _bytes(zoo.folder)
    assert sorted(after) == sorted(preset.LAYOUT)
    for name in ("config.json", "generator.weights.h5", "generator.keras", "discriminator.weights.h5", "samples.png"):
        assert after[name] == before[name], name  # the published weights and their description's base are kept
    metadata = json.loads(after["metadata.json"])
    names = [m["name"] for m in metadata["metrics"]]
    assert names == ["fid", *NN]  # the FID measured at publication stays first, with its value
    assert metadata["metrics"][0]["value"] == 240.0 and metadata["fid"]["ours"]["value"] == 240.0
    assert {m["name"]: m["value"] for m in metadata["metrics"][1:]} == NN
    assert "measurements_updated" in metadata
    card = after["README.md"].decode()
    assert "## Does it copy its training images?" in card and "0.93 times as far" in card
    # The manifest pins the new description's hashes (the files' own, computed here) and the same weights.
    entry = json.loads(zoo.manifest.read_text())["models"][NAME]
    for name, data in after.items():
        assert entry["hub"]["files"][name]["sha256"] == hashlib.sha256(data).hexdigest(), name
    assert entry["hub"]["revision"] is None and entry["status"] == "partial"
    assert [m["name"] for m in entry["metrics"]] == names
    assert manifest.validate(json.loads(zoo.manifest.read_text())) == []
    # The model loads offline from the updated mirror, with the same outputs.
    generator = load(NAME, progress=False)
    np.testing.assert_array_equal(generator.sample(2, seed=3), trained.gan.generator.sample(2, seed=3))
    # A second measurement of the same metric replaces the first; a new FID becomes the card's FID.
    record.write_text(json.dumps(nn_record(zoo.generator_sha, nn_copy_share=0.5, fid=230.0)))
    assert cli(["publish", "--config", NAME, "--add-metrics", str(record)]) == 0
    metadata = json.loads((zoo.folder / "metadata.json").read_text())
    values = {m["name"]: m["value"] for m in metadata["metrics"]}
    assert values["nn_copy_share"] == 0.5 and values["fid"] == 230.0 and len(values) == 5
    assert metadata["fid"]["ours"]["value"] == 230.0 and metadata["fid"]["ours"]["generator"] == "raw"


def test_add_metrics_refuses_records_of_other_weights_and_changes_nothing(copy_of_the_zoo, capsys):
    zoo = copy_of_the_zoo
    before, manifest_before = _bytes(zoo.folder), zoo.manifest.read_bytes()
    record = zoo.tmp / "r.json"
    cases = [
        (nn_record(None), "does not record which weights it measured"),
        (nn_record("0" * 64), "measured other weights"),
        (nn_record(zoo.generator_sha, dataset="celebahq"), "measured on celebahq"),
    ]
    for content, message in cases:
        record.write_text(json.dumps(content))
        assert cli(["publish", "--config", NAME, "--add-metrics", str(record)]) == 1
        assert message in capsys.readouterr().err
    record.write_text(json.dumps(nn_record(zoo.generator_sha)))
    assert cli(["publish", "--config", NAME, "--add-metrics", str(record), "--checkpoint", "run"]) == 1
    assert "not both or neither" in capsys.readouterr().err
    assert cli(["publish", "--config", NAME, "--add-metrics", str(record), "--status", "partial"]) == 1
    assert "--status: only with --checkpoint" in capsys.readouterr().err
    assert cli(["publish", "--add-metrics", str(record)]) == 1
    assert "--config NAME (a zoo entry) or --out-dir PRESET_DIR" in capsys.readouterr().err
    # A dry run prints what it would record and writes nothing.
    assert cli(["publish", "--config", NAME, "--add-metrics", str(record), "--dry-run"]) == 0
    assert "would record 5 metrics (fid, nn_ratio_median" in capsys.readouterr().out
    # A tampered published file: refused before anything is written.
    weights = zoo.folder / "discriminator.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    tampered = _bytes(zoo.folder)
    assert cli(["publish", "--config", NAME, "--add-metrics", str(record)]) == 1
    assert "Refused" in capsys.readouterr().err
    assert _bytes(zoo.folder) == tampered and zoo.manifest.read_bytes() == manifest_before
    assert {k: v for k, v in tampered.items() if k != "discriminator.weights.h5"} == \
        {k: v for k, v in before.items() if k != "discriminator.weights.h5"}
    assert not [p for p in zoo.folder.parent.iterdir() if p.name != NAME]  # no staging folder left


def test_add_metrics_to_a_preset_of_your_own(copy_of_the_zoo, capsys):
    zoo = copy_of_the_zoo
    own = zoo.tmp / "mine"
    shutil.copytree(zoo.folder, own)
    manifest_before = zoo.manifest.read_bytes()
    record = zoo.tmp / "nn.json"
    record.write_text(json.dumps(nn_record(zoo.generator_sha)))
    assert cli(["publish", "--out-dir", str(own), "--add-metrics", str(record), "--exclude-metrics",
                "nn_duplicate_share"]) == 0
    metadata = json.loads((own / "metadata.json").read_text())
    assert [m["name"] for m in metadata["metrics"]] == ["fid", "nn_ratio_median", "nn_ratio_p1", "nn_copy_share"]
    assert "Does it copy" not in (own / "README.md").read_text()  # the section needs all four numbers
    assert zoo.manifest.read_bytes() == manifest_before  # your own model is not in the zoo's manifest
    assert ganzoo.load(str(own), progress=False).preset_info.verified == "local"


def test_publish_keeps_the_better_model_unless_told_to_replace(copy_of_the_zoo, trained, capsys):
    """A run is not written over a published preset that scores a lower FID on the same protocol,
    nor over one whose FID cannot be compared with the run's; --replace overrides; a better run
    replaces it."""
    zoo = copy_of_the_zoo  # published with FID 240 (raw), protocol n_generated 8 / n_real 8

    def records(ema, raw, **protocol):
        paths = []
        for label, weights, fid in (("ema", "generator.weights.h5", ema), ("raw", "generator_raw.weights.h5", raw)):
            record = eval_record(trained.run_dir, weights, fid)
            record["protocol"].update(protocol)
            path = zoo.tmp / f"guard_{label}_{fid}.json"
            path.write_text(json.dumps(record))
            paths.append(f"{label}={path}")
        return paths

    before = _bytes(zoo.folder)
    base = ["publish", "--config", NAME, "--checkpoint", str(trained.run_dir), "--status", "partial",
            "--num-samples", "4", "--dry-run"]
    worse = [f"--metrics={m}" for m in records(260.0, 250.0)]
    assert cli(base + worse) == 1
    err = capsys.readouterr().err
    assert f"holds {NAME} (2 D steps, raw generator, FID 240), lower than this run's 250 (raw generator" in err
    assert "Pass --replace" in err and "Traceback" not in err
    assert cli(base) == 1  # no FID measured: cannot be compared
    assert "this run's FID is not measured" in capsys.readouterr().err
    other = [f"--metrics={m}" for m in records(200.0, 210.0, n_real=10)]
    assert cli(base + other) == 1  # a lower FID, but on another protocol
    assert "measured on another protocol than this run's FID 200 (n_real: 8 there, 10 here)" in capsys.readouterr().err
    assert _bytes(zoo.folder) == before  # every refusal left the published folder as it was
    # A KID detail of the protocol does not change FID: a better run on the same FID protocol replaces it.
    better = [f"--metrics={m}" for m in records(230.0, 235.0, kid="blocks drawn at random")]
    assert cli(base + better) == 0
    metadata = json.loads((zoo.folder / "metadata.json").read_text())
    assert metadata["fid"]["ours"]["value"] == 230.0 and metadata["inference_generator"]["generator"] == "ema"
    capsys.readouterr()
    assert cli(base + worse + ["--replace"]) == 0  # told to: the worse run is written over it
    assert json.loads((zoo.folder / "metadata.json").read_text())["fid"]["ours"]["value"] == 250.0
